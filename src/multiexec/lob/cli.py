"""``multiexec lob ...``: run simulated market days, list configurations, replay LOBSTER data."""

from __future__ import annotations

from pathlib import Path

import typer

from multiexec.errors import MultiexecError

app = typer.Typer(help="Limit-order-book market simulator (ABIDES kind): run days, list configs, replay LOBSTER.",
                  no_args_is_help=True)


@app.command()
def run(
    config: str = typer.Option("rmsc04", help="registered config: rmsc04, rmsc04-abides, rmsc03, multi"),
    seed: int = typer.Option(1, help="master seed: the same seed gives the same day, event for event"),
    out: Path = typer.Option(Path("results/lob/run"), help="run folder for the Parquet tables and the facts report"),
    l2_depth: int = typer.Option(10, help="levels per side in the L2 snapshots"),
    snapshot_s: float = typer.Option(1.0, help="seconds between L2 snapshots"),
    close: str = typer.Option("16:00:00", help="market close (HH:MM:SS); the open is 09:30:00"),
    facts: bool = typer.Option(True, help="write the stylized-facts report into OUT/facts"),
) -> None:
    """Simulate one day (09:30-16:00) and write bars, L2 snapshots, trades and orders (Parquet), then the
    stylized-facts report with plots."""
    from multiexec.lob.config import get_config
    from multiexec.lob.output import write_run
    from multiexec.lob.sim import Simulation

    cfg = get_config(config, l2_depth=l2_depth, snapshot_interval_s=snapshot_s, close=close)
    sim = Simulation(cfg, seed=seed)
    sim.run(progress=True)
    paths = write_run(sim, out)
    tr = sim.trades()
    typer.echo(f"{cfg.name} seed {seed}: {sim.n_events} events, {len(tr)} trades, "
               f"{int(tr['size'].sum()) if len(tr) else 0} shares; wrote {', '.join(p.name for p in paths.values())} "
               f"to {out}")
    if facts:
        from multiexec.lob.realism import stylized_facts_report

        table = stylized_facts_report(out, out_dir=out / "facts")
        typer.echo(table.to_string(index=False))


@app.command()
def configs() -> None:
    """List the registered market configurations and their populations."""
    from multiexec.lob.config import CONFIGS

    for name, make in CONFIGS.items():
        cfg = make()
        pops = "; ".join(f"{s.name}: {s.market_makers.n} MM, {s.value.n} value, {s.momentum.n} momentum, "
                         f"{s.noise.n} noise" for s in cfg.symbols)
        typer.echo(f"{name:14s} {pops}")


@app.command()
def replay(
    max_messages: int = typer.Option(0, help="replay at most this many messages (0 = all)"),
) -> None:
    """Replay the LOBSTER AAPL sample through the matching engine and compare with LOBSTER's book, event by event."""
    from multiexec.lob.lobster import lobster_samples, read_lobster
    from multiexec.lob.replay import replay_lobster

    pairs = lobster_samples()
    if not pairs:
        raise MultiexecError("LOBSTER sample absent (shared/data/lobster_aapl_2012-06-21)")
    data = [read_lobster(m, b) for m, b in pairs]
    deep = max(data, key=lambda d: d.levels)
    for d in data:
        seed = deep if d.levels == 1 and d is not deep else None  # an L1-only file is seeded from full depth
        res = replay_lobster(d, seed=seed, max_messages=max_messages or None)
        typer.echo(f"{d.message_csv.name} ({d.levels} levels{', seeded from ' + deep.message_csv.name if seed else ''}): "
                   f"{res.n_messages} messages, L1 mismatches {res.l1_mismatches}, depth mismatches "
                   f"{res.depth_mismatches} of {res.n_compared_levels} compared levels, executions re-matched "
                   f"{res.executions_rematched}, priority violations {res.priority_violations}, unknown ids "
                   f"{res.unknown_id_messages}")


@app.command()
def realism(
    run_dir: Path = typer.Argument(..., help="a run folder written by `multiexec lob run`"),
    out: Path = typer.Option(None, help="report folder (default: RUN_DIR/realism)"),
    real_minute: Path = typer.Option(
        None, help="folder of real <TICKER>.csv.gz minute bars (default: shared us_minute_2018)"),
    real_lobster: Path = typer.Option(
        None, help="folder with LOBSTER sample pairs (default: shared lobster_aapl_2012-06-21)"),
) -> None:
    """Put each stylized fact of a simulated day beside the real data (minute bars and the LOBSTER book):
    realism.csv, realism.md and plots."""
    from multiexec.lob.realism import realism_report

    if not run_dir.is_dir():
        raise MultiexecError(f"run folder {run_dir} does not exist (write one with `multiexec lob run`)")
    out = out or run_dir / "realism"
    realism_report(run_dir, out, real_minute=real_minute, real_lobster=real_lobster)
    typer.echo((out / "realism.md").read_text())


@app.command("realism-seeds")
def realism_seeds(
    config: list[str] = typer.Option(["rmsc04", "rmsc04-abides"], help="registered config(s); repeat the option"),
    seeds: str = typer.Option("1-8", help="seeds: a range A-B or a comma list"),
    out: Path = typer.Option(Path("results/lob/realism_seeds"), help="folder for summary.csv, per_day.csv, summary.md"),
) -> None:
    """Simulate each config over several seeds and put the median and range of each headline fact beside the
    real data (minute bars and the LOBSTER book), with the days inside the real p10-p90 range."""
    from multiexec.lob.config import get_config
    from multiexec.lob.realism import markdown_table
    from multiexec.lob.seeds import realism_over_seeds

    try:
        if "-" in seeds:
            a, b = (int(x) for x in seeds.split("-"))
            seed_list = list(range(a, b + 1))
        else:
            seed_list = [int(x) for x in seeds.split(",")]
    except ValueError:
        raise MultiexecError(f"--seeds {seeds!r}: expected A-B or a comma list of integers") from None
    summary, per_day = realism_over_seeds([get_config(c) for c in config], seed_list)
    out.mkdir(parents=True, exist_ok=True)
    summary.to_csv(out / "summary.csv", index=False)
    per_day.to_csv(out / "per_day.csv", index=False)
    md = markdown_table(summary)
    (out / "summary.md").write_text(f"# Realism over seeds {seeds}\n\n{md}\n")
    typer.echo(md)
