"""Loaders for real market data; every minute loader returns :class:`MinuteBars` on a regular grid.

Per-ticker CSV directory (:func:`load_minute_dir`), the format of ``shared/data/us_minute_2018``:
one ``<SYMBOL>.csv`` or ``<SYMBOL>.csv.gz`` per asset with header ``date,ToD,open,high,low,close,volume``
(``YYYY-MM-DD``, ``HH:MM:SS`` US/Eastern naive wall clock, sorted ascending).

Grid rule for that format: 390 minutes, 09:30 .. 15:59 (the stamp of a bar is its minute).
- The 16:00 bar (the closing-auction print) is folded into the 15:59 bar: its volume is added, the
  15:59 close is replaced by the 16:00 close and high/low are extended; if there is no 15:59 bar,
  the 16:00 bar takes its place.
- Rows outside 09:30 .. 16:00 (pre-market, after the close) are dropped; their number is counted in
  ``meta["outside_session_rows"]`` (per file in ``meta["outside_session"]``) and reported as a note.
- Session check: a file whose trading does not fit the 09:30 .. 16:00 US/Eastern session is refused
  (the usual cause: stamps in UTC or another time zone). It does not fit when more than half of its
  volume lies outside the session, or when, on the median day among those with at least 60 rows in the
  session, the first row in the session comes later than 10:15 or the last one earlier than 15:15.
- Minutes without a bar carry the previous close as open/high/low/close with zero volume and
  ``traded=False``; a day that starts without trades takes the open of its first traded bar
  (the only backward fill, also ``traded=False``).
- A day that other assets have but an asset lacks is an error naming the file and date, unless
  ``on_missing="drop"``: then such assets are dropped and listed in ``meta["dropped"]``.
- An extra day, one that fewer than half of the files have, or a weekend day that not every file has
  (a holiday row, a mis-dated block), is an error naming the files that have it, whatever ``on_missing``
  says. A day that exactly half of the files have is reported on a file lacking it, naming the files
  that have it (with two files the count cannot tell a missing day from an extra one).

Minute-bar screen (both formats; ``screen="error"`` (default) or ``"repair"``), on the rows kept:
- price outlier: a price field (open, high, low or close) of a bar that is far from the bars around
  it on both sides: ``|log(price / m_before)|`` and ``|log(price / m_after)|`` both above
  ``max(0.10, 50 sigma)``, where ``m_before`` (``m_after``) is the median close of the up-to-5 rows
  before (after) the bar on the same day, used when that side has at least 3 rows (a side with fewer
  is left out; a bar with neither is not screened, so days of fewer than 4 rows are not screened for
  outliers), and ``sigma = 1.4826 * median |log return|`` between consecutive rows of the same day of
  that asset (a robust per-minute volatility, from the whole file). Far from both sides means a spike,
  not a genuine level shift (a jump after a halt sits close to the bars after it);
- ``high < low``;
- ``open`` or ``close`` outside ``[low, high]``.
With ``screen="error"`` the first such bar raises one line naming the file, line, ticker, date, time and
field. With ``screen="repair"`` every such bar is repaired and listed in ``meta["repairs"]`` (file, line,
symbol, date, time, field, old and new value, rule) and summarised as a note: an outlier field is
replaced by ``m = m_before`` (``m_after`` at the start of a day); then high and low are swapped where
``high < low``; then high and low are widened to include open and close. On the shared ``us_minute_2018``
data (1,030,534 rows in the session) the screen flags no bar; its largest deviation is 4.9 % (PM,
2018-04-19 09:31, half the threshold). A tighter rule would flag genuine opening swings: max(0.03, 30 sigma)
flags 5 of its bars, max(0.02, 20 sigma) 29.

Notes (dropped rows, repairs) are kept in ``meta["notes"]`` and logged as warnings on the
``multiexec.data`` logger each time the bars are loaded (from the cache too).

Generic long table (:func:`load_long_table`): CSV (plain or gzip) or Parquet with columns
``symbol,timestamp,open,high,low,close,volume`` (extra columns ignored), naive wall-clock
timestamps (tz-aware ones keep their wall clock), rows of one symbol in increasing time. The grid
is inferred: the minutes that occur on any day for any symbol; nothing is folded or dropped. Same fill,
missing-day, extra-day and screen rules. A symbol whose trading day is shifted against the others' (its
first or last row more than 45 minutes off theirs on the median day) is refused, as a file in another
time zone would be. The LOB simulator's ``bars.parquet`` is in this format.

Daily bars (:func:`load_daily`) in the format of ``shared/data/sp500_daily_2013_2018``
(``date,open,high,low,close,volume,Name``) into :class:`DailyBars`. A row without a close is an error;
a row with a close but missing open/high/low has them set to the close (the shared file has 11 such
rows), counted in ``meta["filled_ohl"]``. Unadjusted jumps are screened (see :mod:`.daily`).

Everything parsed is cached as Parquet (:mod:`.cache`), keyed by paths, sizes and mtimes, the options
(``on_missing``, ``screen``) and :data:`SCREEN_VERSION` (bumped whenever the screening rules change).
A source that is a file must be ``.csv``, ``.csv.gz`` or ``.parquet``; any other suffix is refused.
Bad input raises :class:`MultiexecError` naming the file and line (line 1 is the header).
"""

