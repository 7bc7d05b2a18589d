"""The HTTP face of the service (FastAPI; OpenAPI at ``/docs``). See docs/serve.md for the API."""

from __future__ import annotations

import json
import logging
import time

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.concurrency import run_in_threadpool

from multiexec.errors import MultiexecError
from multiexec.serve.engine import FieldError
from multiexec.serve.page import render_page
from multiexec.serve.schemas import DayIn, RulePolicyIn, StepIn
from multiexec.serve.service import ApiError, Service, Settings, parse

log = logging.getLogger("multiexec.serve")


def _json(obj, status: int = 200) -> Response:
    return Response(json.dumps(obj, default=str), status_code=status, media_type="application/json")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    svc = Service(settings)
    reg = CollectorRegistry()
    m_req = Counter("multiexec_requests_total", "HTTP requests", ["route", "status"], registry=reg)
    m_lat = Histogram("multiexec_request_seconds", "HTTP request time", ["route"], registry=reg,
                      buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10))
    m_dec = Histogram("multiexec_decision_seconds", "in-process decision time (environment + policy)", registry=reg,
                      buckets=(.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1))
    m_live = Gauge("multiexec_live_days", "days held in memory", registry=reg)
    svc.on_decision = m_dec.observe

    app = FastAPI(title="multiexec execution service", version="1",
                  description="The day's orders in, execution decisions out (IaC paper §6). See docs/serve.md.")
    app.state.service = svc

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError):
        return JSONResponse({"error": {"field": exc.field, "message": exc.message}}, status_code=exc.status)

    @app.exception_handler(FieldError)
    async def _field_error(request: Request, exc: FieldError):
        return JSONResponse({"error": {"field": exc.field, "message": exc.detail}}, status_code=422)

    @app.exception_handler(MultiexecError)
    async def _user_error(request: Request, exc: MultiexecError):
        return JSONResponse({"error": {"field": "body", "message": str(exc)}}, status_code=422)

    @app.middleware("http")
    async def _observe(request: Request, call_next):
        t0 = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            route = request.scope.get("route")
            path = getattr(route, "path", "unmatched")
            dt = time.perf_counter() - t0
            m_req.labels(path, str(status)).inc()
            m_lat.labels(path).observe(dt)
            log.info("request", extra={"fields": {"method": request.method, "path": request.url.path,
                                                  "status": status, "ms": round(dt * 1e3, 3)}})

    def key_of(request: Request, admin: bool = False) -> dict:
        raw = request.headers.get("x-api-key")
        auth = request.headers.get("authorization", "")
        if raw is None and auth.lower().startswith("bearer "):
            raw = auth[7:].strip()
        if raw is None and request.url.path == "/":
            raw = request.query_params.get("key")
        if not raw:
            raise ApiError(401, "X-API-Key", "missing API key")
        key = svc.store.key_of(raw)
        if key is None:
            raise ApiError(401, "X-API-Key", "unknown API key")
        if admin and not key["admin"]:
            raise ApiError(403, "X-API-Key", "this needs an admin key")
        return key

    async def body_of(request: Request) -> bytes:
        limit = settings.max_body_bytes
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            raise ApiError(413, "body", f"{int(length)} bytes, more than the limit of {limit}")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise ApiError(413, "body", f"more than the limit of {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    @app.get("/healthz")
    async def healthz():
        def check():
            svc.store.policy("-")  # a round trip to the database
        await run_in_threadpool(check)
        return {"status": "ok"}

    @app.get("/metrics")
    async def metrics():
        m_live.set(len(svc._live))
        return Response(generate_latest(reg), media_type=CONTENT_TYPE_LATEST)

    def body_schema(model) -> dict:
        return {"requestBody": {"required": True, "content": {"application/json": {
            "schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}}}

    @app.post("/v1/days", status_code=201, openapi_extra=body_schema(DayIn))
    async def create_day(request: Request):
        """Start a day: date, cash, orders, policy, step length, reference numbers; returns the day id and the
        first step's decisions."""
        key = await run_in_threadpool(key_of, request)
        body = await body_of(request)
        return _json(await run_in_threadpool(svc.create_day, key, body), 201)

    @app.post("/v1/days/{day_id}/steps", openapi_extra=body_schema(StepIn))
    async def post_step(day_id: str, request: Request):
        """Report the step just ended (its index, market minutes, fills); returns the next step's decisions."""
        key = await run_in_threadpool(key_of, request)
        body = await body_of(request)
        timing: dict = {}
        resp = _json(await run_in_threadpool(svc.post_step, key, day_id, body, timing))
        if "decision" in timing:  # the in-process share (environment step + policy), for clients and benchmarks
            resp.headers["Server-Timing"] = f"decision;dur={timing['decision'] * 1e3:.3f}"
        return resp

    @app.get("/v1/days")
    async def list_days(request: Request):
        key = await run_in_threadpool(key_of, request)
        rows = await run_in_threadpool(svc.store.day_list, key["id"])
        return _json({"days": [{k: v for k, v in r.items() if k != "owner"} for r in rows]})

    @app.get("/v1/days/{day_id}")
    async def day_state(day_id: str, request: Request):
        key = await run_in_threadpool(key_of, request)
        return _json(await run_in_threadpool(svc.state, key, day_id))

    @app.get("/v1/days/{day_id}/orders")
    async def day_orders(day_id: str, request: Request):
        key = await run_in_threadpool(key_of, request)
        st = await run_in_threadpool(svc.state, key, day_id)
        return _json({"day_id": day_id, "orders": st["orders"]})

    @app.get("/v1/days/{day_id}/report")
    async def day_report(day_id: str, request: Request):
        key = await run_in_threadpool(key_of, request)
        return _json(await run_in_threadpool(svc.report, key, day_id))

    @app.post("/v1/days/{day_id}/cancel")
    async def cancel_day(day_id: str, request: Request):
        key = await run_in_threadpool(key_of, request)
        return _json(await run_in_threadpool(svc.cancel, key, day_id))

    @app.get("/v1/policies")
    async def list_policies(request: Request):
        await run_in_threadpool(key_of, request)
        return _json({"policies": await run_in_threadpool(svc.store.policy_list)})

    @app.post("/v1/policies", status_code=201, openapi_extra=body_schema(RulePolicyIn))
    async def add_policy(request: Request):
        """Admin: register the next version of a rule that needs no data (twap, side_split)."""
        from multiexec.execution.env import ExecConfig
        from multiexec.serve.registry import register_uniform_rule

        await run_in_threadpool(key_of, request, True)
        req = parse(RulePolicyIn, await body_of(request))
        name, version = await run_in_threadpool(
            register_uniform_rule, svc.store, req.rule, ExecConfig(step_minutes=req.step_minutes),
            req.minutes_per_day, req.name, req.note)
        return _json({"name": name, "version": version}, 201)

    @app.get("/", response_class=HTMLResponse)
    async def page(request: Request):
        try:
            key = await run_in_threadpool(key_of, request)
        except ApiError:
            return HTMLResponse(render_page(None, [], None), status_code=401)
        rows = await run_in_threadpool(svc.store.day_list, key["id"])
        chosen = request.query_params.get("day") or (rows[0]["id"] if rows else None)
        state = None
        if chosen:
            try:
                state = await run_in_threadpool(svc.state, key, chosen)
            except ApiError:
                state = None
        via_query = "x-api-key" not in request.headers and "authorization" not in request.headers
        return HTMLResponse(render_page(key, rows, state, request.query_params.get("key") if via_query else None))

    def openapi() -> dict:
        """FastAPI's schema, with the request bodies (read raw, validated by the models) under components."""
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            schemas = doc.setdefault("components", {}).setdefault("schemas", {})
            for model in (DayIn, StepIn, RulePolicyIn):
                js = model.model_json_schema(ref_template="#/components/schemas/{model}")
                schemas.update(js.pop("$defs", {}))
                schemas[model.__name__] = js
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi
    return app
