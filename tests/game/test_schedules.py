"""One TWAP and one Almgren–Chriss in the code (multiexec.policies.schedules), used by the rules and the game with
the numbers they had before."""

import numpy as np
import pytest

from multiexec.errors import MultiexecError
from multiexec.execution.env import ExecConfig, step_edges
from multiexec.game import theory
from multiexec.game.params import GameParams
from multiexec.policies import rules, schedules
from multiexec.testing import make_bars


def test_twap_schedule():
    assert np.array_equal(schedules.twap(100.0, 4), np.full(4, 25.0))
    assert np.array_equal(schedules.twap(3.0, np.array([30.0, 30.0, 15.0])), np.array([1.2, 1.2, 0.6]))
    for bad in (0, [], [1.0, -1.0], [0.0, 0.0], [np.nan]):
        with pytest.raises(MultiexecError, match="twap"):
            schedules.twap(1.0, bad)


@pytest.mark.parametrize("p", [GameParams(), GameParams(N=7, q0=13), GameParams(N=5, T=5, q0=20, n_agents=1)])
def test_game_twap_is_the_schedule_bit_for_bit(p):
    assert np.array_equal(theory.twap(p), np.full(p.N, p.q0 / p.N))  # the numbers of the former implementation


@pytest.mark.parametrize("minutes, step", [(390, 30), (390, 7), (30, 10), (60, 18), (391, 25)])
def test_rule_twap_weights_bit_for_bit(minutes, step):
    bars = make_bars(np.ones((2, 3, minutes)))
    cfg = ExecConfig(step_minutes=step)
    lengths = np.diff(step_edges(minutes, step)).astype(np.float64)
    old = np.tile(lengths, (3, 1))  # the former rule: the step lengths as weights
    old = np.stack([old, old])
    assert np.array_equal(rules.twap(bars, cfg).weights, old / old.sum(axis=2, keepdims=True))


def test_ac_gives_twap_without_risk_aversion():
    assert np.array_equal(schedules.ac_trajectory(100, 10, 1.0, 0.002, 0.001, 0.0, 0.01), schedules.twap(100, 10))
