"""Execution agents (POV, INTAGS) and the Gymnasium execution environment."""

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from multiexec.errors import MultiexecError
from multiexec.lob.env import ExecutionEnv
from multiexec.lob.execution import IntagsAgent, POVAgent, run_execution
from multiexec.lob.sim import Simulation

from .test_sim import tiny

MIN = 60_000_000_000


def test_pov_and_intags_execute_their_parent_orders():
    cfg = tiny(close="10:00:00")
    sim = Simulation(cfg, seed=4, external=[("pov", 0), ("intags", 0)])
    o = sim.open_ns
    pov = POVAgent("pov", side=-1, quantity=10_000, start_ns=o + 2 * MIN, end_ns=o + 25 * MIN, freq_s=60, pov=0.05)
    exp = IntagsAgent("intags", side=1, quantity=50, start_ns=o + 5 * MIN, end_ns=o + 15 * MIN, freq_s=60, seed=1)
    run_execution(sim, [pov, exp])
    assert 0 < pov.executed(sim) < 10_000
    vol = sim.trades()
    others = vol[(vol["buyer_agent"] != pov.agent_id) & (vol["seller_agent"] != pov.agent_id)]
    assert pov.executed(sim) <= 0.2 * others["size"].sum()
    assert exp.executed(sim) == 50
    assert len(exp.log) >= 5 and {r["action"] for r in exp.log} <= {0, 1}
    assert all(0.05 <= r["propensity"] <= 0.95 for r in exp.log)
    assert np.isfinite(exp.log[0]["mid_after"])


@pytest.fixture(scope="module")
def env():
    return ExecutionEnv(tiny(close="10:30:00"), parent_order_size=100, step_s=60, execution_window_s=600)


def test_env_passes_gymnasium_checker(env):
    check_env(env, skip_render_check=True)


def test_env_semantics_market_orders_fill_and_reward(env):
    obs, info = env.reset(seed=0)
    assert obs.shape == env.observation_space.shape and obs[0] == 0 and obs[1] == 0
    total, steps = 0.0, 0
    done = False
    while not done:
        obs, r, done, trunc, info = env.step(0)
        total += r
        steps += 1
    assert info["holdings"] == 100 and steps == 10  # 10 x 10 shares
    assert not trunc and np.isfinite(total)
    obs, _ = env.reset(seed=0)
    _, r, done, _, info = env.step(2)
    assert info["holdings"] == 0 and r == 0.0
    for _ in range(9):
        _, r, done, _, info = env.step(2)
    assert done and r == pytest.approx(-1000.0)  # the whole parent order is short


def test_env_same_seed_same_episode(env):
    def roll():
        o, _ = env.reset(seed=5)
        out = [o]
        for a in (0, 1, 2, 1, 0):
            out.append(env.step(a)[0])
        return np.array(out)

    np.testing.assert_array_equal(roll(), roll())


def test_env_bad_arguments():
    with pytest.raises(MultiexecError):
        ExecutionEnv(tiny(), direction="UP")
    e = ExecutionEnv(tiny(close="10:30:00"))
    with pytest.raises(MultiexecError):
        e.step(0)
