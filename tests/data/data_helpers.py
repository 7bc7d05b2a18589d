"""Helpers for the data tests: tiny input files."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from multiexec.paths import shared_data

HEADER = "date,ToD,open,high,low,close,volume\n"


def write(path: Path, text: str, gz: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        with gzip.open(path, "wt") as f:
            f.write(text)
    else:
        path.write_text(text)
    return path


def minute_rows(day: str, rows: list[tuple]) -> str:
    """rows of (HH:MM, open, high, low, close, volume)."""
    return "".join(f"{day},{t}:00,{o},{h},{lo},{c},{v}\n" for t, o, h, lo, c, v in rows)


def needs_shared(*parts: str) -> Path:
    p = shared_data(*parts)
    if p is None:
        pytest.skip(f"shared data {'/'.join(parts)} is absent (set MULTIEXEC_SHARED or place ../shared/data)")
    return p
