"""The world agent's torch twin, its training pairs and the cWGAN baseline (tiny runs)."""

import numpy as np
import pytest
import torch

from multiexec.errors import MultiexecError
from multiexec.intags.cwgan import CwganArch, TrainSpec, generator_from_checkpoint, load_checkpoint, train_cwgan
from multiexec.intags.world import (Pairs, WorldGenerator, decode, encode_actions, pairs_from_lobster,
                                    pairs_from_orders, soft_actions)
from multiexec.lob import world as W
from multiexec.lob.config import get_config
from multiexec.lob.sim import Simulation
from multiexec.lob.world import WorldWeights
from multiexec.testing import shared_or_skip


def test_torch_twin_gives_the_compiled_agents_orders_for_the_same_noise():
    w = WorldWeights.random(history=5, noise_dim=8, hidden=(48, 32), seed=4)
    # spread the orders over every type and side
    w.layers[-1] = (w.layers[-1][0] * 4, np.array([-6.0, 0.0, 4.0, 0.0, 0.0, 0.0, 0.0]))
    g = np.random.default_rng(0)
    states = g.normal(w.x_mean, w.x_std, (400, w.history * W.N_FEATURES))
    zs = g.standard_normal((400, w.noise_dim))
    par, lay = w.flat()
    cfg = np.array([0, 1000, 60e9, 10_000, 1000, 10], np.float64)
    y_c = np.empty((400, W.N_OUT))
    for i in range(400):
        W.sample_actions(par, lay, states[i], zs[i:i + 1], y_c[i:i + 1])
    twin = WorldGenerator.from_weights(w)
    with torch.no_grad():
        y_t = twin(torch.as_tensor(zs), torch.as_tensor(states)).numpy()
    np.testing.assert_allclose(y_t, y_c, rtol=0, atol=1e-12)
    orders_c = W.decode_many(par, lay, y_c, cfg)
    orders_t = decode(torch.as_tensor(y_t), w.out_norm)
    np.testing.assert_array_equal(orders_t, orders_c)
    assert len(np.unique(orders_c[:, 0])) == 3 and len(np.unique(orders_c[:, 1])) == 2
    # weights survive the round trip through the twin and a file
    back = twin.to_weights()
    assert back.digest() == w.digest()


def test_pairs_from_a_known_message_stream():
    # two warm orders, a buy limit 3 ticks behind the best bid, a sell market order, a cancel, a crossing buy limit
    rows = [  # time_ns, msg, side, price (dollars), size, order_id
        (1_000, "limit", 1, 99.90, 100, 1), (2_000, "limit", -1, 100.10, 200, 2),
        (5_000, "limit", 1, 99.87, 50, 3), (9_000, "market", -1, np.nan, 30, 4),
        (10_000, "cancel", 1, 99.87, 50, 3), (30_000, "limit", 1, 100.10, 20, 5), (31_000, "limit", -1, 100.2, 5, 6)]
    import pandas as pd

    o = pd.DataFrame(rows, columns=["time_ns", "msg", "side", "price", "size", "order_id"])
    p = pairs_from_orders(o, history=2)
    assert len(p) == 6
    np.testing.assert_array_equal(p.orders[:, 0], [W.A_LIMIT, W.A_LIMIT, W.A_LIMIT, W.A_MARKET, W.A_CANCEL,
                                                    W.A_MARKET])
    np.testing.assert_array_equal(p.orders[:, 1], [1, -1, 1, -1, 1, 1])
    # the first sell rests on an empty ask side: its depth counts from one tick above the bid (99.91 -> 100.10)
    np.testing.assert_array_equal(p.orders[:, 3], [0, 19, 3, 0, 3, 0])
    np.testing.assert_array_equal(p.orders[:, 4], [1_000, 3_000, 4_000, 1_000, 20_000, 1_000])
    # state before the market order: bid 100 (99.90) + 50 (99.87) vs ask 200: first-level imbalance -1/3
    s = p.states[3, -1]
    assert s[0] == pytest.approx((100 - 200) / 300) and s[1] == pytest.approx((150 - 200) / 350)
    assert s[4] == pytest.approx(np.log(20)) and s[2] == pytest.approx(np.log1p(300))
    assert s[7] == pytest.approx(np.log1p(4.0))  # 4 us since the previous order
    assert p.states[3, 0, 7] == pytest.approx(np.log1p(3.0))  # one step back in the history
    enc = encode_actions(p.orders, [0, 1, 0, 1, 0, 1])
    assert enc[3, :3].tolist() == [0, 1, 0] and enc[3, 3] == -1


