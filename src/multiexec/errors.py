"""User-facing errors.

Every problem with user input (files, amounts, symbols, prices, config keys) raises a
:class:`MultiexecError` whose message names the file, row or key at fault. The CLI prints
these messages without a traceback.
"""


class MultiexecError(ValueError):
    """Bad input or configuration, reported with a clear message."""
