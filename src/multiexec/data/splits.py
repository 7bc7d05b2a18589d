"""Train / validation / test splits by date, and rolling windows like the IaC paper's.

Splits are lists of indices into a sorted list of trading days (the days that have orders).

- ``method="last_days"`` (default): the last ``test_days`` days are the test set, the ``valid_days``
  before them the validation set, everything earlier the training set.
- ``method="fractions"``: consecutive blocks of ``fractions = [train, valid, test]`` of the days
  (rounded; valid and test get at least one day when their fraction is > 0).
- ``method="dates"``: explicit inclusive date ranges ``train``, ``valid``, ``test``; they must not
  overlap and each must contain at least one day.
- ``windows`` (optional, in addition): rolling windows of ``train + valid + test`` consecutive days,
  moved by ``stride`` days, named ``w1/train``, ``w1/valid``, ``w1/test``, ``w2/...`` (the paper uses
  windows of one year: 8 months train, 2 valid, 2 test, stride one year).
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from multiexec.errors import MultiexecError

SPLITS = ("train", "valid", "test")


class DateRange(BaseModel):
    """Inclusive range of dates; an open end takes everything on that side."""

    model_config = ConfigDict(extra="forbid")
    start: dt.date | None = None
    end: dt.date | None = None

    @model_validator(mode="after")
    def _ordered(self) -> "DateRange":
        if self.start and self.end and self.start > self.end:
            raise ValueError(f"start {self.start} is after end {self.end}")
        return self


class RollingWindows(BaseModel):
    """Rolling windows: lengths in trading days."""

    model_config = ConfigDict(extra="forbid")
    train: int = Field(ge=1)
    valid: int = Field(ge=1)
    test: int = Field(ge=1)
    stride: int = Field(ge=1)
    max_windows: int | None = Field(None, ge=1)

    @property
    def length(self) -> int:
        return self.train + self.valid + self.test


class SplitConfig(BaseModel):
    """How the trading days are split (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")
    method: Literal["last_days", "fractions", "dates"] = "last_days"
    valid_days: int = Field(10, ge=1)
    test_days: int = Field(10, ge=1)
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)
    train: DateRange | None = None
    valid: DateRange | None = None
    test: DateRange | None = None
    windows: RollingWindows | None = None


def make_splits(dates, cfg: SplitConfig | None = None) -> dict[str, list[int]]:
    """Index lists for ``train``, ``valid``, ``test`` (and windows) over sorted ``dates``."""
    cfg = cfg or SplitConfig()
    dates = np.asarray(dates, dtype="datetime64[D]")
    n = len(dates)
    if n == 0:
        raise MultiexecError("cannot split: there are no days with orders")
    if cfg.method == "last_days":
        if cfg.valid_days + cfg.test_days >= n:
            raise MultiexecError(
                f"splits: valid_days + test_days = {cfg.valid_days + cfg.test_days} leaves no training day "
                f"out of {n} days with orders"
            )
        nt, nv = cfg.test_days, cfg.valid_days
        out = {"train": list(range(n - nv - nt)), "valid": list(range(n - nv - nt, n - nt)),
               "test": list(range(n - nt, n))}
    elif cfg.method == "fractions":
        f = np.asarray(cfg.fractions, dtype=float)
        if (f < 0).any() or abs(f.sum() - 1) > 1e-6:
            raise MultiexecError(f"splits.fractions must be >= 0 and sum to 1, got {list(cfg.fractions)}")
        nv = max(int(round(f[1] * n)), int(f[1] > 0))
        nt = max(int(round(f[2] * n)), int(f[2] > 0))
        if nv + nt >= n and f[0] > 0:
            raise MultiexecError(f"splits.fractions {list(cfg.fractions)} leave no training day out of {n}")
        out = {"train": list(range(n - nv - nt)), "valid": list(range(n - nv - nt, n - nt)),
               "test": list(range(n - nt, n))}
    else:
        out = {}
        for name in SPLITS:
            rng = getattr(cfg, name)
            if rng is None:
                raise MultiexecError(f"splits.method = 'dates' needs splits.{name} (start/end dates)")
            lo = np.datetime64(rng.start, "D") if rng.start else dates[0]
            hi = np.datetime64(rng.end, "D") if rng.end else dates[-1]
            idx = np.flatnonzero((dates >= lo) & (dates <= hi)).tolist()
            if not idx:
                raise MultiexecError(f"splits.{name} ({rng.start} .. {rng.end}) contains no day with orders")
            out[name] = idx
        for a, b in (("train", "valid"), ("train", "test"), ("valid", "test")):
            common = set(out[a]) & set(out[b])
            if common:
                raise MultiexecError(f"splits.{a} and splits.{b} overlap on {dates[min(common)]}")
    if cfg.windows is not None:
        out.update(rolling_windows(n, cfg.windows))
    return out


def rolling_windows(n: int, w: RollingWindows) -> dict[str, list[int]]:
    """``w{k}/train``, ``w{k}/valid``, ``w{k}/test`` index lists for every window that fits in ``n`` days."""
    if w.length > n:
        raise MultiexecError(f"splits.windows: a window needs {w.length} days, only {n} days have orders")
    out = {}
    k, start = 0, 0
    while start + w.length <= n and (w.max_windows is None or k < w.max_windows):
        k += 1
        a, b, c = start + w.train, start + w.train + w.valid, start + w.length
        out[f"w{k}/train"] = list(range(start, a))
        out[f"w{k}/valid"] = list(range(a, b))
        out[f"w{k}/test"] = list(range(b, c))
        start += w.stride
    return out
