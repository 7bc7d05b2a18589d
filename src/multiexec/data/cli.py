"""``multiexec data ...``: load and cache market data, inspect it, fit and compare the synthetic market,
write order sets.

Options shared by the commands that build a dataset (``info``, ``orders``): ``--daily`` (daily history for the
"buy winners, sell losers" ranking: ``auto``, ``none``, ``sp500_daily`` or a path), ``--drop-missing`` (drop
tickers lacking a day of bars or lacking from the daily file), ``--screen error|repair`` (bad minute bars). Notes
(rows dropped outside the session, repaired bars, tickers without daily history, orders cut) are printed as
``note: ...`` lines on stderr."""

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


SCREEN_HELP = ("bad minute bars (price outliers, high < low, open/close outside [low, high]): 'error' stops at the "
               "first, 'repair' repairs and lists them")
DAILY_HELP = ("daily history the winners/losers ranking uses: 'auto' (the shared S&P 500 file for us_minute_2018, "
              "none otherwise), 'none', 'sp500_daily' or a daily CSV (date,open,high,low,close,volume,Name); "
              "default: the config's")
DROP_HELP = "drop tickers lacking a day of bars or lacking from the daily file (listed) instead of failing / keeping"


def _screen(value: str) -> str:
    v = value.strip().lower()
    if v not in ("error", "repair"):
        from multiexec.errors import MultiexecError

        raise MultiexecError(f"--screen: expected 'error' or 'repair', got {value!r}")
    return v


def _config(config: Optional[Path], source: Optional[str], seed: Optional[int], daily: Optional[str] = None,
            drop_missing: bool = False, screen: Optional[str] = None):
    """The DataConfig of a config file (or the defaults) with the command's options applied, validated."""
    from multiexec.data.dataset import DataConfig, load_config_file, validate_config

    cfg = load_config_file(config) if config else DataConfig()
    upd: dict = {}
    if source is not None:
        upd["source"] = source
    if seed is not None:
        upd["seed"] = seed
    if daily is not None:
        upd["daily"] = daily
    if drop_missing:
        upd["on_missing"] = "drop"
    if screen is not None:
        upd["screen"] = _screen(screen)
    if not upd:
        return cfg
    return validate_config(dict(cfg.model_dump(), **upd), DataConfig, "options")


@app.command()
def load(
    source: str = typer.Argument("us_minute_2018", help="'us_minute_2018', a per-ticker CSV directory or a "
                                 "long-table CSV/Parquet file"),
    symbols: Optional[str] = typer.Option(None, help="comma-separated symbols to keep"),
    drop_missing: bool = typer.Option(False, "--drop-missing", help="drop assets that lack a day instead of failing"),
    no_cache: bool = typer.Option(False, "--no-cache", help="parse again and do not write the cache"),
    screen: str = typer.Option("error", help=SCREEN_HELP),
) -> None:
    """Parse minute bars (and cache them as Parquet), then print a per-asset summary table; rows dropped outside
    the 09:30-16:00 session and repaired bars are reported."""
    import numpy as np
    import pandas as pd

    from multiexec.data.loaders import load_bars

    t0 = time.perf_counter()
    bars = load_bars(source, _symbols(symbols), "drop" if drop_missing else "error", not no_cache, progress=True,
                     screen=_screen(screen))
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
    repairs = bars.meta.get("repairs", [])
    if repairs:
        shown = pd.DataFrame(repairs[:50])[["file", "line", "symbol", "date", "time", "field", "old", "new", "rule"]]
        shown["file"] = [Path(f).name for f in shown["file"]]
        _print_table(shown, f"repairs by the screen ({len(repairs)}{', first 50' if len(repairs) > 50 else ''})")
    typer.echo(f"rows outside the session dropped: {bars.meta.get('outside_session_rows', 0)}; "
               f"bars repaired by the screen: {len({(x['file'], x['line']) for x in bars.meta.get('repairs', [])})} "
               f"(screen={bars.meta.get('screen', screen)})")


