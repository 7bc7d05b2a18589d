"""``multiexec serve ...`` (run the service, keys, policy registry, replay) and ``multiexec retrain``."""

from __future__ import annotations

import gc
import json
import sys
from pathlib import Path

import typer

from multiexec.errors import MultiexecError

app = typer.Typer(no_args_is_help=True, help="The execution service: run it, manage keys and policies, replay days.")
key_app = typer.Typer(no_args_is_help=True, help="API keys (stored hashed; the key is printed once).")
policy_app = typer.Typer(no_args_is_help=True, help="The policy registry: rules and trained checkpoints, versioned.")
app.add_typer(key_app, name="key")
app.add_typer(policy_app, name="policy")

DB_HELP = "database URL: sqlite:///file.db (default) or postgresql+psycopg://user@host:port/db"
DEFAULT_DB = "sqlite:///multiexec-serve.db"


def _dataset(data: str, seed: int):
    """The dataset of a ``--data`` value (a source name or a data config file), loaded once per process."""
    from multiexec.algos.runner import load_data_cached
    from multiexec.data.dataset import DataConfig, load_config_file

    cfg = load_config_file(data) if Path(data).suffix.lower() in (".json", ".toml", ".yaml", ".yml") \
        else DataConfig(source=data, seed=seed)
    return load_data_cached(cfg)


def _reference_policy(row: dict, ds, cfg, checkpoint: Path | None):
    """The in-process policy that ``multiexec evaluate`` would run for a registry row."""
    from multiexec.policies.rules import make_rule_policy

    if row["kind"] == "rule":
        params = json.loads(row["params_json"]).get("params", {}) if "params_json" in row else {}
        train = ds.bars.date_index([ds.orders[i].date for i in ds.splits["train"]])
        return make_rule_policy(row["method"], ds.bars, train, cfg, **params)
    if checkpoint is None:
        raise MultiexecError("--compare with a learned policy needs --checkpoint (the same file as registered)")
    from multiexec.algos import load_policy

    return load_policy(checkpoint)


def _store(db: str):
    from multiexec.serve.store import Store

    return Store(db)


@app.command("run")
def run(
    db: str = typer.Option(DEFAULT_DB, help=DB_HELP),
    host: str = typer.Option("127.0.0.1", help="address to listen on"),
    port: int = typer.Option(8000, help="port"),
    threads: int = typer.Option(1, help="torch threads of the decisions (1 holds the tail under load; docs/serve.md)"),
    max_orders: int = typer.Option(2000, help="most orders per day"),
    max_body_mb: float = typer.Option(16.0, help="largest request body in MiB"),
    log_level: str = typer.Option("info", help="debug, info, warning"),
    omp_wait: str = typer.Option("passive", help="OpenMP wait policy of the decision threads: 'passive' (idle threads "
                                 "sleep, so 2 threads do not stall when another process holds a core) or 'default'"),
) -> None:
    """Serve the API (FastAPI + uvicorn, one process; OpenAPI at /docs, page at /, /healthz, /metrics)."""
    import os

    if omp_wait not in ("passive", "default"):
        raise MultiexecError(f"--omp-wait {omp_wait!r}: expected 'passive' or 'default'")
    if omp_wait == "passive":  # read once, when torch loads the OpenMP runtime: set it before the first import
        if "torch" in sys.modules and os.environ.get("OMP_WAIT_POLICY") != "PASSIVE":
            typer.echo("note: torch was loaded before --omp-wait could apply; the OpenMP default is in use", err=True)
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    import uvicorn

    from multiexec.serve.app import create_app
    from multiexec.serve.service import Settings, setup_logging

    setup_logging(log_level)
    settings = Settings(db=db, threads=threads, max_orders=max_orders, max_body_bytes=int(max_body_mb * 2**20))
    app = create_app(settings)
    # Move everything loaded so far (torch, numpy, the app: millions of objects) out of the garbage collector's
    # sight: otherwise the full collection that a step's parsed market data triggers walks them all, ~100 ms every
    # few steps of a 1,000-order day (benchmarks/bench_serve.py; docs/serve.md, "Speed").
    gc.collect()
    gc.freeze()
    uvicorn.run(app, host=host, port=port, log_config=None, access_log=False, workers=1, log_level=log_level)


