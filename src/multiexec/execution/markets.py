"""Markets: the simulator half of the execution environment (Qlib's ``qlib/rl`` split: simulator / state
interpreter / action interpreter / reward).

A :class:`Market` executes, for a batch of ``B`` days with ``N`` orders each, every order's requested volume of a
decision step and says what was executed and at what price, applying the shared-cash rule of the day. The
environment (:class:`~multiexec.execution.env.MultiOrderEnv`) turns policy actions into requested volumes
(action interpreter), observations into the paper's features (state interpreter) and fills into rewards.

Two markets implement it:

* :class:`BarsMarket` -- historical (or synthetic) minute bars, nothing reacts: a step's volume is spread evenly
  over its minutes and executed at each minute's price, so the step's price is the mean of its minute prices.
* :class:`~multiexec.execution.lob_market.LOBMarket` -- the day runs in the :mod:`multiexec.lob` simulator and
  each order's step volume is sent as child orders that hit the book.

Participation cap: where the bars carry one (``bars.meta["max_participation"]``, set by
:func:`~multiexec.data.dataset.load_dataset` from ``DataConfig.max_participation``, default 0.25),
:meth:`BarsMarket.begin` refuses an order larger than that share of its asset's volume on its day -- bars that do
not react cannot absorb more than they traded, and the market never fills it silently.

Cash rule (both markets): the step's sells add their proceeds, the step's buys consume cash; if the buys would
cost more than ``cash + proceeds of this step's sells``, every buy of the step is scaled down by the same factor
(``binding``); what was not bought stays to be bought later.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol, runtime_checkable

import numpy as np

from multiexec.data.bars import MinuteBars
from multiexec.errors import MultiexecError


class DayBatch(NamedTuple):
    """The orders of a batch of days, as the environment hands them to a market (padded to ``N``)."""

    day: np.ndarray  # (B,) index into the market's dates (bars.dates)
    asset: np.ndarray  # (B, N) index into the market's symbols
    side: np.ndarray  # (B, N) int8, +1 sell / -1 buy (0 on padding)
    amount: np.ndarray  # (B, N) shares (0 on padding)
    mask: np.ndarray  # (B, N) bool, real orders
    cash: np.ndarray  # (B,) cash at the open


class Fill(NamedTuple):
    """What a market did with one step's requests."""

    executed: np.ndarray  # (B, N) fraction of each order's amount executed in the step
    price: np.ndarray  # (B, N) average price of the step's fills (the market's step price where nothing filled)
    cash: np.ndarray  # (B,) cash after the step
    binding: np.ndarray  # (B,) bool: the cash rule cut the step's buys


class StepMarketData(NamedTuple):
    """The market as every participant saw it during the step just executed (for the observation)."""

    price: np.ndarray  # (B, N) mean of the step's minute prices of each order's asset
    volume: np.ndarray  # (B, N) shares traded in the step in each order's asset


class DayPrices(NamedTuple):
    """Prices of the finished days, for metrics and reports."""

    avg_price: np.ndarray  # (B, N) the day's average market price (mean of its minute prices): EG's benchmark
    arrival: np.ndarray  # (B, N) the day's first minute open: implementation shortfall's benchmark
    step_price: np.ndarray  # (B, N, T) the market's price of each step


@runtime_checkable
class Market(Protocol):
    """The market interface of the execution environment (see the module docstring).

    ``begin`` starts a batch of days; ``reward_price`` (B, N) is the reference price ``p~`` of the reward
    (eq. 7); ``execute`` runs step ``t`` for ``req`` (B, N), the requested fraction of each order's amount;
    ``market_data`` is the step just run as the market saw it; ``finish`` the day's prices once all ``T`` steps
    ran.
    """

    name: str
    bars: MinuteBars  # the market's history: dates, symbols, reference prices and volumes of the observation
    n_steps: int
    edges: np.ndarray  # (T + 1,) minute index where each step starts, plus the end

    def begin(self, batch: DayBatch) -> None: ...

    @property
    def reward_price(self) -> np.ndarray: ...

    def execute(self, t: int, req: np.ndarray, cash: np.ndarray) -> Fill: ...

    def market_data(self, t: int) -> StepMarketData: ...

    def finish(self) -> DayPrices: ...


