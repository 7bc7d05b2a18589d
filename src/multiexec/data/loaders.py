"""Loaders for real market data; every minute loader returns :class:`MinuteBars` on a regular grid.

Per-ticker CSV directory (:func:`load_minute_dir`), the format of ``shared/data/us_minute_2018``:
one ``<SYMBOL>.csv`` or ``<SYMBOL>.csv.gz`` per asset with header ``date,ToD,open,high,low,close,volume``
(``YYYY-MM-DD``, ``HH:MM:SS`` US/Eastern naive wall clock, sorted ascending).

Grid rule for that format: 390 minutes, 09:30 .. 15:59 (the stamp of a bar is its minute).
- The 16:00 bar (the closing-auction print) is folded into the 15:59 bar: its volume is added, the
  15:59 close is replaced by the 16:00 close and high/low are extended; if there is no 15:59 bar,
  the 16:00 bar takes its place.
- Rows outside 09:30 .. 16:00 are ignored and counted in ``meta["outside_session_rows"]``.
- Minutes without a bar carry the previous close as open/high/low/close with zero volume and
  ``traded=False``; a day that starts without trades takes the open of its first traded bar
  (the only backward fill, also ``traded=False``).
- A day that other assets have but an asset lacks is an error naming the file and date, unless
  ``on_missing="drop"``: then such assets are dropped and listed in ``meta["dropped"]``.

Generic long table (:func:`load_long_table`): CSV (plain or gzip) or Parquet with columns
``symbol,timestamp,open,high,low,close,volume`` (extra columns ignored), naive wall-clock
timestamps (tz-aware ones keep their wall clock), rows of one symbol in increasing time. The grid
is inferred: the minutes that occur on any day for any symbol; nothing is folded. Same fill and
missing-day rules. The LOB simulator's ``bars.parquet`` is in this format.

Daily bars (:func:`load_daily`) in the format of ``shared/data/sp500_daily_2013_2018``
(``date,open,high,low,close,volume,Name``) into :class:`DailyBars`. A row without a close is an error;
a row with a close but missing open/high/low has them set to the close (the shared file has 11 such
rows), counted in ``meta["filled_ohl"]``. Unadjusted jumps are screened (see :mod:`.daily`).

Everything parsed is cached as Parquet (:mod:`.cache`), keyed by paths, sizes and mtimes.
Bad input raises :class:`MultiexecError` naming the file and line (line 1 is the header).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from multiexec.data.bars import FIELDS, MinuteBars
from multiexec.data.cache import cache_key, cache_path, load_arrays, save_arrays
from multiexec.data.daily import DAILY_FIELDS, DailyBars
from multiexec.errors import MultiexecError
from multiexec.paths import shared_data

OnMissing = Literal["error", "drop"]
MINUTE_COLUMNS = ["date", "ToD", "open", "high", "low", "close", "volume"]
LONG_COLUMNS = ["symbol", "timestamp", "open", "high", "low", "close", "volume"]
DAILY_COLUMNS = ["date", "open", "high", "low", "close", "volume", "Name"]
US_OPEN, US_CLOSE = 570, 960  # 09:30 and 16:00 in minutes after midnight
US_GRID = np.arange(US_OPEN, US_CLOSE)  # 390 minutes, 09:30 .. 15:59


# ----------------------------------------------------------------------------------------- parsing
def _read_csv(path: Path, expected: list[str], exact: bool) -> pd.DataFrame:
    """Read a CSV, check its header; malformed lines raise naming the file and line."""
    if not path.exists():
        raise MultiexecError(f"file not found: {path}")
    try:
        df = pd.read_csv(path, keep_default_na=False, na_values=[""], dtype={"Name": str, "symbol": str})
    except pd.errors.EmptyDataError:
        raise MultiexecError(f"{path}: empty file (expected header {','.join(expected)})") from None
    except pd.errors.ParserError as exc:
        raise MultiexecError(f"{path}: malformed CSV: {exc}".strip()) from None
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise MultiexecError(f"{path}: cannot read file: {exc}") from None
    cols = [c.strip() for c in df.columns]
    df.columns = cols
    missing = [c for c in expected if c not in cols]
    if missing or (exact and cols != expected):
        raise MultiexecError(
            f"{path}: malformed header {','.join(cols)!r}; expected {','.join(expected)!r}"
            + (f" (missing {missing})" if missing else "")
        )
    return df


def _numeric(df: pd.DataFrame, cols: list[str], path: Path, line_of) -> dict[str, np.ndarray]:
    """Columns as float64; an empty or non-numeric cell raises naming the line and column."""
    out = {}
    for c in cols:
        col = df[c]
        if pd.api.types.is_numeric_dtype(col):
            out[c] = col.to_numpy(dtype=np.float64)
            continue
        vals = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64)
        bad = np.isnan(vals) & col.notna().to_numpy()
        if bad.any():
            bad &= ~(col.astype(str).str.strip().str.lower() == "nan").to_numpy()
        if bad.any():
            i = int(np.argmax(bad))
            raise MultiexecError(f"{path}: {line_of(i)}: column {c!r} is not a number ({col.iloc[i]!r})")
        out[c] = vals
    return out


def _check_values(vals: dict[str, np.ndarray], path: Path, line_of, where=None) -> None:
    """NaN or non-positive prices and negative or NaN volume raise naming the line."""
    for c in ("open", "high", "low", "close"):
        bad = ~np.isfinite(vals[c]) | (vals[c] <= 0)
        if bad.any():
            i = int(np.argmax(bad))
            extra = f" ({where(i)})" if where else ""
            raise MultiexecError(f"{path}: {line_of(i)}{extra}: {c} price is NaN or non-positive ({vals[c][i]})")
    bad = ~np.isfinite(vals["volume"]) | (vals["volume"] < 0)
    if bad.any():
        i = int(np.argmax(bad))
        extra = f" ({where(i)})" if where else ""
        raise MultiexecError(f"{path}: {line_of(i)}{extra}: volume is negative or NaN ({vals['volume'][i]})")


def _check_order(t: np.ndarray, path: Path, line_of, where=None) -> None:
    """Strictly increasing stamps; a duplicate or a step back raises naming the line."""
    if len(t) < 2:
        return
    d = np.diff(t)
    bad = d <= 0
    if bad.any():
        i = int(np.argmax(bad)) + 1
        kind = "duplicate timestamp" if d[i - 1] == 0 else "timestamps not sorted (earlier than the row before)"
        extra = f" ({where(i)})" if where else ""
        raise MultiexecError(f"{path}: {line_of(i)}{extra}: {kind}")


def _parse_minute_file(path: Path) -> dict[str, np.ndarray]:
    """One per-ticker CSV -> arrays day (datetime64[D]), minute (int), open..volume."""
    df = _read_csv(path, MINUTE_COLUMNS, exact=True)
    line_of = lambda i: f"line {i + 2}"  # noqa: E731
    if len(df) == 0:
        raise MultiexecError(f"{path}: no rows")
    stamp = pd.to_datetime(df["date"].astype(str) + " " + df["ToD"].astype(str), format="%Y-%m-%d %H:%M:%S",
                           errors="coerce")
    if stamp.isna().any():
        i = int(np.argmax(stamp.isna().to_numpy()))
        raise MultiexecError(f"{path}: {line_of(i)}: bad date/time {df['date'].iloc[i]!r} {df['ToD'].iloc[i]!r} "
                             "(expected YYYY-MM-DD and HH:MM:SS)")
    vals = _numeric(df, list(FIELDS), path, line_of)
    _check_values(vals, path, line_of)
    t = stamp.to_numpy().astype("datetime64[m]")
    days = t.astype("datetime64[D]")
    minute = (t - days).astype(np.int64)
    _check_order(days.astype(np.int64) * 1440 + minute, path, line_of)
    return {"day": days, "minute": minute, **vals}


# ------------------------------------------------------------------------------------------- grid
def _to_grid(
    per_symbol: dict[str, dict[str, np.ndarray]],
    files: dict[str, str],
    grid: np.ndarray,
    fold_after: int | None,
    on_missing: OnMissing,
    source: str,
) -> MinuteBars:
    """Place parsed rows on the (day, asset, minute) grid and fill minutes without trades.

    ``fold_after``: a bar stamped exactly there (16:00) is folded into the grid's last minute.
    """
    if on_missing not in ("error", "drop"):
        raise MultiexecError(f"on_missing must be 'error' or 'drop', got {on_missing!r}")
    lo, hi = grid[0], grid[-1]
    outside = 0
    kept = {}
    for sym, r in per_symbol.items():
        ok = (r["minute"] >= lo) & (r["minute"] <= hi)
        if fold_after is not None:
            ok |= r["minute"] == fold_after
        else:
            ok &= np.isin(r["minute"], grid)
        outside += int((~ok).sum())
        kept[sym] = {k: v[ok] for k, v in r.items()}
    all_days = np.unique(np.concatenate([np.unique(r["day"]) for r in kept.values()]))
    dropped = {}
    for sym, r in list(kept.items()):
        lacking = np.setdiff1d(all_days, np.unique(r["day"]))
        if len(lacking):
            if on_missing == "error":
                raise MultiexecError(
                    f"{files[sym]}: no bars for {sym} on {lacking[0]}"
                    + (f" (and {len(lacking) - 1} more days)" if len(lacking) > 1 else "")
                    + "; other assets have that day (use on_missing='drop' / --drop-missing to drop such assets)"
                )
            dropped[sym] = [str(d) for d in lacking]
            del kept[sym]
    if not kept:
        raise MultiexecError(f"{source}: no asset has bars on every day")
    symbols = sorted(kept)
    D, A, M = len(all_days), len(symbols), len(grid)
    arr = {f: np.full((D, A, M), np.nan) for f in FIELDS}
    for a, sym in enumerate(symbols):
        r = kept[sym]
        di = np.searchsorted(all_days, r["day"])
        main = r["minute"] != fold_after if fold_after is not None else np.ones(len(di), bool)
        mi = np.searchsorted(grid, r["minute"][main])
        for f in FIELDS:
            arr[f][di[main], a, mi] = r[f][main]
        if fold_after is not None and (~main).any():
            fd = di[~main]
            has = ~np.isnan(arr["close"][fd, a, M - 1])
            fr = {f: r[f][~main] for f in FIELDS}
            last = (fd, a, M - 1)
            arr["volume"][last] = np.where(has, arr["volume"][last] + fr["volume"], fr["volume"])
            arr["high"][last] = np.where(has, np.maximum(arr["high"][last], fr["high"]), fr["high"])
            arr["low"][last] = np.where(has, np.minimum(arr["low"][last], fr["low"]), fr["low"])
            arr["open"][last] = np.where(has, arr["open"][last], fr["open"])
            arr["close"][last] = fr["close"]
    traded = ~np.isnan(arr["close"])
    _fill(arr, traded)
    meta = {"outside_session_rows": outside, "dropped": dropped, "fill_fraction": float(1 - traded.mean())}
    return MinuteBars(symbols=symbols, dates=all_days, minutes=grid, traded=traded, source=source, meta=meta, **arr)


def _fill(arr: dict[str, np.ndarray], traded: np.ndarray) -> None:
    """In place: carry the previous close into minutes without trades (volume 0); back-fill a day's start."""
    M = traded.shape[-1]
    idx = np.where(traded, np.arange(M), -1)
    np.maximum.accumulate(idx, axis=-1, out=idx)
    first = np.argmax(traded, axis=-1)[..., None]
    lead = idx < 0
    carry = np.take_along_axis(arr["close"], np.maximum(idx, 0), axis=-1)
    first_open = np.take_along_axis(arr["open"], first, axis=-1)
    price = np.where(lead, first_open, carry)
    for f in ("open", "high", "low", "close"):
        np.copyto(arr[f], price, where=~traded)
    np.copyto(arr["volume"], 0.0, where=~traded)


