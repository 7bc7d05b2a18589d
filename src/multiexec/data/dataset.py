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
"""

from __future__ import annotations

import json
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
from multiexec.errors import MultiexecError


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
    on_missing: Literal["error", "drop"] = Field("error", description="asset lacking a day: error or drop it")
    daily: str | None = Field("auto", description="daily history file for ranking; 'auto': see module docstring")
    jump_threshold: float | None = Field(0.5, gt=0, description="|log return| screened as unadjusted jump")
    cache: bool = True
    orders: OrderGenConfig = Field(default_factory=OrderGenConfig)
    splits: SplitConfig = Field(default_factory=SplitConfig)
    synthetic: SyntheticConfig = Field(default_factory=SyntheticConfig)
    seed: int = 0


@dataclass
class Dataset:
    """Minute bars, the daily order sets aligned with them, and the splits (indices into ``orders``)."""

    name: str
    bars: MinuteBars
    orders: list[DayOrders]
    splits: dict[str, list[int]]
    daily: DailyBars  # daily panel the orders were ranked on (history + days of the bars)
    config: DataConfig = field(default_factory=DataConfig)

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

    if cfg.daily is None:
        return None
    if cfg.daily == "auto":
        shared = shared_data("us_minute_2018")
        if cfg.source != "us_minute_2018" and (shared is None or resolve_source(cfg.source).resolve() != shared.resolve()):
            return None
        return load_daily(resolve_source("sp500_daily"), jump_threshold=cfg.jump_threshold, cache=cfg.cache)
    return load_daily(resolve_source(cfg.daily), jump_threshold=cfg.jump_threshold, cache=cfg.cache)


def load_dataset(cfg: DataConfig | None = None, progress: bool = False) -> Dataset:
    """Load bars, build or read the order sets and split the days; see the module docstring."""
    from multiexec.data.loaders import load_bars

    cfg = cfg or DataConfig()
    if cfg.source == "synthetic":
        from multiexec.data.synthetic import generate, load_params

        s = cfg.synthetic
        bars, history = generate(load_params(s.params), s.n_assets, s.n_days, s.history_days, cfg.seed, s.start,
                                  intraday_drift=s.intraday_drift)
        if cfg.symbols is not None:
            bars = bars.select(symbols=cfg.symbols)
        name = f"synthetic-a{s.n_assets}-d{s.n_days}-s{cfg.seed}"
    else:
        bars = load_bars(cfg.source, cfg.symbols, cfg.on_missing, cfg.cache, progress)
        history = _history_for(cfg)
        name = Path(cfg.source).name.replace(".parquet", "").replace(".csv", "")
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
        orders = winners_losers_orders(daily, _orderable_dates(daily, bars, cfg.orders), cfg.orders, cfg.seed)
    if not orders:
        raise MultiexecError(f"{name}: no day has orders (too few days for lookback {cfg.orders.lookback}?)")
    splits = make_splits([o.date for o in orders], cfg.splits)
    return Dataset(name=name, bars=bars, orders=orders, splits=splits, daily=daily, config=cfg)


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
    text = p.read_text()
    try:
        if p.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        elif p.suffix == ".json":
            data = json.loads(text)
        elif p.suffix == ".toml":
            data = tomllib.loads(text)
        else:
            raise MultiexecError(f"{p}: config must be .yaml, .yml, .json or .toml")
    except MultiexecError:
        raise
    except Exception as exc:  # parser errors of three libraries
        raise MultiexecError(f"{p}: cannot parse config: {exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise MultiexecError(f"{p}: config must be a mapping of keys to values")
    return data


def validate_config(data: dict, model: type[BaseModel] = DataConfig, where: str = "config"):
    """``model(**data)`` with pydantic errors turned into one clear message naming each bad key."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        msgs = []
        for e in exc.errors():
            key = ".".join(str(x) for x in e["loc"])
            if e["type"] == "extra_forbidden":
                msgs.append(f"unknown key {key!r}")
            else:
                msgs.append(f"{key}: {e['msg']} (got {e.get('input')!r})")
        raise MultiexecError(f"{where}: " + "; ".join(msgs)) from None


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