def step_edges(n_minutes: int, step_minutes: int) -> np.ndarray:
    """Minute index where each step starts, plus the end: ``T + 1`` edges."""
    return np.append(np.arange(0, n_minutes, step_minutes), n_minutes)


def minute_price(bars: MinuteBars, price: str) -> np.ndarray:
    """The bar field used as a minute's execution price: ``close``, ``open`` or ``typical`` (H+L+C)/3."""
    if price == "close":
        return bars.close
    if price == "open":
        return bars.open
    return (bars.high + bars.low + bars.close) / 3.0


def apply_cash_rule(value: np.ndarray, buyf: np.ndarray, cash: np.ndarray):
    """The shared-cash rule for step values ``value`` (B, N) (requested shares x price): returns the buy scale
    (B,), the cash after the step (B,) and whether the rule bound (B,)."""
    cost = (value * buyf).sum(axis=1)
    proceeds = value.sum(axis=1) - cost
    avail = cash + proceeds
    binding = cost > avail * (1 + 1e-12)
    scale = np.divide(avail, cost, out=np.ones_like(cost), where=binding)
    return scale, np.where(binding, 0.0, avail - cost), binding


class BarsMarket:
    """Minute bars that do not react: TWAP inside each step at the minute prices (see the module docstring)."""

    name = "bars"

    def __init__(self, bars: MinuteBars, step_minutes: int, price: str = "close"):
        self.bars = bars
        self.edges = step_edges(bars.n_minutes, step_minutes)
        self.n_steps = len(self.edges) - 1
        px = minute_price(bars, price)  # (D, A, M)
        lengths = np.diff(self.edges)
        self.step_price = np.add.reduceat(px, self.edges[:-1], axis=2) / lengths  # (D, A, T)
        self.step_volume = np.add.reduceat(bars.volume, self.edges[:-1], axis=2)  # (D, A, T)
        self.day_avg_price = px.mean(axis=2)  # (D, A)  p~ of eq. 4
        self.max_participation = bars.meta.get("max_participation")
        self.day_volume = self.step_volume.sum(axis=2)  # (D, A)
        self._batch: DayBatch | None = None

    def _check_participation(self, batch: DayBatch) -> None:
        """An order above ``max_participation`` x its asset's day volume is an error naming it (module docstring)."""
        cap = self.max_participation
        vol = self.day_volume[batch.day[:, None], batch.asset]
        over = batch.mask & (batch.amount > np.floor(cap * vol))
        if over.any():
            b, i = np.argwhere(over)[0]
            d, a = int(batch.day[b]), int(batch.asset[b, i])
            raise MultiexecError(
                f"order {self.bars.dates[d]} {self.bars.symbols[a]} {'sell' if batch.side[b, i] == 1 else 'buy'} "
                f"{batch.amount[b, i]:.6g} shares is above max_participation = {cap:g} of the day's volume "
                f"{vol[b, i]:.6g} in the bars; the market could not absorb it")

    def begin(self, batch: DayBatch) -> None:
        if self.max_participation is not None:
            self._check_participation(batch)
        d = batch.day[:, None]
        self._batch = batch
        self._price = self.step_price[d, batch.asset]  # (B, N, T)
        self._volume = self.step_volume[d, batch.asset]
        self._avg = self.day_avg_price[d, batch.asset]
        self._amount = batch.amount
        self._buyf = ((batch.side < 0) & batch.mask).astype(np.float64)

    @property
    def reward_price(self) -> np.ndarray:
        return self._avg

    def execute(self, t: int, req: np.ndarray, cash: np.ndarray) -> Fill:
        p = self._price[:, :, t]
        scale, new_cash, binding = apply_cash_rule(req * self._amount * p, self._buyf, cash)
        executed = req * (1.0 + self._buyf * (scale[:, None] - 1.0))
        return Fill(executed, p, new_cash, binding)

    def market_data(self, t: int) -> StepMarketData:
        return StepMarketData(self._price[:, :, t], self._volume[:, :, t])

    def finish(self) -> DayPrices:
        b = self._batch
        arrival = self.bars.open[b.day[:, None], b.asset, 0]
        return DayPrices(self._avg, arrival, self._price)
