"""Daily order sets: the "buy winners, sell losers" portfolio strategy, and orders read from / written to CSV.

Strategy (:func:`winners_losers_orders`), run on a panel of daily closes (a daily history joined with
daily closes built from the minute bars, see :meth:`DailyBars.concat`):

- Before the open of day ``j`` it ranks the assets on their trailing return over ``lookback`` periods
  of the panel, ``log(close[j-1] / close[j-1-lookback])`` (a calendar gap in the panel, such as the six
  trading days between the end of the S&P 500 daily file and the first minute bar, counts as one
  period). Assets without both closes are not eligible. Ties are broken by a seeded random order.
- Target: the top ``top_k`` assets (winners), equally weighted by value at the previous close
  ``close[j-1]``, whole shares; everything else (losers, and former winners) is sold.
- Orders are the position changes in shares: buys and sells, one per asset that changes. Changes worth
  less than ``min_notional`` at the previous close are dropped (the position stays as it is), except
  complete exits, which are always kept. ``n`` therefore varies from day to day.
- Holdings then become the target (the orders are assumed filled; execution quality does not feed
  back into the portfolio). The strategy starts with ``capital`` in cash ``warmup_days`` rows before
  the first day with minute bars, so the first order day already rebalances a running portfolio.
- The day's initial cash is ``c0 = cash_fraction * (buy notional at the previous close)``: with the
  default 0.3 the buys can only complete once sells have brought in cash, so cash binds.

CSV format (:func:`read_orders_csv`): header ``date,symbol,side,amount[,cash]``, side ``buy`` or
``sell``, amount in shares > 0, at most one order per (date, symbol). The day's cash c0 comes either
from the ``cash`` column (the same value on every row of a date; blank cells allowed as long as one
row of the date has it) or from a separate CSV ``date,cash`` with exactly the dates of the orders.
:func:`write_orders_csv` writes the first form.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from multiexec.data.bars import MinuteBars
from multiexec.data.daily import DailyBars
from multiexec.data.orders import DayOrders
from multiexec.errors import MultiexecError


class OrderGenConfig(BaseModel):
    """Order-set settings: the winners/losers strategy, or a CSV of orders (``csv``, ``cash_csv``)."""

    model_config = ConfigDict(extra="forbid")
    lookback: int = Field(5, ge=1, description="trailing periods (rows of the daily panel) to rank on")
    top_k: int = Field(10, ge=1, description="number of winners held")
    capital: float = Field(1e7, gt=0, description="starting portfolio value (USD)")
    cash_fraction: float = Field(0.3, ge=0, description="c0 as a fraction of the day's buy notional")
    min_notional: float = Field(10_000.0, ge=0, description="drop position changes worth less (USD)")
    warmup_days: int = Field(20, ge=0, description="rows before the first bar day the strategy starts on")
    csv: str | None = Field(None, description="read orders from this CSV instead of generating them")
    cash_csv: str | None = Field(None, description="CSV date,cash giving c0 per date (with csv)")


def winners_losers_orders(
    daily: DailyBars, order_dates: np.ndarray, cfg: OrderGenConfig | None = None, seed: int = 0
) -> list[DayOrders]:
    """Orders for each date of ``order_dates`` (all must be in ``daily``) that has any; see the module docstring."""
    cfg = cfg or OrderGenConfig()
    order_dates = np.asarray(order_dates, dtype="datetime64[D]")
    if len(order_dates) == 0:
        raise MultiexecError("no order dates: no day of the data has enough daily history for the lookback")
    if seed < 0:
        raise MultiexecError(f"seed must be >= 0, got {seed}")
    rows = np.searchsorted(daily.dates, order_dates)
    if (rows >= daily.n_days).any() or (daily.dates[np.minimum(rows, daily.n_days - 1)] != order_dates).any():
        raise MultiexecError("order dates must all be dates of the daily panel")
    if cfg.top_k >= daily.n_assets:
        raise MultiexecError(f"orders.top_k = {cfg.top_k} must be smaller than the number of assets ({daily.n_assets})")
    L = cfg.lookback
    close = daily.close
    valued = pd.DataFrame(close).ffill().to_numpy()  # valuation uses the last known close
    start = max(L + 1, int(rows[0]) - cfg.warmup_days)
    emit = set(rows.tolist())
    rng = np.random.default_rng(seed)
    A = daily.n_assets
    hold = np.zeros(A)
    cash = cfg.capital
    out: list[DayOrders] = []
    for j in range(start, int(rows[-1]) + 1):
        p = valued[j - 1]
        ret = np.log(close[j - 1] / close[j - 1 - L])
        ok = np.isfinite(ret)
        if ok.sum() < cfg.top_k:
            if j in emit:
                raise MultiexecError(
                    f"orders for {daily.dates[j]}: only {ok.sum()} assets have a {L}-period trailing return, "
                    f"fewer than top_k = {cfg.top_k}"
                )
            continue
        value = cash + np.nansum(hold * p)
        tie = rng.permutation(A)
        order = np.lexsort((tie, -np.where(ok, ret, -np.inf)))
        win = order[: cfg.top_k]
        target = np.zeros(A)
        target[win] = np.floor(value / cfg.top_k / p[win])
        delta = target - hold
        exit_ = (target == 0) & (hold > 0)
        keep = (delta != 0) & ((np.abs(delta) * np.nan_to_num(p) >= cfg.min_notional) | exit_)
        delta = np.where(keep, delta, 0.0)
        hold = hold + delta
        cash -= float(np.nansum(delta * p))
        if j in emit and keep.any():
            idx = np.flatnonzero(keep)
            buy_notional = float(np.sum(np.maximum(delta[idx], 0) * p[idx]))
            out.append(DayOrders(
                date=daily.dates[j], symbols=[daily.symbols[i] for i in idx],
                side=np.where(delta[idx] < 0, 1, -1), amount=np.abs(delta[idx]),
                cash=cfg.cash_fraction * buy_notional,
            ))
    return out


def read_orders_csv(path: str | Path, bars: MinuteBars, cash_csv: str | Path | None = None) -> list[DayOrders]:
    """Orders from a CSV (see the module docstring), checked against the bars' symbols and dates."""
    path = Path(path)
    if not path.exists():
        raise MultiexecError(f"orders file not found: {path}")
    df = _read_str_csv(path)
    df.columns = [c.strip() for c in df.columns]
    need = ["date", "symbol", "side", "amount"]
    missing = [c for c in need if c not in df.columns]
    extra = [c for c in df.columns if c not in need + ["cash"]]
    if missing or extra:
        raise MultiexecError(f"{path}: header {','.join(df.columns)!r}: expected date,symbol,side,amount[,cash]"
                             + (f"; missing {missing}" if missing else "") + (f"; unknown {extra}" if extra else ""))
    if len(df) == 0:
        raise MultiexecError(f"{path}: no orders")
    line = lambda i: f"{path}: line {i + 2}"  # noqa: E731
    dates = pd.to_datetime(df["date"].str.strip(), format="%Y-%m-%d", errors="coerce")
    known = set(bars.symbols)
    bar_dates = set(bars.dates.tolist())
    side_map = {"buy": -1, "sell": 1}
    seen: set = set()
    amounts = pd.to_numeric(df["amount"].str.strip(), errors="coerce").to_numpy(np.float64)
    for i in range(len(df)):
        if pd.isna(dates.iloc[i]):
            raise MultiexecError(f"{line(i)}: bad date {df['date'].iloc[i]!r} (expected YYYY-MM-DD)")
        d = dates.iloc[i].date()
        if d not in bar_dates:
            raise MultiexecError(f"{line(i)}: date {d} is not a trading day of the data ({bars.source})")
        s = df["symbol"].iloc[i].strip()
        if s not in known:
            raise MultiexecError(f"{line(i)}: unknown symbol {s!r} (no market data for it)")
        if df["side"].iloc[i].strip().lower() not in side_map:
            raise MultiexecError(f"{line(i)}: side must be 'buy' or 'sell', got {df['side'].iloc[i]!r}")
        if not np.isfinite(amounts[i]) or amounts[i] <= 0:
            raise MultiexecError(f"{line(i)}: amount must be a positive number, got {df['amount'].iloc[i]!r}")
        if (d, s) in seen:
            raise MultiexecError(f"{line(i)}: duplicate order for {s} on {d}")
        seen.add((d, s))
    day = dates.dt.date.to_numpy()
    cash = _cash_per_date(path, df, day, cash_csv)
    out = []
    for d in sorted(set(day)):
        m = day == d
        out.append(DayOrders(
            date=np.datetime64(d, "D"), symbols=df["symbol"][m].str.strip().tolist(),
            side=np.array([side_map[x.strip().lower()] for x in df["side"][m]]), amount=amounts[m], cash=cash[d],
        ))
    return out


