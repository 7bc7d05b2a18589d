"""Speed of the limit-order-book simulator: events per second and seconds per simulated day (09:30-16:00) for
rmsc04 (default, tuned), rmsc04-abides (ABIDES' parameters) and rmsc03, and milliseconds per step of the
execution gym (60-s steps; median and mean wall time and median thread CPU time over random-action episodes; for
the gym rows ``events`` is the median number of kernel events per step and ``events_per_s`` is per CPU second, so
the step cost reads as events x cost per event). Reference: ABIDES runs rmsc04 in about 20 s (~475,000 kernel messages) and
its execution gym takes 32-41 ms per step on a 2-core machine.

Run: .venv/bin/python benchmarks/bench_lob.py [--repeats 3] [--out results/bench_lob.csv]
The first run of a process compiles (numba, cached on disk); compile time is reported separately.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3, help="days per config (seeds 1..repeats)")
    ap.add_argument("--episodes", type=int, default=5, help="gym episodes")
    ap.add_argument("--out", type=Path, default=Path("results/bench_lob.csv"))
    args = ap.parse_args()
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