# --------------------------------------------------------------------------------------- caching
def _bars_to_cache(path: Path, bars: MinuteBars) -> None:
    header = {"symbols": bars.symbols, "dates": [str(d) for d in bars.dates], "minutes": bars.minutes.tolist(),
              "source": bars.source, "meta": bars.meta}
    save_arrays(path, {f: getattr(bars, f) for f in FIELDS + ("traded",)}, header)


def _bars_from_cache(path: Path) -> MinuteBars | None:
    got = load_arrays(path)
    if got is None:
        return None
    arrays, h = got
    meta = dict(h["meta"], cache=str(path))
    return MinuteBars(symbols=h["symbols"], dates=np.array(h["dates"], dtype="datetime64[D]"),
                      minutes=np.array(h["minutes"]), source=h["source"], meta=meta, **arrays)


def _cached_bars(kind: str, files: list[Path], options: dict, build, cache: bool) -> MinuteBars:
    t0 = time.perf_counter()
    if cache:
        path = cache_path(kind, cache_key(kind, files, options))
        bars = _bars_from_cache(path)
        if bars is not None:
            bars.meta.update(cache_hit=True, load_seconds=time.perf_counter() - t0)
            return bars
    bars = build()
    if cache:
        _bars_to_cache(path, bars)
        bars.meta["cache"] = str(path)
    bars.meta.update(cache_hit=False, load_seconds=time.perf_counter() - t0)
    return bars


