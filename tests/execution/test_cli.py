import json

import pandas as pd
from typer.testing import CliRunner

from multiexec.cli import app

runner = CliRunner()


def tiny_config(tmp_path):
    cfg = {"source": "synthetic", "synthetic": {"n_assets": 8, "n_days": 12, "history_days": 8},
           "orders": {"top_k": 3}, "splits": {"valid_days": 3, "test_days": 3}, "seed": 3}
    path = tmp_path / "data.json"
    path.write_text(json.dumps(cfg))
    return path


def test_help_of_every_command():
    res = runner.invoke(app, ["--help"])
    assert res.exit_code == 0
    for line in ("evaluate", "data", "lob", "game"):
        assert line in res.output
    for cmd in (["evaluate"], ["data"], ["lob"], ["game"]):
        sub = runner.invoke(app, cmd + ["--help"])
        assert sub.exit_code == 0 and "Usage" in sub.output


def test_evaluate_end_to_end(tmp_path):
    out = tmp_path / "res"
    res = runner.invoke(app, ["evaluate", "--data", str(tiny_config(tmp_path)), "--policy", "twap,vwap", "--out", str(out)])
    assert res.exit_code == 0, res.output
    table = pd.read_csv(out / "metrics.csv").set_index("policy")
    assert set(table.index) == {"twap", "vwap"}
    assert abs(table.loc["twap", "EG_bps"]) < 1e-6 or table.loc["twap", "TOC_pct"] > 0
    for f in ("execution_profile.png", "price_trend.png", "orders_vwap.csv", "days_twap.csv", "decisions_vwap.csv"):
        assert (out / f).stat().st_size > 0
    assert "EG (bp)" in res.output
    # a second evaluation into the same folder leaves no file of the first one's other policy
    res = runner.invoke(app, ["evaluate", "--data", str(tiny_config(tmp_path)), "--policy", "ac", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert not (out / "orders_vwap.csv").exists() and not (out / "decisions_vwap.csv").exists()
    assert (out / "decisions_ac.csv").is_file() and set(pd.read_csv(out / "metrics.csv")["policy"]) == {"ac", "twap"}


def test_evaluate_bad_input_is_a_clear_error(tmp_path):
    res = runner.invoke(app, ["evaluate", "--data", str(tiny_config(tmp_path)), "--split", "nope", "--out", str(tmp_path)])
    assert res.exit_code != 0 and "unknown split" in str(res.exception)
    res = runner.invoke(app, ["evaluate", "--data", str(tiny_config(tmp_path)), "--policy", "magic", "--out", str(tmp_path)])
    assert res.exit_code != 0 and "checkpoint" in str(res.exception)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"sauce": "synthetic"}))
    res = runner.invoke(app, ["evaluate", "--data", str(bad), "--out", str(tmp_path)])
    assert res.exit_code != 0 and "sauce" in str(res.exception)
