"""Containers for market data.

``MinuteBars`` holds intraday bars of many assets over many days on a regular grid:
arrays of shape ``(n_days, n_assets, n_minutes)``.

Rule for minutes without trades (the real data omits them): the bar is filled by carrying the
previous close forward as open/high/low/close, with zero volume, and ``traded`` is False there.
A day that starts without trades takes the first traded price of that day (back-fill) — that
is the only backward fill, and it is flagged in ``traded`` too. An asset with no bar at all on
a day is an error (a missing day), never filled.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from multiexec.errors import MultiexecError

FIELDS = ("open", "high", "low", "close", "volume")


def check_axes(obj, kind: str, fields: tuple[str, ...], shape: tuple[int, ...], dtype=None) -> None:
    """Shared checks of the bar containers: field shapes, unique symbols, strictly increasing dates."""
    for name in fields:
        arr = np.asarray(getattr(obj, name), dtype=dtype)
        if arr.shape != shape:
            raise MultiexecError(f"{kind}.{name} has shape {arr.shape}, expected {shape}")
        setattr(obj, name, arr)
    if len(set(obj.symbols)) != len(obj.symbols):
        raise MultiexecError(f"{kind}: duplicate symbols")
    if len(obj.dates) > 1 and not np.all(np.diff(obj.dates.astype(np.int64)) > 0):
        raise MultiexecError(f"{kind}: dates must be strictly increasing")


@dataclass
class MinuteBars:
    symbols: list[str]  # (A,)
    dates: np.ndarray  # (D,) datetime64[D]
    minutes: np.ndarray  # (M,) int, minutes after midnight (wall clock of the exchange), e.g. 570 = 09:30
    open: np.ndarray  # (D, A, M) float64
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray  # (D, A, M) float64, shares
    traded: np.ndarray  # (D, A, M) bool, False where the bar was filled
    source: str = "unknown"
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.dates = np.asarray(self.dates, dtype="datetime64[D]")
        self.minutes = np.asarray(self.minutes, dtype=np.int64)
        self.symbols = [str(s) for s in self.symbols]
        check_axes(self, "MinuteBars", FIELDS + ("traded",), (len(self.dates), len(self.symbols), len(self.minutes)))
        if len(self.minutes) > 1 and not np.all(np.diff(self.minutes) > 0):
            raise MultiexecError("MinuteBars: minutes must be strictly increasing")
        for name in ("open", "high", "low", "close"):
            arr = getattr(self, name)
            bad = ~np.isfinite(arr) | (arr <= 0)
            if bad.any():
                d, a, m = np.argwhere(bad)[0]
                raise MultiexecError(
                    f"MinuteBars: {name} price is NaN or non-positive ({arr[d, a, m]}) for "
                    f"{self.symbols[a]} on {self.dates[d]} at minute {self.minutes[m]}"
                )
        badv = ~np.isfinite(self.volume) | (self.volume < 0)
        if badv.any():
            d, a, m = np.argwhere(badv)[0]
            raise MultiexecError(
                f"MinuteBars: volume is NaN or negative for {self.symbols[a]} on {self.dates[d]}"
            )

    @property
    def n_days(self) -> int:
        return len(self.dates)

    @property
    def n_assets(self) -> int:
        return len(self.symbols)

    @property
    def n_minutes(self) -> int:
        return len(self.minutes)

    def symbol_index(self, symbols) -> np.ndarray:
        """Indices of ``symbols``; unknown symbols raise a clear error."""
        pos = {s: i for i, s in enumerate(self.symbols)}
        missing = [s for s in symbols if s not in pos]
        if missing:
            raise MultiexecError(f"unknown symbol(s) {missing[:10]} (data has {len(self.symbols)} symbols)")
        return np.array([pos[s] for s in symbols], dtype=np.int64)

    def date_index(self, dates) -> np.ndarray:
        dates = np.asarray(dates, dtype="datetime64[D]")
        idx = np.searchsorted(self.dates, dates)
        ok = (idx < len(self.dates)) & (self.dates[np.minimum(idx, len(self.dates) - 1)] == dates)
        if not ok.all():
            raise MultiexecError(f"date(s) not in the data: {[str(d) for d in dates[~ok][:10]]}")
        return idx

    def select(self, dates=None, symbols=None) -> "MinuteBars":
        di = slice(None) if dates is None else self.date_index(dates)
        ai = slice(None) if symbols is None else self.symbol_index(symbols)
        sub = lambda x: x[di][:, ai]  # noqa: E731
        return MinuteBars(
            symbols=list(np.asarray(self.symbols)[ai]),
            dates=self.dates[di],
            minutes=self.minutes,
            open=sub(self.open), high=sub(self.high), low=sub(self.low), close=sub(self.close),
            volume=sub(self.volume), traded=sub(self.traded), source=self.source, meta=dict(self.meta),
        )

    def daily_close(self) -> np.ndarray:
        """(D, A) last close of each day."""
        return self.close[:, :, -1]
