"""Learners: one training step on a batch of training days, for the PPO family and for DDQN.

Both expose the same small interface used by :mod:`multiexec.algos.train`:
``learn(env, day_ids) -> stats``, ``agent`` (the :class:`ExecAgent` to evaluate and save),
``state_dict()`` / ``load_state_dict()`` (optimiser and counters for resuming).

DDQN uses the project's one Double DQN (:mod:`multiexec.algos.rl`) with an ensemble of one member: each
alive order at each step is one transition of its own (single-order optimisation, eq. 7). The transition's
state is the order's packed observation (history, current features, step); the Q-network is the shared
extractor E plus a three-layer MLP head over the discrete actions.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from multiexec.algos.rl import DDQNConfig, DoubleDQN, VmapEnsemble
from multiexec.algos.ppo import PPOConfig, collect_rollout, ppo_update
from multiexec.policies.agents import AgentConfig, ExecAgent, obs_tensors


class PPOLearner:
    """PPO (and IaC's attribution) over whole rollouts of ``rollout_days`` days."""

    def __init__(self, agent: ExecAgent, cfg: PPOConfig, seed: int):
        self.agent = agent
        self.cfg = cfg
        self.opt = torch.optim.Adam(agent.parameters(), lr=cfg.lr)
        self.gen = torch.Generator().manual_seed(seed)

    def learn(self, env, day_ids: np.ndarray) -> dict[str, float]:
        roll = collect_rollout(env, self.agent, day_ids, self.cfg.reward_scale)
        stats = ppo_update(self.agent, self.opt, roll, self.cfg, self.gen)
        stats["train_team_return"] = float(roll.team_return.mean())
        stats["order_steps"] = roll.n_order_steps
        return stats

    def state_dict(self) -> dict:
        return {"opt": self.opt.state_dict(), "gen": self.gen.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.opt.load_state_dict(state["opt"])
        self.gen.set_state(state["gen"])


# The execution agents' Double DQN (Table 5 of the paper: batch 128, target update every 200 gradient steps, a
# gradient step per 16 transitions); scheduled per transition, since a step brings one transition per alive order.
EXEC_DDQN: dict = dict(learning_rate=1e-4, batch_size=128, buffer_size=50_000, drop_oldest_half=False, gamma=1.0,
                       schedule="transitions", train_frequency=16, target_network_frequency=200, epsilon_start=1.0,
                       epsilon_min=0.05, epsilon_decay=0.999, epsilon_decay_every=1, learning_starts=None,
                       max_grad_norm=1.0, reward_scale=100.0)
# names of the former execution-only DDQN settings (config files and saved runs written before the merge)
LEGACY_DDQN_KEYS = {"lr": "learning_rate", "target_every": "target_network_frequency",
                    "transitions_per_update": "train_frequency"}


def exec_ddqn_config(**overrides) -> DDQNConfig:
    """The execution agents' :class:`~multiexec.algos.rl.DDQNConfig`: :data:`EXEC_DDQN` with ``overrides``."""
    return DDQNConfig(**exec_ddqn_values(overrides))


def exec_ddqn_values(values: dict) -> dict:
    """``values`` (new or legacy names) over the execution defaults."""
    return {**EXEC_DDQN, **{LEGACY_DDQN_KEYS.get(k, k): v for k, v in values.items()}}


class PackedQ(nn.Module):
    """Q-network on packed single-order states ``[history (T*F_SEQ), now (F_NOW), t]`` → values of candidates.

    Satisfies the DDQN contract ``forward(obs (B, P), cand (B, K)) -> (B, K)`` (inside a vmapped ensemble).
    """

    def __init__(self, cfg: AgentConfig, n_steps: int):
        super().__init__()
        self.agent = ExecAgent(cfg)
        self.T = n_steps

    def forward(self, obs: torch.Tensor, cand: torch.Tensor) -> torch.Tensor:
        cfg, T = self.agent.cfg, self.T
        B = obs.shape[0]
        seq = obs[:, : T * cfg.f_seq].reshape(B, 1, T, cfg.f_seq)
        now = obs[:, T * cfg.f_seq : T * cfg.f_seq + cfg.f_now]
        t = obs[:, -1].long().clamp(0, T - 1)  # a terminal next state (t = T) is never bootstrapped
        hist = self.agent.extractor.history(seq)[:, 0]  # (B, T, R): state before each step
        h = torch.gather(hist, 1, t.view(B, 1, 1).expand(B, 1, hist.shape[-1]))[:, 0]
        q = self.agent.qhead(self.agent.extractor.head(h, now))
        return torch.gather(q, 1, cand.long())


def pack_states(obs) -> tuple[torch.Tensor, torch.Tensor]:
    """Packed per-order states (B, N, P) of an observation and its alive mask (B, N)."""
    seq, now, alive = obs_tensors(obs)
    B, N = alive.shape
    t = torch.full((B, N, 1), float(obs.t))
    return torch.cat([seq.reshape(B, N, -1), now, t], dim=-1), alive


class DDQNLearner:
    """Double DQN (:mod:`multiexec.algos.rl`) on the per-order reward (eq. 7)."""

    def __init__(self, agent_cfg: AgentConfig, cfg: DDQNConfig, n_steps: int, seed: int):
        self.cfg = cfg
        self.n_actions = agent_cfg.n_actions
        torch.manual_seed(seed)
        ens = VmapEnsemble(lambda: PackedQ(agent_cfg, n_steps), 1)
        self.dqn = DoubleDQN(ens, cfg, self._candidates, seed=seed)
        self.agent = ExecAgent(agent_cfg)
        self._sync_agent()

    def _candidates(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        E, B = obs.shape[:2]
        cand = torch.arange(self.n_actions, dtype=obs.dtype).expand(E, B, self.n_actions)
        return cand, torch.ones(E, B, self.n_actions, dtype=torch.bool)

    def _sync_agent(self) -> None:
        """Copy the ensemble member's weights into the evaluable :class:`ExecAgent`."""
        state = {k.replace("__", ".").removeprefix("agent."): v[0].detach().clone() for k, v in self.dqn.q.params.items()}
        self.agent.load_state_dict(state)

    def learn(self, env, day_ids: np.ndarray) -> dict[str, float]:
        obs = env.reset(day_ids)
        team_return = np.zeros(len(day_ids))
        losses, n_trans, done = [], 0, False
        T = env.n_steps
        while not done:
            state, alive = pack_states(obs)
            cand, mask = self._candidates(state.reshape(1, -1, state.shape[-1]))
            idx = self.dqn.act(state.reshape(1, -1, state.shape[-1]), cand, mask)[0].reshape(alive.shape)
            t = obs.t
            res = env.step(idx.numpy().astype(np.int64))
            obs, done = res.obs, res.done
            team_return += res.team_reward
            nxt, alive_next = pack_states(obs)
            sel = alive.reshape(-1)
            n = int(sel.sum())
            if n:
                term = torch.full((n,), float(t == T - 1)) if t == T - 1 else (~alive_next.reshape(-1)[sel]).float()
                made = self.dqn.observe(
                    state.reshape(-1, state.shape[-1])[sel].unsqueeze(0),
                    idx.reshape(-1)[sel].float().unsqueeze(0),
                    torch.as_tensor(res.order_reward.reshape(-1) * self.cfg.reward_scale,
                                    dtype=torch.float32)[sel].unsqueeze(0),
                    nxt.reshape(-1, nxt.shape[-1])[sel].unsqueeze(0),
                    term.unsqueeze(0),
                )
                losses += [float(loss[0]) for loss in made]
                n_trans += n
        self._sync_agent()
        return {
            "td_loss": float(np.mean(losses)) if losses else float("nan"),
            "epsilon": self.dqn.epsilon,
            "train_team_return": float(team_return.mean()),
            "order_steps": int(obs.mask.sum()) * T,
            "transitions": n_trans,
        }

    def state_dict(self) -> dict:
        return {"dqn": self.dqn.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.dqn.load_state_dict(state["dqn"])
        if "grad_steps" in state:  # a checkpoint written before the schedule moved into DoubleDQN
            self.dqn.grad_steps, self.dqn.pending = state["grad_steps"], state["pending"]
            self.dqn.gen.set_state(state["gen"])
        self._sync_agent()