# --------------------------------------------------------------------------------------- loaders
def _symbol_of(path: Path) -> str:
    name = path.name
    for suffix in (".csv.gz", ".csv"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def minute_dir_files(path: str | Path, symbols: list[str] | None = None) -> dict[str, Path]:
    """``{symbol: file}`` of a per-ticker CSV directory, restricted to ``symbols`` (unknown ones raise)."""
    path = Path(path)
    if not path.is_dir():
        raise MultiexecError(f"directory not found: {path}")
    files = {}
    for p in sorted(path.iterdir()):
        if p.name.endswith((".csv", ".csv.gz")):
            sym = _symbol_of(p)
            if sym in files:
                raise MultiexecError(f"{path}: both {files[sym].name} and {p.name} hold symbol {sym}")
            files[sym] = p
    if not files:
        raise MultiexecError(f"{path}: no <SYMBOL>.csv or <SYMBOL>.csv.gz files")
    if symbols is not None:
        unknown = [s for s in symbols if s not in files]
        if unknown:
            raise MultiexecError(f"{path}: unknown symbol(s) {unknown[:10]} (no such files; {len(files)} available)")
        files = {s: files[s] for s in symbols}
    return files


def load_minute_dir(
    path: str | Path, symbols: list[str] | None = None, on_missing: OnMissing = "error", cache: bool = True,
    progress: bool = False,
) -> MinuteBars:
    """Per-ticker CSV directory (``us_minute_2018`` format) -> :class:`MinuteBars` on the 390-minute grid."""
    files = minute_dir_files(path, symbols)

    def build() -> MinuteBars:
        from tqdm import tqdm

        parsed = {s: _parse_minute_file(p) for s, p in tqdm(files.items(), desc="parsing", disable=not progress)}
        return _to_grid(parsed, {s: str(p) for s, p in files.items()}, US_GRID, US_CLOSE, on_missing, str(path))

    return _cached_bars("data-minute", list(files.values()), {"on_missing": on_missing, "symbols": sorted(files)},
                        build, cache)


def _read_table(path: Path) -> tuple[pd.DataFrame, str]:
    """Long table from Parquet or CSV; returns the frame and the row-label style."""
    if not path.exists():
        raise MultiexecError(f"file not found: {path}")
    if path.suffix == ".parquet":
        try:
            df = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises several types for unreadable files
            raise MultiexecError(f"{path}: cannot read Parquet file: {exc}") from None
        missing = [c for c in LONG_COLUMNS if c not in df.columns]
        if missing:
            raise MultiexecError(f"{path}: missing column(s) {missing}; expected {','.join(LONG_COLUMNS)}")
        return df.reset_index(drop=True), "row"
    return _read_csv(path, LONG_COLUMNS, exact=False), "line"


def load_long_table(
    path: str | Path, symbols: list[str] | None = None, on_missing: OnMissing = "error", cache: bool = True
) -> MinuteBars:
    """Long table (symbol,timestamp,open,high,low,close,volume; CSV or Parquet) -> :class:`MinuteBars`."""
    path = Path(path)

    def build() -> MinuteBars:
        df, style = _read_table(path)
        line_of = (lambda i: f"line {i + 2}") if style == "line" else (lambda i: f"row {i + 1}")  # noqa: E731
        if len(df) == 0:
            raise MultiexecError(f"{path}: no rows")
        sym = df["symbol"].astype(str).str.strip().to_numpy()
        if symbols is not None:
            unknown = sorted(set(symbols) - set(sym))
            if unknown:
                raise MultiexecError(f"{path}: unknown symbol(s) {unknown[:10]} (not in the table)")
        ts = df["timestamp"]
        if not pd.api.types.is_datetime64_any_dtype(ts):
            ts = pd.to_datetime(ts.astype(str), errors="coerce", format="ISO8601")
        if getattr(ts.dt, "tz", None) is not None:
            ts = ts.dt.tz_localize(None)
        if ts.isna().any():
            i = int(np.argmax(ts.isna().to_numpy()))
            raise MultiexecError(f"{path}: {line_of(i)}: bad timestamp {df['timestamp'].iloc[i]!r}")
        if style == "line":
            vals = _numeric(df, list(FIELDS), path, line_of)
        else:
            vals = {f: pd.to_numeric(df[f], errors="coerce").to_numpy(np.float64) for f in FIELDS}
        where = lambda i: f"symbol {sym[i]}"  # noqa: E731
        _check_values(vals, path, line_of, where)
        t = ts.to_numpy().astype("datetime64[m]").astype(np.int64)
        order = np.lexsort((np.arange(len(sym)), sym))  # group rows by symbol, keeping file order
        ts_sorted, sym_sorted = t[order], sym[order]
        same = sym_sorted[1:] == sym_sorted[:-1]
        bad = same & (np.diff(ts_sorted) <= 0)
        if bad.any():
            j = int(np.argmax(bad)) + 1
            i = int(order[j])
            kind = "duplicate timestamp" if ts_sorted[j] == ts_sorted[j - 1] else "timestamps not sorted"
            raise MultiexecError(f"{path}: {line_of(i)} ({where(i)}): {kind} for this symbol")
        day = ts.to_numpy().astype("datetime64[D]")
        minute = (t - day.astype("datetime64[m]").astype(np.int64)).astype(np.int64)
        keep = np.isin(sym, symbols) if symbols is not None else np.ones(len(sym), bool)
        grid = np.unique(minute[keep])
        parsed = {}
        for s in np.unique(sym[keep]):
            m = sym == s
            parsed[str(s)] = {"day": day[m], "minute": minute[m], **{f: vals[f][m] for f in FIELDS}}
        return _to_grid(parsed, {s: f"{path} (symbol {s})" for s in parsed}, grid, None, on_missing, str(path))

    if not path.exists():
        raise MultiexecError(f"file not found: {path}")
    opts = {"on_missing": on_missing, "symbols": sorted(symbols) if symbols else None}
    return _cached_bars("data-long", [path], opts, build, cache)


def load_daily(
    path: str | Path, symbols: list[str] | None = None, jump_threshold: float | None = 0.5, cache: bool = True
) -> DailyBars:
    """Daily bars (``date,open,high,low,close,volume,Name``) -> :class:`DailyBars`, jumps screened.

    ``symbols``: keep these (unknown ones raise); ``jump_threshold``: see :meth:`DailyBars.screen_jumps`
    (None keeps the raw prices).
    """
    path = Path(path)
    if not path.exists():
        raise MultiexecError(f"file not found: {path}")
    opts = {"symbols": sorted(symbols) if symbols else None}
    key = cache_key("data-daily", [path], opts)
    cpath = cache_path("data-daily", key)
    got = load_arrays(cpath) if cache else None
    if got is not None:
        arrays, h = got
        daily = DailyBars(symbols=h["symbols"], dates=np.array(h["dates"], dtype="datetime64[D]"),
                          source=h["source"], meta=dict(h["meta"], cache_hit=True), **arrays)
    else:
        daily = _parse_daily(path, symbols)
        if cache:
            save_arrays(cpath, {f: getattr(daily, f) for f in DAILY_FIELDS},
                        {"symbols": daily.symbols, "dates": [str(d) for d in daily.dates], "source": daily.source,
                         "meta": daily.meta})
        daily.meta["cache_hit"] = False
    return daily.screen_jumps(jump_threshold) if jump_threshold is not None else daily


def _parse_daily(path: Path, symbols: list[str] | None) -> DailyBars:
    df = _read_csv(path, DAILY_COLUMNS, exact=True)
    line_of = lambda i: f"line {i + 2}"  # noqa: E731
    if len(df) == 0:
        raise MultiexecError(f"{path}: no rows")
    name = df["Name"].astype(str).str.strip().to_numpy()
    if symbols is not None:
        unknown = sorted(set(symbols) - set(name))
        if unknown:
            raise MultiexecError(f"{path}: unknown symbol(s) {unknown[:10]} (not in the file)")
    day = pd.to_datetime(df["date"], format="%Y-%m-%d", errors="coerce")
    if day.isna().any():
        i = int(np.argmax(day.isna().to_numpy()))
        raise MultiexecError(f"{path}: {line_of(i)}: bad date {df['date'].iloc[i]!r} (expected YYYY-MM-DD)")
    vals = {}
    for c in DAILY_FIELDS:
        col = df[c]
        v = pd.to_numeric(col, errors="coerce").to_numpy(np.float64)
        bad = np.isnan(v) & col.notna().to_numpy()
        if bad.any():
            bad &= ~(col.astype(str).str.strip().str.lower() == "nan").to_numpy()
        if bad.any():
            i = int(np.argmax(bad))
            raise MultiexecError(f"{path}: {line_of(i)}: column {c!r} is not a number ({col.iloc[i]!r})")
        vals[c] = v
    if np.isnan(vals["close"]).any() or np.isnan(vals["volume"]).any():
        i = int(np.argmax(np.isnan(vals["close"]) | np.isnan(vals["volume"])))
        raise MultiexecError(f"{path}: {line_of(i)}: close or volume is missing (symbol {name[i]})")
    filled = int((np.isnan(vals["open"]) | np.isnan(vals["high"]) | np.isnan(vals["low"])).sum())
    for c in ("open", "high", "low"):
        vals[c] = np.where(np.isnan(vals[c]), vals["close"], vals[c])
    _check_values(vals, path, line_of, lambda i: f"symbol {name[i]}")
    days = day.to_numpy().astype("datetime64[D]")
    order = np.lexsort((np.arange(len(name)), name))
    t, s = days.astype(np.int64)[order], name[order]
    bad = (s[1:] == s[:-1]) & (np.diff(t) <= 0)
    if bad.any():
        j = int(np.argmax(bad)) + 1
        i = int(order[j])
        kind = "duplicate date" if t[j] == t[j - 1] else "dates not sorted"
        raise MultiexecError(f"{path}: {line_of(i)} (symbol {name[i]}): {kind} for this symbol")
    keep = np.isin(name, symbols) if symbols is not None else np.ones(len(name), bool)
    syms = list(symbols) if symbols is not None else sorted(set(name))
    dates = np.unique(days[keep])
    di = np.searchsorted(dates, days[keep])
    pos = {x: i for i, x in enumerate(syms)}
    ai = np.array([pos[x] for x in name[keep]], dtype=np.int64)
    out = {}
    for c in DAILY_FIELDS:
        a = np.full((len(dates), len(syms)), np.nan)
        a[di, ai] = vals[c][keep]
        out[c] = a
    return DailyBars(symbols=syms, dates=dates, source=str(path), meta={"filled_ohl": filled}, **out)


# -------------------------------------------------------------------------------------- dispatch
def resolve_source(source: str) -> Path:
    """``us_minute_2018`` / ``sp500_daily`` -> the shared folder or file; anything else is a path."""
    named = {"us_minute_2018": ("us_minute_2018",),
             "sp500_daily": ("sp500_daily_2013_2018", "all_stocks_5yr.csv.gz")}
    if source in named:
        p = shared_data(*named[source])
        if p is None:
            raise MultiexecError(
                f"data source {source!r} needs the shared data folder (shared/data/{'/'.join(named[source])}), "
                "which is absent; set MULTIEXEC_SHARED or pass a path"
            )
        return p
    p = Path(source).expanduser()
    if not p.exists():
        raise MultiexecError(f"data source not found: {source} (expected 'synthetic', 'us_minute_2018', "
                             "a directory of per-ticker CSVs or a long-table CSV/Parquet file)")
    return p


def load_bars(
    source: str, symbols: list[str] | None = None, on_missing: OnMissing = "error", cache: bool = True,
    progress: bool = False,
) -> MinuteBars:
    """Minute bars from a named source, a per-ticker CSV directory or a long-table file."""
    p = resolve_source(source)
    if p.is_dir():
        return load_minute_dir(p, symbols, on_missing, cache, progress)
    return load_long_table(p, symbols, on_missing, cache)
