"""Figures a person would rather look at than read (IaC paper, Figure 3a and 3b)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from multiexec.data.bars import MinuteBars  # noqa: E402


def price_trend(orders: pd.DataFrame, bars: MinuteBars) -> dict[str, np.ndarray]:
    """Mean minute price deviation from the day's average price, in bps, over the orders of each side."""
    d = bars.date_index(orders["date"].to_numpy())
    a = bars.symbol_index(orders["symbol"].tolist())
    px = bars.close[d, a]  # (n_orders, M)
    dev = (px / px.mean(axis=1, keepdims=True) - 1.0) * 1e4
    side = orders["side"].to_numpy()
    return {s: dev[side == s].mean(axis=0) if (side == s).any() else np.full(bars.n_minutes, np.nan)
            for s in ("buy", "sell")}


def plot_price_trend(orders: pd.DataFrame, bars: MinuteBars, path: Path) -> None:
    trend = price_trend(orders, bars)
    minutes = bars.minutes
    fig, ax = plt.subplots(figsize=(8, 3.5))
    for side, color in (("buy", "tab:red"), ("sell", "tab:green")):
        ax.plot(np.arange(len(minutes)), trend[side], color=color, label=f"{side} orders' assets")
    ticks = np.arange(0, len(minutes), 60)
    ax.set_xticks(ticks, [f"{m // 60:02d}:{m % 60:02d}" for m in minutes[ticks]])
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xlabel("time of day")
    ax.set_ylabel("price - day average (bps)")
    ax.set_title("Intraday price trend of the orders' assets (cf. IaC Fig. 3a)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_profiles(profiles: Sequence[tuple[str, dict]], path: Path, title: str = "average execution profile") -> None:
    """Average fraction of the order traded per step, intended (hollow) and executed (solid), buys and sells.

    ``profiles``: (name, profile) pairs, a profile holding ``buy_requested``, ``buy_executed``,
    ``sell_requested`` and ``sell_executed`` arrays over the steps (``EvalResult.profile``).
    """
    n = len(profiles)
    fig, axes = plt.subplots(n, 1, figsize=(8, 2.6 * n), squeeze=False, sharex=True)
    for ax, (name, p) in zip(axes[:, 0], profiles):
        x = np.arange(len(p["buy_executed"]))
        w = 0.4
        ax.bar(x - w / 2, p["buy_requested"], w, fill=False, edgecolor="tab:red", label="buy intended")
        ax.bar(x - w / 2, p["buy_executed"], w, color="tab:red", alpha=0.7, label="buy executed")
        ax.bar(x + w / 2, p["sell_requested"], w, fill=False, edgecolor="tab:green", label="sell intended")
        ax.bar(x + w / 2, p["sell_executed"], w, color="tab:green", alpha=0.7, label="sell executed")
        ax.set_ylabel("fraction of order")
        ax.set_title(f"{name}: {title} (cf. IaC Fig. 3b)")
        ax.set_ylim(0, 1.3 * max(ax.get_ylim()[1], 1e-9))
        ax.legend(fontsize=7, ncol=4, loc="upper center")
    axes[-1, 0].set_xlabel("decision step")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
