"""Stylized facts of a market (Cont 2001; Vyetrenko et al. 2020, "Get real"): pure functions.

Minute-bar facts work on a *segment matrix*: one row per (symbol, day), one column per minute of the day, so
that no return ever spans the overnight gap. Rows may contain NaN (missing minutes); every statistic ignores
them, and autocorrelations use only pairs inside one row. Book facts work on an L2 table in the simulator's
run-folder format (``time_ns``, ``bid_px_i``, ``bid_sz_i``, ``ask_px_i``, ``ask_sz_i``; prices in dollars, NaN
where a level is empty, sizes 0 there).

Definitions (INTAGS appendix C.1 / Coletta et al. 2022):

* log-return ``r_t = log(close_t / close_{t-1})`` inside a day; excess kurtosis ``m4 / m2^2 - 3`` (0 for a
  Gaussian, population moments).
* autocorrelation at lag k of a row ``x``: ``sum_t (x_t - m)(x_{t+k} - m) / sum_t (x_t - m)^2`` with ``m`` the
  row mean (the usual biased estimator, as in ``statsmodels.acf``).
* aggregational normality: excess kurtosis of non-overlapping k-minute log-returns (k = 1, 5, 15, 30, 60);
  it should fall towards 0 as k grows.
* intraday U-shape: each row's volume share per bucket of the day; ``u_shape_ratio`` = mean share of the first
  and last bucket over the mean share of the buckets between (1 when flat, > 1 for a U).
* spread ``p_a^1 - p_b^1``; volume at the first n levels ``V^n = sum_{j<=n} v_b^j + v_a^j``; volume imbalance
  ``I^n = sum_{j<=n} v_b^j / V^n`` (in [0, 1], 0.5 balanced).
* depth of a new limit order: its distance behind the best price of its own side just before it arrived,
  ``p_b^1 - p`` for a buy, ``p - p_a^1`` for a sell (negative: inside the spread or crossing).
* order inter-arrival times: gaps between consecutive order messages, in seconds.
* the order flow as a market-data feed shows it (:func:`feed_view`): an order that executes on arrival is seen
  as its executions (a "market" order), and only its unexecuted rest as a new limit order, as in LOBSTER.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from multiexec.errors import MultiexecError

NS_PER_SECOND = 10**9


# ---------------------------------------------------------------------------------------------------------
# Minute bars


def bars_matrix(bars: pd.DataFrame, start_minute: int | None = None, end_minute: int | None = None):
    """Pivot long minute bars (``symbol``, ``timestamp``, ``close``, ``volume``) into segment matrices.

    Returns ``(keys, minutes, close, volume)``: ``keys`` a DataFrame (symbol, date) per row, ``minutes`` the
    minutes after midnight of the columns (``start_minute`` .. ``end_minute - 1`` when given, else the minutes
    present), ``close`` and ``volume`` of shape (rows, minutes). A minute without a bar between a day's first
    and last bar carries the last close forward with volume 0; before the first and after the last bar of a day
    close is NaN (and volume NaN after the last), so truncated days yield no made-up zero returns.
    """
    missing = {"symbol", "timestamp", "close", "volume"} - set(bars.columns)
    if missing:
        raise MultiexecError(f"minute bars lack column(s) {sorted(missing)}")
    if bars.empty:
        raise MultiexecError("minute bars are empty")
    ts = pd.to_datetime(bars["timestamp"])
    df = pd.DataFrame(
        {
            "symbol": bars["symbol"].astype(str).to_numpy(),
            "date": ts.dt.normalize().to_numpy(),
            "minute": (ts.dt.hour * 60 + ts.dt.minute).to_numpy(),
            "close": bars["close"].to_numpy(dtype=np.float64),
            "volume": bars["volume"].to_numpy(dtype=np.float64),
        }
    )
    if start_minute is not None or end_minute is not None:
        lo = -1 if start_minute is None else start_minute
        hi = 24 * 60 if end_minute is None else end_minute
        df = df[(df["minute"] >= lo) & (df["minute"] < hi)]
        minutes = np.arange(max(lo, 0), hi)
    else:
        minutes = np.sort(df["minute"].unique())
    dup = df.duplicated(["symbol", "date", "minute"])
    if dup.any():
        row = df[dup].iloc[0]
        raise MultiexecError(f"minute bars: duplicate bar for {row['symbol']} at {row['date']} minute {row['minute']}")
    close = df.pivot(index=["symbol", "date"], columns="minute", values="close").reindex(columns=minutes)
    volume = df.pivot(index=["symbol", "date"], columns="minute", values="volume").reindex(columns=minutes)
    keys = close.index.to_frame(index=False)
    seen = close.notna().to_numpy()
    after_last = np.cumsum(seen[:, ::-1], axis=1)[:, ::-1] == 0
    close = close.ffill(axis=1).to_numpy(dtype=np.float64, copy=True)
    close[after_last] = np.nan
    volume = volume.fillna(0.0).to_numpy(dtype=np.float64, copy=True)
    volume[after_last] = np.nan
    return keys, minutes, close, volume


def log_returns(close: np.ndarray) -> np.ndarray:
    """Row-wise log-returns of a (rows, minutes) close matrix: shape (rows, minutes - 1), NaN where undefined."""
    close = np.asarray(close, dtype=np.float64)
    if np.any(close <= 0):
        raise MultiexecError("close prices must be positive to take log-returns")
    with np.errstate(invalid="ignore"):
        return np.diff(np.log(close), axis=-1)


def _rows(x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x[None, :] if x.ndim == 1 else x


def _row_mean(a: np.ndarray) -> np.ndarray:
    """Mean of each row over its finite values (NaN for a row without any), shape (rows, 1)."""
    ok = np.isfinite(a)
    n = ok.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ok, a, 0.0).sum(axis=1, keepdims=True) / n


def excess_kurtosis(x) -> np.ndarray | float:
    """Excess kurtosis ``m4 / m2^2 - 3`` of each row (NaN ignored; NaN where fewer than 4 values or no variance).
    A 1-D input gives a float."""
    a = _rows(x)
    n = np.sum(np.isfinite(a), axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        d = a - _row_mean(a)
        m2 = np.nansum(d**2, axis=1) / n
        m4 = np.nansum(d**4, axis=1) / n
        k = m4 / m2**2 - 3.0
    k = np.where((n >= 4) & (m2 > 0), k, np.nan)
    return float(k[0]) if np.ndim(x) == 1 else k


def autocorrelation(x, lags: Sequence[int] | int) -> np.ndarray:
    """Autocorrelation of each row at ``lags`` (biased estimator, pairs inside a row, NaN pairs skipped).
    Returns (rows, len(lags)); for a 1-D input, (len(lags),)."""
    lags = [lags] if np.isscalar(lags) else list(lags)
    if any(int(k) < 1 for k in lags):
        raise MultiexecError(f"autocorrelation lags must be >= 1, got {lags}")
    a = _rows(x)
    ok = np.isfinite(a)
    n = ok.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        d = np.where(ok, a - _row_mean(a), 0.0)
        c0 = np.sum(d * d, axis=1)
        out = np.full((a.shape[0], len(lags)), np.nan)
        for j, k in enumerate(lags):
            if k < a.shape[1]:
                out[:, j] = np.sum(d[:, :-k] * d[:, k:], axis=1) / c0
    out[(n < 2) | (c0 == 0)] = np.nan
    return out[0] if np.ndim(x) == 1 else out


def aggregate_returns(r, k: int) -> np.ndarray:
    """Non-overlapping k-period sums of each row's log-returns (the incomplete tail block is dropped; a block
    with a NaN is NaN)."""
    a = _rows(r)
    if k < 1:
        raise MultiexecError(f"aggregation horizon must be >= 1, got {k}")
    nb = a.shape[1] // k
    return a[:, : nb * k].reshape(a.shape[0], nb, k).sum(axis=2)


def aggregational_normality(r, horizons: Sequence[int] = (1, 5, 15, 30, 60)) -> pd.DataFrame:
    """Per horizon (minutes): ``n`` returns per row and the excess kurtosis of each row of k-minute returns,
    as columns ``horizon_min``, ``n_per_row``, ``kurtosis`` (median over rows), ``kurtosis_rows`` (array)."""
    a = _rows(r)
    rows = []
    for k in horizons:
        agg = aggregate_returns(a, k)
        kurt = excess_kurtosis(agg)
        rows.append(
            {
                "horizon_min": int(k),
                "n_per_row": int(agg.shape[1]),
                "kurtosis": float(np.nanmedian(kurt)) if np.isfinite(kurt).any() else np.nan,
                "kurtosis_rows": kurt,
            }
        )
    return pd.DataFrame(rows)


def return_facts(r, max_lag: int = 10) -> dict[str, np.ndarray]:
    """Per row of a log-return matrix: ``n``, ``std``, ``kurtosis``, ``acf_1`` (returns at lag 1) and
    ``abs_acf_k`` for k = 1..max_lag (autocorrelation of |r|, volatility clustering). Values are arrays over
    rows."""
    a = _rows(r)
    n = np.isfinite(a).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        std = np.sqrt(np.nansum((a - _row_mean(a)) ** 2, axis=1) / n)
    out = {
        "n": n.astype(np.float64),
        "std": std,
        "kurtosis": excess_kurtosis(a),
        "acf_1": autocorrelation(a, [1])[:, 0],
    }
    abs_acf = autocorrelation(np.abs(a), range(1, max_lag + 1))
    for k in range(1, max_lag + 1):
        out[f"abs_acf_{k}"] = abs_acf[:, k - 1]
    return out


def volume_abs_return_correlation(volume, r) -> np.ndarray:
    """Pearson correlation, per row, of a minute's volume with its absolute log-return. ``volume`` has one
    column more than ``r`` (the first minute has no return) or the same number of columns."""
    v, a = _rows(volume), np.abs(_rows(r))
    if v.shape[1] == a.shape[1] + 1:
        v = v[:, 1:]
    if v.shape != a.shape:
        raise MultiexecError(f"volume {v.shape} and returns {a.shape} do not align")
    ok = np.isfinite(v) & np.isfinite(a)
    n = ok.sum(axis=1)
    v, a = np.where(ok, v, np.nan), np.where(ok, a, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        dv, da = np.where(ok, v - _row_mean(v), 0), np.where(ok, a - _row_mean(a), 0)
        c = (dv * da).sum(axis=1) / np.sqrt((dv**2).sum(axis=1) * (da**2).sum(axis=1))
    return np.where(n >= 3, c, np.nan)


def intraday_profile(volume, minutes, bucket_minutes: int = 30, start_minute: int | None = None) -> pd.DataFrame:
    """Share of each row's volume (or activity count) falling in each ``bucket_minutes`` bucket of the day.

    ``volume``: (rows, minutes) matrix; ``minutes``: minutes after midnight of the columns. Buckets start at
    ``start_minute`` (default: the first column). Returns a DataFrame indexed by bucket start (minutes after
    midnight) with one column per row of shares (rows with no volume are dropped) and a ``mean`` column.
    """
    v = _rows(volume)
    minutes = np.asarray(minutes)
    if v.shape[1] != len(minutes):
        raise MultiexecError(f"intraday_profile: {v.shape[1]} columns but {len(minutes)} minutes")
    start = int(minutes[0]) if start_minute is None else start_minute
    bucket = (minutes - start) // bucket_minutes
    keep = bucket >= 0
    nb = int(bucket[keep].max()) + 1
    sums = np.zeros((v.shape[0], nb))
    for b in range(nb):
        sums[:, b] = np.nansum(v[:, keep][:, bucket[keep] == b], axis=1)
    tot = sums.sum(axis=1)
    shares = sums[tot > 0] / tot[tot > 0, None]
    df = pd.DataFrame(shares.T, index=pd.Index(start + bucket_minutes * np.arange(nb), name="bucket_start"))
    df["mean"] = shares.mean(axis=0) if len(shares) else np.nan
    return df


def u_shape_ratio(shares) -> float:
    """Mean share of the first and last bucket over the mean share of the buckets between (1: flat)."""
    s = np.asarray(shares, dtype=np.float64)
    if s.size < 3:
        raise MultiexecError("u_shape_ratio needs at least 3 buckets")
    mid = s[1:-1].mean()
    return float((s[0] + s[-1]) / 2 / mid) if mid > 0 else np.nan


# ---------------------------------------------------------------------------------------------------------
# Book


def book_levels(l2: pd.DataFrame) -> int:
    """Number of levels in an L2 table (``bid_px_1 .. bid_px_N``)."""
    n = 0
    while f"bid_px_{n + 1}" in l2.columns:
        n += 1
    if n == 0:
        raise MultiexecError("L2 table has no bid_px_1 column")
    for side in ("bid", "ask"):
        for k in ("px", "sz"):
            missing = [f"{side}_{k}_{i}" for i in range(1, n + 1) if f"{side}_{k}_{i}" not in l2.columns]
            if missing:
                raise MultiexecError(f"L2 table lacks column(s) {missing}")
    return n


def side_matrix(l2: pd.DataFrame, side: str, field: str, n: int) -> np.ndarray:
    """(snapshots, n) matrix of ``side`` ("bid"/"ask") ``field`` ("px"/"sz") for levels 1..n."""
    levels = book_levels(l2)
    if n > levels:
        raise MultiexecError(f"asked for {n} levels, the L2 table has {levels}")
    return l2[[f"{side}_{field}_{i}" for i in range(1, n + 1)]].to_numpy(dtype=np.float64)


def mid_price(l2: pd.DataFrame) -> np.ndarray:
    """Mid-price in dollars (NaN where a side is empty)."""
    return (l2["bid_px_1"].to_numpy(dtype=np.float64) + l2["ask_px_1"].to_numpy(dtype=np.float64)) / 2


def spread(l2: pd.DataFrame) -> np.ndarray:
    """Best ask minus best bid, dollars (NaN where a side is empty)."""
    return l2["ask_px_1"].to_numpy(dtype=np.float64) - l2["bid_px_1"].to_numpy(dtype=np.float64)


def volume_at_levels(l2: pd.DataFrame, n: int) -> pd.DataFrame:
    """Shares resting at the first n levels: columns ``bid``, ``ask``, ``total`` (= V^n)."""
    bid = side_matrix(l2, "bid", "sz", n).sum(axis=1)
    ask = side_matrix(l2, "ask", "sz", n).sum(axis=1)
    return pd.DataFrame({"bid": bid, "ask": ask, "total": bid + ask})


def imbalance(l2: pd.DataFrame, n: int) -> np.ndarray:
    """I^n = bid volume / (bid + ask volume) at the first n levels, in [0, 1]; NaN for an empty book."""
    v = volume_at_levels(l2, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(v["total"] > 0, v["bid"] / v["total"], np.nan)


def limit_order_depth(orders: pd.DataFrame, l2: pd.DataFrame) -> pd.DataFrame:
    """Depth of each new limit order (``msg == "limit"``) behind its own side's best price in the book snapshot
    in force just before it (the last L2 row with ``time_ns`` strictly earlier). Buy: ``p_b^1 - p``; sell:
    ``p - p_a^1`` (dollars; negative: inside the spread or crossing). Returns columns ``depth`` and ``mid``
    (the mid-price of that snapshot); NaN for orders before the first snapshot or against an empty side."""
    lim = orders[orders["msg"] == "limit"]
    t_book = l2["time_ns"].to_numpy(dtype=np.int64)
    if len(t_book) == 0:
        raise MultiexecError("L2 table is empty")
    if np.any(np.diff(t_book) < 0):
        raise MultiexecError("L2 table is not sorted by time_ns")
    idx = np.searchsorted(t_book, lim["time_ns"].to_numpy(dtype=np.int64), side="left") - 1
    ok = idx >= 0
    at = np.maximum(idx, 0)
    bid = np.where(ok, l2["bid_px_1"].to_numpy(dtype=np.float64)[at], np.nan)
    ask = np.where(ok, l2["ask_px_1"].to_numpy(dtype=np.float64)[at], np.nan)
    px = lim["price"].to_numpy(dtype=np.float64)
    depth = np.where(lim["side"].to_numpy() > 0, bid - px, px - ask)
    return pd.DataFrame({"depth": depth, "mid": (bid + ask) / 2})


def inter_arrival_times(time_ns) -> np.ndarray:
    """Gaps (seconds) between consecutive events; the times are sorted first."""
    t = np.sort(np.asarray(time_ns, dtype=np.int64))
    return np.diff(t) / NS_PER_SECOND


def snapshot_durations(time_ns, end_ns: int | None = None) -> np.ndarray:
    """How long (ns) each book snapshot was in force: until the next one, the last until ``end_ns`` (0 when not
    given). Use as weights for time-weighted book distributions."""
    t = np.asarray(time_ns, dtype=np.int64)
    if np.any(np.diff(t) < 0):
        raise MultiexecError("snapshot times are not sorted")
    end = t[-1] if end_ns is None else end_ns
    return np.diff(np.append(t, end)).astype(np.float64)


def weighted_quantile(x, q, weights=None) -> np.ndarray:
    """Quantiles of ``x`` under ``weights`` (inverted CDF: the smallest x whose cumulative weight reaches
    q x total); NaN values and zero weights are ignored."""
    x = np.asarray(x, dtype=np.float64)
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=np.float64)
    ok = np.isfinite(x) & (w > 0)
    x, w = x[ok], w[ok]
    q = np.atleast_1d(np.asarray(q, dtype=np.float64))
    if x.size == 0:
        return np.full(q.shape, np.nan)
    order = np.argsort(x, kind="stable")
    x, cw = x[order], np.cumsum(w[order])
    idx = np.searchsorted(cw, q * cw[-1] * (1 - 1e-12), side="left")
    return x[np.minimum(idx, x.size - 1)]


def distribution_summary(x, weights=None) -> dict[str, float]:
    """``n`` (finite values), weighted ``mean``, ``std``, and quantiles ``p5``, ``p25``, ``p50``, ``p75``,
    ``p95`` of ``x``. Where the weights sum to zero, every value counts equally."""
    x = np.asarray(x, dtype=np.float64)
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != x.shape:
        raise MultiexecError(f"weights {w.shape} and values {x.shape} differ in shape")
    ok = np.isfinite(x)
    if not np.any(w[ok] > 0):
        w = np.ones_like(x)
    out = {"n": float(ok.sum())}
    if ok.sum() == 0:
        return out | {k: np.nan for k in ("mean", "std", "p5", "p25", "p50", "p75", "p95")}
    xv, wv = x[ok], w[ok]
    mean = float(np.sum(wv * xv) / np.sum(wv))
    out["mean"] = mean
    out["std"] = float(np.sqrt(np.sum(wv * (xv - mean) ** 2) / np.sum(wv)))
    qs = weighted_quantile(xv, [0.05, 0.25, 0.5, 0.75, 0.95], wv)
    out.update({k: float(v) for k, v in zip(("p5", "p25", "p50", "p75", "p95"), qs)})
    return out


def feed_view(orders: pd.DataFrame, trades: pd.DataFrame) -> pd.DataFrame:
    """The message log as a market-data feed (LOBSTER) shows it, so order-flow facts compare like for like.

    LOBSTER sees an incoming order only through what it does to the book: an order that executes on arrival
    (a market order, or a limit order priced through the opposite best) appears as its executions, which
    :func:`multiexec.lob.lobster.lobster_tables` groups into one ``market`` message; a limit order appears as a
    new order only for the part that rests. Rejected orders, market orders that found nothing to execute and
    cancels of orders already gone never reach the feed. Needs ``order_id`` in ``orders`` and
    ``taker_order_id`` in ``trades`` (the simulator's tables); without them the log is returned unchanged.

    Per message: executions with the message's order as taker at the message's time -> a ``market`` row (size =
    shares executed, price NaN); a limit order's rest -> a ``limit`` row of the remaining size at the same time;
    market orders without executions, rejected orders (``order_id`` -2) and cancels without a price (unknown
    order) are dropped. Cancels and modifies are otherwise kept as they are."""
    if "order_id" not in orders.columns or "taker_order_id" not in trades.columns:
        return orders
    ex = trades.groupby(["taker_order_id", "time_ns"], sort=False)["size"].sum()
    key = pd.MultiIndex.from_arrays([orders["order_id"].to_numpy(), orders["time_ns"].to_numpy()])
    done = ex.reindex(key).fillna(0).to_numpy(dtype=np.int64)
    msg = orders["msg"].to_numpy()
    size = orders["size"].to_numpy(dtype=np.int64)
    new_order = (msg == "limit") | (msg == "market")
    rejected = new_order & (orders["order_id"].to_numpy() < 0)
    lost_cancel = (msg == "cancel") & orders["price"].isna().to_numpy()
    keep_rest = ~rejected & ~lost_cancel & ~((msg == "market") | ((msg == "limit") & (done >= size)))
    executed = ~rejected & new_order & (done > 0)
    n = np.arange(len(orders))
    mkt = orders[executed].assign(msg="market", price=np.nan, size=done[executed], _n=n[executed], _k=0)
    rest = orders[keep_rest].assign(_n=n[keep_rest], _k=1)
    rest.loc[rest["msg"].to_numpy() == "limit", "size"] = (size - done)[keep_rest][rest["msg"].to_numpy() == "limit"]
    out = pd.concat([mkt, rest], ignore_index=True).sort_values(["_n", "_k"], kind="stable")
    return out.drop(columns=["_n", "_k"]).reset_index(drop=True)
