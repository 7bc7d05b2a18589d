"""Fixtures shared by the test packages (the helpers themselves live in :mod:`multiexec.testing`)."""

import numpy as np
import pytest

from multiexec.data.orders import DayOrders
from multiexec.testing import random_walk_bars


@pytest.fixture
def random_market():
    rng = np.random.default_rng(0)
    bars = random_walk_bars(rng, 4, 6, 390, 1e-3)
    orders = []
    for d in range(bars.n_days):
        n = 2 + d % 4
        syms = list(rng.choice(bars.symbols, n, replace=False))
        orders.append(DayOrders(bars.dates[d], syms, rng.choice([-1, 1], n), rng.integers(10, 200, n).astype(float), 500.0))
    return bars, orders
