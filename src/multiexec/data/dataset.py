"""The one entry point the rest of the project uses: :class:`DataConfig` -> :func:`load_dataset` -> :class:`Dataset`.

Sources (``DataConfig.source``):
- ``"synthetic"`` (default): the built-in synthetic market (:mod:`.synthetic`), ``synthetic.n_assets``
  assets, ``synthetic.n_days`` days of minute bars plus ``synthetic.history_days`` days of daily history;
- ``"us_minute_2018"`` (or the path of that shared folder): the shared per-ticker minute CSVs; its daily history is
  the shared S&P 500 daily file (``daily="auto"``), joined as described in :mod:`.ordergen` (the six-day gap between the
  two counts as one period of the trailing return);
- a directory of per-ticker CSVs, or a long-table CSV/Parquet file (e.g. the LOB simulator's
  ``bars.parquet``); daily history from ``daily`` if given, else none (the first ``lookback + 1``
  days then have no orders).

Daily history (``daily``; ``multiexec data orders|info --daily``): ``"auto"`` (the default: the shared S&P 500
daily file for ``us_minute_2018``, none for other sources), ``"none"`` / None (no history), ``"sp500_daily"`` or
the path of a daily file (``date,open,high,low,close,volume,Name``). Tickers of the bars that the daily file
lacks are listed in a note; with ``on_missing="error"`` (default) they are kept and ranked on the daily closes
of the minute bars only (so they cannot be ranked, hence not bought, before ``lookback + 1`` days of bars);
with ``on_missing="drop"`` they are dropped from the bars (listed in the note). A daily file that has none of
the tickers is an error. (On ``us_minute_2018`` the S&P 500 file lacks BABA, BIDU, JD, NXPI, SQ, TSLA, TWTR and
X.)

Minute-bar screen (``screen``): see :mod:`.loaders`; ``"error"`` (default) or ``"repair"``.

Participation cap (``max_participation``, default 0.25; None: no cap): an order larger than that share of its
asset's volume on its day (the sum of the day's minute volumes in the bars) cannot be absorbed by the market
the bars describe. ``over_cap="error"`` (default) refuses it in one line naming the order; ``"partial"`` cuts
the order to ``max_participation x the day's volume`` (whole shares), lists every cut in a note and
``Dataset.cuts``, and execution then fills at most the cut amount. The cap travels with the bars
(``bars.meta["max_participation"]``), so :class:`~multiexec.execution.markets.BarsMarket` refuses any
order above it, whatever built it. The generated and shipped order sets stay far below it (largest share
of a day's volume: 0.4 % on ``us_minute_2018``, 6.5 % on the default synthetic market).

Notes (things done to the data that a user must know: rows outside the session dropped, bars repaired, tickers
without daily history, orders cut) are in ``Dataset.notes`` and logged as warnings on the ``multiexec.data``
logger.
"""

from __future__ import annotations

import json
import logging
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from multiexec.data.bars import MinuteBars
from multiexec.data.daily import DailyBars
from multiexec.data.orders import DayOrders
from multiexec.data.ordergen import OrderGenConfig, read_orders_csv, winners_losers_orders
from multiexec.data.splits import SplitConfig, make_splits
from multiexec.errors import MultiexecError, validation_message

log = logging.getLogger("multiexec.data")
DEFAULT_MAX_PARTICIPATION = 0.25


class SyntheticConfig(BaseModel):
    """Size of the built-in synthetic market; ``params``: a JSON from ``multiexec data fit`` (default: embedded).

    ``intraday_drift``: a planted experiment knob, not fitted: a common open-to-close drift of every asset's log
    price in basis points per day, spread evenly over the day's minutes and taken back in the overnight gap
    (see :mod:`multiexec.data.synthetic`). 0 (the default) leaves the market bit for bit unchanged.
    """

    model_config = ConfigDict(extra="forbid")
    n_assets: int = Field(30, ge=2)
    n_days: int = Field(60, ge=1)
    history_days: int = Field(30, ge=0)
    params: str | None = None
    start: str = "2017-01-02"
    intraday_drift: float = Field(0.0, allow_inf_nan=False, ge=-1e4, le=1e4,
                                  description="planted open-to-close drift of every asset, bp per day (0: none)")