from __future__ import annotations

import logging
import time
import zlib
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
Screen = Literal["error", "repair"]
SCREEN_VERSION = 1  # part of every cache key: bump when a screening or session rule changes
OUTLIER_MIN_LOG = 0.10  # an outlier is at least this far (in log price) from its neighbours' median close ...
OUTLIER_SIGMAS = 50.0  # ... and at least this many robust per-minute sigmas
NEIGHBOURS = 5  # rows on each side whose closes form a reference median
MIN_SIDE = 3  # a side's median is used when it has at least this many rows (one bad print cannot move it)
SESSION_SLACK = 45  # minutes: the median day's first (last) row in the session may be this late (early)
SESSION_MIN_ROWS = 60  # days with fewer rows in the session are not used for the first/last row check
LONG_SUFFIXES = (".csv", ".csv.gz", ".parquet")
log = logging.getLogger("multiexec.data")
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
    except (OSError, EOFError, UnicodeDecodeError, zlib.error) as exc:
        raise MultiexecError(f"{path}: cannot read file (corrupt or truncated?): {' '.join(str(exc).split())}") from None
    except Exception as exc:  # pandas / compression libraries raise several other types on damaged files
        raise MultiexecError(f"{path}: cannot read file ({type(exc).__name__}: {' '.join(str(exc).split())})") from None
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
    return {"day": days, "minute": minute, **vals, "row": np.arange(len(df))}


# ----------------------------------------------------------------------------------------- screen
def _hhmm(minute) -> str:
    return f"{int(minute) // 60:02d}:{int(minute) % 60:02d}"


def _side_median(day: np.ndarray, logc: np.ndarray, sign: int) -> np.ndarray:
    """Median log close of the up-to-5 rows before (``sign=-1``) or after (``+1``) each row on the same day; NaN
    where that side has fewer than :data:`MIN_SIDE` rows."""
    n = len(logc)
    j = np.arange(n)[:, None] + sign * np.arange(1, NEIGHBOURS + 1)[None, :]
    jc = np.clip(j, 0, max(n - 1, 0))
    ok = (j >= 0) & (j < n) & (day[jc] == day[:, None])
    k = ok.sum(axis=1)
    vals = np.sort(np.where(ok, logc[jc], np.inf), axis=1)  # the k valid values first, in order
    rows = np.arange(n)
    lo, hi = np.maximum(k - 1, 0) // 2, k // 2
    med = 0.5 * (vals[rows, lo] + vals[rows, np.minimum(hi, NEIGHBOURS - 1)])
    return np.where(k >= MIN_SIDE, med, np.nan)


def robust_sigma(day: np.ndarray, logc: np.ndarray) -> float:
    """1.4826 x the median |log return| between consecutive rows of the same day (0 if there are none)."""
    same = day[1:] == day[:-1]
    r = np.abs(np.diff(logc))[same]
    return float(1.4826 * np.median(r)) if len(r) else 0.0


