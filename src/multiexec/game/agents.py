"""The Double-DQN agents of the execution game (the note's Table 1), batched over runs and agents.

Each agent sees only ``(q_t, t, S_{t-1})`` — its own inventory, the time and the common mid — and scores a candidate
sale ``v`` with ``Q(q_t, t, S_{t-1}, v)``: Linear(4,30) -> 5 x [Linear(30,30) + LeakyReLU] -> Linear(30,1).
Inputs are normalised as in Ning et al. (2018). The ensemble (one network per run and agent) uses batched weights.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from multiexec.game.market import market_step
from multiexec.game.params import GameParams


def price_range(p: GameParams, sigma: float) -> tuple[float, float]:
    """Range of the mid mapped to [-1, 1]: all agents' permanent impact plus 4 standard deviations of the noise."""
    spread = 4 * sigma * math.sqrt(p.T)
    drift = p.kappa * p.n_agents * p.q0
    if p.side == "sell":
        return p.S0 - drift - spread, p.S0 + spread
    return p.S0 - spread, p.S0 + drift + spread


def normalise_state(obs: torch.Tensor, N: int, q0: float, price_lo: float, price_hi: float) -> torch.Tensor:
    """Raw ``[q, t, S]`` (..., 3) -> ``[2q/q0 - 1, 2t/(N-1) - 1, price min-max to [-1, 1] and clipped]`` (Ning et al.)."""
    q, t, S = obs.unbind(-1)
    tn = 2 * t / max(N - 1, 1) - 1
    sn = (2 * (S - price_lo) / (price_hi - price_lo) - 1).clamp(-1, 1)
    return torch.stack([2 * q / q0 - 1, tn, sn], -1)


def agent_obs(q: torch.Tensor, t: int, S: torch.Tensor, n: int) -> torch.Tensor:
    """What the agents see. (R, B, n) inventories, the step t, (R, B) mid -> (R*n, B, 3) raw ``[q, t, S]`` (float32);
    member ``r * n + k`` is agent k of run r."""
    R, B = S.shape
    qq = q.permute(0, 2, 1).reshape(R * n, B)
    SS = S.unsqueeze(1).expand(R, n, B).reshape(R * n, B)
    return torch.stack([qq, torch.full_like(qq, float(t)), SS], -1).float()


def to_agents(x: torch.Tensor, R: int, n: int) -> torch.Tensor:
    """(R*n, B) per member -> (R, B, n) per run, episode and agent."""
    return x.view(R, n, -1).permute(0, 2, 1)


