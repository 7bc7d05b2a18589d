"""Tiny datasets for the learning-agent tests."""

import types

import numpy as np
import pytest

from multiexec.data.orders import DayOrders
from multiexec.execution.env import ExecConfig
from tests.conftest import make_bars

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


def random_dataset(n_days: int = 6, seed: int = 0) -> types.SimpleNamespace:
    """Random-walk prices, 3-6 orders per day with mixed sides, cash that binds."""
    rng = np.random.default_rng(seed)
    D, A, M = n_days, 8, 30
    prices = 50 * np.exp(np.cumsum(rng.normal(0, 2e-3, (D, A, M)), axis=2)) * rng.uniform(0.5, 2, (1, A, 1))
    bars = make_bars(prices, volume=rng.uniform(50, 500, (D, A, M)))
    orders = []
    for d in range(D):
        n = 3 + d % 4
        syms = list(rng.choice(bars.symbols, n, replace=False))
        side = np.where(np.arange(n) % 2 == 0, -1, 1)
        orders.append(DayOrders(bars.dates[d], syms, side, rng.integers(10, 200, n).astype(float), 1500.0))
    ids = list(range(D))
    return types.SimpleNamespace(bars=bars, orders=orders, splits={"train": ids[:4], "valid": ids[4:5], "test": ids[5:]})


@pytest.fixture
def tiny_random():
    return random_dataset()