@pytest.fixture(scope="module")
def small_pairs():
    sim = Simulation(get_config("rmsc04", close="09:45:00"), seed=3)
    sim.run(progress=False)
    return pairs_from_orders(sim.orders(), history=3, source="rmsc04 seed 3 15 min")


def test_pairs_from_a_simulated_day_cover_every_order(small_pairs):
    p = small_pairs
    s = p.summary()
    assert s["pairs"] > 5000 and min(s["share_limit"], s["share_market"], s["share_cancel"]) > 0.05
    assert p.states.shape[1:] == (3, W.N_FEATURES) and np.isfinite(p.states).all()
    assert (p.orders[:, W.PA_SIZE] > 0).all() and (p.orders[:, 4] >= 0).all()
    assert p.states[:, -1, 4].min() >= 0  # log spread


ARCH = CwganArch(history=3, noise_dim=4, g_hidden=(16,), d_hidden=(16,))


def test_cwgan_is_deterministic_resumable_and_exports_a_runnable_market(small_pairs, tmp_path):
    spec = TrainSpec(steps=12, batch=64, n_critic=2, seed=5, ckpt_every=6, log_every=3)
    a = train_cwgan(small_pairs, tmp_path / "a", ARCH, spec, progress=False)
    b = train_cwgan(small_pairs, tmp_path / "b", ARCH, spec, progress=False)
    wa, wb = (WorldWeights.load(x.out) for x in (a, b))
    assert wa.digest() == wb.digest() and len(a.losses) == 4
    # resume: 6 steps, then on to 12, gives the same weights as 12 in one go
    half = TrainSpec(**{**spec.__dict__, "steps": 6})
    train_cwgan(small_pairs, tmp_path / "c", ARCH, half, progress=False)
    train_cwgan(small_pairs, tmp_path / "c", ARCH, spec, resume=True, progress=False)
    assert WorldWeights.load(tmp_path / "c").digest() == wa.digest()
    other = train_cwgan(small_pairs, tmp_path / "d", ARCH, TrainSpec(**{**spec.__dict__, "seed": 6}), progress=False)
    assert WorldWeights.load(other.out).digest() != wa.digest()
    # the checkpoint's generator is the exported one
    g = generator_from_checkpoint(tmp_path / "a")
    assert g.to_weights().digest() == wa.digest()
    # another architecture: one line
    with pytest.raises(MultiexecError, match="another architecture") as e:
        load_checkpoint(tmp_path / "a", CwganArch(history=3, noise_dim=4, g_hidden=(32,), d_hidden=(16,)))
    assert "\n" not in str(e.value)
    with pytest.raises(MultiexecError, match="another architecture"):
        train_cwgan(small_pairs, tmp_path / "a", CwganArch(history=3, noise_dim=5, g_hidden=(16,), d_hidden=(16,)),
                    spec, resume=True, progress=False)
    with pytest.raises(MultiexecError, match="not found"):
        load_checkpoint(tmp_path / "nope")
    # its market is a config like any other
    sim = Simulation(get_config(f"world:{a.out}", close="09:31:00"), seed=1)
    sim.run(progress=False)
    assert sim.world_counts()["decisions"] > 0 and set(sim.orders()["agent_type"]) == {"world"}


def test_soft_actions_are_the_critics_view():
    y = torch.tensor([[2.0, 0.0, -1.0, -3.0, 0.5, -0.2, 1.0]])
    s = soft_actions(y)
    assert s[0, :3].sum().item() == pytest.approx(1.0) and s[0, 3].item() == pytest.approx(np.tanh(-3.0))
    assert s[0, 4:].tolist() == pytest.approx([0.5, -0.2, 1.0])


def test_pairs_from_lobster_sample():
    from multiexec.lob.lobster import lobster_samples, read_lobster

    shared_or_skip("lobster_aapl_2012-06-21")
    m, b = lobster_samples()[0]
    data = read_lobster(m, b)
    data.messages = data.messages.iloc[:20_000]
    p = pairs_from_lobster(data, history=2, skip_s=60)
    s = p.summary()
    assert s["pairs"] > 5000 and s["share_market"] > 0.01 and s["share_cancel"] > 0.2
    assert 40_000 < p.r_bar < 70_000  # AAPL at ~$580, in cents
    assert np.isfinite(p.states).all()
    with pytest.raises(MultiexecError, match="pairs"):
        Pairs.concat([])