def screen_rows(r: dict[str, np.ndarray], label: str, sym: str, line_of, mode: Screen) -> list[dict]:
    """Screen one asset's rows (time order) by the rules of the module docstring: raise on the first bad bar
    (``mode="error"``) or repair ``r`` in place and return the list of repairs (``mode="repair"``)."""
    if mode not in ("error", "repair"):
        raise MultiexecError(f"screen must be 'error' or 'repair', got {mode!r}")
    if len(r["close"]) == 0:
        return []
    day, minute = r["day"], r["minute"]
    logc = np.log(r["close"])
    before, after = _side_median(day, logc, -1), _side_median(day, logc, +1)
    ref = np.where(np.isfinite(before), before, after)  # the reference shown and used in repairs
    sigma = robust_sigma(day, logc)
    thr = max(OUTLIER_MIN_LOG, OUTLIER_SIGMAS * sigma)
    px = ("open", "high", "low", "close")
    dev = {}
    for f in px:
        lp = np.log(r[f])
        d = np.fmin(np.abs(lp - before), np.abs(lp - after))  # far from both sides: a spike, not a level shift
        dev[f] = np.where(np.isfinite(d), d, 0.0)
    out = {f: dev[f] > thr for f in px}
    where = lambda i: f"{label}: {line_of(int(r['row'][i]))} ({sym} {day[i]} {_hhmm(minute[i])})"  # noqa: E731
    rule = f"|log(price / m)| > max({OUTLIER_MIN_LOG:g}, {OUTLIER_SIGMAS:g} sigma) = {thr:.3g}"
    if mode == "error":
        bad_hl = r["high"] < r["low"]
        bad_oc = {f: (r[f] > r["high"]) | (r[f] < r["low"]) for f in ("open", "close")}
        flags = [(out[f], f, "outlier") for f in px] + [(bad_hl, "high", "hl")] + \
            [(bad_oc[f], f, "range") for f in ("open", "close")]
        any_bad = np.zeros(len(day), bool)
        for m, _, _ in flags:
            any_bad |= m
        if not any_bad.any():
            return []
        i = int(np.argmax(any_bad))
        more = int(any_bad.sum()) - 1
        tail = (f" (and {more} more bad bar{'s' if more > 1 else ''} in this file)" if more else "") + \
            "; load with screen='repair' (--screen repair) to repair and list them"
        for m, f, kind in flags:
            if not m[i]:
                continue
            if kind == "outlier":
                raise MultiexecError(
                    f"{where(i)}: {f} {r[f][i]:.6g} is a price outlier: {np.exp(dev[f][i]):.3g}x off the median "
                    f"close of the bars around it (m = {np.exp(ref[i]):.6g}; rule {rule}){tail}")
            if kind == "hl":
                raise MultiexecError(f"{where(i)}: high {r['high'][i]:.6g} is below low {r['low'][i]:.6g}{tail}")
            raise MultiexecError(f"{where(i)}: {f} {r[f][i]:.6g} is outside the bar's range [low {r['low'][i]:.6g}, "
                                 f"high {r['high'][i]:.6g}]{tail}")
    repairs: list[dict] = []

    def note(i: int, f: str, old: float, new: float, why: str) -> None:
        repairs.append({"file": label, "line": line_of(int(r["row"][i])), "symbol": sym, "date": str(day[i]),
                        "time": _hhmm(minute[i]), "field": f, "old": float(old), "new": float(new), "rule": why})

    for f in px:
        for i in np.flatnonzero(out[f]):
            new = float(np.exp(ref[i]))
            note(i, f, r[f][i], new, f"outlier: {np.exp(dev[f][i]):.3g}x off the median close of the bars around "
                 f"it ({rule})")
            r[f][i] = new
    for i in np.flatnonzero(r["high"] < r["low"]):
        hi, lo = r["high"][i], r["low"][i]
        note(i, "high", hi, lo, "high below low: swapped")
        note(i, "low", lo, hi, "high below low: swapped")
        r["high"][i], r["low"][i] = lo, hi
    top = np.maximum(r["open"], r["close"])
    bottom = np.minimum(r["open"], r["close"])
    for i in np.flatnonzero(top > r["high"]):
        note(i, "high", r["high"][i], top[i], "open/close above high: high widened")
        r["high"][i] = top[i]
    for i in np.flatnonzero(bottom < r["low"]):
        note(i, "low", r["low"][i], bottom[i], "open/close below low: low widened")
        r["low"][i] = bottom[i]
    return repairs


