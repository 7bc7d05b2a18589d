"""Kernel, agents, configs and run outputs on tiny markets."""

import math

import numpy as np
import pandas as pd
import pytest

from multiexec.errors import MultiexecError
from multiexec.lob import kernel as K
from multiexec.lob import engine as E
from multiexec.lob.engine import AG_CASH
from multiexec.lob import rng as R
from multiexec.lob.config import MarketConfig, SymbolConfig, get_config
from multiexec.lob.output import write_run
from multiexec.lob.sim import Simulation


def tiny(close="09:50:00", **kw) -> MarketConfig:
    base = get_config("rmsc04").symbols[0]
    sym = base.model_copy(update={
        "noise": base.noise.model_copy(update={"n": 60}),
        "value": base.value.model_copy(update={"n": 12}),
        "momentum": base.momentum.model_copy(update={"n": 2, "short_window": 2, "long_window": 4, "wake_s": 20.0}),
    })
    return MarketConfig(name="tiny", close=close, symbols=[sym], **kw)


@pytest.fixture(scope="module")
def day():
    sim = Simulation(tiny(), seed=7)
    sim.run(progress=False)
    return sim


def test_same_seed_same_day_event_for_event(day):
    again = Simulation(tiny(), seed=7)
    again.run(progress=False)
    assert again.n_events == day.n_events
    pd.testing.assert_frame_equal(again.orders(), day.orders())
    pd.testing.assert_frame_equal(again.trades(), day.trades())
    other = Simulation(tiny(), seed=8)
    other.run(progress=False)
    assert not other.trades()["price"].equals(day.trades()["price"])


def test_day_has_all_agent_types_and_conserves_cash_and_shares(day):
    types = set(day.orders()["agent_type"])
    assert {"noise", "value", "momentum", "market_maker"} <= types
    st = day.ex.st
    assert st.pos.sum() == 0 and st.agv[:, AG_CASH].sum() == 0
    assert len(day.trades()) > 100


def test_snapshots_never_crossed_and_well_formed(day):
    l2 = day.l2()
    assert l2["time_ns"].is_monotonic_increasing
    assert np.all(np.diff(l2["time_ns"]) == 1_000_000_000)
    both = l2["bid_px_1"].notna() & l2["ask_px_1"].notna()
    assert (l2.loc[both, "bid_px_1"] < l2.loc[both, "ask_px_1"]).all()
    bids = l2[[f"bid_px_{i}" for i in range(1, 11)]].to_numpy()
    assert np.all(np.diff(bids, axis=1)[~np.isnan(np.diff(bids, axis=1))] < 0)
    empty = l2["ask_px_3"].isna()
    assert (l2.loc[empty, "ask_sz_3"] == 0).all()


def test_run_folder_contract(day, tmp_path):
    paths = write_run(day, tmp_path)
    bars = pd.read_parquet(paths["bars"])
    assert list(bars.columns) == ["symbol", "timestamp", "open", "high", "low", "close", "volume"]
    assert str(bars["timestamp"].dtype) == "datetime64[ns]" and bars["volume"].dtype == np.float64
    assert bars["timestamp"].iloc[0] == pd.Timestamp("2021-02-05 09:30") and len(bars) == 20
    assert (bars["low"] <= bars["close"]).all() and (bars["close"] <= bars["high"]).all()
    assert bars["volume"].sum() == day.trades()["size"].sum()
    l2 = pd.read_parquet(paths["l2"])
    assert l2["time_ns"].dtype == np.int64 and l2["bid_sz_1"].dtype == np.int64 and l2["ask_px_10"].dtype == np.float64
    tr = pd.read_parquet(paths["trades"])
    assert list(tr.columns[:5]) == ["time_ns", "symbol", "price", "size", "side"] and set(tr["side"]) <= {1, -1}
    od = pd.read_parquet(paths["orders"])
    assert list(od.columns) == ["time_ns", "symbol", "agent_id", "agent_type", "msg", "side", "price", "size",
                                "order_id"]
    assert tr["taker_order_id"].isin(od["order_id"]).all()
    assert set(od["msg"]) <= {"limit", "market", "cancel", "modify"}
    assert od.loc[od["msg"] == "limit", "price"].notna().all()


def test_bars_load_in_data_layer(day):
    from multiexec.data.bars import MinuteBars

    b = day.bars()
    arr = {f: b[f].to_numpy().reshape(1, 1, -1) for f in ("open", "high", "low", "close", "volume")}
    mb = MinuteBars(symbols=["ABM"], dates=[np.datetime64("2021-02-05")], minutes=np.arange(570, 590), **arr,
                    traded=(arr["volume"] > 0))
    assert mb.n_minutes == 20


