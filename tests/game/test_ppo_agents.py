import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from multiexec.algos.rl import best_candidate
from multiexec.game import experiment as ex
from multiexec.game.agents import GameActions, price_range
from multiexec.game.config import RunConfig
from multiexec.game.params import GameParams
from multiexec.game.ppo_agents import GamePolicy
from multiexec.game.theory import expected_is, twap


def test_policy_masks_sales_and_scores_candidates():
    p = GameParams(sigma=1e-3)
    lo, hi = price_range(p, p.sigma)
    pol = GamePolicy(2, p, lo, hi, seed=0)
    obs = torch.tensor([[[5.0, 3.0, 10.0], [7.0, 9.0, 10.0]]] * 2)
    cand, mask = GameActions(p).candidates(obs)
    lp = pol.log_probs(obs, cand, mask)
    assert torch.allclose(lp.exp().sum(-1), torch.ones(2, 2))
    assert torch.all(lp[0, 0, 6:] == float("-inf")) and lp[0, 1, 7].item() == 0.0  # at most q; all of q at the end
    logits = pol(obs, cand)
    assert torch.equal(best_candidate(pol, obs, cand, mask), logits.masked_fill(~mask, -1e9).argmax(-1))


def test_ppo_single_agent_learns_towards_twap():
    # one seller at zero volatility: TWAP is optimal (E[IS] = 0.32 here); the initial, near-uniform policy sells early
    p = GameParams(n_agents=1, sigma=0.0, N=5, T=5, q0=20, coin_toss=False)
    twap_is = float(expected_is(twap(p)[None], p)[0])
    cfg = RunConfig(params=p, algo="ppo", runs=2, train_episodes=400, test_episodes=5, group_size=2)
    tr = ex.train(cfg, progress=False)
    res = ex.run_test_phase(tr, progress=False)
    assert twap_is == pytest.approx(0.32)
    assert tr.train_is[:, :40].mean() > twap_is + 0.12  # about 0.51
    assert res.test_is.mean() < twap_is + 0.05
    assert np.array_equal(tr.train_is, ex.train(cfg, progress=False).train_is)  # seeded


def test_cli_run_ppo(tmp_path):
    from multiexec.game.cli import app

    r = CliRunner().invoke(app, ["run", "--agent", "ppo", "--runs", "2", "--train-episodes", "20", "--test-episodes",
                                 "5", "--workers", "1", "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert "ppo" in (tmp_path / "summary.csv").read_text()
    r = CliRunner().invoke(app, ["run", "--agent", "sarsa", "--out", str(tmp_path)])
    assert r.exit_code != 0 and "sarsa" in str(r.exception)
