"""Experiments of the execution game: one run folder (``multiexec game run``) and the whole study (``game study``)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import torch

from multiexec.game.analysis import (Benchmarks, benchmarks, centroids_figure, learning_figure, scatter_figure,
                                     schedules_figure, summary, write_table)
from multiexec.game.config import RunConfig
from multiexec.game.experiment import TestResult, TrainedAgents, run_test_phase, train
from multiexec.game.params import REGIMES


def paper_epsilon_decay(train_episodes: int, paper_episodes: int = 5000, decay: float = 0.995) -> float:
    """Per-copy epsilon decay that ends training at the same epsilon as the paper's 5,000 episodes."""
    if train_episodes < 1:
        from multiexec.errors import MultiexecError

        raise MultiexecError(f"train_episodes={train_episodes}: at least one training episode is needed")
    return decay ** (paper_episodes / train_episodes)


def save_results(out: Path, name: str, trained: TrainedAgents, res: TestResult) -> None:
    """Arrays (npz), config (json) and weights (pt) of one experiment."""
    out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out / f"{name}.npz", train_is=trained.train_is.astype(np.float32), test_is=res.test_is,
                        inventory=res.inventory, test_sigma=res.sigma, train_seconds=trained.train_seconds)
    (out / f"{name}.json").write_text(trained.config.model_dump_json(indent=2))
    torch.save([net.state_dict() for net in trained.nets], out / f"{name}_weights.pt")


def report(out: Path, name: str, title: str, trained_is: np.ndarray, res_is: np.ndarray, inventory: np.ndarray,
           b: Benchmarks) -> dict[str, float]:
    """Figures of one experiment and its summary row."""
    scatter_figure(res_is, b, title, out / f"{name}_scatter.png")
    schedules_figure(inventory, res_is, b, title, out / f"{name}_schedules.png")
    learning_figure(trained_is, b, title, out / f"{name}_training.png")
    return summary(res_is, inventory, b)


def run_experiment(cfg: RunConfig, out: Path, name: str = "run", workers: int = 2, progress: bool = True,
                   title: str | None = None) -> tuple[TrainedAgents, dict[str, float]]:
    """Train, test, save and report one experiment into ``out``."""
    trained = train(cfg, progress=progress, workers=workers)
    res = run_test_phase(trained, progress=progress)
    save_results(out, name, trained, res)
    p = cfg.params
    b = benchmarks(p)
    title = title or f"{name}: {cfg.algo.upper()} agents, train sigma={p.sigma:g}, test sigma={res.sigma:g}, {cfg.runs} runs"
    row = report(out, name, title, trained.train_is, res.test_is, res.inventory, b)
    row.update(algo=cfg.algo, train_sigma=p.sigma, test_sigma=res.sigma, train_episodes=cfg.train_episodes,
               train_seconds=trained.train_seconds, train_cpu_seconds_max_group=max(trained.group_cpu_seconds))
    return trained, row


def theory_table(agents: int = 2, sigma: float = 0.0, episodes: int = 2000, seed: int = 0) -> "object":
    """TWAP, Schied–Zhang Nash and exact discrete Nash: schedule, E[IS] (closed form) and simulated IS, both conventions."""
    import pandas as pd

    from multiexec.game.market import simulate_schedules
    from multiexec.game.params import make_params
    from multiexec.game.theory import discrete_nash, expected_is, sz_nash, twap

    if episodes < 1:
        from multiexec.errors import MultiexecError

        raise MultiexecError(f"episodes={episodes}: the simulated IS needs at least one episode")
    rows = []
    for coin in (False, True):
        p = make_params(n_agents=agents, sigma=sigma, coin_toss=coin)
        for name, sched in (("TWAP", np.stack([twap(p)] * agents)), ("Schied-Zhang Nash", np.stack([sz_nash(p)] * agents)),
                            ("exact discrete Nash", discrete_nash(p))):
            sim = simulate_schedules(torch.tensor(sched), p, episodes, seed=seed).mean(0).numpy()
            rows.append({"convention": p.convention(), "schedule": name, "E[IS] agent 1": expected_is(sched, p)[0],
                         "simulated IS agent 1": sim[0], "trades agent 1": " ".join(f"{x:.2f}" for x in sched[0])})
    return pd.DataFrame(rows)


def write_benchmarks(out: Path, cfg: RunConfig) -> None:
    """The theoretical points in both conventions as a table."""
    import pandas as pd

    rows = []
    for coin in (False, True):
        b = benchmarks(cfg.params.model_copy(update={"coin_toss": coin, "sigma": 0.0}), with_front=False)
        rows.append({"convention": b.convention, "TWAP (Pareto optimum)": b.twap_is,
                     "Schied-Zhang Nash": b.sz_nash_is, "exact discrete Nash": b.exact_nash_is})
    df = pd.DataFrame(rows)
    df.to_csv(out / "benchmarks.csv", index=False, float_format="%.4f")


