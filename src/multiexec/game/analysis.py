"""Benchmarks, summary table and figures of an execution-game experiment (the paper's Figures 1-12)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from multiexec.game.params import GameParams  # noqa: E402
from multiexec.game.theory import discrete_nash, expected_is, pareto_front, sz_nash, twap  # noqa: E402


@dataclass
class Benchmarks:
    """Theoretical points in the convention of ``params.coin_toss`` (expected IS per agent)."""

    convention: str
    twap_is: float  # Pareto optimum (risk neutral)
    sz_nash_is: float  # Schied–Zhang Nash schedule (the paper's Nash benchmark)
    exact_nash_is: float  # exact Nash of the discrete game
    twap_inv: np.ndarray  # (N+1,)
    sz_nash_inv: np.ndarray
    exact_nash_inv: np.ndarray
    front: np.ndarray | None  # (M, 2) Pareto front (two agents)


def benchmarks(p: GameParams, with_front: bool = True) -> Benchmarks:
    n = p.n_agents
    tw, sz, ex = twap(p), sz_nash(p), discrete_nash(p)
    inv = lambda v: np.r_[p.q0, p.q0 - np.cumsum(v)]  # noqa: E731
    front = pareto_front(p, n_gen=200)[0] if (with_front and n == 2) else None
    return Benchmarks(
        p.convention(), float(expected_is(np.stack([tw] * n), p)[0]), float(expected_is(np.stack([sz] * n), p)[0]),
        float(expected_is(ex, p).mean()), inv(tw), inv(sz), inv(ex[0]), front)


def summary(test_is: np.ndarray, inventory: np.ndarray, b: Benchmarks) -> dict[str, float]:
    """Summary of one experiment: test_is (R, episodes, n), inventory (R, n, N+1) average per run.

    Centroid = mean IS of a run's test episodes. Collusive area = box between the Pareto optimum (TWAP) and the Nash
    point in every coordinate; quadrants (two agents) around the Nash point: Q1 both worse, Q2 agent 1 better,
    Q3 both better, Q4 agent 2 better. Fast trader of a run = the agent with the smaller average remaining inventory.
    """
    R, _, n = test_is.shape
    c = test_is.mean(1)
    out: dict[str, float] = {"runs": R, "agents": n, "episodes": test_is.shape[1]}
    for name, nash in (("sz_nash", b.sz_nash_is), ("exact_nash", b.exact_nash_is)):
        lo, hi = min(b.twap_is, nash), max(b.twap_is, nash)
        out[f"share_collusive_{name}"] = float(np.all((c >= lo) & (c <= hi), axis=1).mean())
        out[f"share_all_below_{name}"] = float(np.all(c < nash, axis=1).mean())
        if n == 2:
            x, y = c[:, 0] > nash, c[:, 1] > nash
            out[f"share_Q1_{name}"] = float((x & y).mean())
            out[f"share_Q2_{name}"] = float((~x & y).mean())
            out[f"share_Q3_{name}"] = float((~x & ~y).mean())
            out[f"share_Q4_{name}"] = float((x & ~y).mean())
    for k in range(n):
        out[f"mean_IS_agent{k + 1}"] = float(c[:, k].mean())
    out["mean_IS_all"] = float(c.mean())
    out["std_IS_centroids"] = float(c.std())
    area = inventory[:, :, 1:-1].mean(-1)  # average remaining inventory: lower = faster
    order = np.argsort(area, axis=1, kind="stable")
    fast, slow = order[:, 0], order[:, -1]
    rr = np.arange(R)
    out["mean_IS_fast"] = float(c[rr, fast].mean())
    out["mean_IS_slow"] = float(c[rr, slow].mean())
    out["share_fast_pays_less"] = float((c[rr, fast] < c[rr, slow]).mean())
    out["mean_speed_gap_shares"] = float((area[rr, slow] - area[rr, fast]).mean())
    avg_inv = inventory.mean(1)  # (R, N+1) average over agents
    d_twap = np.abs(avg_inv - b.twap_inv).mean(1)
    d_nash = np.abs(avg_inv - b.sz_nash_inv).mean(1)
    out["share_avg_schedule_closer_to_twap"] = float((d_twap < d_nash).mean())
    out["mean_dist_avg_schedule_twap"] = float(d_twap.mean())
    out["mean_dist_avg_schedule_sz_nash"] = float(d_nash.mean())
    return out


def scatter_figure(test_is: np.ndarray, b: Benchmarks, title: str, path: Path, max_points: int = 300) -> None:
    """IS of agent 1 vs agent 2 per test episode, run centroids, Nash, quadrants, Pareto point and front, collusive box."""
    fig, ax = plt.subplots(figsize=(7.5, 6.5))
    R = test_is.shape[0]
    cmap = plt.get_cmap("tab20")
    for r in range(R):
        pts = test_is[r, :max_points]
        ax.scatter(pts[:, 0], pts[:, 1], s=4, alpha=0.35, color=cmap(r % 20))
    c = test_is.mean(1)
    _benchmark_layer(ax, b)
    ax.scatter(c[:, 0], c[:, 1], s=140, facecolors="none", edgecolors="blue", linewidths=1.5, label="run centroids",
               zorder=5)
    for r in range(R):
        ax.annotate(str(r + 1), (c[r, 0], c[r, 1]), ha="center", va="center", fontsize=6, color="blue", zorder=6)
    lo = np.percentile(test_is[..., :2].reshape(-1, 2), 1, axis=0)
    hi = np.percentile(test_is[..., :2].reshape(-1, 2), 99, axis=0)
    m = min(lo.min(), b.twap_is) - 0.5
    M = max(hi.max(), b.exact_nash_is) + 0.5
    ax.set_xlim(m, M)
    ax.set_ylim(m, M)
    ax.set_xlabel("IS agent 1")
    ax.set_ylabel("IS agent 2")
    shown = f" (agents 1 and 2 of {test_is.shape[2]})" if test_is.shape[2] > 2 else ""
    ax.set_title(f"{title}{shown}\nconvention: {b.convention}", fontsize=9)
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _benchmark_layer(ax: plt.Axes, b: Benchmarks) -> None:
    from matplotlib.patches import Rectangle

    lo, hi = min(b.twap_is, b.sz_nash_is), max(b.twap_is, b.sz_nash_is)
    ax.add_patch(Rectangle((lo, lo), hi - lo, hi - lo, color="green", alpha=0.25, label="collusive area", zorder=2))
    ax.axvline(b.sz_nash_is, color="red", ls="--", lw=0.8)
    ax.axhline(b.sz_nash_is, color="red", ls="--", lw=0.8)
    ax.scatter([b.sz_nash_is], [b.sz_nash_is], marker="*", s=220, color="red", label="Nash (Schied–Zhang)", zorder=7)
    ax.scatter([b.exact_nash_is], [b.exact_nash_is], marker="P", s=90, color="darkred", label="Nash (exact discrete)",
               zorder=7)
    ax.scatter([b.twap_is], [b.twap_is], marker="*", s=220, color="black", label="Pareto optimum (TWAP)", zorder=7)
    if b.front is not None:  # two agents
        xs = np.linspace(b.twap_is - 6, b.twap_is + 6, 2)
        ax.plot(xs, 2 * b.twap_is - xs, color="magenta", lw=0.8, label="IS1 + IS2 = Pareto optimum")
        ax.plot(b.front[:, 0], b.front[:, 1], color="orange", lw=1.5, label="Pareto front (NSGA-II)")


def centroids_figure(groups: dict[str, np.ndarray], b: Benchmarks, title: str, path: Path) -> None:
    """Centroids of several experiments (the paper's Figure 7)."""
    fig, ax = plt.subplots(figsize=(7, 6))
    _benchmark_layer(ax, b)
    for (name, c), mk in zip(groups.items(), "osD^v<>"):
        ax.scatter(c[:, 0], c[:, 1], marker=mk, s=40, label=name, zorder=8)
    allc = np.concatenate(list(groups.values()))
    m = min(allc.min(), b.twap_is) - 0.6
    M = max(allc.max(), b.exact_nash_is) + 0.6
    ax.set_xlim(m, M)
    ax.set_ylim(m, M)
    ax.set_xlabel("IS agent 1 (run centroid)")
    ax.set_ylabel("IS agent 2 (run centroid)")
    ax.set_title(f"{title}\nconvention: {b.convention}", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def schedules_figure(inventory: np.ndarray, test_is: np.ndarray, b: Benchmarks, title: str, path: Path) -> None:
    """Average remaining inventory per run and agent beside TWAP and Nash (the paper's Figures 2, 4, 6, 8)."""
    R, n, _ = inventory.shape
    cols = min(5, R)
    rows = int(np.ceil(R / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 2.4 * rows), sharex=True, sharey=True, squeeze=False)
    t = np.arange(inventory.shape[-1])
    c = test_is.mean(1)
    for r in range(rows * cols):
        ax = axes[r // cols, r % cols]
        if r >= R:
            ax.axis("off")
            continue
        ax.plot(t, b.twap_inv, color="black", lw=1, ls=":", label="TWAP")
        ax.plot(t, b.sz_nash_inv, color="red", lw=1, ls="--", label="Nash (S–Z)")
        for k in range(n):
            ax.plot(t, inventory[r, k], lw=1.4, label=f"agent {k + 1}")
        ax.set_title(f"run {r + 1}: IS " + " / ".join(f"{x:.2f}" for x in c[r]), fontsize=7)
        ax.tick_params(labelsize=6)
    axes[0, 0].legend(fontsize=6)
    fig.suptitle(f"{title} — average inventory per test episode", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def learning_figure(train_is: np.ndarray, b: Benchmarks, title: str, path: Path, window: int = 100) -> None:
    """Training IS (moving average over episodes, mean over runs) per agent."""
    fig, ax = plt.subplots(figsize=(7, 4))
    E = train_is.shape[1]
    w = max(1, min(window, E // 5))
    kern = np.ones(w) / w
    for k in range(train_is.shape[2]):
        y = np.convolve(train_is[:, :, k].mean(0), kern, mode="valid")
        ax.plot(np.arange(len(y)) + w, y, label=f"agent {k + 1}")
    ax.axhline(b.sz_nash_is, color="red", ls="--", lw=0.8, label="Nash (S–Z)")
    ax.axhline(b.twap_is, color="black", ls=":", lw=0.8, label="TWAP")
    ax.set_xlabel("training episode")
    ax.set_ylabel(f"IS (moving average {w}, mean over runs)")
    ax.set_title(f"{title}\nconvention: {b.convention}", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_table(rows: dict[str, dict[str, float]], path: Path) -> pd.DataFrame:
    """Summary rows (one per experiment) to CSV; returns the table."""
    df = pd.DataFrame(rows).T
    df.index.name = "experiment"
    df.to_csv(path, float_format="%.4f")
    return df