def test_fundamental_step_uses_standard_deviation():
    """The OU step std must be sigma*sqrt((1-e^{-2 k d})/(2k)) (ABIDES passed the variance)."""
    cfg = tiny()
    f = cfg.symbols[0].fundamental.model_copy(update={"vol_per_sqrt_s": 5.0, "kappa_per_s": 1e-3, "jumps_per_day": 0,
                                                      "vol_of_vol": 0.0})
    cfg = cfg.model_copy(update={"symbols": [cfg.symbols[0].model_copy(update={"fundamental": f})]})
    sim = Simulation(cfg, seed=1)
    ks = sim.ks
    d_ns = 60e9
    steps = []
    for i in range(4000):
        ks.fstate[0, :2] = [0.0, 100_000.0]
        steps.append(K.observe_fundamental(ks, 0, d_ns) - 100_000.0 * math.exp(-1e-3 * 60))
    kap = 1e-3 / 1e9
    want = 5.0 / math.sqrt(1e9) * math.sqrt((1 - math.exp(-2 * kap * d_ns)) / (2 * kap))
    assert np.std(steps) == pytest.approx(want, rel=0.06)


def test_fundamental_jumps_happen_at_configured_rate():
    cfg = tiny()
    f = cfg.symbols[0].fundamental.model_copy(update={"vol_per_sqrt_s": 0.0, "jumps_per_day": 50, "jump_mean": 100,
                                                      "jump_std": 0.0, "vol_of_vol": 0.0})
    cfg = cfg.model_copy(update={"symbols": [cfg.symbols[0].model_copy(update={"fundamental": f})]})
    sim = Simulation(cfg, seed=3)
    vals = [K.observe_fundamental(sim.ks, 0, sim.open_ns + int(i * 60e9)) for i in range(391)]
    jumps = np.abs(np.diff(vals))
    n = int((jumps > 50).sum())
    assert 30 <= n <= 75  # Poisson(50) over the day (two jumps in one minute of opposite sign may cancel)
    assert np.all((jumps < 1.0) | (np.abs(jumps - 100) < 1.0) | (np.abs(jumps - 200) < 1.0))


def _fundamental_minutes(vov: float, seed: int, n: int = 391 * 4) -> np.ndarray:
    cfg = tiny(intraday={"amplitude": 0.0})
    f = cfg.symbols[0].fundamental.model_copy(update={"vol_per_sqrt_s": 5.0, "kappa_per_s": 0.0, "jumps_per_day": 0,
                                                      "vol_of_vol": vov, "vol_tau_s": 1800.0})
    sim = Simulation(cfg.model_copy(update={"symbols": [cfg.symbols[0].model_copy(update={"fundamental": f})]}),
                     seed=seed)
    return np.diff([K.observe_fundamental(sim.ks, 0, sim.open_ns + int(i * 60e9)) for i in range(n)])


def test_stochastic_volatility_clusters_and_keeps_mean_variance():
    """With vol_of_vol > 0 the size of fundamental moves is autocorrelated (volatility clustering) while the mean
    variance per minute stays sigma^2 x 60 s; with vol_of_vol = 0 moves are independent."""
    def abs_acf(x):
        a = np.abs(x) - np.abs(x).mean()
        return float((a[1:] * a[:-1]).mean() / (a * a).mean())

    sv = [_fundamental_minutes(0.6, seed) for seed in (1, 2, 3, 4)]
    const = [_fundamental_minutes(0.0, seed) for seed in (1, 2, 3, 4)]
    assert np.mean([abs_acf(x) for x in sv]) > 0.15
    assert abs(np.mean([abs_acf(x) for x in const])) < 0.05
    want = 5.0**2 * 60
    assert np.var(np.concatenate(const)) == pytest.approx(want, rel=0.1)
    assert np.var(np.concatenate(sv)) == pytest.approx(want, rel=0.35)


def test_value_agents_activity_follows_volatility():
    """activity_exponent p scales value agents' arrival rate by exp(p h - p^2 vov^2 / 2): at p = 0 the rate
    ignores the volatility state."""
    sim = Simulation(tiny(), seed=1)
    ks = sim.ks
    ks.sp[0, K.F_VOV] = 0.5
    ks.fstate[0, K.F_H] = 0.5
    assert K.vol_factor(ks.sp, ks.fstate, 0, 1.0) == pytest.approx(math.exp(0.5 - 0.125))
    assert K.vol_factor(ks.sp, ks.fstate, 0, 0.0) == 1.0
    ks.sp[0, K.F_VOV] = 0.0
    assert K.vol_factor(ks.sp, ks.fstate, 0, 1.0) == 1.0


