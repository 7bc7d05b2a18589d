"""The catalogue of bad inputs: every one is answered by exit status 2 and ONE line ``error: ...`` naming the problem,
never a traceback (issue 13). Each case runs the real entry point in-process (:func:`multiexec.cli.run`, what the
``multiexec`` script calls), on tiny inputs, and fails before any long work.

A case is ``(id, argv, expected text of the error line)``; ``{tmp}`` in argv is the catalogue's scratch folder,
which holds a tiny synthetic data config, a file, a folder, broken configs and checkpoints (see ``scratch``)."""

from __future__ import annotations

import json
import re

import pytest
import torch

from multiexec.cli import run

CASES = [
    # ---------------------------------------------------------------- evaluate: policies
    ("evaluate-policy-empty", ["evaluate", "--policy", ""], "--policy '': no policy given"),
    ("evaluate-policy-blank-name", ["evaluate", "--policy", "twap,,vwap"], "empty name between commas"),
    ("evaluate-policy-duplicate", ["evaluate", "--policy", "twap,vwap,twap"], "twap given more than once"),
    ("evaluate-policy-unknown", ["evaluate", "--policy", "magic"], "unknown policy 'magic'"),
    ("evaluate-learned-without-checkpoint", ["evaluate", "--policy", "ppo"], "give --checkpoint"),
    ("evaluate-two-learned-one-checkpoint", ["evaluate", "--policy", "ppo,iac_t", "--checkpoint", "{tmp}/ppo_run"],
     "ppo, iac_t are learned policies but there is one --checkpoint"),
    ("evaluate-checkpoint-without-learned", ["evaluate", "--policy", "twap", "--checkpoint", "{tmp}/ppo_run"],
     "names no learned method"),
    # ---------------------------------------------------------------- evaluate: checkpoints
    ("evaluate-checkpoint-not-one", ["evaluate", "--policy", "ppo", "--checkpoint", "{tmp}/garbage.pt"],
     "not a multiexec checkpoint"),
    ("evaluate-checkpoint-text-file", ["evaluate", "--policy", "ppo", "--checkpoint", "{tmp}/data.json"],
     "not a multiexec checkpoint"),
    ("evaluate-checkpoint-missing", ["evaluate", "--policy", "ppo", "--checkpoint", "{tmp}/nope.pt"], "file not found"),
    ("evaluate-checkpoint-folder-without-best", ["evaluate", "--policy", "ppo", "--checkpoint", "{tmp}/folder"],
     "has no best.pt"),
    ("evaluate-checkpoint-other-method", ["evaluate", "--policy", "iac_t", "--checkpoint", "{tmp}/ppo_run"],
     "--policy iac_t but the checkpoint holds a ppo model"),
    ("evaluate-checkpoint-step-mismatch", ["evaluate", "--policy", "ppo", "--checkpoint", "{tmp}/ppo_run",
                                           "--step-minutes", "15"],
     "trained with 30-minute steps, the evaluation uses 15"),
    ("evaluate-checkpoint-features-mismatch", ["evaluate", "--policy", "ppo", "--checkpoint", "{tmp}/old_features.pt"],
     "feature layout differs"),
    ("evaluate-checkpoint-training-state", ["evaluate", "--policy", "ppo", "--checkpoint", "{tmp}/last.pt"],
     "a training state (last.pt)"),
    ("evaluate-checkpoint-not-a-dict", ["evaluate", "--policy", "ppo", "--checkpoint", "{tmp}/tensor.pt"],
     "not a multiexec agent checkpoint"),
    # ---------------------------------------------------------------- evaluate: numbers, folders, data
    ("evaluate-negative-data-seed", ["evaluate", "--data-seed", "-1"], "Invalid value for '--data-seed'"),
    ("evaluate-negative-old-seed", ["evaluate", "--seed", "-3"], "Invalid value for '--seed'"),
    ("evaluate-seed-not-a-number", ["evaluate", "--data-seed", "abc"], "Invalid value for '--data-seed'"),
    ("evaluate-step-zero", ["evaluate", "--step-minutes", "0"], "a decision step lasts at least one minute"),
    ("evaluate-step-over-a-day", ["evaluate", "--step-minutes", "2000"], "more than a day (1440 minutes)"),
    ("evaluate-step-over-the-session", ["evaluate", "--data", "{tmp}/data.json", "--step-minutes", "1000",
                                        "--out", "{tmp}/ev"], "longer than the data's trading day (390 minutes)"),
    ("evaluate-out-is-a-file", ["evaluate", "--out", "{tmp}/a_file.txt"], "is a file, not a folder"),
    ("evaluate-out-not-creatable", ["evaluate", "--data", "{tmp}/data.json", "--out", "{tmp}/a_file.txt/sub"],
     "cannot create the folder"),
    ("evaluate-unknown-screen", ["evaluate", "--screen", "fix"], "--screen 'fix': expected 'error' or 'repair'"),
    ("train-unknown-screen", ["train", "--method", "ppo", "--screen", "off"], "--screen 'off': expected 'error' or"),
    ("evaluate-unknown-split", ["evaluate", "--data", "{tmp}/data.json", "--split", "nope", "--out", "{tmp}/ev"],
     "unknown split 'nope'"),
    ("evaluate-data-unknown-key", ["evaluate", "--data", "{tmp}/bad_key.json"], "unknown key 'sauce'"),
    ("evaluate-data-bad-value", ["evaluate", "--data", "{tmp}/bad_value.json"], "max_assets"),
    ("evaluate-data-not-json", ["evaluate", "--data", "{tmp}/not_json.json"], "not_json.json"),
    ("evaluate-data-empty-yaml", ["evaluate", "--data", "{tmp}/empty.yaml"], "empty.yaml"),
    ("evaluate-data-missing", ["evaluate", "--data", "{tmp}/no_such_dir"], "data source not found"),
    ("evaluate-market-no-config", ["evaluate", "--market", "lob"], "lob:<config>"),
    ("evaluate-market-unknown", ["evaluate", "--market", "lob:nope"], "unknown market config 'nope'"),
    ("evaluate-decisions-format", ["evaluate", "--decisions", "xml"], "--decisions 'xml'"),
    ("evaluate-orders-missing", ["evaluate", "--orders", "{tmp}/no_orders.csv"], "no_orders.csv: file not found"),
    ("evaluate-unknown-option", ["evaluate", "--bogus"], "No such option: --bogus"),
    # ---------------------------------------------------------------- train
    ("train-no-method", ["train"], "Missing option '--method'"),
    ("train-unknown-method", ["train", "--method", "maddpg"], "unknown method 'maddpg'"),
    ("train-negative-seed", ["train", "--method", "ppo", "--seed", "-1"], "Invalid value for '--seed'"),
    ("train-negative-data-seed", ["train", "--method", "ppo", "--data-seed", "-2"], "Invalid value for '--data-seed'"),
    ("train-threads-zero", ["train", "--method", "ppo", "--threads", "0"], "Invalid value for '--threads'"),
    ("train-step-over-a-day", ["train", "--method", "ppo", "--step-minutes", "5000"], "more than a day"),
    ("train-step-over-the-session", ["train", "--method", "ppo", "--data", "{tmp}/data.json", "--step-minutes", "1000",
                                     "--out", "{tmp}/tr"], "longer than the data's trading day"),
    ("train-actions-not-numbers", ["train", "--method", "ppo", "--actions", "0,abc"], "expected comma-separated numbers"),
    ("train-actions-one", ["train", "--method", "ppo", "--actions", "0.5"], "need at least two actions"),
    ("train-actions-decreasing", ["train", "--method", "ppo", "--actions", "1,0"], "strictly increasing"),
    ("train-actions-above-one", ["train", "--method", "ppo", "--actions", "0,2"], "must lie in [0, 1]"),
    ("train-zero-days", ["train", "--method", "ppo", "--train-days", "0"], "train_days"),
    ("train-zero-eval-every", ["train", "--method", "ppo", "--eval-every", "0"], "eval_every"),
    ("train-config-missing", ["train", "--method", "ppo", "--config", "{tmp}/nope.json"], "file not found"),
    ("train-config-not-json", ["train", "--method", "ppo", "--config", "{tmp}/not_json.json"], "not valid JSON"),
    ("train-config-not-object", ["train", "--method", "ppo", "--config", "{tmp}/list.json"], "must be a JSON object"),
    ("train-config-unknown-key", ["train", "--method", "ppo", "--config", "{tmp}/train_key.json"],
     "unknown key 'learning_rat'"),
    ("train-config-bad-nested", ["train", "--method", "ppo", "--config", "{tmp}/train_nested.json"], "ppo.clip"),
    ("train-config-bad-ddqn", ["train", "--method", "ddqn", "--config", "{tmp}/ddqn_zero.json"],
     "ddqn: DDQNConfig: batch_size"),
    ("train-config-ddqn-batch-over-buffer", ["train", "--method", "ddqn", "--config", "{tmp}/ddqn_big.json"],
     "exceeds buffer_size"),
    ("train-out-is-a-file", ["train", "--method", "ppo", "--out", "{tmp}/a_file.txt"], "is a file, not a folder"),
    ("train-lob-too-few-days", ["train", "--method", "ppo", "--market", "lob:desk-mini", "--lob-days", "2"],
     "greater than or equal to 3"),
    # ---------------------------------------------------------------- compare
    ("compare-workers-zero", ["compare", "--workers", "0"], "Invalid value for '--workers'"),
    ("compare-seeds-zero", ["compare", "--seeds", "0"], "Invalid value for '--seeds'"),
    ("compare-seeds-range", ["compare", "--seeds", "5-1"], "Invalid value for '--seeds'"),
    ("compare-methods-empty", ["compare", "--methods", ","], "no method given"),
    ("compare-methods-unknown", ["compare", "--methods", "ppo,foo"], "unknown method 'foo'"),
    ("compare-methods-duplicate", ["compare", "--methods", "ppo,ppo"], "ppo given more than once"),
    ("compare-report-only-without-doc", ["compare", "--report-only"], "--report-only needs --doc"),
    ("compare-doc-is-a-folder", ["compare", "--doc", "{tmp}/folder"], "is a folder; give a file name"),
    ("compare-report-only-nothing-there", ["compare", "--report-only", "--doc", "{tmp}/r.md", "--out", "{tmp}/folder"],
     "has no finished comparison"),
    ("compare-out-is-a-file", ["compare", "--out", "{tmp}/a_file.txt"], "is a file, not a folder"),
    ("compare-runner-unknown", ["compare", "--runner", "slurm", "--out", "{tmp}/cmp"], "unknown runner 'slurm'"),
    ("compare-rounds-not-numbers", ["compare", "--rounds-sweep", "a,b"], "--rounds-sweep: expected comma-separated"),
    ("compare-negative-data-seed", ["compare", "--data-seed", "-1"], "Invalid value for '--data-seed'"),
    # ---------------------------------------------------------------- game
    ("game-run-zero-train-episodes", ["game", "run", "--train-episodes", "0"], "Invalid value for '--train-episodes'"),
    ("game-theory-zero-episodes", ["game", "theory", "--episodes", "0"], "Invalid value for '--episodes'"),
    ("game-run-negative-seed", ["game", "run", "--seed", "-1"], "Invalid value for '--seed'"),
    ("game-run-workers-zero", ["game", "run", "--workers", "0"], "Invalid value for '--workers'"),
    ("game-run-runs-zero", ["game", "run", "--runs", "0"], "Invalid value for '--runs'"),
    ("game-run-agents-zero", ["game", "run", "--agents", "0"], "Invalid value for '--agents'"),
    ("game-run-negative-sigma", ["game", "run", "--sigma", "-1"], "Invalid value for '--sigma'"),
    ("game-run-target-grid", ["game", "run", "--target-grid", "1"], "target_grid"),
    ("game-run-agent-unknown", ["game", "run", "--agent", "sarsa"], "--agent 'sarsa'"),
    ("game-run-out-is-a-file", ["game", "run", "--out", "{tmp}/a_file.txt"], "is a file, not a folder"),
    ("game-theory-out-is-a-file", ["game", "theory", "--out", "{tmp}/a_file.txt"], "is a file, not a folder"),
    ("game-study-out-is-a-file", ["game", "study", "--out", "{tmp}/a_file.txt"], "is a file, not a folder"),
    ("game-study-negative-seed", ["game", "study", "--seed", "-4"], "Invalid value for '--seed'"),
    # ---------------------------------------------------------------- data
    ("data-orders-negative-seed", ["data", "orders", "--seed", "-1"], "Invalid value for '--seed'"),
    ("data-compare-negative-seed", ["data", "compare", "--seed", "-1"], "Invalid value for '--seed'"),
    ("data-info-empty-yaml", ["data", "info", "--config", "{tmp}/empty.yaml"], "the config file is empty"),
    ("data-info-ini", ["data", "info", "--config", "{tmp}/cfg.ini"], "unknown config file type '.ini'"),
    ("evaluate-data-corrupt-gzip", ["evaluate", "--data", "{tmp}/corrupt", "--out", "{tmp}/ev"],
     "AAA.csv.gz: cannot read file"),
    ("evaluate-data-negative-seed-in-config", ["evaluate", "--data", "{tmp}/neg_seed.json"], "seed"),
    ("evaluate-lookback-longer-than-history", ["evaluate", "--data", "{tmp}/lookback.json", "--out", "{tmp}/ev"],
     "orders.lookback = 500"),
    ("evaluate-daily-for-synthetic", ["evaluate", "--data", "{tmp}/data.json", "--daily", "{tmp}/daily.csv",
                                      "--out", "{tmp}/ev"], "daily"),
    ("data-orders-negative-seed-in-config", ["data", "orders", "--config", "{tmp}/neg_seed.json"], "seed"),
    ("data-info-not-json", ["data", "info", "--config", "{tmp}/not_json.json"], "cannot parse config"),
    # ---------------------------------------------------------------- lob
    ("lob-run-close-after-midnight", ["lob", "run", "--close", "25:00:00"], "is not a time of day"),
    ("lob-run-open-after-close", ["lob", "run", "--open", "10:00:00", "--close", "09:00:00"], "is not before --close"),
    ("lob-run-negative-seed", ["lob", "run", "--seed", "-1"], "--seed -1"),
    ("lob-run-unknown-config", ["lob", "run", "--config", "nope"], "unknown market config 'nope'"),
    ("lob-replay-negative-max-messages", ["lob", "replay", "--max-messages", "-5"], "--max-messages -5"),
    ("lob-realism-seeds-empty-range", ["lob", "realism-seeds", "--seeds", "5-1"], "the range is empty"),
    ("lob-stress-no-messages", ["lob", "stress", "--messages", "-1"], "--messages -1"),
    # ---------------------------------------------------------------- intags
    ("intags-cwgan-state-clip", ["intags", "cwgan-train", "--state-clip", "0.7", "--out", "{tmp}/cw"],
     "state_clip is a tail probability in [0, 0.5), got 0.7"),
    ("intags-cwgan-steps-zero", ["intags", "cwgan-train", "--steps", "0", "--out", "{tmp}/cw"], "steps >= 1"),
    # ---------------------------------------------------------------- root
    ("unknown-command", ["fly"], "No such command 'fly'"),
]


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    """The catalogue's files: a tiny data config, a file, an empty folder, broken configs and checkpoints."""
    from multiexec.algos.train import TrainConfig, checkpoint_meta
    from multiexec.execution.env import F_NOW, F_SEQ, ExecConfig
    from multiexec.policies.agents import AgentConfig, ExecAgent

    tmp = tmp_path_factory.mktemp("catalogue")
    data = {"source": "synthetic", "synthetic": {"n_assets": 6, "n_days": 10, "history_days": 8},
            "orders": {"top_k": 2}, "splits": {"valid_days": 2, "test_days": 2}, "seed": 1}
    (tmp / "data.json").write_text(json.dumps(data))
    (tmp / "a_file.txt").write_text("not a folder\n")
    (tmp / "folder").mkdir()
    (tmp / "bad_key.json").write_text(json.dumps({"sauce": "synthetic"}))
    (tmp / "bad_value.json").write_text(json.dumps({"max_assets": 1}))
    (tmp / "not_json.json").write_text("{bad")
    (tmp / "empty.yaml").write_text("")
    (tmp / "cfg.ini").write_text("[data]\nsource = synthetic\n")
    (tmp / "list.json").write_text("[1, 2]")
    (tmp / "train_key.json").write_text(json.dumps({"learning_rat": 1}))
    (tmp / "train_nested.json").write_text(json.dumps({"ppo": {"clip": -1}}))
    (tmp / "ddqn_zero.json").write_text(json.dumps({"ddqn": {"batch_size": 0}}))
    (tmp / "ddqn_big.json").write_text(json.dumps({"ddqn": {"batch_size": 10**6}}))
    (tmp / "corrupt").mkdir()
    for name in ("AAA", "BBB"):
        (tmp / "corrupt" / f"{name}.csv.gz").write_bytes(b"not gzip")
    (tmp / "neg_seed.json").write_text(json.dumps({"seed": -1}))
    (tmp / "lookback.json").write_text(json.dumps({**data, "orders": {"top_k": 2, "lookback": 500}}))
    (tmp / "garbage.pt").write_bytes(b"\x00\x01 this is not a checkpoint")
    torch.save(torch.zeros(3), tmp / "tensor.pt")
    agent = ExecAgent(AgentConfig(method="ppo", n_actions=5, f_seq=F_SEQ, f_now=F_NOW, rnn=4, hidden=8))
    meta = checkpoint_meta(TrainConfig(method="ppo"), ExecConfig(step_minutes=30))
    (tmp / "ppo_run").mkdir()
    agent.save(tmp / "ppo_run" / "best.pt", extra=meta)
    old = {**meta, "features": {"seq": ["price", "volume"], "now": ["elapsed"]}}
    agent.save(tmp / "old_features.pt", extra=old)
    torch.save({"config": TrainConfig(method="ppo").model_dump(), "agent": agent.state_dict(), "learner": {}},
               tmp / "last.pt")
    return tmp


