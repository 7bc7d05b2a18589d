"""Fixtures shared by the test packages (the helpers themselves live in :mod:`multiexec.testing`)."""

import numpy as np
import pytest

from multiexec.data.orders import DayOrders
from multiexec.testing import make_bars


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