class DataConfig(BaseModel):
    """Everything that determines a :class:`Dataset`."""

    model_config = ConfigDict(extra="forbid")
    source: str = Field("synthetic", description="'synthetic', 'us_minute_2018', a CSV directory or a long-table file")
    symbols: list[str] | None = Field(None, description="restrict to these symbols (unknown ones are an error)")
    max_assets: int | None = Field(None, ge=2, description="keep the most traded assets (mean dollar volume)")
    on_missing: Literal["error", "drop"] = Field("error", description="asset lacking a day, or lacking from the "
                                                 "daily history file: error (history: keep, noted) or drop it")
    daily: str | None = Field("auto", description="daily history file for ranking; 'auto', 'none', 'sp500_daily' "
                              "or a path: see module docstring")
    screen: Literal["error", "repair"] = Field("error", description="bad minute bars (outliers, high < low, "
                                               "open/close outside [low, high]): error, or repair and list them")
    max_participation: float | None = Field(DEFAULT_MAX_PARTICIPATION, gt=0, le=1,
                                            description="largest order as a share of its asset's day volume")
    over_cap: Literal["error", "partial"] = Field("error", description="order above max_participation: error, or "
                                                  "cut it to the cap (a reported partial fill)")
    jump_threshold: float | None = Field(0.5, gt=0, description="|log return| screened as unadjusted jump")
    cache: bool = True
    orders: OrderGenConfig = Field(default_factory=OrderGenConfig)
    splits: SplitConfig = Field(default_factory=SplitConfig)
    synthetic: SyntheticConfig = Field(default_factory=SyntheticConfig)
    seed: int = Field(0, ge=0, description="seed of the synthetic market and of order generation's tie breaks")


@dataclass
class Dataset:
    """Minute bars, the daily order sets aligned with them, and the splits (indices into ``orders``)."""

    name: str
    bars: MinuteBars
    orders: list[DayOrders]
    splits: dict[str, list[int]]
    daily: DailyBars  # daily panel the orders were ranked on (history + days of the bars)
    config: DataConfig = field(default_factory=DataConfig)
    notes: list[str] = field(default_factory=list)  # what was done to the data that the user must know
    cuts: list[dict] = field(default_factory=list)  # orders cut to the participation cap (over_cap="partial")

    @property
    def order_day_index(self) -> np.ndarray:
        """(len(orders),) index of each order set's day in ``bars.dates``."""
        return self.bars.date_index([o.date for o in self.orders])

    def split(self, name: str) -> list[DayOrders]:
        if name not in self.splits:
            raise MultiexecError(f"unknown split {name!r}; available: {sorted(self.splits)}")
        return [self.orders[i] for i in self.splits[name]]

    def summary(self) -> pd.DataFrame:
        """One row per split: days, date range, orders per day, buy/sell notional and c0 (previous close)."""
        rows = []
        prev = _prev_close(self)
        for name, idx in self.splits.items():
            if not idx:
                continue
            os_ = [self.orders[i] for i in idx]
            n = np.array([o.n for o in os_])
            buy = np.array([np.sum(o.amount * prev[k] * (o.side == -1)) for k, o in zip(idx, os_)])
            sell = np.array([np.sum(o.amount * prev[k] * (o.side == 1)) for k, o in zip(idx, os_)])
            cash = np.array([o.cash for o in os_])
            rows.append({
                "split": name, "days": len(idx), "first": str(os_[0].date), "last": str(os_[-1].date),
                "orders/day": float(n.mean()), "min n": int(n.min()), "max n": int(n.max()),
                "buy $M/day": buy.mean() / 1e6, "sell $M/day": sell.mean() / 1e6,
                "c0/buy": float(np.mean(cash / np.maximum(buy, 1e-9))),
            })
        return pd.DataFrame(rows)


