"""LOBSTER order-book data: a validating reader and a converter into the simulator's run-folder tables.

LOBSTER (Huang & Polak 2011, https://lobsterdata.com) ships two CSV files per day and ticker, without header:

* message file, one row per event: ``time`` (seconds after midnight), ``type`` (1 new limit order, 2 partial
  cancel, 3 full delete, 4 execution of a visible order, 5 execution of a hidden order, 6 cross trade,
  7 trading halt), ``order_id``, ``size`` (shares), ``price`` (dollars x 10000), ``direction`` (+1 buy / -1 sell
  limit order; the execution of a sell order is a buyer-initiated trade).
* order-book file, one row per message row, the book *after* that event: per level ``ask_price, ask_size,
  bid_price, bid_size``; an empty level has price +9999999999 (ask) / -9999999999 (bid) and size 0.

The converter :func:`lobster_tables` turns a sample into the tables the simulator writes into a run folder
(``bars``, ``l2``, ``trades``, ``orders``), so the stylized-facts code runs on real and simulated data alike.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from multiexec.errors import MultiexecError
from multiexec.paths import shared_data

LOBSTER_DIR = "lobster_aapl_2012-06-21"
PRICE_SCALE = 10_000  # LOBSTER prices are dollars x 10000
EMPTY_ASK = 9_999_999_999
EMPTY_BID = -9_999_999_999
MESSAGE_COLUMNS = ("time", "type", "order_id", "size", "price", "direction")


@dataclass
class LobsterData:
    """One LOBSTER sample: ``messages`` (columns :data:`MESSAGE_COLUMNS`), ``book`` (``ask_price_1, ask_size_1,
    bid_price_1, bid_size_1, ...``, LOBSTER's integer prices and empty-level sentinels kept) and ``levels``
    (book levels present in the order-book file). ``symbol`` and ``date`` come from LOBSTER's file name
    (``TICKER_YYYY-MM-DD_...``) and are None where the name does not carry them."""

    messages: pd.DataFrame
    book: pd.DataFrame
    levels: int
    message_csv: Path
    orderbook_csv: Path
    symbol: str | None = None
    date: np.datetime64 | None = None

    def __len__(self) -> int:
        return len(self.messages)


def book_columns(levels: int) -> list[str]:
    """LOBSTER's order-book column order for ``levels`` levels."""
    cols = []
    for i in range(1, levels + 1):
        cols += [f"ask_price_{i}", f"ask_size_{i}", f"bid_price_{i}", f"bid_size_{i}"]
    return cols


def _read_numeric(path: Path, what: str) -> np.ndarray:
    """Read a header-less numeric CSV into a float64 array; raise naming the file and row on any bad cell."""
    if not path.is_file():
        raise MultiexecError(f"LOBSTER {what} file not found: {path}")
    try:
        df = pd.read_csv(path, header=None, low_memory=False)
    except pd.errors.EmptyDataError:
        raise MultiexecError(f"LOBSTER {what} file {path} is empty") from None
    except pd.errors.ParserError as exc:  # rows with more fields than the first one
        m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        detail = f"row {m.group(2)} has {m.group(3)} columns, expected {m.group(1)}" if m else str(exc)
        raise MultiexecError(f"LOBSTER {what} file {path}: {detail}") from None
    out = np.empty(df.shape, dtype=np.float64)
    for j, name in enumerate(df.columns):
        col = df[name]
        num = pd.to_numeric(col, errors="coerce") if not pd.api.types.is_numeric_dtype(col) else col
        num = num.to_numpy(dtype=np.float64, na_value=np.nan)
        bad = ~np.isfinite(num)
        if bad.any():
            i = int(np.argmax(bad))
            raw = col.iloc[i]
            hint = " (LOBSTER files have no header row)" if i == 0 else ""
            if pd.isna(raw):
                raise MultiexecError(
                    f"LOBSTER {what} file {path}: row {i + 1} has a missing value in column {j + 1}{hint}"
                )
            raise MultiexecError(
                f"LOBSTER {what} file {path}: row {i + 1}, column {j + 1}: {raw!r} is not a number{hint}"
            )
        out[:, j] = num
    return out


def _require_integer(arr: np.ndarray, path: Path, what: str, names) -> None:
    frac = arr != np.round(arr)
    if frac.any():
        i, j = np.argwhere(frac)[0]
        raise MultiexecError(
            f"LOBSTER {what} file {path}: row {i + 1}, column {names[j]}: {float(arr[i, j])!r} is not an integer"
        )


def _fail_row(path: Path, what: str, mask: np.ndarray, message: Callable[[int], str]) -> None:
    if mask.any():
        i = int(np.argmax(mask))
        raise MultiexecError(f"LOBSTER {what} file {path}: row {i + 1}: {message(i)}")


def _levels_in_name(path: Path) -> int | None:
    """Levels announced by a LOBSTER order-book file name: ``..._orderbook_10...`` -> 10; a name marked
    ``level1only`` (the first level cut out of a deeper file) -> 1; None for other names."""
    if "level1only" in path.name:
        return 1
    m = re.search(r"orderbook_(\d+)", path.name)
    return int(m.group(1)) if m else None


def _name_symbol_date(path: Path) -> tuple[str | None, np.datetime64 | None]:
    m = re.match(r"([A-Za-z.]+)_(\d{4}-\d{2}-\d{2})_", path.name)
    if not m:
        return None, None
    return m.group(1), np.datetime64(m.group(2), "D")


def read_lobster(message_csv: str | Path, orderbook_csv: str | Path) -> LobsterData:
    """Read and validate a LOBSTER message file and its order-book file (row-aligned, no header).

    Checks: 6 message columns; time finite, non-negative and non-decreasing; type in 1..7; direction +-1;
    integer ids, sizes and prices; positive sizes and prices for types 1-6; order-book columns a multiple of 4
    (and equal to 4 x the levels in the file name where it announces them); integer prices and sizes; an empty
    level (size 0) carries LOBSTER's sentinel price and a non-empty one a positive price; equal row counts.
    Any failure raises :class:`MultiexecError` naming the file and the row (1-based line number).
    """
    message_csv, orderbook_csv = Path(message_csv), Path(orderbook_csv)
    msg = _read_numeric(message_csv, "message")
    if msg.shape[1] != 6:
        raise MultiexecError(
            f"LOBSTER message file {message_csv}: {msg.shape[1]} columns, expected 6 ({', '.join(MESSAGE_COLUMNS)})"
        )
    what = "message"
    _require_integer(msg[:, 1:], message_csv, what, MESSAGE_COLUMNS[1:])
    t, typ, oid, size, price, direction = (msg[:, j] for j in range(6))
    _fail_row(message_csv, what, t < 0, lambda i: f"negative time {float(t[i])}")
    dec = np.zeros(len(t), dtype=bool)
    dec[1:] = np.diff(t) < 0
    _fail_row(message_csv, what, dec,
              lambda i: f"time {float(t[i])!r} is before the previous row's {float(t[i - 1])!r}")
    _fail_row(message_csv, what, (typ < 1) | (typ > 7), lambda i: f"type {int(typ[i])} is not in 1..7")
    _fail_row(message_csv, what, np.abs(direction) != 1, lambda i: f"direction {int(direction[i])} is not +1 or -1")
    trading = typ <= 6
    _fail_row(message_csv, what, trading & (size <= 0), lambda i: f"size {int(size[i])} is not positive")
    _fail_row(message_csv, what, trading & (price <= 0), lambda i: f"price {int(price[i])} is not positive")
    messages = pd.DataFrame(
        {
            "time": t,
            "type": typ.astype(np.int64),
            "order_id": oid.astype(np.int64),
            "size": size.astype(np.int64),
            "price": price.astype(np.int64),
            "direction": direction.astype(np.int64),
        }
    )

    what = "order-book"
    book = _read_numeric(orderbook_csv, what)
    ncol = book.shape[1]
    if ncol % 4:
        raise MultiexecError(
            f"LOBSTER order-book file {orderbook_csv}: {ncol} columns, expected a multiple of 4 "
            "(ask price, ask size, bid price, bid size per level)"
        )
    levels = ncol // 4
    named = _levels_in_name(orderbook_csv)
    if named is not None and named != levels:
        raise MultiexecError(
            f"LOBSTER order-book file {orderbook_csv}: the name announces {named} level(s) but the file has "
            f"{ncol} columns ({levels} level(s))"
        )
    names = book_columns(levels)
    _require_integer(book, orderbook_csv, what, names)
    for j in range(0, ncol, 2):
        px, sz, col = book[:, j], book[:, j + 1], names[j]
        sentinel = EMPTY_ASK if col.startswith("ask") else EMPTY_BID
        _fail_row(orderbook_csv, what, sz < 0, lambda i: f"{names[j + 1]} = {int(sz[i])} is negative")
        _fail_row(
            orderbook_csv, what, (sz == 0) != (px == sentinel),
            lambda i: f"{col} = {int(px[i])} with {names[j + 1]} = {int(sz[i])}: an empty level must have size 0 "
            f"and price {sentinel}, a non-empty one a real price",
        )
        _fail_row(orderbook_csv, what, (sz > 0) & (px <= 0), lambda i: f"{col} = {int(px[i])} is not positive")
    if len(book) != len(messages):
        raise MultiexecError(
            f"LOBSTER files are not row-aligned: {message_csv} has {len(messages)} rows, "
            f"{orderbook_csv} has {len(book)}"
        )
    symbol, date = _name_symbol_date(message_csv)
    return LobsterData(
        messages=messages,
        book=pd.DataFrame(book.astype(np.int64), columns=names),
        levels=levels,
        message_csv=message_csv,
        orderbook_csv=orderbook_csv,
        symbol=symbol,
        date=date,
    )


def lobster_samples(root: str | Path | None = None) -> list[tuple[Path, Path]]:
    """(message_csv, orderbook_csv) pairs under ``root`` (default: the shared ``lobster_aapl_2012-06-21``
    folder; an empty list where it is absent). A message file ``X_message_N...csv`` pairs with the order-book
    file in the same folder named ``X_orderbook_N...csv``, optionally followed by a marker such as
    ``_level1only``."""
    root = shared_data(LOBSTER_DIR) if root is None else Path(root)
    if root is None or not Path(root).is_dir():
        return []
    pairs = []
    for msg in sorted(Path(root).rglob("*message*.csv")):
        stem = msg.stem.replace("message", "orderbook", 1)
        books = sorted(
            p for p in msg.parent.glob("*orderbook*.csv")
            if p.stem == stem or (p.stem.startswith(stem) and p.stem[len(stem)] == "_")
        )
        exact = [p for p in books if p.stem == stem]
        if exact or len(books) == 1:
            pairs.append((msg, (exact or books)[0]))
    return pairs


# ---------------------------------------------------------------------------------------------------------
# Conversion into the simulator's run-folder tables


def _to_dollars(px: np.ndarray, size: np.ndarray) -> np.ndarray:
    out = px.astype(np.float64) / PRICE_SCALE
    out[size == 0] = np.nan
    return out


def lobster_tables(data: LobsterData, symbol: str | None = None, date=None) -> dict[str, pd.DataFrame]:
    """The sample as the tables of a simulator run folder (same columns and conventions):

    * ``l2``: the book after every event; ``time_ns`` (ns after midnight), ``symbol``, ``bid_px_i``,
      ``bid_sz_i``, ``ask_px_i``, ``ask_sz_i`` (dollars, NaN / 0 where a level is empty).
    * ``trades``: executions of visible and hidden orders (types 4, 5); ``side`` is the aggressor's: the
      opposite of the resting order's direction. Cross (auction) trades (type 6) are left out: they have no
      aggressor.
    * ``orders``: what traders sent, reconstructed: type 1 -> ``limit``, 2 -> ``modify`` (size = shares
      removed), 3 -> ``cancel``; executions at the same timestamp against the same side -> one ``market`` order
      (price NaN, size = shares executed, side = aggressor). ``agent_id`` -1, ``agent_type`` "lobster".
    * ``bars``: minute bars of the trades from the first to the last minute of the sample; a minute without
      trades repeats the last close with volume 0 (leading empty minutes take the first trade price).
    """
    symbol = symbol or data.symbol
    if symbol is None:
        raise MultiexecError(f"{data.message_csv}: no symbol in the file name; pass symbol=")
    date = np.datetime64(date, "D") if date is not None else data.date
    if date is None:
        raise MultiexecError(f"{data.message_csv}: no date in the file name; pass date=")
    m = data.messages
    time_ns = np.rint(m["time"].to_numpy() * 1e9).astype(np.int64)

    b = data.book
    l2 = {"time_ns": time_ns, "symbol": np.full(len(b), symbol, dtype=object)}
    for side in ("bid", "ask"):
        for i in range(1, data.levels + 1):
            l2[f"{side}_px_{i}"] = _to_dollars(b[f"{side}_price_{i}"].to_numpy(), b[f"{side}_size_{i}"].to_numpy())
    for side in ("bid", "ask"):
        for i in range(1, data.levels + 1):
            l2[f"{side}_sz_{i}"] = b[f"{side}_size_{i}"].to_numpy(dtype=np.int64)
    l2 = pd.DataFrame(l2)
    l2 = l2[["time_ns", "symbol"] + [f"{s}_{k}_{i}" for s in ("bid", "ask") for k in ("px", "sz")
                                     for i in range(1, data.levels + 1)]]

    typ = m["type"].to_numpy()
    price = m["price"].to_numpy() / PRICE_SCALE
    size = m["size"].to_numpy()
    direction = m["direction"].to_numpy()
    ex = np.isin(typ, (4, 5))
    trades = pd.DataFrame(
        {
            "time_ns": time_ns[ex],
            "symbol": symbol,
            "price": price[ex],
            "size": size[ex].astype(np.int64),
            "side": (-direction[ex]).astype(np.int64),
        }
    )

    keep = np.isin(typ, (1, 2, 3))
    names = np.array(["", "limit", "modify", "cancel"], dtype=object)
    passive = pd.DataFrame(
        {"time_ns": time_ns[keep], "msg": names[typ[keep]], "side": direction[keep],
         "price": price[keep], "size": size[keep]}
    )
    # consecutive executions at one timestamp against one side come from one marketable order
    ex_idx = np.flatnonzero(ex)
    tex, dex = time_ns[ex_idx], direction[ex_idx]
    new = np.ones(len(ex_idx), dtype=bool)
    new[1:] = (tex[1:] != tex[:-1]) | (dex[1:] != dex[:-1]) | (np.diff(ex_idx) != 1)
    group = np.cumsum(new) - 1
    market = pd.DataFrame(
        {"time_ns": tex[new], "msg": "market", "side": -dex[new], "price": np.nan,
         "size": np.bincount(group, weights=size[ex_idx]).astype(np.int64)}
    )
    seq = np.concatenate([np.flatnonzero(keep), ex_idx[new]])
    orders = pd.concat([passive, market], ignore_index=True).iloc[np.argsort(seq, kind="stable")]
    orders = orders.reset_index(drop=True)
    orders.insert(1, "symbol", symbol)
    orders.insert(2, "agent_id", np.int64(-1))
    orders.insert(3, "agent_type", "lobster")
    orders["side"] = orders["side"].astype(np.int64)
    orders["size"] = orders["size"].astype(np.int64)

    bars = trades_to_bars(trades, date, first_ns=int(time_ns[0]), last_ns=int(time_ns[-1]))
    return {"bars": bars, "l2": l2, "trades": trades, "orders": orders}


def trades_to_bars(trades: pd.DataFrame, date, first_ns: int, last_ns: int) -> pd.DataFrame:
    """Minute OHLCV bars of one symbol's trades (``time_ns``, ``price``, ``size``) on the grid of minutes from
    ``first_ns`` to ``last_ns`` (ns after midnight) of ``date``; empty minutes carry the last close, volume 0."""
    if trades.empty:
        raise MultiexecError("no trades: cannot build minute bars")
    minute_ns = 60 * 10**9
    grid = np.arange(first_ns // minute_ns, last_ns // minute_ns + 1)
    mins = trades["time_ns"].to_numpy() // minute_ns
    g = trades.assign(minute=mins).groupby("minute", sort=True)
    ohlc = pd.DataFrame(
        {
            "open": g["price"].first(),
            "high": g["price"].max(),
            "low": g["price"].min(),
            "close": g["price"].last(),
            "volume": g["size"].sum().astype(np.int64),
        }
    ).reindex(grid)
    close = ohlc["close"].ffill().bfill()
    for col in ("open", "high", "low"):
        ohlc[col] = ohlc[col].fillna(close)
    ohlc["close"] = close
    ohlc["volume"] = ohlc["volume"].fillna(0).astype(np.int64)
    ts = np.datetime64(date, "D").astype("datetime64[ns]") + (grid * minute_ns).astype("timedelta64[ns]")
    symbol = trades["symbol"].iloc[0]
    return pd.DataFrame({"symbol": symbol, "timestamp": ts, **{c: ohlc[c].to_numpy() for c in ohlc.columns}})


def lobster_to_run(data: LobsterData, run_dir: str | Path, symbol: str | None = None, date=None) -> Path:
    """Write :func:`lobster_tables` as a run folder (``bars``, ``l2``, ``trades``, ``orders`` .parquet)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    for name, table in lobster_tables(data, symbol=symbol, date=date).items():
        table.to_parquet(run_dir / f"{name}.parquet", index=False)
    return run_dir
