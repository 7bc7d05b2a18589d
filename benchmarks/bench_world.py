"""World agent speed: orders per second of the neural world agent inside the compiled kernel, beside the
agent-based populations' events per second, and the cost of one generator forward alone.

    .venv/bin/python benchmarks/bench_world.py [--weights results/intags/cwgan] [--repeats 3] [--close 16:00:00]

Without ``--weights`` the world agent runs on untrained (random) weights of the default architecture (history
5, noise 8, hidden 64 x 64), with its orders spaced ~1 ms apart so that a day has a few hundred thousand of
them. Rows: a day of each market (median wall time of ``--repeats`` runs after one warm-up run), then the
forward pass and the fork of a market mid-day.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from multiexec.lob import world as W
from multiexec.lob.config import get_config, world_config
from multiexec.lob.sim import Simulation
from multiexec.lob.world import WorldWeights


def _day(cfg, seed: int) -> tuple[float, float, Simulation]:
    sim = Simulation(cfg, seed=seed)
    t0, c0 = time.perf_counter(), time.process_time()
    sim.run(progress=False)
    return time.perf_counter() - t0, time.process_time() - c0, sim


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights", default=None, help="trained world weights (.npz or training folder)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--close", default="16:00:00")
    args = ap.parse_args()

    if args.weights:
        wcfg = get_config(f"world:{args.weights}", close=args.close)
        label = f"world ({args.weights})"
    else:
        w = WorldWeights.random(seed=0)
        w.out_norm = np.array([4.0, 1.0, 5.0, 8.0, np.log1p(1000.0), 1.0])  # ~1 ms between orders
        wcfg = world_config(arrays=w).model_copy(update={"close": args.close})
        label = "world (random weights)"
    rows = []
    for name, cfg in ((label, wcfg), ("rmsc04", get_config("rmsc04", close=args.close)),
                      ("rmsc03", get_config("rmsc03", close=args.close))):
        _day(cfg, 1)  # warm-up: compile / load the cache
        times, cpus, sim = [], [], None
        for r in range(args.repeats):
            dt, cpu, sim = _day(cfg, 1 + r)
            times.append(dt)
            cpus.append(cpu)
        t, c = statistics.median(times), statistics.median(cpus)
        orders = sim.world_counts()["decisions"] if sim.world_agents else None
        rows.append((name, sim.n_events, int(sim.ex.st.meta[1]), len(sim.orders()), orders, t, c))

    print("| market | kernel events | trades | exchange messages | world orders | s / day (median wall) "
          "| CPU s / day | events / CPU s | world orders / CPU s | us / world order (CPU) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, ev, ntr, msgs, orders, t, c in rows:
        wo = f"{orders:,}" if orders is not None else ""
        wos = f"{orders / c:,.0f}" if orders is not None else ""
        us = f"{c / orders * 1e6:.2f}" if orders else ""
        print(f"| {name} | {ev:,} | {ntr:,} | {msgs:,} | {wo} | {t:.3f} | {c:.3f} | {ev / c:,.0f} | {wos} | {us} |")

    # the forward alone (compiled, one state, one noise row per call inside a loop of 20,000)
    sim = Simulation(wcfg, seed=1)
    sim.run_until(sim.open_ns + 60_000_000_000)
    w = sim.world_weights()
    par, lay = w.flat()
    x = sim.world_state().reshape(-1)
    zs = np.random.default_rng(0).standard_normal((20_000, w.noise_dim))
    out = np.empty((20_000, W.N_OUT))
    W.sample_actions(par, lay, x, zs[:10], out[:10])
    t0 = time.process_time()
    W.sample_actions(par, lay, x, zs, out)
    fwd = (time.process_time() - t0) / len(zs)
    t0 = time.perf_counter()
    for i in range(20):
        sim.fork(i)
    fork = (time.perf_counter() - t0) / 20
    print(f"\nforward G(z|s), compiled ({w.arch['hidden']} hidden, {w.n_in} inputs): {fwd * 1e6:.2f} us CPU per "
          f"action; fork of a market one minute in: {fork * 1e3:.2f} ms wall")


if __name__ == "__main__":
    main()
