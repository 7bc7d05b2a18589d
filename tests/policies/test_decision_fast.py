"""The acting fast path (``NeuralPolicy.act``: inference mode, oneDNN linears with fused ReLU, contiguous attention
inputs, unmasked fused attention minus the self weight, alive-only keys) against a straightforward float64
reference written out here: same actions, logits within 1e-5."""

import numpy as np
import pytest
import torch
from torch import nn

from multiexec.execution.env import F_NOW, F_SEQ, Obs
from multiexec.policies.agents import AgentConfig, ExecAgent, NeuralPolicy
from multiexec.policies.nets import (CommNetChannel, Linear, TarMACChannel, _attend_to_alive_others, acting,
                                     _attend_to_others)

torch.set_num_threads(1)
T = 13


# ---------------------------------------------------------------- the reference (float64, plain tensor algebra)
def _lin(x, layer):
    y = x @ layer.weight.double().T
    return y if layer.bias is None else y + layer.bias.double()


def _mlp(x, seq):
    for m in seq:
        x = _lin(x, m) if isinstance(m, nn.Linear) else torch.relu(x)
    return x


def _history(ext, seq, t):
    """GRU state after the first t steps, step by step from zeros (gates r, z, n as torch.nn.GRU)."""
    B, N = seq.shape[:2]
    h = torch.zeros(B, N, ext.rnn_size, dtype=torch.float64)
    for s in range(t):
        ir, iz, inn = _lin(seq[:, :, s], ext.w_in).chunk(3, -1)
        hr, hz, hn = _lin(h, ext.w_rec).chunk(3, -1)
        r, z = torch.sigmoid(ir + hr), torch.sigmoid(iz + hz)
        h = (1 - z) * torch.tanh(inn + r * hn) + z * h
    return h


def _others_weights(alive):
    """(S, N, N) 1 where j is an alive agent other than i."""
    S, N = alive.shape
    w = alive[:, None, :].expand(S, N, N).clone()
    w[:, torch.arange(N), torch.arange(N)] = False
    return w


def _tarmac(ch, x, alive):
    S, N, _ = x.shape
    H, dk, dv = ch.heads, ch.key_dim, ch.v_dim
    q, k, v = _lin(x, ch.qkv).view(S, N, H, 2 * dk + dv).split([dk, dk, dv], -1)
    scores = torch.einsum("sihd,sjhd->shij", q, k) / dk**0.5
    allowed = _others_weights(alive)[:, None]
    scores = scores.masked_fill(~allowed, float("-inf"))
    has = allowed.any(-1, keepdim=True)
    att = torch.where(has, torch.softmax(scores.masked_fill(~has, 0.0), -1), 0.0)
    m = torch.einsum("shij,sjhd->sihd", att, v).reshape(S, N, H * dv)
    return torch.relu(_lin(x, ch.self_lin) + _lin(m, ch.out))


def _commnet(ch, x, alive):
    w = _others_weights(alive).double()
    c = (w @ _lin(x, ch.msg)) / w.sum(-1, keepdim=True).clamp_min(1.0)
    return torch.relu(_lin(x, ch.self_lin) + _lin(c, ch.comm_lin))


def _reference(agent, seq, now, alive, t):
    """Logits (R, S, N, A) and greedy actions (R, S, N) of every round, as the module docstring of agents.py says."""
    ext, spec, A = agent.extractor, agent.spec, agent.cfg.n_actions
    seq, now = seq.double(), now.double()
    h0 = _mlp(torch.cat([_history(ext, seq, t), now], -1), ext.fc)
    if not spec.communicates:
        logits = _mlp(h0, agent.decision)[None]
        return logits, logits.argmax(-1)
    chan = _tarmac if isinstance(agent.channel, TarMACChannel) else _commnet
    keep = alive.unsqueeze(-1)
    h, out = h0, []
    if not spec.intentions:
        for _ in range(agent.cfg.rounds):
            h = torch.where(keep, chan(agent.channel, h, alive), h)
        logits = _mlp(h, agent.decision)[None]
        return logits, logits.argmax(-1)
    intent = torch.zeros(*alive.shape, A + 1, dtype=torch.float64)
    intent[..., A] = 1.0  # a_0: the dummy action
    for _ in range(agent.cfg.rounds):
        h = torch.where(keep, chan(agent.channel, torch.cat([h, intent], -1), alive), h)
        logits = _mlp(h, agent.decision)
        intent = torch.cat([torch.softmax(logits, -1), torch.zeros(*alive.shape, 1, dtype=torch.float64)], -1)
        out.append(logits)
    logits = torch.stack(out)
    return logits, logits.argmax(-1)