@key_app.command("add")
def key_add(name: str = typer.Argument(..., help="who the key is for"),
            admin: bool = typer.Option(False, help="may manage policies"),
            db: str = typer.Option(DEFAULT_DB, help=DB_HELP)) -> None:
    """Create an API key and print it (only its hash is stored)."""
    typer.echo(_store(db).add_key(name, admin))


@key_app.command("list")
def key_list(db: str = typer.Option(DEFAULT_DB, help=DB_HELP)) -> None:
    for k in _store(db).keys():
        typer.echo(f"{k['id']}\t{k['name']}\t{'admin' if k['admin'] else 'trader'}\t{k['created_at']}")


@policy_app.command("add")
def policy_add(
    rule: str = typer.Option(None, help="a rule: twap, vwap, ac, side_split"),
    checkpoint: Path = typer.Option(None, help="a trained run folder (multiexec train) or its best.pt"),
    name: str = typer.Option(None, help="registry name (default: the rule or the method)"),
    data: str = typer.Option(None, help="data to estimate a rule on (its train split); twap and side_split need none"),
    seed: int = typer.Option(0, help="seed of the data"),
    step_minutes: int = typer.Option(30, help="rules: minutes per decision step"),
    minutes_per_day: int = typer.Option(390, help="rules without --data: minutes of the trading day"),
    note: str = typer.Option("", help="free text kept with the version"),
    db: str = typer.Option(DEFAULT_DB, help=DB_HELP),
) -> None:
    """Register the next version of a policy."""
    from multiexec.execution.env import ExecConfig
    from multiexec.serve import registry

    if (rule is None) == (checkpoint is None):
        raise MultiexecError("give exactly one of --rule and --checkpoint")
    store = _store(db)
    if checkpoint is not None:
        nm, v = registry.register_checkpoint(store, checkpoint, name=name, note=note)
    elif data is None:
        nm, v = registry.register_uniform_rule(store, rule, ExecConfig(step_minutes=step_minutes), minutes_per_day,
                                               name=name, note=note)
    else:
        ds = _dataset(data, seed)
        nm, v = registry.register_rule(store, rule, ds, ExecConfig(step_minutes=step_minutes), name=name, note=note)
    typer.echo(f"registered {nm} v{v}")


@policy_app.command("list")
def policy_list(db: str = typer.Option(DEFAULT_DB, help=DB_HELP)) -> None:
    for p in _store(db).policy_list():
        step = json.loads(p["exec_json"])["step_minutes"]
        typer.echo(f"{p['name']}\tv{p['version']}\t{p['kind']}\t{p['method']}\tstep {step}m\t{p['created_at']}\t"
                   f"{p['note']}")


