"""Distances between feedback samples, on known distributions (issue 11)."""

import numpy as np
import pytest
from scipy import stats

from multiexec.errors import MultiexecError
from multiexec.intags.distances import (DISTANCES, distance_name, emd, energy_distance, energy_paper, get_distance,
                                        median_bandwidth, mmd2_unbiased)


def test_mmd_is_about_zero_for_one_distribution_can_be_negative_and_grows_with_the_shift():
    rng = np.random.default_rng(0)
    same = np.array([mmd2_unbiased(rng.standard_normal(30), rng.standard_normal(30)) for _ in range(300)])
    assert abs(same.mean()) < 3 * same.std() / np.sqrt(len(same))   # unbiased: mean 0 under the null
    assert (same < 0).mean() > 0.3                                      # ... hence often negative
    x = rng.standard_normal(300)
    z = rng.standard_normal(300)
    vals = [mmd2_unbiased(x, z + d) for d in (0.0, 0.5, 1.0, 2.0)]
    assert vals[0] < 0.02 and all(a < b for a, b in zip(vals, vals[1:]))
    # a change of spread only is seen too, and several dimensions work
    assert mmd2_unbiased(x, 3 * z) > 10 * abs(vals[0])
    xy = rng.standard_normal((100, 2))
    assert mmd2_unbiased(xy, xy + [1.0, 0.0]) > mmd2_unbiased(xy, rng.standard_normal((100, 2)))


def test_mmd_matches_the_u_statistic_by_hand_with_the_median_bandwidth():
    x = np.array([0.0, 1.0, 3.0])
    y = np.array([0.5, 2.0])
    z = np.concatenate([x, y])
    d = np.abs(z[:, None] - z[None, :])[np.triu_indices(5, 1)]
    s = np.median(d)
    assert median_bandwidth(x, y) == pytest.approx(s)
    k = lambda a, b: np.exp(-(a - b) ** 2 / (2 * s * s))  # noqa: E731
    kxx = sum(k(a, b) for i, a in enumerate(x) for j, b in enumerate(x) if i != j) / 6
    kyy = sum(k(a, b) for i, a in enumerate(y) for j, b in enumerate(y) if i != j) / 2
    kxy = sum(k(a, b) for a in x for b in y) / 6
    assert mmd2_unbiased(x, y) == pytest.approx(kxx + kyy - 2 * kxy)


def test_energy_distance_correct_form():
    rng = np.random.default_rng(1)
    x, z = rng.standard_normal(400), rng.standard_normal(400)
    same = energy_distance(x, z)
    shifted = energy_distance(x, z + 1.0)
    spread = energy_distance(x, 3 * z)
    assert abs(same) < 0.02 and shifted > 0.3 and spread > 0.3
    # scipy's energy_distance is the square root of the V-statistic form of 2E|X-Y| - E|X-X'| - E|Y-Y'|
    assert shifted == pytest.approx(stats.energy_distance(x, z + 1.0) ** 2, rel=0.05)


def test_paper_energy_is_minus_twice_the_mean_gap_blind_to_spread_and_not_a_metric():
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal(40), 2 + 0.5 * rng.standard_normal(25)
    closed = 2 * x.var(ddof=1) / 40 + 2 * y.var(ddof=1) / 25 - 2 * (x.mean() - y.mean()) ** 2
    assert energy_paper(x, y) == pytest.approx(closed)
    a, b = rng.standard_normal(500), rng.standard_normal(500)
    same = energy_paper(a, b)
    wide = energy_paper(a, 5 * b)            # N(0, 1) vs N(0, 25): very different distributions
    shifted = energy_paper(a, b + 1.0)
    assert abs(wide) < 0.3                   # ... yet about 0: it only sees the means
    assert shifted < -1.5 < same             # a mean gap makes it negative: "different" looks closer than "same"
    assert energy_distance(a, 5 * b) > 1.0   # the correct form sees the spread


def test_emd_is_scipy_wasserstein_and_a_shift_moves_it_by_the_shift():
    rng = np.random.default_rng(3)
    x = rng.standard_normal(50)
    assert emd(x, x + 0.7) == pytest.approx(0.7)
    y = rng.exponential(size=30)
    assert emd(x, y) == pytest.approx(stats.wasserstein_distance(x, y))


def test_names_and_bad_input():
    assert set(DISTANCES) == {"mmd", "energy", "emd", "energy-paper"}
    assert distance_name("MMD") == "mmd" and distance_name("ED") == "energy"
    with pytest.raises(MultiexecError, match="unknown distance"):
        get_distance("kl")
    with pytest.raises(MultiexecError, match="N >= 2"):
        mmd2_unbiased([1.0], [1.0, 2.0])
    with pytest.raises(MultiexecError, match="1-D feedback only"):
        emd(np.zeros((3, 2)), np.ones((3, 2)))
    with pytest.raises(MultiexecError, match="NaN"):
        energy_distance([1.0, np.nan], [1.0, 2.0])
    with pytest.raises(MultiexecError, match="different dimension"):
        mmd2_unbiased(np.zeros((3, 2)), np.zeros((3, 1)))
