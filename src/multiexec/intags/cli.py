"""``multiexec intags ...``: INTAGS (issue 11) — real feedback, metric study, world agent, calibration.

Each command is a plain ``@app.command()``; further commands are appended at the end of this file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(help="INTAGS: market distance from an experimental agent's feedback, neural world agent, calibration.",
                  no_args_is_help=True, add_completion=False)


_RUNNER = "where rollouts run: local (process pool), serial (this process) or ray (pip install -e '.[ray]')"


def _agent(steps: int, parent: int, child: int, step_s: float, warmup_s: float, weights: str):
    from multiexec.errors import MultiexecError
    from multiexec.intags.rollouts import AgentSpec

    try:
        w = tuple(float(x) for x in weights.split(","))
    except ValueError:
        raise MultiexecError(f"--weights {weights!r}: three numbers separated by commas") from None
    if len(w) != 3:
        raise MultiexecError(f"--weights {weights!r}: three numbers (intercept, imbalance, spread in bp)")
    try:
        return AgentSpec(n_steps=steps, parent=parent, child=child, step_s=step_s, warmup_s=warmup_s, weights=w)
    except Exception as exc:  # pydantic.ValidationError
        from multiexec.errors import validation_message

        raise MultiexecError(validation_message(exc, "experimental agent")) from None


def _names(text: str, known, canon) -> list[str]:
    if text.strip().lower() == "all":
        return list(known)
    return [canon(x) for x in text.split(",") if x.strip()]


@app.command()
def feedback(
    rollouts: int = typer.Option(100, "--rollouts", "-n", help="N': rollouts of the real market (paper: 100)"),
    seed: int = typer.Option(0, help="rollout i uses market seed seed + i"),
    market: str = typer.Option("rmsc03", help="the real market (paper: rmsc03)"),
    estimator: str = typer.Option("hajek", help="effect estimator: hajek, ht, naive, paper-ipw, paper-naive"),
    cache: Optional[Path] = typer.Option(None, help="cache file (default: the cache folder, keyed by config, agent "
                                         "and seeds); one made with another agent is refused"),
    refresh: bool = typer.Option(False, help="recompute even when the cache exists"),
    out: Optional[Path] = typer.Option(None, help="write the per-rollout feedback table (CSV) here"),
    runner: str = typer.Option("local", help=_RUNNER),
    workers: Optional[int] = typer.Option(None, help="process-pool workers (default: all cores)"),
    ray_address: Optional[str] = typer.Option(None, help="Ray cluster address (default: a local Ray)"),
    steps: int = typer.Option(10, help="agent decisions T (paper: 10)"),
    parent: int = typer.Option(50, help="parent order, shares (paper: 50)"),
    child: int = typer.Option(10, help="child order, shares (paper: 10)"),
    step_s: float = typer.Option(60.0, help="seconds between decisions"),
    warmup_s: float = typer.Option(30.0, help="market seconds before the first decision"),
    weights: str = typer.Option("0.3,0.75,-0.25", help="propensity logit weights: intercept, standardised "
                                "imbalance(5), spread in bp"),
) -> None:
    """The real market's feedback: N' rollouts with the experimental agent, computed once and cached."""
    import time

    from multiexec.intags.estimators import get_estimator
    from multiexec.intags.feedback import feedback_table
    from multiexec.intags.rollouts import real_feedback_logs

    agent = _agent(steps, parent, child, step_s, warmup_s, weights)
    get_estimator(estimator)
    t0 = time.perf_counter()
    logs, path = real_feedback_logs(rollouts, seed, market, agent, cache=cache, refresh=refresh, runner=runner,
                                    workers=workers, ray_address=ray_address)
    dt = time.perf_counter() - t0
    table = feedback_table(logs, estimator, agent.side)
    typer.echo(f"{len(logs)} rollouts of {market} (seeds {seed}..{seed + rollouts - 1}) in {dt:.1f} s; cache {path}")
    summ = table.drop(columns="seed").agg(["count", "mean", "std"]).T
    typer.echo(summ.to_string(float_format=lambda v: f"{v:.4g}"))
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(out, index=False, float_format="%.6g")
        typer.echo(f"wrote {out}")


@app.command("metric-study")
def metric_study_cmd(
    rollouts: int = typer.Option(200, "--rollouts", "-n", help="rollouts per market (paper: 200)"),
    seed: int = typer.Option(0, help="seed of the rollouts and of the bootstrap draws"),
    pairs: str = typer.Option("far,mid,near03,near", help="market pairs: far (rmsc03 vs rmsc04), mid (rmsc04 vs "
                              "rmsc04-abides), near03 (rmsc03 vs rmsc03-pov0.5), near (rmsc04 vs rmsc04-perturbed)"),
    feedbacks: str = typer.Option("all", help="feedback names, comma-separated, or all"),
    distances: str = typer.Option("all", help="mmd, energy, emd, energy-paper (comma-separated) or all"),
    ns: str = typer.Option("2,3,5,7,10,20,30,40,50", help="the grid of rollout numbers N (each >= 2)"),
    draws: int = typer.Option(50, help="bootstrap draws per N (paper: 50)"),
    estimator: str = typer.Option("hajek", help="effect estimator: hajek, ht, naive, paper-ipw, paper-naive"),
    out: Path = typer.Option(Path("docs/intags"), help="folder for the CSV tables and PNG figures"),
    runner: str = typer.Option("local", help=_RUNNER),
    workers: Optional[int] = typer.Option(None, help="process-pool workers (default: all cores)"),
    ray_address: Optional[str] = typer.Option(None, help="Ray cluster address (default: a local Ray)"),
) -> None:
    """Metric study (paper Figs 3-5, 13-15): bootstrap distance curves over N, same vs different market."""
    from multiexec.errors import MultiexecError
    from multiexec.intags.distances import DISTANCES, distance_name
    from multiexec.intags.feedback import FEEDBACKS, feedback_name
    from multiexec.intags.metric import metric_study, write_study

    try:
        grid = [int(x) for x in ns.split(",") if x.strip()]
    except ValueError:
        raise MultiexecError(f"--ns {ns!r}: integers separated by commas") from None
    fb = _names(feedbacks, FEEDBACKS, feedback_name)
    ds = _names(distances, DISTANCES, distance_name)
    pr = [p.strip() for p in pairs.split(",") if p.strip()]
    res = metric_study(rollouts, seed, pr, fb, ds, grid, draws, estimator, runner=runner, workers=workers,
                       ray_address=ray_address)
    paths = write_study(res, out, pr)
    sep = res["separation"].pivot_table(index=["pair", "feedback"], columns="distance", values="smallest_N",
                                        dropna=False)
    typer.echo("smallest N that separates (different-market 5% quantile above same-market 95%; NaN: never):")
    typer.echo(sep.to_string(float_format=lambda v: f"{v:.0f}"))
    typer.echo("wrote " + ", ".join(str(p) for p in paths))


def _seed_list(text: str, what: str) -> list[int]:
    from multiexec.errors import MultiexecError

    try:
        if "-" in text:
            a, b = (int(x) for x in text.split("-"))
            return list(range(a, b + 1))
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise MultiexecError(f"{what} {text!r}: expected A-B or a comma list of integers") from None


@app.command("cwgan-train")
def cwgan_train(
    source: str = typer.Option("rmsc04", help="training data: a registered single-symbol config (its simulated "
                               "days' message logs, e.g. rmsc04) or 'lobster' (the shared LOBSTER AAPL hour)"),
    days: str = typer.Option("101-103", help="market seeds of the simulated days (A-B or a comma list)"),
    out: Path = typer.Option(Path("results/intags/cwgan"), help="training folder: checkpoint.pt, world.npz, "
                             "losses.csv, summary.json"),
    steps: int = typer.Option(5000, help="generator steps"),
    batch: int = typer.Option(256, help="batch size"),
    n_critic: int = typer.Option(5, help="critic steps per generator step"),
    lr: float = typer.Option(1e-4, help="Adam learning rate (both networks)"),
    history: int = typer.Option(5, help="decisions of book features the generator conditions on"),
    noise_dim: int = typer.Option(8, help="noise dimension"),
    g_hidden: str = typer.Option("64,64", help="generator hidden sizes"),
    d_hidden: str = typer.Option("128,128", help="critic hidden sizes"),
    seed: int = typer.Option(0, help="training seed: the same seed gives the same weights"),
    mirror: bool = typer.Option(False, help="train on the pairs and their buy/sell mirror images (signed features "
                                "negated, sides flipped), so the generator treats both sides alike"),
    state_clip: float = typer.Option(1e-3, help="clip states into their [q, 1-q] training quantiles before the "
                                     "generator (0: no clip), so it never extrapolates beyond its training books"),
    resume: bool = typer.Option(False, help="continue from OUT/checkpoint.pt (same architecture and seed)"),
) -> None:
    """Train the cWGAN baseline world agent (WGAN-GP) on (state, order) pairs; its market is then the config
    world:OUT (e.g. `multiexec lob run --config world:OUT`)."""
    from multiexec.errors import MultiexecError
    from multiexec.intags.cwgan import CwganArch, TrainSpec, train_cwgan
    from multiexec.intags.world import pairs_from_lobster, pairs_from_simulation

    try:
        arch = CwganArch(history=history, noise_dim=noise_dim, g_hidden=tuple(int(x) for x in g_hidden.split(",")),
                         d_hidden=tuple(int(x) for x in d_hidden.split(",")))
    except ValueError:
        raise MultiexecError(f"--g-hidden {g_hidden!r} / --d-hidden {d_hidden!r}: integers separated by commas") from None
    if history < 1 or noise_dim < 1 or min(arch.g_hidden + arch.d_hidden) < 1:
        raise MultiexecError("--history, --noise-dim and the hidden sizes must be >= 1")
    spec = TrainSpec(steps=steps, batch=batch, n_critic=n_critic, lr=lr, seed=seed, state_clip=state_clip).check()
    if source == "lobster":
        from multiexec.lob.lobster import lobster_samples, read_lobster

        pairs_ = lobster_samples()
        if not pairs_:
            raise MultiexecError("LOBSTER sample absent (shared/data/lobster_aapl_2012-06-21)")
        pairs = pairs_from_lobster(read_lobster(*pairs_[0]), history=history)
    else:
        pairs = pairs_from_simulation(source, _seed_list(days, "--days"), history=history, progress=True)
    if mirror:
        pairs = pairs.mirrored()
    typer.echo(f"{len(pairs)} (state, order) pairs from {', '.join(pairs.source)}")
    res = train_cwgan(pairs, out, arch, spec, resume=resume)
    f = res.losses[-1] if res.losses else {}
    typer.echo(f"trained {res.steps} steps in {res.seconds:.0f} s: W-distance {f.get('w_distance', float('nan')):.4f}, "
               f"critic loss {f.get('d_loss', float('nan')):.4f}, generator loss {f.get('g_loss', float('nan')):.4f}")
    for k in ("real", "generated"):
        typer.echo(f"{k:9s} " + ", ".join(f"{a} {b}" for a, b in res.summary[k].items()))
    typer.echo(f"wrote {out}/checkpoint.pt, world.npz, losses.csv, summary.json; market: world:{out}")


@app.command("world-run")
def world_run(
    weights: Path = typer.Argument(..., help="world weights: a training folder or a .npz file"),
    seed: int = typer.Option(1, help="market seed"),
    close: str = typer.Option("16:00:00", help="market close (HH:MM:SS); the open is 09:30:00"),
    out: Path = typer.Option(Path("results/intags/world_run"), help="run folder (as `multiexec lob run`)"),
    facts: bool = typer.Option(True, help="write the stylized-facts report into OUT/facts"),
) -> None:
    """Simulate a day of the world agent's market and write the run folder (bars, L2, trades, orders) and its
    stylized facts; `multiexec lob realism OUT` puts them beside the real data."""
    from multiexec.lob.config import get_config
    from multiexec.lob.output import write_run
    from multiexec.lob.sim import Simulation

    cfg = get_config(f"world:{weights}", close=close)
    sim = Simulation(cfg, seed=seed)
    sim.run(progress=True)
    write_run(sim, out)
    c = sim.world_counts()
    tr = sim.trades()
    typer.echo(f"world market seed {seed}: {c['decisions']} world orders ({c['redraws']} redrawn, "
               f"{c['cancels_missed']} cancels missed), {len(tr)} trades, {int(tr['size'].sum()) if len(tr) else 0} "
               f"shares; wrote {out}")
    if facts:
        from multiexec.lob.realism import stylized_facts_report

        typer.echo(stylized_facts_report(out, out_dir=out / "facts").to_string(index=False))


@app.command()
def calibrate(
    warm: Path = typer.Argument(..., help="warm-start world weights: a cWGAN training folder or a world .npz"),
    out: Path = typer.Option(Path("results/intags/calibrated"), help="output folder (checkpoint.pt, world.npz, log.csv)"),
    feedback: str = typer.Option("Mkt2NextReturn", help="feedback the distance is built on"),
    distance: str = typer.Option("mmd", help="mmd, energy, emd, energy-paper"),
    estimator: str = typer.Option("hajek", help="effect estimator: hajek, ht, naive, paper-ipw, paper-naive"),
    t0: int = typer.Option(5, "--t0", help="branch at the agent's first T0 steps (paper: 5)"),
    b: int = typer.Option(3, "--b", help="world actions sampled per branch point (paper: 3)"),
    n_mc: int = typer.Option(5, "--n-mc", help="N: MC rollouts per branch (paper: 5)"),
    n_real: int = typer.Option(100, "--n-real", help="N': real rollouts (paper: 100)"),
    real_market: str = typer.Option("rmsc03", help="the real market"),
    real_cache: Optional[Path] = typer.Option(None, help="real-feedback cache file (one made with another "
                                              "experimental agent is refused)"),
    iterations: int = typer.Option(100, help="iterations (paper: 100)"),
    lr: float = typer.Option(1e-9, help="learning rate r (paper: 1e-9), plain gradient descent"),
    lr_halve_every: int = typer.Option(10, help="halve the learning rate every this many iterations (paper: 10)"),
    likelihood: str = typer.Option("kde", help="kde (the paper: KDE over generator draws, median bandwidth) or "
                                   "gaussian (explicit Gaussian head)"),
    kde_samples: int = typer.Option(256, help="generator draws per KDE"),
    baseline: str = typer.Option("none", help="none (the paper) or loo (leave-one-out over the b branches)"),
    crn: bool = typer.Option(False, help="common random numbers: the same MC seeds for every branch at a step"),
    shuffle_scores: bool = typer.Option(False, help="null control: permute the branch scores among the b branches "
                                        "of each branch point before the update"),
    seed: int = typer.Option(0, help="seed of rollouts, forks and draws"),
    min_dt_us: Optional[float] = typer.Option(None, help="floor on the world agent's time between orders, us (default: "
                                              "the world config's 1 us); bounds a calibrated world's order rate"),
    max_events: int = typer.Option(1_000_000, help="drop a rollout (NaN feedback) past this many kernel events"),
    ckpt_every: int = typer.Option(10, help="checkpoint every this many iterations"),
    resume: bool = typer.Option(False, help="continue from OUT/checkpoint.pt (same settings)"),
    tensorboard: bool = typer.Option(True, help="also write TensorBoard scalars into OUT/tb"),
    runner: str = typer.Option("local", help=_RUNNER),
    workers: Optional[int] = typer.Option(None, help="process-pool workers (default: up to 2)"),
    ray_address: Optional[str] = typer.Option(None, help="Ray cluster address (default: a local Ray)"),
) -> None:
    """Calibrate the world agent by policy gradient on the market distance (INTAGS Algorithm 1)."""
    from multiexec.intags import calibrate as C
    from multiexec.intags.rollouts import AgentSpec

    agent = AgentSpec()
    spec = C.make_spec(agent, feedback=feedback, distance=distance, estimator=estimator, t0=t0, b=b, n_mc=n_mc,
                       n_real=n_real, real_market=real_market, iterations=iterations, lr=lr,
                       lr_halve_every=lr_halve_every, likelihood=likelihood, kde_samples=kde_samples,
                       baseline=baseline, crn=crn, shuffle=shuffle_scores, seed=seed, ckpt_every=ckpt_every,
                       min_dt_us=min_dt_us, max_events=max_events)
    res = C.calibrate(warm, out, spec, agent, runner=runner, workers=workers, ray_address=ray_address, resume=resume,
                      real_cache=real_cache, tensorboard=tensorboard)
    if res.rows:
        last = res.rows[-1]
        typer.echo(f"{len(res.rows)} iterations in {res.seconds:.1f} s this run; last: mean Q {last['q_mean']:.4f}, "
                   f"step {last['step_norm']:.3g}, |theta| {last['theta_norm']:.4g}")
    typer.echo(f"wrote {out}/checkpoint.pt, world.npz, log.csv; market: world:{out}")


@app.command()
def evaluate(
    calibrated: Path = typer.Argument(..., help="calibrated world (folder or .npz)"),
    baseline: Path = typer.Argument(..., help="the warm-start world it is compared with (folder or .npz)"),
    feedbacks: str = typer.Option("Mkt2NextReturn,Mkt2NextPriceImpact,EpisodeReward", help="feedbacks, or all"),
    distance: str = typer.Option("mmd", help="mmd, energy, emd, energy-paper"),
    world_rollouts: int = typer.Option(50, help="held-out world rollouts per market (the same seeds for both)"),
    real_rollouts: int = typer.Option(100, help="fresh real rollouts (seeds 1,000,000 + i)"),
    real_market: str = typer.Option("rmsc03", help="the real market"),
    estimator: str = typer.Option("hajek", help="effect estimator"),
    boot: int = typer.Option(1000, help="paired bootstrap draws"),
    perms: int = typer.Option(1000, help="permutations for the p-value"),
    seed: int = typer.Option(0, help="held-out seed block and resampling seed"),
    min_dt_us: Optional[float] = typer.Option(None, help="floor on the world agent's time between orders, us, for "
                                              "both markets (as in training)"),
    max_events: int = typer.Option(1_000_000, help="a world rollout past this many kernel events counts as undefined"),
    out: Optional[Path] = typer.Option(None, help="write the table (CSV) here"),
    runner: str = typer.Option("local", help=_RUNNER),
    workers: Optional[int] = typer.Option(None, help="process-pool workers"),
) -> None:
    """Distance to the real market of a calibrated world vs its warm start, on held-out seeds, with a paired
    bootstrap interval and a permutation p-value."""
    from multiexec.intags import calibrate as C
    from multiexec.intags.feedback import FEEDBACKS, feedback_name

    fbs = _names(feedbacks, FEEDBACKS, feedback_name)
    tab = C.evaluate(calibrated, baseline, fbs, distance, world_rollouts, real_rollouts, real_market, estimator,
                     boot=boot, perms=perms, seed=seed, min_dt_us=min_dt_us, max_events=max_events, runner=runner,
                     workers=workers, progress=False)
    typer.echo("d_a: calibrated, d_b: baseline; diff = d_a - d_b with its paired-bootstrap 95 % interval")
    typer.echo(tab.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        tab.to_csv(out, index=False)
        typer.echo(f"wrote {out}")
