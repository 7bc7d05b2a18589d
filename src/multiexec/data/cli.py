"""``multiexec data ...``: load and cache market data, inspect it, fit and compare the synthetic market,
write order sets."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(
    help="Load, cache, inspect and fit market data; make order sets.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_table(df, title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for c in df.columns:
        table.add_column(str(c), justify="left" if df[c].dtype == object else "right")
    for row in df.itertuples(index=False):
        table.add_row(*[f"{v:.4g}" if isinstance(v, float) else str(v) for v in row])
    console = Console()
    Console(width=max(console.width, 150)).print(table)


def _symbols(text: Optional[str]) -> Optional[list[str]]:
    return [s.strip() for s in text.split(",") if s.strip()] if text else None


def _config(config: Optional[Path], source: Optional[str], seed: Optional[int]):
    from multiexec.data.dataset import DataConfig, load_config_file

    cfg = load_config_file(config) if config else DataConfig()
    upd = {}
    if source is not None:
        upd["source"] = source
    if seed is not None:
        upd["seed"] = seed
    return cfg.model_copy(update=upd) if upd else cfg


@app.command()
def load(
    source: str = typer.Argument("us_minute_2018", help="'us_minute_2018', a per-ticker CSV directory or a "
                                 "long-table CSV/Parquet file"),
    symbols: Optional[str] = typer.Option(None, help="comma-separated symbols to keep"),
    drop_missing: bool = typer.Option(False, "--drop-missing", help="drop assets that lack a day instead of failing"),
    no_cache: bool = typer.Option(False, "--no-cache", help="parse again and do not write the cache"),
) -> None:
    """Parse minute bars (and cache them as Parquet), then print a per-asset summary table."""
    import numpy as np
    import pandas as pd

    from multiexec.data.loaders import load_bars

    t0 = time.perf_counter()
    bars = load_bars(source, _symbols(symbols), "drop" if drop_missing else "error", not no_cache, progress=True)
    dt = time.perf_counter() - t0
    dv = bars.volume.sum(axis=2)
    r = np.diff(np.log(bars.close[:, :, -1]), axis=0)
    df = pd.DataFrame({
        "symbol": bars.symbols,
        "first close": bars.close[0, :, -1], "last close": bars.close[-1, :, -1],
        "mean daily volume": dv.mean(axis=0),
        "daily vol %": (r.std(axis=0) * 100) if bars.n_days > 2 else np.nan,
        "minutes w/o trades %": 100 * (1 - bars.traded.mean(axis=(0, 2))),
    })
    _print_table(df, f"{bars.source}: {bars.n_assets} assets, {bars.n_days} days "
                     f"({bars.dates[0]} .. {bars.dates[-1]}), {bars.n_minutes} minutes/day")
    hit = bars.meta.get("cache_hit")
    typer.echo(f"loaded in {dt:.2f} s ({'from cache' if hit else 'parsed'}"
               + (f"; cache {bars.meta['cache']}" if bars.meta.get("cache") else "") + ")")
    if bars.meta.get("dropped"):
        typer.echo(f"dropped assets lacking days: {bars.meta['dropped']}")


@app.command()
def info(
    config: Optional[Path] = typer.Option(None, help="data config (YAML/JSON/TOML) to load and summarise"),
    source: Optional[str] = typer.Option(None, help="override the config's source"),
) -> None:
    """Show where data lives (shared data, cache), the synthetic defaults' provenance, and, with --config
    or --source, the dataset's splits and orders."""
    from multiexec.data.synthetic import default_params
    from multiexec.paths import cache_dir, shared_data

    for name in ("us_minute_2018", "sp500_daily_2013_2018", "lobster_aapl_2012-06-21"):
        p = shared_data(name)
        typer.echo(f"shared {name:26s} {p if p else 'absent'}")
    entries = list(cache_dir().glob("data-*.parquet"))
    size = sum(e.stat().st_size for e in entries) / 1e6
    typer.echo(f"cache {cache_dir()}: {len(entries)} data entries, {size:.1f} MB")
    prov = default_params().provenance
    typer.echo(f"synthetic defaults: fitted by `{prov.get('command')}` on {prov.get('source')} "
               f"({prov.get('n_assets')} assets, {prov.get('first_date')} .. {prov.get('last_date')})")
    if config is not None or source is not None:
        from multiexec.data.dataset import load_dataset

        ds = load_dataset(_config(config, source, None), progress=True)
        _print_table(ds.summary(), f"dataset {ds.name}: {ds.bars.n_assets} assets, {ds.bars.n_days} days")


