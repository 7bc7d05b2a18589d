"""Networks of the learned agents: masks, permutation equivariance, history encoding, save/load."""

import numpy as np
import pytest
import torch

from multiexec.execution.env import F_NOW, F_SEQ, MultiOrderEnv
from multiexec.policies.agents import AgentConfig, ExecAgent, NeuralPolicy
from multiexec.policies.registry import method_names, methods_where
from multiexec.policies.nets import CommNetChannel, TarMACChannel

torch.set_num_threads(1)


def _agent(method: str, seed: int = 0, **kw) -> ExecAgent:
    torch.manual_seed(seed)
    return ExecAgent(AgentConfig(method=method, f_seq=F_SEQ, f_now=F_NOW, **kw)).eval()


def _inputs(S=2, N=5, seed=1):
    g = torch.Generator().manual_seed(seed)
    seq = torch.randn(S, N, 13, F_SEQ, generator=g)
    now = torch.randn(S, N, F_NOW, generator=g)
    alive = torch.ones(S, N, dtype=torch.bool)
    alive[0, 1] = False  # one finished agent
    return seq, now, alive


def _decide(agent, seq, now, alive, t=4):
    with torch.no_grad():
        h0 = agent.encode(seq, now, t)
        return agent.decide(h0, alive, greedy=True)


