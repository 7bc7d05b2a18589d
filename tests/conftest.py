import numpy as np
import pytest

from multiexec.data.bars import MinuteBars
from multiexec.data.orders import DayOrders
from multiexec.paths import shared_data


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


@pytest.fixture
def random_market():
    rng = np.random.default_rng(0)
    D, A, M = 4, 6, 390
    prices = 50 * np.exp(np.cumsum(rng.normal(0, 1e-3, (D, A, M)), axis=2)) * rng.uniform(0.5, 2, (1, A, 1))
    bars = make_bars(prices, volume=rng.uniform(50, 500, (D, A, M)))
    orders = []
    for d in range(D):
        n = 2 + d % 4
        syms = list(rng.choice(bars.symbols, n, replace=False))
        orders.append(DayOrders(bars.dates[d], syms, rng.choice([-1, 1], n), rng.integers(10, 200, n).astype(float), 500.0))
    return bars, orders


def shared_or_skip(name: str):
    p = shared_data(name)
    if p is None:
        pytest.skip(f"real data ../shared/data/{name} is absent: skipping the real-data test")
    return p
