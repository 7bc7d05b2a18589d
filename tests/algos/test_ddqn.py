import pytest
import torch
from torch import nn

from multiexec.algos.rl import (DDQNConfig, DoubleDQN, ReplayMemory, VmapEnsemble, best_candidate, clip_per_member,
                                  masked_argmax, uniform_explore)
from multiexec.errors import MultiexecError


def test_replay_drop_oldest_half_and_ring():
    m = ReplayMemory(2, 4, drop_oldest_half=True)
    for i in range(5):
        m.add(x=torch.full((2, 1), float(i)))
    assert len(m) == 3 and m.data["x"][0, :3].tolist() == [2.0, 3.0, 4.0]
    r = ReplayMemory(1, 4, drop_oldest_half=False)
    for i in range(6):
        r.add(x=torch.full((1, 1), float(i)))
    assert len(r) == 4 and sorted(r.data["x"][0].tolist()) == [2.0, 3.0, 4.0, 5.0]
    s = m.sample(50, torch.Generator().manual_seed(0))["x"]
    assert s.shape == (2, 50) and set(s.unique().tolist()) <= {2.0, 3.0, 4.0}
    with pytest.raises(MultiexecError, match="fields"):
        m.add(y=torch.zeros(2, 1))


def test_masked_argmax_and_uniform_explore():
    q = torch.tensor([[[5.0, 1.0, 3.0]]])
    mask = torch.tensor([[[False, True, True]]])
    assert masked_argmax(q, mask).item() == 2
    g = torch.Generator().manual_seed(0)
    picks = torch.stack([uniform_explore(None, None, mask.expand(1, 200, 3), g) for _ in range(2)])
    assert set(picks.unique().tolist()) == {1, 2}


def test_per_member_clipping():
    w = nn.Parameter(torch.zeros(2, 3))
    w.grad = torch.tensor([[3.0, 4.0, 0.0], [0.3, 0.4, 0.0]])
    norms = clip_per_member([w], 1.0, 2)
    assert norms.tolist() == pytest.approx([5.0, 0.5])
    assert w.grad[0].norm().item() == pytest.approx(1.0, abs=1e-5)
    assert w.grad[1].tolist() == pytest.approx([0.3, 0.4, 0.0])


def test_args_validation():
    with pytest.raises(MultiexecError, match="batch_size"):
        DDQNConfig(batch_size=100, buffer_size=10)
    with pytest.raises(MultiexecError, match="epsilon"):
        DDQNConfig(epsilon_start=2.0)


def _two_actions(obs):
    """Candidates 0 and 1, both valid, for every state."""
    return torch.arange(2.0).expand(*obs.shape[:-1], 2), torch.ones(*obs.shape[:-1], 2, dtype=torch.bool)


class _Tabular(nn.Module):
    """Ensemble of tabular Q(s, a): obs is a one-hot state, cand are action indices."""

    def __init__(self, E: int, S: int, A: int) -> None:
        super().__init__()
        self.table = nn.Parameter(torch.zeros(E, S, A))

    def forward(self, obs, cand):
        q = torch.einsum("ebs,esa->eba", obs, self.table)
        return q.gather(-1, cand.long())


def _chain_env_run(agent, E, steps, gen):
    """Two-step chain: s0 -> (a0: r=1, a1: r=0) -> s1 -> (a0: r=0, a1: r=2) -> end. Optimal: a0 then a1 (return 3)."""
    eye = torch.eye(2)
    cand_fn = _two_actions
    for _ in range(steps):
        for s in (0, 1):
            obs = eye[s].expand(E, 1, 2)
            cand, mask = cand_fn(obs)
            a = agent.act(obs, cand, mask)
            r = torch.where(a == 0, 1.0, 0.0) if s == 0 else torch.where(a == 1, 2.0, 0.0)
            nxt = eye[1].expand(E, 1, 2) if s == 0 else eye[0].expand(E, 1, 2)
            agent.observe(obs, a.float(), r, nxt, torch.full((E, 1), float(s == 1)))
    return cand_fn


def test_ddqn_learns_two_step_chain_for_every_member():
    E = 3
    cand_fn = _two_actions
    args = DDQNConfig(learning_rate=0.05, batch_size=16, buffer_size=200, target_network_frequency=10,
                    epsilon_decay=0.9, epsilon_decay_every=10)
    agent = DoubleDQN(_Tabular(E, 2, 2), args, cand_fn, seed=0)
    _chain_env_run(agent, E, 400, None)
    table = agent.q.table.detach()
    assert torch.all(table[:, 0].argmax(-1) == 0) and torch.all(table[:, 1].argmax(-1) == 1)
    assert table[:, 0, 0] == pytest.approx(torch.full((E,), 3.0), abs=0.2)  # 1 + gamma * 2 with gamma = 1
    assert agent.epsilon < 0.01


