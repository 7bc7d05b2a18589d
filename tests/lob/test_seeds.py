"""Realism over seeds: per-day facts, the median/range summary and the count of minute facts in the real range."""

import numpy as np
import pandas as pd
import pytest

from multiexec.errors import MultiexecError
from multiexec.lob import seeds as S
from multiexec.lob.config import MarketConfig, get_config
from multiexec.lob.realism import REAL_COLUMNS, RealFacts


def tiny() -> MarketConfig:
    base = get_config("rmsc04").symbols[0]
    sym = base.model_copy(update={"noise": base.noise.model_copy(update={"n": 40}),
                                  "value": base.value.model_copy(update={"n": 10}),
                                  "momentum": base.momentum.model_copy(update={"n": 0})})
    return MarketConfig(name="tiny", close="09:45:00", symbols=[sym])


def fake_real() -> RealFacts:
    rows = [("minute bars", "minute_return", "acf_1", "autocorrelation lag 1", 0.0, -1.0, 1.0),
            ("minute bars", "minute_return", "std", "log-return std", 1e-3, 1.0, 2.0),  # no day inside
            ("book", "spread_bps", "p50", "bp of mid", 3.0, np.nan, np.nan)]
    t = pd.DataFrame([(*r, 100, "test") for r in rows], columns=REAL_COLUMNS)
    return RealFacts(table=t, minute=None, book={}, notes=[])


def test_realism_over_seeds_summarises_days(monkeypatch):
    monkeypatch.setattr(S, "real_facts", lambda *a, **k: fake_real())
    summary, per_day = S.realism_over_seeds([tiny()], seeds=[1, 2])
    assert set(per_day["seed"]) == {1, 2}
    acf = summary[(summary["fact"] == "minute_return") & (summary["stat"] == "acf_1")].iloc[0]
    vals = per_day[(per_day["fact"] == "minute_return") & (per_day["stat"] == "acf_1")]["value"]
    assert acf["median"] == pytest.approx(vals.median()) and acf["min"] == vals.min() and acf["max"] == vals.max()
    assert acf["days_inside"] == 2 and acf["days"] == 2
    std = summary[(summary["fact"] == "minute_return") & (summary["stat"] == "std")].iloc[0]
    assert std["days_inside"] == 0
    spread = summary[summary["fact"] == "spread_bps"].iloc[0]
    assert np.isnan(spread["days_inside"]) and spread["real"] == 3.0
    count = summary[summary["fact"] == "minute_facts_in_real_range"].iloc[0]
    assert count["stat"] == "of 2" and count["median"] == 1 and count["max"] == 1
    again = S.day_facts(tiny(), 1)
    day1 = per_day[per_day["seed"] == 1].reset_index(drop=True)
    assert np.allclose(again["value"].to_numpy(float), day1["value"].to_numpy(float), equal_nan=True)


def test_realism_over_seeds_needs_configs_and_seeds():
    with pytest.raises(MultiexecError, match="at least one"):
        S.realism_over_seeds([], seeds=[1])
    with pytest.raises(MultiexecError, match="at least one"):
        S.realism_over_seeds([tiny()], seeds=[])
