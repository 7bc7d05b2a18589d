"""Execution metrics (IaC paper section 5.2.2 and appendix A.4).

- EG: execution gain in basis points against the day's average market price,
  ``EG^i = d^i (p_strategy^i - p~^i) / p~^i * 1e4`` (``d = +1`` sell, ``-1`` buy), averaged over orders.
- ARR: additional annualised return, eq. 20: ``((1 + EG * turnover)^days - 1) * 100%`` with EG as a fraction.
- POS: share of orders with EG > 0. GLR: ``E[EG | EG > 0] / E[-EG | EG < 0]``.
- TOC: mean over days of the share of steps in which the cash rule bound (``c_t = 0``), in percent.
- fill rate: executed shares / ordered shares over all orders, in percent.

An EG within ``EG_ZERO_BPS`` of zero (floating-point noise) counts as neither gain nor loss.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

EG_ZERO_BPS = 1e-6
TURNOVER = 0.10
TRADING_DAYS = 250


def arr_percent(eg_bps: float, turnover: float = TURNOVER, days: int = TRADING_DAYS) -> float:
    """Eq. 20."""
    return ((1.0 + eg_bps * 1e-4 * turnover) ** days - 1.0) * 100.0


def summarize(orders: pd.DataFrame, days: pd.DataFrame) -> dict[str, float]:
    """Metrics of one policy from its per-order and per-day result tables (``MultiOrderEnv.results``)."""
    eg = orders["eg_bps"].to_numpy(dtype=float)
    eg = eg[np.isfinite(eg)]
    gains = eg[eg > EG_ZERO_BPS]
    losses = -eg[eg < -EG_ZERO_BPS]
    mean_eg = float(eg.mean()) if eg.size else float("nan")
    if losses.size and gains.size:
        glr = float(gains.mean() / losses.mean())
    elif gains.size:
        glr = float("inf")
    else:
        glr = float("nan") if not losses.size else 0.0
    return {
        "EG_bps": mean_eg,
        "ARR_pct": arr_percent(mean_eg),
        "POS_pct": float(100.0 * gains.size / eg.size) if eg.size else float("nan"),
        "GLR": glr,
        "TOC_pct": float(100.0 * days["toc"].mean()),
        "fill_pct": float(100.0 * orders["filled"].sum() / orders["amount"].sum()),
        "n_orders": int(len(orders)),
        "n_days": int(len(days)),
        # implementation shortfall against the day's arrival price (first minute's open), bp
        "IS_bps": float(np.nanmean(orders["is_bps"])) if "is_bps" in orders and orders["is_bps"].notna().any()
        else float("nan"),
    }


def paired_test(eg: pd.Series, eg_ref: pd.Series) -> dict[str, float]:
    """Paired comparison of per-order EG against a reference (same orders, same index).

    Returns the mean difference with a 95% confidence interval, the paired t-test and the
    Wilcoxon signed-rank p-values over orders (nan where all differences are zero). When the index has a
    ``day_id`` level, also ``day_t_pvalue``: the t-test over the days' mean differences (``n_days``) — the
    safer one, since the orders of a day share the day's market move and cash and are not independent.
    """
    joined = pd.concat([eg.rename("a"), eg_ref.rename("b")], axis=1, join="inner").dropna()
    diff_s = joined["a"] - joined["b"]
    diff = diff_s.to_numpy()
    n = diff.size
    out = {"mean_diff_bps": float(diff.mean()) if n else float("nan"), "n": n}
    if "day_id" in (joined.index.names or []):
        by_day = diff_s.groupby(level="day_id").mean().to_numpy()
        out["n_days"] = int(by_day.size)
        varied = by_day.size > 1 and np.any(np.abs(by_day - by_day.mean()) > EG_ZERO_BPS)
        out["day_t_pvalue"] = float(stats.ttest_1samp(by_day, 0.0).pvalue) if varied else float("nan")
    if n > 1 and np.any(np.abs(diff) > EG_ZERO_BPS):
        se = diff.std(ddof=1) / np.sqrt(n)
        half = stats.t.ppf(0.975, n - 1) * se
        out.update(
            ci_low=float(diff.mean() - half),
            ci_high=float(diff.mean() + half),
            t_pvalue=float(stats.ttest_1samp(diff, 0.0).pvalue),
            wilcoxon_pvalue=float(stats.wilcoxon(diff).pvalue),
        )
    else:
        out.update(ci_low=float("nan"), ci_high=float("nan"), t_pvalue=float("nan"), wilcoxon_pvalue=float("nan"))
    return out
