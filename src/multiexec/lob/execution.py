"""Execution agents that trade in a simulated market from Python: POV and the INTAGS experimental agent.

(TWAP and every other policy of :mod:`multiexec.policies` trade in this market through the multi-order
environment's LOB market, :mod:`multiexec.execution.lob_market`.)

Each agent is an external agent of a :class:`~multiexec.lob.sim.Simulation` (its messages go through the kernel
with the agent's latency). :func:`run_execution` advances the market from one agent decision to the next.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from multiexec.errors import MultiexecError
from multiexec.lob import engine as E
from multiexec.lob import rng as R
from multiexec.lob.sim import Simulation


@dataclass
class ExecutionAgent:
    """A parent order: ``quantity`` shares in direction ``side`` (+1 buy / -1 sell) between ``start_ns`` and
    ``end_ns``, deciding every ``freq_s`` seconds. ``name`` is the external agent's name in the simulation."""

    name: str
    side: int
    quantity: int
    start_ns: int
    end_ns: int
    freq_s: float = 60.0
    agent_id: int = -1
    next_ns: int = 0

    def __post_init__(self) -> None:
        if self.side not in (1, -1):
            raise MultiexecError(f"{self.name}: side must be +1 or -1, got {self.side}")
        if self.quantity <= 0 or self.end_ns <= self.start_ns or self.freq_s <= 0:
            raise MultiexecError(f"{self.name}: need quantity > 0, end after start and freq_s > 0")
        self.next_ns = self.start_ns

    def executed(self, sim: Simulation) -> int:
        return max(0, self.side * sim.position(self.agent_id)[0])

    def remaining(self, sim: Simulation) -> int:
        return max(0, self.quantity - self.executed(sim))

    def act(self, sim: Simulation) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def wake(self, sim: Simulation) -> None:
        self.act(sim)
        self.next_ns += int(self.freq_s * 1e9)


@dataclass
class POVAgent(ExecutionAgent):
    """Percentage of volume: every interval, a market order for ``pov`` x the volume others traded since the
    last decision (ABIDES' POVExecutionAgent), never more than what remains."""

    pov: float = 0.1
    _last_vol: int = -1
    _last_own: int = 0

    def act(self, sim: Simulation) -> None:
        s = int(sim.ks.ag_sym[self.agent_id])
        vol = int(sim.ex.st.symv[s, E.SV_VOLB] + sim.ex.st.symv[s, E.SV_VOLS])
        own = self.executed(sim)
        if self._last_vol >= 0:
            others = (vol - self._last_vol) - (own - self._last_own)
            q = min(int(round(self.pov * max(0, others))), self.remaining(sim))
            if q > 0:
                sim.send_market(self.agent_id, self.side, q)
        self._last_vol, self._last_own = vol, own


def market_state(sim: Simulation, sym: int = 0, depth: int = 5) -> dict[str, float]:
    """The market features of ABIDES-gym's execution environment now: imbalance over all levels and the first
    ``depth`` levels (bid share of volume), mid, spread (ticks, and ``spread_bp`` in basis points of the mid),
    direction (mid - last trade, ticks)."""
    st = sim.ex.st
    b_all = E.side_total(st, sym, 0, 0)
    a_all = E.side_total(st, sym, 1, 0)
    b5 = E.side_total(st, sym, 0, depth)
    a5 = E.side_total(st, sym, 1, depth)
    bid, _, ask, _ = sim.l1(sym)
    last = int(st.symv[sym, E.SV_LAST])
    if bid > 0 and ask > 0:
        mid = 0.5 * (bid + ask)
    elif last > 0:
        mid = float(last)
    else:
        mid = float(max(bid, ask, 1))
    spread = float(ask - bid) if bid > 0 and ask > 0 else 0.0
    return {
        "imbalance_all": b_all / (b_all + a_all) if b_all + a_all else 0.5,
        "imbalance_5": b5 / (b5 + a5) if b5 + a5 else 0.5,
        "mid": mid, "spread": spread, "spread_bp": 1e4 * spread / mid, "direction": mid - (last if last > 0 else mid),
        "bid": float(bid), "ask": float(ask),
    }


# the outcome columns a step's row receives at the next decision (the state one step after the action)
AFTER = ("mid", "spread", "spread_bp", "imbalance_5", "imbalance_all", "direction", "price_impact")