def _prev_close(ds: Dataset) -> list[np.ndarray]:
    """Per order set, the previous close of each order's asset (the day's first open on the first day)."""
    out = []
    pos = {s: i for i, s in enumerate(ds.daily.symbols)}
    for o in ds.orders:
        j = int(np.searchsorted(ds.daily.dates, o.date))
        ai = np.array([pos[s] for s in o.symbols])
        if j > 0:
            px = ds.daily.close[j - 1, ai]
        else:
            px = np.full(len(ai), np.nan)
        first = ds.bars.open[ds.bars.date_index([o.date])[0], ds.bars.symbol_index(o.symbols), 0]
        out.append(np.where(np.isfinite(px), px, first))
    return out


def _history_for(cfg: DataConfig) -> DailyBars | None:
    from multiexec.data.loaders import load_daily, resolve_source
    from multiexec.paths import shared_data

    if cfg.daily is None or cfg.daily.strip().lower() == "none":
        return None
    if cfg.daily == "auto":
        shared = shared_data("us_minute_2018")
        if cfg.source != "us_minute_2018" and (shared is None or resolve_source(cfg.source).resolve() != shared.resolve()):
            return None
        return load_daily(resolve_source("sp500_daily"), jump_threshold=cfg.jump_threshold, cache=cfg.cache)
    if cfg.daily != "sp500_daily" and not Path(cfg.daily).expanduser().is_file():
        raise MultiexecError(f"daily history file not found: {cfg.daily} (daily / --daily: 'auto', 'none', "
                             "'sp500_daily' or a daily CSV date,open,high,low,close,volume,Name)")
    return load_daily(resolve_source(cfg.daily), jump_threshold=cfg.jump_threshold, cache=cfg.cache)


def load_dataset(cfg: DataConfig | None = None, progress: bool = False) -> Dataset:
    """Load bars, build or read the order sets and split the days; see the module docstring."""
    from multiexec.data.loaders import load_bars

    cfg = cfg or DataConfig()
    if cfg.source == "synthetic" and cfg.daily is not None and cfg.daily.strip().lower() not in ("auto", "none"):
        raise MultiexecError(f"daily = {cfg.daily!r}: the synthetic market makes its own daily history "
                             "(synthetic.history_days); a daily file applies to real minute data only")
    if cfg.source == "synthetic":
        from multiexec.data.synthetic import generate, load_params

        s = cfg.synthetic
        bars, history = generate(load_params(s.params), s.n_assets, s.n_days, s.history_days, cfg.seed, s.start,
                                  intraday_drift=s.intraday_drift)
        if cfg.symbols is not None:
            bars = bars.select(symbols=cfg.symbols)
        name = f"synthetic-a{s.n_assets}-d{s.n_days}-s{cfg.seed}"
    else:
        bars = load_bars(cfg.source, cfg.symbols, cfg.on_missing, cfg.cache, progress, cfg.screen)
        history = _history_for(cfg)
        name = Path(cfg.source).name.replace(".parquet", "").replace(".csv", "")
    notes = list(bars.meta.get("notes", []))
    own: list[str] = []
    if history is not None:
        bars, msg = _history_coverage(history, bars, cfg)
        if msg:
            own.append(msg)
    if cfg.max_assets is not None and cfg.max_assets < bars.n_assets:
        dollar = (bars.volume * bars.close).sum(axis=2).mean(axis=0)
        keep = np.sort(np.argsort(-dollar, kind="stable")[: cfg.max_assets])
        bars = bars.select(symbols=[bars.symbols[i] for i in keep])
    recent = DailyBars.from_minute(bars)
    daily = DailyBars.concat(history, recent) if history is not None else recent
    if cfg.orders.csv is not None:
        orders = read_orders_csv(cfg.orders.csv, bars, cfg.orders.cash_csv)
    else:
        if cfg.orders.cash_csv is not None:
            raise MultiexecError("orders.cash_csv is only used together with orders.csv")
        dates = _orderable_dates(daily, bars, cfg.orders)
        if len(dates) == 0:
            raise MultiexecError(
                f"{name}: orders.lookback = {cfg.orders.lookback} needs {cfg.orders.lookback + 2} days of daily "
                f"history before a day of bars, but the data has {daily.n_days} days in all "
                f"({daily.n_days - bars.n_days} of history + {bars.n_days} of bars); lower orders.lookback or give "
                "a longer daily history (daily)")
        orders = winners_losers_orders(daily, dates, cfg.orders, cfg.seed)
    if not orders:
        raise MultiexecError(f"{name}: no day has orders (too few days for lookback {cfg.orders.lookback}?)")
    label = cfg.orders.csv or f"{name} (generated orders)"
    orders, cuts = check_participation(orders, bars, cfg.max_participation, cfg.over_cap, label)
    if cuts:
        shown = ", ".join(f"{c['symbol']} {c['date']} {c['amount']:.0f} -> {c['cut_to']:.0f}" for c in cuts[:3])
        own.append(f"{label}: {len(cuts)} order(s) above {cfg.max_participation:g} of the day's volume cut to the "
                   f"cap (partial fills): {shown}" + (", ..." if len(cuts) > 3 else ""))
    bars.meta["max_participation"] = cfg.max_participation
    splits = make_splits([o.date for o in orders], cfg.splits)
    for n in own:
        log.warning("note: %s", n)
    return Dataset(name=name, bars=bars, orders=orders, splits=splits, daily=daily, config=cfg, notes=notes + own,
                   cuts=cuts)


