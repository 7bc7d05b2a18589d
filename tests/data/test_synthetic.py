"""The synthetic market: determinism, shape, stylised facts, fit, comparison table."""

from __future__ import annotations

import numpy as np
import pytest

from multiexec.data.synthetic import compare_stats, default_params, fit_params, generate, market_stats


@pytest.fixture(scope="module")
def market():
    return generate(n_assets=12, n_days=20, history_days=8, seed=3)


def test_same_seed_same_market_other_seed_differs(market):
    bars, hist = market
    again, hist2 = generate(n_assets=12, n_days=20, history_days=8, seed=3)
    for f in ("open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(getattr(bars, f), getattr(again, f))
    np.testing.assert_array_equal(hist.close, hist2.close)
    other, _ = generate(n_assets=12, n_days=20, history_days=8, seed=4)
    assert not np.allclose(other.close, bars.close)


def test_shape_grid_and_history(market):
    bars, hist = market
    assert bars.close.shape == (20, 12, 390) and bars.minutes[0] == 570 and bars.minutes[-1] == 959
    assert hist.n_days == 8 and hist.dates[-1] < bars.dates[0]
    assert all(np.is_busday(bars.dates)) and bars.traded.all()
    assert (bars.high >= np.maximum(bars.open, bars.close)).all()
    assert (bars.low <= np.minimum(bars.open, bars.close)).all()
    # minute opens continue the previous close inside a day; daily history closes continue into the bars
    np.testing.assert_allclose(bars.open[:, :, 1:], bars.close[:, :, :-1])


def test_stylised_facts(market):
    s = market_stats(market[0])
    assert s["volume_open_midday"] > 1.5 and s["volume_close_midday"] > 1.5  # U-shaped volume
    assert s["minute_excess_kurtosis"] > 1.0  # heavy tails
    assert s["abs_ret_acf_1_10"] > 0.03  # volatility clustering
    assert 0.2 < s["corr_30min"] < 0.7  # cross-asset correlation
    assert abs(s["minute_ret_acf1"]) < 0.15  # no strong linear predictability


def test_defaults_record_their_provenance():
    p = default_params()
    assert "multiexec data fit" in p.provenance["command"]
    assert p.provenance["source"] == "us_minute_2018" and p.provenance["n_assets"] == 60
    assert len(p.volume_profile) == len(p.vol_profile) == 390
    assert abs(sum(p.volume_profile) - 1) < 1e-9


def test_fit_recovers_parameters_of_a_synthetic_market():
    truth = default_params().model_copy(update={"factor_corr": 0.3, "ma1": 0.0})
    bars, _ = generate(truth, n_assets=10, n_days=25, history_days=0, seed=1)
    est = fit_params(bars)
    assert est.factor_corr == pytest.approx(0.3, abs=0.08)
    assert abs(est.ma1) < 0.03
    assert np.corrcoef(est.volume_profile, truth.volume_profile)[0, 1] > 0.9
    assert np.corrcoef(est.vol_profile, truth.vol_profile)[0, 1] > 0.8
    assert est.garch_alpha + est.garch_beta < 1


def test_compare_table(market):
    df = compare_stats(market[0], market[0])
    assert list(df.columns) == ["statistic", "real", "synthetic"]
    np.testing.assert_allclose(df.real, df.synthetic)
