"""Network building blocks of the learned execution agents (IaC paper, appendix A.6; sizes of Table 5).

Shapes: ``S`` samples (day-steps), ``N`` agents (orders, padded), ``D`` hidden size. Every block is
vectorised over ``(S, N)`` and shares its parameters across agents. ``alive`` (S, N) marks agents that
take part in communication: a padded or finished order neither sends nor receives (its hidden state is
passed through unchanged and nobody attends to it).
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn
from torch.nn import functional as F

# oneDNN's float32 GEMM: PyTorch's default one (MKL) runs its AVX2 code on non-Intel CPUs, oneDNN uses AVX-512
# wherever the CPU has it (2x faster for our layer sizes on this project's AMD machine); None where absent.
_onednn_linear = getattr(torch.ops.mkldnn, "_linear_pointwise", None) if torch.backends.mkldnn.is_available() else None
_ONEDNN_MIN_ROWS = 256  # below, MKL is as fast or faster (measured: 10 / 100 orders in benchmarks/bench_agents.py)
_acting = contextvars.ContextVar("multiexec_acting", default=False)


@contextmanager
def acting() -> Iterator[None]:
    """Inside this block (``NeuralPolicy.act``), :class:`Linear` layers run their float32, no-autograd CPU forward
    in oneDNN (:func:`fast_path`), with a following ReLU fused in :class:`MLP`: the same numbers to float32
    rounding, faster where MKL does not use the CPU's widest vectors."""
    token = _acting.set(True)
    try:
        yield
    finally:
        _acting.reset(token)


def fast_path(x: torch.Tensor) -> bool:
    """Whether ``x`` takes the acting fast path: inside :func:`acting`, float32 on the CPU, no autograd, no autocast.
    The fast path computes the same numbers as the ordinary forward, to float32 rounding."""
    return (_acting.get() and x.dtype == torch.float32 and x.device.type == "cpu" and not torch.is_grad_enabled()
            and not torch.is_autocast_enabled("cpu"))


def _linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, relu: bool = False) -> torch.Tensor:
    """``x W^T + b`` (then ReLU) in oneDNN with the ReLU fused where the rows are many (fast path only)."""
    if _onednn_linear is not None and x.numel() >= _ONEDNN_MIN_ROWS * x.shape[-1]:
        return _onednn_linear(x, weight, bias, "relu" if relu else "none", [], "")
    y = F.linear(x, weight, bias)
    return y.relu_() if relu else y


class Linear(nn.Linear):
    """``nn.Linear`` (same parameters, initialisation and state dict) with the oneDNN forward of :func:`acting`.
    Training, ``torch.func`` transforms, autocast and other dtypes or devices use ``F.linear``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if fast_path(x):
            return _linear(x, self.weight, self.bias)
        return F.linear(x, self.weight, self.bias)


class MLP(nn.Sequential):
    """The layers of :func:`mlp` (an ``nn.Sequential``: same children, state dict and ordinary forward); on the
    acting fast path each Linear followed by a ReLU runs as one oneDNN call with the ReLU fused."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not fast_path(x):
            return super().forward(x)
        mods = list(self)
        i = 0
        while i < len(mods):
            m = mods[i]
            if isinstance(m, Linear) and i + 1 < len(mods) and type(mods[i + 1]) is nn.ReLU:
                x = _linear(x, m.weight, m.bias, relu=True)
                i += 2
            else:
                x = m(x)
                i += 1
        return x


def mlp(sizes: list[int], out_act: nn.Module | None = None) -> MLP:
    """Linear layers with ReLU between them (``len(sizes) - 1`` layers)."""
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    if out_act is not None:
        layers.append(out_act)
    return MLP(*layers)


def masked_mean(x: torch.Tensor, alive: torch.Tensor) -> torch.Tensor:
    """Mean of ``x`` (S, N, D) over alive agents: (S, D); zeros where none is alive."""
    w = alive.to(x.dtype).unsqueeze(-1)
    return (x * w).sum(1) / w.sum(1).clamp_min(1.0)


def mean_of_others(x: torch.Tensor, alive: torch.Tensor) -> torch.Tensor:
    """For each agent, the mean of ``x`` over the *other* alive agents: (S, N, D); zeros if there is none."""
    w = alive.to(x.dtype).unsqueeze(-1)
    total = (x * w).sum(1, keepdim=True)
    count = w.sum(1, keepdim=True)
    others = total - x * w
    n_others = (count - w).clamp_min(1.0)
    return others / n_others


