"""The reactive market: the multi-order environment's days run in the :mod:`multiexec.lob` simulator.

**Days.** :func:`simulate_days` runs ``n_days`` consecutive days of a multi-symbol population (default
``desk``: 15 symbols): each day's fundamental starts at the previous day's close, and each day's seed is derived
from the run's seed and the day's index. Their minute bars (cached as a Parquet long table) are an ordinary data
source, so :func:`lob_dataset` builds the orders ("buy winners, sell losers" on the simulated closes, or a CSV of
orders) and the splits exactly as for historical data, and the observation's reference prices and volumes come
from the simulated history.

**Execution** (:class:`LOBMarket`). When the environment starts a batch of days, each day is simulated again with
the same seed, now with one external agent per order: without our orders the day would be the one in the
history, bit for bit (tested); with them, the book reacts. A step's volume of an order is cut into one child
order per minute of the step (TWAP inside the step, cumulative rounding to whole shares). One second into each
minute every child is sent as a marketable limit order (a buy priced ``limit_ticks`` above the best ask, a sell
below the best bid): it takes what the book offers up to that price, and its rest waits in the book until one
second before the minute ends, when it is cancelled. Shares that could not be sent (an empty side of the book,
not enough cash) carry to the next minute of the step; what the step did not fill stays to be traded later, and
what the day did not fill is reported as unfilled.

**Cash.** As on bars, the step's buys are first scaled down together when their cost at the best ask would exceed
the cash plus the step's sell proceeds at the best bid (``binding``). Then, one minute at a time, buy children
are sent only for what the cash realised so far (fills at the prices the book gave) covers at their limit
prices, so the day's cash never goes negative; a cut there also counts as binding.

**Prices.** The minute price is the minute's last trade (the close, as on bars); the step's market price is the
mean of its minute prices; EG's benchmark is the simulated day's average minute price (our own trades
included), and the reward's reference price ``p~`` is the day's arrival price (first trade), which is known when
the first step ends (see :mod:`multiexec.execution.env`).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from multiexec.data.bars import MinuteBars
from multiexec.errors import MultiexecError
from multiexec.execution.markets import DayBatch, DayPrices, Fill, StepMarketData, step_edges
from multiexec.lob import engine as E
from multiexec.lob.config import MarketConfig, get_config
from multiexec.lob.sim import MINUTE_NS, Simulation

SECOND_NS = 1_000_000_000


class LOBMarketConfig(BaseModel):
    """The reactive market: which population, how many simulated days, how child orders are sent."""

    model_config = ConfigDict(extra="forbid")
    config: str = Field("desk", description="registered LOB config (multiexec lob configs) or a JSON/YAML file")
    days: int = Field(30, ge=3, le=2000, description="consecutive simulated days (the first lookback + 1 have no "
                      "orders: they rank the first order day)")
    limit_ticks: int = Field(5, ge=0, le=10_000, description="a child buy is priced this many ticks above the best "
                             "ask (a sell below the best bid)")
    send_offset_s: float = Field(1.0, ge=0, lt=30, description="children go out this many seconds into a minute")
    cancel_before_s: float = Field(1.0, gt=0, lt=30, description="the rest of a child is cancelled this many "
                                   "seconds before its minute ends")
    orders_csv: str | None = Field(None, description="read the orders from this CSV (date,symbol,side,amount,cash; "
                                   "dates and symbols of the simulated days) instead of the winners/losers strategy")


def parse_market(spec: str, days: int = 30, orders_csv: str | None = None) -> LOBMarketConfig | None:
    """``--market``: ``bars`` (None: the data's own bars) or ``lob:<config>`` (the reactive LOB market)."""
    spec = spec.strip()
    if spec == "bars":
        return None
    if not spec.startswith("lob:") or not spec[4:]:
        raise MultiexecError(f"--market: expected 'bars' or 'lob:<config>' (e.g. lob:desk), got {spec!r}")
    from pydantic import ValidationError

    try:
        return LOBMarketConfig(config=spec[4:], days=days, orders_csv=orders_csv)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise MultiexecError(f"--market {spec}: {'.'.join(map(str, err['loc']))}: {err['msg']}") from None


def load_market_config(spec: str) -> MarketConfig:
    """A registered config name, or a JSON/YAML file holding a :class:`MarketConfig`."""
    p = Path(spec)
    if p.suffix.lower() in (".json", ".yaml", ".yml"):
        from multiexec.data.dataset import load_config_file

        return load_config_file(p, MarketConfig)
    return get_config(spec)


def day_seed(seed: int, day: int) -> int:
    """The seed of simulated day ``day`` of a run with ``seed``."""
    return int(np.random.SeedSequence([int(seed), int(day)]).generate_state(1, np.uint32)[0])


def day_configs(base: MarketConfig, dates: np.ndarray, closes: np.ndarray | None) -> MarketConfig:
    """``base`` on ``dates``' day with every fundamental opening at ``closes`` (ticks; None: as configured)."""
    syms = base.symbols
    if closes is not None:
        syms = [s.model_copy(update={"fundamental": s.fundamental.model_copy(update={"r_bar": int(c)})})
                for s, c in zip(base.symbols, closes)]
    return base.model_copy(update={"date": str(dates), "symbols": syms})


def _cache_file(base: MarketConfig, n_days: int, seed: int) -> Path:
    from multiexec.paths import cache_dir

    key = hashlib.sha256(json.dumps([base.model_dump(mode="json"), n_days, seed, 1]).encode()).hexdigest()[:16]
    return cache_dir() / "lob_days" / f"{base.name}-d{n_days}-s{seed}-{key}.parquet"


def simulate_days(base: MarketConfig, n_days: int, seed: int, progress: bool = True, cache: bool = True):
    """Consecutive simulated days: (Parquet long table of their minute bars, each day's (config, seed)); cached
    in the project's cache folder (keyed on the config, the number of days and the seed)."""
    from tqdm.auto import tqdm

    dates = pd.bdate_range(base.date, periods=n_days).to_numpy().astype("datetime64[D]")
    path = _cache_file(base, n_days, seed)
    side = path.with_suffix(".opens.json")
    if cache and path.exists() and side.exists():
        opens = json.loads(side.read_text())
        specs = [(day_configs(base, dates[d], np.asarray(opens[d])), day_seed(seed, d)) for d in range(n_days)]
        return path, specs
    frames, opens, specs = [], [], []
    closes = None
    for d in tqdm(range(n_days), desc=f"simulate {base.name} days", unit="day", disable=not progress):
        cfg = day_configs(base, dates[d], closes)
        s = day_seed(seed, d)
        sim = Simulation(cfg, s)
        sim.run(progress=False)
        bars = sim.bars()
        frames.append(bars)
        specs.append((cfg, s))
        opens.append([int(x.fundamental.r_bar) for x in cfg.symbols])
        last = bars.groupby("symbol", sort=False)["close"].last().reindex(sim.symbols).to_numpy()
        closes = np.maximum(np.round(last / base.tick_dollars), 1).astype(np.int64)
    path.parent.mkdir(parents=True, exist_ok=True)
    # atomic writes: concurrent runs (test workers, a process pool) may build the same days at once
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    pd.concat(frames, ignore_index=True).to_parquet(tmp, index=False)
    os.replace(tmp, path)
    tmp = side.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(opens))
    os.replace(tmp, side)
    return path, specs


