"""The service's API over real HTTP: bad input (each a JSON error naming the field, nothing stored), keys, steps in
order and idempotent, cancel, reports, versions kept by a day, health, metrics and the page."""

import copy
import json

import httpx
import numpy as np
import pytest
from sqlalchemy import func, select

from multiexec.serve.app import create_app
from multiexec.serve.registry import register_rule
from multiexec.serve.replay import day_request, step_request
from multiexec.serve.service import Settings
from multiexec.serve.store import api_keys, days, steps
from tests.serve.conftest import LiveServer

DAY = 2  # order set of the dataset used for the single-day tests


def _service(tmp, dataset, exec_cfg):
    app = create_app(Settings(db=f"sqlite:///{tmp}/serve.db", max_orders=20, max_body_bytes=256 * 1024))
    store = app.state.service.store
    keys = {"admin": store.add_key("admin", admin=True), "desk": store.add_key("desk"),
            "other": store.add_key("other-desk")}
    register_rule(store, "twap", dataset, exec_cfg)
    server = LiveServer(app)
    clients = {k: httpx.Client(base_url=server.url, headers={"X-API-Key": v}, timeout=30) for k, v in keys.items()}
    clients["anon"] = httpx.Client(base_url=server.url, timeout=30)
    return app, server, clients


@pytest.fixture(scope="module")
def shared(tmp_path_factory, dataset, exec_cfg):
    """One service for the bad-input cases (each checks that nothing changed)."""
    app, server, clients = _service(tmp_path_factory.mktemp("serve"), dataset, exec_cfg)
    yield app, clients
    server.stop()


@pytest.fixture
def svc(tmp_path, dataset, exec_cfg):
    """A fresh service."""
    app, server, clients = _service(tmp_path, dataset, exec_cfg)
    yield app, clients
    server.stop()
    for c in clients.values():
        c.close()


def counts(app) -> tuple[int, int, list]:
    with app.state.service.store.engine.connect() as c:
        n_days = c.execute(select(func.count()).select_from(days)).scalar()
        n_steps = c.execute(select(func.count()).select_from(steps)).scalar()
        state = [tuple(r) for r in c.execute(select(days.c.id, days.c.status, days.c.next_index, days.c.cash))]
    return n_days, n_steps, sorted(state)


def error_of(resp) -> dict:
    assert resp.headers["content-type"].startswith("application/json"), resp.text
    return resp.json()["error"]