def test_market_maker_replace_mode_sends_cancel_and_limit(day):
    """replace=True (the default config): market makers move quotes by cancel + new limit order, never modify;
    replace=False (ABIDES' parameters) uses one modify message per changed level."""
    od = day.orders()
    mm = od[od["agent_type"] == "market_maker"]
    assert set(mm["msg"]) == {"limit", "cancel"}
    cfg = tiny()
    sym = cfg.symbols[0]
    cfg = cfg.model_copy(update={"symbols": [sym.model_copy(update={
        "market_makers": sym.market_makers.model_copy(update={"replace": False})})]})
    sim = Simulation(cfg, seed=7)
    sim.run(progress=False)
    od2 = sim.orders()
    assert "modify" in set(od2.loc[od2["agent_type"] == "market_maker", "msg"])


def test_agents_send_true_market_orders(day):
    """market_order_share = 1 (the default config): noise agents and aggressive value agents send market
    orders, logged as ``market``, for at most the shares quoted at the opposite best; each one that executes is
    the taker of its trades. With share 0 (ABIDES) they send limit orders at the opposite best, never market."""
    od, tr = day.orders(), day.trades()
    for typ in ("noise", "value"):
        mine = od[od["agent_type"] == typ]
        assert (mine["msg"] == "market").sum() > 0
    noise = od[od["agent_type"] == "noise"]
    assert set(noise["msg"]) == {"market"} and noise["price"].isna().all() and (noise["size"] > 0).all()
    mkt = od[od["msg"] == "market"]
    filled = tr.groupby("taker_order_id")["size"].sum()
    assert filled.reindex(mkt["order_id"]).fillna(0).to_numpy().max() > 0
    assert (filled.reindex(mkt["order_id"]).fillna(0).to_numpy() <= mkt["size"].to_numpy()).all()
    cfg = tiny()
    sym = cfg.symbols[0]
    cfg = cfg.model_copy(update={"symbols": [sym.model_copy(update={
        "noise": sym.noise.model_copy(update={"market_order_share": 0.0}),
        "value": sym.value.model_copy(update={"market_order_share": 0.0})})]})
    sim = Simulation(cfg, seed=7)
    sim.run(progress=False)
    od0 = sim.orders()
    assert not (od0["msg"] == "market").any() and (od0.loc[od0["agent_type"] == "noise", "msg"] == "limit").all()


def test_market_makers_requote_when_a_side_empties():
    """An empty side of the book is a full imbalance: the market makers' alert fires and they re-quote, so a side
    emptied by market orders is refilled at once instead of at their next wake-up."""
    cfg = tiny(close="09:31:00")
    sym = cfg.symbols[0]
    cfg = cfg.model_copy(update={"symbols": [sym.model_copy(update={
        "noise": sym.noise.model_copy(update={"n": 0}), "value": sym.value.model_copy(update={"n": 0}),
        "momentum": sym.momentum.model_copy(update={"n": 0}),
        "market_makers": sym.market_makers.model_copy(update={"wake_s": 1e6, "requote_cooldown_s": 0.0})})]})
    sim = Simulation(cfg, seed=3, external=[("taker", 0)])
    taker = sim.agent("taker")
    r = sim.config.symbols[0].fundamental.r_bar
    sim.send_limit(taker, -1, r + 5, 50)  # seed a book so the market makers know a mid
    sim.send_limit(taker, 1, r - 5, 50)
    sim.run_until(sim.open_ns + 1_000_000_000)
    # the market makers' first wake-ups (within 1 s of the open) put their ladders up
    mm_before = (sim.orders()["agent_type"] == "market_maker").sum()
    assert mm_before > 0
    bid, _, ask, _ = sim.l1()
    depth = E.side_total(sim.ex.st, 0, 1, 0)
    sim.send_market(taker, 1, int(depth))  # take the whole ask side
    sim.run_until(sim.now + 100_000_000)
    od = sim.orders()
    assert (od["msg"] == "market").sum() == 1
    assert (od["agent_type"] == "market_maker").sum() > mm_before  # re-quoted without waking up
    assert sim.l1()[2] > 0  # the ask side is back


