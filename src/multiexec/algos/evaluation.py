"""Evaluation of learned agents: metrics, team reward and per-round intended actions."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from multiexec.execution.env import MultiOrderEnv, StepResult
from multiexec.execution.evaluate import EvalResult, run_policy
from multiexec.execution.policy import Policy


class _RewardRecorder:
    """Transparent proxy of an environment that adds up the team reward (eq. 8) of each finished day."""

    def __init__(self, env: MultiOrderEnv):
        self._env = env
        self.day_returns: list[np.ndarray] = []
        self._acc: np.ndarray | None = None

    def __getattr__(self, name: str):
        return getattr(self._env, name)

    def reset(self, day_ids):
        obs = self._env.reset(day_ids)
        self._acc = np.zeros(obs.mask.shape[0])
        return obs

    def step(self, actions) -> StepResult:
        res = self._env.step(actions)
        self._acc += res.team_reward
        if res.done:
            self.day_returns.append(self._acc.copy())
        return res


class IntentionRecorder:
    """Wraps a :class:`~multiexec.policies.agents.NeuralPolicy` and records how the intended actions of alive
    agents change from round to round (paper Figure 4a): for each round k >= 2, the mean absolute change of
    the intended fraction from round k-1, and the share of agents whose intention changed."""

    def __init__(self, policy: Policy, action_values: np.ndarray):
        self.policy = policy
        self.name = policy.name
        self.values = np.asarray(action_values, dtype=np.float64)
        self.abs_change: np.ndarray | None = None
        self.changed: np.ndarray | None = None
        self.count = 0

    def act(self, obs) -> np.ndarray:
        a = self.policy.act(obs)
        intended = self.values[self.policy.intended]  # (R, B, N)
        alive = obs.active & (obs.t < obs.n_steps - 1)
        if intended.shape[0] > 1:
            d = np.abs(np.diff(intended, axis=0))[:, alive]  # (R-1, alive)
            if self.abs_change is None:
                self.abs_change = np.zeros(d.shape[0])
                self.changed = np.zeros(d.shape[0])
            self.abs_change += d.sum(axis=1)
            self.changed += (d > 1e-12).sum(axis=1)
            self.count += d.shape[1]
        return a

    def summary(self) -> dict[str, list[float]]:
        if self.abs_change is None or self.count == 0:
            return {"abs_change": [], "changed": []}
        return {"abs_change": list(self.abs_change / self.count), "changed": list(self.changed / self.count)}


def evaluate(env: MultiOrderEnv, policy: Policy, day_ids: Sequence[int], progress: bool = False) -> EvalResult:
    """Run ``policy`` on ``day_ids`` and return its results, with ``extra['team_return']`` the mean over days of
    the day's summed team reward (eq. 8) — the objective used for model selection."""
    rec = _RewardRecorder(env)
    res = run_policy(rec, policy, day_ids, progress=progress)
    res.extra["team_return"] = float(np.concatenate(rec.day_returns).mean())
    return res
