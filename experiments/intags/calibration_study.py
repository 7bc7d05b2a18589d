"""INTAGS calibration study (issue 11, item 4): Algorithm 1 in the paper's form and our variants, each evaluated
against the warm-start cWGAN on held-out seeds.

    .venv/bin/python experiments/intags/calibration_study.py --warm WARM [--out docs/intags/calibration]
        [--runs paper:0,1,2 ours:0,1,2 loo:0 crn:0 gaussian:0 shuffle:0 lr0:0 t2b5:3] [--iterations 100]

Variants (all: feedback Mkt2NextReturn, unbiased MMD, N' = 100 cached rmsc03 rollouts, N = 5, 100 iterations, the
learning rate halved every 10):

- ``paper``: the paper's form and hyper-parameters (D.1): KDE likelihood, raw scores, T0 = 5, b = 3, lr 1e-9;
- ``ours``: the same at a learning rate that moves the weights (``--lr``, default 0.05);
- ``loo`` / ``crn`` / ``gaussian``: ``ours`` with the leave-one-out baseline / common random numbers / the explicit
  Gaussian head;
- ``shuffle`` / ``lr0``: null controls (scores permuted before the update; learning rate 0);
- ``t2b5``: ``ours`` with T0 = 2, b = 5 (the paper's Fig. 16 setting);
- ``ep`` / ``ep-paper``: ``ours`` / ``paper`` trained on EpisodeReward instead (the paper's 0.7156 -> 0.6176 run).

Each run writes ``<out>/runs/<variant>_s<seed>/`` (checkpoint, world.npz, log.csv) and one row per feedback into
``<out>/calibration_eval.csv``: the distance to fresh real rollouts (100, seeds 1,000,000+) of 50 held-out world
rollouts of the calibrated and of the warm-start market (the same seeds for both), their difference with a paired
bootstrap 95 % interval and a permutation p-value. ``<out>/calibration_curves.png`` plots the mean branch score per
iteration. Finished runs are skipped when the script is run again (``--redo`` to recompute).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from multiexec.intags import calibrate as C
from multiexec.intags.rollouts import AgentSpec

VARIANTS = {
    "paper": dict(lr=1e-9),
    "ours": dict(),
    "loo": dict(baseline="loo"),
    "crn": dict(crn=True),
    "gaussian": dict(likelihood="gaussian"),
    "shuffle": dict(shuffle=True),
    "lr0": dict(lr=0.0),
    "t2b5": dict(t0=2, b=5),
    "ep": dict(feedback="EpisodeReward"),
    "ep-paper": dict(feedback="EpisodeReward", lr=1e-9),
}
FEEDBACKS = ("Mkt2NextReturn", "Mkt2NextPriceImpact", "EpisodeReward")


def theta_shift(run: Path, warm) -> float:
    """Euclidean distance between the calibrated and the warm-start weights (same architecture only)."""
    from multiexec.lob.world import WorldWeights

    a, b = WorldWeights.load(run), warm
    if a.arch != b.arch:
        return float("nan")
    return float(np.sqrt(sum(((x - y) ** 2).sum() for (x, _), (y, _) in zip(a.layers, b.layers))
                         + sum(((x - y) ** 2).sum() for (_, x), (_, y) in zip(a.layers, b.layers))))


def plot(out: Path, runs: list[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(12, 4))
    for name in runs:
        f = out / "runs" / name / "log.csv"
        if not f.is_file():
            continue
        lg = pd.read_csv(f)
        ax[0].plot(lg["iteration"], lg["q_mean"].rolling(10, min_periods=1).mean(), label=name)
        ax[1].plot(lg["iteration"], lg["step_norm"].cumsum(), label=name)
    ax[0].set(xlabel="iteration", ylabel="mean branch score Q (MMD², 10-it. mean)", title="branch scores")
    ax[1].set(xlabel="iteration", ylabel="cumulative |Δθ|", yscale="symlog", title="weight movement")
    ax[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "calibration_curves.png", dpi=110)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--warm", required=True, help="warm-start cWGAN (training folder or world .npz)")
    ap.add_argument("--out", type=Path, default=Path("docs/intags/calibration"))
    ap.add_argument("--runs", nargs="+", default=["paper:0,1,2", "ours:0,1,2", "loo:0", "crn:0", "gaussian:0",
                                                   "shuffle:0", "lr0:0", "t2b5:3"])
    ap.add_argument("--iterations", type=int, default=100)
    ap.add_argument("--lr", type=float, default=0.05, help="learning rate of the non-paper variants")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--eval-world", type=int, default=50)
    ap.add_argument("--eval-real", type=int, default=100)
    ap.add_argument("--redo", action="store_true")
    ap.add_argument("--max-events", type=int, default=1_000_000, help="drop a rollout past this many kernel events")
    ap.add_argument("--min-dt-us", type=float, default=None, help="floor on the world agent's time between orders "
                    "(training and evaluation); bounds the order rate of a world that drifts to microsecond orders")
    ap.add_argument("--tag", default="", help="suffix of the evaluation CSV (to run several studies side by side)")
    args = ap.parse_args()

    agent = AgentSpec()
    warm = C.load_warm(args.warm)
    args.out.mkdir(parents=True, exist_ok=True)
    warm_file = warm.save(args.out / "warm_world.npz")
    real: dict[str, np.ndarray] = {}  # real feedback per feedback name
    eval_csv = args.out / f"calibration_eval{'_' + args.tag if args.tag else ''}.csv"
    done = pd.read_csv(eval_csv) if eval_csv.is_file() and not args.redo else pd.DataFrame()
    names = []
    for item in args.runs:
        variant, _, seeds = item.partition(":")
        for s in [int(x) for x in (seeds or "0").split(",")]:
            name = f"{variant}_s{s}"
            names.append(name)
            if len(done) and (done["run"] == name).any():
                print(f"{name}: done, skipped")
                continue
            kw = {"lr": args.lr, "iterations": args.iterations, "seed": s, "min_dt_us": args.min_dt_us,
                  "max_events": args.max_events,
                  **VARIANTS[variant]}
            spec = C.make_spec(agent, **kw)
            if spec.feedback not in real:
                real[spec.feedback] = C.real_feedback(spec, agent, workers=args.workers, progress=False)
            t0 = time.perf_counter()
            res = C.calibrate(warm, args.out / "runs" / name, spec, agent, runner="local", workers=args.workers,
                              real=real[spec.feedback], progress=False, resume=True)
            secs = time.perf_counter() - t0
            lg = pd.DataFrame(res.rows)
            tab = C.evaluate(args.out / "runs" / name, warm_file, FEEDBACKS, "mmd", args.eval_world, args.eval_real,
                             agent=agent, seed=s, min_dt_us=args.min_dt_us, max_events=args.max_events,
                             workers=args.workers, progress=False)
            tab.insert(0, "run", name)
            tab.insert(1, "variant", variant)
            tab.insert(2, "seed", s)
            tab["iterations"] = len(lg)
            tab["s_per_iteration"] = lg["seconds"].mean()
            tab["run_seconds"] = round(secs, 1)
            tab["q_mean_first10"] = lg["q_mean"].head(10).mean()
            tab["q_mean_last10"] = lg["q_mean"].tail(10).mean()
            tab["theta_shift"] = theta_shift(args.out / "runs" / name, warm)
            tab["min_dt_us"] = args.min_dt_us
            tab["max_events"] = args.max_events
            tab["busy_dropped"] = int(lg["busy"].sum()) if "busy" in lg else 0
            done = pd.concat([done, tab], ignore_index=True)
            done.to_csv(eval_csv, index=False, float_format="%.6g")
            print(tab[["run", "feedback", "d_a", "d_b", "diff", "ci_lo", "ci_hi", "p_perm", "theta_shift",
                       "s_per_iteration"]].to_string(index=False, float_format=lambda v: f"{v:.4g}"), flush=True)
    plot(args.out, sorted({p.name for p in (args.out / "runs").iterdir()}))
    (args.out / f"study_args{'_' + args.tag if args.tag else ''}.json").write_text(
        json.dumps({**vars(args), "out": str(args.out)}, indent=2))
    print(f"wrote {eval_csv}, {args.out / 'calibration_curves.png'}")


if __name__ == "__main__":
    main()