def _history_coverage(history: DailyBars, bars: MinuteBars, cfg: DataConfig) -> tuple[MinuteBars, str]:
    """Tickers of ``bars`` missing from the daily ``history``: a note (kept) or dropped (``on_missing="drop"``);
    a history sharing no ticker is an error."""
    have = set(history.symbols)
    missing = [s for s in bars.symbols if s not in have]
    if not missing:
        return bars, ""
    src = history.source
    if len(missing) == bars.n_assets:
        raise MultiexecError(f"{src}: the daily history has none of the {bars.n_assets} tickers of {bars.source} "
                             f"(e.g. {missing[0]}); give another daily file or daily='none'")
    listed = ", ".join(missing[:20]) + (", ..." if len(missing) > 20 else "")
    if cfg.on_missing == "drop":
        if bars.n_assets - len(missing) < 2:
            raise MultiexecError(f"{src}: only {bars.n_assets - len(missing)} ticker(s) of {bars.source} have daily "
                                 f"history; dropping the others ({listed}) leaves too few")
        bars = bars.select(symbols=[s for s in bars.symbols if s in have])
        return bars, (f"{src}: dropped {len(missing)} of {len(missing) + bars.n_assets} tickers that have no daily "
                      f"history (on_missing='drop'): {listed}")
    return bars, (f"{src}: {len(missing)} of {bars.n_assets} tickers have no daily history: {listed}; they are ranked "
                  f"on the minute bars' daily closes only (not before {cfg.orders.lookback + 1} days of bars); "
                  "use on_missing='drop' (--drop-missing) to drop them")


