"""One trading day of the service, computed by the execution environment itself.

The service does not re-implement the environment: each day is a :class:`~multiexec.execution.env.MultiOrderEnv`
over a :class:`PostedMarket`, a market whose fills and market data are the ones the client posts. Deciding step
``t`` is the environment's observation at ``t`` -> ``policy.act`` -> the environment's action interpreter
(:meth:`MultiOrderEnv.requested`); posting step ``t`` is :meth:`MultiOrderEnv.step` with the same actions, the
market answering with the posted fills, so the state interpreter writes the observation's history exactly as it
does on historical bars. The day's reference numbers of the observation (the previous close of each symbol and its
mean step volume over the previous days) are given by the client when the day is created, since the service has no
history of its own; ``multiexec serve replay`` takes them from the environment of the data.

The trading program applies the cash rule (it cannot spend cash it does not have: every buy of a step scaled down
by one factor when the buys would cost more than ``cash + the step's sell proceeds``). The service sees that rule
bind (``c_t = 0`` of the observation) when a buy was filled less than asked and the cash left is zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from multiexec.data.bars import MinuteBars
from multiexec.data.orders import DayOrders
from multiexec.errors import MultiexecError
from multiexec.execution.env import ExecConfig, MultiOrderEnv
from multiexec.execution.markets import DayBatch, DayPrices, Fill, StepMarketData, step_edges
from multiexec.execution.policy import Policy

UNDERFILL_REL = 1e-11  # a buy filled below (1 - this) x its decision counts as cut
CASH_REL = 1e-9  # cash within this fraction of the step's gross value counts as zero


class FieldError(MultiexecError):
    """Bad input, with the request field at fault (``field``, a dotted path) for the JSON error."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.detail = message


@dataclass
class StepPost:
    """What the client reports for the step just ended (validated against the day by :meth:`ServiceDay.post`)."""

    open: np.ndarray  # (N, L) minute open per order's symbol
    price: np.ndarray  # (N, L) minute execution price (the ExecConfig's field: close, open or typical)
    volume: np.ndarray  # (N, L) minute volume
    filled: np.ndarray  # (N,) shares filled
    fill_price: np.ndarray  # (N,) average fill price (nan where nothing filled)


class PostedMarket:
    """A :class:`~multiexec.execution.markets.Market` whose fills and market data are posted by the client."""

    name = "posted"

    def __init__(self, bars: MinuteBars, step_minutes: int):
        self.bars = bars
        self.edges = step_edges(bars.n_minutes, step_minutes)
        self.n_steps = len(self.edges) - 1
        self._pending: tuple[Fill, StepMarketData] | None = None
        self._batch: DayBatch | None = None

    def begin(self, batch: DayBatch) -> None:
        if batch.day.shape != (1,):
            raise MultiexecError("the posted market runs one day at a time")
        self._batch = batch
        n = batch.asset.shape[1]
        self.minute_price = np.zeros((1, n, self.bars.n_minutes))  # the day's posted minute prices
        self.arrival = np.full((1, n), np.nan)
        self.step_price = np.zeros((1, n, self.n_steps))

    @property
    def reward_price(self) -> np.ndarray:
        # the day's average is known at the close only: the reward (unused by the service) is against arrival
        return self.arrival

    def load(self, t: int, post: StepPost, fill: Fill) -> None:
        """The next :meth:`execute` answers ``fill``; ``market_data`` the posted minutes of step ``t``."""
        lo, hi = self.edges[t], self.edges[t + 1]
        px = post.price[None]  # (1, N, L)
        self.minute_price[:, :, lo:hi] = px
        if t == 0:
            self.arrival = post.open[None, :, 0].copy()
        # the step's price and volume exactly as BarsMarket computes them (np.add.reduceat over the minutes)
        price = np.add.reduceat(px, [0], axis=2)[:, :, 0] / (hi - lo)
        volume = np.add.reduceat(post.volume[None], [0], axis=2)[:, :, 0]
        self.step_price[:, :, t] = price
        self._pending = (fill, StepMarketData(price, volume))

    def execute(self, t: int, req: np.ndarray, cash: np.ndarray) -> Fill:
        if self._pending is None:
            raise MultiexecError("no fills posted for this step")
        return self._pending[0]

    def market_data(self, t: int) -> StepMarketData:
        return self._pending[1]

    def finish(self) -> DayPrices:
        return DayPrices(self.minute_price.mean(axis=2), self.arrival, self.step_price)


def day_bars(date: str, symbols: list[str], n_minutes: int) -> MinuteBars:
    """Placeholder bars of the day: the environment reads its dates, symbols and minute grid from them (the
    prices and volumes the observation needs come from the client)."""
    shape = (1, len(symbols), n_minutes)
    one = np.broadcast_to(1.0, shape)
    return MinuteBars(symbols=symbols, dates=np.array([date], dtype="datetime64[D]"), minutes=np.arange(n_minutes),
                      open=one, high=one, low=one, close=one, volume=one, traded=np.broadcast_to(True, shape))


