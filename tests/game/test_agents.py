import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from multiexec.game.agents import GameActions, GameQNet, price_range
from multiexec.game.analysis import benchmarks, summary
from multiexec.game import experiment as ex
from multiexec.game.config import AgentConfig, RunConfig
from multiexec.game.experiment import reward
from multiexec.game.params import GameParams

P = GameParams(sigma=1e-3)


def _obs(q, t, S=10.0):
    return torch.tensor([[[q, t, S]]], dtype=torch.float32)


def test_candidates_mask_and_last_step():
    a = GameActions(P)
    cand, mask = a.candidates(_obs(7.0, 3))
    assert cand[0, 0, mask[0, 0]].tolist() == list(range(8))
    cand, mask = a.candidates(_obs(7.0, 9))
    assert cand[0, 0, mask[0, 0]].tolist() == [7.0]
    g = GameActions(P, grid=6)
    cand, mask = g.target_candidates(_obs(90.0, 2))
    assert cand[0, 0].tolist() == [0, 18, 36, 54, 72, 90] and mask.all()
    cand, mask = g.target_candidates(_obs(90.0, 9))
    assert cand[0, 0, mask[0, 0]].tolist() == [90.0]
    cand, mask = g.target_candidates(_obs(3.0, 2))  # repeated sales are scored once
    assert cand[0, 0].tolist() == [0, 1, 1, 2, 2, 3] and cand[0, 0, mask[0, 0]].tolist() == [0, 1, 2, 3]


def test_exploration_around_twap():
    a = GameActions(P)
    obs = _obs(60.0, 4).expand(1, 20000, 3)
    cand, mask = a.candidates(obs)
    v = a.explore(obs, cand, mask, torch.Generator().manual_seed(0)).float()
    assert v.min() >= 0 and v.max() <= 60
    inside = v[v > 0]
    assert inside.mean().item() == pytest.approx(13.5, abs=1.0)  # Normal(10, 10) truncated at 0, clipped draws -> 0
    assert (v == 0).float().mean().item() == pytest.approx(0.16, abs=0.02)  # P(round(N(10,10)) < 0) ~ 0.16
    assert torch.all(a.explore(_obs(60.0, 9), cand[:, :1], mask[:, :1], torch.Generator()) == 60)


def test_qnet_shapes_and_normalisation():
    lo, hi = price_range(P, P.sigma)
    net = GameQNet(3, P, lo, hi, seed=0)
    obs = torch.tensor([[[100.0, 0.0, 10.0], [0.0, 9.0, 5.0]]] * 3)
    cand = torch.tensor([[[0.0, 50.0], [0.0, 0.0]]] * 3)
    state, vn = net.normalise(obs, cand)
    assert state[0, 0].tolist() == pytest.approx([1.0, -1.0, 2 * (10 - lo) / (hi - lo) - 1], abs=1e-5)
    assert state[0, 1].tolist() == pytest.approx([-1.0, 1.0, -1.0])  # price clipped
    assert vn[0, 0].tolist() == pytest.approx([-1.0, 0.0]) and vn[0, 1].tolist() == [-1.0, -1.0]
    out = net(obs, cand)
    assert out.shape == (3, 2, 2)
    # the note's network, written plainly: Linear(4,30) -> 5 x [Linear(30,30) + LeakyReLU] -> Linear(30,1)
    x = torch.cat([state.unsqueeze(2).expand(3, 2, 2, 3), vn.unsqueeze(-1)], -1).reshape(3, 4, 4)
    x = x @ net.weights[0] + net.biases[0]
    for W, b in zip(list(net.weights)[1:-1], list(net.biases)[1:-1]):
        x = torch.nn.functional.leaky_relu(x @ W + b)
    ref = (x @ net.weights[-1] + net.biases[-1]).view(3, 2, 2)
    assert torch.allclose(out, ref, atol=1e-5)
    assert not torch.allclose(out[0], out[1])  # independent members


def test_reward_sums_to_minus_is_without_coin():
    p = GameParams(sigma=0.0, coin_toss=False)
    v = torch.full((1, 2), 10.0, dtype=torch.float64)
    S = torch.tensor([10.0], dtype=torch.float64)
    total = 0.0
    for _ in range(10):
        total += reward(S, v, p)
        S = S - p.kappa * 20
    assert total.tolist()[0] == pytest.approx([-11.0, -11.0])