class Episodes:
    """B episodes for each of R runs of the n-agent game, stepped together (training, rollouts and tests): the mid
    ``S`` (R, B), inventories ``q`` and cash received ``cash`` (R, B, n)."""

    def __init__(self, p: GameParams, R: int, B: int):
        self.p, self.n = p, p.n_agents
        self.S = torch.full((R, B), p.S0, dtype=torch.float64)
        self.q = torch.full((R, B, p.n_agents), p.q0, dtype=torch.float64)
        self.cash = torch.zeros(R, B, p.n_agents, dtype=torch.float64)

    def obs(self, t: int) -> torch.Tensor:
        """The agents' observations at step ``t`` (R*n, B, 3), see :func:`agent_obs`."""
        return agent_obs(self.q, t, self.S, self.n)

    def step(self, cand: torch.Tensor, idx: torch.Tensor, gen: torch.Generator,
             sigma: float | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Trade candidate ``idx`` (R*n, B) of ``cand`` (R*n, B, K) for every member; returns the sales ``v``
        (R, B, n), the mid before the step (R, B) and the prices received (R, B, n)."""
        v = to_agents(cand.gather(-1, idx.unsqueeze(-1)).squeeze(-1), self.S.shape[0], self.n).double()
        S_prev = self.S
        self.S, recv = market_step(S_prev, v, self.p, gen, sigma=sigma)
        self.cash += v * recv
        self.q = self.q - v
        return v, S_prev, recv

    def shortfall(self) -> np.ndarray:
        """Implementation shortfall per run, episode and agent (R, B, n)."""
        return (self.p.sign * (self.p.q0 * self.p.S0 - self.cash)).numpy()


class GameQNet(nn.Module):
    """Ensemble of E Q-networks Q(q, t, S, v) with batched weights (the DDQN contract of ``multiexec.algos.rl``).

    ``forward(obs (E, B, 3) raw [q, t, S], cand (E, B, K) raw trade sizes) -> (E, B, K)``. Normalisation: time
    ``2t/(N-1) - 1``; price min-max to [-1, 1] over ``price_lo..price_hi`` and clipped; the triangle
    ``0 <= v <= q <= q0`` mapped to the square: ``(2q/q0 - 1, 2v/q - 1)`` (``-1`` when ``q = 0``).
    """

    def __init__(self, ensemble: int, p: GameParams, price_lo: float, price_hi: float, hidden: int = 30,
                 depth: int = 5, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.N, self.q0 = p.N, p.q0
        self.price_lo, self.price_hi = price_lo, price_hi
        dims = [4] + [hidden] * (depth + 1) + [1]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for fi, fo in zip(dims[:-1], dims[1:]):
            bound = 1 / math.sqrt(fi)  # nn.Linear's default initialisation
            self.weights.append(nn.Parameter((torch.rand(ensemble, fi, fo, generator=g) * 2 - 1) * bound))
            self.biases.append(nn.Parameter((torch.rand(ensemble, 1, fo, generator=g) * 2 - 1) * bound))

    def normalise(self, obs: torch.Tensor, cand: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        state = normalise_state(obs, self.N, self.q0, self.price_lo, self.price_hi)
        qq = obs[..., 0:1]
        vn = torch.where(qq > 0, 2 * cand / qq.clamp(min=1e-9) - 1, torch.full_like(cand, -1.0))
        return state, vn

    def forward(self, obs: torch.Tensor, cand: torch.Tensor) -> torch.Tensor:
        E, B, K = cand.shape
        state, vn = self.normalise(obs, cand)
        W, b = list(self.weights), list(self.biases)
        # Activations are kept feature-major (E, H, rows): W^T h is faster than h W for these small, wide matrices.
        # The first two layers are both affine (no activation between them), so their output is affine in
        # (state, v): the state part goes through both layers once per *state* (B columns) and each candidate adds
        # v * (W1^T w_v). The same network, re-associated: one 30 x 30 product per candidate less.
        base = torch.baddbmm(b[0].transpose(1, 2), W[0][:, :3].transpose(1, 2), state.transpose(1, 2))  # (E, H, B)
        base = torch.baddbmm(b[1].transpose(1, 2), W[1].transpose(1, 2), base)
        wv = torch.bmm(W[1].transpose(1, 2), W[0][:, 3:].transpose(1, 2))  # (E, H, 1)
        # columns ordered candidate-major (k, b): the broadcast add then runs along contiguous rows
        vn = vn.transpose(1, 2).contiguous().unsqueeze(1)  # (E, 1, K, B)
        h = nn.functional.leaky_relu_(torch.addcmul(base.unsqueeze(2), wv.unsqueeze(-1), vn).view(E, -1, K * B))
        for i in range(2, len(W) - 1):
            h = nn.functional.leaky_relu_(torch.baddbmm(b[i].transpose(1, 2), W[i].transpose(1, 2), h))
        return torch.baddbmm(b[-1].transpose(1, 2), W[-1].transpose(1, 2), h).view(E, K, B).transpose(1, 2)

    @torch.no_grad()
    def fit_grads(self, obs: torch.Tensor, action: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per-member MSE ``mean_b (Q(obs, action) - y)^2`` (E,); sets ``.grad`` to the gradient of their sum.

        The optional fast path of :class:`multiexec.algos.rl.DoubleDQN`: the same loss and gradients as autograd
        on :meth:`forward`, computed by hand (plain layer-by-layer backpropagation, no autograd graph).
        """
        E, B = action.shape
        state, vn = self.normalise(obs, action.unsqueeze(-1))
        W, b = list(self.weights), list(self.biases)
        x = torch.cat([state, vn], -1).transpose(1, 2)  # (E, 4, B)
        acts = [x]  # the input of every layer
        h = torch.baddbmm(b[0].transpose(1, 2), W[0].transpose(1, 2), x)
        for i in range(1, len(W) - 1):
            acts.append(h)
            h = nn.functional.leaky_relu_(torch.baddbmm(b[i].transpose(1, 2), W[i].transpose(1, 2), h))
        acts.append(h)
        q = torch.baddbmm(b[-1].transpose(1, 2), W[-1].transpose(1, 2), h).view(E, B)
        diff = q - y
        loss = diff.square().mean(1)
        g = (diff * (2.0 / B)).view(E, 1, B)  # d loss / d q
        for i in range(len(W) - 1, -1, -1):
            a = acts[i]
            W[i].grad = torch.bmm(a, g.transpose(1, 2))
            b[i].grad = g.sum(-1).unsqueeze(1)
            if i == 0:
                break
            g = torch.bmm(W[i], g)
            if i > 1:  # a = leaky_relu(z) (same sign as z): the backward of leaky_relu_, as autograd does it
                g = torch.ops.aten.leaky_relu_backward(g, a, 0.01, True)
        return loss


class GameActions:
    """Candidate sales and the exploration of the note: integers ``0..q_t``, all of ``q_t`` at the last step.

    ``grid``: candidates used for the argmax inside the double-Q *target* — None for every integer ``0..q0`` (exact), or
    K evenly spaced integers ``round(j q / (K-1))`` (exact whenever ``q < K``), a speed option.
    """

    def __init__(self, p: GameParams, grid: int | None = None) -> None:
        self.N, self.q0 = p.N, int(p.q0)
        self.all = torch.arange(self.q0 + 1, dtype=torch.float32)
        self.grid = grid

    def candidates(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Every integer 0..max(q_t) with the mask ``v <= q_t`` (only ``v = q_t`` at the last step)."""
        q, t = obs[..., 0:1], obs[..., 1:2]
        k = min(int(q.max().item()), self.q0) + 1
        cand = self.all[:k].expand(*obs.shape[:-1], -1)
        last = t >= self.N - 1
        mask = (cand <= q + 1e-6) & (~last | ((cand - q).abs() < 1e-6))
        return cand, mask

    def target_candidates(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Candidates for the target's argmax: exact, or the K-point grid (see the class docstring)."""
        if self.grid is None or self.grid >= self.q0 + 1:
            return self.candidates(obs)
        q, t = obs[..., 0:1], obs[..., 1:2]
        frac = torch.linspace(0, 1, self.grid)
        cand = torch.round(frac * q)
        last = t >= self.N - 1
        repeat = torch.zeros_like(cand, dtype=torch.bool)
        repeat[..., 1:] = cand[..., 1:] == cand[..., :-1]  # a repeated sale (q < K - 1) scores as its first copy
        mask = (~last | ((cand - q).abs() < 1e-6)) & ~repeat
        return cand, mask

    def explore(self, obs: torch.Tensor, cand: torch.Tensor, mask: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """Exploration around TWAP: ``v ~ round(Normal(q/(N-t), |q/(N-t)|))``, 0 when outside ``[0, q]``; ``q`` at the
        last step.

        (The note writes the admissible interval as ``[q_t - q0, q_t]``; trades are sales ``0..q_t`` here, so a negative
        draw counts as outside and becomes 0.) Returns the index into :meth:`candidates` (which equals the sale).
        """
        q, t = obs[..., 0], obs[..., 1]
        m = q / (self.N - t).clamp(min=1)
        v = torch.round(m + m.abs() * torch.randn(m.shape, generator=gen, device=m.device))
        v = torch.where((v < 0) | (v > q), torch.zeros_like(v), v)
        v = torch.where(t >= self.N - 1, q, v)
        return v.long()
