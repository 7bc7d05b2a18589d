"""INTAGS Algorithm 1 (issue 11, item 4): the REINFORCE update, null controls, determinism, runners, bad input.

Everything runs on a tiny random world agent (hidden 16, an order every ~0.1 s) and a synthetic real feedback, so a
calibration iteration costs well under a second."""

import importlib.util

import numpy as np
import pytest
import torch

from multiexec.errors import MultiexecError
from multiexec.intags import calibrate as C
from multiexec.intags.rollouts import AgentSpec, cache_key, save_logs
from multiexec.intags.world import WorldGenerator
from multiexec.lob import world as W
from multiexec.lob.world import N_OUT, WorldWeights

AGENT = AgentSpec(n_steps=3, step_s=20.0, warmup_s=10.0)
REAL = np.random.default_rng(0).normal(0.2, 1.0, 60)


def tiny_weights(seed: int = 0) -> WorldWeights:
    w = WorldWeights.random(hidden=(16,), seed=seed)
    w.out_norm = np.array([4.0, 1.0, 5.0, 8.0, np.log1p(1e5), 0.5])  # ~0.1 s between orders
    return w.check()


def spec(**kw):
    base = dict(t0=2, b=2, n_mc=3, iterations=1, lr=1e-2, kde_samples=32, ckpt_every=1)
    return C.make_spec(AGENT, **{**base, **kw})


def run(tmp_path, name, s, warm=None, **kw):
    return C.calibrate(warm or tiny_weights(), tmp_path / name, s, AGENT, runner="serial", real=REAL, progress=False,
                       **kw)


def test_one_iteration_moves_theta_and_the_compiled_agent_uses_the_new_weights(tmp_path):
    res = run(tmp_path, "a", spec(iterations=2))
    rows = res.rows
    assert len(rows) == 2 and all(r["scored"] > 0 and r["step_norm"] > 0 for r in rows)
    saved = WorldWeights.load(tmp_path / "a")
    assert saved.digest() == res.policy.to_weights().digest() != tiny_weights().digest()
    # the compiled forward of the saved weights is the torch twin's
    x = np.random.default_rng(1).normal(size=5 * W.N_FEATURES)
    zs = np.random.default_rng(2).standard_normal((4, saved.noise_dim))
    par, lay = saved.flat()
    out = np.empty((4, N_OUT))
    W.sample_actions(par, lay, x, zs, out)
    with torch.no_grad():
        ref = res.policy.gen(torch.as_tensor(zs), torch.as_tensor(x).reshape(1, -1).expand(4, -1)).numpy()
    np.testing.assert_allclose(out, ref, atol=1e-10)
    assert (tmp_path / "a" / "log.csv").read_text().count("\n") == 3


def test_same_seed_same_theta_and_lr0_leaves_theta_unchanged(tmp_path):
    a = run(tmp_path, "a", spec(seed=3)).policy.to_weights().digest()
    b = run(tmp_path, "b", spec(seed=3)).policy.to_weights().digest()
    c = run(tmp_path, "c", spec(seed=4)).policy.to_weights().digest()
    assert a == b != c
    r0 = run(tmp_path, "z", spec(lr=0.0))
    assert r0.rows[0]["step_norm"] == 0 and r0.rows[0]["grad_norm"] > 0
    assert WorldWeights.load(tmp_path / "z").digest() == tiny_weights().digest()


