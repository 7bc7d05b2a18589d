"""``multiexec evaluate``, ``multiexec train`` and ``multiexec compare``: execution policies from the command line,
on the data's bars or in the reactive LOB market (``--market lob:<config>``)."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import typer

from multiexec.errors import MultiexecError
from multiexec.execution.policy import Policy
from multiexec.policies.registry import get_method, method_names, methods_help

DATA_HELP = (
    "data source: 'synthetic' (built-in market), 'us_minute_2018' (../shared/data), a directory of per-ticker "
    "CSVs, a long-table file, or a data config file (.json/.toml/.yaml)"
)
METHODS_HELP = methods_help()
MARKET_HELP = ("where the orders trade: 'bars' (the data's minute bars, nothing reacts) or 'lob:<config>' (the "
               "LOB simulator, e.g. lob:desk or lob:desk-mini; its simulated days replace --data)")
LOB_DAYS_HELP = "with --market lob:...: consecutive simulated days (history, orders and splits come from them)"


def _data_config(data: str, seed: int):
    """The DataConfig of a ``--data`` value."""
    from multiexec.data.dataset import DataConfig, load_config_file

    if Path(data).suffix.lower() in (".json", ".toml", ".yaml", ".yml"):
        return load_config_file(data)
    return DataConfig(source=data, seed=seed)


def _read_json(path: Path | None, what: str) -> dict:
    if path is None:
        return {}
    if not path.is_file():
        raise MultiexecError(f"{what} file not found: {path}")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise MultiexecError(f"{path}: not valid JSON ({exc})") from None


def _floats(text: str, what: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise MultiexecError(f"{what}: expected comma-separated numbers, got {text!r}") from None


def _pydantic(cls, values: dict, what: str):
    from pydantic import ValidationError

    try:
        return cls(**values)
    except ValidationError as exc:
        raise MultiexecError(f"{what}: {exc}") from None


def train(
    method: str = typer.Option(..., help=f"learning method: {METHODS_HELP}"),
    data: str = typer.Option("synthetic", help=DATA_HELP),
    seed: int = typer.Option(0, help="seed of the run"),
    data_seed: int = typer.Option(0, help="seed of the data (synthetic market, order generation)"),
    out: Path = typer.Option(None, help="run folder (default runs/<data>/<method>/seed<seed>)"),
    train_days: int = typer.Option(None, help="training budget in days (episodes); default 2000"),
    eval_every: int = typer.Option(None, help="training days between validations; default 200"),
    rounds: int = typer.Option(None, help="communication rounds K (default: paper Table 5)"),
    actions: str = typer.Option("0,0.25,0.5,0.75,1", help="action set: fractions of the order"),
    step_minutes: int = typer.Option(30, help="minutes per decision step"),
    config: Path = typer.Option(None, help="JSON with TrainConfig fields (ppo, ddqn, rollout_days, ...)"),
    resume: bool = typer.Option(True, help="continue from <out>/last.pt if present"),
    threads: int = typer.Option(1, help="torch threads"),
    market: str = typer.Option("bars", help=MARKET_HELP),
    lob_days: int = typer.Option(30, help=LOB_DAYS_HELP),
    orders: Path = typer.Option(None, help="with --market lob:...: orders CSV (date,symbol,side,amount,cash)"),
) -> None:
    """Train one method on the train split, select on valid, evaluate on test; checkpoints, CSV and TensorBoard logs."""
    from multiexec.algos.runner import RunSpec, run_spec
    from multiexec.algos.train import TrainConfig
    from multiexec.execution.env import ExecConfig

    values = {**_read_json(config, "train config"), "method": method, "seed": seed, "threads": threads}
    for k, v in (("train_days", train_days), ("eval_every", eval_every), ("rounds", rounds)):
        if v is not None:
            values[k] = v
    tcfg = _pydantic(TrainConfig, values, "train config")
    ecfg = _pydantic(ExecConfig, {"step_minutes": step_minutes, "actions": _floats(actions, "--actions")}, "--actions")
    data_cfg = _data_config(data, data_seed)
    out = out or Path("runs") / Path(data).stem / method / f"seed{seed}"
    from multiexec.execution.lob_market import parse_market

    mcfg = parse_market(market, lob_days, str(orders) if orders is not None else None)
    if orders is not None and mcfg is None:
        raise MultiexecError("--orders is for --market lob:...; on bars give the CSV in a data config (orders.csv)")
    if mcfg is not None and out is None:
        out = Path("runs") / f"lob-{Path(mcfg.config).stem}" / method / f"seed{seed}"
    res = run_spec(RunSpec(data=data_cfg, train=tcfg, exec=ecfg, market=mcfg, out=str(out), resume=resume,
                           progress=True))
    t = res["test"]
    typer.echo(f"{method} seed {seed}: {res['days']} training days, {res['order_steps']} order-steps in "
               f"{res['seconds']:.0f}s ({res['order_steps_per_s']:.0f} order-steps/s); best valid {res['select_on']} "
               f"{res['best_score']:.4g}")
    shown = ("EG_bps", "ARR_pct", "POS_pct", "GLR", "TOC_pct", "fill_pct")
    typer.echo("test: " + ", ".join(f"{k} {t[k]:.4g}" for k in shown))
    typer.echo(f"outputs in {out}/ (metrics.csv, tb/, best.pt, test/)")


def compare(
    data: str = typer.Option("synthetic", help=DATA_HELP + "; several separated by commas"),
    methods: str = typer.Option("all", help=f"comma-separated learned methods ({METHODS_HELP}) or 'all'"),
    seeds: int = typer.Option(3, help="seeds per method"),
    train_days: int = typer.Option(None, help="training budget per run in days; default 2000"),
    eval_every: int = typer.Option(None, help="training days between validations; default 200"),
    rounds_sweep: str = typer.Option("", help="K values for Figure 4b, e.g. 1,2,3,4,5 (IaC^T); empty: skip"),
    action_spaces: str = typer.Option("", help="action sets for Table 4, ';'-separated, e.g. '0,.33,.67,1;0,.2,.4,.6,.8,1'"),
    sweep_seeds: int = typer.Option(None, help="seeds of the K-sweep and action-space runs (default: --seeds)"),
    workers: int = typer.Option(None, help="parallel runs (default: all cores)"),
    runner: str = typer.Option("local", help="where runs execute: local (process pool) or ray (pip install -e '.[ray]')"),
    ray_address: str = typer.Option(None, help="Ray cluster address (e.g. auto); default: start Ray locally"),
    out: Path = typer.Option(Path("runs/compare"), help="folder of the comparison (one sub-folder per data source)"),
    config: Path = typer.Option(None, help="JSON with CompareConfig fields (train overrides, exec, rules, ...)"),
    doc: Path = typer.Option(None, help="also (re)write this markdown report, e.g. docs/results.md"),
    report_only: bool = typer.Option(False, help="train nothing: rewrite --doc from the finished compare folders"),
    data_seed: int = typer.Option(0, help="seed of the data (synthetic market, order generation)"),
) -> None:
    """Train or load every method × seed, evaluate the rules, write Table 1 (+ Table 4) and the paper's figures."""
    from multiexec.algos.compare import CompareConfig, run_compare
    from multiexec.algos.runner import make_runner

    base = _read_json(config, "compare config")
    chosen = list(method_names()) if methods == "all" else [m.strip() for m in methods.split(",") if m.strip()]
    for m in chosen:
        get_method(m)
    tr = dict(base.pop("train", {}))
    for k, v in (("train_days", train_days), ("eval_every", eval_every)):
        if v is not None:
            tr[k] = v
    dirs, titles = [], []
    for src in [d.strip() for d in data.split(",") if d.strip()]:
        values = {**base, "data": _data_config(src, data_seed), "methods": chosen, "seeds": seeds, "train": tr}
        if rounds_sweep:
            values["rounds_sweep"] = [int(k) for k in _floats(rounds_sweep, "--rounds-sweep")]
        if sweep_seeds is not None:
            values["sweep_seeds"] = sweep_seeds
        if action_spaces:
            values["action_spaces"] = [_floats(a, "--action-spaces") for a in action_spaces.split(";") if a.strip()]
        cfg = _pydantic(CompareConfig, values, "compare config")
        run_dir = out / Path(src).stem
        dirs.append(run_dir)
        titles.append(f"Data: {src}")
        if report_only:
            if not (run_dir / "table1.csv").is_file():
                raise MultiexecError(f"--report-only: {run_dir} has no finished comparison (table1.csv)")
            continue
        tables = run_compare(cfg, run_dir, workers, make_runner(runner, workers, ray_address))
        t1 = tables["table1"]
        typer.echo(f"\nTable 1 — {src} (test split)")
        typer.echo(t1[["method", "EG_bps", "ARR_pct", "POS_pct", "GLR", "TOC_pct", "fill_pct"]].to_string(index=False))
        typer.echo(f"tables and figures in {run_dir}/")
    if report_only and doc is None:
        raise MultiexecError("--report-only needs --doc")
    if doc is not None:
        from multiexec.algos.report import write_doc

        cmd = "multiexec " + " ".join(shlex.quote(a) for a in sys.argv[1:])
        typer.echo(f"report: {write_doc(dirs, doc, titles, cmd)}")


