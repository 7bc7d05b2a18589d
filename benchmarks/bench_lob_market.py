"""Throughput of the multi-order environment on the bars market and on the reactive LOB market, side by side.

    .venv/bin/python benchmarks/bench_lob_market.py [--configs desk-mini,desk] [--days 3]

TWAP on the first ``--days`` order days of each LOB config's simulated history (30-minute steps; 10-minute steps
for desk-mini's one-hour day); the same orders on the same days' bars (nothing reacts) for comparison.
An order-step is one order's decision step; for the LOB market it includes simulating the day itself (background
agents) and the child orders of every minute. Prints one table (and the machine's load).
"""

from __future__ import annotations

import argparse
import os
import time


from multiexec.execution.env import ExecConfig, MultiOrderEnv
from multiexec.execution.evaluate import run_policy
from multiexec.execution.lob_market import LOBMarketConfig, lob_dataset
from multiexec.policies.rules import make_rule_policy


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--configs", default="desk-mini,desk")
    ap.add_argument("--days", type=int, default=3)
    a, _ = ap.parse_known_args()
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    rows = []
    for name in a.configs.split(","):
        step = 10 if name == "desk-mini" else 30
        ecfg = ExecConfig(step_minutes=step)
        ds, market = lob_dataset(LOBMarketConfig(config=name, days=12 if name == "desk-mini" else 30), seed=0,
                                 step_minutes=step, progress=False)
        days = list(range(min(a.days, len(ds.orders))))
        twap = make_rule_policy("twap", ds.bars, ds.order_day_index[ds.splits["train"]], ecfg)
        envs = (("bars", MultiOrderEnv(ds.bars, ds.orders, ecfg)), ("lob", MultiOrderEnv(market, ds.orders, ecfg)))
        for label, env in envs:
            t = time.perf_counter()
            res = run_policy(env, twap, days, batch_days=len(days), progress=False)
            sec = time.perf_counter() - t
            n = len(res.orders) * env.n_steps
            rows.append((name, label, len(days), len(res.orders), env.n_steps, sec, n / sec,
                         res.orders["eg_bps"].mean()))
    print("\n| config | market | days | orders | steps/day | seconds | order-steps/s | TWAP EG (bp) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]} | {r[5]:.3f} | {r[6]:,.0f} | {r[7]:.2f} |")


if __name__ == "__main__":
    main()
