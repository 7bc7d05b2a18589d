"""PPO pieces and IaC's action value attribution on hand-checkable numbers."""

import numpy as np
import pytest
import torch

from multiexec.algos.advantages import attribution_advantages
from multiexec.algos.ppo import PPOConfig, collect_rollout, ppo_loss
from multiexec.algos.rl import clipped_surrogate, gae, normalise
from multiexec.execution.env import F_NOW, F_SEQ, MultiOrderEnv
from multiexec.policies.agents import AgentConfig, ExecAgent
from multiexec.testing import TINY_EXEC

torch.set_num_threads(1)


def test_gae_by_hand():
    # one agent, T = 3, gamma = 1, lambda = 0.5
    r = torch.tensor([[[1.0], [0.0], [2.0]]])
    v = torch.tensor([[[0.5], [1.0], [1.5]]])
    adv, ret = gae(r, v, gamma=1.0, lam=0.5)
    d2 = 2.0 - 1.5
    d1 = 0.0 + 1.5 - 1.0
    d0 = 1.0 + 1.0 - 0.5
    a2, a1 = d2, d1 + 0.5 * d2
    a0 = d0 + 0.5 * a1
    torch.testing.assert_close(adv[0, :, 0], torch.tensor([a0, a1, a2]))
    torch.testing.assert_close(ret, adv + v)
    # lambda = 1: the advantage is the Monte-Carlo return minus the value
    adv1, _ = gae(r, v, gamma=1.0, lam=1.0)
    torch.testing.assert_close(adv1[0, :, 0], torch.tensor([3.0, 2.0, 2.0]) - v[0, :, 0])


def test_attribution_by_hand():
    # K = 3 rounds; Q̂(s, a1) = 1, Q̂(s, a2) = 3, value of the executed a3 = 2.5
    q_int = torch.tensor([[1.0], [3.0]])
    q_final = torch.tensor([2.5])
    adv = attribution_advantages(q_int, q_final)
    torch.testing.assert_close(adv[:, 0], torch.tensor([1.0, 2.0, -0.5]))  # Q(a1)-0, Q(a2)-Q(a1), Q(a3)-Q(a2)
    assert float(adv.sum()) == pytest.approx(2.5)  # the attribution distributes Q(s, a_K) over the rounds
    # K = 1: the only round gets the whole value (Q̂(s, a_0) = 0)
    torch.testing.assert_close(attribution_advantages(q_int[:0], q_final), q_final.unsqueeze(0))


def test_clipped_surrogate_by_hand():
    old = torch.zeros(2, 2)
    new = torch.log(torch.tensor([[1.5, 0.5], [1.0, 1.1]]))
    adv = torch.tensor([[1.0, -1.0], [2.0, 4.0]])
    mask = torch.tensor([[True, True], [True, False]])
    # round 1: min(1.5, 1.2) = 1.2 ; min(-0.5, -0.8) = -0.8 -> mean 0.2 ; round 2: only ratio 1 * 2 = 2
    out = clipped_surrogate(new, old, adv, mask, clip=0.2)
    assert float(out) == pytest.approx((0.2 + 2.0) / 2)


def test_normalise_per_round_over_mask():
    adv = torch.tensor([[1.0, 3.0, 100.0], [2.0, 2.0, 5.0]])
    mask = torch.tensor([[True, True, False], [True, True, True]])
    out = normalise(adv, mask)
    torch.testing.assert_close(out[0, :2], torch.tensor([-1.0, 1.0]), atol=1e-6, rtol=0)
    assert float(out[1].mean()) == pytest.approx(0.0, abs=1e-6)


def _rollout(method, tiny_random, intentions="soft"):
    ds = tiny_random
    env = MultiOrderEnv(ds.bars, ds.orders, TINY_EXEC)
    torch.manual_seed(0)
    agent = ExecAgent(AgentConfig(method=method, f_seq=F_SEQ, f_now=F_NOW, intentions=intentions))
    roll = collect_rollout(env, agent, np.array([0, 1, 2, 3]), reward_scale=100.0)
    return agent, roll


@pytest.mark.parametrize("method,intentions", [("ppo", "soft"), ("tarmac", "soft"), ("is", "soft"), ("iac_t", "soft"),
                                               ("iac_t", "sampled")])
def test_recomputed_log_probs_match_the_rollout(method, intentions, tiny_random):
    """Before any update the PPO ratio is exactly 1: the training-time forward reproduces the acting one."""
    agent, roll = _rollout(method, tiny_random, intentions)
    adv, ret = gae(roll.rewards, roll.values, 1.0, 0.9)
    _, stats = ppo_loss(agent, roll, torch.arange(4), adv, ret, PPOConfig())
    assert abs(stats["approx_kl"]) < 1e-6


