import numpy as np
import pytest

from multiexec.data.dataset import DataConfig, load_dataset
from multiexec.execution.env import ExecConfig, MultiOrderEnv
from multiexec.execution.evaluate import metrics_table, run_policy
from multiexec.policies.rules import make_rule_policy
from multiexec.testing import shared_or_skip


@pytest.mark.realdata
def test_rules_on_the_real_test_split():
    shared_or_skip("us_minute_2018")
    ds = load_dataset(DataConfig(source="us_minute_2018"))
    cfg = ExecConfig()
    env = MultiOrderEnv(ds.bars, ds.orders, cfg)
    assert env.n_steps == 13
    train_days = ds.order_day_index[ds.splits["train"]]
    test_days = ds.order_day_index[ds.splits["test"]]
    assert train_days.max() < test_days.min()  # no look-ahead in the estimated rules
    results = [run_policy(env, make_rule_policy(n, ds.bars, train_days, cfg), ds.splits["test"], progress=False)
               for n in ("twap", "vwap", "ac")]
    table = metrics_table(results).set_index("policy")
    # TWAP executes at the benchmark price: EG is zero up to rounding, everything fills, cash never binds
    assert abs(table.loc["twap", "EG_bps"]) < 1e-8
    assert table.loc["twap", "fill_pct"] == pytest.approx(100.0)
    assert table.loc["twap", "TOC_pct"] == 0.0
    for name in ("vwap", "ac"):
        assert np.isfinite(table.loc[name, "EG_bps"]) and abs(table.loc[name, "EG_bps"]) < 50
        assert 0 <= table.loc[name, "vs_twap_t_pvalue"] <= 1
