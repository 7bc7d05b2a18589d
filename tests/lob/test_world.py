"""The compiled world agent inside the kernel: warm start, decisions = the compiled forward on its own noise,
forced actions, cancel by price level, fork, configs and their errors."""

import json

import numpy as np
import pandas as pd
import pytest

from multiexec.errors import MultiexecError
from multiexec.lob import kernel as K
from multiexec.lob import rng as R
from multiexec.lob import world as W
from multiexec.lob.config import MarketConfig, get_config, load_config, world_config
from multiexec.lob.sim import Simulation
from multiexec.lob.world import WorldWeights


def weights(seed=3):
    """Hand-made weights (tanh MLP) whose orders follow the noise: about half limit orders a few ticks behind the
    best, the rest market orders and cancels, both sides, ~50-shares, ~50 ms apart; the state nudges them."""
    w = WorldWeights.random(history=5, noise_dim=6, hidden=(32, 32), activation="tanh", seed=seed)
    g = np.random.default_rng(seed)
    d = 5 * W.N_FEATURES
    w1 = g.normal(0, 0.02, (32, d + 6))
    w2 = g.normal(0, 0.02, (32, 32))
    for j in range(6):
        w1[j, d + j] = 1.5
        w2[j, j] = 1.5
    w3 = np.zeros((W.N_OUT, 32))
    for o, (j, k) in enumerate([(6, 0.0), (0, 1.6), (1, 1.6), (2, 3.0), (3, 1.0), (4, 1.0), (5, 1.0)]):
        w3[o, j] = k
    w.layers = [(w1, np.zeros(32)), (w2, np.zeros(32)), (w3, np.array([1.1, 0, 0, 0, 0, 0, 0.0]))]
    w.out_norm = np.array([4.0, 0.6, 6.0, 4.0, np.log1p(50_000.0), 1.0])
    return w.check()


def world_market(close="09:40:00", seed_w=3, **kw) -> MarketConfig:
    return world_config(arrays=weights(seed_w), **kw).model_copy(update={"close": close})


@pytest.fixture(scope="module")
def wday():
    sim = Simulation(world_market(), seed=5)
    sim.run(progress=False)
    return sim


def test_world_market_runs_from_a_warm_book(wday):
    l2 = wday.l2()
    first = l2.iloc[0]
    assert first["bid_sz_1"] == 100 and first["ask_sz_1"] == 100
    assert round((first["ask_px_1"] - first["bid_px_1"]) / 0.01) == 26
    o = wday.orders()
    assert set(o["agent_type"]) == {"world"}
    assert (o["time_ns"] == wday.open_ns).sum() >= 20  # the warm start, logged at the open
    counts = wday.world_counts()
    assert counts["decisions"] > 1000
    assert set(o["msg"]) >= {"limit", "market", "cancel"}
    assert len(wday.trades()) > 50
    both = l2["bid_px_1"].notna() & l2["ask_px_1"].notna()
    assert (l2.loc[both, "bid_px_1"] < l2.loc[both, "ask_px_1"]).all()
    again = Simulation(world_market(), seed=5)
    again.run(progress=False)
    pd.testing.assert_frame_equal(again.orders(), o)
    other = Simulation(world_market(), seed=6)
    other.run(progress=False)
    assert not other.orders()["size"].equals(o["size"])


def test_decision_is_the_compiled_forward_on_the_agents_own_noise():
    sim = Simulation(world_market(), seed=9)
    sim.run_until(sim.open_ns + 20_000_000_000)
    w = sim.world_weights()
    checked = 0
    for _ in range(5):
        t, state = sim.world_decision()
        a = sim.world_agent()
        rng = sim.ks.rng[a:a + 1].copy()
        z = np.array([R.normal(rng, 0) for _ in range(w.noise_dim)])
        want = np.empty((1, W.N_OUT))
        par, lay = w.flat()
        W.sample_actions(par, lay, state.reshape(-1), z[None, :], want)
        n0 = sim.world_counts()
        sim.run_until(t)
        n1 = sim.world_counts()
        assert n1["decisions"] == n0["decisions"] + 1
        if n1["redraws"] == n0["redraws"]:  # one draw (no order that could not act)
            np.testing.assert_array_equal(sim.world_last_action(), want[0])
            checked += 1
    assert checked >= 3


