"""Where things are: the shared real data (``../shared`` beside the repository) and the cache."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def shared_dir() -> Path | None:
    """``$MULTIEXEC_SHARED`` if set, else ``<repo>/../shared``; None where it does not exist."""
    env = os.environ.get("MULTIEXEC_SHARED")
    p = Path(env) if env else REPO_ROOT.parent / "shared"
    return p if p.is_dir() else None


def shared_data(*parts: str) -> Path | None:
    """Path under ``shared/data``; None where the shared data is absent."""
    root = shared_dir()
    if root is None:
        return None
    p = root.joinpath("data", *parts)
    return p if p.exists() else None


def cache_dir() -> Path:
    """Cache for parsed data (Parquet): ``$MULTIEXEC_CACHE`` or ``~/.cache/multiexec``."""
    p = Path(os.environ.get("MULTIEXEC_CACHE", Path.home() / ".cache" / "multiexec"))
    p.mkdir(parents=True, exist_ok=True)
    return p