def _read_str_csv(path: Path) -> pd.DataFrame:
    """A CSV as strings; an empty, malformed, damaged or unreadable file is one clear error naming it."""
    if path.is_dir():
        raise MultiexecError(f"{path}: is a folder, expected a CSV file")
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise MultiexecError(f"{path}: empty file") from None
    except Exception as exc:  # parser, compression and I/O errors
        raise MultiexecError(f"{path}: malformed or unreadable CSV: {' '.join(str(exc).split())}") from None


def _cash_per_date(path: Path, df: pd.DataFrame, day: np.ndarray, cash_csv) -> dict:
    """c0 per date from the ``cash`` column or from ``cash_csv`` (exactly one of them)."""
    has_col = "cash" in df.columns
    if has_col and cash_csv is not None:
        raise MultiexecError(f"{path}: has a cash column and a cash file was given too; use one of them")
    if not has_col and cash_csv is None:
        raise MultiexecError(f"{path}: no cash given: add a 'cash' column or a cash CSV (date,cash)")
    cash = {}
    if has_col:
        for i, (d, c) in enumerate(zip(day, df["cash"].str.strip())):
            if c == "":
                continue
            try:
                v = float(c)
            except ValueError:
                raise MultiexecError(f"{path}: line {i + 2}: cash is not a number ({c!r})") from None
            if not np.isfinite(v) or v < 0:
                raise MultiexecError(f"{path}: line {i + 2}: cash must be >= 0, got {c!r}")
            if d in cash and cash[d] != v:
                raise MultiexecError(f"{path}: line {i + 2}: cash {v} differs from {cash[d]} given earlier for {d}")
            cash[d] = v
        lacking = sorted(set(day) - set(cash))
        if lacking:
            raise MultiexecError(f"{path}: no cash value for date {lacking[0]}")
        return cash
    cpath = Path(cash_csv)
    if not cpath.exists():
        raise MultiexecError(f"cash file not found: {cpath}")
    cdf = _read_str_csv(cpath)
    cdf.columns = [c.strip() for c in cdf.columns]
    if list(cdf.columns) != ["date", "cash"]:
        raise MultiexecError(f"{cpath}: header {','.join(cdf.columns)!r}; expected 'date,cash'")
    for i in range(len(cdf)):
        d = pd.to_datetime(cdf["date"].iloc[i].strip(), format="%Y-%m-%d", errors="coerce")
        v = pd.to_numeric(cdf["cash"].iloc[i].strip(), errors="coerce")
        if pd.isna(d):
            raise MultiexecError(f"{cpath}: line {i + 2}: bad date {cdf['date'].iloc[i]!r}")
        if pd.isna(v) or not np.isfinite(v) or v < 0:
            raise MultiexecError(f"{cpath}: line {i + 2}: cash must be a number >= 0, got {cdf['cash'].iloc[i]!r}")
        if d.date() in cash:
            raise MultiexecError(f"{cpath}: line {i + 2}: duplicate date {d.date()}")
        if d.date() not in set(day):
            raise MultiexecError(f"{cpath}: line {i + 2}: cash for {d.date()}, which has no orders")
        cash[d.date()] = float(v)
    lacking = sorted(set(day) - set(cash))
    if lacking:
        raise MultiexecError(f"{cpath}: no cash for date {lacking[0]} (which has orders in {path})")
    return cash


def write_orders_csv(orders: list[DayOrders], path: str | Path) -> None:
    """Write ``date,symbol,side,amount,cash`` (readable by :func:`read_orders_csv`)."""
    rows = []
    for o in orders:
        for s, sd, a in zip(o.symbols, o.side, o.amount):
            rows.append((str(o.date), s, "sell" if sd == 1 else "buy", repr(float(a)), repr(o.cash)))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=["date", "symbol", "side", "amount", "cash"]).to_csv(path, index=False)