@app.command("replay")
def replay_cmd(
    url: str = typer.Option("http://127.0.0.1:8000", help="the running service (loopback)"),
    key: str = typer.Option(..., envvar="MULTIEXEC_API_KEY", help="API key (or MULTIEXEC_API_KEY)"),
    data: str = typer.Option("synthetic", help="data source (as multiexec evaluate --data)"),
    split: str = typer.Option("test", help="which split's days to replay"),
    policy: str = typer.Option("twap", help="registry name of the policy"),
    version: int = typer.Option(None, help="policy version (default: the latest)"),
    seed: int = typer.Option(0, help="seed of the data"),
    max_days: int = typer.Option(None, help="replay only the first days of the split"),
    compare: bool = typer.Option(True, help="also evaluate the same policy in-process and print the differences"),
    checkpoint: Path = typer.Option(None, help="with --compare and a learned policy: its checkpoint"),
    out: Path = typer.Option(None, help="write orders.csv, days.csv and replay.json here"),
) -> None:
    """Drive a running service over HTTP with historical days, filling every child at its minute's close."""
    import httpx

    from multiexec.execution.env import ExecConfig, MultiOrderEnv
    from multiexec.execution.evaluate import run_policy
    from multiexec.execution.metrics import summarize
    from multiexec.serve.replay import _check, compare_results, replay

    ds = _dataset(data, seed)
    if split not in ds.splits:
        raise MultiexecError(f"unknown split {split!r}; the data has {sorted(ds.splits)}")
    ids = ds.splits[split][:max_days] if max_days else ds.splits[split]
    with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=60.0) as client:
        rows = _check(client.get("/v1/policies"), "policies")["policies"]
        mine = [p for p in rows if p["name"] == policy and (version is None or p["version"] == version)]
        if not mine:
            raise MultiexecError(f"--policy {policy} (version {version or 'latest'}) is not in the service's registry")
        row = mine[-1]
        cfg = ExecConfig.model_validate_json(row["exec_json"])
        env = MultiOrderEnv(ds.bars, ds.orders, cfg)
        orders, days, _ = replay(client, env, ids, policy, row["version"], progress=True)
    metrics = summarize(orders, days)
    result = {"policy": policy, "version": row["version"], "data": ds.name, "split": split, "days": len(ids),
              "metrics": metrics}
    if compare:
        ref = _reference_policy(row, ds, cfg, checkpoint)
        ev = run_policy(env, ref, ids, progress=False)
        result["evaluate_metrics"] = summarize(ev.orders, ev.days)
        result["differences"] = compare_results(orders, ev.orders)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        orders.to_csv(out / "orders.csv", index=False)
        days.to_csv(out / "days.csv", index=False)
        (out / "replay.json").write_text(json.dumps(result, indent=2))
    shown = ("EG_bps", "IS_bps", "POS_pct", "TOC_pct", "fill_pct", "n_orders")
    typer.echo(f"replay of {len(ids)} {split} days of {ds.name} through {url}, {policy} v{row['version']}:")
    typer.echo("service : " + ", ".join(f"{k} {metrics[k]:.10g}" for k in shown))
    if compare:
        em = result["evaluate_metrics"]
        typer.echo("evaluate: " + ", ".join(f"{k} {em[k]:.10g}" for k in shown))
        typer.echo("largest per-order differences: " + ", ".join(f"{k} {v:.3g}" for k, v in result["differences"].items()))


def retrain(
    method: str = typer.Option(..., help="a learned method (e.g. iac_t) or a rule (vwap, ac) to re-estimate"),
    data: str = typer.Option("synthetic", help="data source (as multiexec train --data)"),
    window_days: int = typer.Option(40, help="the rolling window: the latest order days to learn from"),
    valid_days: int = typer.Option(5, help="the window's last days used to select the checkpoint"),
    name: str = typer.Option(None, help="registry name (default: the method)"),
    seed: int = typer.Option(0, help="seed of the training"),
    data_seed: int = typer.Option(0, help="seed of the data"),
    train_days: int = typer.Option(2000, help="training budget in days"),
    eval_every: int = typer.Option(200, help="training days between validations"),
    step_minutes: int = typer.Option(30, help="minutes per decision step"),
    config: Path = typer.Option(None, help="JSON with more TrainConfig fields (ppo, rounds, ...)"),
    out: Path = typer.Option(None, help="run folder (default runs/retrain/<name>/<timestamp>)"),
    db: str = typer.Option(DEFAULT_DB, help=DB_HELP),
) -> None:
    """Train on a rolling window of the latest data and register the result as the policy's next version (the
    paper retrains every two months); running days keep their version."""
    import time

    from multiexec.execution.env import ExecConfig
    from multiexec.serve.registry import retrain as do_retrain

    overrides = {}
    if config is not None:
        if not config.is_file():
            raise MultiexecError(f"train config file not found: {config}")
        try:
            overrides = json.loads(config.read_text())
        except json.JSONDecodeError as exc:
            raise MultiexecError(f"{config}: not valid JSON ({exc})") from None
    ds = _dataset(data, data_seed)
    out = out or Path("runs") / "retrain" / (name or method) / time.strftime("%Y%m%d-%H%M%S")
    res = do_retrain(_store(db), method, ds, window_days, valid_days, ExecConfig(step_minutes=step_minutes), out,
                     name=name, seed=seed, train_days=train_days, eval_every=eval_every,
                     overrides=overrides)
    typer.echo(f"registered {res['name']} v{res['version']} ({res['kind']}): {res['note']}")


def register(root: typer.Typer) -> None:
    """Add ``serve`` and ``retrain`` to the root CLI."""
    root.add_typer(app, name="serve", help="The execution service: the day's orders in, decisions out, over HTTP.")
    root.command("retrain")(retrain)
