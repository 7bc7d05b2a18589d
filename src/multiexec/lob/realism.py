"""Stylized-facts report of a simulated run, and the realism report that puts it beside real data.

A run folder holds ``bars.parquet``, ``l2.parquet``, ``trades.parquet`` and ``orders.parquet`` (see
:data:`RUN_COLUMNS`). :func:`stylized_facts_report` computes the facts of :mod:`multiexec.lob.facts` per symbol
and writes ``stylized_facts.csv`` and PNG plots; :func:`realism_report` adds the real side: minute-bar facts
from the US minute bars of ``shared/data/us_minute_2018`` and book facts from the LOBSTER AAPL sample of
``shared/data/lobster_aapl_2012-06-21``, and writes ``realism.csv``, ``realism.md`` and plots.

Conventions, the same for simulated and real data:

* minute facts are computed per (symbol, day) over the continuous session 09:30-15:59 (minute-start stamps; the
  real files' 16:00 closing-auction bar is left out), then summarised by the median over days. The real column
  is the median over all ticker-days, with the 10th and 90th percentiles across ticker-days: the range a
  single real day falls in, to compare with a single simulated day.
* book distributions are time-weighted (each L2 snapshot weighs the time it was in force), so event-driven and
  periodic snapshots compare alike; order depth and inter-arrival times weigh each order equally.
* the intraday U-shapes of volume (from ``bars``) and of activity (orders per 30 min, from ``orders``) are
  measured only where the day has volume / orders in its first and last 30 minutes (not for the one-hour
  LOBSTER sample).
* prices differ in level (AAPL 2012 traded near $585), so spread and depth are also given in basis points of
  the mid-price.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from multiexec.errors import MultiexecError
from multiexec.lob import facts
from multiexec.paths import shared_data

RUN_COLUMNS = {
    "bars": ("symbol", "timestamp", "open", "high", "low", "close", "volume"),
    "l2": ("time_ns", "symbol", "bid_px_1", "bid_sz_1", "ask_px_1", "ask_sz_1"),
    "trades": ("time_ns", "symbol", "price", "size", "side"),
    "orders": ("time_ns", "symbol", "agent_id", "agent_type", "msg", "side", "price", "size"),
}
SESSION = (9 * 60 + 30, 16 * 60)  # continuous session, minutes after midnight: 09:30 .. 15:59 bar starts
HORIZONS = (1, 5, 15, 30, 60)
MAX_LAG = 10
BOOK_LEVELS = (1, 5, 10)
BUCKET_MINUTES = 30
REAL_MINUTE_DIR = "us_minute_2018"
REAL_MINUTE_COLUMNS = ("date", "ToD", "open", "high", "low", "close", "volume")
TABLE_COLUMNS = ["category", "fact", "stat", "unit", "symbol", "value", "n"]


# ---------------------------------------------------------------------------------------------------------
# Inputs


def read_run(run_dir: str | Path) -> dict[str, pd.DataFrame]:
    """The four tables of a run folder, with their required columns checked."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise MultiexecError(f"run folder not found: {run_dir}")
    out = {}
    for name, cols in RUN_COLUMNS.items():
        path = run_dir / f"{name}.parquet"
        if not path.is_file():
            raise MultiexecError(f"run folder {run_dir} has no {name}.parquet")
        df = pd.read_parquet(path)
        missing = [c for c in cols if c not in df.columns]
        if missing:
            raise MultiexecError(f"{path}: missing column(s) {missing}")
        out[name] = df
    return out