# ---------------------------------------------------------------- helpers
def _agent(method, seed=0, **kw):
    """A random agent whose decisions vary across orders (a freshly initialised one picks the same action for
    nearly every order): weights N(0, 2 / fan_in), biases N(0, 0.01), the decision's output rows centred."""
    torch.manual_seed(seed)
    agent = ExecAgent(AgentConfig(method=method, f_seq=F_SEQ, f_now=F_NOW, **kw)).eval()
    with torch.no_grad():
        for m in agent.modules():
            if isinstance(m, nn.Linear):
                m.weight.normal_(0.0, (2.0 / m.in_features) ** 0.5)
                if m.bias is not None:
                    m.bias.normal_(0.0, 0.01)
        if hasattr(agent, "decision"):  # zero-mean rows: the ReLU features' common part no longer picks the action
            last = agent.decision[-1]
            last.weight -= last.weight.mean(1, keepdim=True)
    return agent


def _day(S, N, seed, dead=0.0):
    g = np.random.default_rng(seed)
    seq = g.standard_normal((S, N, T, F_SEQ), dtype=np.float32)
    nows = g.standard_normal((T, S, N, F_NOW), dtype=np.float32)
    alive = g.random((S, N)) >= dead
    return seq, nows, alive


def _obs(seq, now, alive, t):
    S, N = alive.shape
    return Obs(t=t, seq=seq, now=now, mask=np.ones((S, N), bool), active=alive, side=np.ones((S, N), np.int8),
               asset=np.zeros((S, N), np.int64), day=np.arange(S), remaining=np.ones((S, N)), n_steps=T)


