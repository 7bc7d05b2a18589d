"""PettingZoo ``ParallelEnv`` adapter: one agent per order of one day.

``possible_agents`` are ``order_0 .. order_{N-1}`` with ``N`` the largest order count over the order
sets; a day with ``n`` orders activates the first ``n``. Each agent observes its flattened
observation (``T * F_SEQ`` past-step features followed by ``F_NOW`` current features) and picks a
discrete action (an index into the action set). Rewards: the shared team reward (eq. 8,
``reward="team"``) or each order's own reward (eq. 7, ``reward="order"``). All agents terminate
after the ``T``-th step. ``reset(options={"day": k})`` picks order set ``k``; otherwise a day is
drawn with the environment's seeded generator.
"""

from __future__ import annotations

import functools
from typing import Sequence

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from multiexec.data.bars import MinuteBars
from multiexec.data.orders import DayOrders
from multiexec.errors import MultiexecError
from multiexec.execution.env import F_NOW, F_SEQ, ExecConfig, MultiOrderEnv, Obs


class MultiOrderParallelEnv(ParallelEnv):
    metadata = {"name": "multiexec_multi_order_v0", "render_modes": []}

    def __init__(
        self,
        bars: MinuteBars,
        orders: Sequence[DayOrders],
        config: ExecConfig | None = None,
        reward: str = "team",
    ):
        if reward not in ("team", "order"):
            raise MultiexecError(f"reward must be 'team' or 'order', got {reward!r}")
        self.core = MultiOrderEnv(bars, orders, config)
        self.reward_kind = reward
        self.possible_agents = [f"order_{i}" for i in range(self.core.max_orders)]
        self.agents: list[str] = []
        self._obs_dim = self.core.n_steps * F_SEQ + F_NOW
        self.np_random = np.random.default_rng()

    @functools.lru_cache(maxsize=None)
    def observation_space(self, agent: str) -> spaces.Box:
        return spaces.Box(-np.inf, np.inf, shape=(self._obs_dim,), dtype=np.float32)

    @functools.lru_cache(maxsize=None)
    def action_space(self, agent: str) -> spaces.Discrete:
        return spaces.Discrete(self.core.n_actions)

    def _agent_obs(self, obs: Obs) -> dict[str, np.ndarray]:
        flat = np.concatenate([obs.seq[0].reshape(obs.seq.shape[1], -1), obs.now[0]], axis=1)
        return {a: flat[i].astype(np.float32) for i, a in enumerate(self.agents)}

    def reset(self, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self.np_random = np.random.default_rng(seed)
        options = options or {}
        day = options.get("day")
        if day is None:
            day = int(self.np_random.integers(len(self.core.orders)))
        obs = self.core.reset([int(day)])
        self.agents = self.possible_agents[: int(obs.mask[0].sum())]
        self._day = int(day)
        return self._agent_obs(obs), {a: {"day": self._day} for a in self.agents}

    def step(self, actions: dict[str, int]):
        if not self.agents:
            raise MultiexecError("step() after the day ended: call reset()")
        missing = [a for a in self.agents if a not in actions]
        if missing:
            raise MultiexecError(f"missing actions for agents {missing[:5]}")
        act = np.zeros((1, len(self.agents)), dtype=np.int64)
        for i, a in enumerate(self.agents):
            act[0, i] = int(actions[a])
        res = self.core.step(act)
        agents = self.agents
        rewards = {
            a: float(res.team_reward[0]) if self.reward_kind == "team" else float(res.order_reward[0, i])
            for i, a in enumerate(agents)
        }
        observations = self._agent_obs(res.obs)
        terminations = {a: res.done for a in agents}
        truncations = {a: False for a in agents}
        infos = {
            a: {"executed": float(res.info.executed[0, i]), "cash_binding": bool(res.info.cash_binding[0])}
            for i, a in enumerate(agents)
        }
        if res.done:
            self.agents = []
        return observations, rewards, terminations, truncations, infos
