"""``multiexec evaluate``: run policies on a split of a dataset, print the metrics, write tables and figures."""

from __future__ import annotations

from pathlib import Path

import typer

from multiexec.errors import MultiexecError

DATA_HELP = (
    "data source: 'synthetic' (built-in market, the default), 'us_minute_2018' (../shared/data), a directory of "
    "per-ticker CSVs, a long-table CSV/Parquet file, or a data config file (.json/.toml/.yaml)"
)


def load_data(data: str, seed: int):
    from multiexec.data.dataset import load_config_file, load_dataset, validate_config

    if Path(data).suffix.lower() in (".json", ".toml", ".yaml", ".yml"):
        cfg = load_config_file(data)
    else:
        cfg = validate_config({"source": data, "seed": seed})
    return load_dataset(cfg)


def make_policy(name: str, dataset, cfg, checkpoint: Path | None = None):
    """A rule (twap, vwap, ac, ...) estimated on the training split, or a learned policy from a checkpoint."""
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
        "policy": "policy", "EG_bps": "EG (bp)", "ARR_pct": "ARR (%)", "POS_pct": "POS (%)", "GLR": "GLR",
        "TOC_pct": "TOC (%)", "fill_pct": "fill (%)", "n_orders": "orders",
        "vs_twap_mean_diff_bps": "EG-TWAP (bp)", "vs_twap_t_pvalue": "p (t)", "vs_twap_wilcoxon_pvalue": "p (Wilcoxon)",
        "vs_twap_day_t_pvalue": "p (t, days)",
    }
    cols = {k: v for k, v in cols.items() if k in table.columns}
    t = Table(title="execution metrics")
    for label in cols.values():
        t.add_column(label, justify="right")
    for _, row in table.iterrows():
        t.add_row(*[row[c] if isinstance(row[c], str) else f"{row[c]:.3g}" for c in cols])
    Console(width=160).print(t)


def evaluate(
    policy: str = typer.Option("twap,vwap,ac", help="comma-separated policies: twap, vwap, ac, or a learned method"),
    data: str = typer.Option("synthetic", help=DATA_HELP),
    split: str = typer.Option("test", help="which split to evaluate: train, valid, test (or a rolling-window split name)"),
    checkpoint: Path = typer.Option(None, help="checkpoint of a learned policy"),
    step_minutes: int = typer.Option(30, help="minutes per decision step"),
    seed: int = typer.Option(0, help="seed of the data (synthetic market, order generation)"),
    out: Path = typer.Option(Path("results/evaluate"), help="results folder (tables and figures)"),
) -> None:
    """Evaluate policies on a split: metrics table (EG, ARR, POS, GLR, TOC, fill), per-order/day CSVs, figures."""
    from multiexec.execution.env import ExecConfig, MultiOrderEnv
    from multiexec.execution.evaluate import run_policy, write_results

    dataset = load_data(data, seed)
    if split not in dataset.splits:
        raise MultiexecError(f"unknown split {split!r}; the data has {sorted(dataset.splits)}")
    cfg = ExecConfig(step_minutes=step_minutes)
    env = MultiOrderEnv(dataset.bars, dataset.orders, cfg)
    names = [p.strip() for p in policy.split(",") if p.strip()]
    if "twap" not in names:
        names.append("twap")  # the reference of the paired test
    results = [run_policy(env, make_policy(n, dataset, cfg, checkpoint), dataset.splits[split]) for n in names]
    table = write_results(results, out, bars=dataset.bars)
    print_table(table)
    typer.echo(f"data: {dataset.name}, split {split}: {len(dataset.splits[split])} days; results in {out}/")


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate)