def test_reinforce_step_is_the_formula_on_mock_scores():
    """Gaussian head: d/d log_s_j of log N(a; mu, s^2) = u_j^2 - 1, so the update of ``log_s`` is known in closed
    form; the KDE policy's update equals -lr * sum_t (1/b) sum_k Q grad log p computed term by term."""
    torch.manual_seed(0)
    gen = WorldGenerator.from_weights(tiny_weights())
    pol = C.GaussianPolicy(gen, log_s=np.linspace(-0.5, 0.5, N_OUT))
    rng = np.random.default_rng(0)
    br = C.Branches(states=[rng.normal(size=(5, W.N_FEATURES)) for _ in range(2)],
                    actions=[rng.normal(size=(3, N_OUT)) for _ in range(2)])
    q = [np.array([0.3, -0.1, 0.7]), np.array([0.2, np.nan, 0.05])]
    s = C.make_spec(AGENT, t0=2, b=3, likelihood="gaussian")
    wts = C.branch_weights(q, s, 0)
    lr = 0.01
    mus = [pol.mean(x).detach().numpy() for x in br.states]
    ls0 = pol.log_s.detach().numpy().copy()
    expect = ls0.copy()
    for t in range(2):
        u = (br.actions[t] - mus[t]) / np.exp(ls0)
        expect -= lr * (wts[t][:, None] * (u ** 2 - 1)).sum(0) / 3
    C.reinforce_update(pol, br, wts, s, lr, 0)
    np.testing.assert_allclose(pol.log_s.detach().numpy(), expect, rtol=0, atol=1e-12)

    kde = C.KdePolicy(WorldGenerator.from_weights(tiny_weights()))
    sk = C.make_spec(AGENT, t0=2, b=3, kde_samples=16)
    theta = C.flat_params(kde)
    grad = torch.zeros_like(theta)
    for t in range(2):
        for k in range(3):
            if wts[t][k] == 0:
                continue
            kde.zero_grad()
            g = torch.Generator().manual_seed(C.derive_seed(sk.seed, 0, 4, t))
            kde.log_prob(br.states[t], torch.as_tensor(br.actions[t]), 16, g)[k].backward()
            grad += wts[t][k] / 3 * torch.cat([p.grad.reshape(-1) for p in kde.parameters()])
    C.reinforce_update(kde, br, wts, sk, lr, 0)
    torch.testing.assert_close(C.flat_params(kde), theta - lr * grad, rtol=0, atol=1e-12)


def test_branch_weights_paper_loo_and_shuffle():
    q = [np.array([1.0, 2.0, 6.0]), np.array([0.5, np.nan, 1.5])]
    paper = C.branch_weights(q, spec(b=3), 0)
    np.testing.assert_array_equal(paper[1], [0.5, 0.0, 1.5])
    loo = C.branch_weights(q, spec(b=3, baseline="loo"), 0)
    np.testing.assert_allclose(loo[0], [1 - 4, 2 - 3.5, 6 - 1.5])
    np.testing.assert_allclose(loo[1], [-1.0, 0.0, 1.0])
    sh = C.branch_weights(q, spec(b=3, shuffle=True, shuffle_scope="iteration"), 0)
    assert sorted(np.concatenate(sh)) == sorted([1.0, 2.0, 6.0, 0.5, 1.5, 0.0]) and sh[1][1] == 0.0
    # within each branch point (the default): each t keeps its own scores, so the leave-one-out centring is alike
    moved = False
    for it in range(20):
        w = C.branch_weights(q, spec(b=3, shuffle=True, baseline="loo"), it)
        assert sorted(w[0]) == sorted(loo[0]) and sorted(w[1]) == sorted(loo[1]) and w[1][1] == 0.0
        moved |= not np.array_equal(w[0], loo[0])
    assert moved


def test_gaussian_head_export_is_exact():
    pol = C.make_policy("gaussian", WorldGenerator.from_weights(tiny_weights()), [np.zeros((5, W.N_FEATURES))])
    w = pol.to_weights()
    x = np.random.default_rng(3).normal(size=5 * W.N_FEATURES)
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        ref = pol.sample(x, 6, g).numpy()
    zs = torch.randn(6, w.noise_dim, generator=torch.Generator().manual_seed(5), dtype=torch.float64).numpy()
    par, lay = w.flat()
    out = np.empty((6, N_OUT))
    W.sample_actions(par, lay, x, zs, out)
    np.testing.assert_allclose(out, ref, atol=1e-10)
    assert w.hidden == (16 + 2 * N_OUT,)


