"""The multi-order execution environment (IaC paper, section 3 and appendix A.3), vectorised.

A batch of ``B`` trading days is stepped at once; each day has its own set of orders, padded to
``N`` (the largest order count in the batch) with a mask. All arithmetic is array arithmetic over
``(B, N)``; the only Python loop is over the ``T`` decision steps of the day.

The environment is split as Qlib's ``qlib/rl`` does: a **market** (:mod:`multiexec.execution.markets`:
historical bars, or the reactive limit-order-book market of :mod:`multiexec.execution.lob_market`) executes a
step's volumes; the **action interpreter** (:meth:`MultiOrderEnv.requested`) turns actions into volumes; the
**state interpreter** writes the observation's features by name (``SEQ_FEATURES``, ``NOW_FEATURES``); the
**reward** is eq. 7 below. :meth:`MultiOrderEnv.step` returns a :class:`StepResult`.

The trading day (``M`` minutes of the bar grid) is cut into ``T = ceil(M / step_minutes)`` steps.
At step ``t`` each agent (order ``i``) asks for a fraction ``a_t^i`` of its amount ``M^i`` (capped at
what remains); at the last step whatever remains is executed. On bars, inside a step the volume is spread
evenly over its minutes and executed at each minute's price (TWAP inside the step), so the step's
execution price is the mean of its minute prices.

Cash (shared by the day's orders): the step's sells add their proceeds, the step's buys consume
cash. If the buys of a step cost more than ``cash + proceeds of this step's sells``, every buy of that
step is scaled down by the same factor so that cash ends at exactly zero; what was not bought
stays to be bought later. Buy volume still unbought after the last step (the forced step can also
be cut by cash) is **not** executed: it is reported per order as ``unfilled`` shares and in the
fill rate, never dropped silently. Sells are never limited.

Rewards follow eqs. 4-8 with ``a`` the fraction of ``M^i`` actually executed in the step::

    R(s_t, a_t^i; i) = d^i a_t^i (p_t^i / p~^i - 1) - alpha (a_t^i)^2 - sigma 1[c_t = 0 | c_{t-1} > 0]   (eq. 7)
    R(s_t, a_t)      = mean_i R(s_t, a_t^i; i)                                                             (eq. 8)

with ``d = +1`` for a sell, ``-1`` for a buy, ``p_t^i`` the step's execution price and ``p~^i`` the
market's reward price: on bars the day's average market price (mean of all minute prices, known in hindsight);
on the LOB market, where the day's average is known only at the close and depends on the policy, the day's
arrival price (first minute's open), i.e. an implementation-shortfall reward. ``c_t = 0`` means that the cash
rule bound in step ``t``. Results report EG against the day's average price on both markets, and the
implementation shortfall against the arrival price.

Observation (paper Table 3), per agent: elapsed time ``t/T``, cash history, the order's traded
volumes so far, the asset's price and volume per past step of the day (up to, not including, the
current step), the direction. Normalisation: prices relative to the previous day's close (the
first day of the data uses its own first open), in percent; volumes as ``log1p(step volume /
reference step volume)`` with the reference the asset's mean step volume over the previous (up
to 5) days of the data (the first day uses itself, the one exception); cash and notionals relative
to the day's buy notional at the reference price.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Sequence

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from multiexec.data.bars import MinuteBars
from multiexec.data.orders import DayOrders
from multiexec.errors import MultiexecError
from multiexec.execution.markets import BarsMarket, DayBatch, DayPrices, Market, step_edges

SEQ_FEATURES = ("elapsed", "price", "log_volume", "requested", "traded", "cash", "binding", "valid")
NOW_FEATURES = ("elapsed", "cash", "remaining", "direction", "size_share", "last_binding")
F_SEQ = len(SEQ_FEATURES)
F_NOW = len(NOW_FEATURES)
VOLUME_LOOKBACK_DAYS = 5
DECISION_COLUMNS = ("day_id", "date", "order", "symbol", "side", "step", "minute", "intended_qty", "executed_qty",
                    "price", "cash_after", "cash_binding")
"""columns of the per-step decision log (:meth:`MultiOrderEnv.decisions`): ``order`` is the order's index in its
day's order set (``day_id`` and ``symbol`` identify it in the per-order results too), ``minute`` the step's first
minute of the day"""


class ExecConfig(BaseModel):
    """Settings of the execution procedure and its reward."""

    model_config = ConfigDict(extra="forbid")

    step_minutes: int = Field(30, ge=1, description="minutes per decision step (30 -> T = 13 on a 390-minute day)")
    actions: list[float] = Field(
        default_factory=lambda: [0.0, 0.25, 0.5, 0.75, 1.0],
        description="discrete action set: fractions of the order's amount",
    )
    alpha: float = Field(0.01, ge=0, description="market-impact penalty coefficient (eq. 5)")
    sigma: float = Field(1 / 30, ge=0, description="cash-shortage penalty (eq. 6)")
    price: str = Field("close", description="bar field used as the minute's execution price: close, open or typical")

    @field_validator("actions")
    @classmethod
    def _check_actions(cls, v: list[float]) -> list[float]:
        if len(v) < 2:
            raise ValueError("need at least two actions")
        if any(not (0.0 <= a <= 1.0) for a in v):
            raise ValueError(f"actions are fractions of the order and must lie in [0, 1], got {v}")
        if sorted(set(v)) != list(v):
            raise ValueError(f"actions must be strictly increasing, got {v}")
        return v

    @field_validator("price")
    @classmethod
    def _check_price(cls, v: str) -> str:
        if v not in ("close", "open", "typical"):
            raise ValueError(f"price must be close, open or typical, got {v!r}")
        return v


@dataclass
class Obs:
    """Observation of a batch of days at decision step ``t`` (see module docstring)."""

    t: int
    seq: np.ndarray  # (B, N, T, F_SEQ) float32
    now: np.ndarray  # (B, N, F_NOW) float32
    mask: np.ndarray  # (B, N) bool
    active: np.ndarray  # (B, N) bool
    side: np.ndarray  # (B, N) int8
    asset: np.ndarray  # (B, N) int64
    day: np.ndarray  # (B,) int64, index into the environment's order list
    remaining: np.ndarray  # (B, N) float64, fraction of the order still to trade
    n_steps: int


class StepInfo(NamedTuple):
    """What happened in a step: the requested and executed fractions (B, N), the fills' prices (B, N), whether
    the cash rule bound (B,) and the cash after the step (B,)."""

    requested: np.ndarray
    executed: np.ndarray
    price: np.ndarray
    cash_binding: np.ndarray
    cash: np.ndarray


class StepResult(NamedTuple):
    """The result of :meth:`MultiOrderEnv.step`: the next observation, the team reward (B,) of eq. 8, each
    order's reward (B, N) of eq. 7, whether the day is over and what happened (:class:`StepInfo`)."""

    obs: Obs
    team_reward: np.ndarray
    order_reward: np.ndarray
    done: bool
    info: StepInfo


