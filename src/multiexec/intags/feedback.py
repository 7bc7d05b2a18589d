"""Feedback quantities of INTAGS (paper §4.3 and appendix D.2), one number per rollout of the experimental agent.

- ``EpisodeReward``: the agent's cumulative reward over the episode (ABIDES-gym's slippage against the entry mid per
  parent share, ticks, plus the end penalty for shares not executed).
- ``Mkt2Reward``: the causal effect of a market order (against a limit order) on the *immediate* reward, i.e. the
  step's slippage.
- ``Mkt2Next<X>``: the causal effect of a market order on the state one step (``step_s``) later:
  ``Return`` (side x log(mid_after / mid), basis points), ``PriceImpact`` (side x log(mid_after / entry mid), bp),
  ``Spread`` (ticks), ``Imbalance5`` / ``ImbalanceAll`` (bid share of the volume at the first 5 / all levels) and
  ``Direction`` (mid - last trade, ticks).

The effects are estimated from the rollout's steps with one of :mod:`multiexec.intags.estimators` (default
``hajek``; the paper's ``paper-ipw`` as printed is available). A rollout where the estimator is undefined (no
market-order or no limit-order step) gives NaN; :func:`feedback_sample` drops those and says how many.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from multiexec.errors import MultiexecError
from multiexec.intags.estimators import get_estimator
from multiexec.intags.rollouts import RolloutLog

FEEDBACKS = ("EpisodeReward", "Mkt2Reward", "Mkt2NextReturn", "Mkt2NextPriceImpact", "Mkt2NextSpread",
             "Mkt2NextImbalance5", "Mkt2NextImbalanceAll", "Mkt2NextDirection")
# the paper's spellings map to ours
_ALIASES = {"mkt2nextimbalances(5)": "Mkt2NextImbalance5", "mkt2nextimbalance(5)": "Mkt2NextImbalance5",
            "mkt2nextimbalances(all)": "Mkt2NextImbalanceAll", "mkt2nextimbalance(all)": "Mkt2NextImbalanceAll"}


def feedback_name(name: str) -> str:
    """The canonical feedback name (case-insensitive; the paper's ``Mkt2NextImbalances(5)`` spelling too)."""
    low = name.strip().lower()
    for f in FEEDBACKS:
        if f.lower() == low:
            return f
    if low in _ALIASES:
        return _ALIASES[low]
    raise MultiexecError(f"unknown feedback {name!r}; known: {', '.join(FEEDBACKS)}")


def outcome(rows: dict[str, np.ndarray], name: str, side: int = 1) -> np.ndarray:
    """The per-step outcome of feedback ``name`` (not EpisodeReward)."""
    name = feedback_name(name)
    if name == "Mkt2Reward":
        return rows["reward"]
    if name == "Mkt2NextReturn":
        return side * 1e4 * np.log(rows["mid_after"] / rows["mid"])
    if name == "Mkt2NextPriceImpact":
        return 1e4 * rows["price_impact_after"]
    col = {"Mkt2NextSpread": "spread_after", "Mkt2NextImbalance5": "imbalance_5_after",
           "Mkt2NextImbalanceAll": "imbalance_all_after", "Mkt2NextDirection": "direction_after"}.get(name)
    if col is None:
        raise MultiexecError(f"feedback {name!r} has no per-step outcome")
    return rows[col]


def feedback(log: RolloutLog, name: str, estimator: str = "hajek", side: int = 1) -> float:
    """Feedback ``name`` of one rollout (NaN where the estimator is undefined)."""
    name = feedback_name(name)
    if name == "EpisodeReward":
        return float(log.episode_reward)
    est = get_estimator(estimator)
    rows = log.rows
    ok = np.isfinite(rows["mid_after"])
    y = outcome(rows, name, side)[ok]
    return est(y, rows["action"][ok] == 0, rows["propensity"][ok])


def feedback_sample(logs: Sequence[RolloutLog], name: str, estimator: str = "hajek", side: int = 1,
                    keep_nan: bool = False) -> np.ndarray:
    """One feedback value per rollout (NaN rollouts dropped unless ``keep_nan``)."""
    v = np.array([feedback(lg, name, estimator, side) for lg in logs], np.float64)
    return v if keep_nan else v[np.isfinite(v)]


def feedback_table(logs: Sequence[RolloutLog], estimator: str = "hajek", side: int = 1):
    """All feedbacks of every rollout as a DataFrame (one row per rollout, NaN kept)."""
    import pandas as pd

    return pd.DataFrame({"seed": [lg.seed for lg in logs],
                         **{f: feedback_sample(logs, f, estimator, side, keep_nan=True) for f in FEEDBACKS}})
