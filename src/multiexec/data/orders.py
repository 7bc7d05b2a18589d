"""Order sets: for each trading day, n orders (asset, side, amount) sharing one cash balance c0.

Side convention follows the IaC paper: ``side = +1`` liquidation (sell), ``side = -1`` acquisition (buy).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from multiexec.errors import MultiexecError


@dataclass
class DayOrders:
    date: np.datetime64
    symbols: list[str]  # (n,)
    side: np.ndarray  # (n,) int8, +1 sell / -1 buy
    amount: np.ndarray  # (n,) float64 shares, > 0
    cash: float  # c0, >= 0

    def __post_init__(self) -> None:
        self.date = np.datetime64(self.date, "D")
        self.symbols = [str(s) for s in self.symbols]
        self.side = np.asarray(self.side, dtype=np.int8)
        self.amount = np.asarray(self.amount, dtype=np.float64)
        n = len(self.symbols)
        if self.side.shape != (n,) or self.amount.shape != (n,):
            raise MultiexecError(f"orders on {self.date}: symbols, side and amount differ in length")
        if n == 0:
            raise MultiexecError(f"orders on {self.date}: no orders")
        if len(set(self.symbols)) != n:
            raise MultiexecError(f"orders on {self.date}: more than one order for the same symbol")
        if not np.isin(self.side, (-1, 1)).all():
            raise MultiexecError(f"orders on {self.date}: side must be +1 (sell) or -1 (buy)")
        bad = ~np.isfinite(self.amount) | (self.amount <= 0)
        if bad.any():
            i = int(np.argmax(bad))
            raise MultiexecError(
                f"orders on {self.date}: amount of {self.symbols[i]} must be positive, got {self.amount[i]}"
            )
        if not np.isfinite(self.cash) or self.cash < 0:
            raise MultiexecError(f"orders on {self.date}: cash must be >= 0, got {self.cash}")
        self.cash = float(self.cash)

    @property
    def n(self) -> int:
        return len(self.symbols)
