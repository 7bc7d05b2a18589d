"""``multiexec evaluate``, ``multiexec train`` and ``multiexec compare``: execution policies from the command line,
on the data's bars or in the reactive LOB market (``--market lob:<config>``)."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from multiexec.errors import MultiexecError, check_out_dir, check_out_file, validated
from multiexec.policies.registry import get_method, method_names, methods_help

if TYPE_CHECKING:  # the CLI imports the heavy modules inside the commands, so that --help is fast
    from multiexec.execution.policy import Policy

DATA_HELP = (
    "data source: 'synthetic' (built-in market), 'us_minute_2018' (../shared/data), a directory of per-ticker "
    "CSVs, a long-table file, or a data config file (.json/.toml/.yaml)"
)
METHODS_HELP = methods_help()
RULES_HELP = "twap, vwap, ac, side_split"  # multiexec.policies.rules.RULES (a test checks they agree)
POLICY_HELP = (f"comma-separated policies: rules ({RULES_HELP}) and/or one learned method ({METHODS_HELP}) with "
               "--checkpoint; TWAP is always added as the reference of the paired test")
MARKET_HELP = ("where the orders trade: 'bars' (the data's minute bars, nothing reacts) or 'lob:<config>' (the "
               "LOB simulator, e.g. lob:desk or lob:desk-mini; its simulated days replace --data)")
LOB_DAYS_HELP = "with --market lob:...: consecutive simulated days (history, orders and splits come from them)"
DATA_SEED_HELP = "seed of the DATA: synthetic market, order generation, simulated LOB days (not of the run)"
RUN_SEED_HELP = "seed of the RUN: network initialisation and sampling of training days (not of the data)"
DROP_MISSING_HELP = "drop an asset that lacks a day of the data instead of stopping with an error (on_missing=drop)"
DAILY_HELP = ("daily history file used to rank the orders ('buy winners, sell losers'); 'none': the minute bars' "
              "own days; default: the data's (config 'daily', 'auto')")
SCREEN_HELP = ("minute bars that fail the screen (price outliers, high < low, open/close outside the bar's low-high range): "
               "'error' stops naming the bar, 'repair' repairs and lists them (README, Data)")
ORDERS_HELP = "your own orders CSV (date,symbol,side,amount[,cash]) instead of generated orders"
RAY_INSTALL = "pip install -e '.[ray]'"
MAX_STEP_MINUTES = 24 * 60


def _data_config(data: str, seed: int, drop_missing: bool = False, daily: str | None = None,
                 orders: Path | None = None, screen: str | None = None):
    """The DataConfig of a ``--data`` value, with the command line's overrides (``--data-seed`` only when the
    value is not a config file: a config file carries its own seed)."""
    from multiexec.data.dataset import DataConfig, load_config_file

    if Path(data).suffix.lower() in (".json", ".toml", ".yaml", ".yml"):
        cfg = load_config_file(data)
        where = data
    else:
        cfg = validated(DataConfig, {"source": data, "seed": seed}, "--data")
        where = "--data"
    values = cfg.model_dump()
    if drop_missing:
        values["on_missing"] = "drop"
    if daily is not None:
        values["daily"] = None if daily.strip().lower() == "none" else daily
    if screen is not None:
        if screen not in ("error", "repair"):
            raise MultiexecError(f"--screen {screen!r}: expected 'error' or 'repair'")
        values["screen"] = screen
    if orders is not None:
        if not orders.is_file():
            raise MultiexecError(f"--orders {orders}: file not found")
        values["orders"] = {**values["orders"], "csv": str(orders)}
    return validated(DataConfig, values, where) if values != cfg.model_dump() else cfg


def _read_json(path: Path | None, what: str) -> dict:
    if path is None:
        return {}
    if not path.is_file():
        raise MultiexecError(f"{what} file not found: {path}")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MultiexecError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise MultiexecError(f"{path}: {what} must be a JSON object of fields, got {type(data).__name__}")
    return data


def _floats(text: str, what: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise MultiexecError(f"{what}: expected comma-separated numbers, got {text!r}") from None


def _pydantic(cls, values: dict, what: str):
    return validated(cls, values, what)


def _check_step_minutes(step_minutes: int) -> None:
    """``--step-minutes`` before any work: at least one minute, at most a day."""
    if step_minutes < 1:
        raise MultiexecError(f"--step-minutes {step_minutes}: a decision step lasts at least one minute")
    if step_minutes > MAX_STEP_MINUTES:
        raise MultiexecError(f"--step-minutes {step_minutes}: more than a day ({MAX_STEP_MINUTES} minutes)")


def check_step_fits(step_minutes: int, n_minutes: int, what: str = "--step-minutes") -> str | None:
    """See :func:`multiexec.algos.runner.check_step_fits`."""
    from multiexec.algos.runner import check_step_fits as check

    return check(step_minutes, n_minutes, what)


def _load_run_data(spec):
    """``load_run_data`` with its step-length error naming the option."""
    from multiexec.algos.runner import load_run_data

    try:
        return load_run_data(spec)
    except MultiexecError as exc:
        text = str(exc)
        if text.startswith("exec.step_minutes "):
            raise MultiexecError("--step-minutes " + text.removeprefix("exec.step_minutes ")) from None
        raise


def _note(text: str | None) -> None:
    if text:
        typer.echo(text, err=True)


def _policy_names(policy: str, checkpoint: Path | None) -> tuple[list[str], str | None]:
    """(the policies of ``--policy`` in order, the learned one or None), every mistake a one-line error."""
    from multiexec.policies.rules import RULES

    names = [p.strip() for p in policy.split(",")]
    if not any(names):
        raise MultiexecError(f"--policy {policy!r}: no policy given; choose from the rules ({RULES_HELP}) or a "
                             f"learned method ({METHODS_HELP}) with --checkpoint")
    if "" in names:
        raise MultiexecError(f"--policy {policy!r}: empty name between commas")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise MultiexecError(f"--policy {policy!r}: {', '.join(dup)} given more than once")
    unknown = [n for n in names if n not in RULES and n not in method_names()]
    if unknown:
        raise MultiexecError(f"--policy: unknown policy {', '.join(map(repr, unknown))}; choose from the rules "
                             f"({RULES_HELP}) or a learned method ({METHODS_HELP}) with --checkpoint")
    learned = [n for n in names if n not in RULES]
    if len(learned) > 1:
        raise MultiexecError(f"--policy: {', '.join(learned)} are learned policies but there is one --checkpoint; "
                             "evaluate one learned policy per run (its checkpoint holds one model)")
    if learned and checkpoint is None:
        raise MultiexecError(f"policy {learned[0]!r} is not a rule ({RULES_HELP}): give --checkpoint for a learned "
                             "policy")
    if checkpoint is not None and not learned:
        raise MultiexecError(f"--checkpoint given but --policy {policy!r} names no learned method ({METHODS_HELP}); "
                             "add the checkpoint's method")
    return names, (learned[0] if learned else None)


def train(
    method: str = typer.Option(..., help=f"learning method: {METHODS_HELP}"),
    data: str = typer.Option("synthetic", help=DATA_HELP),
    seed: int = typer.Option(0, min=0, help=RUN_SEED_HELP),
    data_seed: int = typer.Option(0, min=0, help=DATA_SEED_HELP),
    out: Path = typer.Option(None, help="run folder (default runs/<data>/<method>/seed<seed>)"),
    train_days: int = typer.Option(None, help="training budget in days (episodes); default 2000"),
    eval_every: int = typer.Option(None, help="training days between validations; default 200"),
    rounds: int = typer.Option(None, help="communication rounds K (default: paper Table 5)"),
    actions: str = typer.Option("0,0.25,0.5,0.75,1", help="action set: fractions of the order"),
    step_minutes: int = typer.Option(30, help="minutes per decision step (at most the trading day)"),
    config: Path = typer.Option(None, help="JSON with TrainConfig fields (ppo, ddqn, rollout_days, ...)"),
    resume: bool = typer.Option(True, help="continue from <out>/last.pt if present"),
    threads: int = typer.Option(1, min=1, help="torch threads"),
    market: str = typer.Option("bars", help=MARKET_HELP),
    lob_days: int = typer.Option(30, help=LOB_DAYS_HELP),
    orders: Path = typer.Option(None, help=ORDERS_HELP),
    drop_missing: bool = typer.Option(False, "--drop-missing", help=DROP_MISSING_HELP),
    daily: str = typer.Option(None, help=DAILY_HELP),
    screen: str = typer.Option(None, help=SCREEN_HELP),
) -> None:
    """Train one method on the train split, select on valid, evaluate on test; checkpoints, CSV and TensorBoard logs.

    --seed is the run's seed (network, sampling), --data-seed the data's (synthetic market, orders)."""
    from multiexec.algos.runner import RunSpec, run_spec
    from multiexec.algos.train import TrainConfig
    from multiexec.execution.env import ExecConfig
    from multiexec.execution.lob_market import parse_market

    get_method(method)
    _check_step_minutes(step_minutes)
    values = {**_read_json(config, "train config"), "method": method, "seed": seed, "threads": threads}
    for k, v in (("train_days", train_days), ("eval_every", eval_every), ("rounds", rounds)):
        if v is not None:
            values[k] = v
    tcfg = _pydantic(TrainConfig, values, f"train config {config}" if config else "train options")
    ecfg = _pydantic(ExecConfig, {"step_minutes": step_minutes, "actions": _floats(actions, "--actions")}, "--actions")
    mcfg = parse_market(market, lob_days, str(orders) if orders is not None else None)
    data_cfg = _data_config(data, data_seed, drop_missing, daily, orders if mcfg is None else None, screen)
    if out is None:
        base = f"lob-{Path(mcfg.config).stem}" if mcfg is not None else Path(data).stem
        out = Path("runs") / base / method / f"seed{seed}"
    check_out_dir(out, "--out")
    spec = RunSpec(data=data_cfg, train=tcfg, exec=ecfg, market=mcfg, out=str(out), resume=resume, progress=True)
    dataset, mkt = _load_run_data(spec)
    _note(check_step_fits(step_minutes, dataset.bars.n_minutes))
    res = run_spec(spec)
    t = res["test"]
    typer.echo(f"{method} seed {seed}: {res['days']} training days, {res['order_steps']} order-steps in "
               f"{res['seconds']:.0f}s ({res['order_steps_per_s']:.0f} order-steps/s); best valid {res['select_on']} "
               f"{res['best_score']:.4g} after {res.get('best_days', '?')} days")
    if res.get("selected_untrained"):
        typer.echo("note: the selected agent is the UNTRAINED network (no validation after training did better); "
                   "train longer or validate more often", err=True)
    shown = ("EG_bps", "ARR_pct", "POS_pct", "GLR", "TOC_pct", "fill_pct")
    typer.echo("test: " + ", ".join(f"{k} {t[k]:.4g}" for k in shown))
    typer.echo(f"outputs in {out}/ (metrics.csv, tb/, best.pt, summary.json, test/)")


def compare(
    data: str = typer.Option("synthetic", help=DATA_HELP + "; several separated by commas"),
    methods: str = typer.Option("all", help=f"comma-separated learned methods ({METHODS_HELP}) or 'all'"),
    seeds: int = typer.Option(3, min=1, help="seeds per method (runs use seeds 0..N-1)"),
    train_days: int = typer.Option(None, help="training budget per run in days; default 2000"),
    eval_every: int = typer.Option(None, help="training days between validations; default 200"),
    rounds_sweep: str = typer.Option("", help="K values for Figure 4b, e.g. 1,2,3,4,5 (IaC^T); empty: skip"),
    action_spaces: str = typer.Option("", help="action sets for Table 4, ';'-separated, e.g. '0,.33,.67,1;0,.2,.4,.6,.8,1'"),
    sweep_seeds: int = typer.Option(None, min=1, help="seeds of the K-sweep and action-space runs (default: --seeds)"),
    workers: int = typer.Option(None, min=1, help="parallel runs (default: all cores)"),
    runner: str = typer.Option("local", help=f"where runs execute: local (process pool) or ray "
                               f"({RAY_INSTALL.replace('[', chr(92) + '[')})"),
    ray_address: str = typer.Option(None, help="Ray cluster address (e.g. auto); default: start Ray locally"),
    out: Path = typer.Option(Path("runs/compare"), help="folder of the comparison (one sub-folder per data source)"),
    config: Path = typer.Option(None, help="JSON with CompareConfig fields (train overrides, exec, rules, ...)"),
    doc: Path = typer.Option(None, help="also (re)write this markdown report, e.g. docs/results.md"),
    report_only: bool = typer.Option(False, help="train nothing: rewrite --doc from the finished compare folders"),
    data_seed: int = typer.Option(0, min=0, help=DATA_SEED_HELP),
    drop_missing: bool = typer.Option(False, "--drop-missing", help=DROP_MISSING_HELP),
    daily: str = typer.Option(None, help=DAILY_HELP),
    screen: str = typer.Option(None, help=SCREEN_HELP),
) -> None:
    """Train or load every method × seed, evaluate the rules, write Table 1 (+ Table 4) and the paper's figures."""
    from multiexec.algos.compare import CompareConfig, run_compare
    from multiexec.algos.runner import make_runner

    base = _read_json(config, "compare config")
    chosen = list(method_names()) if methods == "all" else [m.strip() for m in methods.split(",") if m.strip()]
    if not chosen:
        raise MultiexecError(f"--methods {methods!r}: no method given; choose from {METHODS_HELP} or 'all'")
    for m in chosen:
        get_method(m)
    dup = sorted({m for m in chosen if chosen.count(m) > 1})
    if dup:
        raise MultiexecError(f"--methods: {', '.join(dup)} given more than once")
    sources = [d.strip() for d in data.split(",") if d.strip()]
    if not sources:
        raise MultiexecError(f"--data {data!r}: no data source given")
    if report_only and doc is None:
        raise MultiexecError("--report-only needs --doc")
    if doc is not None:
        check_out_file(doc, "--doc")
    if not report_only:
        check_out_dir(out, "--out")
    tr = dict(base.pop("train", {}))
    for k, v in (("train_days", train_days), ("eval_every", eval_every)):
        if v is not None:
            tr[k] = v
    jobs = []
    for src in sources:
        values = {**base, "data": _data_config(src, data_seed, drop_missing, daily, screen=screen), "methods": chosen,
                  "seeds": seeds, "train": tr}
        if rounds_sweep:
            values["rounds_sweep"] = [int(k) for k in _floats(rounds_sweep, "--rounds-sweep")]
        if sweep_seeds is not None:
            values["sweep_seeds"] = sweep_seeds
        if action_spaces:
            values["action_spaces"] = [_floats(a, "--action-spaces") for a in action_spaces.split(";") if a.strip()]
        cfg = _pydantic(CompareConfig, values, f"compare config {config}" if config else "compare options")
        jobs.append((src, cfg, out / Path(src).stem))
    dirs, titles = [], []
    run = None if report_only else make_runner(runner, workers, ray_address)
    for src, cfg, run_dir in jobs:
        dirs.append(run_dir)
        titles.append(f"Data: {src}")
        if report_only:
            if not (run_dir / "table1.csv").is_file():
                raise MultiexecError(f"--report-only: {run_dir} has no finished comparison (table1.csv)")
            continue
        tables = run_compare(cfg, run_dir, workers, run)
        t1 = tables["table1"]
        typer.echo(f"\nTable 1 — {src} (test split)")
        typer.echo(t1[["method", "EG_bps", "ARR_pct", "POS_pct", "GLR", "TOC_pct", "fill_pct"]].to_string(index=False))
        typer.echo(f"tables and figures in {run_dir}/")
    if doc is not None:
        from multiexec.algos.report import write_doc

        cmd = "multiexec " + " ".join(shlex.quote(a) for a in sys.argv[1:])
        typer.echo(f"report: {write_doc(dirs, doc, titles, cmd)}")