def test_train_and_test_tiny_deterministic():
    cfg = RunConfig(runs=3, train_episodes=12, test_episodes=7, group_size=2,
                    agent=AgentConfig(batch_size=8, buffer_size=40, target_every=5, target_grid=4))
    a = ex.train(cfg, progress=False)
    b = ex.train(cfg, progress=False)
    assert a.train_is.shape == (3, 12, 2) and np.array_equal(a.train_is, b.train_is)
    ra, rb = ex.run_test_phase(a, progress=False, chunk=3), ex.run_test_phase(b, progress=False, chunk=3)
    assert ra.test_is.shape == (3, 7, 2) and np.array_equal(ra.test_is, rb.test_is)
    assert ra.inventory[:, :, 0] == pytest.approx(100) and ra.inventory[:, :, -1] == pytest.approx(0)
    assert ra.trades.sum(-1) == pytest.approx(100)


def test_summary_quadrants_and_fast_slow():
    p = GameParams(sigma=0.0, coin_toss=False)
    b = benchmarks(p, with_front=False)  # TWAP 11, S-Z Nash 11.219
    cents = np.array([[11.1, 11.1], [10.0, 12.5], [12.5, 10.0], [12.0, 12.0]])
    test_is = np.repeat(cents[:, None, :], 3, axis=1)
    inv = np.stack([np.stack([b.twap_inv, b.twap_inv])] * 4)
    inv[1, 0] = b.sz_nash_inv  # run 2: agent 1 faster and pays less
    s = summary(test_is, inv, b)
    assert s["share_collusive_sz_nash"] == 0.25
    assert (s["share_Q1_sz_nash"], s["share_Q2_sz_nash"], s["share_Q3_sz_nash"], s["share_Q4_sz_nash"]) == (
        0.25, 0.25, 0.25, 0.25)
    assert s["mean_IS_agent1"] == pytest.approx(cents[:, 0].mean())
    # run 2's average over agents lies half-way between TWAP and Nash: a tie is not "closer to TWAP"
    assert s["share_avg_schedule_closer_to_twap"] == 0.75
    assert s["share_fast_pays_less"] == 0.25 and s["mean_speed_gap_shares"] > 0


def test_cli_theory_and_run(tmp_path):
    from multiexec.game.cli import app

    r = CliRunner().invoke(app, ["theory", "--episodes", "10"])
    assert r.exit_code == 0 and "11.219" in r.output and "11.828" in r.output and "12.679" in r.output
    r = CliRunner().invoke(app, ["run", "--runs", "2", "--train-episodes", "8", "--test-episodes", "5", "--workers", "1",
                                 "--target-grid", "4", "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    for f in ("run_scatter.png", "run_schedules.png", "run_training.png", "summary.csv", "run.npz"):
        assert (tmp_path / f).exists()


def test_fit_grads_equal_autograd():
    lo, hi = price_range(P, P.sigma)
    net = GameQNet(3, P, lo, hi, seed=1)
    g = torch.Generator().manual_seed(0)
    q = torch.randint(0, 101, (3, 16, 1), generator=g).float()
    t = torch.randint(0, 10, (3, 16, 1), generator=g).float()
    obs = torch.cat([q, t, 10 + 0.1 * torch.randn(3, 16, 1, generator=g)], -1)
    action = torch.round(torch.rand(3, 16, generator=g) * q[..., 0])
    y = torch.randn(3, 16, generator=g) * 5
    loss = net.fit_grads(obs, action, y)
    manual = [p.grad.clone() for p in net.parameters()]
    for p in net.parameters():
        p.grad = None
    ref = ((net(obs, action.unsqueeze(-1)).squeeze(-1) - y) ** 2).mean(1)
    ref.sum().backward()
    assert torch.allclose(loss, ref.detach(), rtol=1e-5)
    for m, p in zip(manual, net.parameters()):
        assert torch.allclose(m, p.grad, rtol=1e-4, atol=1e-6)
