"""Helpers for the tests and the experiments: tiny markets and datasets with known answers, tiny input files, and a
skip when the real data is absent. Import them from here (``from multiexec.testing import make_bars``); the
``conftest.py`` files of ``tests/`` hold only fixtures.

This module sits on the top floor (with the CLIs): it may import any part of the package, and no library module
imports it. ``pytest`` is imported only by the helpers that skip a test.
"""

from __future__ import annotations

import gzip
import types
from pathlib import Path

import numpy as np

from multiexec.data.bars import MinuteBars
from multiexec.data.orders import DayOrders
from multiexec.execution.env import ExecConfig
from multiexec.lob.lobster import EMPTY_ASK, EMPTY_BID
from multiexec.paths import shared_data

__all__ = ["random_walk_bars", "HEADER", "LOBSTER_BOOK", "LOBSTER_MESSAGES", "LOBSTER_NAME", "OPTIMAL_EG", "TINY_EXEC",
           "known_optimum_dataset", "make_bars", "minute_rows", "needs_shared", "random_dataset", "shared_or_skip", "write",
           "write_pair"]


# ---------------------------------------------------------------------------------------------------------------------
# markets and datasets

def make_bars(prices: np.ndarray, symbols=None, start="2021-01-04", volume=None) -> MinuteBars:
    """MinuteBars from a (D, A, M) price array (open = high = low = close)."""
    prices = np.asarray(prices, dtype=float)
    D, A, M = prices.shape
    dates = np.busday_offset(np.datetime64(start, "D"), np.arange(D), roll="forward")
    vol = np.full(prices.shape, 100.0) if volume is None else np.asarray(volume, dtype=float)
    return MinuteBars(
        symbols=symbols or [f"S{i}" for i in range(A)], dates=dates, minutes=np.arange(570, 570 + M),
        open=prices, high=prices, low=prices, close=prices, volume=vol, traded=np.ones(prices.shape, bool),
    )


# 30-minute days cut into T = 3 steps of 10 minutes
TINY_EXEC = ExecConfig(step_minutes=10)


def known_optimum_dataset(n_days: int = 8) -> types.SimpleNamespace:
    """Every day: a sell order on S0 whose price peaks in step 1, a buy order on S1 whose price dips in step 0,
    ample cash. The optimal schedule: sell nothing, then everything at step 1; buy everything at step 0."""
    M = 30
    p = np.ones((n_days, 2, M))
    p[:, 0, 10:20] = 1.2
    p[:, 1, 0:10] = 0.8
    bars = make_bars(p)
    orders = [DayOrders(bars.dates[d], ["S0", "S1"], [1, -1], [100.0, 100.0], 200.0) for d in range(n_days)]
    ids = list(range(n_days))
    return types.SimpleNamespace(bars=bars, orders=orders, splits={"train": ids, "valid": ids[:2], "test": ids[:2]})


# EG of the optimal schedule: sell at 1.2 vs mean 3.4/3, buy at 0.8 vs mean 2.8/3
OPTIMAL_EG = {"sell": (1.2 / (3.2 / 3) - 1) * 1e4, "buy": -(0.8 / (2.8 / 3) - 1) * 1e4}


def random_walk_bars(rng: np.random.Generator, n_days: int, n_assets: int, n_minutes: int, vol: float) -> MinuteBars:
    """Minute bars of independent log random walks (per-minute std ``vol``) around price levels from $25 to $100,
    with uniform random volumes."""
    shape = (n_days, n_assets, n_minutes)
    prices = 50 * np.exp(np.cumsum(rng.normal(0, vol, shape), axis=2)) * rng.uniform(0.5, 2, (1, n_assets, 1))
    return make_bars(prices, volume=rng.uniform(50, 500, shape))


def random_dataset(n_days: int = 6, seed: int = 0) -> types.SimpleNamespace:
    """Random-walk prices, 3-6 orders per day with mixed sides, cash that binds."""
    rng = np.random.default_rng(seed)
    bars = random_walk_bars(rng, n_days, 8, 30, 2e-3)
    orders = []
    for d in range(n_days):
        n = 3 + d % 4
        syms = list(rng.choice(bars.symbols, n, replace=False))
        side = np.where(np.arange(n) % 2 == 0, -1, 1)
        orders.append(DayOrders(bars.dates[d], syms, side, rng.integers(10, 200, n).astype(float), 1500.0))
    ids = list(range(n_days))
    return types.SimpleNamespace(bars=bars, orders=orders, splits={"train": ids[:4], "valid": ids[4:5], "test": ids[5:]})


# ---------------------------------------------------------------------------------------------------------------------
# input files

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


# A LOBSTER sample pair: 5 events on a 2-level book; prices x 10000. The book row is the state after the event.
LOBSTER_MESSAGES = [
    "34200.000000001,1,11,100,1000000,1",  # buy 100 @ 100.00
    "34200.5,1,12,50,1010000,-1",  # sell 50 @ 101.00
    "34260.25,4,12,20,1010000,-1",  # 20 of the sell executed: buyer-initiated
    "34260.25,4,13,5,1010000,-1",  # same order sweeps another sell at the same time
    "34321,3,11,100,1000000,1",  # buy cancelled
]
LOBSTER_BOOK = [
    f"1010000,30,1000000,100,{EMPTY_ASK},0,990000,10",
    "1010000,80,1000000,100,1020000,5,990000,10",
    "1010000,60,1000000,100,1020000,5,990000,10",
    "1010000,55,1000000,100,1020000,5,990000,10",
    f"1010000,55,990000,10,1020000,5,{EMPTY_BID},0",
]
LOBSTER_NAME = "TEST_2020-01-02_34200000_57600000_{}_2.csv"


def write_pair(folder: Path, messages=LOBSTER_MESSAGES, book=LOBSTER_BOOK, msg_name=None,
               book_name=None) -> tuple[Path, Path]:
    """Write a LOBSTER message / orderbook CSV pair (default: the 5-event sample above) into ``folder``;
    return (message path, orderbook path)."""
    folder.mkdir(parents=True, exist_ok=True)
    m = folder / (msg_name or LOBSTER_NAME.format("message"))
    b = folder / (book_name or LOBSTER_NAME.format("orderbook"))
    m.write_text("\n".join(messages) + "\n")
    b.write_text("\n".join(book) + "\n")
    return m, b


# ---------------------------------------------------------------------------------------------------------------------
# real data

def needs_shared(*parts: str) -> Path:
    """The path of ``../shared/data/<parts>``, or skip the calling test where it is absent."""
    import pytest

    p = shared_data(*parts)
    if p is None:
        pytest.skip(f"shared data {'/'.join(parts)} is absent (set MULTIEXEC_SHARED or place ../shared/data)")
    return p


def shared_or_skip(name: str) -> Path:
    """The path of ``../shared/data/<name>``, or skip the calling test where it is absent."""
    import pytest

    p = shared_data(name)
    if p is None:
        pytest.skip(f"real data ../shared/data/{name} is absent: skipping the real-data test")
    return p


def free_port() -> int:
    """A free TCP port on the loopback address (servers in tests and benchmarks listen there only)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