SEQ = {name: i for i, name in enumerate(SEQ_FEATURES)}  # feature name -> column of Obs.seq
NOW = {name: i for i, name in enumerate(NOW_FEATURES)}  # feature name -> column of Obs.now


class MultiOrderEnv:
    """Vectorised multi-order execution over batches of days, on a :class:`~multiexec.execution.markets.Market`
    (default: the :class:`~multiexec.execution.markets.BarsMarket` of ``bars``)."""

    def __init__(self, bars: MinuteBars | Market, orders: Sequence[DayOrders], config: ExecConfig | None = None):
        self.cfg = config or ExecConfig()
        if not orders:
            raise MultiexecError("no order sets given to the environment")
        self.market: Market = BarsMarket(bars, self.cfg.step_minutes, self.cfg.price) if isinstance(bars, MinuteBars) \
            else bars
        bars = self.market.bars
        if not np.array_equal(self.market.edges, step_edges(bars.n_minutes, self.cfg.step_minutes)):
            raise MultiexecError(f"the {self.market.name} market steps every {int(self.market.edges[1])} minutes, the "
                                 f"config every {self.cfg.step_minutes}: build the market with the same step_minutes")
        self.bars = bars
        self.orders = list(orders)
        self.actions = np.asarray(self.cfg.actions, dtype=np.float64)
        self.n_actions = len(self.actions)
        self.edges = self.market.edges
        self.n_steps = len(self.edges) - 1
        self.ref_price = np.concatenate([bars.open[:1, :, 0], bars.close[:-1, :, -1]], axis=0)  # (D, A)
        self.ref_volume = self._reference_volume(np.add.reduceat(bars.volume, self.edges[:-1], axis=2))  # (D, A)

        # padded order arrays over all order sets: (K, Nmax)
        K = len(self.orders)
        nmax = max(o.n for o in self.orders)
        self._day = np.empty(K, dtype=np.int64)
        self._asset = np.zeros((K, nmax), dtype=np.int64)
        self._side = np.zeros((K, nmax), dtype=np.int8)
        self._amount = np.zeros((K, nmax))
        self._mask = np.zeros((K, nmax), dtype=bool)
        self._cash0 = np.empty(K)
        for k, o in enumerate(self.orders):
            try:
                self._day[k] = bars.date_index([o.date])[0]
                self._asset[k, : o.n] = bars.symbol_index(o.symbols)
            except MultiexecError as exc:
                raise MultiexecError(f"orders on {o.date}: {exc}") from None
            self._side[k, : o.n] = o.side
            self._amount[k, : o.n] = o.amount
            self._mask[k, : o.n] = True
            self._cash0[k] = o.cash
        self.max_orders = nmax

        # episode state (set by reset, advanced by step)
        self._batch: np.ndarray | None = None
        self.t = 0
        self.mask = self.side = self.asset = self.amount = self.day = None  # (B, N) / (B,) of the batch
        self.refp = self._ref_vol = self.cash_norm = self.size_share = None  # (B, N) / (B,) normalisers
        self.cash = self.remaining = None  # (B,) cash now, (B, N) fraction of each order left
        self.req_hist = self.exec_hist = self.price_hist = None  # (B, N, T) requested / executed / fill price
        self.cash_hist = self.binding_hist = self.penalty_hist = None  # (B, T + 1), (B, T), (B, T)
        self.reward_hist = None  # (B, N, T) each order's reward
        self._seq = None  # (B, N, T, F_SEQ) the observation's history
        self._prices: DayPrices | None = None  # the finished day's prices

    # ------------------------------------------------------------------ set-up helpers
    @staticmethod
    def _reference_volume(step_volume: np.ndarray) -> np.ndarray:
        daily = step_volume.mean(axis=2)  # (D, A) mean step volume of each day
        D = daily.shape[0]
        csum = np.concatenate([np.zeros((1, daily.shape[1])), np.cumsum(daily, axis=0)])
        lo = np.maximum(np.arange(D) - VOLUME_LOOKBACK_DAYS, 0)
        hi = np.arange(D)
        n = (hi - lo)[:, None]
        ref = np.where(n > 0, (csum[hi] - csum[lo]) / np.maximum(n, 1), daily)
        return np.maximum(ref, 1.0)

    # ------------------------------------------------------------------ hindsight views (markets that know them)
    def _hindsight(self, what: str) -> DayPrices:
        """The batch's day prices: after the day on any market, from the start on bars (nothing reacts there)."""
        if self._prices is not None:
            return self._prices
        if isinstance(self.market, BarsMarket) and self._batch is not None:
            return self.market.finish()
        raise MultiexecError(f"the {self.market.name} market's {what} known only once the day is over")

    @property
    def price(self) -> np.ndarray:
        """(B, N, T) the market's step prices of the batch."""
        return self._hindsight("step prices are").step_price

    @property
    def avg_price(self) -> np.ndarray:
        """(B, N) the day's average market price of each order's asset (EG's benchmark)."""
        return self._hindsight("day average is").avg_price

    # ------------------------------------------------------------------ episode
    def reset(self, day_ids: Sequence[int] | np.ndarray | None = None) -> Obs:
        """Start a batch of days (indices into ``orders``); default: all of them."""
        ids = np.arange(len(self.orders)) if day_ids is None else np.asarray(day_ids, dtype=np.int64).reshape(-1)
        if ids.size == 0:
            raise MultiexecError("reset needs at least one day")
        if ids.min() < 0 or ids.max() >= len(self.orders):
            raise MultiexecError(f"day ids must lie in [0, {len(self.orders)}), got {ids.min()}..{ids.max()}")
        self._batch = ids
        n = int(self._mask[ids].sum(axis=1).max())
        self.mask = self._mask[ids, :n]
        self.side = self._side[ids, :n]
        self.asset = self._asset[ids, :n]
        self.amount = self._amount[ids, :n]
        self.day = self._day[ids]
        B, T = len(ids), self.n_steps
        d = self.day[:, None]
        self.market.begin(DayBatch(self.day, self.asset, self.side, self.amount, self.mask, self._cash0[ids].copy()))
        self._prices = None
        self.refp = self.ref_price[d, self.asset]
        self._ref_vol = self.ref_volume[d, self.asset]
        notional = np.where(self.mask, self.amount * self.refp, 0.0)
        buy_notional = np.where(self.side < 0, notional, 0.0).sum(axis=1)
        self.cash_norm = np.where(buy_notional > 0, buy_notional, notional.sum(axis=1))
        self.cash_norm = np.maximum(self.cash_norm, 1e-12)
        self.size_share = notional / np.maximum(notional.sum(axis=1, keepdims=True), 1e-12)

        self._maskf = self.mask.astype(np.float64)
        self._sidef = self.side.astype(np.float64)
        self._inv_n = 1.0 / np.maximum(self.mask.sum(axis=1), 1)

        self.t = 0
        self.cash = self._cash0[ids].copy()
        self.remaining = self.mask.astype(np.float64)
        self.req_hist = np.zeros((B, n, T))
        self.exec_hist = np.zeros((B, n, T))
        self.price_hist = np.zeros((B, n, T))
        self.reward_hist = np.zeros((B, n, T))
        self.cash_hist = np.zeros((B, T + 1))
        self.cash_hist[:, 0] = self.cash
        self.binding_hist = np.zeros((B, T), dtype=bool)
        self.penalty_hist = np.zeros((B, T), dtype=bool)
        self._seq = np.zeros((B, n, T, F_SEQ), dtype=np.float32)
        return self._observe()

    def _observe(self) -> Obs:
        t, T = self.t, self.n_steps
        B, n = self.mask.shape
        now = np.empty((B, n, F_NOW), dtype=np.float32)
        now[..., NOW["elapsed"]] = t / T
        now[..., NOW["cash"]] = (self.cash / self.cash_norm)[:, None]
        now[..., NOW["remaining"]] = self.remaining
        now[..., NOW["direction"]] = self.side
        now[..., NOW["size_share"]] = self.size_share
        now[..., NOW["last_binding"]] = self.binding_hist[:, t - 1][:, None] if t > 0 else 0.0
        now *= self.mask[..., None]
        return Obs(
            t=t, seq=self._seq.copy(), now=now, mask=self.mask, active=self.mask & (self.remaining > 1e-12),
            side=self.side, asset=self.asset, day=self._batch.copy(), remaining=self.remaining.copy(), n_steps=T,
        )

    def requested(self, actions: np.ndarray) -> np.ndarray:
        """The action interpreter: (B, N) action indices or fractions -> the requested fraction of each order's
        amount for the current step (capped at what remains; everything that remains at the last step)."""
        a = np.asarray(actions)
        if a.shape != self.mask.shape:
            raise MultiexecError(f"actions must have shape {self.mask.shape} (days, orders), got {a.shape}")
        if np.issubdtype(a.dtype, np.integer):
            if a.size and (a.min() < 0 or a.max() >= self.n_actions):
                raise MultiexecError(f"action indices must lie in [0, {self.n_actions})")
            frac = self.actions[a]
        else:
            frac = a.astype(np.float64)
            if not np.isfinite(frac).all() or frac.min(initial=0) < 0 or frac.max(initial=0) > 1:
                raise MultiexecError("fractional actions must be finite and lie in [0, 1]")
        rem = self.remaining  # 0 on padding, so padded orders trade nothing
        return rem.copy() if self.t == self.n_steps - 1 else np.minimum(frac, rem)

    def step(self, actions: np.ndarray) -> StepResult:
        """Execute step ``t`` for the whole batch.

        ``actions``: (B, N) integer indices into ``actions`` of the config, or floats in [0, 1] taken
        as fractions of each order's amount (rule-based policies).
        """
        if self._batch is None:
            raise MultiexecError("call reset() before step()")
        if self.t >= self.n_steps:
            raise MultiexecError("the day is over: call reset()")
        t, T = self.t, self.n_steps
        req = self.requested(actions)
        fill = self.market.execute(t, req, self.cash)
        executed, p, new_cash, binding = fill.executed, fill.price, fill.cash, fill.binding
        penalty = binding & (self.cash > 0)

        # reward (eqs. 5-8)
        inv_ref = 1.0 / self.market.reward_price  # p~ of eq. 4 (the day's average price on bars)
        order_r = executed * (self._sidef * (p * inv_ref - 1.0) - self.cfg.alpha * executed)
        order_r -= (self.cfg.sigma * penalty)[:, None] * self._maskf
        team_r = order_r.sum(axis=1) * self._inv_n

        remaining = self.remaining - executed
        remaining[remaining < 1e-12] = 0.0
        self.remaining = remaining
        self.req_hist[:, :, t] = req
        self.exec_hist[:, :, t] = executed
        self.price_hist[:, :, t] = p
        self.reward_hist[:, :, t] = order_r
        self.cash = new_cash
        self.cash_hist[:, t + 1] = new_cash
        self.binding_hist[:, t] = binding
        self.penalty_hist[:, t] = penalty

        # the state interpreter: this step's row of the observed history
        md = self.market.market_data(t)
        row = self._seq[:, :, t]
        row[..., SEQ["elapsed"]] = (t + 1) / T
        row[..., SEQ["price"]] = ((md.price / self.refp) - 1.0) * 100.0
        row[..., SEQ["log_volume"]] = np.log1p(md.volume / self._ref_vol)
        row[..., SEQ["requested"]] = req
        row[..., SEQ["traded"]] = executed
        row[..., SEQ["cash"]] = (new_cash / self.cash_norm)[:, None]
        row[..., SEQ["binding"]] = binding[:, None]
        row[..., SEQ["valid"]] = 1.0
        row *= self._maskf[..., None]

        self.t += 1
        done = self.t == T
        if done:
            self._prices = self.market.finish()
        info = StepInfo(req, executed, p, binding, new_cash.copy())
        return StepResult(self._observe(), team_r, order_r, done, info)

    # ------------------------------------------------------------------ results
    def results(self) -> pd.DataFrame:
        """Per-order results of the finished batch (one row per real order)."""
        if self._batch is None or self.t < self.n_steps:
            raise MultiexecError("results() needs a finished episode")
        filled = self.exec_hist.sum(axis=2)  # fraction of M
        shares = filled * self.amount
        paid = (self.exec_hist * self.amount[..., None] * self.price_hist).sum(axis=2)
        with np.errstate(invalid="ignore", divide="ignore"):
            aep = np.where(shares > 0, paid / np.maximum(shares, 1e-300), np.nan)
        eg = self.side * (aep - self.avg_price) / self.avg_price * 1e4
        arrival = self._prices.arrival
        shortfall = self.side * (aep - arrival) / arrival * 1e4
        toc = self.binding_hist.mean(axis=1)
        b_idx, i_idx = np.nonzero(self.mask)
        rows = {
            "day_id": self._batch[b_idx],
            "date": self.bars.dates[self.day[b_idx]],
            "symbol": np.asarray(self.bars.symbols)[self.asset[b_idx, i_idx]],
            "side": np.where(self.side[b_idx, i_idx] > 0, "sell", "buy"),
            "amount": self.amount[b_idx, i_idx],
            "filled": shares[b_idx, i_idx],
            "unfilled": (self.amount * (1 - filled))[b_idx, i_idx].clip(min=0),
            "fill_rate": filled[b_idx, i_idx],
            "avg_exec_price": aep[b_idx, i_idx],
            "avg_market_price": self.avg_price[b_idx, i_idx],
            "eg_bps": eg[b_idx, i_idx],
            "arrival_price": arrival[b_idx, i_idx],
            "is_bps": shortfall[b_idx, i_idx],
            "notional": (shares * np.nan_to_num(aep))[b_idx, i_idx],
            "day_toc": toc[b_idx],
        }
        return pd.DataFrame(rows)

    def day_results(self) -> pd.DataFrame:
        """Per-day results of the finished batch: cash path, TOC, team reward pieces."""
        if self._batch is None or self.t < self.n_steps:
            raise MultiexecError("day_results() needs a finished episode")
        out = pd.DataFrame(
            {
                "day_id": self._batch,
                "date": self.bars.dates[self.day],
                "n_orders": self.mask.sum(axis=1),
                "cash0": self.cash_hist[:, 0],
                "cash_end": self.cash_hist[:, -1],
                "toc": self.binding_hist.mean(axis=1),
                "steps_binding": self.binding_hist.sum(axis=1),
            }
        )
        return out

    def decisions(self) -> pd.DataFrame:
        """The decision log of the finished batch: one row per real order and decision step (the audit trail of
        every decision, :data:`DECISION_COLUMNS`). Quantities are in shares: ``intended_qty`` what the policy asked
        for in the step (its action, capped at what remained; everything left at the last step), ``executed_qty``
        what the market filled, at ``price`` (the step's fill price as the market reports it); ``cash_after`` is
        the day's shared cash after the step and ``cash_binding`` whether the cash rule cut the step's buys. Per
        order, ``executed_qty`` sums to the ``filled`` of :meth:`results`."""
        if self._batch is None or self.t < self.n_steps:
            raise MultiexecError("decisions() needs a finished episode")
        b_idx, i_idx = np.nonzero(self.mask)
        T = self.n_steps
        b = np.repeat(b_idx, T)
        i = np.repeat(i_idx, T)
        t = np.tile(np.arange(T), b_idx.size)
        amount = self.amount[b, i]
        start = self.edges[:-1]
        return pd.DataFrame({
            "day_id": self._batch[b],
            "date": self.bars.dates[self.day[b]],
            "order": i,
            "symbol": np.asarray(self.bars.symbols)[self.asset[b, i]],
            "side": np.where(self.side[b, i] > 0, "sell", "buy"),
            "step": t,
            "minute": np.asarray(start)[t],
            "intended_qty": self.req_hist[b, i, t] * amount,
            "executed_qty": self.exec_hist[b, i, t] * amount,
            "price": self.price_hist[b, i, t],
            "cash_after": self.cash_hist[b, t + 1],
            "cash_binding": self.binding_hist[b, t],
        })

    def profiles(self) -> dict[str, np.ndarray]:
        """Per-step requested and executed fractions of the finished batch, by side: arrays (B, N, T)."""
        return {
            "requested": self.req_hist.copy(),
            "executed": self.exec_hist.copy(),
            "side": self.side.copy(),
            "mask": self.mask.copy(),
            "price_dev": (self.price / self.avg_price[..., None] - 1.0),
        }