def read_minute_csvs(folder: str | Path) -> pd.DataFrame:
    """Long minute bars (symbol, timestamp, open, high, low, close, volume) from per-ticker CSV files
    ``<TICKER>.csv[.gz]`` with header ``date,ToD,open,high,low,close,volume`` (the us_minute_2018 format)."""
    from tqdm import tqdm

    folder = Path(folder)
    files = sorted(folder.glob("*.csv.gz")) + sorted(folder.glob("*.csv"))
    if not files:
        raise MultiexecError(f"no <TICKER>.csv or .csv.gz minute files in {folder}")
    frames = []
    for f in tqdm(files, desc="real minute bars", unit="file", leave=False):
        df = pd.read_csv(f)
        missing = [c for c in REAL_MINUTE_COLUMNS if c not in df.columns]
        if missing:
            raise MultiexecError(f"{f}: missing column(s) {missing} (expected {','.join(REAL_MINUTE_COLUMNS)})")
        ts = pd.to_datetime(df["date"] + " " + df["ToD"], format="%Y-%m-%d %H:%M:%S", errors="coerce")
        if ts.isna().any():
            i = int(np.argmax(ts.isna().to_numpy()))
            raise MultiexecError(f"{f}: row {i + 2}: bad date/ToD {df['date'].iloc[i]!r} {df['ToD'].iloc[i]!r}")
        frames.append(
            pd.DataFrame({"symbol": f.name.split(".csv")[0], "timestamp": ts,
                          **{c: df[c].to_numpy(dtype=np.float64) for c in ("open", "high", "low", "close", "volume")}})
        )
    return pd.concat(frames, ignore_index=True)


# ---------------------------------------------------------------------------------------------------------
# Facts of one data set


@dataclass
class MinuteFacts:
    """Minute-bar facts of one data set: one row per (symbol, day) in ``per_day``; plot material besides."""

    per_day: pd.DataFrame  # symbol, date, n, std, kurtosis, acf_1, abs_acf_k, vol_absret_corr, kurt_<h>min, u_ratio
    horizons: pd.DataFrame  # horizon_min, n_per_row, kurtosis (median over days)
    profile: pd.DataFrame  # intraday volume share per bucket (column "mean" = average over days)
    standardized: np.ndarray  # returns z-scored per day, pooled (for the histogram)


def minute_facts(bars: pd.DataFrame) -> MinuteFacts:
    """Compute the minute-bar facts of long bars, per (symbol, day), over :data:`SESSION`."""
    keys, minutes, close, volume = facts.bars_matrix(bars, *SESSION)
    r = facts.log_returns(close)
    rf = facts.return_facts(r, MAX_LAG)
    per_day = keys.copy()
    for k, v in rf.items():
        per_day[k] = v
    per_day["vol_absret_corr"] = facts.volume_abs_return_correlation(volume, r)
    agg = facts.aggregational_normality(r, HORIZONS)
    for _, row in agg.iterrows():
        per_day[f"kurt_{row['horizon_min']}min"] = row["kurtosis_rows"]
    profile = facts.intraday_profile(volume, minutes, BUCKET_MINUTES)
    # the U-shape of a day needs volume in its first and its last bucket (not so for a truncated sample)
    spans_day = (np.nansum(volume[:, :BUCKET_MINUTES], axis=1) > 0) & (
        np.nansum(volume[:, -BUCKET_MINUTES:], axis=1) > 0)
    shares = facts.intraday_profile(volume[spans_day], minutes, BUCKET_MINUTES).drop(columns="mean").to_numpy().T
    per_day["u_ratio"] = np.nan
    per_day["first_bucket_share"] = np.nan
    per_day["last_bucket_share"] = np.nan
    if spans_day.any():
        per_day.loc[spans_day, "u_ratio"] = [facts.u_shape_ratio(s) for s in shares]
        per_day.loc[spans_day, "first_bucket_share"] = shares[:, 0]
        per_day.loc[spans_day, "last_bucket_share"] = shares[:, -1]
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (r - np.nanmean(r, axis=1, keepdims=True)) / rf["std"][:, None] if r.size else r
    z = z[np.isfinite(z)]
    return MinuteFacts(per_day=per_day, horizons=agg.drop(columns="kurtosis_rows"), profile=profile, standardized=z)