class ServiceDay:
    """A day in progress: the environment, the policy (its own instance: recurrent state is per day) and the
    decision of the current step."""

    def __init__(self, date: str, symbols: list[str], side: np.ndarray, amount: np.ndarray, cash: float,
                 prev_close: np.ndarray, ref_volume: np.ndarray, n_minutes: int, cfg: ExecConfig, policy: Policy):
        self.cfg = cfg
        self.policy = policy
        self.market = PostedMarket(day_bars(date, symbols, n_minutes), cfg.step_minutes)
        self.env = MultiOrderEnv(self.market, [DayOrders(np.datetime64(date, "D"), symbols, side, amount, cash)], cfg)
        # the observation's reference numbers: given, not estimated from (absent) history
        self.env.ref_price = np.asarray(prev_close, dtype=np.float64)[None, :]
        self.env.ref_volume = np.maximum(np.asarray(ref_volume, dtype=np.float64), 1.0)[None, :]
        self.obs = self.env.reset([0])
        self.n = len(symbols)
        self.amount = self.env.amount[0]
        self.side = self.env.side[0]
        self.edges = self.env.edges
        self.n_steps = self.env.n_steps
        self.last_price = np.asarray(prev_close, dtype=np.float64).copy()
        self.done = False
        self._decide()

    @property
    def t(self) -> int:
        return self.env.t

    @property
    def cash(self) -> float:
        return float(self.env.cash[0])

    def _decide(self) -> None:
        self.actions = self.policy.act(self.obs)
        self.requested = self.env.requested(self.actions)[0]  # fraction of each order's amount

    def decision(self) -> dict:
        """The decisions of the current step: per order the quantity, its split over the step's minutes (even,
        as the environment executes a step) and the cash the service expects after the step at the last price."""
        t = self.t
        lo, hi = int(self.edges[t]), int(self.edges[t + 1])
        qty = self.requested * self.amount
        sells = float((qty * self.last_price * (self.side > 0)).sum())
        buys = float((qty * self.last_price * (self.side < 0)).sum())
        return {
            "step": t, "minutes": [lo, hi], "last_step": t == self.n_steps - 1,
            "fraction": self.requested.tolist(), "quantity": qty.tolist(),
            "per_minute": (qty / (hi - lo)).tolist(),
            "cash": self.cash, "expected_cash": max(self.cash + sells - buys, 0.0),
        }

    def post(self, post: StepPost) -> None:
        """Apply the step just ended (validated here: fills within the decision, cash not overspent) and decide
        the next one."""
        if self.done:
            raise FieldError("index", "the day is finished")
        t = self.t
        req_qty = self.requested * self.amount
        over = post.filled > req_qty * (1 + 1e-9) + 1e-9
        if over.any():
            i = int(np.argmax(over))
            raise FieldError(f"fills[{i}].quantity", f"filled {post.filled[i]:g} is larger than the decision "
                             f"{req_qty[i]:g}")
        # a fill of exactly the decision is the decided fraction itself (no division round trip)
        executed = np.where(post.filled == req_qty, self.requested, post.filled / self.amount)
        price = np.where(post.filled > 0, post.fill_price, np.nan)
        step_px = np.add.reduceat(post.price[None], [0], axis=2)[0, :, 0] / post.price.shape[1]
        price = np.where(np.isfinite(price), price, step_px)  # as the environment: the market's price where idle
        value = post.filled * price
        buy = self.side < 0
        # the cash arithmetic of markets.apply_cash_rule
        cost = float((value * buy).sum())
        proceeds = float(value.sum()) - cost
        new_cash = (self.cash + proceeds) - cost
        tol = CASH_REL * (abs(self.cash) + proceeds + cost) + 1e-9
        if new_cash < -tol:
            raise FieldError("fills", f"the buys cost {cost:.6g}, more than the cash {self.cash:.6g} plus the sells "
                             f"{proceeds:.6g}")
        cut = buy & (post.filled < req_qty * (1 - UNDERFILL_REL))
        binding = bool(cut.any() and new_cash <= tol)
        if binding or new_cash < 0:
            new_cash = 0.0
        fill = Fill(executed[None], price[None], np.array([new_cash]), np.array([binding]))
        self.market.load(t, post, fill)
        res = self.env.step(self.actions)
        self.obs = res.obs
        self.last_price = post.price[:, -1].copy()
        self.done = res.done
        if not self.done:
            self._decide()

    def report(self) -> dict:
        """EG, fill, TOC and the per-order table of the finished day (the environment's results)."""
        from multiexec.execution.metrics import summarize

        orders = self.env.results()
        days = self.env.day_results()
        m = summarize(orders, days)
        cols = ["symbol", "side", "amount", "filled", "unfilled", "fill_rate", "avg_exec_price", "avg_market_price",
                "eg_bps", "arrival_price", "is_bps"]
        table = orders[cols].astype({"symbol": str, "side": str})
        rows = [{k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in r.items()}
                for r in table.to_dict(orient="records")]
        clean = {k: (float(v) if np.isfinite(v) else None) for k, v in m.items()}
        return {"metrics": clean, "orders": rows, "cash_end": self.cash,
                "steps_binding": int(self.env.binding_hist.sum())}
