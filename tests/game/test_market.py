import numpy as np
import pytest
import torch

from multiexec.game.market import market_step, simulate_schedules
from multiexec.game.params import GameParams


def test_step_no_coin_hand_computed():
    p = GameParams(sigma=0.0, coin_toss=False)
    S, recv = market_step(torch.tensor([10.0], dtype=torch.float64), torch.tensor([[20.0, 10.0]], dtype=torch.float64),
                          p, torch.Generator().manual_seed(0))
    assert S.item() == pytest.approx(10 - 0.001 * 30)
    assert recv[0].tolist() == pytest.approx([10 - 0.002 * 20, 10 - 0.002 * 10])


def test_coin_toss_second_pays_first_and_is_fair():
    p = GameParams(sigma=0.0, coin_toss=True)
    B = 20000
    v = torch.tensor([[20.0, 10.0]], dtype=torch.float64).expand(B, 2)
    S, recv = market_step(torch.full((B,), 10.0, dtype=torch.float64), v, p, torch.Generator().manual_seed(0))
    extra = (10 - 0.002 * v) - recv  # permanent impact paid for the earlier trader
    first1 = extra[:, 0] == 0
    assert torch.allclose(extra[first1, 1], torch.tensor(0.001 * 20, dtype=torch.float64))
    assert torch.allclose(extra[~first1, 0], torch.tensor(0.001 * 10, dtype=torch.float64))
    assert torch.all(extra[first1, 0] == 0) and torch.all(extra[~first1, 1] == 0)
    assert first1.double().mean().item() == pytest.approx(0.5, abs=0.02)


def test_random_order_three_agents():
    p = GameParams(n_agents=3, sigma=0.0, coin_toss=True)
    B = 30000
    v = torch.tensor([[1.0, 2.0, 4.0]], dtype=torch.float64).expand(B, 3)
    _, recv = market_step(torch.full((B,), 10.0, dtype=torch.float64), v, p, torch.Generator().manual_seed(0))
    before = ((10 - 0.002 * v) - recv) / 0.001
    # agent 0 pays for a subset of {2, 4}: expectation (2+4)/2
    assert before[:, 0].mean().item() == pytest.approx(3.0, abs=0.05)
    assert set(torch.round(before[:, 0]).unique().tolist()) == {0.0, 2.0, 4.0, 6.0}


def test_volatility_and_buy_side():
    p = GameParams(sigma=0.05)
    sched = torch.tensor(np.full((2, 10), 10.0))
    is_ = simulate_schedules(sched, p, 5000, seed=0)
    assert is_.std(0).mean().item() > 0.5 and is_.mean().item() == pytest.approx(11.5, abs=0.3)
    pb = GameParams(sigma=0.0, side="buy", coin_toss=False)
    assert simulate_schedules(sched, pb, 2).numpy() == pytest.approx(np.full((2, 2), 11.0))


def test_deterministic_by_seed():
    p = GameParams(sigma=0.01)
    sched = torch.tensor(np.full((2, 10), 10.0))
    assert torch.equal(simulate_schedules(sched, p, 50, seed=3), simulate_schedules(sched, p, 50, seed=3))
