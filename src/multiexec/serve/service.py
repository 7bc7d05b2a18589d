"""The service's logic, independent of HTTP: validate, decide, store (committed before any answer), rebuild a day
after a restart by replaying its stored steps through the same code (the policy's recurrent state included)."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import uuid
from collections import OrderedDict
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from multiexec.errors import MultiexecError
from multiexec.serve.engine import FieldError, ServiceDay, StepPost
from multiexec.serve.registry import check_fits, make_day_policy
from multiexec.serve.schemas import DayIn, StepIn
from multiexec.serve.store import Store

log = logging.getLogger("multiexec.serve")


class Settings(BaseModel):
    """How the service runs (``multiexec serve run`` options)."""

    model_config = ConfigDict(extra="forbid")
    db: str = Field("sqlite:///multiexec-serve.db", description="SQLAlchemy URL: sqlite:///file or postgresql+psycopg://")
    max_body_bytes: int = Field(16 * 2**20, ge=1024, description="largest request body")
    max_orders: int = Field(2000, ge=1, description="most orders per day")
    threads: int = Field(1, ge=1, description="torch threads of the decisions (see docs/serve.md)")
    max_live_days: int = Field(512, ge=1, description="days kept in memory (others are rebuilt from the database)")
    cache_dir: str | None = Field(None, description="where checkpoint files of the registry are unpacked")


class ApiError(Exception):
    """An HTTP error with a JSON body naming the field at fault."""

    def __init__(self, status: int, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.status, self.field, self.message = status, field, message


def _loc(loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def parse(model: type[BaseModel], body: bytes):
    """Body -> model, or a 400/422 naming the field."""
    try:
        return model.model_validate_json(body)  # one pass of pydantic's parser (much faster than json + validate)
    except ValidationError as exc:
        e = exc.errors()[0]
        if e["type"] == "json_invalid":
            raise ApiError(400, "body", f"not valid JSON ({e['msg']})") from None
        if e["type"] == "model_type":
            raise ApiError(422, "body", "expected a JSON object") from None
        msg = e["msg"] if e["type"] != "extra_forbidden" else "unknown field"
        raise ApiError(422, _loc(e["loc"]), msg) from None


class Service:
    """Days, steps and policies over a :class:`Store`."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.store = Store(settings.db)
        self._live: OrderedDict[str, ServiceDay] = OrderedDict()
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self.on_decision = None  # callback(seconds)
        import torch

        torch.set_num_threads(settings.threads)

    # ------------------------------------------------------------------ helpers
    def lock(self, day_id: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(day_id, threading.Lock())

    def _remember(self, day_id: str, day: ServiceDay) -> None:
        with self._guard:
            self._live[day_id] = day
            self._live.move_to_end(day_id)
            while len(self._live) > self.settings.max_live_days:
                self._live.popitem(last=False)

    def _forget(self, day_id: str) -> None:
        with self._guard:
            self._live.pop(day_id, None)

    def _timed(self, fn, *args, timing: dict | None = None):
        t0 = time.perf_counter()
        out = fn(*args)
        dt = time.perf_counter() - t0
        if self.on_decision is not None:
            self.on_decision(dt)
        if timing is not None:
            timing["decision"] = dt
        return out

    def owned_day(self, key: dict, day_id: str) -> dict:
        row = self.store.day(day_id)
        if row is None:
            raise ApiError(404, "day_id", f"no day {day_id}")
        if row["owner"] != key["id"]:
            raise ApiError(403, "day_id", "this day belongs to another key")
        return row

    # ------------------------------------------------------------------ days
    def _build(self, req: DayIn) -> tuple[ServiceDay, dict]:
        """A new day from a validated request (nothing stored)."""
        s = self.settings
        if len(req.orders) > s.max_orders:
            raise FieldError("orders", f"{len(req.orders)} orders, more than the limit of {s.max_orders}")
        ids, syms = {}, {}
        for i, o in enumerate(req.orders):
            if o.id in ids:
                raise FieldError(f"orders[{i}].id", f"duplicate order id {o.id!r} (also orders[{ids[o.id]}])")
            if o.symbol in syms:
                raise FieldError(f"orders[{i}].symbol", f"a second order on {o.symbol!r} (orders[{syms[o.symbol]}]); "
                                 "one order per symbol and day")
            ids[o.id], syms[o.symbol] = i, i
        for sym in req.reference:
            if sym not in syms:
                raise FieldError(f"reference.{sym}", "no order of the day is on this symbol")
        for i, o in enumerate(req.orders):
            if o.symbol not in req.reference:
                raise FieldError(f"reference.{o.symbol}", f"missing: orders[{i}] trades it")
        row = self.store.policy(req.policy.name, req.policy.version)
        if row is None:
            if req.policy.version is not None and self.store.policy(req.policy.name) is not None:
                raise FieldError("policy.version", f"policy {req.policy.name!r} has no version {req.policy.version}")
            raise FieldError("policy.name", f"no policy {req.policy.name!r} in the registry")
        try:
            cfg = check_fits(row, req.step_minutes, req.minutes_per_day)
        except FieldError:
            raise
        except MultiexecError as exc:
            field, _, msg = str(exc).partition(": ")
            raise FieldError(field, msg) from None
        symbols = [o.symbol for o in req.orders]
        try:
            policy = make_day_policy(row, symbols, Path(s.cache_dir) if s.cache_dir else None)
        except MultiexecError as exc:
            field, _, msg = str(exc).partition(": ")
            raise FieldError(field, msg) from None
        side = np.array([1 if o.side == "sell" else -1 for o in req.orders], dtype=np.int8)
        amount = np.array([o.amount for o in req.orders])
        ref = [req.reference[sym] for sym in symbols]
        day = self._timed(lambda: ServiceDay(
            str(req.date), symbols, side, amount, req.cash, np.array([r.prev_close for r in ref]),
            np.array([r.step_volume for r in ref]), req.minutes_per_day, cfg, policy))
        day.order_ids = [o.id for o in req.orders]
        return day, row

    def create_day(self, key: dict, body: bytes) -> dict:
        req = parse(DayIn, body)
        day, row = self._build(req)
        day_id = uuid.uuid4().hex
        canonical = req.model_dump(mode="json")
        canonical["policy"]["version"] = row["version"]  # the day keeps this version
        resp = {"day_id": day_id, "status": "open", "date": str(req.date),
                "policy": {"name": row["name"], "version": row["version"], "kind": row["kind"],
                           "method": row["method"]},
                "n_steps": day.n_steps, "next_index": 0, "order_ids": [o.id for o in req.orders],
                "decision": day.decision()}
        self.store.add_day({"id": day_id, "owner": key["id"], "date": str(req.date), "status": "open",
                            "policy_name": row["name"], "policy_version": row["version"], "n_orders": day.n,
                            "n_steps": day.n_steps, "next_index": 0, "cash": day.cash,
                            "request_json": json.dumps(canonical), "response_json": json.dumps(resp)})
        self._remember(day_id, day)
        log.info("day created", extra={"fields": {"day_id": day_id, "orders": day.n, "policy": row["name"],
                                                  "version": row["version"], "key": key["name"]}})
        return resp

    def live_day(self, row: dict) -> ServiceDay:
        """The day in memory, or rebuilt from its stored creation request and steps (same code, same decisions)."""
        with self._guard:
            day = self._live.get(row["id"])
        if day is not None and day.t == row["next_index"]:
            return day
        req = DayIn.model_validate_json(row["request_json"])
        day, _ = self._build(req)
        for st in self.store.steps_of(row["id"]):
            step = StepIn.model_validate_json(st["request_json"])
            day.post(self._step_post(day, step))
            stored = json.loads(st["response_json"]).get("decision")
            if stored is not None and stored != day.decision():
                log.error("rebuilt decision differs", extra={"fields": {"day_id": row["id"], "index": st["idx"]}})
        self._remember(row["id"], day)
        log.info("day rebuilt", extra={"fields": {"day_id": row["id"], "steps": day.t}})
        return day

    def _step_post(self, day: ServiceDay, step: StepIn) -> StepPost:
        """The posted step as arrays in the day's order, or a FieldError."""
        t = day.t
        L = int(day.edges[t + 1] - day.edges[t])
        symbols = day.env.orders[0].symbols
        pos = {s: i for i, s in enumerate(symbols)}
        for sym in step.market:
            if sym not in pos:
                raise FieldError(f"market.{sym}", "no order of the day is on this symbol")
        typical = day.cfg.price == "typical"
        fields = ("open", "close", "volume") + (("high", "low") if typical else ())
        rows = []
        for i, sym in enumerate(symbols):
            md = step.market.get(sym)
            if md is None:
                raise FieldError(f"market.{sym}", f"no market data for the step (orders[{i}] trades it)")
            rows.append(md)
        arr = {}
        for f in fields:
            vals = [getattr(md, f) for md in rows]
            for sym, v in zip(symbols, vals):
                if v is None:
                    raise FieldError(f"market.{sym}.{f}", "required (the policy executes at the typical price)")
                if len(v) != L:
                    raise FieldError(f"market.{sym}.{f}", f"{len(v)} minutes, the step has {L}")
            a = np.array(vals, dtype=np.float64).reshape(day.n, L)
            bad = ~np.isfinite(a) | ((a < 0) if f == "volume" else (a <= 0))
            if bad.any():
                i, j = (int(x) for x in np.argwhere(bad)[0])
                what = "a finite volume >= 0" if f == "volume" else "a finite price > 0"
                raise FieldError(f"market.{symbols[i]}.{f}[{j}]", f"must be {what}, got {vals[i][j]}")
            arr[f] = a
        price = arr["close"] if day.cfg.price == "close" else arr["open"] if day.cfg.price == "open" \
            else (arr["high"] + arr["low"] + arr["close"]) / 3.0
        ids = {oid: i for i, oid in enumerate(day.order_ids)}
        filled = np.zeros(day.n)
        fill_price = np.full(day.n, np.nan)
        seen: dict[str, int] = {}
        for j, f in enumerate(step.fills):
            if f.id not in ids:
                raise FieldError(f"fills[{j}].id", f"no order {f.id!r} in this day")
            if f.id in seen:
                raise FieldError(f"fills[{j}].id", f"a second fill for {f.id!r} (fills[{seen[f.id]}])")
            seen[f.id] = j
            if f.quantity > 0 and f.price is None:
                raise FieldError(f"fills[{j}].price", "required where the quantity is positive")
            filled[ids[f.id]] = f.quantity
            fill_price[ids[f.id]] = f.price if f.price is not None else np.nan
        return StepPost(arr["open"], price, arr["volume"], filled, fill_price)

    def post_step(self, key: dict, day_id: str, body: bytes, timing: dict | None = None) -> dict:
        """Apply a posted step; ``timing['decision']``: the in-process decision's seconds (environment + policy)."""
        row = self.owned_day(key, day_id)
        step = parse(StepIn, body)
        sha = hashlib.sha256(body).hexdigest()
        with self.lock(day_id):
            row = self.store.day(day_id)
            if step.index < row["next_index"]:
                st = self.store.step(day_id, step.index)
                if st is not None and (st["body_sha256"] == sha or
                                       StepIn.model_validate_json(st["request_json"]) == step):
                    return json.loads(st["response_json"])  # an idempotent repeat
                raise ApiError(409, "index", f"step {step.index} was already posted with other content; expected "
                               f"index {row['next_index']}")
            if row["status"] != "open":
                raise ApiError(409, "index", f"the day is {row['status']}: no more steps")
            if step.index > row["next_index"]:
                raise ApiError(409, "index", f"out of order: expected index {row['next_index']}, got {step.index}")
            day = self.live_day(row)
            post = self._step_post(day, step)
            try:
                self._timed(day.post, post, timing=timing)
            except FieldError:
                self._forget(day_id)  # the day refused the step before changing (rebuilt if in doubt)
                raise
            try:
                done = day.done
                report = day.report() if done else None
                resp = {"day_id": day_id, "index": step.index, "status": "finished" if done else "open",
                        "next_index": step.index + 1, "cash": day.cash,
                        "decision": None if done else day.decision(), "report": report}
                self.store.add_step(day_id, step.index, sha, body.decode(), json.dumps(resp), day.cash,
                                    "finished" if done else "open", json.dumps(report) if done else None)
            except BaseException:
                self._forget(day_id)
                raise
            if done:  # a finished day is only read from now on (its report is stored): free its memory
                self._forget(day_id)
                with self._guard:
                    self._locks.pop(day_id, None)
        log.info("step", extra={"fields": {"day_id": day_id, "index": step.index, "done": done, "key": key["name"]}})
        return resp

    def cancel(self, key: dict, day_id: str) -> dict:
        row = self.owned_day(key, day_id)
        with self.lock(day_id):
            if not self.store.cancel_day(day_id):
                raise ApiError(409, "day_id", f"the day is {self.store.day(day_id)['status']}: cannot cancel")
            self._forget(day_id)
            with self._guard:
                self._locks.pop(day_id, None)
        log.info("day cancelled", extra={"fields": {"day_id": day_id, "key": key["name"]}})
        return {"day_id": day_id, "status": "cancelled", "next_index": row["next_index"]}

    # ------------------------------------------------------------------ reading
    def state(self, key: dict, day_id: str) -> dict:
        """The day's state: status, cash path, and per order the executed and the decided fraction per step."""
        row = self.owned_day(key, day_id)
        with self.lock(day_id):
            day = self.live_day(row)
            env, t = day.env, day.t
            req = env.req_hist[0, :, :t]
            exe = env.exec_hist[0, :, :t]
            pending = None if day.done else day.requested
            if row["status"] != "open":
                self._forget(day_id)  # read once, not kept
        req_all = np.concatenate([req, pending[:, None]], axis=1) if pending is not None else req
        orders = []
        for i, oid in enumerate(day.order_ids):
            orders.append({"id": oid, "symbol": env.orders[0].symbols[i], "side": "sell" if day.side[i] > 0 else "buy",
                           "amount": float(day.amount[i]), "filled_fraction": float(exe[i].sum()),
                           "decided_fraction": float(req_all[i].sum()), "executed": exe[i].tolist(),
                           "decided": req_all[i].tolist()})
        return {"day_id": day_id, "date": row["date"], "status": row["status"], "next_index": row["next_index"],
                "n_steps": row["n_steps"], "policy": {"name": row["policy_name"], "version": row["policy_version"]},
                "cash": env.cash_hist[0, : t + 1].tolist(), "binding": env.binding_hist[0, :t].astype(bool).tolist(),
                "orders": orders}

    def report(self, key: dict, day_id: str) -> dict:
        row = self.owned_day(key, day_id)
        if row["status"] != "finished":
            raise ApiError(409, "day_id", f"the day is {row['status']}: the report comes at its end")
        return {"day_id": day_id, **json.loads(row["report_json"])}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, message and the record's ``fields``."""

    def format(self, record: logging.LogRecord) -> str:
        out = {"ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
               "level": record.levelname.lower(), "logger": record.name, "msg": record.getMessage()}
        out.update(getattr(record, "fields", {}) or {})
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def setup_logging(level: str = "info") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    for name in ("multiexec.serve", "uvicorn.error"):
        lg = logging.getLogger(name)
        lg.handlers[:] = [handler]
        lg.setLevel(level.upper())
        lg.propagate = False