def lob_dataset(mcfg: LOBMarketConfig, seed: int = 0, step_minutes: int = 30, orders=None, splits=None,
                progress: bool = True):
    """The simulated days of ``mcfg`` as a :class:`~multiexec.data.dataset.Dataset` (orders and splits as for any
    data source; ``orders``: an ``OrderGenConfig``, default the winners/losers strategy holding a third of the
    symbols, ranked on two days' returns; ``splits``: a ``SplitConfig``, default a sixth of the days each for valid
    and test) and the :class:`LOBMarket` that replays them with our orders."""
    from multiexec.data.dataset import DataConfig, load_dataset
    from multiexec.data.ordergen import OrderGenConfig
    from multiexec.data.splits import SplitConfig

    base = load_market_config(mcfg.config)
    path, specs = simulate_days(base, mcfg.days, seed, progress)
    ocfg = orders or OrderGenConfig(top_k=max(1, len(base.symbols) // 3), lookback=2, csv=mcfg.orders_csv)
    scfg = splits or SplitConfig(valid_days=max(1, mcfg.days // 6), test_days=max(1, mcfg.days // 6))
    ds = load_dataset(DataConfig(source=str(path), daily=None, orders=ocfg, splits=scfg, seed=seed))
    ds.name = f"lob-{base.name}-d{mcfg.days}-s{seed}"
    return ds, LOBMarket(ds.bars, specs, mcfg, step_minutes)


class LOBMarket:
    """The days of ``bars`` replayed in the LOB simulator with one external agent per order (module docstring).

    ``specs[d]`` is day ``d``'s (config, seed); ``step_minutes`` is set by the environment's config through
    :meth:`with_steps` (one market serves one step length)."""

    name = "lob"

    def __init__(self, bars: MinuteBars, specs: list[tuple[MarketConfig, int]], cfg: LOBMarketConfig | None = None,
                 step_minutes: int = 30):
        if len(specs) != bars.n_days:
            raise MultiexecError(f"LOB market: {len(specs)} day configs for {bars.n_days} days of bars")
        self.bars = bars
        self.specs = specs
        self.cfg = cfg or LOBMarketConfig()
        cfg0 = specs[0][0]
        self.tick = cfg0.tick_dollars
        self.symbols = [s.name for s in cfg0.symbols]
        if self.symbols != list(bars.symbols):
            self._sym_of_asset = np.array([self.symbols.index(s) for s in bars.symbols])
        else:
            self._sym_of_asset = np.arange(len(self.symbols))
        self._asset_of_sym = np.argsort(self._sym_of_asset)
        self.minutes = (cfg0.close_ns - cfg0.open_ns) // MINUTE_NS
        if self.minutes != bars.n_minutes:
            raise MultiexecError(f"LOB market: the config's day has {self.minutes} minutes, the bars {bars.n_minutes}")
        self.set_step_minutes(step_minutes)
        self.sims: list[Simulation] = []
        self._arrival = np.zeros((0, 0))  # (B, N) the batch's arrival prices, known after the first step

    def set_step_minutes(self, step_minutes: int) -> None:
        self.edges = step_edges(self.bars.n_minutes, step_minutes)
        self.n_steps = len(self.edges) - 1

    # ------------------------------------------------------------ episode
    def begin(self, batch: DayBatch) -> None:
        amt = batch.amount[batch.mask]
        if (np.abs(amt - np.round(amt)) > 1e-9).any():
            raise MultiexecError("the LOB market trades whole shares: every order amount must be an integer")
        self.batch = batch
        B, N = batch.mask.shape
        self.sims, self.agents = [], np.full((B, N), -1, np.int64)
        self.sym = self._sym_of_asset[batch.asset]  # (B, N) symbol index in the simulation
        self.lob_side = np.where(batch.side < 0, 1, -1)  # the engine's +1 buy / -1 sell
        self.shares = np.round(batch.amount).astype(np.int64)
        self.done_shares = np.zeros((B, N), np.int64)  # shares filled so far (>= 0)
        self.cash_ticks = np.zeros((B, N), np.int64)  # engine cash of each order's agent
        for b in range(B):
            cfg, seed = self.specs[int(batch.day[b])]
            idx = np.nonzero(batch.mask[b])[0]
            ext = [(f"order{i}", int(self.sym[b, i])) for i in idx]
            sim = Simulation(cfg, seed, external=ext)
            for i in idx:
                self.agents[b, i] = sim.agent(f"order{i}")
            self.sims.append(sim)
        S = len(self.symbols)
        self.min_close = np.full((B, S, self.minutes), np.nan)
        self.min_vol = np.zeros((B, S, self.minutes))
        self._vol0 = np.zeros((B, S))
        self._arrival = np.full((B, N), np.nan)
        self._n_trades_seen = np.zeros(B, np.int64)
        self._first_px = np.full((B, S), -1, np.int64)
        self._market_px = np.zeros((B, N))  # (B, N) market price of the step just executed

    @property
    def reward_price(self) -> np.ndarray:
        if np.isnan(self._arrival).any():
            raise MultiexecError("the LOB market's arrival price is known once the day's first trade happened")
        return self._arrival

    def _positions(self, b: int) -> tuple[np.ndarray, np.ndarray]:
        sim, ag = self.sims[b], self.agents[b]
        st = sim.ex.st
        ok = ag >= 0
        pos = np.zeros(len(ag), np.int64)
        cash = np.zeros(len(ag), np.int64)
        pos[ok] = st.pos[ag[ok], self.sym[b][ok]]
        cash[ok] = st.agv[ag[ok], E.AG_CASH]
        return pos, cash

    def _record_minute(self, b: int, m: int) -> None:
        st = self.sims[b].ex.st
        last = st.symv[:, E.SV_LAST]
        vol = (st.symv[:, E.SV_VOLB] + st.symv[:, E.SV_VOLS]).astype(np.float64)
        self.min_close[b, :, m] = np.where(last > 0, last * self.tick, np.nan)
        self.min_vol[b, :, m] = vol - self._vol0[b]
        self._vol0[b] = vol
        need = self._first_px[b] < 0
        if need.any():  # the day's first trade of each symbol (the arrival price)
            n = int(st.meta[E.M_NTR])
            tr = st.trl[self._n_trades_seen[b]:n]
            self._n_trades_seen[b] = n
            open_ns = self.sims[b].open_ns
            for s in np.nonzero(need)[0]:
                hit = np.nonzero((tr[:, E.TR_SYM] == s) & (tr[:, E.TR_TIME] >= open_ns))[0]
                if hit.size:
                    self._first_px[b, s] = tr[hit[0], E.TR_PX]

    def execute(self, t: int, req: np.ndarray, cash: np.ndarray) -> Fill:
        bt = self.batch
        B, N = bt.mask.shape
        m0, m1 = int(self.edges[t]), int(self.edges[t + 1])
        left = self.shares - self.done_shares
        want = np.where(bt.mask, np.minimum(np.round(req * bt.amount).astype(np.int64), left), 0)
        if t == self.n_steps - 1:
            want = np.where(bt.mask, left, 0)
        buy = (bt.side < 0) & bt.mask
        off = int(self.cfg.send_offset_s * SECOND_NS)
        cancel = int(self.cfg.cancel_before_s * SECOND_NS)
        binding = np.zeros(B, bool)
        new_cash = cash.astype(np.float64).copy()
        executed = np.zeros((B, N))
        price = np.zeros((B, N))
        for b in range(B):
            sim = self.sims[b]
            t0 = sim.open_ns + m0 * MINUTE_NS
            sim.run_until(t0 + off)
            # step-level cash rule at the quotes (as on bars)
            q = want[b].astype(np.float64)
            quotes = np.array([sim.l1(int(s)) for s in self.sym[b]], np.float64).reshape(-1, 4) * self.tick
            bid, ask = quotes[:, 0], quotes[:, 2]
            ref = np.where(buy[b], ask, bid)
            ref = np.where(ref > 0, ref, self.bars.close[max(int(bt.day[b]) - 1, 0), bt.asset[b], -1])
            cost = (q * ref * buy[b]).sum()
            avail = cash[b] + (q * ref * ~buy[b] * bt.mask[b]).sum()
            if cost > avail * (1 + 1e-12):
                binding[b] = True
                q = np.where(buy[b], np.floor(q * max(avail, 0.0) / cost), q)
            step_q = q.astype(np.int64)
            pos0, cash0 = self._positions(b)
            sent = np.zeros(N, np.int64)
            n_min = m1 - m0
            for k, m in enumerate(range(m0, m1)):
                tm = sim.open_ns + m * MINUTE_NS
                sim.run_until(tm + off)
                plan = step_q * (k + 1) // n_min - sent  # cumulative split, unsent shares carried
                pos, cash_t = self._positions(b)
                spent = float((cash0 - cash_t).sum()) * self.tick  # dollars paid net of proceeds, this step
                room = cash[b] - spent
                for i in np.nonzero(plan > 0)[0]:
                    s = int(self.sym[b, i])
                    bid_t, _, ask_t, _ = sim.l1(s)
                    if buy[b, i]:
                        if ask_t <= 0:
                            continue
                        px = ask_t + self.cfg.limit_ticks
                        qty = int(plan[i])
                        if qty * px * self.tick > room:
                            qty = max(0, int(room // (px * self.tick)))
                            binding[b] = True
                        if qty <= 0:
                            continue
                        room -= qty * px * self.tick
                        sim.send_limit(int(self.agents[b, i]), 1, int(px), qty)
                    else:
                        if bid_t <= 0:
                            continue
                        qty = int(plan[i])
                        sim.send_limit(int(self.agents[b, i]), -1, max(1, int(bid_t - self.cfg.limit_ticks)), qty)
                    sent[i] += qty
                sim.run_until(tm + MINUTE_NS - cancel)
                for i in np.nonzero(plan > 0)[0]:
                    sim.send_cancel_all(int(self.agents[b, i]))
                sim.run_until(tm + MINUTE_NS)
                self._record_minute(b, m)
            pos1, cash1 = self._positions(b)
            got = np.abs(pos1 - pos0)
            paid = np.abs(cash1 - cash0).astype(np.float64) * self.tick
            self.done_shares[b] += got
            executed[b] = np.where(bt.mask[b], got / np.maximum(bt.amount[b], 1e-300), 0.0)
            new_cash[b] = cash[b] + float((cash1 - cash0).sum()) * self.tick
            mkt = self._market_px[b] = self._step_price(b, m0, m1)
            price[b] = np.where(got > 0, paid / np.maximum(got, 1), mkt)
            first = self._first_px[b, self.sym[b]]
            self._arrival[b] = np.where(np.isnan(self._arrival[b]) & (first > 0), first * self.tick, self._arrival[b])
        if t == 0:
            # a symbol without a trade in the first step: its arrival is the previous close
            prev = self.bars.close[np.maximum(bt.day - 1, 0)[:, None], bt.asset, -1]
            self._arrival = np.where(np.isnan(self._arrival), prev, self._arrival)
        # fills never exceed the limit prices the cash check used: only rounding can leave cash below zero
        return Fill(executed, price, np.where(new_cash > -1e-6, np.maximum(new_cash, 0.0), new_cash), binding)

    def _filled_closes(self, b: int) -> np.ndarray:
        c = pd.DataFrame(self.min_close[b].T).ffill().bfill().to_numpy().T  # (S, M)
        prev = self.bars.close[max(int(self.batch.day[b]) - 1, 0), self._asset_of_sym, -1]
        return np.where(np.isnan(c), prev[:, None], c)

    def _step_price(self, b: int, m0: int, m1: int) -> np.ndarray:
        c = self._filled_closes(b)[:, m0:m1].mean(axis=1)
        return c[self.sym[b]]

    def market_data(self, t: int) -> StepMarketData:
        m0, m1 = int(self.edges[t]), int(self.edges[t + 1])
        vol = np.stack([self.min_vol[b][self.sym[b]][:, m0:m1].sum(axis=1) for b in range(len(self.sims))])
        return StepMarketData(self._market_px.copy(), vol)

    def finish(self) -> DayPrices:
        avg, arrival, steps = [], [], []
        for b, sim in enumerate(self.sims):
            sim.run_until(sim.close_ns)
            bars = sim.bars()  # the day as the data defines it (minute closes; trades at the close included)
            close = bars.pivot(index="timestamp", columns="symbol", values="close")[self.symbols].to_numpy().T
            opn = bars.pivot(index="timestamp", columns="symbol", values="open")[self.symbols].to_numpy().T
            s = self.sym[b]
            avg.append(close.mean(axis=1)[s])
            arrival.append(opn[:, 0][s])
            steps.append((np.add.reduceat(close, self.edges[:-1], axis=1) / np.diff(self.edges))[s])
        return DayPrices(np.stack(avg), np.stack(arrival), np.stack(steps))