def make_policy(name: str, dataset, cfg, checkpoint: Path | None = None) -> Policy:
    """A rule (twap, vwap, ac, side_split) estimated on the training split, or a learned policy from a checkpoint
    (which must hold the method ``name``, trained with ``cfg``'s action set and step length)."""
    from multiexec.policies.rules import RULES, make_rule_policy

    if name in RULES:
        train_days = dataset.bars.date_index([dataset.orders[i].date for i in dataset.splits["train"]])
        return make_rule_policy(name, dataset.bars, train_days, cfg)
    if checkpoint is None:
        raise MultiexecError(f"policy {name!r} is not a rule ({RULES_HELP}): give --checkpoint for a learned policy")
    from multiexec.algos import load_policy

    return load_policy(checkpoint, method=name, exec_cfg=cfg)


def print_table(table) -> None:
    """Print the metrics table (one row per policy) with the paired test against TWAP."""
    from rich.console import Console
    from rich.table import Table

    cols = {
        "policy": "policy", "EG_bps": "EG (bp)", "IS_bps": "IS (bp)", "ARR_pct": "ARR (%)", "POS_pct": "POS (%)",
        "GLR": "GLR", "TOC_pct": "TOC (%)", "fill_pct": "fill (%)", "n_orders": "orders",
        "vs_twap_mean_diff_bps": "EG-TWAP (bp)", "vs_twap_t_pvalue": "p (t)", "vs_twap_wilcoxon_pvalue": "p (Wilcoxon)",
        "vs_twap_day_t_pvalue": "p (t, days)",
    }
    cols = {k: v for k, v in cols.items() if k in table.columns}
    t = Table(title="execution metrics")
    for label in cols.values():
        t.add_column(label, justify="right")
    for _, row in table.iterrows():
        t.add_row(*[row[c] if isinstance(row[c], str) else f"{row[c]:.3g}" for c in cols])
    Console(width=170).print(t)