def check_participation(
    orders: list[DayOrders], bars: MinuteBars, cap: float | None, over: str = "error", label: str = "orders"
) -> tuple[list[DayOrders], list[dict]]:
    """Orders checked against ``cap`` x their asset's volume on their day (module docstring): returns the orders
    (cut where ``over="partial"``) and the list of cuts; ``over="error"`` raises on the first order above it."""
    if cap is None:
        return orders, []
    if not 0 < cap <= 1:
        raise MultiexecError(f"max_participation must be in (0, 1], got {cap}")
    if over not in ("error", "partial"):
        raise MultiexecError(f"over_cap must be 'error' or 'partial', got {over!r}")
    day_volume = bars.volume.sum(axis=2)  # (D, A)
    out, cuts = [], []
    for o in orders:
        v = day_volume[bars.date_index([o.date])[0], bars.symbol_index(o.symbols)]
        limit = np.floor(cap * v)
        over_ = o.amount > limit
        if not over_.any():
            out.append(o)
            continue
        if over == "error":
            i = int(np.argmax(over_))
            share = o.amount[i] / v[i] if v[i] > 0 else np.inf
            raise MultiexecError(
                f"{label}: order {o.date} {o.symbols[i]} {'sell' if o.side[i] == 1 else 'buy'} {o.amount[i]:.6g} shares "
                f"is {share:.3g}x the day's volume {v[i]:.6g} in the bars, above max_participation = {cap:g}; the "
                "market could not absorb it (use smaller orders, raise max_participation, or over_cap='partial' to "
                "cut such orders to the cap)")
        for i in np.flatnonzero(over_):
            cuts.append({"date": str(o.date), "symbol": o.symbols[i], "side": "sell" if o.side[i] == 1 else "buy",
                         "amount": float(o.amount[i]), "cut_to": float(limit[i]), "day_volume": float(v[i])})
        keep = limit > 0
        if not keep.any():
            continue
        amount = np.minimum(o.amount, limit)
        out.append(DayOrders(date=o.date, symbols=[s for s, k in zip(o.symbols, keep) if k], side=o.side[keep],
                             amount=amount[keep], cash=o.cash))
    if not out:
        raise MultiexecError(f"{label}: no order is left after cutting to max_participation = {cap:g}")
    return out, cuts


def _orderable_dates(daily: DailyBars, bars: MinuteBars, ocfg: OrderGenConfig) -> np.ndarray:
    """Days of the bars with enough trailing rows to rank on and one earlier rebalance (no cold start)."""
    rows = np.searchsorted(daily.dates, bars.dates)
    return bars.dates[rows >= ocfg.lookback + 2]


# ------------------------------------------------------------------------------------- config files
def read_config_mapping(path: str | Path) -> dict:
    """Mapping from a YAML, JSON or TOML file (by suffix)."""
    p = Path(path)
    if not p.exists():
        raise MultiexecError(f"config file not found: {p}")
    if not p.is_file():
        raise MultiexecError(f"{p}: config must be a file, not a folder")
    if p.suffix.lower() not in (".yaml", ".yml", ".json", ".toml"):
        raise MultiexecError(f"{p}: unknown config file type {p.suffix or '(none)'!r}; a config must be .yaml, "
                             ".yml, .json or .toml")
    try:
        text = p.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise MultiexecError(f"{p}: cannot read config: {' '.join(str(exc).split())}") from None
    try:
        if p.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        elif p.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            data = tomllib.loads(text)
    except Exception as exc:  # parser errors of three libraries
        raise MultiexecError(f"{p}: cannot parse config: {' '.join(str(exc).split())}") from None
    content = [ln for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    if data is None or not content:
        raise MultiexecError(f"{p}: the config file is empty (write the keys to set; leave the option out to use the "
                             "defaults)")
    if not isinstance(data, dict):
        raise MultiexecError(f"{p}: config must be a mapping of keys to values")
    return data


def validate_config(data: dict, model: type[BaseModel] = DataConfig, where: str = "config"):
    """``model(**data)`` with pydantic errors turned into one clear message naming each bad key."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise MultiexecError(validation_message(exc, where)) from None


def load_config_file(path: str | Path, model: type[BaseModel] = DataConfig, section: str | None = None):
    """Config from YAML/JSON/TOML; ``section`` picks a sub-mapping (e.g. ``"data"``). Unknown keys are named."""
    data = read_config_mapping(path)
    where = str(path)
    if section is not None:
        if section not in data:
            raise MultiexecError(f"{path}: no section {section!r}")
        data = data[section] or {}
        where = f"{path} [{section}]"
    return validate_config(data, model, where)
