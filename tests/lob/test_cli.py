import pandas as pd
import pytest
from typer.testing import CliRunner

from multiexec.lob.cli import app


def test_lob_run_writes_run_folder(tmp_path):
    res = CliRunner().invoke(app, ["run", "--config", "rmsc04", "--seed", "1", "--out", str(tmp_path),
                                   "--close", "09:36:00", "--no-facts", "--l2-depth", "5"])
    assert res.exit_code == 0, res.output
    for name in ("bars", "l2", "trades", "orders"):
        assert (tmp_path / f"{name}.parquet").exists()
    l2 = pd.read_parquet(tmp_path / "l2.parquet")
    assert "bid_px_5" in l2.columns and "bid_px_6" not in l2.columns
    assert len(pd.read_parquet(tmp_path / "bars.parquet")) == 6


def test_lob_configs_lists_populations():
    res = CliRunner().invoke(app, ["configs"])
    assert res.exit_code == 0 and "5000 noise" in res.output and "1000 noise" in res.output


@pytest.mark.realdata
def test_lob_replay_command_reports_each_sample():
    from multiexec.lob.lobster import lobster_samples

    if not lobster_samples():
        pytest.skip("real data ../shared/data/lobster_aapl_2012-06-21 is absent")
    res = CliRunner().invoke(app, ["replay", "--max-messages", "500"])
    assert res.exit_code == 0, res.output
    assert res.output.count("L1 mismatches") == len(lobster_samples())


def test_lob_realism_seeds_rejects_bad_seed_list(tmp_path):
    res = CliRunner().invoke(app, ["realism-seeds", "--seeds", "one-two", "--out", str(tmp_path)])
    assert res.exit_code != 0 and "--seeds" in str(res.exception)