def _check(agent, seq, nows, alive, steps):
    """Step a NeuralPolicy through ``steps`` of a day (carried GRU state) and compare every step with the reference:
    executed and intended actions, and the logits of ``decide`` run exactly as ``act`` runs it."""
    pol = NeuralPolicy(agent, greedy=True)
    near_ties = total = 0
    for t in steps:
        obs = _obs(seq, nows[t], alive, t)
        actions = pol.act(obs)
        ref_logits, ref_actions = _reference(agent, torch.from_numpy(seq), torch.from_numpy(nows[t]),
                                             torch.from_numpy(alive), t)
        with torch.inference_mode(), acting():
            h0 = agent.extractor.head(agent.extractor.history(torch.from_numpy(seq), t), torch.from_numpy(nows[t]))
            dec = agent.decide(h0, torch.from_numpy(alive), greedy=True, with_value=False)
        assert dec.logits.dtype == torch.float32
        torch.testing.assert_close(dec.logits.double(), ref_logits, atol=1e-5, rtol=1e-5)
        top2 = ref_logits.topk(2, -1).values
        clear = (top2[..., 0] - top2[..., 1]) > 1e-5  # where float rounding cannot flip the argmax
        near_ties += int((~clear).sum())
        total += clear.numel()
        got = torch.from_numpy(pol.intended)
        assert torch.equal(got[clear], ref_actions[clear]), f"step {t}: actions differ from the reference"
        assert np.array_equal(actions, pol.intended[-1])
    assert near_ties <= max(1, total // 200)  # rounding ties (top-2 gap <= 1e-5) are rare
    return pol.intended


# ---------------------------------------------------------------- tests
@pytest.mark.parametrize("dead", [0.0, 0.3])
def test_iac_t_at_1000_orders_equals_the_reference(dead):
    """The service's case: one day, 1,000 orders, all alive or some finished (alive-only keys)."""
    seq, nows, alive = _day(1, 1000, seed=1, dead=dead)
    intended = _check(_agent("iac_t", rounds=3), seq, nows, alive, steps=[0, 1, 5])
    counts = np.bincount(intended.ravel(), minlength=5)  # every round's intended actions are compared
    assert (counts >= 20).sum() >= 3, counts  # the orders' decisions differ: the comparison is not vacuous


@pytest.mark.parametrize("method", ["ppo", "commnet", "tarmac", "iac_c", "iac_t"])
@pytest.mark.parametrize("S,N,dead", [(1, 7, 0.0), (1, 9, 0.4), (3, 300, 0.25), (2, 5, 0.0)])
def test_methods_equal_the_reference(method, S, N, dead):
    """Small days, batches of days (masked attention), and 300 orders (oneDNN linears with fused ReLU)."""
    seq, nows, alive = _day(S, N, seed=N + S, dead=dead)
    _check(_agent(method, seed=2), seq, nows, alive, steps=[0, 1, 2])


@pytest.mark.parametrize("alive_row", [[False] * 4, [True, False, False, False], [False, True, False, True], [True]])
def test_few_or_no_alive_agents(alive_row):
    """Nobody alive, one alive (no sender: zero message), two alive, a day of a single order."""
    seq, nows, _ = _day(1, len(alive_row), seed=3)
    alive = np.array([alive_row])
    for method in ("tarmac", "iac_t", "iac_c"):
        _check(_agent(method, seed=4), seq, nows, alive, steps=[0, 3])


def test_tarmac_no_grad_channel_equals_the_training_channel():
    """The channel's no-autograd forward (every branch) equals its autograd forward, dead rows included."""
    torch.manual_seed(0)
    ch = TarMACChannel(10, 16, heads=2)
    for S, N, p_dead in [(1, 40, 0.0), (1, 40, 0.5), (3, 40, 0.5), (1, 1, 0.0), (1, 6, 0.9)]:
        x = torch.randn(S, N, 10)
        alive = torch.rand(S, N) >= p_dead
        ref = ch(x.requires_grad_(), alive).detach()
        with torch.no_grad():
            fast = ch(x, alive)
        with torch.inference_mode(), acting():
            acted = ch(x, alive)
        torch.testing.assert_close(fast, ref, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(acted.clone(), ref, atol=1e-5, rtol=1e-5)


def test_commnet_no_grad_channel_equals_the_training_channel():
    torch.manual_seed(0)
    ch = CommNetChannel(10, 16)
    x = torch.randn(2, 300, 10)
    alive = torch.rand(2, 300) > 0.2
    ref = ch(x.requires_grad_(), alive).detach()
    with torch.inference_mode(), acting():
        torch.testing.assert_close(ch(x, alive).clone(), ref, atol=1e-5, rtol=1e-5)


def test_alive_only_attention_with_a_dominant_self_weight():
    """Keys restricted to the alive senders, where an alive agent attends almost only to itself (the exact
    fallback of the unmasked pass) and where a dead agent's key would dominate (it must be ignored)."""
    torch.manual_seed(0)
    q, k, v = torch.randn(3, 1, 2, 60, 16).unbind(0)
    alive = torch.rand(60) > 0.3
    alive[[7, 8]] = torch.tensor([True, False])
    k[:, :, 7] = q[:, :, 7] * 20  # agent 7 (alive) attends almost only to itself
    k[:, :, 8] = q[:, :, 3] * 20  # agent 8 (dead) would capture agent 3's attention
    mask = torch.zeros(60, 60).fill_diagonal_(float("-inf")).masked_fill(~alive[None, :], float("-inf"))
    exact = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    with torch.inference_mode():
        fast = _attend_to_alive_others(q, k, v, alive)
    torch.testing.assert_close(fast, exact, atol=1e-5, rtol=1e-4)
    # outsiders (queries after the keys) attend to every key
    qq = torch.randn(1, 2, 10, 16)
    out = _attend_to_others(torch.cat([k, qq], 2), k, v)[..., 60:, :]
    torch.testing.assert_close(out, torch.nn.functional.scaled_dot_product_attention(qq, k, v), atol=1e-5, rtol=1e-5)


def test_mlp_keeps_the_sequential_state_dict_and_training_forward():
    """Checkpoints keep their keys (decision.0.weight, ...); with autograd the MLP is the plain Sequential."""
    agent = _agent("iac_t")
    keys = set(agent.state_dict())
    assert {"decision.0.weight", "decision.2.weight", "decision.4.bias", "extractor.fc.0.weight"} <= keys
    x = torch.randn(2, 300, agent.cfg.hidden)
    plain = nn.Sequential(*agent.decision)
    y = agent.decision(x)
    assert y.requires_grad
    torch.testing.assert_close(y, plain(x))
    with torch.inference_mode(), acting():
        torch.testing.assert_close(agent.decision(x).clone(), y.detach(), atol=1e-5, rtol=1e-5)
    assert all(isinstance(m, (Linear, nn.ReLU)) for m in agent.decision)