@pytest.mark.parametrize("method", method_names())
def test_padded_agent_changes_nothing_for_the_others(method):
    agent = _agent(method)
    seq, now, alive = _inputs()
    base = _decide(agent, seq, now, alive)
    # add a padded agent with arbitrary (even huge) features in the middle of the others
    seq2 = torch.cat([seq[:, :2], 50 * torch.randn(2, 1, 13, F_SEQ), seq[:, 2:]], dim=1)
    now2 = torch.cat([now[:, :2], 50 * torch.randn(2, 1, F_NOW), now[:, 2:]], dim=1)
    alive2 = torch.cat([alive[:, :2], torch.zeros(2, 1, dtype=torch.bool), alive[:, 2:]], dim=1)
    padded = _decide(agent, seq2, now2, alive2)
    keep = [0, 1, 3, 4, 5]
    torch.testing.assert_close(padded.logits[:, :, keep], base.logits, atol=1e-5, rtol=1e-5)
    assert torch.equal(padded.actions[:, :, keep], base.actions)
    if base.value is not None:
        torch.testing.assert_close(padded.value[:, keep], base.value, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("method", methods_where(communicates=True))
def test_finished_agent_neither_sends_nor_receives(method):
    agent = _agent(method)
    seq, now, alive = _inputs()
    base = _decide(agent, seq, now, alive)
    # changing the finished agent's observation changes nothing for the alive ones
    seq2, now2 = seq.clone(), now.clone()
    seq2[0, 1] += 3.0
    now2[0, 1] -= 2.0
    other = _decide(agent, seq2, now2, alive)
    alive_idx = [0, 2, 3, 4]
    torch.testing.assert_close(other.logits[:, 0, alive_idx], base.logits[:, 0, alive_idx], atol=1e-5, rtol=1e-5)
    # and the finished agent receives nothing: its decision equals the one it makes alone
    alone = _decide(agent, seq[:1, 1:2], now[:1, 1:2], torch.zeros(1, 1, dtype=torch.bool))
    torch.testing.assert_close(base.logits[:, 0, 1], alone.logits[:, 0, 0], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("channel", [CommNetChannel(12, 16), TarMACChannel(12, 16, heads=4)])
def test_channels_are_permutation_equivariant(channel):
    torch.manual_seed(0)
    x = torch.randn(3, 7, 12)
    alive = torch.rand(3, 7) > 0.3
    perm = torch.randperm(7)
    out = channel(x, alive)
    out_p = channel(x[:, perm], alive[:, perm])
    torch.testing.assert_close(out_p, out[:, perm], atol=1e-5, rtol=1e-5)


def test_channel_with_a_single_alive_agent_gets_no_message():
    torch.manual_seed(0)
    for ch in (CommNetChannel(6, 8), TarMACChannel(6, 8, heads=2)):
        x = torch.randn(1, 3, 6)
        alive = torch.tensor([[True, False, False]])
        out = ch(x, alive)
        assert torch.isfinite(out).all()
        alone = ch(x[:, :1], alive[:, :1])
        torch.testing.assert_close(out[:, 0], alone[:, 0])


def test_tarmac_channel_trains_after_acting_in_inference_mode():
    """Acting (NeuralPolicy, inference mode) before training with every agent alive must not leave an
    inference tensor in the channel's mask cache: backward through the channel has to work afterwards."""
    torch.manual_seed(0)
    ch = TarMACChannel(8, 16, heads=2)
    x = torch.randn(3, 4, 8)
    alive = torch.ones(3, 4, dtype=torch.bool)
    with torch.inference_mode():
        acted = ch(x, alive)
    out = ch(x.clone().requires_grad_(), alive)
    out.sum().backward()
    assert ch.self_lin.weight.grad is not None
    torch.testing.assert_close(out.detach(), acted.clone())


def test_tarmac_acting_shortcut_equals_the_masked_attention():
    """Acting without autograd, TarMAC attends over the others from one unmasked pass minus the self weight; it
    must equal the masked attention of training, also where an agent's self weight dominates (exact fallback)."""
    from multiexec.policies.nets import _attend_to_others

    torch.manual_seed(0)
    ch = TarMACChannel(8, 16, heads=2)
    x = torch.randn(3, 50, 8)
    alive = torch.ones(3, 50, dtype=torch.bool)
    with torch.no_grad():
        fast = ch(x, alive)
    torch.testing.assert_close(fast, ch(x, alive), atol=1e-5, rtol=1e-4)  # grad enabled: the masked kernel
    q, k, v = torch.randn(3, 1, 3, 50, 16).unbind(0)
    k[:, :, 7] = q[:, :, 7] * 20  # agent 7 attends almost only to itself
    mask = torch.zeros(50, 50).fill_diagonal_(float("-inf"))
    exact = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    torch.testing.assert_close(_attend_to_others(q, k, v, mask), exact, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("method", ["iac_t", "tarmac"])
def test_agent_is_permutation_equivariant(method):
    agent = _agent(method)
    seq, now, alive = _inputs(N=6)
    perm = torch.tensor([3, 0, 5, 1, 4, 2])
    a = _decide(agent, seq, now, alive)
    b = _decide(agent, seq[:, perm], now[:, perm], alive[:, perm])
    torch.testing.assert_close(b.logits, a.logits[:, :, perm], atol=1e-5, rtol=1e-5)


def test_stepwise_and_episode_encodings_agree(random_market):
    """h0 computed at each step from the observation equals h0 from the finished day's history."""
    bars, orders = random_market
    env = MultiOrderEnv(bars, orders)
    agent = _agent("iac_t")
    obs = env.reset([0, 1, 2])
    stepwise, nows = [], []
    done = False
    rng = np.random.default_rng(0)
    while not done:
        seq, now = torch.from_numpy(obs.seq), torch.from_numpy(obs.now)
        with torch.no_grad():
            stepwise.append(agent.encode(seq, now, obs.t))
        nows.append(now)
        obs, *_, done, _ = env.step(rng.integers(0, env.n_actions, obs.mask.shape))
    with torch.no_grad():
        ep = agent.encode_episode(torch.from_numpy(obs.seq), torch.stack(nows, 1))
    torch.testing.assert_close(ep, torch.stack(stepwise, 1), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("method", method_names())
def test_save_load_round_trip(method, tmp_path):
    agent = _agent(method, seed=3)
    seq, now, alive = _inputs()
    before = _decide(agent, seq, now, alive)
    agent.save(tmp_path / "a.pt")
    loaded = ExecAgent.load(tmp_path / "a.pt").eval()
    after = _decide(loaded, seq, now, alive)
    assert loaded.cfg == agent.cfg
    torch.testing.assert_close(after.logits, before.logits)


def test_load_rejects_a_missing_or_foreign_file(tmp_path):
    from multiexec.errors import MultiexecError

    with pytest.raises(MultiexecError, match="not found"):
        ExecAgent.load(tmp_path / "none.pt")
    torch.save({"weights": 1}, tmp_path / "x.pt")
    with pytest.raises(MultiexecError, match="not a multiexec agent"):
        ExecAgent.load(tmp_path / "x.pt")


def test_config_rejects_unknown_method_and_keys():
    with pytest.raises(ValueError, match="unknown method"):
        AgentConfig(method="maddpg", f_seq=2, f_now=2)
    with pytest.raises(ValueError):
        AgentConfig(method="ppo", f_seq=2, f_now=2, hiden=3)


def test_iac_rounds_override_and_intended_actions(random_market):
    bars, orders = random_market
    env = MultiOrderEnv(bars, orders)
    pol = NeuralPolicy(_agent("iac_t", rounds=3))
    obs = env.reset([0, 1])
    a = pol.act(obs)
    assert pol.intended.shape == (3, *obs.mask.shape)
    assert np.array_equal(a, pol.intended[-1])
    pol1 = NeuralPolicy(pol.agent, rounds=1)
    pol1.act(obs)
    assert pol1.intended.shape[0] == 1
    assert np.array_equal(pol1.intended[0], pol.intended[0])  # round 1 does not depend on later rounds


def test_carried_history_state_equals_a_full_rescan(random_market):
    """NeuralPolicy carries the GRU state within a day; its decisions equal those of a full history scan."""
    bars, orders = random_market
    env = MultiOrderEnv(bars, orders)
    agent = _agent("iac_t", seed=5)
    pol = NeuralPolicy(agent, greedy=False)
    obs = env.reset([0, 1, 2, 3])
    done = False
    while not done:
        seq, now, alive = torch.from_numpy(obs.seq), torch.from_numpy(obs.now), torch.from_numpy(obs.active)
        torch.manual_seed(obs.t)
        a = pol.act(obs)
        torch.manual_seed(obs.t)
        with torch.no_grad():
            ref = agent.decide(agent.encode(seq, now, obs.t), alive, with_value=False)
        assert np.array_equal(a, ref.actions[-1].numpy())
        assert torch.allclose(pol._hist, agent.extractor.history(seq, obs.t), atol=1e-5)
        obs, *_, done, _ = env.step(a)


def test_acting_linear_runs_in_onednn_with_the_same_numbers(monkeypatch):
    """Inside nets.acting() a Linear's float32 no-grad forward goes to oneDNN (counted here) and equals F.linear;
    outside it, with autograd on, or under autocast it does not."""
    from multiexec.policies import nets

    if nets._onednn_linear is None:
        pytest.skip("this PyTorch build has no oneDNN linear")
    calls = []
    real = nets._onednn_linear
    monkeypatch.setattr(nets, "_onednn_linear", lambda *a: calls.append(1) or real(*a))
    torch.manual_seed(0)
    for bias in (True, False):
        lin = nets.Linear(7, 5, bias=bias)
        x = torch.randn(2, 150, 7)  # 300 rows: above the size where oneDNN starts to pay
        ref = torch.nn.functional.linear(x, lin.weight, lin.bias)
        with torch.no_grad():
            lin(x)
            assert not calls
            with nets.acting():
                out = lin(x)
            assert len(calls) == 1
            calls.clear()
        assert torch.allclose(out, ref, atol=1e-6)
        with nets.acting():
            y = lin(x)  # autograd on: F.linear, differentiable
            with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
                lin(x)
        assert not calls and y.requires_grad
    with torch.no_grad(), nets.acting():
        nets.Linear(7, 5)(torch.randn(3, 7))  # a few rows: MKL
    assert not calls
