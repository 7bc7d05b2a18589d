import numpy as np
import pytest

from multiexec.errors import MultiexecError
from multiexec.execution.env import ExecConfig, MultiOrderEnv
from multiexec.policies.rules import make_rule_policy, step_volatility
from multiexec.testing import make_bars


def run(env, policy, ids):
    obs = env.reset(ids)
    done = False
    while not done:
        obs, _, _, done, info = env.step(policy.act(obs))
    return env.profiles()


def test_vwap_uses_training_days_only(random_market):
    bars, orders = random_market
    cfg = ExecConfig()
    vol = bars.volume.copy()
    vol[-1] *= np.linspace(1, 50, bars.n_minutes)  # the last (test) day looks nothing like the others
    bars_changed = make_bars(bars.close, symbols=bars.symbols, volume=vol)
    train = np.arange(bars.n_days - 1)
    a = make_rule_policy("vwap", bars, train, cfg).weights
    b = make_rule_policy("vwap", bars_changed, train, cfg).weights
    np.testing.assert_allclose(a, b)  # changing a non-training day changes nothing
    assert not np.allclose(a, make_rule_policy("vwap", bars_changed, np.arange(bars.n_days), cfg).weights)


def test_vwap_follows_the_volume_profile():
    M = 60
    vol = np.ones((2, 1, M))
    vol[:, :, :30] = 3.0  # three times the volume in the first 30-minute step
    bars = make_bars(np.full((2, 1, M), 10.0), volume=vol)
    from multiexec.data.orders import DayOrders

    env = MultiOrderEnv(bars, [DayOrders(bars.dates[1], ["S0"], [1], [100.0], 0.0)])
    prof = run(env, make_rule_policy("vwap", bars, [0], ExecConfig()), [0])
    np.testing.assert_allclose(prof["executed"][0, 0], [0.75, 0.25])


def test_ac_front_loads_with_risk_aversion(random_market):
    bars, orders = random_market
    for o in orders:
        o.cash = 1e12
    cfg = ExecConfig()
    env = MultiOrderEnv(bars, orders, cfg)
    train = np.arange(bars.n_days)
    neutral = run(env, make_rule_policy("ac", bars, train, cfg, risk_aversion=0.0), [0])["executed"][0, 0]
    np.testing.assert_allclose(neutral, 1 / env.n_steps)  # lambda = 0 is TWAP
    averse = run(env, make_rule_policy("ac", bars, train, cfg, risk_aversion=50.0), [0])["executed"][0, 0]
    assert averse[0] > averse[-1] and np.all(np.diff(averse) <= 1e-12)
    np.testing.assert_allclose(averse.sum(), 1.0)
    assert np.all(step_volatility(bars, train, cfg) > 0)


def test_rules_reject_bad_input(random_market):
    bars, _ = random_market
    with pytest.raises(MultiexecError, match="unknown rule"):
        make_rule_policy("pov", bars, [0], ExecConfig())
    with pytest.raises(MultiexecError, match="training day"):
        make_rule_policy("vwap", bars, [], ExecConfig())
    with pytest.raises(MultiexecError, match="'risk'"):
        make_rule_policy("ac", bars, [0], ExecConfig(), risk=1.0)


def test_side_split_sells_first_buys_last():
    M = 120  # four 30-minute steps
    bars = make_bars(np.full((1, 2, M), 10.0))
    from multiexec.data.orders import DayOrders

    env = MultiOrderEnv(bars, [DayOrders(bars.dates[0], ["S0", "S1"], [1, -1], [100.0, 100.0], 1e9)])
    prof = run(env, make_rule_policy("side_split", bars, [0], ExecConfig(), steps=2), [0])
    np.testing.assert_allclose(prof["executed"][0, 0], [0.5, 0.5, 0, 0])  # the sell
    np.testing.assert_allclose(prof["executed"][0, 1], [0, 0, 0.5, 0.5])  # the buy
    with pytest.raises(MultiexecError, match="steps=9"):
        make_rule_policy("side_split", bars, [0], ExecConfig(), steps=9)


def test_unknown_rule_parameter_is_a_clear_error(random_market):
    bars, _ = random_market
    for name, bad in (("twap", {"risk_aversion": 1.0}), ("side_split", {"unknown": 1}), ("ac", {"steps": 3})):
        with pytest.raises(MultiexecError, match="has no parameter"):
            make_rule_policy(name, bars, np.arange(bars.n_days), ExecConfig(), **bad)
    assert make_rule_policy("side_split", bars, [0], ExecConfig(), steps=2).weights[1, 0, :3].tolist() == [0.5, 0.5, 0.0]
