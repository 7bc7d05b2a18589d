"""The proof: historical days replayed through the running service over HTTP give the per-order execution prices
and the metrics of ``multiexec evaluate`` (the environment run in-process), for a rule and for a trained IaC^T."""

import json

import httpx
import numpy as np
import pytest

from multiexec.algos import load_policy
from multiexec.execution.evaluate import run_policy
from multiexec.execution.metrics import summarize
from multiexec.serve.registry import register_checkpoint, register_rule
from multiexec.serve.replay import compare_results, replay

TEST_DAYS = 4


def _same(served_orders, served_days, ev):
    diffs = compare_results(served_orders, ev.orders)
    assert diffs["max_abs_diff_avg_exec_price"] <= 1e-9 * ev.orders["avg_exec_price"].abs().max(), diffs
    assert diffs["max_abs_diff_eg_bps"] <= 1e-8 and diffs["max_abs_diff_filled"] <= 1e-6, diffs
    a, b = summarize(served_orders, served_days), summarize(ev.orders, ev.days)
    for k in ("EG_bps", "IS_bps", "POS_pct", "TOC_pct", "fill_pct", "n_orders", "n_days"):
        assert a[k] == pytest.approx(b[k], rel=1e-9, abs=1e-9), k


def test_replay_of_a_trained_iac_t_equals_evaluate(make_service, live, dataset, env, iac_run):
    app, admin, desk, _ = make_service()
    name, version = register_checkpoint(app.state.service.store, iac_run)
    assert (name, version) == ("iac_t", 1)
    server = live(app)
    days = dataset.splits["test"][:TEST_DAYS]
    with httpx.Client(base_url=server.url, headers={"X-API-Key": desk}, timeout=60) as client:
        orders, day_table, _ = replay(client, env, days, "iac_t")
    ev = run_policy(env, load_policy(iac_run), days, progress=False)
    _same(orders, day_table, ev)
    # the network really decides: not every order follows one fixed schedule
    prof = ev.profile["sell_requested"]
    assert prof.size == env.n_steps and not np.allclose(prof, prof[0])


def test_cli_replay_of_twap_equals_evaluate(make_service, live, tmp_path, capsys):
    from multiexec.cli import run
    from multiexec.data.dataset import DataConfig, load_dataset
    from multiexec.execution.env import ExecConfig

    app, admin, desk, _ = make_service()
    ds = load_dataset(DataConfig())  # what --data synthetic loads
    register_rule(app.state.service.store, "twap", ds, ExecConfig())
    server = live(app)
    out = tmp_path / "replay"
    rc = run(["serve", "replay", "--url", server.url, "--key", desk, "--data", "synthetic", "--split", "test",
              "--policy", "twap", "--max-days", str(TEST_DAYS), "--out", str(out)])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "service : EG_bps" in text and "evaluate: EG_bps" in text
    res = json.loads((out / "replay.json").read_text())
    assert res["days"] == TEST_DAYS and res["metrics"]["n_orders"] == res["evaluate_metrics"]["n_orders"] > 0
    for k in ("EG_bps", "IS_bps", "TOC_pct", "fill_pct"):
        assert res["metrics"][k] == pytest.approx(res["evaluate_metrics"][k], rel=1e-9, abs=1e-9)
    assert res["differences"]["max_abs_diff_eg_bps"] < 1e-8
    assert res["differences"]["max_abs_diff_avg_exec_price"] < 1e-9


def test_cli_replay_errors_are_one_line(make_service, live, capsys):
    from multiexec.cli import run

    app, admin, desk, _ = make_service()
    server = live(app)
    assert run(["serve", "replay", "--url", server.url, "--key", desk, "--policy", "nope", "--max-days", "1"]) == 2
    err = capsys.readouterr().err
    assert "error: --policy nope" in err and "Traceback" not in err
    assert run(["serve", "replay", "--url", server.url, "--key", "wrong", "--max-days", "1"]) == 2
    assert "HTTP 401" in capsys.readouterr().err


def test_replay_where_the_cash_binds_equals_evaluate(make_service, live):
    """Days whose cash runs out: the trading program cuts the buys, the service sees the rule bind (TOC) and decides
    on as the environment does."""
    from multiexec.execution.env import MultiOrderEnv
    from multiexec.policies.rules import make_rule_policy
    from multiexec.serve.registry import register_uniform_rule
    from multiexec.testing import TINY_EXEC, random_dataset

    ds = random_dataset(n_days=6, seed=1)
    env = MultiOrderEnv(ds.bars, ds.orders, TINY_EXEC)
    app, admin, desk, _ = make_service()
    register_uniform_rule(app.state.service.store, "twap", TINY_EXEC, ds.bars.n_minutes)
    server = live(app)
    days = list(range(len(ds.orders)))
    with httpx.Client(base_url=server.url, headers={"X-API-Key": desk}, timeout=60) as client:
        orders, day_table, _ = replay(client, env, days, "twap")
    ev = run_policy(env, make_rule_policy("twap", ds.bars, np.arange(4), TINY_EXEC), days, progress=False)
    assert ev.days["toc"].mean() > 0 and (ev.orders["unfilled"] > 0).any()  # the cash bound, buys were left
    _same(orders, day_table, ev)
    np.testing.assert_allclose(day_table["toc"], ev.days["toc"], atol=1e-12)