MINUTE_FACTS = [  # (fact, column of per_day, unit)
    ("minute_return", "kurtosis", "excess kurtosis"),
    ("minute_return", "acf_1", "autocorrelation lag 1"),
    *[("abs_minute_return", f"abs_acf_{k}", f"autocorrelation lag {k}") for k in range(1, MAX_LAG + 1)],
    *[("aggregational_normality", f"kurt_{h}min", f"excess kurtosis of {h}-min returns") for h in HORIZONS],
    ("minute_return", "std", "log-return std"),
    ("volume_abs_return", "vol_absret_corr", "correlation"),
    ("intraday_volume", "u_ratio", "U ratio (1 = flat)"),
    ("intraday_volume", "first_bucket_share", f"share of day volume, first {BUCKET_MINUTES} min"),
    ("intraday_volume", "last_bucket_share", f"share of day volume, last {BUCKET_MINUTES} min"),
]


def minute_table(mf: MinuteFacts, by_symbol: bool = True) -> pd.DataFrame:
    """Table rows (``TABLE_COLUMNS`` plus ``p10``/``p90``) of minute facts: the median over days, per symbol
    (``by_symbol``) or over all symbols together (symbol ``"all"``), with 10th/90th percentiles over days."""
    groups = mf.per_day.groupby("symbol", sort=True) if by_symbol else [("all", mf.per_day)]
    rows = []
    for sym, g in groups:
        for fact, col, unit in MINUTE_FACTS:
            v = g[col].to_numpy(dtype=np.float64)
            v = v[np.isfinite(v)]
            rows.append(
                {"category": "minute bars", "fact": fact, "stat": col, "unit": unit, "symbol": sym,
                 "value": float(np.median(v)) if v.size else np.nan, "n": int(v.size),
                 "p10": float(np.quantile(v, 0.1)) if v.size else np.nan,
                 "p90": float(np.quantile(v, 0.9)) if v.size else np.nan}
            )
    return pd.DataFrame(rows)


@dataclass
class BookFacts:
    """Book facts of one symbol: raw series with their weights (for plots) and summary rows (for tables)."""

    series: dict[str, tuple[np.ndarray, np.ndarray | None]] = field(default_factory=dict)
    rows: list[dict] = field(default_factory=list)
    levels: int = 0
    n_events: int = 0
    activity: pd.Series | None = None  # share of the day's orders per bucket; None unless orders span the day


BOOK_STATS = ("mean", "std", "p5", "p50", "p95")


