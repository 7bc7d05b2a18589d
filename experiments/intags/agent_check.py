"""The experimental agent on the study's markets (issue 11): propensity, treatments, fills, and the former
ticks-based propensity for comparison.

    .venv/bin/python experiments/intags/agent_check.py        # -> docs/intags/agent_check.csv

Reads the metric study's cached rollouts (200 per market, seed 0; computed if absent).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from multiexec.intags.metric import market_logs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rollouts", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--markets", default="rmsc03,rmsc04,rmsc04-abides,rmsc03-pov0.5,rmsc04-perturbed")
    ap.add_argument("--out", type=Path, default=Path("docs/intags/agent_check.csv"))
    a = ap.parse_args()
    logs = market_logs(a.markets.split(","), a.rollouts, a.seed, runner="serial", progress=False)
    rows = []
    for m, L in logs.items():
        e = np.concatenate([lg.rows["propensity"] for lg in L])
        act = np.concatenate([lg.rows["action"] for lg in L])
        spread = np.concatenate([lg.rows["spread"] for lg in L])
        imb = np.concatenate([lg.rows["imbalance_5"] for lg in L])
        old = 1 / (1 + np.exp(-(-0.5 + 2 * (imb - 0.5) + 0.3 * spread)))  # the former propensity (spread in ticks)
        rows.append({"market": m, "rollouts": len(L), "steps_per_rollout": np.mean([lg.n for lg in L]),
                     "spread_bp_median": np.median(np.concatenate([lg.rows["spread_bp"] for lg in L])),
                     "propensity_p05": np.quantile(e, 0.05), "propensity_median": np.median(e),
                     "propensity_p95": np.quantile(e, 0.95), "inside_clip": np.mean((e > 0.05) & (e < 0.95)),
                     "market_order_share": np.mean(act == 0),
                     "rollouts_with_both": np.mean([(lg.rows["action"] == 0).any() and (lg.rows["action"] == 1).any()
                                                    for lg in L]),
                     "parent_filled": np.mean([lg.executed >= 50 for lg in L]),
                     "former_propensity_at_clip": np.mean(old >= 0.95)})
    t = pd.DataFrame(rows)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    t.to_csv(a.out, index=False, float_format="%.4g")
    print(t.to_string(index=False, float_format=lambda v: f"{v:.3g}"))


if __name__ == "__main__":
    main()