@dataclass
class IntagsAgent(ExecutionAgent):
    """The experimental agent of INTAGS (Appendix D.1): acquire (or sell) ``quantity`` shares in fixed child
    orders of ``child_size``. It decides at ``start_ns``, ``start_ns + freq_s``, ... before ``end_ns`` (the paper:
    T = 10 steps, parent 50 shares, child 10); each step it cancels what rests and places a market order with
    probability ``e(s)`` (treatment, action 0) and otherwise a limit order at the near touch (control, action 1),
    until the parent order is filled ("aggressive": it never holds while shares remain; once filled it holds,
    action 2, and logs nothing). At ``end_ns`` it only observes (and cancels what rests).

    Propensity (our choice, the paper gives none): ``e(s) = clip(sigmoid(w0 + w1 x imb + w2 x spread_bp))`` with
    the *standardised* imbalance ``imb = side x (imbalance_5 - 0.5) / 0.25`` (about -2..2: a buyer is more likely to
    cross the spread when bids dominate the first five levels, i.e. when the price is likely to move away) and the
    spread in basis points of the mid (a wide spread makes a market order dearer). Default weights (0.3, 0.75, -0.25)
    keep ``e`` well inside the clip on both rmsc03 (spread ~0.1-0.2 bp) and rmsc04 (~2.5-4 bp, tails to ~10 bp);
    the former version took the spread in ticks and sat at the 0.95 clip on rmsc04 (26-tick spreads), so that many
    rollouts had no control step.

    ``log``: one row per order-placing step: ``step``, ``time_ns``, the state before the action (market_state
    fields and ``price_impact`` = side x log(mid / entry mid)), ``propensity``, ``action``, then, filled at the next
    decision, the state one step later (``<field>_after`` for the fields of :data:`AFTER`), ``reward`` (this step's
    fills' slippage against the entry mid per parent share, ticks: ABIDES-gym's reward) and ``executed_after``.
    ``entry_mid`` is the mid at the first decision; :meth:`episode_reward` adds ABIDES-gym's end penalty.
    """

    child_size: int = 10
    weights: tuple[float, float, float] = (0.3, 0.75, -0.25)  # intercept, standardised imbalance_5, spread (bp)
    clip: tuple[float, float] = (0.05, 0.95)
    seed: int = 0
    not_enough_reward: float = -1000.0  # per share short at the end, / parent (ABIDES-gym)
    too_much_reward: float = -100.0  # per share over
    log: list = field(default_factory=list)
    entry_mid: float = float("nan")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.child_size <= 0:
            raise MultiexecError(f"{self.name}: child_size must be > 0")
        lo, hi = self.clip
        if not 0.0 < lo <= hi < 1.0:
            raise MultiexecError(f"{self.name}: propensity clip must satisfy 0 < low <= high < 1, got {self.clip}")
        self._rng = R.seed_streams(int(self.seed), np.array([7], np.int64))
        self._step = 0
        self._last_pos: tuple[int, int] | None = None

    def propensity(self, state: dict[str, float]) -> float:
        w0, w1, w2 = self.weights
        imb = self.side * (state["imbalance_5"] - 0.5) / 0.25
        z = w0 + w1 * imb + w2 * state["spread_bp"]
        return float(min(self.clip[1], max(self.clip[0], 1.0 / (1.0 + math.exp(-z)))))

    def _state(self, sim: Simulation, s: int) -> dict[str, float]:
        state = market_state(sim, s)
        if not np.isfinite(self.entry_mid):
            self.entry_mid = state["mid"]
        state["price_impact"] = self.side * math.log(state["mid"] / self.entry_mid)
        return state

    def act(self, sim: Simulation) -> None:
        s = int(sim.ks.ag_sym[self.agent_id])
        state = self._state(sim, s)
        pos = sim.position(self.agent_id)
        if self.log and np.isnan(self.log[-1]["mid_after"]):
            row = self.log[-1]
            for k in AFTER:
                row[f"{k}_after"] = state[k]
            d_pos, d_cash = pos[0] - self._last_pos[0], pos[1] - self._last_pos[1]
            row["reward"] = (self.entry_mid * d_pos + d_cash) / self.quantity
            row["executed_after"] = self.executed(sim)
        self._last_pos = pos
        if sim.now >= self.end_ns:
            sim.send_cancel_all(self.agent_id)
            return
        self._step += 1
        if self.remaining(sim) <= 0:
            return
        e = self.propensity(state)
        action = 0 if R.uniform(self._rng, 0) < e else 1
        q = min(self.child_size, self.remaining(sim))
        sim.send_cancel_all(self.agent_id)
        if action == 0:
            sim.send_market(self.agent_id, self.side, q)
        else:
            near = state["bid"] if self.side > 0 else state["ask"]
            if near <= 0:
                near = state["mid"]
            sim.send_limit(self.agent_id, self.side, int(near), q)
        self.log.append({"step": self._step - 1, "time_ns": sim.now, **state, "propensity": e, "action": action,
                         **{f"{k}_after": np.nan for k in AFTER}, "reward": np.nan, "executed_after": -1})

    def episode_reward(self, sim: Simulation) -> float:
        """Sum of the steps' rewards plus ABIDES-gym's end penalty per share short (or over), / parent."""
        r = float(np.nansum([row["reward"] for row in self.log]))
        held = self.executed(sim)
        if held < self.quantity:
            r += (self.quantity - held) * self.not_enough_reward / self.quantity
        elif held > self.quantity:
            r += (held - self.quantity) * self.too_much_reward / self.quantity
        return r


def run_execution(sim: Simulation, agents: list[ExecutionAgent], until_ns: int | None = None) -> None:
    """Run the market with ``agents`` acting at their decision times until ``until_ns`` (default: close)."""
    until = sim.close_ns if until_ns is None else until_ns
    for ag in agents:
        ag.agent_id = sim.agent(ag.name)
    while True:
        live = [ag for ag in agents if ag.next_ns <= min(ag.end_ns, until)]
        if not live:
            break
        nxt = min(ag.next_ns for ag in live)
        sim.run_until(nxt)
        for ag in live:
            if ag.next_ns == nxt:
                ag.wake(sim)
    sim.run_until(until)
