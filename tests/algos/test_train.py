"""Training loop, learning on a task with a known optimum, resume, runner, compare and CLI (tiny configs)."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
import typer
from typer.testing import CliRunner

from multiexec.algos.evaluation import evaluate
from multiexec.algos.learners import exec_ddqn_config
from multiexec.algos.ppo import PPOConfig
from multiexec.algos.runner import evaluate_run
from multiexec.algos.train import TrainConfig, train
from multiexec.errors import MultiexecError
from multiexec.execution.env import ExecConfig, MultiOrderEnv
from multiexec.policies.agents import ExecAgent, NeuralPolicy
from multiexec.policies.registry import get_method, method_names
from multiexec.testing import OPTIMAL_EG, TINY_EXEC, known_optimum_dataset

torch.set_num_threads(1)
TINY_DDQN = exec_ddqn_config(batch_size=16, train_frequency=4, target_network_frequency=20)


def _cfg(method, **kw):
    base = dict(method=method, train_days=8, eval_every=4, rollout_days=4, ddqn_rollout_days=2, ddqn=TINY_DDQN)
    return TrainConfig(**{**base, **kw})


@pytest.mark.parametrize("method", method_names())
def test_smoke_every_method(method, tiny_random, tmp_path):
    res = train(tiny_random, _cfg(method), tmp_path, TINY_EXEC, progress=False)
    log = pd.read_csv(tmp_path / "metrics.csv")
    assert list(log[log.kind == "valid"]["days"]) == [0, 4, 8]
    assert np.isfinite(log[log.kind == "train"]["train_team_return"]).all()
    assert json.loads((tmp_path / "summary.json").read_text())["complete"]
    assert any((tmp_path / "tb").iterdir())
    agent = ExecAgent.load(tmp_path / "best.pt")
    assert agent.cfg.method == method
    test = evaluate_run(res.agent, tiny_random, TINY_EXEC, "test", tmp_path / "test")
    assert np.isfinite(test["EG_bps"]) and test["fill_pct"] > 0
    if get_method(method).intentions:
        rounds = pd.read_csv(tmp_path / "test" / "rounds.csv")
        assert list(rounds["round"]) == [1, 2, 3]
        # acting with the last round's intentions is what the agent does
        assert rounds["EG_bps"].iloc[-1] == pytest.approx(test["EG_bps"])


def test_ppo_learns_the_known_optimum(tmp_path):
    ds = known_optimum_dataset()
    cfg = TrainConfig(method="ppo", train_days=240, eval_every=80, rollout_days=8,
                      ppo=PPOConfig(lr=1e-3, reward_scale=1.0))
    res = train(ds, cfg, tmp_path, TINY_EXEC, progress=False)
    env = MultiOrderEnv(ds.bars, ds.orders, TINY_EXEC)
    eg = evaluate(env, NeuralPolicy(res.agent), [0, 1]).orders.groupby("side")["eg_bps"].mean()
    assert eg["sell"] == pytest.approx(OPTIMAL_EG["sell"], rel=0.05)
    assert eg["buy"] == pytest.approx(OPTIMAL_EG["buy"], rel=0.05)


def _reaches_optimum(method, seed, out, intentions="soft"):
    ds = known_optimum_dataset()
    cfg = TrainConfig(method=method, seed=seed, train_days=240, eval_every=80, rollout_days=8, intentions=intentions,
                      ppo=PPOConfig(lr=1e-3, reward_scale=1.0))
    res = train(ds, cfg, out, TINY_EXEC, progress=False)
    env = MultiOrderEnv(ds.bars, ds.orders, TINY_EXEC)
    eg = evaluate(env, NeuralPolicy(res.agent), [0, 1]).orders.groupby("side")["eg_bps"].mean()
    return all(eg[s] == pytest.approx(OPTIMAL_EG[s], rel=0.05) for s in ("sell", "buy"))


def test_iac_learns_the_known_optimum_in_most_seeds(tmp_path):
    """IaC^T (K = 3, soft intentions) reaches the optimum in at least 2 of 3 seeds (0/6 seeds with the paper's
    sampled intentions and per-round attribution: docs/iac_investigation.md §6)."""
    hits = [_reaches_optimum("iac_t", seed, tmp_path / str(seed)) for seed in range(3)]
    assert sum(hits) >= 2, hits


def test_ddqn_learns_the_known_optimum(tmp_path):
    ds = known_optimum_dataset()
    cfg = TrainConfig(method="ddqn", train_days=150, eval_every=50, ddqn_rollout_days=2,
                      ddqn=exec_ddqn_config(learning_rate=1e-3, batch_size=32, train_frequency=2,
                                            target_network_frequency=50, epsilon_decay=0.985, reward_scale=1.0))
    res = train(ds, cfg, tmp_path, TINY_EXEC, progress=False)
    env = MultiOrderEnv(ds.bars, ds.orders, TINY_EXEC)
    eg = evaluate(env, NeuralPolicy(res.agent), [0, 1]).orders.groupby("side")["eg_bps"].mean()
    assert eg["sell"] == pytest.approx(OPTIMAL_EG["sell"], rel=0.05)
    assert eg["buy"] == pytest.approx(OPTIMAL_EG["buy"], rel=0.05)


@pytest.mark.parametrize("method", ["iac_t", "ddqn"])
def test_same_seed_same_numbers_and_resume(method, tiny_random, tmp_path):
    full = train(tiny_random, _cfg(method, train_days=8, seed=3), tmp_path / "a", TINY_EXEC, progress=False)
    again = train(tiny_random, _cfg(method, train_days=8, seed=3), tmp_path / "b", TINY_EXEC, progress=False)
    cols = [c for c in full.log.columns if c != "seconds"]
    pd.testing.assert_frame_equal(full.log[cols], again.log[cols])
    if method == "ddqn":
        return  # DDQN resumes without its replay memory (documented), so it is not bit-identical
    # stop after 4 days, then resume to 8 with a larger budget: identical to the uninterrupted run
    train(tiny_random, _cfg(method, train_days=4, seed=3), tmp_path / "c", TINY_EXEC, progress=False)
    resumed = train(tiny_random, _cfg(method, train_days=8, seed=3), tmp_path / "c", TINY_EXEC, progress=False)
    pd.testing.assert_frame_equal(full.log[cols], resumed.log[cols])


def test_resume_refuses_a_different_config(tiny_random, tmp_path):
    train(tiny_random, _cfg("ppo", train_days=4), tmp_path, TINY_EXEC, progress=False)
    with pytest.raises(MultiexecError, match="different config"):
        train(tiny_random, _cfg("ppo", train_days=4, rollout_days=2), tmp_path, TINY_EXEC, progress=False)


TINY_DATA = {"synthetic": {"n_assets": 8, "n_days": 10, "history_days": 10}, "orders": {"top_k": 3, "min_notional": 0},
             "splits": {"valid_days": 2, "test_days": 2}, "cache": False}


def _app():
    from multiexec.algos.cli import register

    app = typer.Typer()
    register(app)
    return app


def test_cli_train_and_compare_end_to_end(tmp_path):
    data = tmp_path / "data.json"
    data.write_text(json.dumps(TINY_DATA))
    runner = CliRunner()
    r = runner.invoke(_app(), ["train", "--method", "iac_c", "--data", str(data), "--out", str(tmp_path / "run"),
                               "--train-days", "4", "--eval-every", "4", "--step-minutes", "130"])
    assert r.exit_code == 0, r.output
    assert "test: EG_bps" in r.output
    assert (tmp_path / "run" / "test" / "rounds.csv").is_file()

    cfg = tmp_path / "compare.json"
    cfg.write_text(json.dumps({"train": {"rollout_days": 2, "ddqn": {"batch_size": 8}}, "exec": {"step_minutes": 130}}))
    doc = tmp_path / "docs" / "results.md"
    r = runner.invoke(_app(), ["compare", "--data", str(data), "--methods", "ppo,iac_t", "--seeds", "2",
                               "--train-days", "2", "--eval-every", "2", "--rounds-sweep", "1,2",
                               "--sweep-seeds", "1", "--action-spaces", "0,0.5,1",
                               "--workers", "1", "--config", str(cfg), "--out", str(tmp_path / "cmp"),
                               "--doc", str(doc)])
    assert r.exit_code == 0, r.output
    out = tmp_path / "cmp" / "data"
    t1 = pd.read_csv(out / "table1.csv")
    assert set(t1["method"]) == {"TWAP", "VWAP", "AC", "Side split", "PPO", "IaC^T"}
    assert t1.set_index("method").loc["TWAP", "EG_bps_mean"] == pytest.approx(0.0, abs=1e-6)
    for f in ("fig8_learning_curves.png", "fig3b_profile.png", "fig3c_rounds.png", "fig4a_convergence.png",
              "fig4b_rounds.png", "significance.csv", "timing.csv", "rounds_K.csv"):
        assert (out / f).is_file(), f
    t4 = pd.read_csv(out / "table4.csv")
    assert set(t4["method"]) == {"PPO", "TarMAC", "IaC^T"} and t4["actions"].nunique() == 2
    assert list(pd.read_csv(out / "rounds_K.csv")["seeds"]) == [1, 1]
    text = doc.read_text()
    assert "Table 1" in text and "IaC has the highest EG" in text
    timing = pd.read_csv(out / "timing.csv")  # model selection that kept the untrained network is said in the report
    assert timing["selected_untrained"].isin([True, False]).all()
    assert ("Model selection kept the untrained network" in text) == bool(timing["selected_untrained"].any())
    assert (doc.parent / "results" / "data" / "fig8_learning_curves.png").is_file()
    # the report alone, from the finished folders, trains nothing
    doc2 = tmp_path / "again.md"
    r = runner.invoke(_app(), ["compare", "--data", str(data), "--out", str(tmp_path / "cmp"), "--report-only",
                               "--doc", str(doc2)])
    assert r.exit_code == 0, r.output
    assert doc2.read_text().split("\n", 3)[3] == text.split("\n", 3)[3]  # same body, new header line


def test_ray_runner_gives_the_local_results(tmp_path):
    """The same RunSpecs through Ray tasks and in-process: identical test metrics (Ray is an optional extra)."""
    pytest.importorskip("ray")
    from multiexec.algos.runner import LocalRunner, RunSpec, make_runner, run_spec

    def specs(root):
        return [RunSpec(data=TINY_DATA, train=_cfg(m, train_days=2, seed=1), exec=ExecConfig(step_minutes=130),
                        out=str(root / m)) for m in ("ppo", "iac_t")]

    local = LocalRunner(1).map(run_spec, specs(tmp_path / "local"))
    remote = make_runner("ray", workers=2).map(run_spec, specs(tmp_path / "ray"))
    assert [r["test"] for r in remote] == [r["test"] for r in local]


def test_finished_runs_are_reused_only_for_the_same_config(tmp_path):
    from multiexec.algos.runner import RunSpec, run_spec

    def spec(**kw):
        return RunSpec(data=TINY_DATA, train=_cfg("ppo", train_days=2, seed=1, **kw),
                       exec=ExecConfig(step_minutes=130), out=str(tmp_path))

    first = run_spec(spec())
    mtime = (tmp_path / "best.pt").stat().st_mtime_ns
    assert run_spec(spec())["test"] == first["test"]
    assert (tmp_path / "best.pt").stat().st_mtime_ns == mtime  # read back, not retrained
    with pytest.raises(MultiexecError, match="different config"):
        run_spec(spec(ppo=PPOConfig(lr=5e-4)))
    # settings the method does not use do not make it a different run
    assert run_spec(spec(ddqn=TINY_DDQN.model_copy(update={"batch_size": 4})))["test"] == first["test"]


def test_unknown_runner():
    from multiexec.algos.runner import make_runner

    with pytest.raises(MultiexecError, match="unknown runner"):
        make_runner("slurm")


def test_cli_rejects_bad_input(tmp_path):
    runner = CliRunner()
    r = runner.invoke(_app(), ["train", "--method", "maddpg", "--out", str(tmp_path)])
    assert r.exit_code != 0 and "unknown method" in str(r.exception)
    r = runner.invoke(_app(), ["compare", "--methods", "ppo,foo", "--out", str(tmp_path)])
    assert r.exit_code != 0 and "unknown method" in str(r.exception)


def test_run_spec_is_a_validated_model_that_round_trips(tmp_path):
    import pickle

    from multiexec.algos.layout import RunLayout
    from multiexec.algos.runner import RunSpec
    from multiexec.data.dataset import DataConfig

    spec = RunSpec(data=TINY_DATA, train=_cfg("ddqn"), exec=ExecConfig(step_minutes=130), out=str(tmp_path))
    assert isinstance(spec.data, DataConfig) and spec.data.synthetic.n_assets == 8
    assert RunSpec.model_validate_json(spec.model_dump_json()) == spec
    assert pickle.loads(pickle.dumps(spec)) == spec
    with pytest.raises(ValueError):
        RunSpec(data={"no_such_field": 1}, train=_cfg("ppo"), out=str(tmp_path))
    files = RunLayout(spec.out)
    assert files.best == tmp_path / "best.pt" and files.test.metrics == tmp_path / "test" / "metrics.json"


def test_saved_configs_from_before_the_registry_still_match():
    """A config.json written before ``ppo.advantage`` and the merged DDQN settings is the same run."""
    from multiexec.algos.train import _resume_key

    cfg = _cfg("ppo")
    saved = cfg.model_dump()
    del saved["ppo"]["advantage"]
    assert _resume_key(saved) == _resume_key(cfg.model_dump())
    d = TrainConfig(method="ddqn").model_dump()
    legacy = {**d, "ddqn": {"lr": 1e-4, "batch_size": 128, "buffer_size": 50_000, "target_every": 200,
                            "transitions_per_update": 16, "epsilon_start": 1.0, "epsilon_min": 0.05,
                            "epsilon_decay": 0.999, "reward_scale": 100.0}}
    assert _resume_key(legacy) == _resume_key(d)
