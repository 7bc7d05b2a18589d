"""The page at ``/`` in a real headless browser (Debian's chromium; skipped where it is absent): the days, a day's
cash path, executed vs decided per step and each order's progress are in the rendered document."""

import shutil
import subprocess

import httpx
import pytest

from multiexec.serve.registry import register_rule
from multiexec.serve.replay import day_request, step_request

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chrome-headless-shell")


def test_page_in_headless_chromium(make_service, live, env, dataset, exec_cfg, tmp_path):
    browser = next((b for b in map(shutil.which, BROWSERS) if b), None)
    if browser is None:
        pytest.skip("no chromium on this machine (apt-get install chromium)")
    app, _, key, _ = make_service()
    register_rule(app.state.service.store, "twap", dataset, exec_cfg)
    server = live(app)
    k = 4
    with httpx.Client(base_url=server.url, headers={"X-API-Key": key}, timeout=60) as c:
        created = c.post("/v1/days", json=day_request(env, k, "twap", None, env.cfg)).json()
        decision, cash = created["decision"], float(env.orders[k].cash)
        for t in range(3):
            body, cash = step_request(env, k, t, decision, cash, env.cfg, created["order_ids"])
            decision = c.post(f"/v1/days/{created['day_id']}/steps", json=body).json()["decision"]
    url = f"{server.url}/?key={key}&day={created['day_id']}"
    args = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run(args + ["--dump-dom", url], capture_output=True, text=True, timeout=120).stdout
    assert f'data-day="{created["day_id"]}"' in dom
    assert '<svg id="cash"' in dom and '<svg id="steps"' in dom and "<polyline" in dom
    assert dom.count('class="progress"') == env.orders[k].n
    assert "step 3 of 13" in dom
    shot = tmp_path / "page.png"
    subprocess.run(args + [f"--screenshot={shot}", "--window-size=900,1200", url], capture_output=True, timeout=120)
    assert shot.is_file() and shot.stat().st_size > 5000