def start_day(client, env, k=DAY, policy="twap", **changes):
    body = day_request(env, k, policy, None, env.cfg)
    body.update(changes)
    r = client.post("/v1/days", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def first_step(env, created, k=DAY) -> dict:
    body, _ = step_request(env, k, 0, created["decision"], float(env.orders[k].cash), env.cfg, created["order_ids"])
    return body


# ---------------------------------------------------------------------------------------------------------------------
# bad day requests: (name, mutation of the valid body, expected status, field the error names)

def _set(path, value):
    def f(b):
        obj = b
        for p in path[:-1]:
            obj = obj[p]
        obj[path[-1]] = value
    return f


def _dup_id(b):
    b["orders"][1]["id"] = b["orders"][0]["id"]


def _dup_symbol(b):
    b["orders"][1]["symbol"] = b["orders"][0]["symbol"]


def _drop_ref(b):
    b["reference"].pop(b["orders"][0]["symbol"])


def _first_ref(b, field, value):
    b["reference"][b["orders"][0]["symbol"]][field] = value


def _many_orders(b):
    base = b["orders"][0]
    b["orders"] = [{**base, "id": f"o{i}", "symbol": f"X{i}"} for i in range(25)]


BAD_DAYS = [
    ("negative amount", _set(("orders", 0, "amount"), -5.0), 422, "orders[0].amount"),
    ("zero amount", _set(("orders", 0, "amount"), 0.0), 422, "orders[0].amount"),
    ("NaN amount", _set(("orders", 0, "amount"), float("nan")), 422, "orders[0].amount"),
    ("infinite amount", _set(("orders", 0, "amount"), float("inf")), 422, "orders[0].amount"),
    ("huge amount", _set(("orders", 0, "amount"), 1e13), 422, "orders[0].amount"),
    ("amount not a number", _set(("orders", 0, "amount"), "many"), 422, "orders[0].amount"),
    ("unknown side", _set(("orders", 0, "side"), "hold"), 422, "orders[0].side"),
    ("empty order id", _set(("orders", 0, "id"), ""), 422, "orders[0].id"),
    ("duplicate order id", _dup_id, 422, "orders[1].id"),
    ("two orders on one symbol", _dup_symbol, 422, "orders[1].symbol"),
    ("no orders", _set(("orders",), []), 422, "orders"),
    ("more orders than the limit", _many_orders, 422, "orders"),
    ("negative cash", _set(("cash",), -1.0), 422, "cash"),
    ("NaN cash", _set(("cash",), float("nan")), 422, "cash"),
    ("bad date", _set(("date",), "2021-13-40"), 422, "date"),
    ("unknown policy", _set(("policy", "name"), "nope"), 422, "policy.name"),
    ("policy version that does not exist", _set(("policy", "version"), 99), 422, "policy.version"),
    ("policy version zero", _set(("policy", "version"), 0), 422, "policy.version"),
    ("step length the policy was not made for", _set(("step_minutes",), 15), 422, "step_minutes"),
    ("zero step length", _set(("step_minutes",), 0), 422, "step_minutes"),
    ("day length the rule was not made for", _set(("minutes_per_day",), 300), 422, "minutes_per_day"),
    ("symbol without reference", _drop_ref, 422, "reference."),
    ("reference close of zero", lambda b: _first_ref(b, "prev_close", 0.0), 422, "prev_close"),
    ("negative reference volume", lambda b: _first_ref(b, "step_volume", -1.0), 422, "step_volume"),
    ("reference of a symbol without order", lambda b: b["reference"].update(ZZZ={"prev_close": 1.0,
                                                                                 "step_volume": 1.0}), 422,
     "reference.ZZZ"),
    ("unknown field", _set(("bogus",), 1), 422, "bogus"),
]


@pytest.mark.parametrize("name, mutate, status, field", BAD_DAYS, ids=[c[0] for c in BAD_DAYS])
def test_bad_day_is_refused_and_nothing_stored(shared, env, name, mutate, status, field):
    app, c = shared
    before = counts(app)
    body = day_request(env, DAY, "twap", None, env.cfg)
    mutate(body)
    r = c["desk"].post("/v1/days", content=json.dumps(body), headers={"content-type": "application/json"})
    assert r.status_code == status, r.text
    assert field in error_of(r)["field"], r.json()
    assert counts(app) == before


@pytest.mark.parametrize("name, content, status", [
    ("body not JSON", b"{not json", 400),
    ("body a JSON list", b"[1, 2]", 422),
    ("body too large", b"{" + b" " * (300 * 1024) + b"}", 413),
], ids=["not JSON", "a list", "too large"])
def test_bad_bodies(shared, name, content, status):
    app, c = shared
    before = counts(app)
    for path in ("/v1/days", "/v1/days/abc/steps"):
        r = c["desk"].post(path, content=content, headers={"content-type": "application/json"})
        if path.endswith("steps") and r.status_code == 404:
            continue  # an unknown day is refused before its body is read
        assert r.status_code == status, r.text
        assert error_of(r)["field"] == "body"
    assert counts(app) == before


# ---------------------------------------------------------------------------------------------------------------------
# bad steps, on an open day at index 0 (one finished and one cancelled day beside it)

def _sym0(b):
    return next(iter(b["market"]))


def _market(field, j, value):
    def f(b):
        b["market"][_sym0(b)][field][j] = value
    return f


BAD_STEPS = [
    ("index out of order", _set(("index",), 1), 409, "index"),
    ("negative index", _set(("index",), -1), 422, "index"),
    ("symbol without market data", lambda b: b["market"].pop(_sym0(b)), 422, "market."),
    ("market data of a symbol without order", lambda b: b["market"].update(ZZZ=b["market"][_sym0(b)]), 422,
     "market.ZZZ"),
    ("too few minutes", lambda b: b["market"][_sym0(b)]["close"].pop(), 422, ".close"),
    ("NaN price", _market("close", 3, float("nan")), 422, ".close[3]"),
    ("non-positive price", _market("close", 0, -2.0), 422, ".close[0]"),
    ("zero open", _market("open", 1, 0.0), 422, ".open[1]"),
    ("negative volume", _market("volume", 0, -1.0), 422, ".volume[0]"),
    ("fill larger than the decision", lambda b: b["fills"][0].update(quantity=b["fills"][0]["quantity"] * 2 + 1),
     422, "fills[0].quantity"),
    ("fill at price zero", lambda b: b["fills"][0].update(price=0.0), 422, "fills[0].price"),
    ("fill at a negative price", lambda b: b["fills"][0].update(price=-10.0), 422, "fills[0].price"),
    ("fill without price", lambda b: b["fills"][0].update(price=None), 422, "fills[0].price"),
    ("negative fill", lambda b: b["fills"][0].update(quantity=-1.0), 422, "fills[0].quantity"),
    ("NaN fill", lambda b: b["fills"][0].update(quantity=float("nan")), 422, "fills[0].quantity"),
    ("fill of an unknown order", lambda b: b["fills"][0].update(id="nope"), 422, "fills[0].id"),
    ("two fills of one order", lambda b: b["fills"].append(dict(b["fills"][0])), 422, "fills["),
    ("buys beyond the cash", lambda b: [f.update(price=1e8) for f in b["fills"]], 422, "fills"),
    ("unknown field", _set(("extra",), True), 422, "extra"),
]


@pytest.mark.parametrize("name, mutate, status, field", BAD_STEPS, ids=[c[0] for c in BAD_STEPS])
def test_bad_step_is_refused_and_nothing_stored(shared, env, name, mutate, status, field):
    app, c = shared
    created = start_day(c["desk"], env)
    before = counts(app)
    body = first_step(env, created)
    mutate(body)
    r = c["desk"].post(f"/v1/days/{created['day_id']}/steps", content=json.dumps(body),
                       headers={"content-type": "application/json"})
    assert r.status_code == status, r.text
    assert field in error_of(r)["field"], r.json()
    assert counts(app) == before
    # the day goes on as if nothing had been posted
    ok = c["desk"].post(f"/v1/days/{created['day_id']}/steps", json=first_step(env, created))
    assert ok.status_code == 200, ok.text


def run_day(client, env, k=DAY, policy="twap", version=None):
    body = day_request(env, k, policy, version, env.cfg)
    created = client.post("/v1/days", json=body).json()
    decision, cash, t, out = created["decision"], float(env.orders[k].cash), 0, [created]
    while decision is not None:
        step, cash = step_request(env, k, t, decision, cash, env.cfg, created["order_ids"])
        r = client.post(f"/v1/days/{created['day_id']}/steps", json=step)
        assert r.status_code == 200, r.text
        out.append(r.json())
        decision, t = out[-1]["decision"], t + 1
    return created["day_id"], out


def test_steps_on_finished_or_cancelled_days_are_refused(svc, env):
    app, c = svc
    finished, _ = run_day(c["desk"], env)
    created = start_day(c["desk"], env)
    assert c["desk"].post(f"/v1/days/{created['day_id']}/cancel").json()["status"] == "cancelled"
    before = counts(app)
    step = first_step(env, created)
    for day_id, idx in ((finished, env.n_steps), (created["day_id"], 0)):
        r = c["desk"].post(f"/v1/days/{day_id}/steps", json={**step, "index": idx})
        assert r.status_code == 409 and error_of(r)["field"] == "index"
        assert ("finished" if day_id == finished else "cancelled") in error_of(r)["message"]
    r = c["desk"].post(f"/v1/days/{created['day_id']}/cancel")
    assert r.status_code == 409
    assert c["desk"].get(f"/v1/days/{created['day_id']}/report").status_code == 409
    assert counts(app) == before


# ---------------------------------------------------------------------------------------------------------------------
# steps, idempotency, reports

def test_repeated_step_returns_the_same_answer_and_out_of_order_names_the_index(svc, env):
    app, c = svc
    created = start_day(c["desk"], env)
    url = f"/v1/days/{created['day_id']}/steps"
    step = first_step(env, created)
    a = c["desk"].post(url, json=step)
    before = counts(app)
    b = c["desk"].post(url, json=step)
    assert a.status_code == b.status_code == 200 and a.content == b.content
    assert counts(app) == before
    changed = copy.deepcopy(step)
    changed["fills"][0]["quantity"] *= 0.5
    r = c["desk"].post(url, json=changed)
    assert r.status_code == 409 and "expected index 1" in error_of(r)["message"]
    r = c["desk"].post(url, json={**step, "index": 3})
    assert r.status_code == 409 and "expected index 1" in error_of(r)["message"]
    assert counts(app) == before


def test_decisions_split_over_minutes_and_report(svc, env, dataset):
    app, c = svc
    day_id, out = run_day(c["desk"], env)
    d0 = out[0]["decision"]
    L = d0["minutes"][1] - d0["minutes"][0]
    assert L == env.cfg.step_minutes and np.allclose(np.array(d0["per_minute"]) * L, d0["quantity"])
    o = env.orders[DAY]
    assert np.allclose(np.array(d0["quantity"]), o.amount / env.n_steps)  # TWAP: equal parts
    assert out[-1]["status"] == "finished" and out[-1]["decision"] is None
    rep = c["desk"].get(f"/v1/days/{day_id}/report").json()
    assert rep == {"day_id": day_id, **out[-1]["report"]}
    assert {"EG_bps", "fill_pct", "TOC_pct"} <= set(rep["metrics"])
    assert [r["symbol"] for r in rep["orders"]] == list(o.symbols)
    st = c["desk"].get(f"/v1/days/{day_id}").json()
    assert st["status"] == "finished" and len(st["cash"]) == env.n_steps + 1
    assert all(abs(x["filled_fraction"] - 1) < 1e-9 or x["side"] == "buy" for x in st["orders"])
    orders = c["desk"].get(f"/v1/days/{day_id}/orders").json()["orders"]
    assert [x["id"] for x in orders] == out[0]["order_ids"]


# ---------------------------------------------------------------------------------------------------------------------
# keys

def test_keys_see_and_change_only_their_days(svc, env):
    app, c = svc
    created = start_day(c["desk"], env)
    day_id = created["day_id"]
    step = first_step(env, created)
    before = counts(app)
    assert c["anon"].post("/v1/days", json=day_request(env, DAY, "twap", None, env.cfg)).status_code == 401
    bad = httpx.Client(base_url=str(c["anon"].base_url), headers={"X-API-Key": "wrong"})
    assert bad.post(f"/v1/days/{day_id}/steps", json=step).status_code == 401
    assert error_of(bad.get("/v1/days"))["field"] == "X-API-Key"
    for method, path, kw in (("post", f"/v1/days/{day_id}/steps", {"json": step}), ("get", f"/v1/days/{day_id}", {}),
                             ("post", f"/v1/days/{day_id}/cancel", {}), ("get", f"/v1/days/{day_id}/report", {})):
        r = getattr(c["other"], method)(path, **kw)
        assert r.status_code == 403, (path, r.text)
    assert c["other"].get("/v1/days").json()["days"] == []
    assert [d["id"] for d in c["desk"].get("/v1/days").json()["days"]] == [day_id]
    r = c["desk"].post("/v1/policies", json={"name": "twap", "rule": "twap"})
    assert r.status_code == 403
    assert counts(app) == before
    assert len(app.state.service.store.policy_list()) == 1
    # keys are stored hashed
    with app.state.service.store.engine.connect() as conn:
        stored = [r[0] for r in conn.execute(select(api_keys.c.key_hash))]
    assert c["desk"].headers["x-api-key"] not in stored and len(stored) == 3


def test_a_day_keeps_its_policy_version(svc, env):
    app, c = svc
    created = start_day(c["desk"], env)
    assert created["policy"]["version"] == 1
    r = c["admin"].post("/v1/policies", json={"name": "twap", "rule": "side_split"})
    assert r.status_code == 201 and r.json()["version"] == 2
    r = c["desk"].post(f"/v1/days/{created['day_id']}/steps", json=first_step(env, created))
    assert np.allclose(r.json()["decision"]["quantity"], env.orders[DAY].amount / env.n_steps)  # still TWAP
    assert c["desk"].get(f"/v1/days/{created['day_id']}").json()["policy"] == {"name": "twap", "version": 1}
    new = start_day(c["desk"], env)
    assert new["policy"]["version"] == 2 and new["policy"]["method"] == "side_split"
    side = np.where(np.array([o["side"] for o in day_request(env, DAY, "twap", None, env.cfg)["orders"]]) == "sell",
                    1, 0)
    assert np.all((np.array(new["decision"]["quantity"]) > 0) == side.astype(bool))  # sells first, buys later


def test_health_metrics_and_page(svc, env):
    app, c = svc
    day_id, _ = run_day(c["desk"], env)
    assert c["anon"].get("/healthz").json() == {"status": "ok"}
    m = c["anon"].get("/metrics").text
    assert 'multiexec_requests_total{route="/v1/days/{day_id}/steps",status="200"}' in m
    assert "multiexec_decision_seconds_count" in m
    assert c["anon"].get("/").status_code == 401
    page = c["desk"].get("/").text
    assert day_id[:8] in page and "<svg id=\"cash\"" in page and "<svg id=\"steps\"" in page
    assert page.count("class=\"progress\"") == env.orders[DAY].n
    doc = c["anon"].get("/openapi.json").json()
    assert {"DayIn", "StepIn", "OrderIn", "FillIn", "MinutesIn"} <= set(doc["components"]["schemas"])
    body = doc["paths"]["/v1/days"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/DayIn"}
