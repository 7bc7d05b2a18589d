"""Causal-effect estimators on synthetic data with a known effect (issue 11)."""

import numpy as np
import pytest

from multiexec.errors import MultiexecError
from multiexec.intags.estimators import (ESTIMATORS, get_estimator, hajek, horvitz_thompson, naive_difference,
                                         paper_ipw, paper_naive)

TAU = 1.5  # the true effect of a market order on the outcome


def confounded(rng, n, strength=1.5, beta=2.0):
    """State x drives both the treatment (propensity sigmoid(strength x)) and the outcome (beta x)."""
    x = rng.standard_normal(n)
    e = np.clip(1 / (1 + np.exp(-strength * x)), 0.05, 0.95)
    t = rng.random(n) < e
    y = TAU * t + beta * x + rng.standard_normal(n)
    return y, t, e


def replicate(fn, reps=400, n=300, seed=0, **kw):
    rng = np.random.default_rng(seed)
    out = np.array([fn(*confounded(rng, n, **kw)) for _ in range(reps)])
    return out


def test_ipw_estimators_are_unbiased_and_naive_is_biased_under_confounding():
    ht = replicate(horvitz_thompson)
    hj = replicate(hajek)
    nv = replicate(naive_difference)
    se_ht = ht.std() / np.sqrt(len(ht))
    assert abs(ht.mean() - TAU) < 4 * se_ht
    assert abs(hj.mean() - TAU) < 4 * hj.std() / np.sqrt(len(hj))  # consistent; small-sample bias below the noise
    assert nv.mean() > TAU + 1.0                  # confounding: treated steps have larger x, hence larger y
    assert abs(nv.mean() - TAU) > 20 * nv.std() / np.sqrt(len(nv))


def test_hajek_is_shift_invariant_where_horvitz_thompson_is_not():
    rng = np.random.default_rng(1)
    y, t, e = confounded(rng, 300)
    assert hajek(y + 100.0, t, e) == pytest.approx(hajek(y, t, e))
    assert abs(horvitz_thompson(y + 100.0, t, e) - horvitz_thompson(y, t, e)) > 1.0  # HT's variance grows with |E y|


def test_without_confounding_naive_is_unbiased_too():
    nv = replicate(naive_difference, strength=0.0)
    assert abs(nv.mean() - TAU) < 4 * nv.std() / np.sqrt(len(nv))


def test_paper_forms_target_the_treated_mean_and_the_printed_ipw_is_scaled():
    # E[Y(1)] = TAU (x has mean 0). The printed IPW divides by #treated and by e: about E[Y(1)] / P(treated).
    rng = np.random.default_rng(3)
    vals, shares, naive = [], [], []
    for _ in range(400):
        y, t, e = confounded(rng, 300)
        vals.append(paper_ipw(y, t, e))
        shares.append(t.mean())
        naive.append(paper_naive(y, t))
    vals = np.array(vals)
    assert abs(vals.mean() - TAU / np.mean(shares)) < 0.1 * TAU / np.mean(shares)
    assert vals.mean() > 1.6 * TAU                # not TAU: biased as printed
    assert np.mean(naive) > TAU + 1.0             # selection bias of the treated mean


def test_estimators_match_hand_computation_and_return_nan_when_undefined():
    y = np.array([1.0, 3.0, 2.0, 6.0])
    t = np.array([1, 0, 1, 0], bool)
    e = np.array([0.5, 0.25, 0.8, 0.5])
    assert naive_difference(y, t) == pytest.approx(1.5 - 4.5)
    assert horvitz_thompson(y, t, e) == pytest.approx((1 / 0.5 - 3 / 0.75 + 2 / 0.8 - 6 / 0.5) / 4)
    w1 = np.array([2, 1.25])
    w0 = np.array([1 / 0.75, 2])
    assert hajek(y, t, e) == pytest.approx((w1 @ [1, 2]) / w1.sum() - (w0 @ [3, 6]) / w0.sum())
    assert paper_ipw(y, t, e) == pytest.approx((1 / 0.5 + 2 / 0.8) / 2)
    assert paper_ipw(y, t, e, ps_clip=(0.6, 0.9)) == pytest.approx((1 / 0.6 + 2 / 0.8) / 2)
    all_t = np.ones(4, bool)
    for name in ("hajek", "naive"):
        assert np.isnan(get_estimator(name)(y, all_t, e))
    assert np.isnan(paper_ipw(y, ~all_t, e)) and np.isnan(paper_naive(y, ~all_t))
    assert set(ESTIMATORS) == {"hajek", "ht", "naive", "paper-ipw", "paper-naive"}


def test_bad_input_is_one_clear_error():
    with pytest.raises(MultiexecError, match="unknown estimator"):
        get_estimator("doubly-robust")
    with pytest.raises(MultiexecError, match="strictly between 0 and 1"):
        hajek([1.0, 2.0], [True, False], [1.0, 0.5])
    with pytest.raises(MultiexecError, match="one length"):
        hajek([1.0, 2.0], [True], [0.5, 0.5])
