"""Daily bars of many assets: :class:`DailyBars` (arrays of shape ``(n_days, n_assets)``).

Rule for missing bars: unlike :class:`~multiexec.data.bars.MinuteBars`, a daily panel may have
holes — an asset that is listed later than the others (an IPO or spin-off) or that has no row on a
date has NaN in every field there. Present prices are finite and positive; volume is >= 0.

Unadjusted jumps: :meth:`DailyBars.screen_jumps` back-adjusts the history of an asset whenever one
close-to-close log return exceeds a threshold in absolute value (default 0.5, i.e. a move beyond
x1.65 or x0.61), treating it as an unadjusted corporate action (spin-off, split) rather than a
return: prices before the jump are multiplied by the jump ratio so that the return that day is 0.
Each screened jump is listed in ``meta["jumps"]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from multiexec.data.bars import MinuteBars, check_axes
from multiexec.errors import MultiexecError

DAILY_FIELDS = ("open", "high", "low", "close", "volume")


@dataclass
class DailyBars:
    symbols: list[str]  # (A,)
    dates: np.ndarray  # (D,) datetime64[D]
    open: np.ndarray  # (D, A) float64, NaN where the asset has no bar that day
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    source: str = "unknown"
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.dates = np.asarray(self.dates, dtype="datetime64[D]")
        self.symbols = [str(s) for s in self.symbols]
        check_axes(self, "DailyBars", DAILY_FIELDS, (len(self.dates), len(self.symbols)), dtype=np.float64)
        present = np.isfinite(self.close)
        for name in ("open", "high", "low", "close"):
            arr = getattr(self, name)
            bad = present & (~np.isfinite(arr) | (arr <= 0))
            if bad.any():
                d, a = np.argwhere(bad)[0]
                raise MultiexecError(
                    f"DailyBars: {name} price is NaN or non-positive ({arr[d, a]}) for "
                    f"{self.symbols[a]} on {self.dates[d]}"
                )
        if (present & ~(self.volume >= 0)).any():
            d, a = np.argwhere(present & ~(self.volume >= 0))[0]
            raise MultiexecError(f"DailyBars: volume negative or NaN for {self.symbols[a]} on {self.dates[d]}")

    @property
    def n_days(self) -> int:
        return len(self.dates)

    @property
    def n_assets(self) -> int:
        return len(self.symbols)

    def log_returns(self) -> np.ndarray:
        """(D, A) close-to-close log returns; row 0 and rows after a hole are NaN."""
        out = np.full(self.close.shape, np.nan)
        out[1:] = np.log(self.close[1:] / self.close[:-1])
        return out

    def select(self, dates=None, symbols=None) -> "DailyBars":
        """Sub-panel; unknown symbols or dates raise a clear error."""
        if symbols is None:
            ai = np.arange(self.n_assets)
        else:
            pos = {s: i for i, s in enumerate(self.symbols)}
            missing = [s for s in symbols if s not in pos]
            if missing:
                raise MultiexecError(f"unknown symbol(s) in daily bars: {missing[:10]}")
            ai = np.array([pos[s] for s in symbols], dtype=np.int64)
        if dates is None:
            di = np.arange(self.n_days)
        else:
            dates = np.asarray(dates, dtype="datetime64[D]")
            di = np.searchsorted(self.dates, dates)
            ok = (di < self.n_days) & (self.dates[np.minimum(di, self.n_days - 1)] == dates)
            if not ok.all():
                raise MultiexecError(f"date(s) not in the daily bars: {[str(d) for d in dates[~ok][:10]]}")
        sub = {n: getattr(self, n)[np.ix_(di, ai)] for n in DAILY_FIELDS}
        return DailyBars(symbols=[self.symbols[i] for i in ai], dates=self.dates[di], source=self.source,
                         meta=dict(self.meta), **sub)

    def screen_jumps(self, threshold: float = 0.5) -> "DailyBars":
        """Back-adjust unadjusted jumps (``|log return| > threshold``); see the module docstring."""
        if threshold <= 0:
            raise MultiexecError(f"jump threshold must be > 0, got {threshold}")
        r = self.log_returns()
        jumps = np.argwhere(np.abs(np.nan_to_num(r)) > threshold)
        if len(jumps) == 0:
            return self
        factor = np.ones_like(self.close)
        listed = []
        for d, a in jumps:
            factor[:d, a] *= np.exp(r[d, a])
            listed.append((self.symbols[a], str(self.dates[d]), float(np.exp(r[d, a]))))
        px = {n: getattr(self, n) * factor for n in ("open", "high", "low", "close")}
        meta = dict(self.meta)
        meta["jumps"] = list(meta.get("jumps", [])) + listed
        return DailyBars(symbols=self.symbols, dates=self.dates, volume=self.volume, source=self.source,
                         meta=meta, **px)

    @classmethod
    def from_minute(cls, bars: MinuteBars) -> "DailyBars":
        """Daily bars built from minute bars: first open, max high, min low, last close, total volume."""
        return cls(
            symbols=list(bars.symbols), dates=bars.dates,
            open=bars.open[:, :, 0], high=bars.high.max(axis=2), low=bars.low.min(axis=2),
            close=bars.close[:, :, -1], volume=bars.volume.sum(axis=2), source=bars.source,
        )

    @classmethod
    def concat(cls, history: "DailyBars", recent: "DailyBars") -> "DailyBars":
        """Join a daily history with later daily bars (e.g. built from minute bars) on the symbols of ``recent``.

        Rows of ``history`` on or after the first date of ``recent`` are dropped; symbols of ``recent``
        absent from ``history`` get NaN there. A calendar gap between the two is kept as it is: the return
        from the last history close to the first recent close counts as one period.
        """
        keep = history.dates < recent.dates[0]
        pos = {s: i for i, s in enumerate(history.symbols)}
        have = np.array([s in pos for s in recent.symbols])
        idx = np.array([pos.get(s, 0) for s in recent.symbols], dtype=np.int64)
        out = {}
        for n in DAILY_FIELDS:
            h = getattr(history, n)[keep][:, idx]
            h[:, ~have] = np.nan
            out[n] = np.concatenate([h, getattr(recent, n)], axis=0)
        meta = {"history": history.source, "recent": recent.source,
                "history_missing": [s for s, ok in zip(recent.symbols, have) if not ok],
                "jumps": history.meta.get("jumps", [])}
        return cls(symbols=list(recent.symbols), dates=np.concatenate([history.dates[keep], recent.dates]),
                   source=f"{history.source}+{recent.source}", meta=meta, **out)
