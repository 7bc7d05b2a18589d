"""Speed of the limit-order-book simulator: events per second and seconds per simulated day (09:30-16:00) for
rmsc04 (default, tuned), rmsc04-abides (ABIDES' parameters) and rmsc03, and milliseconds per step of the
execution gym (60-s steps; median and mean wall time and median thread CPU time over random-action episodes; for
the gym rows ``events`` is the median number of kernel events per step and ``events_per_s`` is per CPU second, so
the step cost reads as events x cost per event). Reference: ABIDES runs rmsc04 in about 20 s (~475,000 kernel messages) and
its execution gym takes 32-41 ms per step on a 2-core machine.

A second table gives the matching engine's messages per second for one random stream of limit / market / cancel /
modify messages sent (a) one call at a time through the Python front-end (``Exchange``: argument checks, then the
compiled function) and (b) by a compiled loop calling the same engine functions, and the LOBSTER replay's compiled
loop on the real AAPL hour (when ``shared/data`` has it).

Run: .venv/bin/python benchmarks/bench_lob.py [--repeats 3] [--messages 200000] [--out results/bench_lob.csv]
The first run of a process compiles (numba, cached on disk); compile time is reported separately.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numba as nb
import numpy as np
import pandas as pd

from multiexec.lob import engine as E


def bench_day(name: str, repeats: int) -> dict:
    from multiexec.lob.config import get_config
    from multiexec.lob.sim import Simulation

    cfg = get_config(name)
    builds, days, events, msgs = [], [], [], []
    for seed in range(1, repeats + 1):
        t0 = time.perf_counter()
        sim = Simulation(cfg, seed=seed)
        t1 = time.perf_counter()
        sim.run_until(sim.close_ns)
        t2 = time.perf_counter()
        builds.append(t1 - t0)
        days.append(t2 - t1)
        events.append(sim.n_events)
        msgs.append(int(sim.ex.st.meta[2]))
    day = float(np.median(days))
    return {"benchmark": f"day {name}", "agents": cfg.n_agents, "events": int(np.median(events)),
            "exchange_messages": int(np.median(msgs)), "events_per_s": float(np.median(events)) / day,
            "s_per_day": day, "build_s": float(np.median(builds)), "ms_per_gym_step": np.nan,
            "ms_per_gym_step_mean": np.nan, "cpu_ms_per_gym_step": np.nan}


def bench_gym(config: str, episodes: int) -> dict:
    from multiexec.lob.env import ExecutionEnv

    env = ExecutionEnv(config, parent_order_size=1000, step_s=60, execution_window_s=600)
    times, cpu, events, resets = [], [], [], []
    rng = np.random.default_rng(0)
    for ep in range(episodes):
        t0 = time.perf_counter()
        env.reset(seed=ep)
        resets.append(time.perf_counter() - t0)
        done = False
        while not done:
            a = int(rng.integers(0, 3))
            n0 = env.sim.n_events
            t0, c0 = time.perf_counter(), time.thread_time()
            _, _, done, _, _ = env.step(a)
            cpu.append(time.thread_time() - c0)
            times.append(time.perf_counter() - t0)
            events.append(env.sim.n_events - n0)
    return {"benchmark": f"gym step {config} (60 s)", "agents": env.config.n_agents,
            "events": float(np.median(events)), "exchange_messages": np.nan,
            "events_per_s": float(np.sum(events) / np.sum(cpu)), "s_per_day": np.nan,
            "build_s": float(np.median(resets)), "ms_per_gym_step": 1000 * float(np.median(times)),
            "ms_per_gym_step_mean": 1000 * float(np.mean(times)),
            "cpu_ms_per_gym_step": 1000 * float(np.median(cpu))}


def message_stream(n: int, seed: int = 0) -> np.ndarray:
    """(n, 5) int64: kind (0 limit, 1 market, 2 cancel, 3 modify), side, price tick, size, and for cancel / modify
    the index of the limit message whose order they target (it may be gone by then: a stale id, as in markets)."""
    rng = np.random.default_rng(seed)
    u = rng.random(n)
    kind = np.where(u < 0.5, 0, np.where(u < 0.6, 1, np.where(u < 0.85, 2, 3)))
    side = np.where(rng.random(n) < 0.5, 1, -1)
    px = 512 + rng.integers(-20, 21, n) - side * rng.integers(0, 5, n)
    qty = rng.integers(1, 60, n)
    idx = np.arange(n)
    target = np.maximum(0, idx - rng.integers(1, 200, n))
    target = np.where(kind >= 2, target, -1)
    return np.stack([kind, side, px, qty, target], axis=1).astype(np.int64)


@nb.njit(cache=True)
def _apply(st, msgs, ids, start):
    """Apply messages ``start ..`` with the engine's compiled functions; returns where it stopped (room)."""
    for i in range(start, msgs.shape[0]):
        if not E.room(st.meta, st.trl, st.oll, st.meta[E.M_NREST] + 1):
            return i
        k = msgs[i, 0]
        agent = i % 4
        if k == 0:
            ids[i] = E.limit_order(st, i, 0, agent, msgs[i, 1], msgs[i, 2], msgs[i, 3])
        elif k == 1:
            E.market_order(st, i, 0, agent, msgs[i, 1], msgs[i, 3])
        elif k == 2:
            E.cancel_order(st, i, ids[msgs[i, 4]], msgs[i, 3] // 4, agent, -1, 0)
        else:
            E.modify_order(st, i, ids[msgs[i, 4]], msgs[i, 2], msgs[i, 3], agent, -1, 0)
    return msgs.shape[0]


def bench_messages(n: int) -> list[dict]:
    msgs = message_stream(n)
    rows = []
    # (a) the Python front-end, one call per message
    ex = E.Exchange(1, 4, [0], n_ticks=1 << 10)
    ids = np.full(n, -1, np.int64)
    lst = msgs.tolist()
    t0, c0 = time.perf_counter(), time.thread_time()
    for i, (k, side, px, qty, tgt) in enumerate(lst):
        if k == 0:
            ids[i] = ex.limit(i, 0, i % 4, side, px, qty)
        elif k == 1:
            ex.market(i, 0, i % 4, side, qty)
        elif k == 2:
            ex.cancel(i, int(ids[tgt]), qty // 4, i % 4)
        else:
            ex.modify(i, int(ids[tgt]), px, qty, i % 4)
    dt, cpu = time.perf_counter() - t0, time.thread_time() - c0
    front = (ex.trades(), ex.messages())
    rows.append({"benchmark": "engine: Python front-end (Exchange, one call a message)", "messages": n,
                 "seconds": dt, "cpu_seconds": cpu, "messages_per_cpu_s": n / cpu, "us_cpu_per_message": 1e6 * cpu / n})
    # (b) the same stream through a compiled loop
    ex2 = E.Exchange(1, 4, [0], n_ticks=1 << 10)
    ids2 = np.full(n, -1, np.int64)
    _apply(ex2.st, msgs[:0], ids2, 0)  # compile / load from the cache outside the timing
    t0, c0 = time.perf_counter(), time.thread_time()
    i = 0
    while i < n:
        i = _apply(ex2.st, msgs, ids2, i)
        if i < n:
            ex2.ensure()
    dt, cpu = time.perf_counter() - t0, time.thread_time() - c0
    same = front[0].equals(ex2.trades()) and front[1].equals(ex2.messages())
    rows.append({"benchmark": f"engine: compiled loop, same stream (same trades and log: {same})", "messages": n,
                 "seconds": dt, "cpu_seconds": cpu, "messages_per_cpu_s": n / cpu, "us_cpu_per_message": 1e6 * cpu / n})
    # (c) the LOBSTER replay (compiled loop), one hour of AAPL
    from multiexec.lob.lobster import lobster_samples, read_lobster
    from multiexec.lob.replay import replay_lobster

    data = [read_lobster(m, b) for m, b in lobster_samples()]
    if data:
        deep = max(data, key=lambda d: d.levels)
        hour = max(data, key=len)
        seed = deep if hour is not deep and hour.levels == 1 else None
        replay_lobster(hour, seed=seed, max_messages=10)  # compile / load from the cache
        c0 = time.thread_time()
        res = replay_lobster(hour, seed=seed)
        cpu = time.thread_time() - c0  # the whole call: set-up in Python and the compiled loop
        rows.append({"benchmark": f"LOBSTER replay, compiled loop ({hour.message_csv.name}; CPU: whole call)",
                     "messages": res.n_messages, "seconds": res.seconds, "cpu_seconds": cpu,
                     "messages_per_cpu_s": res.n_messages / cpu, "us_cpu_per_message": 1e6 * cpu / res.n_messages})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3, help="days per config (seeds 1..repeats)")
    ap.add_argument("--episodes", type=int, default=5, help="gym episodes")
    ap.add_argument("--messages", type=int, default=200_000, help="messages in the engine front-end benchmark")
    ap.add_argument("--only-messages", action="store_true", help="run only the messages-per-second table")
    ap.add_argument("--out", type=Path, default=Path("results/bench_lob.csv"))
    args = ap.parse_args()
    if args.messages < 1 or args.repeats < 1 or args.episodes < 1:
        ap.error("--messages, --repeats and --episodes must be at least 1")
    pd.set_option("display.width", 200)
    msg = pd.DataFrame(bench_messages(args.messages))
    print(msg.to_string(index=False, float_format=lambda x: f"{x:,.3f}"))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    msg.to_csv(args.out.with_name(args.out.stem + "_messages.csv"), index=False)
    if args.only_messages:
        return
    t0 = time.perf_counter()
    from multiexec.lob.config import get_config
    from multiexec.lob.env import ExecutionEnv
    from multiexec.lob.sim import Simulation

    warm = Simulation(get_config("rmsc04", close="09:31:00"), seed=0)
    warm.run_until(warm.close_ns)
    env = ExecutionEnv("rmsc04")
    env.reset(seed=0)
    for a in (0, 1, 2):
        env.step(a)
    compile_s = time.perf_counter() - t0
    rows = [bench_day(n, args.repeats) for n in ("rmsc04", "rmsc04-abides", "rmsc03")]
    rows.append(bench_gym("rmsc04", args.episodes))
    rows.append(bench_gym("rmsc04-abides", args.episodes))
    df = pd.DataFrame(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(args.out, index=False)
    pd.set_option("display.width", 200)
    print(df.to_string(index=False, float_format=lambda x: f"{x:,.3f}"))
    print(f"(import + compile/cache load: {compile_s:.1f} s; 'build_s' = building the agents / gym reset; "
          f"timings are wall clock on a shared machine: noisy)")


if __name__ == "__main__":
    main()