def _day_span(r: dict[str, np.ndarray], min_rows: int) -> tuple[float, float] | None:
    """Median first and last minute of the days with at least ``min_rows`` rows (None if there are none)."""
    days, start, counts = np.unique(r["day"], return_index=True, return_counts=True)
    full = counts >= min_rows
    if not full.any():
        return None
    return float(np.median(r["minute"][start[full]])), float(np.median(r["minute"][start[full] + counts[full] - 1]))


def _check_long_sessions(kept: dict[str, dict[str, np.ndarray]], files: dict[str, str], grid: np.ndarray) -> None:
    """Long tables have no declared session: a symbol whose trading day is shifted against the other symbols'
    (by more than 45 minutes at its start or end, on the median of its days with at least half the grid's minutes)
    is refused -- the usual cause is stamps in another time zone."""
    spans = {s: _day_span(r, max(2, len(grid) // 2)) for s, r in kept.items()}
    spans = {s: v for s, v in spans.items() if v is not None}
    if len(spans) < 2:
        return
    first = np.median([v[0] for v in spans.values()])
    last = np.median([v[1] for v in spans.values()])
    for s, (f, la) in spans.items():
        if abs(f - first) > SESSION_SLACK or abs(la - last) > SESSION_SLACK:
            raise MultiexecError(
                f"{files[s]}: its trading day runs {_hhmm(f)}-{_hhmm(la)} on the median day, the other symbols' "
                f"{_hhmm(first)}-{_hhmm(last)} (is it in another time zone, e.g. UTC? all symbols need the same "
                "wall clock)")


def _check_session(r: dict[str, np.ndarray], label: str, inside: np.ndarray) -> None:
    """Refuse a per-ticker file whose trading does not fit the US session (module docstring)."""
    vol = r["volume"]
    total = float(vol.sum())
    out_share = float(vol[~inside].sum() / total) if total > 0 else float((~inside).mean())
    row_share = float((~inside).mean())
    seen = ""
    if out_share > 0.5:
        seen = f"{100 * out_share:.0f}% of its volume ({100 * row_share:.0f}% of its rows) lies outside the session"
    elif inside.any():
        day, minute = r["day"][inside], r["minute"][inside]
        days, start, counts = np.unique(day, return_index=True, return_counts=True)
        end = start + counts - 1
        full = counts >= SESSION_MIN_ROWS
        if full.any():
            first = float(np.median(minute[start[full]]))
            last = float(np.median(np.minimum(minute[end[full]], US_CLOSE)))
            if first > US_OPEN + SESSION_SLACK:
                seen = f"on the median day the first bar in the session is at {_hhmm(first)}, not about 09:30"
            elif last < US_CLOSE - SESSION_SLACK:
                seen = f"on the median day the last bar in the session is at {_hhmm(last)}, not about 16:00"
    if seen:
        raise MultiexecError(f"{label}: the file does not fit the 09:30-16:00 US/Eastern session: {seen} (is it in "
                             "another time zone, e.g. UTC? stamps must be US/Eastern wall-clock time)")


# ------------------------------------------------------------------------------------------- grid
def _to_grid(
    per_symbol: dict[str, dict[str, np.ndarray]],
    files: dict[str, str],
    grid: np.ndarray,
    fold_after: int | None,
    on_missing: OnMissing,
    source: str,
    line_of=lambda i: f"line {i + 2}",
    screen: Screen = "error",
) -> MinuteBars:
    """Place parsed rows on the (day, asset, minute) grid and fill minutes without trades.

    ``fold_after``: a bar stamped exactly there (16:00) is folded into the grid's last minute, and the file
    must fit the US session (module docstring). ``line_of(row)`` labels a row of a file in messages.
    """
    if on_missing not in ("error", "drop"):
        raise MultiexecError(f"on_missing must be 'error' or 'drop', got {on_missing!r}")
    if screen not in ("error", "repair"):
        raise MultiexecError(f"screen must be 'error' or 'repair', got {screen!r}")
    lo, hi = grid[0], grid[-1]
    outside: dict[str, int] = {}
    repairs: list[dict] = []
    kept = {}
    for sym, r in per_symbol.items():
        ok = (r["minute"] >= lo) & (r["minute"] <= hi)
        if fold_after is not None:
            ok |= r["minute"] == fold_after
            _check_session(r, files[sym], ok)
        else:
            ok &= np.isin(r["minute"], grid)
        if (~ok).any():
            outside[sym] = int((~ok).sum())
        k = {key: v[ok] for key, v in r.items()}
        if "row" not in k:
            k["row"] = np.flatnonzero(ok)
        k.update({f: k[f].copy() for f in ("open", "high", "low", "close")})
        repairs += screen_rows(k, files[sym], sym, line_of, screen)
        kept[sym] = k
    kept = {s: r for s, r in kept.items() if len(r["day"])}
    if not kept:
        raise MultiexecError(f"{source}: no rows inside the trading session")
    if fold_after is None:
        _check_long_sessions(kept, files, grid)
    day_sets = {s: np.unique(r["day"]) for s, r in kept.items()}
    all_days = np.unique(np.concatenate(list(day_sets.values())))
    n_have = np.zeros(len(all_days), np.int64)
    for v in day_sets.values():
        n_have[np.searchsorted(all_days, v)] += 1
    weekend = ~np.is_busday(all_days) if fold_after is not None else np.zeros(len(all_days), bool)
    extra = np.flatnonzero((2 * n_have < len(kept)) | (weekend & (n_have < len(kept))))
    if len(extra):
        d = all_days[extra[0]]
        holders = [files[s] for s, v in day_sets.items() if d in v]
        why = "a weekend day" if weekend[extra[0]] else f"a day that only {n_have[extra[0]]} of {len(kept)} files have"
        raise MultiexecError(
            f"{holders[0]}: has bars on {d}, {why} (an extra day: a holiday row or mis-dated rows?)"
            + (f"; also in {', '.join(holders[1:4])}" if len(holders) > 1 else "")
            + (f"; {len(extra) - 1} more such days" if len(extra) > 1 else "")
        )
    dropped = {}
    for sym, r in list(kept.items()):
        lacking = np.setdiff1d(all_days, np.unique(r["day"]))
        if len(lacking):
            if on_missing == "error":
                k = int(n_have[np.searchsorted(all_days, lacking[0])])
                if 2 * k == len(kept):  # as many files have the day as lack it: say which
                    holders = [Path(files[s]).name for s, v in day_sets.items() if lacking[0] in v]
                    others = f"; only {k} of {len(kept)} files have that day ({', '.join(holders[:4])}): a missing " \
                             "day here or an extra day there"
                else:
                    others = "; other assets have that day"
                raise MultiexecError(
                    f"{files[sym]}: no bars for {sym} on {lacking[0]}"
                    + (f" (and {len(lacking) - 1} more days)" if len(lacking) > 1 else "")
                    + others + " (use on_missing='drop' / --drop-missing to drop such assets)"
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
    notes = []
    if outside:
        top = sorted(outside.items(), key=lambda kv: -kv[1])
        notes.append(f"{source}: dropped {sum(outside.values())} rows outside the session "
                     f"{_hhmm(lo)}-{_hhmm(fold_after if fold_after is not None else hi + 1)} in {len(outside)} "
                     f"file(s): " + ", ".join(f"{s} {n}" for s, n in top[:5]) + (", ..." if len(top) > 5 else ""))
    if repairs:
        shown = "; ".join(f"{x['symbol']} {x['date']} {x['time']} {x['field']} {x['old']:.6g} -> {x['new']:.6g}"
                          for x in repairs[:3])
        n_bars = len({(x["file"], x["line"]) for x in repairs})
        notes.append(f"{source}: screen repaired {len(repairs)} price field(s) of {n_bars} "
                     f"bar(s) (listed in meta['repairs']): {shown}" + ("; ..." if len(repairs) > 3 else ""))
    if dropped:
        notes.append(f"{source}: dropped {len(dropped)} asset(s) lacking days: "
                     + ", ".join(f"{s} ({len(v)} days, first {v[0]})" for s, v in list(dropped.items())[:5]))
    meta = {"outside_session_rows": int(sum(outside.values())), "outside_session": outside, "dropped": dropped,
            "fill_fraction": float(1 - traded.mean()), "screen": screen, "repairs": repairs, "notes": notes}
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


def _log_notes(meta: dict) -> None:
    for n in meta.get("notes", []):
        log.warning("note: %s", n)


def _cached_bars(kind: str, files: list[Path], options: dict, build, cache: bool) -> MinuteBars:
    t0 = time.perf_counter()
    options = dict(options, screen_version=SCREEN_VERSION)
    if cache:
        path = cache_path(kind, cache_key(kind, files, options))
        bars = _bars_from_cache(path)
        if bars is not None:
            bars.meta.update(cache_hit=True, load_seconds=time.perf_counter() - t0)
            _log_notes(bars.meta)
            return bars
    bars = build()
    _log_notes(bars.meta)
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
    progress: bool = False, screen: Screen = "error",
) -> MinuteBars:
    """Per-ticker CSV directory (``us_minute_2018`` format) -> :class:`MinuteBars` on the 390-minute grid;
    ``screen``: ``"error"`` or ``"repair"`` bad bars (module docstring)."""
    files = minute_dir_files(path, symbols)

    def build() -> MinuteBars:
        from tqdm import tqdm

        with tqdm(total=len(files), desc="parsing", disable=not progress, leave=False) as bar:
            parsed = {}
            for s, p in files.items():
                parsed[s] = _parse_minute_file(p)
                bar.update()
        return _to_grid(parsed, {s: str(p) for s, p in files.items()}, US_GRID, US_CLOSE, on_missing, str(path),
                        screen=screen)

    _check_screen(screen)
    return _cached_bars("data-minute", list(files.values()),
                        {"on_missing": on_missing, "symbols": sorted(files), "screen": screen}, build, cache)


def _check_screen(screen) -> None:
    if screen not in ("error", "repair"):
        raise MultiexecError(f"screen must be 'error' or 'repair', got {screen!r}")


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
    path: str | Path, symbols: list[str] | None = None, on_missing: OnMissing = "error", cache: bool = True,
    screen: Screen = "error",
) -> MinuteBars:
    """Long table (symbol,timestamp,open,high,low,close,volume; CSV or Parquet) -> :class:`MinuteBars`."""
    path = Path(path)
    if path.exists() and not path.name.lower().endswith(LONG_SUFFIXES):
        raise MultiexecError(
            f"{path}: unknown data file type {''.join(path.suffixes) or '(none)'!r}: a data source is a directory of "
            "per-ticker CSVs or a long table (.csv, .csv.gz, .parquet); config files are .yaml, .yml, .json or .toml")

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
            parsed[str(s)] = {"day": day[m], "minute": minute[m], **{f: vals[f][m] for f in FIELDS},
                              "row": np.flatnonzero(m)}
        return _to_grid(parsed, {s: f"{path} (symbol {s})" for s in parsed}, grid, None, on_missing, str(path),
                        line_of=line_of, screen=screen)

    if not path.exists():
        raise MultiexecError(f"file not found: {path}")
    _check_screen(screen)
    opts = {"on_missing": on_missing, "symbols": sorted(symbols) if symbols else None, "screen": screen}
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
    progress: bool = False, screen: Screen = "error",
) -> MinuteBars:
    """Minute bars from a named source, a per-ticker CSV directory or a long-table file (``screen``: module
    docstring)."""
    p = resolve_source(source)
    if p.is_dir():
        return load_minute_dir(p, symbols, on_missing, cache, progress, screen)
    return load_long_table(p, symbols, on_missing, cache, screen)