def test_state_clip_compiled_and_twin_agree_and_never_extrapolate(tmp_path):
    w = WorldWeights.random(history=2, noise_dim=4, hidden=(16,), seed=2)
    w.x_lo, w.x_hi = w.x_mean - 0.5 * w.x_std, w.x_mean + 0.5 * w.x_std
    w.check()
    par, lay = w.flat()
    twin = WorldGenerator.from_weights(w)
    g = np.random.default_rng(1)
    far = w.x_mean + 5 * w.x_std * g.standard_normal((50, len(w.x_mean)))  # mostly outside the range
    zs = g.standard_normal((50, w.noise_dim))
    y_c, y_in = np.empty((50, W.N_OUT)), np.empty((50, W.N_OUT))
    for i in range(50):
        W.sample_actions(par, lay, far[i], zs[i:i + 1], y_c[i:i + 1])
        W.sample_actions(par, lay, np.clip(far[i], w.x_lo, w.x_hi), zs[i:i + 1], y_in[i:i + 1])
    np.testing.assert_array_equal(y_c, y_in)  # a state beyond the range reads as its nearest state inside
    with torch.no_grad():
        y_t = twin(torch.as_tensor(zs), torch.as_tensor(far)).numpy()
    np.testing.assert_allclose(y_t, y_c, rtol=0, atol=1e-12)
    back = WorldWeights.load(w.save(tmp_path / "w.npz"))
    assert back.digest() == w.digest() == twin.to_weights().digest()
    unclipped = WorldWeights.random(history=2, noise_dim=4, hidden=(16,), seed=2)
    assert unclipped.digest() != w.digest()
    bad = WorldWeights.random(history=2, noise_dim=4, hidden=(16,), seed=2)
    bad.x_lo, bad.x_hi = w.x_hi, w.x_lo
    with pytest.raises(MultiexecError, match="x_lo <= x_hi"):
        bad.check()


def test_mirrored_pairs_swap_the_sides(small_pairs):
    m = small_pairs.mirrored()
    n = len(small_pairs)
    assert len(m) == 2 * n and "mirrored" in m.source
    np.testing.assert_array_equal(m.states[:n], small_pairs.states)
    signed = list(W.SIGNED_FEATURES)
    np.testing.assert_array_equal(m.states[n:, :, signed], -small_pairs.states[:, :, signed])
    other = [j for j in range(W.N_FEATURES) if j not in signed]
    np.testing.assert_array_equal(m.states[n:, :, other], small_pairs.states[:, :, other])
    np.testing.assert_array_equal(m.orders[n:, W.PA_SIDE], -small_pairs.orders[:, W.PA_SIDE])
    keep = [j for j in range(5) if j != W.PA_SIDE]
    np.testing.assert_array_equal(m.orders[n:, keep], small_pairs.orders[:, keep])
    assert (m.orders[:, W.PA_SIDE] > 0).mean() == 0.5


def test_cwgan_state_clip_is_the_training_range_and_resume_checks_it(small_pairs, tmp_path):
    spec = TrainSpec(steps=4, batch=64, n_critic=1, seed=1, log_every=2)
    train_cwgan(small_pairs, tmp_path / "a", ARCH, spec, progress=False)
    w = WorldWeights.load(tmp_path / "a")
    s = small_pairs.states.reshape(-1, W.N_FEATURES)
    np.testing.assert_allclose(w.x_lo[:W.N_FEATURES], np.quantile(s, 1e-3, axis=0))
    np.testing.assert_allclose(w.x_hi[-W.N_FEATURES:], np.quantile(s, 1 - 1e-3, axis=0))
    none = train_cwgan(small_pairs, tmp_path / "b", ARCH, TrainSpec(**{**spec.__dict__, "state_clip": 0.0}),
                       progress=False)
    assert WorldWeights.load(none.out).x_lo is None
    with pytest.raises(MultiexecError, match="state_clip 0.0, not 0.001"):
        train_cwgan(small_pairs, tmp_path / "b", ARCH, TrainSpec(**{**spec.__dict__, "steps": 6}), resume=True,
                    progress=False)
    with pytest.raises(MultiexecError, match="state_clip"):
        TrainSpec(state_clip=0.5).check()
