"""The Double-DQN agents of the execution game (the note's Table 1), batched over runs and agents.

Each agent sees only ``(q_t, t, S_{t-1})`` — its own inventory, the time and the common mid — and scores a candidate
sale ``v`` with ``Q(q_t, t, S_{t-1}, v)``: Linear(4,30) -> 5 x [Linear(30,30) + LeakyReLU] -> Linear(30,1).
Inputs are normalised as in Ning et al. (2018). The ensemble (one network per run and agent) uses batched weights.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from multiexec.game.params import GameParams


def price_range(p: GameParams, sigma: float) -> tuple[float, float]:
    """Range of the mid mapped to [-1, 1]: all agents' permanent impact plus 4 standard deviations of the noise."""
    spread = 4 * sigma * math.sqrt(p.T)
    drift = p.kappa * p.n_agents * p.q0
    if p.side == "sell":
        return p.S0 - drift - spread, p.S0 + spread
    return p.S0 - spread, p.S0 + drift + spread


class GameQNet(nn.Module):
    """Ensemble of E Q-networks Q(q, t, S, v) with batched weights (the DDQN contract of ``multiexec.algos.ddqn``).

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
        q, t, S = obs.unbind(-1)
        tn = 2 * t / max(self.N - 1, 1) - 1
        sn = (2 * (S - self.price_lo) / (self.price_hi - self.price_lo) - 1).clamp(-1, 1)
        qn = 2 * q / self.q0 - 1
        state = torch.stack([qn, tn, sn], -1)
        qq = q.unsqueeze(-1)
        vn = torch.where(qq > 0, 2 * cand / qq.clamp(min=1e-9) - 1, torch.full_like(cand, -1.0))
        return state, vn

    def forward(self, obs: torch.Tensor, cand: torch.Tensor) -> torch.Tensor:
        E, B, K = cand.shape
        state, vn = self.normalise(obs, cand)
        W, b = list(self.weights), list(self.biases)
        # activations are kept feature-major (E, H, rows): W^T h is faster than h W for these small, wide matrices
        # the first layer is affine in (state, v): evaluate the state part once per state, add v * w_v per candidate
        base = torch.bmm(W[0][:, :3].transpose(1, 2), state.transpose(1, 2)).add_(b[0].transpose(1, 2))  # (E, H, B)
        h = (W[0][:, 3].view(E, -1, 1, 1) * vn.unsqueeze(1)).add_(base.unsqueeze(-1)).view(E, -1, B * K)
        for i in range(1, len(W) - 1):
            h = nn.functional.leaky_relu_(torch.bmm(W[i].transpose(1, 2), h).add_(b[i].transpose(1, 2)))
        return torch.bmm(W[-1].transpose(1, 2), h).add_(b[-1].transpose(1, 2)).view(E, B, K)


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
        """Exploration around TWAP: ``v ~ round(Normal(q/(N-t), |q/(N-t)|))``, 0 when outside ``[0, q]``; ``q`` at the last step.

        (The note writes the admissible interval as ``[q_t - q0, q_t]``; trades are sales ``0..q_t`` here, so a negative
        draw counts as outside and becomes 0.) Returns the index into :meth:`candidates` (which equals the sale).
        """
        q, t = obs[..., 0], obs[..., 1]
        m = q / (self.N - t).clamp(min=1)
        v = torch.round(m + m.abs() * torch.randn(m.shape, generator=gen, device=m.device))
        v = torch.where((v < 0) | (v > q), torch.zeros_like(v), v)
        v = torch.where(t >= self.N - 1, q, v)
        return v.long()
