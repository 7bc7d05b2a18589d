"""Storage: the same code on PostgreSQL (a throwaway server in a temporary folder on a loopback port; skipped where
the binaries or the driver are absent), a day rebuilt from the database by a new service, the registry's versions
and ``multiexec retrain`` on a rolling window."""

import json
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import httpx
import numpy as np
import pytest

from multiexec.serve.registry import register_rule, window_dataset
from multiexec.serve.replay import day_request, step_request
from multiexec.serve.service import Service, Settings
from multiexec.testing import free_port

def _pg_bin() -> Path:
    """Where initdb/pg_ctl live: $MULTIEXEC_PG_BIN, the PATH, or Debian's /usr/lib/postgresql/<version>/bin."""
    if os.environ.get("MULTIEXEC_PG_BIN"):
        return Path(os.environ["MULTIEXEC_PG_BIN"])
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return debian[-1].parent if debian else Path("/usr/local/bin")


PG_BIN = _pg_bin()


@pytest.fixture
def postgres_url():
    pytest.importorskip("psycopg", reason="PostgreSQL driver absent (pip install -e '.[postgres]')")
    initdb, pg_ctl = PG_BIN / "initdb", PG_BIN / "pg_ctl"
    if not (initdb.exists() and pg_ctl.exists()):
        pytest.skip(f"PostgreSQL binaries absent from {PG_BIN}")
    prefix: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="multiexec-pg-"))  # under /tmp: reachable by the postgres user
    if os.geteuid() == 0:  # initdb refuses to run as root: run it as the postgres (or nobody) user
        user = next((u for u in ("postgres", "nobody") if _has_user(u)), None)
        if user is None or shutil.which("runuser") is None:
            pytest.skip("running as root without a postgres user to start PostgreSQL")
        shutil.chown(folder, user)
        prefix = ["runuser", "-u", user, "--"]
    port = free_port()
    data = folder / "data"
    run = lambda *a: subprocess.run(prefix + list(a), check=True, capture_output=True, timeout=120)  # noqa: E731
    run(str(initdb), "-D", str(data), "-A", "trust", "-U", "tester", "--no-sync")
    run(str(pg_ctl), "-D", str(data), "-l", str(folder / "log"), "-w", "-o",
        f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
    try:
        yield f"postgresql+psycopg://tester@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(prefix + [str(pg_ctl), "-D", str(data), "-m", "immediate", "stop"], capture_output=True,
                       timeout=60)
        shutil.rmtree(folder, ignore_errors=True)


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def _half_day_then_rebuild(url, env, dataset, exec_cfg, live):
    from multiexec.serve.app import create_app

    app = create_app(Settings(db=url))
    store = app.state.service.store
    key = store.add_key("desk")
    register_rule(store, "vwap", dataset, exec_cfg)
    server = live(app)
    k = 3
    with httpx.Client(base_url=server.url, headers={"X-API-Key": key}, timeout=60) as c:
        created = c.post("/v1/days", json=day_request(env, k, "vwap", None, env.cfg)).json()
        decision, cash, answers = created["decision"], float(env.orders[k].cash), []
        for t in range(env.n_steps):
            body, cash = step_request(env, k, t, decision, cash, env.cfg, created["order_ids"])
            answers.append(c.post(f"/v1/days/{created['day_id']}/steps", json=body).json())
            decision = answers[-1]["decision"]
            if t == 2:
                # a second service on the same database rebuilds the day from what was stored
                other = Service(Settings(db=url))
                row = other.store.day(created["day_id"])
                assert row["next_index"] == 3 and row["policy_version"] == 1
                assert other.live_day(row).decision() == decision
                other.store.dispose()
    assert answers[-1]["status"] == "finished"
    assert np.isfinite(answers[-1]["report"]["metrics"]["EG_bps"])
    store.dispose()


def test_sqlite_file_by_default(tmp_path, env, dataset, exec_cfg, live, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert Settings().db == "sqlite:///multiexec-serve.db"
    _half_day_then_rebuild(Settings().db, env, dataset, exec_cfg, live)
    assert (tmp_path / "multiexec-serve.db").is_file()


def test_postgres_through_the_same_code(postgres_url, env, dataset, exec_cfg, live):
    _half_day_then_rebuild(postgres_url, env, dataset, exec_cfg, live)


def test_retrain_registers_new_versions_on_the_latest_window(tmp_path, dataset, exec_cfg, capsys):
    from multiexec.cli import run
    from multiexec.serve.store import Store

    db = f"sqlite:///{tmp_path}/reg.db"
    store = Store(db)
    register_rule(store, "vwap", dataset, exec_cfg)
    win = window_dataset(dataset, 12, 3)
    assert win.splits["train"] == list(range(len(dataset.orders) - 12, len(dataset.orders) - 3))
    # a rule re-estimated on the window, through the command line (synthetic data: the CLI's default dataset)
    assert run(["retrain", "--method", "vwap", "--window-days", "12", "--valid-days", "3", "--db", db]) == 0
    assert "registered vwap v2 (rule)" in capsys.readouterr().out
    v1, v2 = store.policy("vwap", 1), store.policy("vwap", 2)
    w1, w2 = json.loads(v1["params_json"])["weights"], json.loads(v2["params_json"])["weights"]
    sym = sorted(set(w1) & set(w2))[0]
    assert not np.allclose(w1[sym], w2[sym])  # other days, other volume profile
    assert "12 days" in v2["note"]
    # a learned method: a tiny training on the window, registered as a checkpoint version
    cfg = tmp_path / "train.json"
    cfg.write_text(json.dumps({"rollout_days": 2}))
    assert run(["retrain", "--method", "ppo", "--window-days", "8", "--valid-days", "2", "--train-days", "2",
                "--eval-every", "2", "--config", str(cfg), "--out", str(tmp_path / "run"), "--db", db]) == 0
    p = store.policy("ppo")
    assert p["version"] == 1 and p["kind"] == "checkpoint" and p["blob"] and (tmp_path / "run" / "best.pt").is_file()
    assert run(["retrain", "--method", "vwap", "--window-days", "500", "--db", db]) == 2
    assert "only" in capsys.readouterr().err
    store.dispose()


def test_a_checkpoint_that_does_not_fit_is_refused_at_registration(tmp_path, iac_run):
    from multiexec.errors import MultiexecError
    from multiexec.execution.env import ExecConfig
    from multiexec.serve.registry import register_checkpoint
    from multiexec.serve.store import Store

    store = Store(f"sqlite:///{tmp_path}/reg.db")
    with pytest.raises(MultiexecError, match="action"):
        register_checkpoint(store, iac_run, cfg=ExecConfig(actions=[0.0, 0.5, 1.0]))
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(MultiexecError, match="broken.pt"):
        register_checkpoint(store, broken)
    assert store.policy_list() == []
    name, version = register_checkpoint(store, iac_run)
    row = store.policy(name, version)
    assert ExecConfig.model_validate_json(row["exec_json"]).step_minutes == 30 and row["kind"] == "checkpoint"
    store.dispose()
