"""PPO agents for the execution game (beyond the paper), batched over runs and agents like the DDQN agents.

Each agent sees only its own inventory, the time and the common mid (normalised as for the Q-network) and picks its
sale from the same candidates as the DDQN agents: every integer ``0..q_t``, all of ``q_t`` at the last step. The
policy is a masked categorical over those sales. Actor and critic are separate MLPs (batched weights, one per run
and agent): ``3 -> hidden (tanh) x depth -> q0 + 1`` logits, and ``... -> 1`` for the value.

Training is clipped PPO with the project's generic pieces (:func:`multiexec.algos.rl.gae`,
:func:`~multiexec.algos.rl.clipped_surrogate`, :func:`~multiexec.algos.rl.normalise`). Each update collects
``rollout_episodes`` episodes per run with the current stochastic policies, then makes ``epochs`` passes in
``minibatches`` minibatches. The reward of step t is the agent's share of the shortfall,
``r_t = s v_t (S~_t - S0)`` (``s = +1`` sell, ``-1`` buy): the rewards of an episode add up to ``-IS`` exactly, same-step
term included, and are of order 1 (the DDQN reward of the note reaches hundreds per step). At test time the agents
act greedily (the most likely sale), like the DDQN agents.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from multiexec.algos.rl import clip_per_member, clipped_surrogate, gae, normalise
from multiexec.game.agents import Episodes, GameActions, normalise_state, price_range
from multiexec.game.config import RunConfig
from multiexec.game.params import GameParams


class _BatchedMLP(nn.Module):
    """E independent MLPs ``x (E, rows, d_in) -> (E, rows, d_out)`` with tanh hidden layers (batched weights)."""

    def __init__(self, ensemble: int, dims: list[int], g: torch.Generator, out_scale: float = 1.0) -> None:
        super().__init__()
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for i, (fi, fo) in enumerate(zip(dims[:-1], dims[1:])):
            bound = 1 / math.sqrt(fi) * (out_scale if i == len(dims) - 2 else 1.0)
            self.weights.append(nn.Parameter((torch.rand(ensemble, fi, fo, generator=g) * 2 - 1) * bound))
            self.biases.append(nn.Parameter(torch.zeros(ensemble, 1, fo)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        W, b = list(self.weights), list(self.biases)
        for i in range(len(W) - 1):
            x = torch.tanh(torch.baddbmm(b[i], x, W[i]))
        return torch.baddbmm(b[-1], x, W[-1])


class GamePolicy(nn.Module):
    """Actor-critic ensemble of E = runs x agents members.

    ``forward(obs (E, B, 3) raw [q, t, S], cand (E, B, K) sales) -> (E, B, K)`` logits of the candidates, so that the
    greedy action is :func:`multiexec.algos.rl.best_candidate` of the policy, as for a Q-network.
    """

    def __init__(self, ensemble: int, p: GameParams, price_lo: float, price_hi: float, hidden: int = 64,
                 depth: int = 2, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.N, self.q0 = p.N, p.q0
        self.price_lo, self.price_hi = price_lo, price_hi
        self.actor = _BatchedMLP(ensemble, [3] + [hidden] * depth + [int(p.q0) + 1], g, out_scale=0.01)
        self.critic = _BatchedMLP(ensemble, [3] + [hidden] * depth + [1], g)

    def _state(self, obs: torch.Tensor) -> torch.Tensor:
        return normalise_state(obs, self.N, self.q0, self.price_lo, self.price_hi)

    def forward(self, obs: torch.Tensor, cand: torch.Tensor) -> torch.Tensor:
        return self.actor(self._state(obs)).gather(-1, cand.long())

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        """State values (E, B)."""
        return self.critic(self._state(obs)).squeeze(-1)

    def log_probs(self, obs: torch.Tensor, cand: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Log-probabilities (E, B, K) of the candidates under the masked policy (-inf where invalid)."""
        return torch.log_softmax(self(obs, cand).masked_fill(~mask, float("-inf")), -1)