def test_iac_loss_on_a_hand_checkable_batch(tiny_random):
    """Sampled intentions: at ratio 1 the IaC policy gradient equals that of -1/K sum_k mean(normalised A_k * log pi_k)."""
    agent, roll = _rollout("iac_t", tiny_random, "sampled")
    cfg = PPOConfig(value_coef=0.0, q_coef=0.0, entropy_coef=0.0)
    adv, ret = gae(roll.rewards, roll.values, 1.0, 0.9)
    days = torch.arange(4)
    loss, _ = ppo_loss(agent, roll, days, adv, ret, cfg)
    grads = torch.autograd.grad(loss, agent.decision[0].weight)[0]

    # the same by hand: Q̂ of the intended actions, attribution, per-round normalisation, REINFORCE form
    T, N = roll.now.shape[1:3]
    S = 4 * T
    h0 = agent.encode_episode(roll.seq, roll.now).reshape(S, N, -1)
    alive = roll.active.reshape(S, N)
    given = roll.actions.reshape(3, S, N)
    acting = alive & (torch.arange(T).repeat(4) < T - 1).unsqueeze(1)
    with torch.no_grad():
        q1, q2 = agent.qhat(h0, given[0], alive), agent.qhat(h0, given[1], alive)
    raw = torch.stack([q1, q2 - q1, ret.reshape(S, N) - q2])
    dec = agent.decide(h0, alive, given=given)
    logp = torch.distributions.Categorical(logits=dec.logits).log_prob(given)
    terms = []
    for k in range(3):
        a = raw[k][acting]
        a = (a - a.mean()) / (a.std(unbiased=False) + 1e-8)
        terms.append((a * logp[k][acting]).mean())
    by_hand = -torch.stack(terms).mean()
    grads_hand = torch.autograd.grad(by_hand, agent.decision[0].weight)[0]
    torch.testing.assert_close(grads, grads_hand, atol=1e-6, rtol=1e-4)


def test_soft_iac_loss_on_a_hand_checkable_batch(tiny_random):
    """Soft intentions: at ratio 1 the policy gradient equals that of
    -mean(Â_K log pi_K(a_K)) - c/(K-1) sum_{k<K} mean(sum_a pi_k(a) (Q̂_k(a) - E_{pi_k} Q̂_k) / s),
    with A_K = G - E_{pi_{K-1}} Q̂, Â_K = (A_K - mean) / s and Q̂_k scored against the others' pi_k."""
    from multiexec.policies.nets import mean_of_others

    agent, roll = _rollout("iac_t", tiny_random, "soft")
    c = 0.7
    cfg = PPOConfig(value_coef=0.0, q_coef=0.0, entropy_coef=0.0, intent_coef=c)
    adv, ret = gae(roll.rewards, roll.values, 1.0, 0.9)
    loss, _ = ppo_loss(agent, roll, torch.arange(4), adv, ret, cfg)
    grads = torch.autograd.grad(loss, agent.decision[0].weight)[0]

    T, N = roll.now.shape[1:3]
    S, A = 4 * T, agent.cfg.n_actions
    h0 = agent.encode_episode(roll.seq, roll.now).reshape(S, N, -1)
    alive = roll.active.reshape(S, N)
    given = roll.actions.reshape(3, S, N)
    acting = alive & (torch.arange(T).repeat(4) < T - 1).unsqueeze(1)
    dec = agent.decide(h0, alive, given=given)
    probs = torch.softmax(dec.logits[:2], -1)

    def q_every(p):  # Q̂(s, own action a, others' mean intention) for each a, the slow way
        with torch.no_grad():
            others = mean_of_others(p, alive)
            cols = [agent.qhat.net(torch.cat([h0, torch.nn.functional.one_hot(torch.full((S, N), a), A).float(),
                                              others], -1)).squeeze(-1) for a in range(A)]
        return torch.stack(cols, -1)

    q2 = q_every(probs[1].detach())
    raw = ret.reshape(S, N) - (probs[1].detach() * q2).sum(-1)
    a = raw[acting]
    s = a.std(unbiased=False) + 1e-8
    logp = torch.distributions.Categorical(logits=dec.logits[2]).log_prob(given[2])
    pg = (((a - a.mean()) / s) * logp[acting]).mean()
    intent = []
    for k in range(2):
        q = q_every(probs[k].detach())
        q = (q - (probs[k].detach() * q).sum(-1, keepdim=True)) / s
        intent.append((probs[k] * q).sum(-1)[acting].mean())
    by_hand = -(pg + c * torch.stack(intent).mean())
    grads_hand = torch.autograd.grad(by_hand, agent.decision[0].weight)[0]
    torch.testing.assert_close(grads, grads_hand, atol=1e-6, rtol=1e-4)
