"""``multiexec lob ...``: run simulated market days, list configurations, replay LOBSTER data."""

from __future__ import annotations

from pathlib import Path

import typer

from multiexec.errors import MultiexecError, check_out_dir

app = typer.Typer(help="Limit-order-book market simulator (ABIDES kind): run days, list configs, replay LOBSTER.",
                  no_args_is_help=True)


def _time_of_day(option: str, value: str) -> int:
    """``HH:MM:SS`` (seconds may have decimals) as ns after midnight, from 00:00:00 to 24:00:00; else an error."""
    parts = value.strip().split(":")
    try:
        if len(parts) != 3 or not all(parts):
            raise ValueError
        h, m = int(parts[0]), int(parts[1])
        sec = float(parts[2])
    except ValueError:
        raise MultiexecError(f"{option} {value!r} is not a time of day HH:MM:SS") from None
    if not (0 <= h <= 24 and 0 <= m < 60 and 0 <= sec < 60) or (h == 24 and (m or sec)):
        raise MultiexecError(f"{option} {value!r} is not a time of day (00:00:00 to 24:00:00)")
    return int(round((h * 3600 + m * 60 + sec) * 1e9))


def _compile_notice() -> None:
    """Say so when the LOB's compiled code is not in numba's cache yet (first run on a machine)."""
    from multiexec.lob.warm import is_cached

    if not is_cached():
        typer.echo("compiling the LOB simulator's numba code (first run on this machine: about 1-3 minutes on 2 cores; "
                   "cached afterwards; `python -m multiexec.lob.warm` does it ahead)", err=True)


@app.command()
def run(
    config: str = typer.Option("rmsc04", help="registered config: rmsc04, rmsc04-abides, rmsc03, multi"),
    seed: int = typer.Option(1, help="master seed (>= 0): the same seed gives the same day, event for event"),
    out: Path = typer.Option(Path("results/lob/run"), help="run folder for the Parquet tables and the facts report"),
    l2_depth: int = typer.Option(10, help="levels per side in the L2 snapshots (1-100)"),
    snapshot_s: float = typer.Option(1.0, help="seconds between L2 snapshots (> 0)"),
    open_: str = typer.Option("09:30:00", "--open", help="market open (HH:MM:SS)"),
    close: str = typer.Option("16:00:00", help="market close (HH:MM:SS, after the open, at most 24:00:00)"),
    facts: bool = typer.Option(True, help="write the stylized-facts report into OUT/facts"),
) -> None:
    """Simulate one day (09:30-16:00 by default) and write bars, L2 snapshots, trades and orders (Parquet), then
    the stylized-facts report with plots."""
    import time

    if seed < 0:
        raise MultiexecError(f"--seed {seed}: seeds are integers >= 0")
    if not 1 <= l2_depth <= 100:
        raise MultiexecError(f"--l2-depth {l2_depth} is outside 1-100")
    t_open, t_close = _time_of_day("--open", open_), _time_of_day("--close", close)
    if t_open >= t_close:
        raise MultiexecError(f"--open {open_} is not before --close {close}")
    if not 0 < snapshot_s <= (t_close - t_open) / 1e9:
        raise MultiexecError(f"--snapshot-s {snapshot_s} must be > 0 and at most the session's length")
    from multiexec.lob.config import get_config
    from multiexec.lob.output import write_run
    from multiexec.lob.sim import Simulation

    cfg = get_config(config, l2_depth=l2_depth, snapshot_interval_s=snapshot_s, open=open_, close=close)
    check_out_dir(out)
    _compile_notice()
    t0 = time.perf_counter()
    sim = Simulation(cfg, seed=seed)
    sim.run(progress=True)
    paths = write_run(sim, out)
    tr = sim.trades()
    typer.echo(f"{cfg.name} seed {seed}: {sim.n_events} events, {len(tr)} trades, "
               f"{int(tr['size'].sum()) if len(tr) else 0} shares in {time.perf_counter() - t0:.1f} s; wrote "
               f"{', '.join(p.name for p in paths.values())} to {out}")
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
    max_messages: int = typer.Option(0, help="replay at most this many messages of each sample (0 = all)"),
    data: Path = typer.Option(None, help="folder of LOBSTER message/orderbook pairs (default: shared "
                              "lobster_aapl_2012-06-21)"),
) -> None:
    """Replay LOBSTER samples through the matching engine (compiled loop) and compare with LOBSTER's book after
    every message; each sample's counts come with what they mean."""
    from multiexec.lob.lobster import lobster_samples, read_lobster
    from multiexec.lob.replay import explain, message_levels, replay_lobster

    if max_messages < 0:
        raise MultiexecError(f"--max-messages {max_messages}: must be 0 (all) or a positive number of messages")
    if data is not None and not data.is_dir():
        raise MultiexecError(f"--data {data} is not a folder")
    pairs = lobster_samples(data)
    if not pairs:
        where = data if data is not None else "shared/data/lobster_aapl_2012-06-21"
        raise MultiexecError(f"no LOBSTER sample (X_message_N.csv with X_orderbook_N.csv) in {where}")
    samples = [read_lobster(m, b) for m, b in pairs]
    deep = max(samples, key=lambda d: d.levels)
    empty = []
    for d in samples:
        seed = deep if d.levels == 1 and d is not deep and deep.levels > 1 else None
        if seed is not None and not _same_start(d, seed):
            seed = None
        res = replay_lobster(d, seed=seed, max_messages=max_messages or None)
        n = res.n_messages
        if n == 0:
            empty.append(d.message_csv.name)
        # a file covering more levels over the same span shows what this one leaves out
        ml = message_levels(d)
        more = [o for o in samples if o is not d and ml is not None and (message_levels(o) or 0) > ml
                and o.messages["time"].iloc[-1] >= d.messages["time"].iloc[-1]
                and o.messages["time"].iloc[0] <= d.messages["time"].iloc[0]]
        deeper = (None, None)
        if more:
            o = more[0]
            t = o.messages["time"].to_numpy()
            used = d.messages["time"].to_numpy()[: n + 1]
            deeper = (int(((t >= used[0]) & (t <= used[-1])).sum()), message_levels(o))
        rate = f"{n / res.seconds:,.0f}" if res.seconds > 0 and n else "-"
        seeded = f", seeded from {seed.message_csv.name}" if seed is not None else ""
        typer.echo(f"{d.message_csv.name} ({d.levels} book levels, messages for {ml or '?'} levels{seeded}): "
                   f"{n:,} messages ({rate} messages/s in the compiled loop); L1 mismatches {res.l1_mismatches:,} "
                   f"of {n:,} messages, depth mismatches {res.depth_mismatches:,} of {2 * n if d.levels > 1 else 0:,} "
                   f"book sides ({res.n_compared_levels:,} levels compared), executions re-matched "
                   f"{res.executions_rematched:,}, priority violations {res.priority_violations:,}, unknown ids "
                   f"{res.unknown_id_messages:,}")
        typer.echo(f"  meaning: {explain(res, *deeper)}")
        if res.mismatches:
            row, what = res.mismatches[0]
            typer.echo(f"  first mismatch: after message {row} (line {row + 1} of the files): {what}")
    if empty:
        raise MultiexecError(f"nothing replayed for {', '.join(empty)}: no message after the seed row, so nothing was "
                             "compared")