@app.command()
def info(
    config: Optional[Path] = typer.Option(None, help="data config (YAML/JSON/TOML) to load and summarise"),
    source: Optional[str] = typer.Option(None, help="override the config's source"),
    daily: Optional[str] = typer.Option(None, help=DAILY_HELP),
    drop_missing: bool = typer.Option(False, "--drop-missing", help=DROP_HELP),
    screen: Optional[str] = typer.Option(None, help=SCREEN_HELP + "; default: the config's (error)"),
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

        ds = load_dataset(_config(config, source, None, daily, drop_missing, screen), progress=True)
        _print_table(ds.summary(), f"dataset {ds.name}: {ds.bars.n_assets} assets, {ds.bars.n_days} days")
        typer.echo(f"daily history: {ds.daily.meta.get('history', 'none (only the minute bars)')}")


@app.command()
def fit(
    source: str = typer.Option("us_minute_2018", help="real minute bars: 'us_minute_2018', a directory or a file"),
    daily: Optional[str] = typer.Option("auto", help="daily history for drift and daily GARCH; 'auto' uses the "
                                        "shared S&P 500 file with us_minute_2018; 'none' to use only the minute bars"),
    out: Path = typer.Option(Path("synthetic_params.json"), help="where to write the parameters (JSON)"),
    screen: str = typer.Option("error", help=SCREEN_HELP),
) -> None:
    """Estimate the synthetic market's parameters from real minute bars and write them as JSON (about a minute;
    a progress bar shows the stages)."""
    import datetime as dt

    from multiexec.data.loaders import load_bars, load_daily, resolve_source
    from multiexec.data.synthetic import fit_params, save_params
    from multiexec.errors import check_out_file

    check_out_file(out)
    bars = load_bars(source, progress=True, screen=_screen(screen))
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
    params = fit_params(bars, hist, prov, progress=True)
    save_params(params, out)
    typer.echo(f"wrote {out} (t_df {params.t_df:.2f}, intraday GARCH {params.garch_alpha:.3f}/"
               f"{params.garch_beta:.3f}, 30-min correlation {params.factor_corr:.3f})")


@app.command()
def compare(
    source: str = typer.Option("us_minute_2018", help="real minute bars to compare with"),
    params: Optional[Path] = typer.Option(None, help="synthetic parameters JSON (default: the embedded ones)"),
    seed: int = typer.Option(0, min=0, help="seed of the synthetic market (>= 0)"),
    out: Optional[Path] = typer.Option(None, help="also write the table as CSV here"),
    screen: str = typer.Option("error", help=SCREEN_HELP),
) -> None:
    """Statistics of real vs synthetic minute bars (same number of assets and days), as a table."""
    from multiexec.data.loaders import load_bars
    from multiexec.data.synthetic import compare_stats, generate, load_params
    from multiexec.errors import check_out_file

    if out is not None:
        check_out_file(out)
    real = load_bars(source, progress=True, screen=_screen(screen))
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
    seed: Optional[int] = typer.Option(None, min=0, help="override the config's seed (>= 0)"),
    out: Path = typer.Option(Path("orders.csv"), help="orders CSV to write (date,symbol,side,amount,cash)"),
    daily: Optional[str] = typer.Option(None, help=DAILY_HELP),
    drop_missing: bool = typer.Option(False, "--drop-missing", help=DROP_HELP),
    screen: Optional[str] = typer.Option(None, help=SCREEN_HELP + "; default: the config's (error)"),
) -> None:
    """Generate the daily order sets ("buy winners, sell losers"), write them as CSV and print a summary. Orders
    above the participation cap (max_participation of the day's volume, default 0.25) are an error, or cut with
    over_cap: partial in the config."""
    from multiexec.data.dataset import load_dataset
    from multiexec.data.ordergen import write_orders_csv
    from multiexec.errors import check_out_file

    check_out_file(out)
    ds = load_dataset(_config(config, source, seed, daily, drop_missing, screen), progress=True)
    write_orders_csv(ds.orders, out)
    _print_table(ds.summary(), f"orders of {ds.name}")
    typer.echo(f"wrote {sum(o.n for o in ds.orders)} orders on {len(ds.orders)} days to {out}")
