"""Storage of the service (SQLAlchemy Core): API keys (hashed), the policy registry with versions, days and every
accepted step with its answer. SQLite file by default, PostgreSQL through a URL (``postgresql+psycopg://...``), the
same code for both. Every write is one transaction, committed before the service answers.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from typing import Any

from sqlalchemy import (Boolean, Column, DateTime, Float, ForeignKey, Integer, LargeBinary, MetaData, String, Table,
                        Text, UniqueConstraint, create_engine, event, func, insert, select, update)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from multiexec.errors import MultiexecError

meta = MetaData()

api_keys = Table(
    "api_keys", meta,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("admin", Boolean, nullable=False, default=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

policies = Table(
    "policies", meta,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("kind", String(16), nullable=False),  # rule | checkpoint
    Column("method", String(32), nullable=False),  # twap, vwap, ... or the learned method
    Column("exec_json", Text, nullable=False),  # the ExecConfig
    Column("minutes_per_day", Integer, nullable=False),
    Column("params_json", Text, nullable=False),  # rules: weights per symbol; checkpoints: provenance
    Column("blob", LargeBinary, nullable=True),  # the checkpoint file's bytes
    Column("sha256", String(64), nullable=True),
    Column("note", Text, nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("name", "version", name="uq_policy_version"),
)

days = Table(
    "days", meta,
    Column("id", String(32), primary_key=True),
    Column("owner", Integer, ForeignKey("api_keys.id"), nullable=False, index=True),
    Column("date", String(10), nullable=False),
    Column("status", String(16), nullable=False),  # open | finished | cancelled
    Column("policy_name", String(64), nullable=False),
    Column("policy_version", Integer, nullable=False),
    Column("n_orders", Integer, nullable=False),
    Column("n_steps", Integer, nullable=False),
    Column("next_index", Integer, nullable=False),
    Column("cash", Float, nullable=False),
    Column("request_json", Text, nullable=False),  # the validated creation request
    Column("response_json", Text, nullable=False),  # the first decisions
    Column("report_json", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

steps = Table(
    "steps", meta,
    Column("day_id", String(32), ForeignKey("days.id"), primary_key=True),
    Column("idx", Integer, primary_key=True),
    Column("body_sha256", String(64), nullable=False),
    Column("request_json", Text, nullable=False),
    Column("response_json", Text, nullable=False),
    Column("cash", Float, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def default_url(path: str = "multiexec-serve.db") -> str:
    return f"sqlite:///{path}"


class Store:
    """The service's database."""

    def __init__(self, url: str):
        self.url = url
        kw: dict[str, Any] = {"future": True}
        if url.startswith("sqlite"):
            kw["connect_args"] = {"check_same_thread": False, "timeout": 30}
        try:
            self.engine: Engine = create_engine(url, **kw)
        except Exception as exc:  # bad URL, missing driver
            raise MultiexecError(f"--db {url!r}: {exc}") from None
        if url.startswith("sqlite"):
            @event.listens_for(self.engine, "connect")
            def _pragmas(conn, _):  # durable commits, readers beside the writer
                cur = conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=FULL")
                cur.execute("PRAGMA foreign_keys=ON")
                cur.close()
        try:
            meta.create_all(self.engine)
        except Exception as exc:
            raise MultiexecError(f"cannot open the database {url!r}: {exc}") from None

    def dispose(self) -> None:
        self.engine.dispose()

    # ------------------------------------------------------------------ keys
    def add_key(self, name: str, admin: bool = False, key: str | None = None) -> str:
        """Create a key; returns the key itself (stored only as its hash)."""
        key = key or secrets.token_urlsafe(32)
        try:
            with self.engine.begin() as c:
                c.execute(insert(api_keys).values(name=name, key_hash=hash_key(key), admin=admin, created_at=now()))
        except IntegrityError:
            raise MultiexecError(f"a key named {name!r} (or the same key) exists already") from None
        return key

    def key_of(self, key: str) -> dict | None:
        with self.engine.connect() as c:
            row = c.execute(select(api_keys).where(api_keys.c.key_hash == hash_key(key))).mappings().first()
        return dict(row) if row else None

    def keys(self) -> list[dict]:
        with self.engine.connect() as c:
            return [dict(r) for r in c.execute(select(api_keys.c.id, api_keys.c.name, api_keys.c.admin,
                                                      api_keys.c.created_at)).mappings()]

    # ------------------------------------------------------------------ policies
    def add_policy(self, name: str, kind: str, method: str, exec_json: str, minutes_per_day: int, params: dict,
                   blob: bytes | None = None, note: str = "") -> int:
        """Register the next version of ``name``; returns the version."""
        sha = hashlib.sha256(blob).hexdigest() if blob is not None else None
        for _ in range(5):  # two registrations at once: the loser retries with the next number
            try:
                with self.engine.begin() as c:
                    last = c.execute(select(func.max(policies.c.version)).where(policies.c.name == name)).scalar()
                    version = (last or 0) + 1
                    c.execute(insert(policies).values(
                        name=name, version=version, kind=kind, method=method, exec_json=exec_json,
                        minutes_per_day=minutes_per_day, params_json=json.dumps(params), blob=blob, sha256=sha,
                        note=note, created_at=now()))
                return version
            except IntegrityError:
                continue
        raise MultiexecError(f"could not register a new version of {name!r}")

    def policy(self, name: str, version: int | None = None) -> dict | None:
        q = select(policies).where(policies.c.name == name)
        q = q.where(policies.c.version == version) if version is not None else q.order_by(policies.c.version.desc())
        with self.engine.connect() as c:
            row = c.execute(q.limit(1)).mappings().first()
        return dict(row) if row else None

    def policy_list(self) -> list[dict]:
        cols = [policies.c.name, policies.c.version, policies.c.kind, policies.c.method, policies.c.exec_json,
                policies.c.minutes_per_day, policies.c.sha256, policies.c.note, policies.c.created_at]
        with self.engine.connect() as c:
            return [dict(r) for r in c.execute(select(*cols).order_by(policies.c.name, policies.c.version)).mappings()]

    # ------------------------------------------------------------------ days
    def add_day(self, row: dict) -> None:
        t = now()
        with self.engine.begin() as c:
            c.execute(insert(days).values(**row, created_at=t, updated_at=t))

    def day(self, day_id: str) -> dict | None:
        with self.engine.connect() as c:
            row = c.execute(select(days).where(days.c.id == day_id)).mappings().first()
        return dict(row) if row else None

    def day_list(self, owner: int | None, limit: int = 200) -> list[dict]:
        cols = [days.c.id, days.c.owner, days.c.date, days.c.status, days.c.policy_name, days.c.policy_version,
                days.c.n_orders, days.c.n_steps, days.c.next_index, days.c.cash, days.c.created_at]
        q = select(*cols).order_by(days.c.created_at.desc()).limit(limit)
        if owner is not None:
            q = q.where(days.c.owner == owner)
        with self.engine.connect() as c:
            return [dict(r) for r in c.execute(q).mappings()]

    def steps_of(self, day_id: str) -> list[dict]:
        with self.engine.connect() as c:
            return [dict(r) for r in c.execute(select(steps).where(steps.c.day_id == day_id)
                                               .order_by(steps.c.idx)).mappings()]

    def step(self, day_id: str, idx: int) -> dict | None:
        with self.engine.connect() as c:
            row = c.execute(select(steps).where((steps.c.day_id == day_id) & (steps.c.idx == idx))).mappings().first()
        return dict(row) if row else None

    def add_step(self, day_id: str, idx: int, body_sha: str, request_json: str, response_json: str, cash: float,
                 status: str, report_json: str | None) -> None:
        """The step and the day's new state in one transaction (the day must still expect ``idx``)."""
        t = now()
        with self.engine.begin() as c:
            res = c.execute(update(days).where((days.c.id == day_id) & (days.c.next_index == idx)
                                               & (days.c.status == "open"))
                            .values(next_index=idx + 1, status=status, cash=cash, report_json=report_json,
                                    updated_at=t))
            if res.rowcount != 1:
                raise MultiexecError(f"day {day_id} no longer expects step {idx}")
            c.execute(insert(steps).values(day_id=day_id, idx=idx, body_sha256=body_sha, request_json=request_json,
                                           response_json=response_json, cash=cash, created_at=t))

    def cancel_day(self, day_id: str) -> bool:
        with self.engine.begin() as c:
            res = c.execute(update(days).where((days.c.id == day_id) & (days.c.status == "open"))
                            .values(status="cancelled", updated_at=now()))
        return res.rowcount == 1