def _same_start(d, seed) -> bool:
    n = min(len(d.messages), len(seed.messages))
    return n > 0 and d.messages.iloc[:1].equals(seed.messages.iloc[:1])


@app.command()
def stress(
    messages: int = typer.Option(1_000_000, help="random messages to send (>= 1)"),
    seed: int = typer.Option(0, help="seed of the message stream (>= 0)"),
    agents: int = typer.Option(8, help="trading agents (1-1000)"),
    bad_share: float = typer.Option(0.05, help="share of bad messages (off-grid prices, fractional sizes, ...)"),
) -> None:
    """Drive the matching engine and an independent pure-Python reference book with random messages (some bad)
    and check every invariant after each message: never crossed or locked, level totals, FIFO, trades, cash and
    shares conserved per agent, bad messages refused and changing nothing."""
    from multiexec.lob.stress import StressFailure, run_stress

    if messages < 1:
        raise MultiexecError(f"--messages {messages}: must be at least 1")
    if seed < 0:
        raise MultiexecError(f"--seed {seed}: seeds are integers >= 0")
    if not 1 <= agents <= 1000:
        raise MultiexecError(f"--agents {agents} is outside 1-1000")
    if not 0.0 <= bad_share <= 1.0:
        raise MultiexecError(f"--bad-share {bad_share} is outside [0, 1]")
    try:
        rep = run_stress(messages, seed, n_agents=agents, progress=True, bad_share=bad_share)
    except StressFailure as exc:
        typer.secho(f"FAILED: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None
    typer.echo(f"seed {seed}: {rep.line()}")


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

    import re

    try:
        m = re.fullmatch(r"\s*(\d+)\s*-\s*(\d+)\s*", seeds)
        if m:
            seed_list = list(range(int(m.group(1)), int(m.group(2)) + 1))
        else:
            seed_list = [int(x) for x in seeds.split(",")]
    except ValueError:
        raise MultiexecError(f"--seeds {seeds!r}: expected A-B or a comma list of integers >= 0") from None
    if not seed_list:
        raise MultiexecError(f"--seeds {seeds!r}: the range is empty (A-B needs A <= B)")
    if min(seed_list) < 0:
        raise MultiexecError(f"--seeds {seeds!r}: seeds are integers >= 0")
    check_out_dir(out)
    summary, per_day = realism_over_seeds([get_config(c) for c in config], seed_list)
    out.mkdir(parents=True, exist_ok=True)
    summary.to_csv(out / "summary.csv", index=False)
    per_day.to_csv(out / "per_day.csv", index=False)
    md = markdown_table(summary)
    (out / "summary.md").write_text(f"# Realism over seeds {seeds}\n\n{md}\n")
    typer.echo(md)