def run_study(out: Path, cfg: RunConfig, workers: int = 2, misspecified_runs: int = 10, multi_agents: int = 3,
              multi_runs: int = 10, ppo: bool = True, progress: bool = True) -> "object":
    """The whole study: three volatility regimes, the two misspecified cases, the same game with more agents, and
    (``ppo``) the three regimes again with PPO agents in place of DDQN (``ppo_<regime>``, settings ``cfg.ppo``).

    The misspecified cases reuse the first ``misspecified_runs`` trained runs of the zero and large regimes and test
    them under the other volatility. Writes figures, ``summary.csv`` and ``benchmarks.csv`` into ``out``.
    """
    out.mkdir(parents=True, exist_ok=True)
    rows: dict[str, dict[str, float]] = {}
    trained: dict[str, TrainedAgents] = {}
    cents: dict[str, np.ndarray] = {}
    b = benchmarks(cfg.params)
    for regime, sigma in REGIMES.items():
        c = cfg.model_copy(update={"params": cfg.params.model_copy(update={"sigma": sigma}), "test_sigma": None})
        trained[regime], rows[regime] = run_experiment(
            c, out, regime, workers, progress, title=f"{regime} volatility (sigma={sigma:g}), {c.runs} runs")
        cents[regime] = np.load(out / f"{regime}.npz")["test_is"].mean(1)
        write_table(rows, out / "summary.csv")  # after every experiment, so that a stopped study leaves its part
    for tr_reg, te_reg in (("zero", "large"), ("large", "zero")):
        tr = trained[tr_reg]
        k = min(misspecified_runs, tr.config.runs)
        sub = _first_runs(tr, k)
        res = run_test_phase(sub, sigma=REGIMES[te_reg], progress=progress)
        name = f"train_{tr_reg}_test_{te_reg}"
        save_results(out, name, sub, res)
        title = f"misspecified: trained sigma={REGIMES[tr_reg]:g}, tested sigma={REGIMES[te_reg]:g}, {k} runs"
        rows[name] = report(out, name, title, sub.train_is, res.test_is, res.inventory, b)
        rows[name].update(algo=cfg.algo, train_sigma=REGIMES[tr_reg], test_sigma=REGIMES[te_reg],
                          train_episodes=cfg.train_episodes, train_seconds=0.0)
    centroids_figure(cents, b, "run centroids of the three regimes (paper's Figure 7)", out / "centroids_all.png")
    if multi_agents > 2:
        pm = cfg.params.model_copy(update={"n_agents": multi_agents, "sigma": REGIMES["moderate"]})
        # keep the ensemble of a group about as large as with two agents
        gs = max(1, cfg.group_size * 2 // multi_agents)
        c = cfg.model_copy(update={"params": pm, "runs": multi_runs, "test_sigma": None, "group_size": gs})
        name = f"{multi_agents}agents_moderate"
        _, rows[name] = run_experiment(c, out, name, workers, progress,
                                       title=f"{multi_agents} agents, sigma={pm.sigma:g}, {multi_runs} runs")
    if ppo:
        ppo_cents: dict[str, np.ndarray] = {}
        for regime, sigma in REGIMES.items():
            c = cfg.model_copy(update={"params": cfg.params.model_copy(update={"sigma": sigma}), "test_sigma": None,
                                       "algo": "ppo"})
            name = f"ppo_{regime}"
            _, rows[name] = run_experiment(c, out, name, workers, progress,
                                           title=f"PPO agents, {regime} volatility (sigma={sigma:g}), {c.runs} runs")
            ppo_cents[regime] = np.load(out / f"{name}.npz")["test_is"].mean(1)
            write_table(rows, out / "summary.csv")
        centroids_figure(ppo_cents, b, "PPO agents: run centroids of the three regimes", out / "ppo_centroids_all.png")
    write_benchmarks(out, cfg)
    theory_table(episodes=4000).to_csv(out / "theory.csv", index=False, float_format="%.4f")
    df = write_table(rows, out / "summary.csv")
    (out / "study.json").write_text(json.dumps({"config": json.loads(cfg.model_dump_json()), "workers": workers,
                                                "misspecified_runs": misspecified_runs, "multi_agents": multi_agents,
                                                "multi_runs": multi_runs, "ppo": ppo}, indent=2))
    return df


def _first_runs(tr: TrainedAgents, k: int) -> TrainedAgents:
    """The first k runs of a trained experiment (whole groups, then a slice of the next one)."""
    n = tr.config.params.n_agents
    nets, left = [], k
    for net in tr.nets:
        if left <= 0:
            break
        R = next(net.parameters()).shape[0] // n
        if R <= left:
            nets.append(net)
        else:
            sub = copy.deepcopy(net)
            for prm in sub.parameters():  # every parameter has the ensemble (runs x agents) first
                prm.data = prm.data[: left * n].clone()
            nets.append(sub)
        left -= R
    cfg = tr.config.model_copy(update={"runs": k})
    return TrainedAgents(cfg, nets, tr.train_is[:k], tr.train_seconds, tr.group_cpu_seconds)
