"""The metric study of INTAGS (paper §4.3, Figs 3, 4, 5, 13-15): how many rollouts does each feedback x distance
need to tell two markets apart?

For each market, ``n_rollouts`` rollouts with the experimental agent (cached, :func:`multiexec.intags.rollouts.
cached_rollouts`); for each pair of markets (A, B), feedback and distance, and each N in the grid, ``draws``
bootstrap draws (subsets without replacement, as the paper: "select N rollouts from 200 rollouts and repeat 50
times"):

- *different*: the distance between N feedbacks of A and N feedbacks of B;
- *same*: the distance between two disjoint sets of N feedbacks of A (two independent samples of one market).

The curve is the mean and the 5-95 % band over the draws. A pair is *separated at N* when the different-market
band lies wholly above the same-market band (5 % quantile of *different* > 95 % quantile of *same*); the
"smallest separating N" is the smallest N of the grid from which it stays separated for every larger N of the grid.

Pairs (A first: the same-market curve is A's): ``far`` = rmsc03 (the paper's "real" market) vs rmsc04 (another
population); ``mid`` = rmsc04 vs rmsc04-abides (the same population with ABIDES' parameters verbatim);
``near03`` = rmsc03 vs rmsc03-pov0.5 (the real market with its market makers' ladders half as deep); ``near`` =
rmsc04 vs ``rmsc04-perturbed`` (ladders 20 % thinner).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from multiexec.errors import MultiexecError
from multiexec.intags.distances import DISTANCES, distance_name, get_distance
from multiexec.intags.estimators import get_estimator
from multiexec.intags.feedback import FEEDBACKS, feedback_name, feedback_sample
from multiexec.intags.rollouts import AgentSpec, RolloutLog, cached_rollouts

N_GRID = (2, 3, 5, 7, 10, 20, 30, 40, 50)
PAIRS = {"far": ("rmsc03", "rmsc04"), "mid": ("rmsc04", "rmsc04-abides"), "near03": ("rmsc03", "rmsc03-pov0.5"),
         "near": ("rmsc04", "rmsc04-perturbed")}
MARKET_SEED_STRIDE = 1_000_000  # market k of the study uses seeds seed + k * stride + i
MARKET_INDEX = {"rmsc03": 0, "rmsc04": 1, "rmsc04-perturbed": 2, "rmsc04-abides": 3, "rmsc03-pov0.5": 4}


def check_grid(ns: Sequence[int]) -> list[int]:
    ns = sorted({int(n) for n in ns})
    if not ns or ns[0] < 2:
        raise MultiexecError(f"every N of the grid must be >= 2 (a two-sample distance needs N >= 2), got {ns}")
    return ns


def bootstrap_curve(fa: np.ndarray, fb: np.ndarray | None, distance: str, ns: Sequence[int], draws: int,
                    rng: np.random.Generator) -> pd.DataFrame:
    """Distances over ``draws`` subsets for each N: between N of ``fa`` and N of ``fb`` or, with ``fb`` None,
    between two disjoint sets of N of ``fa``. Rows: N, mean, q05, q95, draws (NaN where the sample is too small)."""
    dist = get_distance(distance)
    out = []
    for n in check_grid(ns):
        vals = []
        enough = len(fa) >= (n if fb is not None else 2 * n) and (fb is None or len(fb) >= n)
        if enough:
            for _ in range(draws):
                if fb is None:
                    idx = rng.choice(len(fa), 2 * n, replace=False)
                    vals.append(dist(fa[idx[:n]], fa[idx[n:]]))
                else:
                    vals.append(dist(fa[rng.choice(len(fa), n, replace=False)], fb[rng.choice(len(fb), n, replace=False)]))
        v = np.array(vals)
        out.append({"N": n, "mean": v.mean() if len(v) else np.nan, "q05": np.quantile(v, 0.05) if len(v) else np.nan,
                    "q95": np.quantile(v, 0.95) if len(v) else np.nan, "draws": len(v)})
    return pd.DataFrame(out)


def smallest_separating_n(curves: pd.DataFrame) -> float:
    """From a table with kind in {same, different}, N, q05, q95: the smallest N from which different.q05 >
    same.q95 for every larger N (NaN if never)."""
    d = curves[curves["kind"] == "different"].set_index("N")
    s = curves[curves["kind"] == "same"].set_index("N")
    ns = sorted(set(d.index) & set(s.index))
    sep = [bool(d.loc[n, "q05"] > s.loc[n, "q95"]) for n in ns]
    best = np.nan
    for n, ok in zip(reversed(ns), reversed(sep)):
        if not ok:
            break
        best = n
    return best


def study_markets(pairs: Sequence[str]) -> list[str]:
    for p in pairs:
        if p not in PAIRS:
            raise MultiexecError(f"unknown market pair {p!r}; known: {', '.join(PAIRS)}")
    out: list[str] = []
    for p in pairs:
        for m in PAIRS[p]:
            if m not in out:
                out.append(m)
    return out


def market_index(market: str) -> int:
    """A fixed index per market (its seeds are ``seed + index x stride + i``): adding a pair never moves the seeds
    of the others."""
    import zlib

    return MARKET_INDEX.get(market, 100 + zlib.crc32(market.encode()) % 1000)


def market_logs(markets: Sequence[str], n_rollouts: int, seed: int, agent: AgentSpec = AgentSpec(),
                **run_kw) -> dict[str, list[RolloutLog]]:
    """The study's rollouts of every market (cached per market)."""
    out = {}
    for m in markets:
        base = seed + market_index(m) * MARKET_SEED_STRIDE
        out[m], _ = cached_rollouts(m, range(base, base + n_rollouts), agent, **run_kw)
    return out


