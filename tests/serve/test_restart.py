"""Restart safety: the service runs as its own process (``multiexec serve run``, uvicorn on 127.0.0.1), a day of a
trained IaC^T (a recurrent policy) is stepped halfway, the process is SIGKILLed and started again on the same
database; the rest of the day's decisions equal those of a service that never stopped."""

import os
import signal
import subprocess
import sys
import time

import httpx

from multiexec.serve.registry import register_checkpoint
from multiexec.serve.replay import day_request, step_request
from multiexec.serve.store import Store
from multiexec.testing import free_port

DAY_K = 5


def start_server(db: str, port: int, log) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "multiexec.cli", "serve", "run", "--db", db, "--port", str(port)],
                            stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    t0 = time.time()
    while time.time() - t0 < 60:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}")
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the server did not start")


def step_through(client, env, k, day_id, order_ids, decision, first, upto, cash):
    """Post steps first..upto-1 starting from ``decision``; returns the answers, the bodies and the cash."""
    answers, bodies = [], []
    for t in range(first, upto):
        body, cash = step_request(env, k, t, decision, cash, env.cfg, order_ids)
        r = client.post(f"/v1/days/{day_id}/steps", json=body)
        assert r.status_code == 200, r.text
        answers.append(r.json())
        bodies.append(body)
        decision = answers[-1]["decision"]
    return answers, bodies, cash


def test_sigkill_mid_day_then_the_day_goes_on_identically(tmp_path, env, iac_run, make_service, live):
    db = f"sqlite:///{tmp_path}/restart.db"
    store = Store(db)
    key = store.add_key("desk")
    register_checkpoint(store, iac_run)
    store.dispose()
    cash0 = float(env.orders[DAY_K].cash)

    # the uninterrupted reference (same code, in-process server)
    app, _, ref_key, _ = make_service()
    register_checkpoint(app.state.service.store, iac_run)
    ref = live(app)
    with httpx.Client(base_url=ref.url, headers={"X-API-Key": ref_key}, timeout=60) as c:
        created_ref = c.post("/v1/days", json=day_request(env, DAY_K, "iac_t", None, env.cfg)).json()
        ref_answers, _, _ = step_through(c, env, DAY_K, created_ref["day_id"], created_ref["order_ids"],
                                         created_ref["decision"], 0, env.n_steps, cash0)

    half = env.n_steps // 2
    port = free_port()
    with open(tmp_path / "server.log", "wb") as log:
        proc = start_server(db, port, log)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"X-API-Key": key}, timeout=60) as c:
                created = c.post("/v1/days", json=day_request(env, DAY_K, "iac_t", None, env.cfg)).json()
                day_id, ids = created["day_id"], created["order_ids"]
                first, bodies, cash = step_through(c, env, DAY_K, day_id, ids, created["decision"], 0, half, cash0)
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
        assert proc.returncode == -signal.SIGKILL

        proc = start_server(db, port, log)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"X-API-Key": key}, timeout=60) as c:
                state = c.get(f"/v1/days/{day_id}").json()
                assert state["next_index"] == half and state["status"] == "open"
                again = c.post(f"/v1/days/{day_id}/steps", json=bodies[-1])  # a repeat after the restart
                assert again.status_code == 200 and again.json() == first[-1]
                rest, _, _ = step_through(c, env, DAY_K, day_id, ids, first[-1]["decision"], half, env.n_steps, cash)
                report = c.get(f"/v1/days/{day_id}/report").json()
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)

    got = [created["decision"]] + [a["decision"] for a in first + rest]
    want = [created_ref["decision"]] + [a["decision"] for a in ref_answers]
    assert len(got) == len(want) == env.n_steps + 1
    for t, (g, w) in enumerate(zip(got, want)):
        assert g == w, f"decision {t} differs after the restart"
    assert report["metrics"] == ref_answers[-1]["report"]["metrics"]
    assert report["orders"] == ref_answers[-1]["report"]["orders"]
