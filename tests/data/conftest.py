"""Fixtures for the data tests: a private cache directory and tiny input files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from multiexec.testing import HEADER, minute_rows, write


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    """Keep the tests' Parquet cache out of ~/.cache."""
    old = os.environ.get("MULTIEXEC_CACHE")
    os.environ["MULTIEXEC_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if old is None:
        os.environ.pop("MULTIEXEC_CACHE", None)
    else:
        os.environ["MULTIEXEC_CACHE"] = old


@pytest.fixture
def tiny_dir(tmp_path) -> Path:
    """Two tickers, two days; AAA gzip with gaps and a 16:00 bar, BBB plain with a late start."""
    d = tmp_path / "minute"
    a = HEADER + minute_rows("2018-02-16", [
        ("09:30", 10, 10.5, 9.5, 10.2, 100), ("09:32", 10.2, 10.4, 10.1, 10.3, 50),
        ("15:59", 10.3, 10.6, 10.2, 10.4, 70), ("16:00", 10.4, 10.8, 10.0, 10.5, 1000),
    ]) + minute_rows("2018-02-20", [("09:30", 11, 11, 11, 11, 5), ("16:00", 11.5, 11.6, 11.4, 11.5, 900)])
    write(d / "AAA.csv.gz", a, gz=True)
    b = HEADER + minute_rows("2018-02-16", [("09:31", 20, 20.5, 19.5, 20.1, 10), ("10:00", 20.1, 20.2, 20, 20.2, 10)]) \
        + minute_rows("2018-02-20", [("09:30", 21, 21, 21, 21, 1)])
    write(d / "BBB.csv", b)
    return d
