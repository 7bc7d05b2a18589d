"""INTAGS metric study (issue 11; paper Figs 3, 4, 5, 13-15) and the cost of a rollout.

    .venv/bin/python experiments/intags/metric_study.py                 # 200 rollouts per market -> docs/intags/
    .venv/bin/python experiments/intags/metric_study.py --rollouts 1000 --ns 2,3,5,7,10,20,30,40,50,100,200,400 \
        --pairs near --out docs/intags/near_1000

Writes ``metric_study_{curves,separation,samples}.csv``, ``metric_study_<pair>.png`` (all feedbacks x distances),
``fig5_mmd_<pair>.png`` (EpisodeReward and Mkt2NextReturn with MMD, the paper's Fig. 5),
``distributions_<pair>.png`` (the paper's Figs 3, 4, 13) and ``rollout_timing.csv`` (seconds per rollout of the
agent's window and of a whole simulated day, rmsc03 and rmsc04, serial). Same arguments -> same numbers.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from multiexec.intags.distances import DISTANCES
from multiexec.intags.feedback import FEEDBACKS
from multiexec.intags.metric import N_GRID, metric_study, write_study
from multiexec.intags.rollouts import AgentSpec, run_rollouts


def rollout_timing(n: int = 50) -> pd.DataFrame:
    """Seconds per rollout (the agent's 10.5-minute window) and per whole day, serial, after a warm-up rollout."""
    from multiexec.lob.config import get_config
    from multiexec.lob.sim import Simulation

    rows = []
    agent = AgentSpec()
    for m in ("rmsc03", "rmsc04"):
        run_rollouts(m, [0], agent, runner="serial", progress=False)  # compiled code loaded
        t = time.perf_counter()
        logs = run_rollouts(m, range(1, n + 1), agent, runner="serial", progress=False)
        window = (time.perf_counter() - t) / n
        t = time.perf_counter()
        for s in range(3):
            sim = Simulation(get_config(m), seed=s)
            sim.run(progress=False)
        day = (time.perf_counter() - t) / 3
        rows.append({"market": m, "window_s": agent.window_s(), "s_per_rollout": window, "events_per_rollout":
                     sum(lg.n_events for lg in logs) / n, "s_per_full_day": day, "events_per_full_day": sim.n_events})
    return pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rollouts", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pairs", default="far,mid,near03,near")
    ap.add_argument("--ns", default=",".join(map(str, N_GRID)))
    ap.add_argument("--draws", type=int, default=50)
    ap.add_argument("--estimator", default="hajek")
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--runner", default="local")
    ap.add_argument("--out", type=Path, default=Path("docs/intags"))
    ap.add_argument("--no-timing", action="store_true")
    a = ap.parse_args()
    pairs = [p for p in a.pairs.split(",") if p]
    t = time.perf_counter()
    res = metric_study(a.rollouts, a.seed, pairs, FEEDBACKS, tuple(DISTANCES), [int(x) for x in a.ns.split(",")], a.draws,
                       a.estimator, runner=a.runner, workers=a.workers)
    paths = write_study(res, a.out, pairs)
    print(f"study: {time.perf_counter() - t:.1f} s")
    sep = res["separation"].pivot_table(index=["pair", "feedback"], columns="distance", values="smallest_N", dropna=False)
    print("smallest N that separates (NaN: never):")
    print(sep.to_string(float_format=lambda v: f"{v:.0f}"))
    if not a.no_timing:
        tim = rollout_timing()
        tim.to_csv(a.out / "rollout_timing.csv", index=False, float_format="%.4g")
        print(tim.to_string(index=False))
        paths.append(a.out / "rollout_timing.csv")
    print("wrote " + ", ".join(map(str, paths)))


if __name__ == "__main__":
    main()
