"""``multiexec game ...``: the Almgren–Chriss execution game (theory, DDQN experiments, the whole study)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(help="Almgren–Chriss execution game: Nash, Pareto, DDQN agents, tacit collusion.",
                  no_args_is_help=True, add_completion=False)

_EPIS = "training episodes per run (paper: 5000); epsilon decay is rescaled to end where the paper's does"


def _config(sigma: float, runs: int, train_episodes: int, test_episodes: int, test_sigma: Optional[float], agents: int,
            coin: bool, target_grid: Optional[int], seed: int, group_size: int, algo: str = "ddqn"):
    from multiexec.errors import MultiexecError, validated
    from multiexec.game.config import AgentConfig, RunConfig
    from multiexec.game.params import make_params
    from multiexec.game.study import paper_epsilon_decay

    if algo not in ("ddqn", "ppo"):
        raise MultiexecError(f"--agent {algo!r}: choose 'ddqn' (the paper's Double DQN) or 'ppo'")
    p = make_params(sigma=sigma, n_agents=agents, coin_toss=coin)
    agent = validated(AgentConfig, {"target_grid": target_grid, "epsilon_decay": paper_epsilon_decay(train_episodes)},
                      "game agent options")
    return validated(RunConfig, dict(params=p, algo=algo, agent=agent, runs=runs, train_episodes=train_episodes,
                                     test_episodes=test_episodes, test_sigma=test_sigma, seed=seed,
                                     group_size=group_size), "game options")


@app.command()
def theory(
    agents: int = typer.Option(2, min=1, help="number of agents"),
    sigma: float = typer.Option(0.0, min=0.0, help="volatility (does not change expected IS)"),
    episodes: int = typer.Option(2000, min=1, help="simulated episodes per schedule"),
    seed: int = typer.Option(0, min=0, help="seed of the simulated episodes"),
    out: Optional[Path] = typer.Option(None, help="write theory.csv here"),
) -> None:
    """Print the benchmark schedules (TWAP, which is the Pareto optimum, Schied–Zhang Nash, exact discrete Nash) and
    agent 1's IS, in closed form and simulated, in both same-step conventions; with --out also theory.csv."""
    from multiexec.errors import check_out_dir
    from multiexec.game.study import theory_table

    if out:
        check_out_dir(out, "--out")
    df = theory_table(agents, sigma, episodes, seed)
    typer.echo(df.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    if out:
        df.to_csv(out / "theory.csv", index=False)
        typer.echo(f"wrote {out / 'theory.csv'}")


@app.command()
def run(
    sigma: float = typer.Option(1e-3, min=0.0, help="volatility of training (paper: 1e-9, 1e-3, 1e-2)"),
    runs: int = typer.Option(20, min=1, help="independent runs"),
    train_episodes: int = typer.Option(5000, min=1, help=_EPIS),
    test_episodes: int = typer.Option(2500, min=1, help="greedy test episodes per run"),
    test_sigma: Optional[float] = typer.Option(None, min=0.0, help="volatility of the test phase (misspecified "
                                               "experiment)"),
    agents: int = typer.Option(2, min=1, help="number of agents (paper: 2)"),
    agent: str = typer.Option("ddqn", help="'ddqn' (the paper's Double DQN) or 'ppo'"),
    coin: bool = typer.Option(True, "--coin/--no-coin", help="random order within a step (paper) or no same-step impact"),
    target_grid: Optional[int] = typer.Option(
        None, help="candidates in the double-Q target's argmax: all integers 0..q0 (default) or a K-point grid (faster)"),
    workers: int = typer.Option(2, min=1, help="processes (one thread each); groups of runs are spread over them"),
    group_size: int = typer.Option(10, min=1, help="runs trained together as one batched ensemble"),
    seed: int = typer.Option(0, min=0, help="random seed (same seed and group size, same numbers)"),
    out: Path = typer.Option(Path("results/game"), help="output folder"),
) -> None:
    """Train and test DDQN (or PPO) agents; write the scatter, schedules, training curve, summary and arrays to OUT."""
    from multiexec.errors import check_out_dir
    from multiexec.game.study import run_experiment

    cfg = _config(sigma, runs, train_episodes, test_episodes, test_sigma, agents, coin, target_grid, seed, group_size,
                  agent)
    check_out_dir(out, "--out")
    _, row = run_experiment(cfg, out, "run", workers)
    from multiexec.game.analysis import write_table

    df = write_table({"run": row}, out / "summary.csv")
    typer.echo(df.T.to_string(float_format=lambda x: f"{x:.4f}"))
    typer.echo(f"wrote {out}")


@app.command()
def study(
    out: Path = typer.Option(Path("results/game_study"), help="output folder (docs/game holds the committed study: "
                             "give --out docs/game to regenerate it)"),
    runs: int = typer.Option(20, min=1, help="runs per volatility regime"),
    train_episodes: int = typer.Option(5000, min=1, help=_EPIS),
    test_episodes: int = typer.Option(2500, min=1, help="greedy test episodes per run"),
    misspecified_runs: int = typer.Option(10, min=1, help="runs reused for each misspecified case"),
    multi_agents: int = typer.Option(3, min=1, help="agents in the beyond-the-paper experiment (<= 2 skips it)"),
    multi_runs: int = typer.Option(10, min=1, help="runs of the many-agent experiment"),
    ppo: bool = typer.Option(True, "--ppo/--no-ppo", help="also the three regimes with PPO agents in place of DDQN"),
    coin: bool = typer.Option(True, "--coin/--no-coin", help="random order within a step (paper) or no same-step impact"),
    target_grid: Optional[int] = typer.Option(None, help="K-point grid for the target's argmax (default: exact)"),
    workers: int = typer.Option(2, min=1, help="processes (one thread each)"),
    group_size: int = typer.Option(10, min=1, help="runs trained together as one batched ensemble"),
    seed: int = typer.Option(0, min=0, help="random seed"),
) -> None:
    """The whole study: 3 volatility regimes, misspecified train/test volatility, 3+ agents, PPO agents; regenerates OUT."""
    from multiexec.errors import check_out_dir
    from multiexec.game.study import run_study

    cfg = _config(1e-3, runs, train_episodes, test_episodes, None, 2, coin, target_grid, seed, group_size)
    check_out_dir(out, "--out")
    df = run_study(out, cfg, workers, misspecified_runs, multi_agents, multi_runs, ppo)
    typer.echo(df.T.to_string(float_format=lambda x: f"{x:.4f}"))
    typer.echo(f"wrote {out}")


if __name__ == "__main__":
    app()