def metric_study(n_rollouts: int = 200, seed: int = 0, pairs: Sequence[str] = ("far", "near"),
                 feedbacks: Sequence[str] = FEEDBACKS, distances: Sequence[str] = tuple(DISTANCES),
                 ns: Sequence[int] = N_GRID, draws: int = 50, estimator: str = "hajek",
                 agent: AgentSpec = AgentSpec(), progress: bool = True, **run_kw) -> dict[str, pd.DataFrame]:
    """Run the study; returns ``curves`` (pair, feedback, distance, kind, N, mean, q05, q95, draws), ``separation``
    (pair, feedback, distance, smallest_N, n_a, n_b) and ``samples`` (market, seed, one column per feedback)."""
    from tqdm.auto import tqdm

    feedbacks = [feedback_name(f) for f in feedbacks]
    distances = [distance_name(d) for d in distances]
    ns = check_grid(ns)
    get_estimator(estimator)
    if n_rollouts < 2 * max(ns):
        raise MultiexecError(f"--rollouts {n_rollouts} is too few for N = {max(ns)}: the same-market curve needs "
                             f"2 x N = {2 * max(ns)} rollouts of one market")
    if draws < 2:
        raise MultiexecError(f"draws must be >= 2, got {draws}")
    markets = study_markets(pairs)
    logs = market_logs(markets, n_rollouts, seed, agent, progress=progress, **run_kw)
    samples = {(m, f): feedback_sample(logs[m], f, estimator, agent.side) for m in markets for f in feedbacks}
    rng = np.random.default_rng(seed)
    curves, seps = [], []
    jobs = [(p, f, d) for p in pairs for f in feedbacks for d in distances]
    for p, f, d in tqdm(jobs, desc="bootstrap curves", disable=not progress):
        a, b = PAIRS[p]
        fa, fb = samples[(a, f)], samples[(b, f)]
        parts = []
        for kind, other in (("different", fb), ("same", None)):
            c = bootstrap_curve(fa, other, d, ns, draws, rng)
            c.insert(0, "kind", kind)
            parts.append(c)
        c = pd.concat(parts, ignore_index=True)
        c.insert(0, "distance", d)
        c.insert(0, "feedback", f)
        c.insert(0, "pair", p)
        curves.append(c)
        seps.append({"pair": p, "market_a": a, "market_b": b, "feedback": f, "distance": d,
                     "smallest_N": smallest_separating_n(c), "n_a": len(fa), "n_b": len(fb)})
    table = pd.DataFrame({"market": np.repeat(markets, n_rollouts),
                          "seed": [lg.seed for m in markets for lg in logs[m]]})
    for f in feedbacks:
        table[f] = np.concatenate([feedback_sample(logs[m], f, estimator, agent.side, keep_nan=True) for m in markets])
    return {"curves": pd.concat(curves, ignore_index=True), "separation": pd.DataFrame(seps), "samples": table}


# ---------------------------------------------------------------------------------------------------------------------
# plots

