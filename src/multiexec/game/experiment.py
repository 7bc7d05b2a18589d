"""Train and test the agents of the execution game (Double DQN as in the paper, or PPO): R independent runs x n
agents batched as one ensemble."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from multiexec.algos.rl import DoubleDQN, best_candidate
from multiexec.game.agents import Episodes, GameActions, GameQNet, price_range
from multiexec.game.config import RunConfig
from multiexec.game.params import GameParams
from multiexec.game.ppo_agents import train_ppo_group


@dataclass
class TrainedAgents:
    """The trained ensembles, one per group of runs (member ``r * n + k`` is agent k of the group's run r).

    ``nets`` score candidate sales, ``forward(obs, cand) -> (E, B, K)``, the greedy action being the best score: Q-values
    (:class:`GameQNet`) or policy logits (:class:`multiexec.game.ppo_agents.GamePolicy`)."""

    config: RunConfig
    nets: list[torch.nn.Module]
    train_is: np.ndarray  # (R, episodes, n)
    train_seconds: float  # wall clock
    group_cpu_seconds: list[float] = field(default_factory=list)  # CPU time of each group's training (its process)


@dataclass
class TestResult:
    """Greedy test phase: IS per run, episode and agent, and the average inventory schedule per run and agent."""

    sigma: float
    test_is: np.ndarray  # (R, episodes, n)
    inventory: np.ndarray  # (R, n, N+1) average remaining inventory
    trades: np.ndarray  # (R, n, N) average trades


def reward(S_prev: torch.Tensor, v: torch.Tensor, p: GameParams) -> torch.Tensor:
    """The note's reward ``r_t = S_{t-1} v_t - alpha v_t^2 / tau - S0 q0 / N`` (sign-flipped for a buyer).

    Without the same-step term the rewards of an episode add up to ``-IS``; with the coin toss they omit it.
    """
    s = p.sign
    return s * (S_prev.unsqueeze(-1) * v - p.S0 * p.q0 / p.N) - p.alpha * v**2 / p.tau


@contextmanager
def one_thread() -> Iterator[None]:
    """Run torch on one thread: the batched matrices are small, and extra threads only spin on a busy CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _groups(cfg: RunConfig) -> list[int]:
    full, rest = divmod(cfg.runs, cfg.group_size)
    return [cfg.group_size] * full + ([rest] if rest else [])


def train(cfg: RunConfig, progress: bool = True, workers: int = 1) -> TrainedAgents:
    """Train ``cfg.runs`` x ``n_agents`` DDQN agents for ``cfg.train_episodes`` episodes.

    Runs are split into groups of ``cfg.group_size`` trained in lock-step as one ensemble; with ``workers > 1`` the
    groups are spread over processes (one thread each). Results depend on the seed and the group size, not on
    ``workers``.
    """
    groups = _groups(cfg)
    t0 = time.perf_counter()
    jobs = [(cfg, g, size, progress) for g, size in enumerate(groups)]
    if workers > 1 and len(groups) > 1:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(min(workers, len(groups)), mp_context=mp.get_context("spawn")) as ex:
            out = list(ex.map(_train_group_job, jobs))
    else:
        with one_thread():
            out = [_timed_group(*job) for job in jobs]
    return TrainedAgents(cfg, [o[0] for o in out], np.concatenate([o[1] for o in out]), time.perf_counter() - t0,
                         [o[2] for o in out])


def _train_group_job(job: tuple) -> tuple[torch.nn.Module, np.ndarray, float]:
    torch.set_num_threads(1)
    return _timed_group(*job)


def _timed_group(*job: object) -> tuple[torch.nn.Module, np.ndarray, float]:
    t0 = time.process_time()
    net, train_is = _train_group(*job)  # type: ignore[arg-type]
    return net, train_is, time.process_time() - t0


def _train_group(cfg: RunConfig, group: int, R: int, progress: bool) -> tuple[torch.nn.Module, np.ndarray]:
    """Train one group of R runs in lock-step (one ensemble of R * n members)."""
    if cfg.algo == "ppo":
        return train_ppo_group(cfg, group, R, progress)
    p, n = cfg.params, cfg.params.n_agents
    seed = cfg.seed * 1000 + 10 * group
    lo, hi = price_range(p, p.sigma)
    qnet = GameQNet(R * n, p, lo, hi, cfg.agent.hidden, cfg.agent.depth, seed=seed)
    actions = GameActions(p, cfg.agent.target_grid)
    agent = DoubleDQN(qnet, cfg.agent.ddqn_args(), actions.candidates, actions.explore, seed=seed + 1,
                      target_candidates_fn=actions.target_candidates)
    gen = torch.Generator().manual_seed(seed + 2)
    train_is = np.zeros((R, cfg.train_episodes, n))
    bar = tqdm(range(cfg.train_episodes), desc=f"train sigma={p.sigma:g} group {group}", disable=not progress,
               mininterval=2.0, position=group)
    for ep in bar:
        game = Episodes(p, R, 1)
        obs = game.obs(0)
        for t in range(p.N):
            cand, mask = actions.candidates(obs)
            v, S_prev, _ = game.step(cand, agent.act(obs, cand, mask), gen)
            r = reward(S_prev, v, p)
            next_obs = game.obs(t + 1)
            done = torch.full((R * n, 1), float(t == p.N - 1))
            agent.observe(obs, v.permute(0, 2, 1).reshape(R * n, 1).float(),
                          r.permute(0, 2, 1).reshape(R * n, 1).float(), next_obs, done)
            obs = next_obs
        train_is[:, ep] = game.shortfall()[:, 0]
        if progress and ep % 50 == 0:
            bar.set_postfix(eps=f"{agent.epsilon:.3f}", IS=f"{train_is[:, max(0, ep - 49):ep + 1].mean():.3f}")
    return qnet.requires_grad_(False), train_is


@torch.no_grad()
def run_test_phase(trained: TrainedAgents, sigma: float | None = None, episodes: int | None = None, seed: int | None = None,
         chunk: int = 250, progress: bool = True) -> TestResult:
    """Greedy test phase (epsilon = 0) of every run, episodes batched in chunks."""
    cfg = trained.config
    p = cfg.params
    sig = (cfg.test_sigma if cfg.test_sigma is not None else p.sigma) if sigma is None else sigma
    episodes = cfg.test_episodes if episodes is None else episodes
    gen = torch.Generator().manual_seed((cfg.seed if seed is None else seed) + 3)
    actions = GameActions(p)
    with one_thread():
        parts = [_test_group(net, p, actions, sig, episodes, chunk, gen, progress) for net in trained.nets]
    test_is = np.concatenate([x[0] for x in parts])
    inventory = np.concatenate([x[1] for x in parts])
    return TestResult(sig, test_is, inventory, -np.diff(inventory, axis=-1))


def _test_group(net: torch.nn.Module, p: GameParams, actions: GameActions, sig: float, episodes: int, chunk: int,
                gen: torch.Generator, progress: bool) -> tuple[np.ndarray, np.ndarray]:
    n = p.n_agents
    R = next(net.parameters()).shape[0] // n
    test_is = np.zeros((R, episodes, n))
    inv_sum = np.zeros((R, n, p.N + 1))
    for start in tqdm(range(0, episodes, chunk), desc=f"test sigma={sig:g}", disable=not progress, leave=False):
        B = min(chunk, episodes - start)
        game = Episodes(p, R, B)
        inv_sum[:, :, 0] += p.q0 * B
        for t in range(p.N):
            obs = game.obs(t)
            cand, mask = actions.candidates(obs)
            game.step(cand, best_candidate(net, obs, cand, mask), gen, sigma=sig)
            inv_sum[:, :, t + 1] += game.q.sum(1).numpy()
        test_is[:, start:start + B] = game.shortfall()
    return test_is, inv_sum / episodes
