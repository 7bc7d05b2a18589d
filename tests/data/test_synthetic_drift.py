"""The planted ``intraday_drift`` knob of the synthetic market (multiexec.data.synthetic, SyntheticConfig)."""

from __future__ import annotations

import numpy as np
import pytest

from multiexec.data.dataset import DataConfig, SyntheticConfig, load_dataset, validate_config
from multiexec.data.synthetic import generate
from multiexec.errors import MultiexecError

# Fingerprint of generate(None, n_assets=4, n_days=3, history_days=2, seed=7) from the code before the knob
# existed (commit 3ab8453): the default market must stay bit for bit (here: to 1e-12) what it was.
FINGERPRINT = {
    "sum_log_close": 20427.3465368607,
    "sum_log_open": 20427.455823150034,
    "sum_volume": 234058359.0,
    "sum_log_history_close": 34.96873414507426,
    "close_0_0_first3": [89.5183214338468, 89.65711719175377, 89.59170373975415],
    "close_last": 23.387124298693653,
}


def _fingerprint(bars, hist) -> dict:
    return {
        "sum_log_close": float(np.log(bars.close).sum()),
        "sum_log_open": float(np.log(bars.open).sum()),
        "sum_volume": float(bars.volume.sum()),
        "sum_log_history_close": float(np.log(hist.close).sum()),
        "close_0_0_first3": bars.close[0, 0, :3].tolist(),
        "close_last": float(bars.close[-1, -1, -1]),
    }


def test_default_market_is_unchanged():
    assert SyntheticConfig().intraday_drift == 0.0
    for kwargs in ({}, {"intraday_drift": 0.0}):
        got = _fingerprint(*generate(None, 4, 3, 2, 7, **kwargs))
        for k, v in FINGERPRINT.items():
            assert np.allclose(got[k], v, rtol=1e-12, atol=0), (kwargs, k, got[k], v)


def test_drift_is_planted_exactly_and_only_inside_the_day():
    bars0, hist0 = generate(None, 5, 4, 3, 11)
    bars, hist = generate(None, 5, 4, 3, 11, intraday_drift=40.0)
    M = bars.n_minutes
    # the shift of the log close of minute m is 40 bp * (m + 1) / M minus the 40 bp taken back overnight
    shift = np.log(bars.close) - np.log(bars0.close)
    want = 40e-4 * (np.arange(1, M + 1) / M - 1.0)
    np.testing.assert_allclose(shift, np.broadcast_to(want, shift.shape), atol=1e-12)
    # open to close of every asset and day: exactly 40 bp more than without the drift
    oc = np.log(bars.close[:, :, -1] / bars.open[:, :, 0]) - np.log(bars0.close[:, :, -1] / bars0.open[:, :, 0])
    np.testing.assert_allclose(oc, 40e-4, atol=1e-12)
    # closes (hence close-to-close returns and the ranking history) and volumes unchanged
    np.testing.assert_allclose(bars.close[:, :, -1], bars0.close[:, :, -1], rtol=1e-12)
    np.testing.assert_allclose(hist.close, hist0.close, rtol=1e-12)
    assert np.array_equal(bars.volume, bars0.volume)
    # a negative drift is the mirror image
    barsn, _ = generate(None, 5, 4, 3, 11, intraday_drift=-40.0)
    np.testing.assert_allclose(np.log(barsn.close) - np.log(bars0.close), -shift, atol=1e-12)


def test_data_config_passes_the_drift_to_the_market():
    base = {"source": "synthetic", "cache": False, "synthetic": {"n_assets": 12, "n_days": 10, "history_days": 10},
            "splits": {"valid_days": 2, "test_days": 2}}
    ds0 = load_dataset(DataConfig(**base))
    cfg = validate_config({**base, "synthetic": {**base["synthetic"], "intraday_drift": 25}})
    assert cfg.synthetic.intraday_drift == 25.0
    ds = load_dataset(cfg)
    oc = (np.log(ds.bars.close[:, :, -1] / ds.bars.open[:, :, 0])
          - np.log(ds0.bars.close[:, :, -1] / ds0.bars.open[:, :, 0]))
    np.testing.assert_allclose(oc, 25e-4, atol=1e-12)
    # same orders: the drift does not touch the daily closes they are ranked on
    assert [(o.date, list(o.symbols), list(o.side)) for o in ds.orders] == \
           [(o.date, list(o.symbols), list(o.side)) for o in ds0.orders]


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "fast", 1e5])
def test_bad_drift_is_a_clear_error(bad):
    with pytest.raises(MultiexecError, match="intraday_drift"):
        validate_config({"source": "synthetic", "synthetic": {"intraday_drift": bad}})
    with pytest.raises(MultiexecError, match="intraday_drift"):
        generate(None, 3, 2, 0, 0, intraday_drift=bad)
