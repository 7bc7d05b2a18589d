"""Check figures of the note (paper's parameters, zero volatility), analytically and by simulation."""

import numpy as np
import pytest
import torch

from multiexec.errors import MultiexecError
from multiexec.game.market import simulate_schedules
from multiexec.game.params import GameParams, make_params
from multiexec.game.theory import discrete_nash, expected_is, pareto_front, sz_nash, sz_nash_two, twap
from multiexec.policies.schedules import ac_trajectory

P0 = GameParams(sigma=0.0, coin_toss=False)
P1 = GameParams(sigma=0.0, coin_toss=True)


def both(v):
    return np.stack([v, v])


@pytest.mark.parametrize("p, twap_is, sz_is", [(P0, 11.000, 11.219), (P1, 11.500, 11.828)])
def test_check_figures_closed_form_and_simulated(p, twap_is, sz_is):
    for sched, target in ((both(twap(p)), twap_is), (both(sz_nash(p)), sz_is)):
        assert expected_is(sched, p) == pytest.approx([target, target], abs=5e-4)
        # sigma = 0: no coin toss -> exact; coin toss -> mean over episodes converges to the expectation
        sim = simulate_schedules(torch.tensor(sched), p, 4000, seed=1).mean(0).numpy()
        assert sim == pytest.approx([target, target], abs=0.01 if p.coin_toss else 5e-4)
        if not p.coin_toss:  # deterministic at sigma = 0: simulation equals the closed form exactly
            assert sim == pytest.approx(expected_is(sched, p), abs=1e-9)


def test_sz_nash_trades_match_note():
    note = [18.93, 16.02, 13.56, 11.48, 9.72, 8.23, 6.96, 5.89, 4.99, 4.22]
    assert sz_nash(P0) == pytest.approx(note, abs=0.006)
    X = sz_nash_two(P0)
    assert -np.diff(X[0]) == pytest.approx(note, abs=0.006)
    assert X[:, 0] == pytest.approx([100, 100]) and X[:, -1] == pytest.approx([0, 0], abs=1e-9)


def test_sz_two_unequal_and_risk_averse():
    X = sz_nash_two(P0, 150, 50, lam=1.0, sigma=0.05)
    assert X[:, 0] == pytest.approx([150, 50]) and X[:, -1] == pytest.approx([0, 0], abs=1e-9)
    # with equal inventories the n-player formula and the two-player formula agree, also with risk aversion
    n2 = -np.diff(sz_nash_two(P0, lam=2.0, sigma=0.05)[0])
    assert sz_nash(P0, lam=2.0, sigma=0.05) == pytest.approx(n2)
    # risk aversion front-loads
    assert n2[0] > sz_nash(P0)[0]


@pytest.mark.parametrize("p, target, first", [(P0, 12.07, 33.9), (P1, 12.68, 29.6)])
def test_exact_discrete_nash(p, target, first):
    ne = discrete_nash(p)
    assert ne.sum(1) == pytest.approx([100, 100])
    assert ne[0, 0] == pytest.approx(first, abs=0.05)
    assert expected_is(ne, p) == pytest.approx([target, target], abs=0.005)
    # no profitable unilateral deviation: perturb agent 1 along zero-sum directions
    rng = np.random.default_rng(0)
    base = expected_is(ne, p)[0]
    for _ in range(20):
        d = rng.normal(size=p.N)
        d -= d.mean()
        dev = ne.copy()
        dev[0] += 0.5 * d
        assert expected_is(dev, p)[0] >= base - 1e-9
    sim = simulate_schedules(torch.tensor(ne), p, 4000, seed=2).mean(0).numpy()
    assert sim == pytest.approx([target, target], abs=0.02)


def test_n_player_nash_and_discrete():
    p = GameParams(n_agents=3, sigma=0.0, coin_toss=True)
    v = sz_nash(p)
    assert v.sum() == pytest.approx(100)
    assert v[0] > sz_nash(P0)[0]  # more competitors -> faster
    ne = discrete_nash(p)
    assert ne.shape == (3, 10) and np.allclose(ne[0], ne[2])


def test_twap_is_pareto_optimal_and_front():
    # sum of expected IS is minimal at TWAP (Theorem 2): random admissible perturbations never improve it
    rng = np.random.default_rng(0)
    tw = both(twap(P0))
    for _ in range(20):
        d = rng.normal(size=(2, 10))
        d -= d.mean(1, keepdims=True)
        assert expected_is(tw + d, P0).sum() >= expected_is(tw, P0).sum() - 1e-9
    F, S = pareto_front(P0, pop_size=40, n_gen=40, seed=0)
    assert F.shape[1] == 2 and np.all(np.diff(F[:, 0]) >= 0)
    assert S.sum(-1) == pytest.approx(np.full(S.shape[:2], 100.0))
    assert (F.sum(1) >= 22.0 - 1e-6).all()  # nothing beats TWAP's total
    assert F[:, 0].min() < 8.0  # reaches towards the (6.67, 21.9) end


def test_ac_trajectory():
    assert ac_trajectory(100, 10, 1.0, 0.002, 0.001, 0.0, 0.01) == pytest.approx(np.full(10, 10.0))
    n = ac_trajectory(100, 10, 1.0, 0.002, 0.001, 1e-2, 0.3)
    assert n.sum() == pytest.approx(100) and np.all(np.diff(n) < 0)
    with pytest.raises(MultiexecError, match="eta"):
        ac_trajectory(100, 10, 1.0, 0.0001, 0.001, 1.0, 0.1)


def test_bad_params():
    with pytest.raises(MultiexecError, match="alpha"):
        make_params(alpha=-1)
    with pytest.raises(MultiexecError, match="bogus"):
        make_params(bogus=1)