def test_rng_streams_independent_and_reproducible():
    a = R.seed_streams(5, np.array([0, 1, 2], np.int64))
    b = R.seed_streams(5, np.array([2], np.int64))
    assert R.uniform(a, 2) == R.uniform(b, 0)
    u = R.uniforms(a, 0, 20_000)
    assert 0 <= u.min() and u.max() < 1 and abs(u.mean() - 0.5) < 0.01


def test_config_validation_errors():
    with pytest.raises(Exception, match="extra"):
        MarketConfig.model_validate({"symbols": [{"name": "X", "bogus": 1}]})
    with pytest.raises(Exception, match="duplicate"):
        MarketConfig(symbols=[SymbolConfig(name="A"), SymbolConfig(name="A")])
    with pytest.raises(MultiexecError, match="unknown market config"):
        get_config("nope")
    for name in ("rmsc04", "rmsc03", "rmsc04-abides", "multi"):
        assert get_config(name).n_agents > 1000
    assert get_config("rmsc03").symbols[0].noise.n == 5000 and get_config("rmsc04").symbols[0].value.n == 102


def test_multi_symbol_market_runs_each_book():
    cfg = get_config("multi", close="09:40:00")
    syms = [s.model_copy(update={"noise": s.noise.model_copy(update={"n": 30}),
                                 "value": s.value.model_copy(update={"n": 8})}) for s in cfg.symbols]
    sim = Simulation(cfg.model_copy(update={"symbols": syms}), seed=2)
    sim.run(progress=False)
    tr = sim.trades()
    assert set(tr["symbol"]) == {"AAA", "BBB", "CCC"}
    for s, r_bar in (("AAA", 1000.0), ("BBB", 250.0), ("CCC", 50.0)):
        assert tr.loc[tr["symbol"] == s, "price"].median() == pytest.approx(r_bar, rel=0.05)
    assert set(sim.bars()["symbol"]) == {"AAA", "BBB", "CCC"}


def _acf1(sim):
    r = np.diff(np.log(sim.bars()["close"].to_numpy()))
    return np.corrcoef(r[:-1], r[1:])[0, 1]


@pytest.mark.slow
def test_default_config_fixes_abides_return_autocorrelation():
    """ABIDES' rmsc04 parameters give strongly positive lag-1 autocorrelation of 1-minute returns (ABIDES: +0.32);
    the tuned default is near zero like real markets (three full days each)."""
    acf = {}
    for name in ("rmsc04", "rmsc04-abides"):
        vals = []
        for seed in (1, 2, 3):
            sim = Simulation(get_config(name), seed=seed)
            sim.run_until(sim.close_ns)
            vals.append(_acf1(sim))
        acf[name] = float(np.mean(vals))
    assert acf["rmsc04-abides"] > 0.25
    assert abs(acf["rmsc04"]) < 0.1


def test_l2_subscription_delivers_at_its_frequency():
    sim = Simulation(tiny(close="09:40:00"), seed=3)
    got = []
    sim.subscribe(lambda t, l2: got.append((t, l2["bid_px"][0], l2["ask_px"][0], len(l2["bid_px"]))), freq_s=30, depth=3)
    sim.run(progress=False)
    times = [g[0] for g in got]
    assert times == [sim.open_ns + 30_000_000_000 * (i + 1) for i in range(len(times))] and len(times) == 20
    assert all(g[3] == 3 for g in got)
    snaps = sim.l2().set_index("time_ns")
    t, bid = got[5][0], got[5][1]
    assert snaps.loc[t, "bid_px_1"] == pytest.approx(bid * 0.01) or bid < 0
    with pytest.raises(MultiexecError):
        sim.subscribe(lambda t, l2: None, freq_s=0)


def test_borrowed_state_keeps_every_field_in_place(monkeypatch):
    """The numba kernels rebuild KState / ExState field by field with borrowed views (lob.kernel._borrowed,
    lob.engine.borrowed): with an identity 'borrow' every field must come back as the same array in the same place,
    so a field added, removed or reordered in the NamedTuple without updating those lists fails here."""
    sim = Simulation(tiny(), seed=7)
    monkeypatch.setattr(E, "borrow", lambda a: a)
    for state, rebuild in ((sim.ks, K._borrowed.py_func), (sim.ex.st, E.borrowed.py_func)):
        out = rebuild(state)
        assert type(out) is type(state) and len(out) == len(state)
        assert all(o is s for o, s in zip(out, state)), type(state).__name__
