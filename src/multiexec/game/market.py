"""The discrete n-agent Almgren–Chriss market, vectorised over any batch of episodes (and runs).

Dynamics (``tau = T/N``), agent ``k`` trading ``v_t^(k) >= 0`` in step ``t``, ``V_t = sum_k v_t^(k)``:

- mid: ``S_t = S_{t-1} - s * kappa * V_t + sigma * sqrt(tau) * xi_t`` (``s = +1`` sell, ``-1`` buy);
- price received by ``k``: ``S~_t^(k) = S_{t-1} - s * (alpha * v_t^(k) / tau + kappa * (trades before k in step t))``,
  the last term only with the coin toss (a uniformly random order of the agents in every step);
- Implementation Shortfall ``IS^(k) = s * (q0 * S0 - sum_t v_t^(k) S~_t^(k))``.
"""

from __future__ import annotations

import math

import torch

from multiexec.errors import MultiexecError
from multiexec.game.params import GameParams


def market_step(
    S_prev: torch.Tensor, v: torch.Tensor, p: GameParams, gen: torch.Generator, sigma: float | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """One step. ``S_prev``: (*batch), ``v``: (*batch, n). Returns (new mid (*batch), received prices (*batch, n))."""
    s = p.sign
    sig = p.sigma if sigma is None else sigma
    V = v.sum(-1)
    impact = p.alpha * v / p.tau
    if p.coin_toss and v.shape[-1] > 1:
        # a uniformly random order of the agents: rank r_k; k pays the permanent impact of those ranked before it
        order = torch.rand(v.shape, generator=gen, dtype=v.dtype, device=v.device).argsort(-1)
        v_sorted = torch.gather(v, -1, order)
        before_sorted = v_sorted.cumsum(-1) - v_sorted
        before = torch.empty_like(v).scatter_(-1, order, before_sorted)
        impact = impact + p.kappa * before
    received = S_prev.unsqueeze(-1) - s * impact
    xi = torch.randn(S_prev.shape, generator=gen, dtype=S_prev.dtype, device=S_prev.device)
    S_new = S_prev - s * p.kappa * V + sig * math.sqrt(p.tau) * xi
    return S_new, received


def simulate_schedules(
    schedules: torch.Tensor, p: GameParams, n_episodes: int, seed: int = 0, sigma: float | None = None
) -> torch.Tensor:
    """Simulate fixed schedules (n, N) — or one per episode (n_episodes, n, N) — and return IS (n_episodes, n)."""
    sched = torch.as_tensor(schedules, dtype=torch.float64)
    if sched.dim() == 2:
        sched = sched.expand(n_episodes, *sched.shape)
    if sched.shape[-2:] != (p.n_agents, p.N) or sched.shape[0] != n_episodes:
        raise MultiexecError(f"schedules have shape {tuple(sched.shape)}, expected (n_agents={p.n_agents}, N={p.N})")
    gen = torch.Generator().manual_seed(seed)
    S = torch.full((n_episodes,), p.S0, dtype=torch.float64)
    cash = torch.zeros(n_episodes, p.n_agents, dtype=torch.float64)
    for t in range(p.N):
        v = sched[..., t]
        S, recv = market_step(S, v, p, gen, sigma)
        cash += v * recv
    return p.sign * (sched.sum(-1) * p.S0 - cash)