def book_facts(l2: pd.DataFrame, orders: pd.DataFrame, trades: pd.DataFrame,
               levels: tuple[int, ...] = BOOK_LEVELS) -> BookFacts:
    """Book, order-flow and trade facts of one symbol (tables already filtered to it, sorted by time). Order-flow
    facts use the order flow as a market-data feed shows it (:func:`multiexec.lob.facts.feed_view`)."""
    orders = facts.feed_view(orders, trades)
    out = BookFacts(levels=facts.book_levels(l2), n_events=len(l2))
    w = facts.snapshot_durations(l2["time_ns"].to_numpy())
    mid = facts.mid_price(l2)
    sp = facts.spread(l2)
    out.series["spread_usd"] = (sp, w)
    out.series["spread_bps"] = (1e4 * sp / mid, w)
    for n in levels:
        if n > out.levels:
            continue
        out.series[f"imbalance_L{n}"] = (facts.imbalance(l2, n), w)
        vol = facts.volume_at_levels(l2, n)
        out.series[f"volume_L{n}"] = (vol["total"].to_numpy(), w)
        out.series[f"bid_volume_L{n}"] = (vol["bid"].to_numpy(), w)
        out.series[f"ask_volume_L{n}"] = (vol["ask"].to_numpy(), w)
    lod = facts.limit_order_depth(orders, l2)
    depth = lod["depth"].to_numpy()
    out.series["limit_order_depth_usd"] = (depth, None)
    out.series["limit_order_depth_bps"] = (1e4 * depth / lod["mid"].to_numpy(), None)
    out.series["inter_arrival_s"] = (facts.inter_arrival_times(orders["time_ns"].to_numpy()), None)
    units = {"spread_usd": "dollars", "spread_bps": "bp of mid", "limit_order_depth_usd": "dollars behind best",
             "limit_order_depth_bps": "bp of mid behind best", "inter_arrival_s": "seconds between orders"}
    for name, (x, wt) in out.series.items():
        unit = units.get(name, "bid share of volume" if name.startswith("imbalance") else "shares")
        s = facts.distribution_summary(x, wt)
        for stat in BOOK_STATS:
            category = "order flow" if name == "inter_arrival_s" or "depth" in name else "book"
            out.rows.append({"category": category, "fact": name, "stat": stat, "unit": unit,
                             "value": s[stat], "n": int(s["n"])})
    ia = out.series["inter_arrival_s"][0]
    if ia.size:
        out.rows.append({"category": "order flow", "fact": "inter_arrival_s", "stat": "cv", "unit": "std / mean",
                         "value": float(ia.std() / ia.mean()) if ia.mean() > 0 else np.nan, "n": int(ia.size)})
    if len(lod):
        out.rows.append({"category": "order flow", "fact": "limit_order_depth_usd", "stat": "share_inside_spread",
                         "unit": "share of limit orders priced better than own best",
                         "value": float(np.mean(depth[np.isfinite(depth)] < 0)), "n": int(np.isfinite(depth).sum())})
    minute = orders["time_ns"].to_numpy() // (60 * facts.NS_PER_SECOND)
    session = np.arange(*SESSION)
    counts = np.bincount(minute[(minute >= SESSION[0]) & (minute < SESSION[1])] - SESSION[0],
                         minlength=len(session))
    if counts[:BUCKET_MINUTES].sum() > 0 and counts[-BUCKET_MINUTES:].sum() > 0:
        out.activity = facts.intraday_profile(counts, session, BUCKET_MINUTES)["mean"]
        out.rows.append({"category": "order flow", "fact": "intraday_activity", "stat": "u_ratio",
                         "unit": "U ratio of order counts (1 = flat)",
                         "value": facts.u_shape_ratio(out.activity), "n": int(counts.sum())})
    msg = orders["msg"].value_counts()
    for kind in ("limit", "market", "cancel", "modify"):
        out.rows.append({"category": "order flow", "fact": "message_mix", "stat": kind, "unit": "share of orders",
                         "value": float(msg.get(kind, 0) / max(len(orders), 1)), "n": len(orders)})
    vol = trades["size"].to_numpy(dtype=np.float64)
    if vol.sum() > 0:
        out.rows.append({"category": "trades", "fact": "buyer_initiated_volume", "stat": "share",
                         "unit": "share of traded volume", "value": float(vol[trades["side"].to_numpy() > 0].sum()
                                                                          / vol.sum()), "n": len(trades)})
        out.rows.append({"category": "trades", "fact": "trade_size", "stat": "mean", "unit": "shares",
                         "value": float(vol.mean()), "n": len(trades)})
    return out


def _by_symbol(df: pd.DataFrame, sym) -> pd.DataFrame:
    return df[df["symbol"] == sym].sort_values("time_ns", kind="stable").reset_index(drop=True)


def run_facts(tables: dict[str, pd.DataFrame]) -> tuple[MinuteFacts, dict[str, BookFacts], pd.DataFrame]:
    """All facts of a run's tables: minute facts, book facts per symbol, and the long facts table."""
    mf = minute_facts(tables["bars"])
    parts = [minute_table(mf).drop(columns=["p10", "p90"])]
    books = {}
    per = {k: tables[k].assign(symbol=tables[k]["symbol"].astype(str)) for k in ("l2", "orders", "trades")}
    for sym in sorted(per["l2"]["symbol"].unique()):
        bf = book_facts(*(_by_symbol(per[k], sym) for k in ("l2", "orders", "trades")))
        books[sym] = bf
        parts.append(pd.DataFrame(bf.rows).assign(symbol=sym))
    table = pd.concat(parts, ignore_index=True)[TABLE_COLUMNS]
    return mf, books, table


# ---------------------------------------------------------------------------------------------------------
# Plots


