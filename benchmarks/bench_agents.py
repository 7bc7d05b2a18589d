"""Benchmark of the learned agents.

1. Decision latency: one decision step of IaC^T (K = 3 rounds, 2 heads) for 10 / 100 / 1,000 concurrent orders
   with a full day's history (the GRU runs over all T - 1 past steps), batch of one day, p50 / p99 over repeats,
   in float32 and with the linear layers in bfloat16 (``NeuralPolicy(precision="bf16")``).
   Goal: p99 < 10 ms for 1,000 orders on a 2-core CPU.
2. Training throughput: order-steps of environment interaction per second during training (collection and
   updates together) of every method on the built-in synthetic market.
3. With ``--agreement DIR`` (a ``multiexec compare`` folder of one data source, e.g.
   runs/compare/us_minute_2018): for every trained run in it, how often the bf16 policy's decisions equal the
   float32 ones on the test split (both asked on the same observations, those of the float32 run), and the test
   EG of each.

Usage: ``.venv/bin/python benchmarks/bench_agents.py [--threads 2] [--repeats 200] [--train-days 48]
[--agreement runs/compare/us_minute_2018]``. Timings depend on the machine's load.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import torch


def latency(n_orders: int, repeats: int, threads: int, method: str = "iac_t", rounds: int = 3) -> list[dict]:
    """Wall-clock and CPU time of one decision at the day's last step (t = T - 1, full history), three ways:
    ``rescan`` runs the GRU over the whole history; ``carried`` advances the GRU state carried from the previous
    step (what :class:`NeuralPolicy` does within a day), in float32 and with the linear layers in bfloat16.
    rescan and carried give the same decision."""
    from multiexec.execution.env import F_NOW, F_SEQ
    from multiexec.policies.agents import AgentConfig, ExecAgent

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
            ("rescan", "fp32"): lambda: ext.history(seq, t),
            ("carried", "fp32"): lambda: ext.advance(carried, seq[:, :, t - 1]),
            ("carried", "bf16"): lambda: ext.advance(carried, seq[:, :, t - 1]),
        }
        for (mode, precision), hist_fn in modes.items():
            wall, cpu = [], []
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
                for i in range(repeats + 10):
                    w0, c0 = time.perf_counter(), time.process_time()
                    h0 = ext.head(hist_fn(), now)
                    agent.decide(h0, alive, greedy=True, with_value=False)
                    if i >= 10:
                        wall.append(time.perf_counter() - w0)
                        cpu.append(time.process_time() - c0)
            w, c = np.array(wall) * 1e3, np.array(cpu) * 1e3
            rows.append({"method": method, "orders": n_orders, "K": rounds, "history": mode, "precision": precision,
                         "threads": threads, "p50_ms": float(np.percentile(w, 50)),
                         "p99_ms": float(np.percentile(w, 99)), "cpu_p50_ms": float(np.percentile(c, 50))})
    return rows


class _Both:
    """Acts with the float32 policy and counts how often the bf16 policy would have decided the same."""

    def __init__(self, agent):
        from multiexec.policies.agents import NeuralPolicy

        self.fp32, self.bf16 = NeuralPolicy(agent), NeuralPolicy(agent, precision="bf16")
        self.name, self.same, self.total = agent.cfg.method, 0, 0

    def act(self, obs) -> np.ndarray:
        a, b = self.fp32.act(obs), self.bf16.act(obs)
        self.same += int(((a == b) & obs.active).sum())
        self.total += int(obs.active.sum())
        return a


def agreement(folder: str) -> pd.DataFrame:
    """bf16 vs float32 decisions of every trained run (``<method>/seed<k>/best.pt``) of a compare folder."""
    import json
    from pathlib import Path

    from multiexec.data.dataset import DataConfig, load_dataset
    from multiexec.execution.env import ExecConfig, MultiOrderEnv
    from multiexec.execution.evaluate import run_policy
    from multiexec.policies.agents import METHODS, ExecAgent, NeuralPolicy

    root = Path(folder)
    cc = json.loads((root / "compare_config.json").read_text())
    ds = load_dataset(DataConfig(**cc["data"]))
    env = MultiOrderEnv(ds.bars, ds.orders, ExecConfig(**cc["exec"]))
    days = ds.splits["test"]
    rows = []
    for method in METHODS:
        for ckpt in sorted((root / method).glob("seed*/best.pt")):
            agent = ExecAgent.load(ckpt)
            both = _Both(agent)
            eg32 = run_policy(env, both, days, progress=False).metrics["EG_bps"]
            eg16 = run_policy(env, NeuralPolicy(agent, precision="bf16"), days, progress=False).metrics["EG_bps"]
            rows.append({"method": method, "run": ckpt.parent.name, "decisions": both.total,
                         "same_pct": 100.0 * both.same / max(both.total, 1), "EG_fp32_bp": eg32, "EG_bf16_bp": eg16})
    return pd.DataFrame(rows)


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
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=200)
    ap.add_argument("--train-days", type=int, default=48, help="training days per method for the throughput")
    ap.add_argument("--methods", default="ppo,ddqn,commnet,tarmac,is,iac_c,iac_t")
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--agreement", default=None, help="compare folder of one data source: bf16 vs fp32 decisions")
    args = ap.parse_args()

    lat = pd.DataFrame([r for n in (10, 100, 1000) for r in latency(n, args.repeats, args.threads)])
    print("Decision latency, IaC^T K=3, full-day history (T=13), one decision step:")
    print(lat.to_string(index=False, float_format=lambda x: f"{x:.2f}"))
    for precision in ("fp32", "bf16"):
        best = lat.loc[(lat.orders == 1000) & (lat.precision == precision), "p99_ms"].min()
        print(f"goal p99 < 10 ms at 1,000 orders, {precision}: {'met' if best < 10.0 else 'NOT met'} "
              f"(best p99 {best:.2f} ms)")
    print("cpu_p50_ms is CPU time of this process, summed over its threads\n")
    if args.agreement:
        torch.set_num_threads(args.threads)
        agr = agreement(args.agreement)
        print(f"bf16 vs fp32 decisions on the test split of {args.agreement} (same observations):")
        print(agr.to_string(index=False, float_format=lambda x: f"{x:.2f}"))
        print()
    if not args.skip_throughput:
        thr = throughput(args.methods.split(","), args.train_days, 1)
        print("Training throughput on the synthetic market (1 torch thread per run, validation excluded):")
        print(thr.to_string(index=False, float_format=lambda x: f"{x:.1f}"))


if __name__ == "__main__":
    main()