def plot_curves(curves: pd.DataFrame, pair: str, path: Path, feedbacks: Sequence[str] | None = None,
                distances: Sequence[str] | None = None) -> Path:
    """Grid of panels (feedback rows x distance columns): mean and 5-95 % band against N, same (red) vs
    different (blue) markets — the paper's Figs 5, 14, 15."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    c = curves[curves["pair"] == pair]
    feedbacks = list(feedbacks or dict.fromkeys(c["feedback"]))
    distances = list(distances or dict.fromkeys(c["distance"]))
    a, b = PAIRS[pair]
    fig, axes = plt.subplots(len(feedbacks), len(distances), figsize=(3.2 * len(distances), 2.4 * len(feedbacks)),
                             squeeze=False)
    for i, f in enumerate(feedbacks):
        for j, d in enumerate(distances):
            ax = axes[i, j]
            for kind, col, lab in (("different", "tab:blue", f"{a} vs {b}"), ("same", "tab:red", f"{a} vs {a}")):
                s = c[(c["feedback"] == f) & (c["distance"] == d) & (c["kind"] == kind)]
                ax.plot(s["N"], s["mean"], color=col, label=lab)
                ax.fill_between(s["N"], s["q05"], s["q95"], color=col, alpha=0.25)
            ax.axhline(0, color="grey", lw=0.5)
            ax.set_xscale("log")
            ax.minorticks_off()
            grid = sorted(set(c["N"]))
            ax.set_xticks(grid, [str(n) for n in grid])
            ax.set_title(f"{f} / {d}", fontsize=8)
            ax.tick_params(labelsize=7)
            if i == len(feedbacks) - 1:
                ax.set_xlabel("rollouts N", fontsize=8)
    axes[0, 0].legend(fontsize=7)
    return save_figure(fig, path)


def save_figure(fig, path: Path, dpi: int = 90) -> Path:
    """Lay out, write and close ``fig`` as a 256-colour PNG (the study figures shrink about 4x and read the same)."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    from PIL import Image

    with Image.open(path) as im:
        small = im.convert("RGB").quantize(256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    small.save(path, optimize=True)
    return path


def plot_distributions(samples: pd.DataFrame, market_a: str, market_b: str, path: Path,
                       feedbacks: Sequence[str] | None = None, sizes: Sequence[int] = (5, 10, 100)) -> Path:
    """Histograms of each feedback from the first N rollouts of two markets, N in ``sizes`` (the paper's Figs 3, 4,
    13: real in orange, the other market in blue)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    feedbacks = list(feedbacks or [c for c in samples.columns if c not in ("market", "seed")])
    fig, axes = plt.subplots(len(feedbacks), len(sizes), figsize=(3.0 * len(sizes), 2.0 * len(feedbacks)), squeeze=False)
    for i, f in enumerate(feedbacks):
        va = samples.loc[samples["market"] == market_a, f].to_numpy()
        vb = samples.loc[samples["market"] == market_b, f].to_numpy()
        for j, n in enumerate(sizes):
            ax = axes[i, j]
            xa, xb = va[:n][np.isfinite(va[:n])], vb[:n][np.isfinite(vb[:n])]
            both = np.concatenate([xa, xb])
            bins = np.linspace(np.quantile(both, 0.01), np.quantile(both, 0.99), 25) if len(both) > 1 else 10
            ax.hist(xa, bins=bins, color="tab:orange", alpha=0.6, density=True, label=market_a)
            ax.hist(xb, bins=bins, color="tab:blue", alpha=0.6, density=True, label=market_b)
            ax.set_title(f"{f}, {n} rollouts", fontsize=8)
            ax.tick_params(labelsize=7)
    axes[0, 0].legend(fontsize=7)
    return save_figure(fig, path)


def write_study(result: dict[str, pd.DataFrame], out: Path, pairs: Sequence[str]) -> list[Path]:
    """CSV tables and PNG figures of a study under ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in ("curves", "separation", "samples"):
        p = out / f"metric_study_{name}.csv"
        result[name].to_csv(p, index=False, float_format="%.6g")
        paths.append(p)
    curves = result["curves"]
    for p in pairs:
        paths.append(plot_curves(curves, p, out / f"metric_study_{p}.png"))
        sub = curves[curves["feedback"].isin(["EpisodeReward", "Mkt2NextReturn"]) & (curves["distance"] == "mmd")]
        if len(sub):
            paths.append(plot_curves(sub, p, out / f"fig5_mmd_{p}.png"))
        a, b = PAIRS[p]
        paths.append(plot_distributions(result["samples"], a, b, out / f"distributions_{p}.png"))
    return paths
