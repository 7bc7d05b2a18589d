import numpy as np
from scipy import stats
import pandas as pd
import pytest

from multiexec.data.orders import DayOrders
from multiexec.errors import MultiexecError
from multiexec.execution.env import F_NOW, F_SEQ, ExecConfig, MultiOrderEnv
from multiexec.execution.metrics import arr_percent, paired_test, summarize
from multiexec.policies.rules import make_rule_policy
from multiexec.testing import make_bars

SIGMA = 1 / 30


def hand_market():
    # 4 minutes, 2-minute steps -> T = 2. A: 10 flat; B and C: 10 then 20.
    prices = np.array([[[10, 10, 10, 10], [10, 10, 20, 20], [10, 10, 20, 20]]], dtype=float)
    bars = make_bars(prices, symbols=["A", "B", "C"])
    orders = [DayOrders(bars.dates[0], ["A", "B", "C"], [1, -1, -1], [10.0, 10.0, 10.0], 50.0)]
    return bars, orders, ExecConfig(step_minutes=2)


def test_cash_rule_hand_computed():
    bars, orders, cfg = hand_market()
    env = MultiOrderEnv(bars, orders, cfg)
    obs = env.reset()
    assert env.n_steps == 2
    obs, team, per, done, info = env.step(np.full((1, 3), 4))  # everything at once
    # sell 10 A @10 -> +100; buys need 200; available 150 -> both buys scaled by 0.75; cash ends at 0
    np.testing.assert_allclose(info.executed, [[1.0, 0.75, 0.75]])
    assert info.cash_binding[0] and info.cash[0] == 0.0
    # rewards, eq. 7: p~_A = 10, p~_B = p~_C = 15; cash penalty since c_0 = 50 > 0
    rA = 1 * 1.0 * (10 / 10 - 1) - 0.01 * 1.0 - SIGMA
    rB = -1 * 0.75 * (10 / 15 - 1) - 0.01 * 0.75**2 - SIGMA
    np.testing.assert_allclose(per, [[rA, rB, rB]])
    np.testing.assert_allclose(team, [(rA + 2 * rB) / 3])
    assert not done
    obs, team, per, done, info = env.step(np.zeros((1, 3), dtype=np.int64))
    # forced last step: the remaining 2.5 shares of each buy need 100 of cash, there is none -> nothing bought
    np.testing.assert_allclose(info.executed, [[0.0, 0.0, 0.0]])
    # no new penalty: cash was already 0 before this step
    np.testing.assert_allclose(per, [[-0.0, 0.0, 0.0]], atol=1e-15)
    assert done
    res = env.results().set_index("symbol")
    np.testing.assert_allclose(res.loc["B", "fill_rate"], 0.75)
    np.testing.assert_allclose(res.loc["B", "unfilled"], 2.5)
    np.testing.assert_allclose(res.loc["B", "eg_bps"], -1 * (10 - 15) / 15 * 1e4)
    np.testing.assert_allclose(res.loc["A", "eg_bps"], 0.0)
    assert env.day_results()["toc"].iloc[0] == 1.0


def test_buys_scaled_by_the_same_factor():
    prices = np.array([[[10.0] * 4, [37.0] * 4, [3.0] * 4]])
    bars = make_bars(prices, symbols=["A", "B", "C"])
    orders = [DayOrders(bars.dates[0], ["B", "C", "A"], [-1, -1, 1], [40.0, 500.0, 5.0], 1000.0)]
    env = MultiOrderEnv(bars, orders, ExecConfig(step_minutes=2))
    env.reset()
    _, _, _, _, info = env.step(np.array([[0.5, 0.5, 1.0]]))
    need = 0.5 * 40 * 37 + 0.5 * 500 * 3  # 1490
    have = 1000 + 5 * 10  # 1050
    np.testing.assert_allclose(info.executed[0], [0.5 * have / need, 0.5 * have / need, 1.0])
    assert info.cash[0] == 0.0


def test_forced_last_step_and_cap(random_market):
    bars, orders = random_market
    for o in orders:
        o.cash = 1e12
    env = MultiOrderEnv(bars, orders)
    obs = env.reset()
    executed = np.zeros(obs.mask.shape)
    for t in range(env.n_steps):
        act = np.where(t == 0, 0.6, 0.0) * np.ones(obs.mask.shape)
        obs, _, _, done, info = env.step(act)
        executed += info.executed
        assert np.all(info.executed <= 1.0 + 1e-12)
    assert done
    np.testing.assert_allclose(executed[obs.mask], 1.0)  # 0.6 at t=0, the rest forced at the end
    assert np.all(executed[~obs.mask] == 0)
    with pytest.raises(MultiexecError, match="day is over"):
        env.step(np.zeros(obs.mask.shape))


def test_twap_eg_is_zero_on_benchmark_prices(random_market):
    bars, orders = random_market
    for o in orders:
        o.cash = 1e12
    cfg = ExecConfig()
    env = MultiOrderEnv(bars, orders, cfg)
    policy = make_rule_policy("twap", bars, np.arange(bars.n_days), cfg)
    obs = env.reset()
    done = False
    while not done:
        obs, _, _, done, _ = env.step(policy.act(obs))
    res = env.results()
    np.testing.assert_allclose(res["eg_bps"], 0.0, atol=1e-8)
    np.testing.assert_allclose(res["fill_rate"], 1.0)


