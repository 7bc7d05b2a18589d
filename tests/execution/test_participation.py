"""The participation cap where orders meet bars: the bars market refuses an order larger than the cap's share of its
asset's day volume (never fills more than the market traded), and a dataset's partial fills (orders cut to the cap)
execute at most the cut amount."""

from __future__ import annotations

import numpy as np
import pytest

from multiexec.data.dataset import check_participation
from multiexec.data.orders import DayOrders
from multiexec.errors import MultiexecError
from multiexec.execution.env import ExecConfig, MultiOrderEnv
from multiexec.execution.evaluate import run_policy
from multiexec.policies.rules import make_rule_policy
from multiexec.testing import make_bars

CFG = ExecConfig(step_minutes=10)


def bars_with_cap(cap):
    bars = make_bars(np.full((2, 2, 30), 10.0), volume=np.full((2, 2, 30), 100.0))  # 3000 shares a day
    bars.meta["max_participation"] = cap
    return bars


def twap(env, bars):
    return run_policy(env, make_rule_policy("twap", bars, np.array([0, 1]), CFG), [0], progress=False)


def test_the_bars_market_refuses_an_order_above_the_cap():
    bars = bars_with_cap(0.25)
    big = [DayOrders(bars.dates[0], ["S0", "S1"], [1, -1], [100.0, 1e12], 1e15)]
    env = MultiOrderEnv(bars, big, CFG)
    with pytest.raises(MultiexecError, match=rf"order {bars.dates[0]} S1 buy 1e\+12 shares is above "
                                             r"max_participation = 0.25 of the day's volume 3000 in the bars"):
        twap(env, bars)
    ok = [DayOrders(bars.dates[0], ["S0", "S1"], [1, -1], [100.0, 750.0], 1e6)]
    res = twap(MultiOrderEnv(bars, ok, CFG), bars)
    assert res.orders["filled"].tolist() == [100.0, 750.0]  # shares
    with pytest.raises(MultiexecError, match="S1 buy 751 shares"):
        twap(MultiOrderEnv(bars, [DayOrders(bars.dates[0], ["S1"], [-1], [751.0], 1e6)], CFG), bars)


def test_no_cap_recorded_no_check():
    bars = bars_with_cap(None)
    res = twap(MultiOrderEnv(bars, [DayOrders(bars.dates[0], ["S1"], [1], [1e6], 0.0)], CFG), bars)
    assert res.orders["filled"].tolist() == [1e6]  # the caller switched the cap off explicitly


def test_partial_fills_execute_at_most_the_cut_amount():
    bars = bars_with_cap(0.25)
    orders = [DayOrders(bars.dates[0], ["S0", "S1"], [1, -1], [5000.0, 200.0], 1e6)]
    with pytest.raises(MultiexecError, match=r"my orders: order .* S0 sell 5000 shares is 1.67x the day's volume"):
        check_participation(orders, bars, 0.25, "error", "my orders")
    cut, cuts = check_participation(orders, bars, 0.25, "partial", "my orders")
    assert cuts == [{"date": str(bars.dates[0]), "symbol": "S0", "side": "sell", "amount": 5000.0, "cut_to": 750.0,
                     "day_volume": 3000.0}]
    res = twap(MultiOrderEnv(bars, cut, CFG), bars)
    assert res.orders["filled"].tolist() == [750.0, 200.0]  # shares: at most the cut amount
    assert check_participation(orders, bars, None) == (orders, [])
