"""Estimators of the causal effect of the experimental agent's action on an outcome (issue 11; paper appendix B.1).

Notation: one row per decision; ``t`` = 1 when the agent placed a **market order** (the treatment) and 0 when it
placed a limit order (the control); ``y`` the outcome (e.g. the next-step return); ``e`` = P(market order | state
before the decision), the propensity. The INTAGS agent logs its own, known propensity, so no propensity model is
fitted (the paper fits a logistic regression when the policy is unknown); ``ps_clip`` clips it as the paper's
PSthres does.

The paper's two estimators (appendix B.1), as printed — both are averages over the *treated* steps only, i.e. they
target the mean outcome after a market order, not a difference:

- :func:`paper_naive`: ``f_naive = (1 / #treated) sum_t y_t 1{a_t = market}``;
- :func:`paper_ipw`: ``f_IPW = (1 / #treated) sum_t y_t 1{a_t = market} / e(s_{t-1})``. Dividing by the number of
  treated steps *and* by ``e`` counts the treated twice: its expectation is about ``E[Y(1)] / mean(e)``, not
  ``E[Y(1)]`` (the Horvitz–Thompson mean divides by the number of steps ``n``). It is kept as printed for
  comparison.

Ours (the effect of a market order against a limit order, ``E[Y(1)] - E[Y(0)]``):

- :func:`naive_difference`: mean outcome after market orders minus after limit orders (biased when the state
  drives both the action and the outcome — confounding);
- :func:`horvitz_thompson`: ``(1/n) sum [t y / e - (1 - t) y / (1 - e)]``, unbiased for known propensities;
- :func:`hajek`: the self-normalised form ``sum(t y / e) / sum(t / e) - sum((1-t) y / (1-e)) / sum((1-t) / (1-e))``,
  consistent, not exactly unbiased but much less variable (the default for the feedback).

Every estimator returns NaN where it is undefined (no treated, or no control step for a difference).
"""

from __future__ import annotations

import numpy as np

from multiexec.errors import MultiexecError


def _prep(y, t, e=None, ps_clip: tuple[float, float] | None = None):
    y = np.asarray(y, np.float64)
    t = np.asarray(t).astype(bool)
    if y.shape != t.shape or y.ndim != 1:
        raise MultiexecError(f"estimator: y and t must be 1-D of one length, got {y.shape} and {t.shape}")
    if e is None:
        return y, t, None
    e = np.asarray(e, np.float64)
    if e.shape != y.shape:
        raise MultiexecError(f"estimator: propensities shape {e.shape} is not {y.shape}")
    if ps_clip is not None:
        e = np.clip(e, ps_clip[0], ps_clip[1])
    if np.any((e <= 0) | (e >= 1)):
        raise MultiexecError("estimator: propensities must lie strictly between 0 and 1 (clip them)")
    return y, t, e


def paper_naive(y, t, e=None, ps_clip=None) -> float:
    """The paper's naive estimator (B.1): the mean outcome over the market-order steps."""
    y, t, _ = _prep(y, t)
    return float(y[t].mean()) if t.any() else float("nan")


def paper_ipw(y, t, e, ps_clip=None) -> float:
    """The paper's IPW estimator **as printed** (B.1): ``sum(y t / e) / #treated`` (see the module docstring:
    biased by about ``1 / mean(e)``)."""
    y, t, e = _prep(y, t, e, ps_clip)
    n1 = int(t.sum())
    return float((y[t] / e[t]).sum() / n1) if n1 else float("nan")


def naive_difference(y, t, e=None, ps_clip=None) -> float:
    """Ours: mean outcome after market orders minus mean outcome after limit orders (no adjustment)."""
    y, t, _ = _prep(y, t)
    if not t.any() or t.all():
        return float("nan")
    return float(y[t].mean() - y[~t].mean())


def horvitz_thompson(y, t, e, ps_clip=None) -> float:
    """Ours: the Horvitz–Thompson (IPW) effect ``(1/n) sum [t y / e - (1 - t) y / (1 - e)]``."""
    y, t, e = _prep(y, t, e, ps_clip)
    if len(y) == 0:
        return float("nan")
    return float(np.mean(np.where(t, y / e, -y / (1.0 - e))))


def hajek(y, t, e, ps_clip=None) -> float:
    """Ours: the Hájek (self-normalised IPW) effect; NaN without a treated or a control step."""
    y, t, e = _prep(y, t, e, ps_clip)
    if not t.any() or t.all():
        return float("nan")
    w1 = 1.0 / e[t]
    w0 = 1.0 / (1.0 - e[~t])
    return float((w1 * y[t]).sum() / w1.sum() - (w0 * y[~t]).sum() / w0.sum())


ESTIMATORS = {
    "hajek": hajek,
    "ht": horvitz_thompson,
    "naive": naive_difference,
    "paper-ipw": paper_ipw,
    "paper-naive": paper_naive,
}
ESTIMATOR_NOTES = {
    "hajek": "ours: self-normalised IPW difference, market minus limit",
    "ht": "ours: Horvitz-Thompson IPW difference, market minus limit",
    "naive": "ours: unadjusted difference of means, market minus limit",
    "paper-ipw": "the paper's IPW as printed: sum(y t / e) / #treated (treated mean, biased by ~1/mean(e))",
    "paper-naive": "the paper's naive estimator: mean outcome over market-order steps",
}


def get_estimator(name: str):
    if name not in ESTIMATORS:
        raise MultiexecError(f"unknown estimator {name!r}; known: {', '.join(ESTIMATORS)}")
    return ESTIMATORS[name]
