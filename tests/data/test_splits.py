"""Train / valid / test splits and rolling windows."""

from __future__ import annotations

import numpy as np
import pytest

from multiexec.data.splits import RollingWindows, SplitConfig, make_splits
from multiexec.errors import MultiexecError

DATES = np.busday_offset(np.datetime64("2020-01-02"), np.arange(44), roll="forward")


def test_last_days_default():
    s = make_splits(DATES)
    assert (len(s["train"]), len(s["valid"]), len(s["test"])) == (24, 10, 10)
    assert s["test"][-1] == 43 and s["valid"][-1] + 1 == s["test"][0] and s["train"][-1] + 1 == s["valid"][0]


def test_fractions():
    s = make_splits(DATES, SplitConfig(method="fractions", fractions=(0.5, 0.25, 0.25)))
    assert (len(s["train"]), len(s["valid"]), len(s["test"])) == (22, 11, 11)
    with pytest.raises(MultiexecError, match="sum to 1"):
        make_splits(DATES, SplitConfig(method="fractions", fractions=(0.5, 0.5, 0.5)))


def test_dates():
    cfg = SplitConfig(method="dates", train={"end": "2020-01-31"}, valid={"start": "2020-02-03", "end": "2020-02-14"},
                      test={"start": "2020-02-17"})
    s = make_splits(DATES, cfg)
    assert str(DATES[s["train"][-1]]) == "2020-01-31" and str(DATES[s["valid"][0]]) == "2020-02-03"
    assert s["test"][-1] == 43
    overlap = cfg.model_copy(update={"valid": cfg.train})
    with pytest.raises(MultiexecError, match="overlap"):
        make_splits(DATES, overlap)
    empty = SplitConfig.model_validate(dict(cfg.model_dump(), test={"start": "2030-01-01"}))
    with pytest.raises(MultiexecError, match="splits.test .* contains no day"):
        make_splits(DATES, empty)
    with pytest.raises(MultiexecError, match="needs splits.valid"):
        make_splits(DATES, SplitConfig(method="dates", train={"end": "2020-01-31"}))


def test_windows():
    s = make_splits(DATES, SplitConfig(windows=RollingWindows(train=20, valid=5, test=5, stride=7)))
    names = sorted(k for k in s if k.startswith("w"))
    assert names == [f"w{k}/{p}" for k in (1, 2, 3) for p in ("test", "train", "valid")]
    assert s["w2/train"][0] == 7 and s["w3/test"][-1] == 14 + 29
    assert len(s["w1/train"]) == 20 and s["w1/valid"] == list(range(20, 25))
    with pytest.raises(MultiexecError, match="window needs 60 days"):
        make_splits(DATES, SplitConfig(windows=RollingWindows(train=40, valid=10, test=10, stride=5)))


def test_too_few_days():
    with pytest.raises(MultiexecError, match="leaves no training day"):
        make_splits(DATES[:20])