@app.command()
def fit(
    source: str = typer.Option("us_minute_2018", help="real minute bars: 'us_minute_2018', a directory or a file"),
    daily: Optional[str] = typer.Option("auto", help="daily history for drift and daily GARCH; 'auto' uses the "
                                        "shared S&P 500 file with us_minute_2018; 'none' to use only the minute bars"),
    out: Path = typer.Option(Path("synthetic_params.json"), help="where to write the parameters (JSON)"),
) -> None:
    """Estimate the synthetic market's parameters from real minute bars and write them as JSON."""
    import datetime as dt

    from multiexec.data.loaders import load_bars, load_daily, resolve_source
    from multiexec.data.synthetic import fit_params, save_params

    bars = load_bars(source, progress=True)
    hist = None
    if daily == "auto" and source == "us_minute_2018":
        daily = "sp500_daily"
    if daily not in (None, "auto", "none"):
        hist = load_daily(resolve_source(daily))
    prov = {
        "command": f"multiexec data fit --source {source} --daily {daily or 'none'} --out {out}",
        "source": source, "source_path": str(resolve_source(source)),
        "daily": None if hist is None else daily,
        "fitted_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    params = fit_params(bars, hist, prov)
    save_params(params, out)
    typer.echo(f"wrote {out} (t_df {params.t_df:.2f}, intraday GARCH {params.garch_alpha:.3f}/"
               f"{params.garch_beta:.3f}, 30-min correlation {params.factor_corr:.3f})")


@app.command()
def compare(
    source: str = typer.Option("us_minute_2018", help="real minute bars to compare with"),
    params: Optional[Path] = typer.Option(None, help="synthetic parameters JSON (default: the embedded ones)"),
    seed: int = typer.Option(0, help="seed of the synthetic market"),
    out: Optional[Path] = typer.Option(None, help="also write the table as CSV here"),
) -> None:
    """Statistics of real vs synthetic minute bars (same number of assets and days), as a table."""
    from multiexec.data.loaders import load_bars
    from multiexec.data.synthetic import compare_stats, generate, load_params

    real = load_bars(source, progress=True)
    syn, _ = generate(load_params(params), real.n_assets, real.n_days, 0, seed)
    df = compare_stats(real, syn)
    _print_table(df, f"real ({source}, {real.n_assets} assets x {real.n_days} days) vs synthetic (seed {seed})")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        df.to_csv(out, index=False)
        typer.echo(f"wrote {out}")


@app.command()
def orders(
    config: Optional[Path] = typer.Option(None, help="data config (YAML/JSON/TOML); default: DataConfig()"),
    source: Optional[str] = typer.Option(None, help="override the config's source"),
    seed: Optional[int] = typer.Option(None, help="override the config's seed"),
    out: Path = typer.Option(Path("orders.csv"), help="orders CSV to write (date,symbol,side,amount,cash)"),
) -> None:
    """Generate the daily order sets ("buy winners, sell losers"), write them as CSV and print a summary."""
    from multiexec.data.dataset import load_dataset
    from multiexec.data.ordergen import write_orders_csv

    ds = load_dataset(_config(config, source, seed), progress=True)
    write_orders_csv(ds.orders, out)
    _print_table(ds.summary(), f"orders of {ds.name}")
    typer.echo(f"wrote {sum(o.n for o in ds.orders)} orders on {len(ds.orders)} days to {out}")