def _ray_missing() -> bool:
    try:
        import ray  # noqa: F401
    except ImportError:
        return True
    return False


RAY = [("compare-ray-not-installed", ["compare", "--runner", "ray", "--out", "{tmp}/cmp"], "pip install -e '.[ray]'")]


def _check(argv, expected, scratch, capsys, monkeypatch):
    monkeypatch.chdir(scratch)  # defaults such as results/evaluate land in the scratch folder
    args = [a.replace("{tmp}", str(scratch)) for a in argv]
    status = run(args)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert status == 2, (status, out[-2000:], err[-2000:])
    assert len(errors) == 1, err
    assert expected in errors[0], errors[0]
    assert re.search(r"https?://", errors[0]) is None  # no pydantic URL


def test_catalogue_is_large_and_unique():
    ids = [c[0] for c in CASES]
    assert len(ids) == len(set(ids)) and len(ids) >= 60


@pytest.mark.parametrize(("argv", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line(argv, expected, scratch, capsys, monkeypatch):
    _check(argv, expected, scratch, capsys, monkeypatch)


@pytest.mark.skipif(not _ray_missing(), reason="Ray is installed")
@pytest.mark.parametrize(("argv", "expected"), [c[1:] for c in RAY], ids=[c[0] for c in RAY])
def test_ray_missing_is_one_line(argv, expected, scratch, capsys, monkeypatch):
    _check(argv, expected, scratch, capsys, monkeypatch)


COMMANDS = [["evaluate"], ["train"], ["compare"], ["game", "run"], ["game", "theory"], ["game", "study"], ["data"],
            ["lob"], []]


@pytest.mark.parametrize("cmd", COMMANDS, ids=[" ".join(c) or "root" for c in COMMANDS])
def test_help_shows_help_as_a_plain_flag(cmd, capsys):
    assert run([*cmd, "--help"]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if "--help" in x and "Show this message" in x)
    assert "<bool>" not in line and "BOOLEAN" not in line


def test_help_texts_agree(capsys):
    from multiexec.policies.registry import method_names
    from multiexec.policies.rules import RULES

    assert run(["evaluate", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.replace("│", " ").split())
    for name in (*RULES, *method_names()):
        assert re.search(rf"\b{name}\b", text), name
    assert "--data-seed" in text and "seed of the DATA" in text
    assert "--drop-missing" in text and "--daily" in text and "--orders" in text and "--decisions" in text
    assert run(["train", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.replace("│", " ").split())
    assert "seed of the RUN" in text and "seed of the DATA" in text and "--drop-missing" in text
    assert run(["compare", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.replace("│", " ").split())
    from multiexec.algos.cli import RAY_INSTALL

    assert RAY_INSTALL in text
    import inspect

    from multiexec.algos import runner

    assert RAY_INSTALL in inspect.getsource(runner.RayRunner.__init__)  # the error says the same command