def _plot_minute(path: Path, sets: dict[str, MinuteFacts],
                 activity: dict[str, pd.Series] | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(2, 2, figsize=(11, 8))
    bins = np.linspace(-8, 8, 81)
    for label, mf in sets.items():
        if mf.standardized.size:
            ax[0, 0].hist(mf.standardized, bins=bins, density=True, histtype="step", label=label)
        lags = np.arange(1, MAX_LAG + 1)
        med = [np.nanmedian(mf.per_day[f"abs_acf_{k}"]) for k in lags]
        (line,) = ax[0, 1].plot(lags, med, marker="o", label=f"|r| {label}")
        ax[0, 1].plot([1], [np.nanmedian(mf.per_day["acf_1"])], marker="s", ls="none", color=line.get_color(),
                      mfc="none", ms=9, label=f"r lag 1 {label}")
        ax[1, 0].plot(mf.horizons["horizon_min"], mf.horizons["kurtosis"], marker="o", label=label)
        if len(mf.per_day) > 1:  # the range of single days (10th-90th percentile)
            for a, x, cols in ((ax[0, 1], lags, [f"abs_acf_{k}" for k in lags]),
                               (ax[1, 0], np.array(HORIZONS), [f"kurt_{h}min" for h in HORIZONS])):
                q = np.nanquantile(mf.per_day[cols].to_numpy(dtype=np.float64), [0.1, 0.9], axis=0)
                a.fill_between(x, q[0], q[1], color=line.get_color(), alpha=0.15, lw=0)
        prof = mf.profile["mean"]
        ax[1, 1].plot((prof.index.to_numpy() - SESSION[0]) / 60 + 9.5, prof.to_numpy(), marker="o",
                      label=f"volume {label}")
    for label, prof in (activity or {}).items():
        ax[1, 1].plot((prof.index.to_numpy() - SESSION[0]) / 60 + 9.5, prof.to_numpy(), marker="x", ls="--",
                      label=f"orders {label}")
    xs = np.linspace(-8, 8, 400)
    ax[0, 0].plot(xs, np.exp(-xs**2 / 2) / np.sqrt(2 * np.pi), "k:", label="N(0, 1)")
    ax[0, 0].set(yscale="log", ylim=(1e-5, 1), xlabel="minute log-return, z-scored per day", ylabel="density",
                 title="heavy tails")
    ax[0, 1].axhline(0, color="grey", lw=0.5)
    ax[0, 1].set(xlabel="lag (minutes)", ylabel="autocorrelation (median over days)",
                 title="no return autocorrelation, volatility clustering")
    ax[1, 0].axhline(0, color="grey", lw=0.5)
    ax[1, 0].set(xscale="log", xlabel="horizon (minutes)", ylabel="excess kurtosis (median over days)",
                 title="aggregational normality")
    ax[1, 1].set(xlabel="hour of day (bucket start)", ylabel=f"share of the day per {BUCKET_MINUTES} min",
                 title="intraday volume and order activity")
    for a in ax.flat:
        if a.get_legend_handles_labels()[0]:
            a.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


BOOK_PLOTS = [  # (series, x label, log-x)
    ("spread_bps", "spread (bp of mid)", False),
    ("imbalance_L1", "imbalance I^1 (bid share, level 1)", False),
    ("imbalance_L5", "imbalance I^5 (bid share, 5 levels)", False),
    ("volume_L1", "volume at level 1 (shares)", True),
    ("limit_order_depth_bps", "limit order depth behind best (bp of mid)", False),
    ("inter_arrival_s", "order inter-arrival time (s)", True),
]


def _plot_book(path: Path, sim: dict[str, BookFacts], real: dict[str, BookFacts] | None = None) -> None:
    """Histograms of the book facts: every simulated symbol, and per panel the longest real sample that has the
    series. Bars are shares of time (book snapshots, time-weighted) or of orders per bin, on common bins."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(2, 3, figsize=(14, 7.5))
    for a, (name, xlabel, logx) in zip(ax.flat, BOOK_PLOTS):
        sets = {k: v for k, v in sim.items() if name in v.series}
        having = {k: v for k, v in (real or {}).items() if name in v.series}
        if having:
            label = max(having, key=lambda k: having[k].n_events)
            sets[label] = having[label]
        data = {}
        for label, bf in sets.items():
            x, w = bf.series[name]
            w = np.ones_like(x) if w is None else w
            ok = np.isfinite(x) & (w > 0) & ((x > 0) if logx else True)
            if ok.any():
                data[label] = (x[ok], w[ok] / w[ok].sum())
        if data:
            lo = min(facts.weighted_quantile(x, 0.02, w)[0] for x, w in data.values())
            hi = max(facts.weighted_quantile(x, 0.98, w)[0] for x, w in data.values())
            hi = max(hi, lo * 1.01 if logx else lo + 1e-9)
            bins = np.logspace(np.log10(lo), np.log10(hi), 50) if logx else np.linspace(lo, hi, 50)
            for label, (x, w) in data.items():
                a.hist(np.clip(x, lo, hi), bins=bins, weights=w, histtype="step", label=label)
        weighted = name not in ("inter_arrival_s", "limit_order_depth_bps")
        a.set(xlabel=xlabel, ylabel="share of time" if weighted else "share of orders")
        if logx:
            a.set_xscale("log")
        if a.get_legend_handles_labels()[0]:
            a.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _activity(books: dict[str, BookFacts]) -> dict[str, pd.Series]:
    return {f"simulated {s}": b.activity for s, b in books.items() if b.activity is not None}


def _fmt(v) -> str:
    if isinstance(v, (float, np.floating)):
        return "" if not np.isfinite(v) else f"{v:.4g}"
    return str(v)


def markdown_table(df: pd.DataFrame) -> str:
    """A GitHub markdown table of ``df`` (floats to 4 significant digits)."""
    lines = ["| " + " | ".join(map(str, df.columns)) + " |", "|" + "---|" * len(df.columns)]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(_fmt(v) for v in row) + " |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------
# Reports


FACTS_FILES = ("stylized_facts.csv", "minute_facts.png", "book_facts.png")
"""The files :func:`stylized_facts_report` writes."""
REALISM_FILES = (*FACTS_FILES, "realism.csv", "realism.md")
"""The files :func:`realism_report` writes."""


def stylized_facts_report(run_dir: str | Path, out_dir: str | Path) -> pd.DataFrame:
    """Stylized facts of a run: writes ``stylized_facts.csv``, ``minute_facts.png`` and ``book_facts.png``
    into ``out_dir`` and returns the table (columns :data:`TABLE_COLUMNS`; minute facts are the median over
    the symbol's days)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    mf, books, table = run_facts(read_run(run_dir))
    table.to_csv(out_dir / "stylized_facts.csv", index=False)
    _plot_minute(out_dir / "minute_facts.png", {"simulated": mf}, _activity(books))
    _plot_book(out_dir / "book_facts.png", {f"simulated {s}": b for s, b in books.items()})
    return table


def real_minute_facts(folder: str | Path | None = None) -> tuple[pd.DataFrame, MinuteFacts | None, list[str]]:
    """Minute facts of the real US minute bars (default: the shared ``us_minute_2018``): rows with the median,
    p10 and p90 over ticker-days. Empty rows and a note where the data is absent."""
    folder = shared_data(REAL_MINUTE_DIR) if folder is None else Path(folder)
    if folder is None:
        return pd.DataFrame(), None, [f"real minute bars absent (shared/data/{REAL_MINUTE_DIR} not found): "
                                      "minute facts have no real column"]
    bars = read_minute_csvs(folder)
    mf = minute_facts(bars)
    n_sym, n_days = bars["symbol"].nunique(), mf.per_day["date"].nunique()
    rows = minute_table(mf, by_symbol=False).drop(columns="symbol")
    rows["real_source"] = f"{Path(folder).name}: {n_sym} tickers x {n_days} days (median over ticker-days)"
    note = (f"real minute facts: {Path(folder)} ({n_sym} tickers, {n_days} days, {len(mf.per_day)} ticker-days), "
            "09:30-15:59 bars; the 16:00 closing-auction bar is left out; minutes without a bar carry the last "
            "close with zero volume")
    return rows, mf, [note]


def real_book_facts(root: str | Path | None = None) -> tuple[pd.DataFrame, dict[str, BookFacts], list[str]]:
    """Book facts of the LOBSTER samples (default: the shared AAPL 2012-06-21 samples). Each fact comes from the
    longest sample that has enough book levels for it (level-1 facts and order flow: the 1-hour sample;
    5- and 10-level facts: the ~50 s level-10 sample)."""
    from multiexec.lob.lobster import lobster_samples, lobster_tables, read_lobster

    pairs = lobster_samples(root)
    if not pairs:
        where = "shared/data/lobster_aapl_2012-06-21" if root is None else str(root)
        return pd.DataFrame(), {}, [f"LOBSTER samples absent ({where} not found or empty): book facts have no "
                                    "real column"]
    per_sample, books, notes = [], {}, []
    for msg_csv, book_csv in pairs:
        data = read_lobster(msg_csv, book_csv)
        t = lobster_tables(data)
        bf = book_facts(t["l2"], t["orders"], t["trades"])
        t0, t1 = data.messages["time"].iloc[[0, -1]]
        clock = lambda s: f"{int(s // 3600):02d}:{int(s % 3600 // 60):02d}:{int(s % 60):02d}"  # noqa: E731
        label = f"real LOBSTER {data.symbol} {data.date} {clock(t0)}-{clock(t1)}, {data.levels} level(s)"
        books[label] = bf
        source = f"{label} [{msg_csv.parent.name}]"
        per_sample.append(pd.DataFrame(bf.rows).assign(real_source=source, _events=len(data)))
        notes.append(f"{source}: {len(data)} events")
    allrows = pd.concat(per_sample, ignore_index=True)
    best = allrows.sort_values("_events", ascending=False, kind="stable").drop_duplicates(
        ["category", "fact", "stat"])
    rows = best.drop(columns="_events").rename(columns={"value": "real"})
    return rows, books, notes


HEADLINE = [  # (fact, stat) shown first in realism.md
    ("minute_return", "kurtosis"), ("minute_return", "acf_1"), ("abs_minute_return", "abs_acf_1"),
    ("abs_minute_return", "abs_acf_10"), ("aggregational_normality", "kurt_30min"),
    ("volume_abs_return", "vol_absret_corr"), ("intraday_volume", "u_ratio"), ("spread_bps", "p50"),
    ("imbalance_L1", "std"), ("imbalance_L5", "std"), ("volume_L1", "p50"), ("limit_order_depth_bps", "p50"),
    ("inter_arrival_s", "p50"), ("inter_arrival_s", "cv"), ("intraday_activity", "u_ratio"),
    ("buyer_initiated_volume", "share"),
]
REAL_COLUMNS = ["category", "fact", "stat", "unit", "real", "real_p10", "real_p90", "n_real", "real_source"]


@dataclass
class RealFacts:
    """Real-data side of the realism report: ``table`` (columns :data:`REAL_COLUMNS`; empty where the data is
    absent), plot material and notes."""

    table: pd.DataFrame
    minute: MinuteFacts | None
    book: dict[str, BookFacts]
    notes: list[str]


def real_facts(real_minute: str | Path | None = None, real_lobster: str | Path | None = None) -> RealFacts:
    """Facts of the real data: minute facts of the US minute bars and book facts of the LOBSTER samples
    (defaults: the shared folders; absent defaults give no rows and a note; an absent given folder is an
    error)."""
    for arg, name in ((real_minute, "real_minute"), (real_lobster, "real_lobster")):
        if arg is not None and not Path(arg).is_dir():
            raise MultiexecError(f"{name} folder not found: {arg}")
    mrows, mf, mnotes = real_minute_facts(real_minute)
    brows, books, bnotes = real_book_facts(real_lobster)
    parts = []
    if len(mrows):
        parts.append(mrows.rename(columns={"value": "real", "p10": "real_p10", "p90": "real_p90", "n": "n_real"}))
    if len(brows):
        parts.append(brows.rename(columns={"n": "n_real"}).assign(real_p10=np.nan, real_p90=np.nan))
    table = pd.concat(parts, ignore_index=True)[REAL_COLUMNS] if parts else pd.DataFrame(columns=REAL_COLUMNS)
    return RealFacts(table=table, minute=mf, book=books, notes=mnotes + bnotes)


def realism_report(run_dir: str | Path, out_dir: str | Path, real_minute: str | Path | None = None,
                   real_lobster: str | Path | None = None) -> pd.DataFrame:
    """Each fact of the simulated run beside the real data. Writes ``realism.csv``, ``realism.md``,
    ``stylized_facts.csv`` (simulated only), ``minute_facts.png`` and ``book_facts.png`` (simulated and real
    together) into ``out_dir`` and returns the side-by-side table: ``category, fact, stat, unit, symbol,
    simulated, n_sim, real, real_p10, real_p90, n_real, in_real_range, real_source``.

    ``real_minute``: folder of ``<TICKER>.csv.gz`` minute files (default: shared ``us_minute_2018``);
    ``real_lobster``: folder holding LOBSTER sample pairs (default: shared ``lobster_aapl_2012-06-21``).
    Where the default data is absent the real columns stay empty and ``realism.md`` says so.
    ``in_real_range`` (minute facts only): the simulated value lies within the real p10-p90 over ticker-days.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    mf, books, sim = run_facts(read_run(run_dir))
    sim.to_csv(out_dir / "stylized_facts.csv", index=False)
    real = real_facts(real_minute, real_lobster)

    table = sim.rename(columns={"value": "simulated", "n": "n_sim"}).merge(
        real.table.drop(columns=["unit", "category"]), on=["fact", "stat"], how="left")
    for col in ("real", "real_p10", "real_p90", "n_real"):
        table[col] = table[col].astype(np.float64)
    inside = (table["simulated"] >= table["real_p10"]) & (table["simulated"] <= table["real_p90"])
    table["in_real_range"] = np.where(table["real_p10"].notna() & table["simulated"].notna(), inside, None)
    table = table[["category", "fact", "stat", "unit", "symbol", "simulated", "n_sim", "real", "real_p10",
                   "real_p90", "n_real", "in_real_range", "real_source"]]
    table.to_csv(out_dir / "realism.csv", index=False)

    minute_sets = {"simulated": mf} | ({"real US minute bars": real.minute} if real.minute is not None else {})
    _plot_minute(out_dir / "minute_facts.png", minute_sets, _activity(books))
    _plot_book(out_dir / "book_facts.png", {f"simulated {s}": b for s, b in books.items()}, real.book)
    notes = real.notes + [
        "minute facts: median over days of per-(symbol, day) statistics; real p10/p90 across ticker-days "
        "(the range one real day falls in)",
        "aggregational normality is measured per day: a day has 78/26/13/6 returns at 5/15/30/60 min, so the "
        "sample kurtosis at long horizons is biased low on both sides alike",
        "book distributions are time-weighted; spread and depth also in bp of mid (price levels differ)",
        "the LOBSTER book sample covers 09:30-10:30 only (the open, usually wider spreads); 5/10-level facts "
        "come from its first ~50 s",
    ]
    md = ["# Realism report", "", f"run: `{Path(run_dir)}`", ""]
    ranged = table[table["in_real_range"].notna()]
    if len(ranged):
        md += [f"Minute facts inside the real p10-p90 range over ticker-days: {int(ranged['in_real_range'].sum())} "
               f"of {len(ranged)}.", ""]
    key = pd.MultiIndex.from_frame(table[["fact", "stat"]])
    head = table[key.isin(HEADLINE)]
    md += ["## Headline facts", "", markdown_table(head[["fact", "stat", "unit", "symbol", "simulated", "real",
                                                        "real_p10", "real_p90"]]), ""]
    md += ["## Notes", ""] + [f"- {n}" for n in notes]
    md += ["", "## All facts, simulated beside real", "", markdown_table(table.drop(columns="real_source")), "",
           "## Real sources", ""]
    md += [f"- {s}" for s in table["real_source"].dropna().unique()]
    md += ["", "Plots: `minute_facts.png`, `book_facts.png`.", ""]
    (out_dir / "realism.md").write_text("\n".join(md))
    return table
