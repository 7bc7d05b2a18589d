"""The multi-order environment on the reactive LOB market (multiexec.execution.lob_market)."""

import numpy as np
import pandas as pd
import pytest

from multiexec.algos.train import TrainConfig, train
from multiexec.data.orders import DayOrders
from multiexec.errors import MultiexecError
from multiexec.execution.env import F_NOW, F_SEQ, ExecConfig, MultiOrderEnv
from multiexec.execution.evaluate import run_policy
from multiexec.execution.lob_market import LOBMarket, LOBMarketConfig, lob_dataset
from multiexec.execution.markets import DayBatch, Market
from multiexec.policies.agents import AgentConfig, ExecAgent, NeuralPolicy
from multiexec.policies.registry import method_names
from multiexec.policies.rules import RULES, make_rule_policy

STEP = 10
ECFG = ExecConfig(step_minutes=STEP)


@pytest.fixture(scope="module")
def world():
    ds, market = lob_dataset(LOBMarketConfig(config="desk-mini", days=12), seed=3, step_minutes=STEP, progress=False)
    return ds, market


def test_market_interface_and_dataset(world):
    ds, market = world
    assert isinstance(market, Market)
    assert ds.bars.n_assets == 6 and ds.bars.n_minutes == 60 and ds.bars.n_days == 12
    assert len(ds.orders) >= 3 and all(o.n >= 1 for o in ds.orders)
    # consecutive days: each day's fundamental opens at the previous day's close
    for d in range(1, 4):
        cfg = market.specs[d][0]
        prev_close = np.round(ds.bars.close[d - 1, :, -1] / cfg.tick_dollars)
        assert [s.fundamental.r_bar for s in cfg.symbols] == prev_close.astype(int).tolist()
    assert len({seed for _, seed in market.specs}) == len(market.specs)


def test_replay_without_orders_is_the_history_day(world):
    ds, market = world
    d = int(ds.order_day_index[0])
    o = ds.orders[0]
    n = o.n
    batch = DayBatch(np.array([d]), ds.bars.symbol_index(o.symbols)[None], o.side[None], o.amount[None],
                     np.ones((1, n), bool), np.array([o.cash]))
    market.begin(batch)  # one external agent per order, but no message sent
    sim = market.sims[0]
    sim.run_until(sim.close_ns)
    bars = sim.bars()
    for a, sym in enumerate(ds.bars.symbols):
        np.testing.assert_array_equal(bars.loc[bars["symbol"] == sym, "close"].to_numpy(), ds.bars.close[d, a])
        np.testing.assert_array_equal(bars.loc[bars["symbol"] == sym, "volume"].to_numpy(), ds.bars.volume[d, a])


@pytest.mark.parametrize("name", RULES)
def test_every_rule_trades_in_the_book(world, name):
    ds, market = world
    env = MultiOrderEnv(market, ds.orders, ECFG)
    train = ds.order_day_index[ds.splits["train"]]
    res = run_policy(env, make_rule_policy(name, ds.bars, train, ECFG), ds.splits["test"], progress=False)
    o = res.orders
    assert (o["filled"] <= o["amount"] + 1e-9).all() and np.allclose(o["filled"], np.round(o["filled"]))
    assert o["fill_rate"].mean() > 0.9
    assert np.isfinite(o.loc[o["filled"] > 0, ["eg_bps", "is_bps"]].to_numpy()).all()
    assert (res.days["cash_end"] >= 0).all()
    # our fills moved shares in the book: the agents' positions are the filled amounts
    for b, sim in enumerate(market.sims):
        pos = [abs(sim.position(int(a))[0]) for a in market.agents[b][market.batch.mask[b]]]
        np.testing.assert_array_equal(pos, market.done_shares[b][market.batch.mask[b]])


def test_same_seed_same_numbers_and_reaction(world):
    ds, market = world
    env = MultiOrderEnv(market, ds.orders, ECFG)
    twap = make_rule_policy("twap", ds.bars, ds.order_day_index[ds.splits["train"]], ECFG)
    a = run_policy(env, twap, ds.splits["test"], progress=False).orders
    b = run_policy(env, twap, ds.splits["test"], progress=False).orders
    pd.testing.assert_frame_equal(a, b)
    # TWAP on bars executes at the day's average price (EG 0); in the book it pays the spread and its impact
    assert a["eg_bps"].mean() < 0


def _one_order_env(ds, market, amount, cash=1e12, side=-1, symbols=None):
    d = ds.bars.dates[ds.order_day_index[-1]]
    syms = symbols or [ds.bars.symbols[1]]
    orders = [DayOrders(d, [s], np.array([side]), np.array([float(amount)]), cash) for s in syms]
    return MultiOrderEnv(market, orders, ECFG)