def test_forced_action_and_cancel_by_price_level():
    sim = Simulation(world_market(), seed=2)
    t, _ = sim.world_decision()
    a = sim.world_agent()
    on = sim.world_weights().out_norm
    bid = sim.l1()[0]
    # cancel 40 shares at the third warm bid level (depth 2 x 3 ticks): raw action for (cancel, buy, 40, 6)
    y = np.array([-5.0, -5.0, 5.0, 1.0, (np.log(40) - on[0]) / on[1], (6 - on[2]) / on[3], 0.0])
    order = sim.world_decode(y).iloc[0]
    assert (order["type"], order["side"], order["size"], order["depth"]) == ("cancel", 1, 40, 6)
    before = sim.ex.l2(0, 5)
    assert before["bid_px"][2] == bid - 6 and before["bid_sz"][2] == 100
    sim.force_world_action(y)
    sim.run_until(t)
    after = sim.ex.l2(0, 5)
    assert after["bid_sz"][2] == 60 and after["bid_px"][2] == bid - 6
    np.testing.assert_array_equal(sim.world_last_action(), y)
    o = sim.orders()
    last = o[(o["agent_id"] == a) & (o["msg"] == "cancel")].iloc[-1]
    assert last["size"] == 40 and round(last["price"] / 0.01) == bid - 6
    # a market buy of 150 shares takes the first two ask levels' shares
    t, _ = sim.world_decision()
    ask = sim.l1()[2]
    y = np.array([-5.0, 5.0, -5.0, 1.0, (np.log(150) - on[0]) / on[1], 0.0, 0.0])
    sim.force_world_action(y)
    sim.run_until(t)
    tr = sim.trades()
    assert tr["size"].iloc[-2:].sum() == 150 and round(tr["price"].iloc[-2] / 0.01) == ask
    with pytest.raises(MultiexecError, match="7 finite numbers"):
        sim.force_world_action([1.0, 2.0])


def test_world_sample_draws_distinct_actions_for_the_state():
    sim = Simulation(world_market(), seed=4)
    sim.run_until(sim.open_ns + 5_000_000_000)
    t, state = sim.world_decision()
    ys = sim.world_sample(64, seed=1)
    assert ys.shape == (64, W.N_OUT) and len(np.unique(ys[:, 4])) == 64
    np.testing.assert_array_equal(ys, sim.world_sample(64, seed=1, state=state))
    assert sim.now < t  # sampling does not move the market


def _after(sim, t):
    o = sim.orders()
    return o[o["time_ns"] > t].reset_index(drop=True)


@pytest.mark.parametrize("make", [world_market, lambda: get_config("rmsc04", close="09:45:00").model_copy(
    update={"symbols": [get_config("rmsc04").symbols[0].model_copy(update={
        "noise": get_config("rmsc04").symbols[0].noise.model_copy(update={"n": 50}),
        "value": get_config("rmsc04").symbols[0].value.model_copy(update={"n": 10})})]})],
    ids=["world", "agent-based"])
def test_fork_same_seed_same_continuation_original_untouched(make):
    cfg = make()
    ref = Simulation(cfg, seed=1)
    ref.run(progress=False)
    sim = Simulation(cfg, seed=1)
    t = sim.open_ns + 5 * 60_000_000_000
    sim.run_until(t)
    a, b, c = sim.fork(11), sim.fork(11), sim.fork(12)
    for s in (a, b, c):
        s.run(progress=False)
    pd.testing.assert_frame_equal(_after(a, t), _after(b, t))
    assert not _after(a, t)["size"].equals(_after(c, t)["size"])
    pd.testing.assert_frame_equal(a.orders()[a.orders()["time_ns"] <= t], ref.orders()[ref.orders()["time_ns"] <= t])
    assert a.fork_seeds == [11]
    sim.run(progress=False)  # the original continues as if never forked
    pd.testing.assert_frame_equal(sim.orders(), ref.orders())
    pd.testing.assert_frame_equal(sim.trades(), ref.trades())


def test_fork_at_a_world_decision_with_forced_actions():
    sim = Simulation(world_market(), seed=8)
    sim.run_until(sim.open_ns + 60_000_000_000)
    t, state = sim.world_decision()
    ys = sim.world_sample(3, seed=0)
    ends = []
    for y in ys:
        f = sim.fork(100)
        f.force_world_action(y)
        f.run_until(t)
        np.testing.assert_array_equal(f.world_last_action(), y)
        f.run_until(t + 30_000_000_000)
        ends.append(f.l1())
    assert sim.now < t and sim.world_last_action() is not None
    np.testing.assert_array_equal(sim.world_state(t_ns=t), state)


def test_world_decision_returns_none_after_the_close():
    sim = Simulation(world_market(close="09:31:00"), seed=1)
    sim.run(progress=False)
    assert sim.world_decision() is None
    with pytest.raises(MultiexecError, match="no world agent"):
        Simulation(get_config("rmsc04", close="09:31:00"), seed=1).world_decision()


