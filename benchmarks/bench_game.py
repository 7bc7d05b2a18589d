"""Speed of the execution game: market simulation, DDQN training (20 runs x 2 agents batched) and the test phase.

Training is timed twice, over ``--episodes`` and ``2 * --episodes`` episodes; the difference gives the steady cost per
episode without the worker start-up (spawned processes importing torch), and the estimate for 5,000 episodes is
start-up + 5,000 x that cost (the speed goal: 20 runs x 5,000 training episodes of one regime in under 5 minutes on a
2-core CPU). ``--full`` trains the whole 5,000 episodes instead and reports the measured time. The last column is
the CPU time of the busiest worker (for 5,000 episodes): about the wall time on an otherwise idle machine, as each
worker has a core of its own.
Run: ``.venv/bin/python benchmarks/bench_game.py`` (``--grids 6 --full`` for the real thing).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pandas as pd
import torch

from multiexec.game.config import AgentConfig, RunConfig
from multiexec.game.experiment import run_test_phase, train
from multiexec.game.market import simulate_schedules
from multiexec.game.params import GameParams
from multiexec.game.theory import twap


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--episodes", type=int, default=100, help="training episodes of the shorter timed run")
    ap.add_argument("--full", action="store_true", help="train the full 5,000 episodes (minutes per configuration)")
    ap.add_argument("--grids", default="6,11,exact", help="target-argmax candidates: K-point grids and/or 'exact'")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--group-size", type=int, default=10)
    args = ap.parse_args()

    rows = []
    p = GameParams(sigma=1e-3)
    sched = torch.tensor(np.stack([twap(p)] * 2))
    t0 = time.perf_counter()
    simulate_schedules(sched, p, 200_000, seed=0)
    dt = time.perf_counter() - t0
    rows.append({"what": "market simulation, 200k episodes x 2 agents", "seconds": dt,
                 "throughput": f"{200_000 * p.N / dt:,.0f} episode-steps/s", "5000 episodes (s)": None, "how": ""})
    for g in args.grids.split(","):
        grid = None if g == "exact" else int(g)
        agent = AgentConfig(target_grid=grid)
        lengths = [5000] if args.full else [args.episodes, 2 * args.episodes]
        secs, cpu = [], []
        for eps in lengths:
            cfg = RunConfig(runs=args.runs, train_episodes=eps, test_episodes=500, agent=agent, group_size=args.group_size)
            tr = train(cfg, progress=False, workers=args.workers)
            secs.append(tr.train_seconds)
            cpu.append(max(tr.group_cpu_seconds))
        if args.full:
            per_ep, estimate, label = secs[0] / 5000, secs[0], "measured"
            cpu_est = cpu[0]
        else:
            per_ep = (secs[1] - secs[0]) / args.episodes
            estimate, label = secs[0] - per_ep * args.episodes + per_ep * 5000, "estimate"
            cpu_est = cpu[0] + (cpu[1] - cpu[0]) / args.episodes * (5000 - args.episodes)
        rows.append({"what": f"train {args.runs} runs x 2 agents, target argmax {g}, {args.workers} workers",
                     "seconds": sum(secs), "throughput": f"{args.runs * 10 / per_ep:,.0f} run-steps/s",
                     "5000 episodes (s)": estimate, "how": label, "CPU-s of the busiest worker": cpu_est})
    t0 = time.perf_counter()
    run_test_phase(tr, progress=False)
    dt = time.perf_counter() - t0
    rows.append({"what": f"test {args.runs} runs x 500 greedy episodes", "seconds": dt,
                 "throughput": f"{args.runs * 500 * 10 / dt:,.0f} run-steps/s", "5000 episodes (s)": None, "how": ""})
    df = pd.DataFrame(rows)
    print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f} (timings are noisy on a shared machine)")
    print(df.to_string(index=False, float_format=lambda x: f"{x:.1f}"))


if __name__ == "__main__":
    main()
