"""Feedback from the experimental agent's log, and its propensity on the real populations (issue 11)."""

import math

import numpy as np
import pytest

from multiexec.errors import MultiexecError
from multiexec.intags.estimators import hajek, paper_ipw
from multiexec.intags.feedback import FEEDBACKS, feedback, feedback_name, feedback_sample, feedback_table, outcome
from multiexec.intags.rollouts import COLUMNS, AgentSpec, RolloutLog, run_rollouts


def synthetic_log(seed=0, n=6):
    rng = np.random.default_rng(seed)
    rows = {c: np.zeros(n) for c in COLUMNS}
    rows["mid"] = 100_000 + rng.integers(-50, 50, n).astype(float)
    rows["mid_after"] = rows["mid"] + rng.integers(-20, 20, n)
    rows["action"] = np.array([0, 1, 0, 1, 0, 1], float)[:n]
    rows["propensity"] = rng.uniform(0.2, 0.8, n)
    rows["reward"] = rng.normal(size=n)
    rows["spread_after"] = rng.integers(1, 30, n).astype(float)
    rows["price_impact_after"] = rng.normal(0, 1e-4, n)
    return RolloutLog(seed=seed, rows=rows, episode_reward=-3.5, executed=50, entry_mid=100_000.0, n_events=0)


def test_feedback_values_from_a_known_log():
    log = synthetic_log()
    r = log.rows
    t = r["action"] == 0
    ret = 1e4 * np.log(r["mid_after"] / r["mid"])
    assert feedback(log, "Mkt2NextReturn") == pytest.approx(hajek(ret, t, r["propensity"]))
    assert feedback(log, "Mkt2NextReturn", "paper-ipw") == pytest.approx(paper_ipw(ret, t, r["propensity"]))
    assert feedback(log, "Mkt2NextReturn", side=-1) == pytest.approx(-feedback(log, "Mkt2NextReturn"))
    assert feedback(log, "Mkt2Reward", "naive") == pytest.approx(r["reward"][t].mean() - r["reward"][~t].mean())
    assert feedback(log, "Mkt2NextSpread", "naive") == pytest.approx(r["spread_after"][t].mean()
                                                                       - r["spread_after"][~t].mean())
    assert np.allclose(outcome(r, "Mkt2NextPriceImpact"), 1e4 * r["price_impact_after"])
    assert feedback(log, "EpisodeReward") == -3.5
    # a rollout without a limit-order step has no difference estimate: NaN, dropped from the sample
    only_mkt = synthetic_log(1)
    only_mkt.rows["action"][:] = 0
    assert math.isnan(feedback(only_mkt, "Mkt2NextReturn"))
    assert len(feedback_sample([log, only_mkt], "Mkt2NextReturn")) == 1
    assert len(feedback_sample([log, only_mkt], "Mkt2NextReturn", keep_nan=True)) == 2
    tab = feedback_table([log, only_mkt])
    assert list(tab.columns) == ["seed", *FEEDBACKS] and tab["EpisodeReward"].tolist() == [-3.5, -3.5]


def test_feedback_names():
    assert feedback_name("mkt2nextreturn") == "Mkt2NextReturn"
    assert feedback_name("Mkt2NextImbalances(5)") == "Mkt2NextImbalance5"
    assert feedback_name("Mkt2NextImbalances(All)") == "Mkt2NextImbalanceAll"
    with pytest.raises(MultiexecError, match="unknown feedback"):
        feedback_name("Mkt2NextVolume")


@pytest.mark.parametrize("market", ["rmsc03", "rmsc04"])
def test_both_treatments_occur_with_propensity_inside_the_clip(market):
    agent = AgentSpec()
    logs = run_rollouts(market, range(12), agent, runner="serial", progress=False)
    e = np.concatenate([lg.rows["propensity"] for lg in logs])
    a = np.concatenate([lg.rows["action"] for lg in logs])
    assert ((e > agent.clip[0]) & (e < agent.clip[1])).mean() > 0.9
    assert 0.2 < (a == 0).mean() < 0.8 and set(np.unique(a)) == {0.0, 1.0}
    both = np.mean([(lg.rows["action"] == 0).any() and (lg.rows["action"] == 1).any() for lg in logs])
    assert both > 0.75
    assert all(5 <= lg.n <= agent.n_steps for lg in logs)        # 10 decisions, 5 child orders at least (paper: T ~ 5)
    assert all(np.isfinite(lg.rows["mid_after"]).all() for lg in logs)
    if market == "rmsc04":
        # the former propensity (spread in ticks): logit -0.5 + 2 (imb5 - 0.5) + 0.3 spread sits at the 0.95 clip
        spread = np.concatenate([lg.rows["spread"] for lg in logs])
        imb = np.concatenate([lg.rows["imbalance_5"] for lg in logs])
        old = 1 / (1 + np.exp(-(-0.5 + 2 * (imb - 0.5) + 0.3 * spread)))
        assert (old >= 0.95).mean() > 0.8


def test_step_rewards_are_the_slippage_of_the_agents_fills_against_the_entry_mid():
    from multiexec.lob.config import get_config
    from multiexec.lob.execution import IntagsAgent, run_execution
    from multiexec.lob.sim import Simulation

    cfg = get_config("rmsc04")
    for seed in (3, 4):
        sim = Simulation(cfg, seed=seed, external=[("x", 0)])
        start = sim.open_ns + 30 * 10**9
        ag = IntagsAgent("x", side=1, quantity=50, start_ns=start, end_ns=start + 600 * 10**9, freq_s=60, seed=seed)
        run_execution(sim, [ag], until_ns=ag.end_ns)
        tr = sim.trades()
        mine = tr[(tr["buyer_agent"] == ag.agent_id) | (tr["seller_agent"] == ag.agent_id)]
        px = mine["price"].to_numpy() / cfg.tick_dollars
        slippage = float(((ag.entry_mid - px) * mine["size"].to_numpy()).sum()) / 50
        assert sum(r["reward"] for r in ag.log) == pytest.approx(slippage)
        assert ag.executed(sim) == mine["size"].sum() == ag.log[-1]["executed_after"]
        assert ag.episode_reward(sim) == pytest.approx(slippage + (50 - ag.executed(sim)) * -1000 / 50)
        assert ag.log[0]["price_impact"] == 0.0 and all(np.isfinite(r["mid_after"]) for r in ag.log)
