"""multiexec: multi-agent order execution."""

from multiexec.errors import MultiexecError

__all__ = ["MultiexecError"]
__version__ = "0.1.0"
