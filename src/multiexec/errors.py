"""User-facing errors.

Every problem with user input (files, amounts, symbols, prices, config keys) raises a
:class:`MultiexecError` whose message names the file, row or key at fault. The CLI prints
these messages without a traceback.
"""


class MultiexecError(ValueError):
    """Bad input or configuration, reported with a clear message."""


def validation_message(exc: Exception, where: str = "") -> str:
    """One line for a pydantic ``ValidationError``: ``where: field: problem (got value); ...`` — no URL, no
    line breaks. ``where`` names the file or option the values came from."""
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return f"{where}: {exc}" if where else str(exc)
    parts = []
    for e in errors():
        key = ".".join(str(x) for x in e.get("loc", ()))
        if e.get("type") == "extra_forbidden":
            parts.append(f"unknown key {key!r}")
            continue
        msg = str(e.get("msg", "invalid")).removeprefix("Value error, ")
        got = e.get("input")
        shown = "" if isinstance(got, (dict, list, tuple)) or "(got " in msg else f" (got {repr(got)[:60]})"
        parts.append(f"{key}: {msg}{shown}" if key else f"{msg}{shown}")
    text = "; ".join(parts).replace("\n", " ")
    return f"{where}: {text}" if where else text


def validated(model, values: dict, where: str):
    """``model(**values)``, its validation errors raised as one-line :class:`MultiexecError` naming ``where``."""
    from pydantic import ValidationError

    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise MultiexecError(validation_message(exc, where)) from None


def check_out_dir(path, option: str = "--out"):
    """Make sure ``path`` is, or can be made, a writable folder — before any work is done. Returns the Path."""
    import os
    from pathlib import Path

    p = Path(path)
    if p.exists() and not p.is_dir():
        raise MultiexecError(f"{option} {p} is a file, not a folder")
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MultiexecError(f"{option} {p}: cannot create the folder ({exc.strerror or exc})") from None
    if not os.access(p, os.W_OK | os.X_OK):
        raise MultiexecError(f"{option} {p}: folder is not writable")
    return p


def check_out_file(path, option: str = "--out"):
    """Make sure ``path`` can be written as a file (not a folder; its folder exists or can be made). Returns it."""
    from pathlib import Path

    p = Path(path)
    if p.is_dir():
        raise MultiexecError(f"{option} {p}: is a folder; give a file name")
    check_out_dir(p.parent, option=f"{option} {p}: its folder")
    return p