def evaluate(
    policy: str = typer.Option("twap,vwap,ac", help=POLICY_HELP),
    data: str = typer.Option("synthetic", help=DATA_HELP),
    split: str = typer.Option("test", help="which split to evaluate: train, valid, test (or a rolling-window split name)"),
    checkpoint: Path = typer.Option(None, help="checkpoint of the learned policy: its best.pt or its run folder"),
    step_minutes: int = typer.Option(None, help="minutes per decision step; default: the checkpoint's, else 30"),
    data_seed: int = typer.Option(0, min=0, help=DATA_SEED_HELP),
    seed: int = typer.Option(None, min=0, hidden=True, help="old name of --data-seed"),
    market: str = typer.Option("bars", help=MARKET_HELP),
    lob_days: int = typer.Option(30, help=LOB_DAYS_HELP),
    orders: Path = typer.Option(None, help=ORDERS_HELP),
    drop_missing: bool = typer.Option(False, "--drop-missing", help=DROP_MISSING_HELP),
    daily: str = typer.Option(None, help=DAILY_HELP),
    screen: str = typer.Option(None, help=SCREEN_HELP),
    decisions: str = typer.Option("csv", help="format of the per-step decision log decisions_<policy>.*: csv or "
                                  "parquet"),
    out: Path = typer.Option(Path("results/evaluate"), help="results folder (tables, decision logs and figures)"),
) -> None:
    """Evaluate policies on a split: metrics table (EG, IS, ARR, POS, GLR, TOC, fill), per-order/day CSVs, the
    per-step decision log (decisions_<policy>.csv: order, step, intended and executed shares, price, cash after) and
    figures.

    --data-seed is the data's seed (evaluation itself draws nothing: rules and greedy learned policies)."""
    from multiexec.algos import checkpoint_problems, read_checkpoint
    from multiexec.algos.runner import RunSpec
    from multiexec.algos.train import TrainConfig
    from multiexec.execution.env import ExecConfig, MultiOrderEnv
    from multiexec.execution.evaluate import DECISION_FORMATS, run_policy, write_results
    from multiexec.execution.lob_market import parse_market

    if seed is not None:
        typer.echo("note: evaluate --seed is the old name of --data-seed (the data's seed); use --data-seed", err=True)
        data_seed = seed
    names, learned = _policy_names(policy, checkpoint)
    if decisions not in DECISION_FORMATS:
        raise MultiexecError(f"--decisions {decisions!r}: choose {' or '.join(DECISION_FORMATS)}")
    if decisions == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise MultiexecError("--decisions parquet needs pyarrow (pip install pyarrow); or use csv") from None
    ecfg_values: dict = {}
    meta: dict = {}
    if learned is not None:
        _, blob = read_checkpoint(checkpoint)
        meta = blob.get("extra", {}) or {}
        if "actions" in meta:
            ecfg_values["actions"] = list(meta["actions"])
        if step_minutes is None and "step_minutes" in meta:
            step_minutes = int(meta["step_minutes"])
    step_minutes = 30 if step_minutes is None else step_minutes
    _check_step_minutes(step_minutes)
    cfg = _pydantic(ExecConfig, {**ecfg_values, "step_minutes": step_minutes}, "--step-minutes")
    if learned is not None:
        problems = checkpoint_problems(blob, learned, cfg)
        if problems:
            raise MultiexecError(f"--checkpoint {checkpoint}: " + "; ".join(problems))
    mcfg = parse_market(market, lob_days, str(orders) if orders is not None else None)
    data_cfg = _data_config(data, data_seed, drop_missing, daily, orders if mcfg is None else None, screen)
    check_out_dir(out, "--out")
    spec = RunSpec(data=data_cfg, train=TrainConfig(method=method_names()[0]), exec=cfg, market=mcfg,
                   out=str(out), progress=True)
    dataset, mkt = _load_run_data(spec)
    if split not in dataset.splits:
        raise MultiexecError(f"unknown split {split!r}; the data has {sorted(dataset.splits)}")
    if not dataset.splits[split]:
        raise MultiexecError(f"split {split!r} of {dataset.name} has no days")
    _note(check_step_fits(step_minutes, dataset.bars.n_minutes))
    trained_on = meta.get("data")
    if trained_on and trained_on != dataset.name:
        typer.echo(f"note: the checkpoint was trained on {trained_on}, evaluated here on {dataset.name}", err=True)
    env = MultiOrderEnv(mkt, dataset.orders, cfg)
    if meta.get("market") and meta["market"] != env.market.name:
        typer.echo(f"note: the checkpoint was trained on the {meta['market']} market, evaluated here on the "
                   f"{env.market.name} market", err=True)
    if "twap" not in names:
        names.append("twap")  # the reference of the paired test
    results = []
    for k, n in enumerate(names, 1):
        pol = make_policy(n, dataset, cfg, checkpoint)
        results.append(run_policy(env, pol, dataset.splits[split], decisions=True,
                                  desc=f"evaluate {n} ({k}/{len(names)})"))
    table = write_results(results, out, bars=dataset.bars, decisions=decisions)
    print_table(table)
    typer.echo(f"data: {dataset.name} on the {env.market.name} market, split {split}: {len(dataset.splits[split])} "
               f"days; results and decision logs (decisions_<policy>.{decisions}) in {out}/")


def register(app: typer.Typer) -> None:
    """Add ``evaluate``, ``train`` and ``compare`` to the root CLI."""
    app.command("evaluate")(evaluate)
    app.command("train")(train)
    app.command("compare")(compare)