def test_observation_shapes_and_no_lookahead(random_market):
    bars, orders = random_market
    env = MultiOrderEnv(bars, orders)
    obs = env.reset([0, 1, 2])
    assert obs.seq.shape == (3, obs.mask.shape[1], env.n_steps, F_SEQ) and obs.now.shape[-1] == F_NOW
    assert not obs.seq.any()  # nothing of the current day is known before the first step
    obs, *_ = env.step(np.zeros(obs.mask.shape, dtype=np.int64))
    assert obs.seq[:, :, 0][obs.mask].any() and not obs.seq[:, :, 1:].any()
    assert not obs.seq[~obs.mask].any() and not obs.now[~obs.mask].any()


def test_padding_changes_nothing(random_market):
    bars, orders = random_market
    env = MultiOrderEnv(bars, orders)
    rng = np.random.default_rng(1)
    acts = rng.integers(0, 5, (env.n_steps, 1, env.max_orders))
    # day 0 alone vs in a batch with a larger day: same rewards and results for day 0's orders
    alone, batched = [], []
    for ids, store in (([0], alone), ([0, 3], batched)):
        obs = env.reset(ids)
        n = obs.mask.shape[1]
        for t in range(env.n_steps):
            a = np.zeros(obs.mask.shape, dtype=np.int64)
            a[0] = acts[t, 0, :n]
            if len(ids) > 1:
                a[1] = acts[t, 0, :n]
            obs, team, per, done, _ = env.step(a)
            store.append((team[0], per[0, : orders[0].n]))
    for (ta, pa), (tb, pb) in zip(alone, batched):
        np.testing.assert_allclose(ta, tb)
        np.testing.assert_allclose(pa, pb)


def test_bad_actions_and_orders(random_market):
    bars, orders = random_market
    env = MultiOrderEnv(bars, orders)
    obs = env.reset([0])
    with pytest.raises(MultiexecError, match="shape"):
        env.step(np.zeros((2, 7)))
    with pytest.raises(MultiexecError, match="indices"):
        env.step(np.full(obs.mask.shape, 9))
    with pytest.raises(MultiexecError, match=r"\[0, 1\]"):
        env.step(np.full(obs.mask.shape, np.nan))
    bad = [DayOrders(bars.dates[0], ["NOPE"], [1], [1.0], 0.0)]
    with pytest.raises(MultiexecError, match="unknown symbol"):
        MultiOrderEnv(bars, bad)
    late = [DayOrders(np.datetime64("2030-01-01"), [bars.symbols[0]], [1], [1.0], 0.0)]
    with pytest.raises(MultiexecError, match="not in the data"):
        MultiOrderEnv(bars, late)
    with pytest.raises(MultiexecError, match="positive"):
        DayOrders(bars.dates[0], ["S0"], [1], [-3.0], 0.0)
    with pytest.raises(ValueError, match="extra"):
        ExecConfig(step_minute=30)


def test_metric_formulas():
    np.testing.assert_allclose(arr_percent(10.0), (1.0001**250 - 1) * 100)
    orders = pd.DataFrame({"eg_bps": [10.0, -5.0, 20.0, -10.0, 0.0], "filled": [1, 1, 1, 1, 0.5], "amount": [1] * 5})
    days = pd.DataFrame({"toc": [0.0, 0.5]})
    m = summarize(orders, days)
    assert m["EG_bps"] == pytest.approx(3.0)
    assert m["POS_pct"] == pytest.approx(40.0)
    assert m["GLR"] == pytest.approx(15.0 / 7.5)
    assert m["TOC_pct"] == pytest.approx(25.0)
    assert m["fill_pct"] == pytest.approx(90.0)
    test = paired_test(pd.Series([1.0, 2.0, 3.0, 4.0]), pd.Series([0.0, 0.0, 0.0, 0.0]))
    assert test["mean_diff_bps"] == pytest.approx(2.5) and test["t_pvalue"] < 0.05
    assert "day_t_pvalue" not in test  # no day_id level: no day-level test


def test_paired_test_over_days_sees_that_orders_of_a_day_move_together():
    """Orders of one day share its move: 4 days x 50 orders, differences = a day effect + tiny noise. Over orders
    the test is wildly significant; over the 4 days' means it is not."""
    rng = np.random.default_rng(0)
    day_effect = np.array([3.0, -1.0, 2.5, -2.0])
    idx = pd.MultiIndex.from_product([range(4), [f"S{i}" for i in range(50)]], names=["day_id", "symbol"])
    diff = np.repeat(day_effect, 50) + 0.1 * rng.standard_normal(200)
    test = paired_test(pd.Series(diff, index=idx), pd.Series(0.0, index=idx))
    assert test["n"] == 200 and test["n_days"] == 4
    assert test["t_pvalue"] < 1e-3 < 0.3 < test["day_t_pvalue"]
    assert test["day_t_pvalue"] == pytest.approx(stats.ttest_1samp(diff.reshape(4, 50).mean(1), 0.0).pvalue)
