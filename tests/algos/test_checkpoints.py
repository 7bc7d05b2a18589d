"""Checkpoints know what they are (method, action set, step length, feature layout, data), model selection says
when it kept the untrained network, and ``evaluate`` writes a decision log that adds up to the per-order results."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from multiexec.algos import checkpoint_problems, load_policy, read_checkpoint
from multiexec.algos.train import TrainConfig, feature_layout, train
from multiexec.cli import run
from multiexec.errors import MultiexecError
from multiexec.execution.env import DECISION_COLUMNS, ExecConfig
from multiexec.testing import TINY_EXEC

torch.set_num_threads(1)
TINY_DATA = {"synthetic": {"n_assets": 6, "n_days": 10, "history_days": 8}, "orders": {"top_k": 2, "min_notional": 0},
             "splits": {"valid_days": 2, "test_days": 2}, "cache": False, "seed": 2}


def test_best_pt_records_what_the_agent_was_trained_for(tiny_random, tmp_path):
    cfg = TrainConfig(method="ppo", train_days=4, eval_every=4, rollout_days=4, seed=5)
    train(tiny_random, cfg, tmp_path, TINY_EXEC, progress=False)
    _, blob = read_checkpoint(tmp_path)
    meta = blob["extra"]
    assert meta["method"] == "ppo" and meta["seed"] == 5 and meta["market"] == "bars"
    assert meta["actions"] == list(TINY_EXEC.actions) and meta["step_minutes"] == TINY_EXEC.step_minutes
    assert meta["features"] == feature_layout() and meta["data"] == getattr(tiny_random, "name", None)
    assert checkpoint_problems(blob, "ppo", TINY_EXEC) == []
    other = TINY_EXEC.model_copy(update={"step_minutes": TINY_EXEC.step_minutes + 1, "actions": [0.0, 1.0]})
    problems = " | ".join(checkpoint_problems(blob, "iac_t", other))
    assert "--policy iac_t but the checkpoint holds a ppo model" in problems
    assert f"trained with {TINY_EXEC.step_minutes}-minute steps, the evaluation uses {TINY_EXEC.step_minutes + 1}" \
        in problems
    assert "action set differs" in problems
    with pytest.raises(MultiexecError, match="holds a ppo model"):
        load_policy(tmp_path, method="iac_t", exec_cfg=TINY_EXEC)
    assert load_policy(tmp_path, method="ppo", exec_cfg=TINY_EXEC).name == "ppo"


def test_selection_of_the_untrained_network_is_reported(tiny_random, tmp_path, capsys):
    # a time limit hit before the first learning step: the only validation is the untrained network's
    cfg = TrainConfig(method="ppo", train_days=8, eval_every=4, rollout_days=4, time_limit_s=1e-9)
    train(tiny_random, cfg, tmp_path / "a", TINY_EXEC, progress=False)
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert summary["selected_untrained"] is True and summary["best_days"] == 0
    assert "untrained network" in capsys.readouterr().out
    # a normal run records the days of its best validation; untrained only if that is day 0
    train(tiny_random, TrainConfig(method="ppo", train_days=8, eval_every=4, rollout_days=4), tmp_path / "b",
          TINY_EXEC, progress=False)
    summary = json.loads((tmp_path / "b" / "summary.json").read_text())
    log = pd.read_csv(tmp_path / "b" / "metrics.csv")
    valid = log[log.kind == "valid"]
    assert summary["best_days"] == int(valid.loc[valid[summary["select_on"]].idxmax(), "days"])
    assert summary["selected_untrained"] == (summary["best_days"] == 0)


def test_evaluate_decision_log_adds_up_and_checkpoint_round_trip(tmp_path, capsys):
    data = tmp_path / "data.json"
    data.write_text(json.dumps(TINY_DATA))
    assert run(["train", "--method", "ppo", "--data", str(data), "--out", str(tmp_path / "run"), "--train-days", "2",
                "--eval-every", "2", "--step-minutes", "130"]) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert {"best_days", "selected_untrained"} <= set(summary)
    out = tmp_path / "ev"
    (out).mkdir()
    (out / "orders_stale.csv").write_text("from another run\n")
    # the step length comes from the checkpoint (130) when --step-minutes is not given
    assert run(["evaluate", "--data", str(data), "--policy", "ppo,vwap", "--checkpoint", str(tmp_path / "run"),
                "--out", str(out)]) == 0
    capsys.readouterr()
    assert not (out / "orders_stale.csv").exists()  # one folder, one evaluation
    assert set(pd.read_csv(out / "metrics.csv")["policy"]) == {"ppo", "vwap", "twap"}
    for name in ("ppo", "vwap", "twap"):
        log = pd.read_csv(out / f"decisions_{name}.csv")
        orders = pd.read_csv(out / f"orders_{name}.csv")
        assert tuple(log.columns) == DECISION_COLUMNS
        assert set(log["step"]) == {0, 1, 2}  # 390 / 130
        per_order = log.groupby(["day_id", "symbol"])["executed_qty"].sum()
        filled = orders.set_index(["day_id", "symbol"])["filled"]
        np.testing.assert_allclose(per_order.loc[filled.index].to_numpy(), filled.to_numpy(), rtol=1e-9, atol=1e-6)
        assert (log["executed_qty"] <= log["intended_qty"] + 1e-9).all()
        assert (log["cash_after"] >= -1e-6).all()
        paid = (log["executed_qty"] * log["price"]).groupby([log["day_id"], log["symbol"]]).sum()
        aep = orders.set_index(["day_id", "symbol"])["avg_exec_price"]
        np.testing.assert_allclose((paid.loc[filled.index] / filled).to_numpy(), aep.to_numpy(), rtol=1e-9)
    # the same checkpoint at another step length is refused, naming both sides
    assert run(["evaluate", "--data", str(data), "--policy", "ppo", "--checkpoint", str(tmp_path / "run"),
                "--step-minutes", "30", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "130-minute steps, the evaluation uses 30" in err


def test_data_options_reach_the_data_config(tmp_path):
    from multiexec.algos.cli import _data_config

    cfg = _data_config("synthetic", 4, drop_missing=True, daily="none")
    assert cfg.on_missing == "drop" and cfg.daily is None and cfg.seed == 4
    path = tmp_path / "d.json"
    path.write_text(json.dumps({"seed": 9, "daily": "auto"}))
    orders = tmp_path / "o.csv"
    orders.write_text("date,symbol,side,amount\n")
    cfg = _data_config(str(path), 0, daily=str(tmp_path / "daily.csv"), orders=orders)
    assert cfg.seed == 9 and cfg.daily == str(tmp_path / "daily.csv") and cfg.orders.csv == str(orders)
    assert cfg.on_missing == "error"


def test_step_length_against_the_day():
    from multiexec.algos.cli import check_step_fits

    assert check_step_fits(30, 390) is None
    assert "the last one 30 minutes" in check_step_fits(60, 390)
    with pytest.raises(MultiexecError, match="longer than the data's trading day"):
        check_step_fits(391, 390)


def test_decision_log_parquet(tmp_path):
    pytest.importorskip("pyarrow")
    data = tmp_path / "data.json"
    data.write_text(json.dumps(TINY_DATA))
    assert run(["evaluate", "--data", str(data), "--policy", "twap", "--decisions", "parquet",
                "--out", str(tmp_path / "ev")]) == 0
    log = pd.read_parquet(tmp_path / "ev" / "decisions_twap.parquet")
    assert tuple(log.columns) == DECISION_COLUMNS and len(log) > 0
    assert not (tmp_path / "ev" / "decisions_twap.csv").exists()


def test_exec_config_roundtrip_of_checkpoint_meta():
    from multiexec.algos.train import checkpoint_meta

    meta = checkpoint_meta(TrainConfig(method="iac_t"), ExecConfig(step_minutes=15, actions=[0.0, 0.5, 1.0]))
    assert meta["step_minutes"] == 15 and meta["actions"] == [0.0, 0.5, 1.0] and meta["method"] == "iac_t"