def test_pool_gives_the_serial_numbers(tmp_path):
    w = tiny_weights()
    pol = C.make_policy("kde", WorldGenerator.from_weights(w))
    s = spec(crn=True)
    with C.Runner("serial") as r:
        a, _, _ = C.collect_branches(pol, s, AGENT, REAL, 0, r)
    with C.Runner("local", workers=2) as r:
        b, _, _ = C.collect_branches(pol, s, AGENT, REAL, 0, r)
    assert a.values == b.values and np.array_equal(np.concatenate(a.q), np.concatenate(b.q), equal_nan=True)
    # common random numbers: the branches at one step share their MC seeds, so they differ only by the action
    assert len(a.values[0][0]) == 3


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray is not installed (pip install -e '.[ray]')")
def test_ray_gives_the_serial_numbers():
    pol = C.make_policy("kde", WorldGenerator.from_weights(tiny_weights()))
    with C.Runner("serial") as r:
        a, _, _ = C.collect_branches(pol, spec(), AGENT, REAL, 0, r)
    with C.Runner("ray", workers=2) as r:
        b, _, _ = C.collect_branches(pol, spec(), AGENT, REAL, 0, r)
    assert a.values == b.values


def test_sliced_rollouts_are_the_plain_ones_and_the_event_cap_drops_a_busy_world():
    from multiexec.intags.feedback import feedback
    from multiexec.intags.rollouts import rollout
    from multiexec.lob.config import world_config

    w = tiny_weights()
    fbs = ["EpisodeReward", "Mkt2NextReturn"]
    got = C._eval_job((w, {}, AGENT.model_dump(), [5, 6], fbs, "hajek", 10**6))
    ref = [[feedback(rollout(world_config(arrays=w), s, AGENT), f) for f in fbs] for s in (5, 6)]
    np.testing.assert_array_equal(np.array(got), np.array(ref))
    assert np.isnan(C._eval_job((w, {}, AGENT.model_dump(), [5], fbs, "hajek", 20))).all()


def test_resume_continues_to_the_same_weights(tmp_path):
    full = run(tmp_path, "full", spec(iterations=2))
    run(tmp_path, "part", spec(iterations=1))
    res = run(tmp_path, "part", spec(iterations=2), resume=True)
    assert res.policy.to_weights().digest() == full.policy.to_weights().digest()
    assert [r["q_mean"] for r in res.rows] == [r["q_mean"] for r in full.rows]


@pytest.mark.parametrize("kw, msg", [
    (dict(n_mc=1), "n_mc"), (dict(b=0), "b:"), (dict(t0=4), "beyond the agent's horizon"),
    (dict(baseline="loo", b=1), "leave-one-out"), (dict(feedback="Foo"), "unknown feedback"),
    (dict(distance="kl"), "unknown distance"), (dict(likelihood="flow"), "likelihood"),
])
def test_bad_settings_are_one_line(kw, msg):
    with pytest.raises(MultiexecError, match=msg) as e:
        spec(**kw)
    assert "\n" not in str(e.value)


def test_bad_checkpoint_and_real_cache_are_one_line(tmp_path):
    run(tmp_path, "a", spec())
    other = WorldWeights.random(hidden=(8,), seed=0)
    with pytest.raises(MultiexecError, match="another architecture") as e:
        run(tmp_path, "a", spec(iterations=2), warm=other, resume=True)
    assert "\n" not in str(e.value)
    with pytest.raises(MultiexecError, match="other settings"):
        run(tmp_path, "a", spec(iterations=2, b=3), resume=True)
    # a real-feedback cache made with another experimental agent
    from multiexec.intags.rollouts import market_config

    s = spec(n_real=2)
    f = tmp_path / "real.npz"
    save_logs(f, cache_key(market_config("rmsc03"), AgentSpec(weights=(0.0, 0.0, 0.0)), [0, 1]), [])
    with pytest.raises(MultiexecError, match="another experimental agent"):
        C.real_feedback(s, AgentSpec(), cache=f)