def test_ddqn_deterministic_and_vmap_ensemble():
    def make():
        return _MLP()

    cand_fn = _two_actions
    outs = []
    for _ in range(2):
        torch.manual_seed(0)
        net = VmapEnsemble(make, 2)
        agent = DoubleDQN(net, DDQNConfig(batch_size=4, buffer_size=50), cand_fn, seed=1)
        _chain_env_run(agent, 2, 20, None)
        outs.append(net(torch.eye(2).expand(2, 2, 2), torch.arange(2.0).expand(2, 2, 2)).detach())
    assert outs[0].shape == (2, 2, 2) and torch.equal(outs[0], outs[1])
    assert not torch.equal(outs[0][0], outs[0][1])  # members are independent


class _MLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.f = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 1))

    def forward(self, obs, cand):
        x = torch.cat([obs.unsqueeze(-2).expand(*cand.shape, obs.shape[-1]), cand.unsqueeze(-1)], -1)
        return self.f(x).squeeze(-1)


def test_replay_add_many_equals_one_by_one():
    for drop in (True, False):
        x = torch.arange(23.0).view(1, 23, 1).expand(2, 23, 1) + torch.tensor([[[0.0]], [[100.0]]])
        a, b = ReplayMemory(2, 8, drop_oldest_half=drop), ReplayMemory(2, 8, drop_oldest_half=drop)
        for start, n in ((0, 3), (3, 11), (14, 1), (15, 8)):  # chunks that cross the drops / wrap-arounds
            a.add(x=x[:, start:start + n], r=x[:, start:start + n, 0])
        for i in range(23):
            b.add(x=x[:, i:i + 1], r=x[:, i:i + 1, 0])
        assert len(a) == len(b) and a._pos == b._pos
        assert torch.equal(a.data["x"], b.data["x"]) and torch.equal(a.data["r"], b.data["r"])


def test_best_candidate_equals_masked_argmax():
    g = torch.Generator().manual_seed(0)
    net = _Tabular(3, 4, 7)
    with torch.no_grad():
        net.table.copy_(torch.randn(3, 4, 7, generator=g))
    obs = torch.eye(4)[torch.randint(0, 4, (3, 9), generator=g)]
    cand = torch.arange(7.0).expand(3, 9, 7)
    mask = torch.rand(3, 9, 7, generator=g) < 0.4
    mask[..., 2] |= ~mask.any(-1)  # every row has a valid candidate
    mask[0, 0] = False
    mask[0, 0, 5] = True  # a single valid candidate: chosen without scoring
    full = masked_argmax(net(obs, cand), mask)
    assert torch.equal(best_candidate(net, obs, cand, mask), full)
    need = torch.rand(3, 9, generator=g) < 0.5
    got = best_candidate(net, obs, cand, mask, need)
    assert torch.equal(got[need], full[need])
    assert torch.equal(got[~need], mask.to(torch.uint8).argmax(-1)[~need])  # first valid candidate
    assert best_candidate(net, obs, cand, mask, torch.zeros(3, 9, dtype=torch.bool))[0, 0].item() == 5


def test_transition_schedule_counts_gradient_steps():
    """schedule='transitions': a gradient step per train_frequency transitions (fractions carry over), target copies
    and epsilon decays counted in gradient steps; max_grad_norm=None: no clipping."""
    E = 1
    cand_fn = _two_actions
    args = DDQNConfig(batch_size=4, buffer_size=100, schedule="transitions", train_frequency=3,
                      target_network_frequency=2, epsilon_decay=0.5, epsilon_decay_every=1, max_grad_norm=None)
    agent = DoubleDQN(_Tabular(E, 2, 2), args, cand_fn, seed=0)
    obs = torch.eye(2)[torch.zeros(5, dtype=torch.long)].unsqueeze(0)

    def observe(n):
        return agent.observe(obs[:, :n], torch.zeros(E, n), torch.ones(E, n), obs[:, :n], torch.ones(E, n))

    assert observe(2) == [] and agent.grad_steps == 0  # below one batch: nothing yet (2/3 due)
    assert len(observe(5)) == 2 and agent.grad_steps == 2 and agent.pending == pytest.approx(1 / 3)
    assert agent.epsilon == pytest.approx(0.25) and agent.steps == 0
    assert torch.equal(agent.target.table, agent.q.table)  # copied at gradient step 2


def test_exec_ddqn_config_defaults_and_legacy_names():
    from multiexec.algos.learners import EXEC_DDQN, exec_ddqn_config
    from multiexec.algos.train import TrainConfig

    cfg = TrainConfig(method="ddqn", ddqn={"lr": 1e-3, "target_every": 5, "transitions_per_update": 3})
    assert cfg.ddqn == exec_ddqn_config(learning_rate=1e-3, target_network_frequency=5, train_frequency=3)
    assert TrainConfig(method="ddqn").ddqn == DDQNConfig(**EXEC_DDQN)
    assert TrainConfig(method="ddqn").ddqn.schedule == "transitions"