class Extractor(nn.Module):
    """E: a GRU over the agent's per-step history plus two FC layers with ReLU on [GRU state, current features].

    The GRU is written out with two linear maps (input and recurrent, gates r, z, n as in ``torch.nn.GRU``) so
    that it also runs under ``torch.func.vmap`` (the DDQN ensemble) — ``nn.GRU`` has no batching rule.
    """

    def __init__(self, f_seq: int, f_now: int, rnn: int = 64, hidden: int = 128):
        super().__init__()
        self.rnn_size = rnn
        self.w_in = Linear(f_seq, 3 * rnn)
        self.w_rec = Linear(rnn, 3 * rnn)
        self.fc = mlp([rnn + f_now, hidden, hidden], out_act=nn.ReLU())
        self.out_dim = hidden

    def cell(self, gi: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """One GRU step from the input projection ``gi`` (..., 3R) and the previous state ``h`` (..., R)."""
        ir, iz, inn = gi.chunk(3, -1)
        hr, hz, hn = self.w_rec(h).chunk(3, -1)
        r = torch.sigmoid(ir + hr)
        z = torch.sigmoid(iz + hz)
        return (1 - z) * torch.tanh(inn + r * hn) + z * h

    def scan(self, x: torch.Tensor) -> torch.Tensor:
        """GRU states after each step of ``x`` (M, T, F): (M, T, R)."""
        gi = self.w_in(x)
        h = x.new_zeros(x.shape[0], self.rnn_size)
        outs = []
        for t in range(x.shape[1]):
            h = self.cell(gi[:, t], h)
            outs.append(h)
        return torch.stack(outs, 1)

    def advance(self, hist: torch.Tensor, row: torch.Tensor) -> torch.Tensor:
        """The history state after one more step: ``hist`` (B, N, R) before step s, ``row`` (B, N, F) of step s."""
        return self.cell(self.w_in(row), hist)

    def history(self, seq: torch.Tensor, t: int | None = None) -> torch.Tensor:
        """GRU summary of the history.

        ``seq`` (B, N, T, F). With ``t`` given: the state after the first ``t`` steps, (B, N, R) (zeros for
        t = 0). Without: the state before every step, (B, N, T, R), entry ``s`` summarising steps ``< s`` —
        valid because a step's history row never changes once written (the environment's contract).
        """
        B, N, T, Fs = seq.shape
        flat = seq.reshape(B * N, T, Fs)
        if t is not None:
            if t == 0:
                return seq.new_zeros(B, N, self.rnn_size)
            return self.scan(flat[:, :t])[:, -1].reshape(B, N, self.rnn_size)
        out = self.scan(flat)
        out = torch.cat([flat.new_zeros(B * N, 1, self.rnn_size), out[:, :-1]], dim=1)
        return out.reshape(B, N, T, self.rnn_size)

    def head(self, hist: torch.Tensor, now: torch.Tensor) -> torch.Tensor:
        """h0 from the history summary (..., R) and current-step features (..., F_NOW)."""
        return self.fc(torch.cat([hist, now], dim=-1))


def _no_grad_cpu(x: torch.Tensor) -> bool:
    """Float32 on the CPU without autograd or autocast: the channels' inference forward (see their docstrings)."""
    return (x.dtype == torch.float32 and x.device.type == "cpu" and not torch.is_grad_enabled()
            and not torch.is_autocast_enabled("cpu"))


def _lin(x: torch.Tensor, layer: nn.Linear) -> torch.Tensor:
    """``layer(x)``, in oneDNN on the acting fast path."""
    return _linear(x, layer.weight, layer.bias) if fast_path(x) else F.linear(x, layer.weight, layer.bias)


class CommNetChannel(nn.Module):
    """CommNet-style round: h' = ReLU(W_s x_i + W_c mean_{j != i, alive} m_j), with m_j = W_m x_j.

    Without autograd (float32, CPU) the sum and the ReLU run in place on the fresh output (same numbers)."""

    def __init__(self, in_dim: int, hidden: int = 128):
        super().__init__()
        self.msg = Linear(in_dim, hidden)
        self.self_lin = Linear(in_dim, hidden)
        self.comm_lin = Linear(hidden, hidden, bias=False)

    def forward(self, x: torch.Tensor, alive: torch.Tensor) -> torch.Tensor:
        c = mean_of_others(self.msg(x), alive)
        if _no_grad_cpu(x):
            return _lin(c, self.comm_lin).add_(_lin(x, self.self_lin)).relu_()
        return F.relu(self.self_lin(x) + self.comm_lin(c))


class TarMACChannel(nn.Module):
    """TarMAC-style round: multi-head soft attention of each receiver's query over the other alive senders'
    signatures (keys), aggregating their values; h' = ReLU(W_s x_i + W_o [heads]).

    Cost is O(N^2 (key_dim + value_dim)) per head; keys and values are kept small (16 per head) and the
    attention runs in PyTorch's fused kernel with an additive mask: -inf on the diagonal (no message to
    oneself) and, only when some agent is dead, -inf for dead senders.

    Without autograd (acting; float32 on the CPU) the same attention is computed faster: the attention over the
    others comes from one *unmasked* fused pass (:func:`_attend_to_others`), with one sample and some dead agents
    the keys are restricted to the alive senders instead of masked (cost N x alive instead of N x N), and the
    output's sum and ReLU run in place. Same numbers as the masked kernel to float32 rounding
    (tests/policies/test_decision_fast.py).
    """

    def __init__(self, in_dim: int, hidden: int = 128, heads: int = 4, key_dim: int = 16, value_dim: int = 16):
        super().__init__()
        self.heads, self.key_dim, self.v_dim = heads, key_dim, value_dim
        self.qkv = Linear(in_dim, heads * (2 * key_dim + value_dim))
        self.self_lin = Linear(in_dim, hidden)
        self.out = Linear(heads * value_dim, hidden, bias=False)
        self._diag: dict[tuple, torch.Tensor] = {}

    def _diag_mask(self, n: int, like: torch.Tensor) -> torch.Tensor:
        # one cache entry per inference mode: a mask made while acting under torch.inference_mode() is an
        # inference tensor and must never reach a training forward (autograd refuses to save it)
        key = (n, like.dtype, like.device, torch.is_inference_mode_enabled())
        if key not in self._diag:
            self._diag[key] = torch.zeros(n, n, dtype=like.dtype, device=like.device).fill_diagonal_(float("-inf"))
        return self._diag[key]

    def _masked(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, alive: torch.Tensor) -> torch.Tensor:
        """Attention (S, H, N, dv) over the other alive senders with the additive mask; zero for a receiver
        without any sender."""
        S, N = alive.shape
        mask = self._diag_mask(N, q)
        n_senders = alive.sum(1, keepdim=True) - alive.long()  # (S, N) other alive agents
        has = n_senders > 0
        key_bias = torch.zeros(S, 1, 1, N, dtype=q.dtype, device=q.device)
        mask = mask + key_bias.masked_fill(~alive[:, None, None, :], float("-inf"))
        if not bool(has.all()):  # rows without any sender: finite scores here, zero message below
            mask = mask.masked_fill(~has[:, None, :, None], 0.0)
        m = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return m * has[:, None, :, None].to(q.dtype)

    def forward(self, x: torch.Tensor, alive: torch.Tensor) -> torch.Tensor:
        S, N, _ = x.shape
        H, dk, dv = self.heads, self.key_dim, self.v_dim
        if _no_grad_cpu(x):
            return self._forward_no_grad(x, alive)
        q, k, v = self.qkv(x).view(S, N, H, 2 * dk + dv).transpose(1, 2).split([dk, dk, dv], dim=-1)
        m = self._masked(q, k, v, alive)  # (S, H, N, dv)
        m = m.transpose(1, 2).reshape(S, N, H * dv)
        return F.relu(self.self_lin(x) + self.out(m))

    def _forward_no_grad(self, x: torch.Tensor, alive: torch.Tensor) -> torch.Tensor:
        S, N, _ = x.shape
        H, dk, dv = self.heads, self.key_dim, self.v_dim
        q, k, v = _lin(x, self.qkv).view(S, N, H, 2 * dk + dv).transpose(1, 2).split([dk, dk, dv], dim=-1)
        if N >= 2 and bool(alive.all()):
            m = _attend_to_others(q, k, v)
        elif S == 1:
            m = _attend_to_alive_others(q, k, v, alive[0])
        else:
            m = self._masked(q, k, v, alive)
        m = m.transpose(1, 2).reshape(S, N, H * dv)
        return _lin(m, self.out).add_(_lin(x, self.self_lin)).relu_()


def _attend_to_others(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                      diag_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Soft attention of every query over all keys but its own, from one *unmasked* fused pass (CPU, no autograd).

    ``q`` (S, H, Nq, d), ``k`` and ``v`` (S, H, Nk, d) with Nq >= Nk: query i < Nk is sender i itself and attends
    to every key but its own; the queries after Nk are outsiders and attend to all keys. With the pass's
    log-sum-exp L_i, the self weight is p_i = exp(q_i.k_i / sqrt(d) - L_i) and the attention over the others is
    (out_i - p_i v_i) / (1 - p_i); rows where p_i > 0.5 (the subtraction would lose precision) are recomputed with
    the masked kernel (``diag_mask``: the Nk x Nk mask with -inf on the diagonal, made here if not given). Same
    result as the masked kernel to float rounding, without reading an N x N mask. A sender without any other
    sender (Nk = 1) gets NaN: the caller zeroes it.
    """
    n = k.shape[-2]
    out, lse = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(q, k, v)
    q_in = q[..., :n, :]
    p_self = torch.exp(torch.linalg.vecdot(q_in, k) * q.shape[-1] ** -0.5 - lse[..., :n]).unsqueeze(-1)
    # in place on the kernel's fresh output (no temporaries)
    inner = out[..., :n, :].addcmul_(p_self, v, value=-1.0).div_(1 - p_self)
    bad = p_self > 0.5
    if bool(bad.any()):
        if diag_mask is None:
            diag_mask = torch.zeros(n, n, dtype=q.dtype, device=q.device).fill_diagonal_(float("-inf"))
        inner.copy_(torch.where(bad, F.scaled_dot_product_attention(q_in, k, v, attn_mask=diag_mask), inner))
    return out


def _attend_to_alive_others(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, alive: torch.Tensor) -> torch.Tensor:
    """Attention (1, H, N, dv) of every agent over the *alive* senders other than itself, for one sample (``alive``
    (N,)): the keys and values are restricted to the alive agents (no mask, cost N x alive); zero for an agent
    without any sender."""
    alive_idx = alive.nonzero().squeeze(1)
    n_alive = alive_idx.numel()
    if n_alive == 0:
        return q.new_zeros(*q.shape[:-1], v.shape[-1])
    order = torch.cat([alive_idx, (~alive).nonzero().squeeze(1)])  # the alive agents first
    out = _attend_to_others(q.index_select(2, order), k.index_select(2, alive_idx), v.index_select(2, alive_idx))
    if n_alive == 1:
        out[..., 0, :] = 0.0  # the only alive agent has nobody to listen to
    return torch.empty_like(out).index_copy_(2, order, out)


def make_channel(kind: str, in_dim: int, hidden: int, heads: int) -> nn.Module:
    if kind == "commnet":
        return CommNetChannel(in_dim, hidden)
    if kind == "tarmac":
        return TarMACChannel(in_dim, hidden, heads)
    raise ValueError(f"unknown channel {kind!r} (commnet or tarmac)")


class ActionValue(nn.Module):
    """Q̂(s, a): a three-layer MLP on h0 and the joint action, one estimate of the team's action value per agent.

    The joint action enters as [one-hot of the agent's own action, masked mean of the other alive agents'
    one-hot actions]: permutation invariant over the others, any number of agents, and it sees how much of
    the team intends each action (what drives the shared cash).
    """

    def __init__(self, h_dim: int, n_actions: int, hidden: int = 128):
        super().__init__()
        self.n_actions = n_actions
        self.net = mlp([h_dim + 2 * n_actions, hidden, hidden, 1])

    def forward(self, h0: torch.Tensor, actions: torch.Tensor, alive: torch.Tensor) -> torch.Tensor:
        """``h0`` (S, N, D), ``actions`` (S, N) int64 → (S, N)."""
        onehot = F.one_hot(actions, self.n_actions).to(h0.dtype)
        others = mean_of_others(onehot, alive)
        return self.net(torch.cat([h0, onehot, others], dim=-1)).squeeze(-1)

    def every_action(self, h0: torch.Tensor, others_dist: torch.Tensor, alive: torch.Tensor) -> torch.Tensor:
        """Q̂ of each own action against the other agents' action distributions ``others_dist`` (S, N, A)
        (their intended-action probabilities): (S, N, A)."""
        A = self.n_actions
        others = mean_of_others(others_dist, alive)
        own = torch.eye(A, dtype=h0.dtype, device=h0.device).expand(*h0.shape[:-1], A, A)
        x = torch.cat([h0.unsqueeze(-2).expand(*h0.shape[:-1], A, h0.shape[-1]), own,
                       others.unsqueeze(-2).expand(*others.shape[:-1], A, A)], dim=-1)
        return self.net(x).squeeze(-1)
