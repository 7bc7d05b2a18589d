"""Execution policies in the reactive LOB market (docs/lob_market.md): rules and a trained policy on the test days,
and impact curves (cost against the order's share of the day's volume).

    .venv/bin/python experiments/lob_market/study.py --out docs/lob_market [--config desk --days 30 --seed 0]

Writes ``policies.csv``, ``impact.csv``, ``impact.png`` and ``profiles.png``; the trained run goes to
``results/lob_market_run``; prints the tables. ~15 min on 2 cores for the defaults.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from multiexec.algos.train import TrainConfig, train  # noqa: E402
from multiexec.data.orders import DayOrders  # noqa: E402
from multiexec.execution.env import ExecConfig, MultiOrderEnv  # noqa: E402
from multiexec.execution.evaluate import metrics_table, run_policy  # noqa: E402
from multiexec.execution.lob_market import LOBMarketConfig, lob_dataset  # noqa: E402
from multiexec.execution.plots import plot_profiles  # noqa: E402
from multiexec.policies.agents import NeuralPolicy  # noqa: E402
from multiexec.policies.rules import RULES, make_rule_policy  # noqa: E402

LEVELS = (0.001, 0.003, 0.01, 0.03, 0.1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("results/lob_market"))
    ap.add_argument("--config", default="desk")
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--method", default="ppo")
    ap.add_argument("--train-days", type=int, default=64)
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    ecfg = ExecConfig()
    t0 = time.perf_counter()
    ds, market = lob_dataset(LOBMarketConfig(config=a.config, days=a.days), seed=a.seed,
                             step_minutes=ecfg.step_minutes)
    print(f"{ds.name}: {len(ds.orders)} order days, splits { {k: len(v) for k, v in ds.splits.items()} }, "
          f"{np.mean([o.n for o in ds.orders]):.1f} orders/day ({time.perf_counter() - t0:.0f} s)")
    env = MultiOrderEnv(market, ds.orders, ecfg)
    train_days = ds.order_day_index[ds.splits["train"]]
    test = ds.splits["test"]

    # a policy trained in the LOB market itself
    t1 = time.perf_counter()
    tcfg = TrainConfig(method=a.method, seed=a.seed, train_days=a.train_days, eval_every=max(8, a.train_days // 4),
                       rollout_days=8)
    res = train(ds, tcfg, Path("results/lob_market_run"), ecfg, resume=False, market=market)
    print(f"trained {a.method} for {a.train_days} days in {time.perf_counter() - t1:.0f} s")

    results = []
    for name in RULES:
        results.append(run_policy(env, make_rule_policy(name, ds.bars, train_days, ecfg), test, progress=False))
    results.append(run_policy(env, NeuralPolicy(res.agent, name=a.method), test, progress=False))
    table = metrics_table(results)
    table["IS_bps"] = [r.orders["is_bps"].mean() for r in results]
    table.to_csv(a.out / "policies.csv", index=False)
    cols = ["policy", "EG_bps", "IS_bps", "POS_pct", "GLR", "TOC_pct", "fill_pct", "n_orders", "vs_twap_mean_diff_bps",
            "vs_twap_t_pvalue"]
    print(table[cols].to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    plot_profiles([(r.name, r.profile) for r in results], a.out / "profiles.png")

    # impact curves: one order per symbol and test day, TWAP, sized as a share of the symbol's mean daily volume
    twap = make_rule_policy("twap", ds.bars, train_days, ecfg)
    adv = ds.bars.volume[train_days].sum(axis=2).mean(axis=0)  # (A,) mean daily volume, training days
    rows = []
    for side, label in ((-1, "buy"), (1, "sell")):
        for lvl in LEVELS:
            orders = [DayOrders(ds.orders[k].date, list(ds.bars.symbols), np.full(ds.bars.n_assets, side),
                                np.maximum(np.round(lvl * adv), 1.0), 1e15) for k in test]
            env_i = MultiOrderEnv(market, orders, ecfg)
            r = run_policy(env_i, twap, list(range(len(orders))), progress=False).orders
            rows.append({"side": label, "share_of_volume": lvl, "EG_bps": r["eg_bps"].mean(),
                         "EG_se": r["eg_bps"].std() / np.sqrt(len(r)), "IS_bps": r["is_bps"].mean(),
                         "IS_se": r["is_bps"].std() / np.sqrt(len(r)), "fill_pct": 100 * r["fill_rate"].mean(),
                         "n": len(r)})
            print(rows[-1])
    imp = pd.DataFrame(rows)
    imp.to_csv(a.out / "impact.csv", index=False)
    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    for label, g in imp.groupby("side"):
        for k, col in enumerate(("EG_bps", "IS_bps")):
            ax[k].errorbar(100 * g["share_of_volume"], -g[col], yerr=2 * g[col.replace("bps", "se")], marker="o",
                           capsize=3, label=label)
    for k, title in enumerate(("cost vs the day's average price (-EG)", "cost vs the arrival price (-IS)")):
        ax[k].set_xscale("log")
        ax[k].set_xlabel("order size, % of the symbol's mean daily volume")
        ax[k].set_ylabel("bp (± 2 s.e.)")
        ax[k].set_title(title)
        ax[k].axhline(0, color="grey", lw=0.5)
        ax[k].legend()
    fig.suptitle(f"TWAP in the {ds.name} market: cost grows with size")
    fig.tight_layout()
    fig.savefig(a.out / "impact.png", dpi=110)
    print(imp.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    print(f"total {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
