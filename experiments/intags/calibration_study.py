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
- ``shuffle`` / ``lr0``: null controls (scores permuted across the iteration before the update; learning rate 0);
- ``loo-pi``: ``loo`` trained on Mkt2NextPriceImpact; ``loo-shuffle`` / ``loo-shuffle-pi``: their shuffled-score
  null controls (scores permuted among the b branches of each branch point); ``loo-shuffle-global`` /
  ``loo-shuffle-global-pi``: the same permuting across the whole iteration (larger steps, docs/intags.md §10.4);
  ``loo-lr0.01`` / ``loo-lr0.2``: ``loo`` at other learning rates (the sweep); ``loo-ep`` / ``loo-t2b5``: ``loo``
  trained on EpisodeReward / with T0 = 2, b = 5;
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
from multiexec.intags.metric import save_figure
from multiexec.intags.rollouts import AgentSpec

VARIANTS = {
    "paper": dict(lr=1e-9),
    "ours": dict(),
    "loo": dict(baseline="loo"),
    "crn": dict(crn=True),
    "gaussian": dict(likelihood="gaussian"),
    "shuffle": dict(shuffle=True, shuffle_scope="iteration"),
    "lr0": dict(lr=0.0),
    "t2b5": dict(t0=2, b=5),
    "loo-pi": dict(baseline="loo", feedback="Mkt2NextPriceImpact"),
    "loo-shuffle": dict(baseline="loo", shuffle=True),
    "loo-shuffle-pi": dict(baseline="loo", shuffle=True, feedback="Mkt2NextPriceImpact"),
    "loo-shuffle-global": dict(baseline="loo", shuffle=True, shuffle_scope="iteration"),
    "loo-shuffle-global-pi": dict(baseline="loo", shuffle=True, shuffle_scope="iteration",
                                  feedback="Mkt2NextPriceImpact"),
    "loo-ep": dict(baseline="loo", feedback="EpisodeReward"),
    "loo-t2b5": dict(baseline="loo", t0=2, b=5),
    "loo-lr0.01": dict(baseline="loo", lr=0.01),
    "loo-lr0.2": dict(baseline="loo", lr=0.2),
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

    fig, ax = plt.subplots(1, 2, figsize=(13, 4.5))
    cmap = plt.get_cmap("tab20")
    for i, name in enumerate(runs):
        f = out / "runs" / name / "log.csv"
        if not f.is_file():
            continue
        lg = pd.read_csv(f)
        style = dict(color=cmap(i % 20), ls="-" if i < 20 else "--", lw=1.1, label=name)
        ax[0].plot(lg["iteration"], lg["q_mean"].rolling(10, min_periods=1).mean(), **style)
        ax[1].plot(lg["iteration"], lg["step_norm"].cumsum(), **style)
    ax[0].set(xlabel="iteration", ylabel="mean branch score Q (MMD², 10-it. mean)", title="branch scores")
    ax[1].set(xlabel="iteration", ylabel="cumulative step norm", yscale="log", title="weight movement")
    ax[1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
    save_figure(fig, out / "calibration_curves.png", dpi=100)


def table(out: Path) -> str:
    """The study's results as a markdown table (one row per run and feedback), from every
    ``<out>/calibration_eval*.csv``: the figures of docs/intags.md §10.4."""
    d = pd.concat([pd.read_csv(f) for f in sorted(out.glob("calibration_eval*.csv"))], ignore_index=True)
    d = d.sort_values(["variant", "seed", "feedback"], key=lambda c: c.map(str))
    rows = ["| run | s/it | \\|Δθ\\| | Q first 10 → last 10 | feedback | d(cal, real) | d(cWGAN, real) | diff [95 % CI] | p "
            "| n cal |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in d.itertuples():
        rows.append(f"| {r.run} | {r.s_per_iteration:.2f} | {r.theta_shift:.3g} | {r.q_mean_first10:.3f} → "
                    f"{r.q_mean_last10:.3f} | {r.feedback} | {r.d_a:.4f} | {r.d_b:.4f} | {r.diff:+.4f} "
                    f"[{r.ci_lo:+.4f}, {r.ci_hi:+.4f}] | {r.p_perm:.3f} | {r.n_a} |")
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--warm", help="warm-start cWGAN (training folder or world .npz); needed unless --table")
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
    ap.add_argument("--table", action="store_true", help="print the results table of the finished runs and stop")
    args = ap.parse_args()
    if args.table:
        print(table(args.out))
        return
    if not args.warm:
        ap.error("--warm is needed to run the study")

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
