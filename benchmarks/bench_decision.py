"""Benchmark of one decision of the learned policies, called the ordinary way (``NeuralPolicy.act``).

Table: method (PPO, CommNet, TarMAC, IaC^C, IaC^T with K = 3) x orders (100, 1,000) x torch threads (1, 2) x load
(``free``: nothing else of ours runs; ``busy``: a subprocess spins on one core for the whole row), and for two
threads OpenMP's wait policy (``default``: libgomp's idle threads spin before they sleep; ``passive``:
``OMP_WAIT_POLICY=PASSIVE``, they sleep at once; each policy runs in its own process). Each row times
``--repeats`` decisions of a random model (seed 0) stepping through whole synthetic days (13 steps, every order
alive, carried GRU state as within a day) and gives p50 / p99 of the wall-clock milliseconds, the p50 of the
process's CPU milliseconds (summed over its threads; less sensitive to other processes than the wall clock), and
the load average (``uptime``) read just before the row.

``--out rows.csv`` keeps the rows; ``--before rows.csv`` adds that earlier run's p50 / p99 as ``before_*`` columns
(e.g. measured on the code before a change).

Usage: ``.venv/bin/python benchmarks/bench_decision.py [--repeats 200] [--methods ppo,iac_t] [--orders 100,1000]
[--threads 1,2] [--loads free,busy] [--waits default,passive] [--max-seconds 30] [--out after.csv]
[--before before.csv]``; ``--bf16 [--checkpoint best.pt]`` measures what bfloat16 would cost instead. Timings depend
on the machine's load.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

T = 13  # decision steps of a day (the environment's default)
SPIN = "while True: pass"
OMP_WAIT = os.environ.get("OMP_WAIT_POLICY", "").lower() or "default"  # read by OpenMP when torch loads


def _obs(n: int, t: int, day: int, rng: np.random.Generator):
    from multiexec.execution.env import F_NOW, F_SEQ, Obs

    seq = np.zeros((1, n, T, F_SEQ), dtype=np.float32)
    seq[:, :, :t] = rng.standard_normal((1, n, t, F_SEQ), dtype=np.float32)
    ones = np.ones((1, n), dtype=bool)
    return Obs(t=t, seq=seq, now=rng.standard_normal((1, n, F_NOW), dtype=np.float32), mask=ones, active=ones,
               side=np.ones((1, n), dtype=np.int8), asset=np.zeros((1, n), dtype=np.int64),
               day=np.array([day], dtype=np.int64), remaining=np.ones((1, n)), n_steps=T)


def time_decisions(method: str, n_orders: int, repeats: int, warmup: int = 13,
                   max_seconds: float = float("inf")) -> tuple[np.ndarray, np.ndarray]:
    """Wall-clock and process CPU milliseconds of ``repeats`` calls of ``NeuralPolicy.act`` for a fresh day every T
    steps (obs built outside the timing); fewer if the timed calls take more than ``max_seconds`` in all."""
    from multiexec.execution.env import F_NOW, F_SEQ
    from multiexec.policies.agents import AgentConfig, ExecAgent, NeuralPolicy

    torch.manual_seed(0)
    agent = ExecAgent(AgentConfig(method=method, f_seq=F_SEQ, f_now=F_NOW, rounds=3))
    pol = NeuralPolicy(agent, greedy=True)
    rng = np.random.default_rng(0)
    days = [[_obs(n_orders, t, d, rng) for t in range(T)] for d in range(2)]
    wall, cpu = [], []
    for i in range(warmup + repeats):
        if sum(wall) > max_seconds:
            break
        obs = days[(i // T) % 2][i % T]
        obs.day[0] = i // T  # a new day every T decisions: the policy restarts its carried state
        t0, c0 = time.perf_counter(), time.process_time()
        pol.act(obs)
        if i >= warmup:
            wall.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    return np.array(wall) * 1e3, np.array(cpu) * 1e3


def bf16_cost(n_orders: int, repeats: int, checkpoint: Path | None) -> dict:
    """What bfloat16 would cost (not the default: it changes decisions): IaC^T at ``n_orders`` under CPU autocast
    to bfloat16 against float32, same observations: p50 of both and the share of executed actions that differ."""
    from multiexec.execution.env import F_NOW, F_SEQ
    from multiexec.policies.agents import AgentConfig, ExecAgent, NeuralPolicy

    torch.manual_seed(0)
    agent = (ExecAgent.load(checkpoint) if checkpoint is not None
             else ExecAgent(AgentConfig(method="iac_t", f_seq=F_SEQ, f_now=F_NOW, rounds=3)))
    rng = np.random.default_rng(1)
    n_days = max(1, repeats // T)
    days = [[_obs(n_orders, t, d, rng) for t in range(T)] for d in range(n_days)]
    out = {}
    for name in ("float32", "bfloat16"):
        pol, acts, wall = NeuralPolicy(agent, greedy=True), [], []
        for i, obs in enumerate(o for day in days for o in day):
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=name == "bfloat16"):
                t0 = time.perf_counter()
                acts.append(pol.act(obs))
                if i >= T:  # the first day warms up
                    wall.append(time.perf_counter() - t0)
        out[name] = (np.concatenate(acts), np.percentile(np.array(wall) * 1e3, 50) if wall else float("nan"))
    differ = float((out["float32"][0] != out["bfloat16"][0]).mean())
    return {"model": str(checkpoint) if checkpoint is not None else "random iac_t (seed 0)", "orders": n_orders,
            "decisions": n_days * T, "fp32_p50_ms": out["float32"][1], "bf16_p50_ms": out["bfloat16"][1],
            "actions_changed_pct": 100 * differ}


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def run(methods: list[str], orders: list[int], threads: list[int], loads: list[str], repeats: int,
        max_seconds: float) -> pd.DataFrame:
    rows = []
    for load in loads:
        spinner = subprocess.Popen([sys.executable, "-c", SPIN]) if load == "busy" else None
        try:
            if spinner is not None:
                time.sleep(0.5)
            for th in threads:
                torch.set_num_threads(th)
                for n in orders:
                    for m in methods:
                        la = load_average()
                        ms, cpu = time_decisions(m, n, repeats, max_seconds=max_seconds)
                        rows.append({"method": m, "orders": n, "threads": th, "omp_wait": OMP_WAIT, "load": load,
                                     "n": len(ms),
                                     "p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)),
                                     "cpu_p50_ms": float(np.percentile(cpu, 50)), "loadavg_1_5_15": la})
                        r = rows[-1]
                        print(f"  {m:8s} orders={n:5d} threads={th} {OMP_WAIT:7s} {load:4s}: p50 {r['p50_ms']:7.2f} ms, "
                              f"p99 {r['p99_ms']:7.2f} ms  (load {la})", file=sys.stderr, flush=True)
        finally:
            if spinner is not None:
                spinner.kill()
                spinner.wait()
    return pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=200, help="timed decisions per row")
    ap.add_argument("--methods", default="ppo,commnet,tarmac,iac_c,iac_t")
    ap.add_argument("--orders", default="100,1000")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--loads", default="free,busy", help="free and/or busy (one core held by a spinning process)")
    ap.add_argument("--waits", default="default,passive",
                    help="OpenMP wait policies for more than one thread: default (libgomp spins, then sleeps) and/or "
                    "passive (OMP_WAIT_POLICY=PASSIVE: idle threads sleep at once); each runs in its own process")
    ap.add_argument("--max-seconds", type=float, default=30.0,
                    help="stop a row after this many seconds of timed decisions (n says how many were timed)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help="write the rows to this CSV")
    ap.add_argument("--before", type=Path, help="CSV of an earlier run to show side by side")
    ap.add_argument("--bf16", action="store_true", help="only measure what bfloat16 would cost (speed, changed actions)")
    ap.add_argument("--checkpoint", type=Path, help="with --bf16: a trained IaC^T checkpoint instead of a random one")
    args, _ = ap.parse_known_args()  # run_all.py passes every benchmark the same arguments

    torch.set_num_interop_threads(1)
    if args.bf16:
        torch.set_num_threads(1)
        row = bf16_cost(1000, args.repeats, args.checkpoint)
        print(f"load {load_average()}; bfloat16 autocast vs float32, 1 thread, CPU capability "
              f"{torch.backends.cpu.get_cpu_capability()}:")
        print(pd.DataFrame([row]).to_string(index=False, float_format=lambda x: f"{x:.2f}"))
        return
    if args.child:
        run(args.methods.split(","), [int(x) for x in args.orders.split(",")], [int(x) for x in args.threads.split(",")],
            args.loads.split(","), args.repeats, args.max_seconds).to_csv(args.out, index=False)
        return
    print(f"uptime before: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    parts = []
    with tempfile.TemporaryDirectory() as tmp:
        for wait in args.waits.split(","):
            threads = [t for t in args.threads.split(",") if wait == "default" or int(t) > 1]
            if not threads:
                continue
            env = dict(os.environ)
            env.pop("OMP_WAIT_POLICY", None)
            if wait != "default":
                env["OMP_WAIT_POLICY"] = wait.upper()
            out = Path(tmp) / f"{wait}.csv"
            cmd = [sys.executable, __file__, "--child", "--out", str(out), "--threads", ",".join(threads)]
            for opt in ("repeats", "methods", "orders", "loads", "max_seconds"):
                cmd += [f"--{opt.replace('_', '-')}", str(getattr(args, opt))]
            subprocess.run(cmd, env=env, check=True)
            parts.append(pd.read_csv(out))
    df = pd.concat(parts, ignore_index=True)
    print(f"uptime after:  {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    if args.out is not None:
        df.to_csv(args.out, index=False)
    keys = ["method", "orders", "threads", "omp_wait", "load"]
    if args.before is not None:
        before = pd.read_csv(args.before)
        if "omp_wait" not in before.columns:
            before["omp_wait"] = "default"
        cols = [c for c in ("p50_ms", "p99_ms", "cpu_p50_ms", "loadavg_1_5_15") if c in before.columns]
        before = before[keys + cols].rename(columns={c: "before_" + c for c in cols})
        df = df.merge(before, on=keys, how="left")
    print(f"One decision (NeuralPolicy.act, greedy, K = 3 rounds for the communicating methods), {args.repeats} "
          f"decisions per row, torch {torch.__version__}, CPU capability {torch.backends.cpu.get_cpu_capability()}:")
    print(df.to_string(index=False, float_format=lambda x: f"{x:.2f}"))
    sel = df[(df.method == "iac_t") & (df.orders == 1000)]
    if len(sel):
        best = sel.p99_ms.min()
        print(f"goal p99 <= 10 ms for IaC^T at 1,000 orders: {'met' if best <= 10.0 else 'NOT met'} "
              f"(best p99 {best:.2f} ms)")


if __name__ == "__main__":
    main()