def test_cost_grows_with_order_size(world):
    """Buying 200 shares vs ~10 % of the day's volume of each symbol: the large order pays more against the day's
    average price (the day itself is the same: same seeds)."""
    ds, market = world
    twap = make_rule_policy("twap", ds.bars, ds.order_day_index[ds.splits["train"]], ECFG)
    eg = []
    for amount in (200, 200_000):
        env = _one_order_env(ds, market, amount, symbols=list(ds.bars.symbols))
        eg.append(run_policy(env, twap, list(range(len(env.orders))), progress=False).orders["eg_bps"].mean())
    assert eg[1] < eg[0] - 2.0


def test_cash_binds_and_never_goes_negative(world):
    ds, market = world
    env = _one_order_env(ds, market, 20_000, cash=20_000 * ds.bars.close[0, 1, -1] * 0.3)
    twap = make_rule_policy("twap", ds.bars, ds.order_day_index[ds.splits["train"]], ECFG)
    res = run_policy(env, twap, [0], progress=False)
    assert res.days["toc"].iloc[0] > 0 and res.days["cash_end"].iloc[0] >= 0
    assert res.orders["fill_rate"].iloc[0] < 0.5
    assert (env.cash_hist >= 0).all()


def test_bad_input(world):
    ds, market = world
    with pytest.raises(MultiexecError, match="steps every 10 minutes"):
        MultiOrderEnv(market, ds.orders, ExecConfig(step_minutes=30))
    env = _one_order_env(ds, market, 100.5)
    with pytest.raises(MultiexecError, match="whole shares"):
        env.reset()
    with pytest.raises(MultiexecError, match="days"):
        LOBMarket(ds.bars, market.specs[:-1])


@pytest.mark.parametrize("method", method_names())
def test_every_learned_policy_acts_in_the_book(world, method):
    ds, market = world
    env = MultiOrderEnv(market, ds.orders, ECFG)
    agent = ExecAgent(AgentConfig(method=method, n_actions=env.n_actions, f_seq=F_SEQ, f_now=F_NOW, rnn=8, hidden=16))
    res = run_policy(env, NeuralPolicy(agent), ds.splits["test"][:1], progress=False)
    assert len(res.orders) == ds.orders[ds.splits["test"][0]].n and np.isfinite(res.metrics["fill_pct"])


def test_train_in_the_book(world, tmp_path):
    ds, market = world
    cfg = TrainConfig(method="ppo", train_days=2, eval_every=2, rollout_days=2)
    res = train(ds, cfg, tmp_path / "run", ECFG, progress=False, market=market)
    assert res.order_steps > 0 and (tmp_path / "run" / "best.pt").is_file()


def test_cli_evaluate_and_train_on_the_lob_market(tmp_path):
    from typer.testing import CliRunner

    from multiexec.cli import app

    r = CliRunner().invoke(app, ["evaluate", "--market", "lob:desk-mini", "--lob-days", "12", "--seed", "3",
                                 "--step-minutes", "10", "--policy", "twap,ac", "--out", str(tmp_path / "ev")])
    assert r.exit_code == 0, r.output
    table = pd.read_csv(tmp_path / "ev" / "metrics.csv").set_index("policy")
    assert set(table.index) == {"twap", "ac"} and "IS_bps" in table.columns and "lob market" in r.output
    r = CliRunner().invoke(app, ["evaluate", "--market", "lob", "--out", str(tmp_path / "x")])
    assert r.exit_code != 0 and "lob:<config>" in str(r.exception)
    r = CliRunner().invoke(app, ["evaluate", "--market", "lob:nope", "--out", str(tmp_path / "x")])
    assert r.exit_code != 0 and "unknown market config 'nope'" in str(r.exception)
    r = CliRunner().invoke(app, ["evaluate", "--market", "lob:desk-mini", "--lob-days", "2", "--out", str(tmp_path / "x")])
    assert r.exit_code != 0 and "days" in str(r.exception) and "greater than or equal to 3" in str(r.exception)
    r = CliRunner().invoke(app, ["train", "--method", "ppo", "--market", "lob:desk-mini", "--lob-days", "12",
                                 "--data-seed", "3", "--step-minutes", "10", "--train-days", "2", "--eval-every", "2",
                                 "--out", str(tmp_path / "tr")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "tr" / "test" / "metrics.json").is_file()


def test_orders_from_a_csv(world, tmp_path):
    ds, _ = world
    rows = ["date,symbol,side,amount,cash"]
    for d in ds.bars.dates[-6:]:
        rows += [f"{d},M0,buy,300,1000000", f"{d},M3,sell,500,"]
    path = tmp_path / "orders.csv"
    path.write_text("\n".join(rows) + "\n")
    ds2, market = lob_dataset(LOBMarketConfig(config="desk-mini", days=12, orders_csv=str(path)), seed=3,
                              step_minutes=STEP, progress=False)
    assert len(ds2.orders) == 6 and all(o.symbols == ["M0", "M3"] for o in ds2.orders)
    env = MultiOrderEnv(market, ds2.orders, ECFG)
    twap = make_rule_policy("twap", ds2.bars, ds2.order_day_index[ds2.splits["train"]], ECFG)
    res = run_policy(env, twap, ds2.splits["test"], progress=False)
    assert (res.orders["filled"] > 0).all()
