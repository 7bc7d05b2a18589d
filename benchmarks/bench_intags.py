"""Speed of INTAGS' calibration (Algorithm 1): seconds per iteration with T0 = 5, b = 3, N = 5 (75 MC rollouts and
one complete rollout per iteration) on the serial runner and on a local process pool, and the projected time of
100 iterations. Goal (issue 11): <= 10 s per iteration and 100 iterations <= 20 minutes on the 2-core machine.

    .venv/bin/python benchmarks/bench_intags.py --warm WARM [--iterations 6] [--workers 1,2]

``--warm``: the warm-start world (a cWGAN training folder or world .npz; default: untrained weights of the default
architecture with orders ~10 ms apart). The first iteration of each run (process start-up, compiled-code cache
load) is reported apart; s / iteration is the median of the others. The load average (``os.getloadavg``) is printed
before and after each row: the machine is shared, and the figures scale with it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import numpy as np

from multiexec.intags import calibrate as C
from multiexec.intags.rollouts import AgentSpec
from multiexec.lob.world import WorldWeights


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--warm", default=None)
    ap.add_argument("--iterations", type=int, default=6)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--t0", type=int, default=5)
    ap.add_argument("--b", type=int, default=3)
    ap.add_argument("--n-mc", type=int, default=5)
    args = ap.parse_args()

    if args.warm:
        warm = C.load_warm(args.warm)
        label = args.warm
    else:
        warm = WorldWeights.random(seed=0)
        warm.out_norm = np.array([4.0, 1.0, 5.0, 8.0, np.log1p(1e4), 1.0])
        label = "untrained weights"
    agent = AgentSpec()
    spec = C.make_spec(agent, t0=args.t0, b=args.b, n_mc=args.n_mc, iterations=args.iterations, lr=1e-9)
    real = C.real_feedback(spec, agent, progress=False)
    rows = []
    for w in [int(x) for x in args.workers.split(",")]:
        load0 = os.getloadavg()[0]
        with tempfile.TemporaryDirectory() as d:
            t0 = time.perf_counter()
            res = C.calibrate(warm, d, spec, agent, runner="local", workers=w, real=real, progress=False)
            total = time.perf_counter() - t0
        secs = [r["seconds"] for r in res.rows]
        per = statistics.median(secs[1:]) if len(secs) > 1 else secs[0]
        rows.append((w, len(secs), secs[0], per, 100 * per / 60, total, load0, os.getloadavg()[0]))
    print(f"INTAGS calibration, warm start: {label}; T0 = {args.t0}, b = {args.b}, N = {args.n_mc} "
          f"({args.t0 * args.b * args.n_mc} MC rollouts per iteration); {os.cpu_count()} cores")
    print("| workers | iterations | first iteration s | s / iteration (median of the rest) | 100 iterations, min "
          "(projected) | run s | load before | load after |")
    print("|---|---|---|---|---|---|---|---|")
    for w, n, first, per, proj, total, l0, l1 in rows:
        print(f"| {w} | {n} | {first:.2f} | {per:.2f} | {proj:.1f} | {total:.1f} | {l0:.1f} | {l1:.1f} |")


if __name__ == "__main__":
    main()