def make_policy(name: str, dataset, cfg, checkpoint: Path | None = None) -> Policy:
    """A rule (twap, vwap, ac, side_split) estimated on the training split, or a learned policy from a checkpoint."""
    from multiexec.policies.rules import RULES, make_rule_policy

    if name in RULES:
        train_days = dataset.bars.date_index([dataset.orders[i].date for i in dataset.splits["train"]])
        return make_rule_policy(name, dataset.bars, train_days, cfg)
    if checkpoint is None:
        raise MultiexecError(f"policy {name!r} is not a rule ({', '.join(RULES)}): give --checkpoint for a learned policy")
    from multiexec.algos import load_policy

    return load_policy(checkpoint)


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
    policy: str = typer.Option("twap,vwap,ac", help="comma-separated policies: twap, vwap, ac, side_split, or a "
                               "learned method (with --checkpoint)"),
    data: str = typer.Option("synthetic", help=DATA_HELP),
    split: str = typer.Option("test", help="which split to evaluate: train, valid, test (or a rolling-window split name)"),
    checkpoint: Path = typer.Option(None, help="checkpoint of a learned policy"),
    step_minutes: int = typer.Option(30, help="minutes per decision step"),
    seed: int = typer.Option(0, help="seed of the data (synthetic market, order generation, simulated LOB days)"),
    market: str = typer.Option("bars", help=MARKET_HELP),
    lob_days: int = typer.Option(30, help=LOB_DAYS_HELP),
    orders: Path = typer.Option(None, help="with --market lob:...: orders CSV (date,symbol,side,amount,cash)"),
    out: Path = typer.Option(Path("results/evaluate"), help="results folder (tables and figures)"),
) -> None:
    """Evaluate policies on a split: metrics table (EG, IS, ARR, POS, GLR, TOC, fill), per-order/day CSVs, figures."""
    from multiexec.algos.runner import RunSpec, load_run_data
    from multiexec.algos.train import TrainConfig
    from multiexec.execution.env import ExecConfig, MultiOrderEnv
    from multiexec.execution.evaluate import run_policy, write_results
    from multiexec.execution.lob_market import parse_market

    cfg = _pydantic(ExecConfig, {"step_minutes": step_minutes}, "--step-minutes")
    mcfg = parse_market(market, lob_days, str(orders) if orders is not None else None)
    if orders is not None and mcfg is None:
        raise MultiexecError("--orders is for --market lob:...; on bars give the CSV in a data config (orders.csv)")
    spec = RunSpec(data=_data_config(data, seed), train=TrainConfig(method=method_names()[0]), exec=cfg, market=mcfg,
                   out=str(out), progress=True)
    dataset, mkt = load_run_data(spec)
    if split not in dataset.splits:
        raise MultiexecError(f"unknown split {split!r}; the data has {sorted(dataset.splits)}")
    env = MultiOrderEnv(mkt, dataset.orders, cfg)
    names = [p.strip() for p in policy.split(",") if p.strip()]
    if "twap" not in names:
        names.append("twap")  # the reference of the paired test
    results = [run_policy(env, make_policy(n, dataset, cfg, checkpoint), dataset.splits[split]) for n in names]
    table = write_results(results, out, bars=dataset.bars)
    print_table(table)
    typer.echo(f"data: {dataset.name} on the {env.market.name} market, split {split}: {len(dataset.splits[split])} "
               f"days; results in {out}/")


def register(app: typer.Typer) -> None:
    """Add ``evaluate``, ``train`` and ``compare`` to the root CLI."""
    app.command("evaluate")(evaluate)
    app.command("train")(train)
    app.command("compare")(compare)
