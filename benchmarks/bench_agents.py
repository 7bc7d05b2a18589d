"""Benchmark of the learned agents.

1. Decision latency: one decision step of IaC^T (K = 3 rounds, 2 heads) for 10 / 100 / 1,000 concurrent orders
   with a full day's history (the GRU runs over all T - 1 past steps), batch of one day, p50 / p99 over repeats.
   Goal: p99 < 10 ms for 1,000 orders on a 2-core CPU.
2. Training throughput: order-steps of environment interaction per second during training (collection and
   updates together) of every method on the built-in synthetic market.

Usage: ``.venv/bin/python benchmarks/bench_agents.py [--threads 2] [--repeats 1000] [--train-days 48]``.
Timings depend on the machine's load.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import torch


def latency(n_orders: int, repeats: int, threads: int, method: str = "iac_t", rounds: int = 3) -> list[dict]:
    """Wall-clock and CPU time of one decision at the day's last step (t = T - 1, full history), two ways:
    ``rescan`` runs the GRU over the whole history; ``carried`` advances the GRU state carried from the previous
    step (what :class:`NeuralPolicy` does within a day). Both give the same decision; both run the linear layers
    in oneDNN as ``NeuralPolicy`` does (``nets.acting``)."""
    from multiexec.execution.env import F_NOW, F_SEQ
    from multiexec.policies.agents import AgentConfig, ExecAgent
    from multiexec.policies.nets import acting

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    agent = ExecAgent(AgentConfig(method=method, f_seq=F_SEQ, f_now=F_NOW, rounds=rounds)).eval()
    ext = agent.extractor
    T = 13
    t = T - 1
    seq = torch.randn(1, n_orders, T, F_SEQ)
    now = torch.randn(1, n_orders, F_NOW)
    alive = torch.ones(1, n_orders, dtype=torch.bool)
    rows = []
    with torch.inference_mode():
        carried = ext.history(seq, t - 1)
        modes = {
            "rescan": lambda: ext.history(seq, t),
            "carried": lambda: ext.advance(carried, seq[:, :, t - 1]),
        }
        for mode, hist_fn in modes.items():
            wall, cpu = [], []
            with acting():
                for i in range(repeats + 10):
                    w0, c0 = time.perf_counter(), time.process_time()
                    h0 = ext.head(hist_fn(), now)
                    agent.decide(h0, alive, greedy=True, with_value=False)
                    if i >= 10:
                        wall.append(time.perf_counter() - w0)
                        cpu.append(time.process_time() - c0)
            w, c = np.array(wall) * 1e3, np.array(cpu) * 1e3
            rows.append({"method": method, "orders": n_orders, "K": rounds, "history": mode, "threads": threads,
                         "p50_ms": float(np.percentile(w, 50)), "p99_ms": float(np.percentile(w, 99)),
                         "cpu_p50_ms": float(np.percentile(c, 50))})
    return rows


def throughput(methods: list[str], train_days: int, threads: int) -> pd.DataFrame:
    import tempfile

    from multiexec.algos.train import TrainConfig, train
    from multiexec.data.dataset import DataConfig, load_dataset

    ds = load_dataset(DataConfig())
    rows = []
    for m in methods:
        with tempfile.TemporaryDirectory() as d:
            cfg = TrainConfig(method=m, train_days=train_days, eval_every=10**9, threads=threads)
            t0 = time.perf_counter()
            res = train(ds, cfg, d, progress=False)
            wall = time.perf_counter() - t0
        log = res.log
        tr = log[log.kind == "train"]
        rows.append({"method": m, "days": int(tr["days"].iloc[-1]), "order_steps": res.order_steps,
                     "seconds": wall, "order_steps_per_s": res.order_steps / wall,
                     "days_per_s": float(tr["days"].iloc[-1]) / wall})
    return pd.DataFrame(rows)


def main() -> None:
    from multiexec.policies.registry import method_names

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=1000, help="timed decisions per row (p99 = the 10th slowest of 1,000)")
    ap.add_argument("--train-days", type=int, default=48, help="training days per method for the throughput")
    ap.add_argument("--methods", default=",".join(method_names()),
                    help="comma-separated methods for the throughput (default: every registered method)")
    ap.add_argument("--skip-throughput", action="store_true")
    args = ap.parse_args()

    lat = pd.DataFrame([r for n in (10, 100, 1000) for r in latency(n, args.repeats, args.threads)])
    print("Decision latency, IaC^T K=3, full-day history (T=13), one decision step:")
    print(lat.to_string(index=False, float_format=lambda x: f"{x:.2f}"))
    best = lat.loc[lat.orders == 1000, "p99_ms"].min()
    print(f"goal p99 < 10 ms at 1,000 orders: {'met' if best < 10.0 else 'NOT met'} (best p99 {best:.2f} ms; "
          "cpu_p50_ms is CPU time of this process, summed over its threads)\n")
    if not args.skip_throughput:
        thr = throughput(args.methods.split(","), args.train_days, 1)
        print("Training throughput on the synthetic market (1 torch thread per run, validation excluded):")
        print(thr.to_string(index=False, float_format=lambda x: f"{x:.1f}"))


if __name__ == "__main__":
    main()