def test_world_configs_and_one_line_errors(tmp_path):
    w = weights()
    p = w.save(tmp_path / "world.npz")
    cfg = get_config(f"world:{tmp_path}")
    assert cfg.symbols[0].world.digest == w.digest() and cfg.n_agents == 1
    assert get_config(f"world:{p}", close="10:00:00").close == "10:00:00"
    bad = [
        lambda: world_config(arrays=w, warm_size=-5),
        lambda: world_config(arrays=w, max_size=0),
        lambda: get_config(f"world:{tmp_path / 'nope.npz'}"),
        lambda: world_config(),
        lambda: WorldWeights.load(p, expect={"history": 7}),
    ]
    for make in bad:
        with pytest.raises(MultiexecError) as e:
            make()
        assert "\n" not in str(e.value)
    with pytest.raises(MultiexecError, match="warm_size"):
        world_config(arrays=w, warm_size=-5)
    f = tmp_path / "market.json"
    data = json.loads(cfg.model_dump_json())
    f.write_text(json.dumps(data))
    assert get_config(str(f)).symbols[0].world.weights == str(tmp_path)
    data["symbols"][0]["world"]["warm_levels"] = -1
    f.write_text(json.dumps(data))
    with pytest.raises(MultiexecError, match="warm_levels") as e:
        get_config(str(f))
    assert "\n" not in str(e.value)
    with pytest.raises(MultiexecError, match="architecture"):
        bad_w = weights()
        bad_w.layers = bad_w.layers[:-1]
        bad_w.check()
    with pytest.raises(MultiexecError, match="not found"):
        load_config(tmp_path / "missing.json")


def test_agent_based_configs_have_no_world_rows():
    sim = Simulation(get_config("rmsc04", close="09:31:00"), seed=1)
    assert sim.world_agents == {} and sim.ks.wst.shape[0] == 1
    assert int(sim.ks.meta[K.K_STOP]) == -1


def test_empirical_time_between_orders_follows_the_training_quantiles():
    w = weights()
    w.dt_quantiles = np.log1p(np.linspace(1_000.0, 3_000.0, 11))  # 1-3 ms between orders, uniform
    sim = Simulation(world_config(arrays=w).model_copy(update={"close": "09:32:00"}), seed=1)
    sim.run(progress=False)
    n = sim.world_counts()["decisions"]
    assert 120_000 / 3.0 < n < 120_000 / 1.0  # two minutes at 1-3 ms (the generator's own times are ~50 ms)
    gen = Simulation(world_config(arrays=w, dt_source="generator").model_copy(update={"close": "09:32:00"}), seed=1)
    gen.run(progress=False)
    assert gen.world_counts()["decisions"] < n / 5
    with pytest.raises(MultiexecError, match="dt_quantiles"):
        world_config(arrays=weights(), dt_source="empirical")


def test_cancel_in_proportion_to_volume():
    sim = Simulation(world_market(cancel_target="volume"), seed=2)
    sim.world_decision()
    st = sim.ex.st
    lv = sim.ex.l2(0, 10)
    px, sz = np.asarray(lv["bid_px"]), np.asarray(lv["bid_sz"])
    assert (sz == 100).all()  # the warm book: 10 bid levels of 100 shares
    # each resting share is equally likely: u picks the level holding the u-th share from the best
    for u, j in ((0.0, 0), (0.099, 0), (0.101, 1), (0.55, 5), (0.999, 9)):
        assert W.volume_level(st, 0, 0, u, 64) == px[j]
    assert W.volume_level(st, 0, 0, 0.999, 3) == px[2]  # only the first max_scan levels
    # a forced cancel whose depth output points at the 10th level: drawn across the levels instead
    s2 = Simulation(world_market(cancel_target="volume"), seed=2)
    s2.world_decision()
    a = s2.world_agent()
    on = s2.world_weights().out_norm
    y = np.array([-5.0, -5.0, 5.0, 1.0, (np.log(10) - on[0]) / on[1], (27 - on[2]) / on[3], 0.0])  # depth 27: level 10
    hits = []
    for i in range(40):
        f = s2.fork(100 + i)
        t, _ = f.world_decision()
        f.force_world_action(y)
        f.run_until(t)
        o = f.orders()
        last = o[(o["agent_id"] == a) & (o["msg"] == "cancel")]
        hits.append(round(last["price"].iloc[-1] / 0.01))
    assert len(set(hits)) > 3  # drawn across the levels, not the one nearest the depth output
    depth = Simulation(world_market(), seed=2)
    depth.world_decision()
    t, _ = depth.world_decision()
    depth.force_world_action(y)
    depth.run_until(t)
    o = depth.orders()
    assert round(o[(o["agent_id"] == a) & (o["msg"] == "cancel")]["price"].iloc[-1] / 0.01) == px[9]
    with pytest.raises(MultiexecError, match="cancel_target"):
        world_market(cancel_target="oldest")
