"""A Gymnasium environment for one execution agent, with the semantics of ABIDES-gym's execution environment
(``SubGymMarketsExecutionEnv_v0``):

* the market runs from the open for ``first_interval_s``, then the agent acts every ``step_s`` seconds until
  its parent order is done or ``execution_window_s`` has passed;
* actions: 0 = cancel all and send a market order of ``order_fixed_size``; 1 = cancel all and send a limit order
  of ``order_fixed_size`` at the near touch (best bid for a buy); 2 = hold;
* observation (float32 vector of shape ``(8 + state_history_length - 1,)``; ABIDES uses a column ``(n, 1)``):
  holdings_pct, time_pct, diff_pct, imbalance_all, imbalance_5, price_impact (log mid /
  entry mid, sign-adjusted), spread (ticks), direction (mid - last trade, ticks), then the last
  ``state_history_length - 1`` mid changes (ticks, zero-padded);
* reward: slippage of this step's fills against the entry mid, ``sum((entry - fill) x qty) / parent_size`` for
  a buy; when the episode ends, ``not_enough_reward_update`` per share short (or ``too_much_reward_update`` per
  share over) divided by the parent size.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from multiexec.errors import MultiexecError
from multiexec.lob.config import MarketConfig, get_config
from multiexec.lob.engine import M_NTR, TR_MAKER_AGENT, TR_PX, TR_QTY, TR_TAKER_AGENT
from multiexec.lob.execution import market_state
from multiexec.lob.sim import Simulation

AGENT = "gym_execution"


class ExecutionEnv(gym.Env):
    metadata = {"render_modes": []}

    def __init__(self, config: str | MarketConfig = "rmsc04", parent_order_size: int = 1000,
                 order_fixed_size: int = 10, step_s: float = 60.0, execution_window_s: float = 600.0,
                 first_interval_s: float = 30.0, direction: str = "BUY", not_enough_reward_update: float = -1000.0,
                 too_much_reward_update: float = -100.0, state_history_length: int = 4, symbol: int = 0):
        self.config = get_config(config) if isinstance(config, str) else config
        if direction not in ("BUY", "SELL"):
            raise MultiexecError(f"direction must be BUY or SELL, got {direction!r}")
        if parent_order_size <= 0 or order_fixed_size <= 0 or step_s <= 0 or execution_window_s <= 0:
            raise MultiexecError("parent_order_size, order_fixed_size, step_s and execution_window_s must be > 0")
        if state_history_length < 1:
            raise MultiexecError("state_history_length must be >= 1")
        if not 0 <= symbol < len(self.config.symbols):
            raise MultiexecError(f"symbol index {symbol} out of range")
        day_s = (self.config.close_ns - self.config.open_ns) / 1e9
        if first_interval_s + execution_window_s > day_s:
            raise MultiexecError(f"first_interval_s + execution_window_s exceeds the {day_s:.0f}-s trading day")
        self.parent = int(parent_order_size)
        self.size = int(order_fixed_size)
        self.step_ns = int(step_s * 1e9)
        self.window_ns = int(execution_window_s * 1e9)
        self.first_ns = int(first_interval_s * 1e9)
        self.side = 1 if direction == "BUY" else -1
        self.not_enough = float(not_enough_reward_update)
        self.too_much = float(too_much_reward_update)
        self.hist = int(state_history_length)
        self.symbol = symbol
        n = 8 + self.hist - 1
        big = np.finfo(np.float32).max
        lows = np.array([-2, -2, -4, 0, 0] + [-big] * (n - 5), np.float32)
        highs = np.array([2, 2, 4, 1, 1] + [big] * (n - 5), np.float32)
        self.observation_space = spaces.Box(lows, highs, dtype=np.float32)
        self.action_space = spaces.Discrete(3)
        self.sim: Simulation | None = None

    # ------------------------------------------------------------------
    def _observe(self) -> np.ndarray:
        sim = self.sim
        ms = market_state(sim, self.symbol)
        self._mids.append(ms["mid"])
        held = self.side * sim.position(self.agent)[0]
        holdings_pct = held / self.parent
        time_pct = (sim.now - self.t0) / self.window_ns
        impact = np.log(ms["mid"] / self.entry) * self.side
        rets = np.diff(self._mids[-self.hist:]) if len(self._mids) > 1 else np.zeros(0)
        padded = np.zeros(self.hist - 1)
        if len(rets):
            padded[-len(rets):] = rets
        obs = np.array([holdings_pct, time_pct, holdings_pct - time_pct, ms["imbalance_all"], ms["imbalance_5"],
                        impact, ms["spread"], ms["direction"], *padded], np.float32)
        self._near = ms["bid"] if self.side > 0 else ms["ask"]
        if self._near <= 0:
            self._near = ms["mid"]
        return np.clip(obs, self.observation_space.low, self.observation_space.high)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        market_seed = int(self.np_random.integers(0, 2**31 - 1))
        self.sim = Simulation(self.config, seed=market_seed, external=[(AGENT, self.symbol)])
        self.agent = self.sim.agent(AGENT)
        self.t0 = self.sim.open_ns + self.first_ns
        self.sim.run_until(self.t0)
        self._mids: list[float] = []
        self.entry = market_state(self.sim, self.symbol)["mid"]
        self._n_trades = int(self.sim.ex.st.meta[M_NTR])
        self.steps = 0
        return self._observe(), {"market_seed": market_seed}

    def step(self, action):
        if self.sim is None:
            raise MultiexecError("call reset() before step()")
        if not self.action_space.contains(action):
            raise MultiexecError(f"action {action!r} is not in {{0, 1, 2}}")
        sim = self.sim
        a = int(action)
        if a in (0, 1):
            sim.send_cancel_all(self.agent)
            if a == 0:
                sim.send_market(self.agent, self.side, self.size)
            else:
                sim.send_limit(self.agent, self.side, int(self._near), self.size)
        sim.run_until(sim.now + self.step_ns)
        self.steps += 1
        reward = self._slippage()
        held = self.side * sim.position(self.agent)[0]
        done_qty = held >= self.parent
        done_time = sim.now >= self.t0 + self.window_ns or sim.now >= sim.close_ns
        terminated = bool(done_qty or done_time)
        if terminated:
            if held >= self.parent:
                reward += (held - self.parent) * self.too_much / self.parent
            else:
                reward += (self.parent - held) * self.not_enough / self.parent
        obs = self._observe()
        info = {"holdings": held, "time_ns": sim.now, "entry_mid": self.entry, "steps": self.steps}
        return obs, float(reward), terminated, False, info

    def _slippage(self) -> float:
        st = self.sim.ex.st
        n0, n1 = self._n_trades, int(st.meta[M_NTR])
        self._n_trades = n1
        tr = st.trl[n0:n1]
        mine = (tr[:, TR_MAKER_AGENT] == self.agent) | (tr[:, TR_TAKER_AGENT] == self.agent)
        if not mine.any():
            return 0.0
        px = tr[mine, TR_PX]
        q = tr[mine, TR_QTY]
        return float(((self.entry - px) * q).sum() * self.side / self.parent)