def _entropy(logp: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return -(logp.exp() * logp.masked_fill(~mask, 0.0)).sum(-1)


def _per_member_mean(x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over the last dimension of (E, M) (masked); summed over members, so each gets its own mean's gradient."""
    if mask is None:
        return x.mean(-1).sum()
    m = mask.to(x.dtype)
    return ((x * m).sum(-1) / m.sum(-1).clamp_min(1.0)).sum()


def train_ppo_group(cfg: RunConfig, group: int, R: int, progress: bool) -> tuple[GamePolicy, np.ndarray]:
    """Train one group of R runs x n agents (one :class:`GamePolicy` ensemble) with clipped PPO; returns the policy
    and the training IS (R, episodes, n) (of the stochastic policies)."""
    p, n, a = cfg.params, cfg.params.n_agents, cfg.ppo
    seed = cfg.seed * 1000 + 10 * group
    lo, hi = price_range(p, p.sigma)
    E = R * n
    pol = GamePolicy(E, p, lo, hi, a.hidden, a.depth, seed=seed)
    actions = GameActions(p)
    opt = torch.optim.Adam(pol.parameters(), lr=a.learning_rate)
    gen = torch.Generator().manual_seed(seed + 2)
    train_is = np.zeros((R, cfg.train_episodes, n))
    B = a.rollout_episodes
    updates = -(-cfg.train_episodes // B)
    bar = tqdm(range(updates), desc=f"ppo sigma={p.sigma:g} group {group}", disable=not progress, mininterval=2.0,
               position=group)
    for u in bar:
        obs, idx, logp, val, rew, act, is_ = _rollout(pol, actions, p, R, B, gen)
        done = min(B, cfg.train_episodes - u * B)
        train_is[:, u * B: u * B + done] = is_[:, :done]
        adv, ret = gae(rew, val, 1.0, a.gae_lambda)  # (E, T, B): time on axis 1
        flat = lambda x: x.reshape(E, -1, *x.shape[3:])  # noqa: E731  (E, T * B, ...)
        obs_f, idx_f, logp_f, ret_f, act_f = flat(obs), flat(idx), flat(logp), flat(ret), flat(act)
        adv_f = normalise(flat(adv), act_f)
        M = obs_f.shape[1]
        size = -(-M // a.minibatches)
        for _ in range(a.epochs):
            perm = torch.randperm(M, generator=gen)
            for i in range(0, M, size):
                j = perm[i:i + size]
                o = obs_f[:, j]
                cand, mask = actions.candidates(o)
                lp_all = pol.log_probs(o, cand, mask)
                new_lp = lp_all.gather(-1, idx_f[:, j].unsqueeze(-1)).squeeze(-1)
                m = act_f[:, j]
                pg = E * clipped_surrogate(new_lp, logp_f[:, j], adv_f[:, j], m, a.clip)
                v_loss = _per_member_mean((pol.value(o) - ret_f[:, j]) ** 2)
                ent = _per_member_mean(_entropy(lp_all, mask), m)
                loss = -pg + a.value_coef * v_loss - a.entropy_coef * ent
                opt.zero_grad(set_to_none=True)
                loss.backward()
                clip_per_member(pol.parameters(), a.max_grad_norm, E)
                opt.step()
        if progress and u % 20 == 0:
            bar.set_postfix(IS=f"{is_.mean():.3f}")
    return pol.requires_grad_(False), train_is


@torch.no_grad()
def _rollout(pol: GamePolicy, actions: GameActions, p: GameParams, R: int, B: int, gen: torch.Generator):
    """B episodes per run with the stochastic policies. Returns, per member and step (E, T, B, ...): observations,
    chosen candidate index, its log-probability, value, reward, whether the choice was free (more than one valid
    sale); and the IS per run, episode and agent (R, B, n)."""
    game = Episodes(p, R, B)
    out: dict[str, list[torch.Tensor]] = {k: [] for k in ("obs", "idx", "logp", "val", "rew", "act")}
    for t in range(p.N):
        obs = game.obs(t)
        cand, mask = actions.candidates(obs)
        lp = pol.log_probs(obs, cand, mask)
        E, _, K = lp.shape
        idx = torch.multinomial(lp.exp().view(E * B, K), 1, generator=gen).view(E, B)
        v, _, recv = game.step(cand, idx, gen)
        r = p.sign * v * (recv - p.S0)
        out["obs"].append(obs)
        out["idx"].append(idx)
        out["logp"].append(lp.gather(-1, idx.unsqueeze(-1)).squeeze(-1))
        out["val"].append(pol.value(obs))
        out["rew"].append(r.permute(0, 2, 1).reshape(E, B).float())
        out["act"].append(mask.sum(-1) > 1)
    is_ = game.shortfall()
    obs_, idx_, logp_, val_, rew_, act_ = (torch.stack(out[k], 1) for k in ("obs", "idx", "logp", "val", "rew", "act"))
    return obs_, idx_, logp_, val_, rew_, act_, is_
