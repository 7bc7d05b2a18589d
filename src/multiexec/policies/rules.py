"""Rule-based execution baselines: TWAP, VWAP, Almgren–Chriss and a side-dependent split.

Each policy outputs, at step ``t``, the fraction of the order's *original* amount to trade, as
``remaining * w_t / sum_{s >= t} w_s`` for a per-step weight schedule ``w``. With no cash limit this
executes exactly the schedule; after a cash-limited step the shortfall is spread over the
steps left. Everything a policy estimates comes from the training days only (no look-ahead).

- TWAP: ``w_t`` = step length (equal steps: ``1/T`` each).
- VWAP: ``w_t`` = the asset's mean share of daily volume in step ``t`` over the training days.
- AC: Almgren–Chriss with risk aversion (closed form in ``multiexec.policies.schedules``), per asset,
  in relative units: position = fraction of the order, price = relative to the day's price,
  ``sigma`` = the asset's per-step volatility of log prices on training days, temporary impact
  ``eta`` (relative price change per fraction-of-order traded per step), no permanent impact.
  ``risk_aversion = 0`` gives TWAP.
- side_split: sells in the first k steps, buys in the last k (k = a third of the steps), equal parts.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from multiexec.data.bars import MinuteBars
from multiexec.errors import MultiexecError
from multiexec.execution.env import ExecConfig, Obs, step_edges
from multiexec.policies.schedules import ac_trajectory
from multiexec.policies.schedules import twap as twap_schedule


class ACParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    risk_aversion: float = Field(1.0, ge=0, description="lambda, in relative-price units")
    eta: float = Field(1e-3, gt=0, description="temporary impact per fraction of the order per step")


# every rule with the parameters it takes (make_rule_policy's **params)
_RULE_PARAMS = {"twap": set(), "vwap": set(), "ac": set(ACParams.model_fields), "side_split": {"steps"}}
RULES = tuple(_RULE_PARAMS)


class ScheduleRule:
    """A rule that follows a weight schedule per asset, (A, T), or per side and asset, (2, A, T) with index 0 for
    buys and 1 for sells."""

    def __init__(self, name: str, weights: np.ndarray):
        w = np.asarray(weights, dtype=np.float64)
        if w.ndim == 2:
            w = np.stack([w, w])
        if w.ndim != 3 or w.shape[0] != 2 or (w < 0).any() or not np.isfinite(w).all():
            raise MultiexecError(f"{name}: schedule weights must be a finite non-negative (assets, steps) or "
                                 "(2 sides, assets, steps) array")
        self.name = name
        self.weights = w / np.maximum(w.sum(axis=2, keepdims=True), 1e-300)
        # tail sums: sum_{s >= t} w_s
        self.tail = np.cumsum(self.weights[:, :, ::-1], axis=2)[:, :, ::-1]

    def act(self, obs: Obs) -> np.ndarray:
        t = obs.t
        side = (obs.side > 0).astype(np.int64)
        w = self.weights[side, obs.asset, t]
        tail = self.tail[side, obs.asset, t]
        frac = np.where(tail > 0, obs.remaining * w / np.maximum(tail, 1e-300), obs.remaining)
        return np.clip(np.where(obs.mask, frac, 0.0), 0.0, 1.0)


def _step_lengths(bars: MinuteBars, cfg: ExecConfig) -> np.ndarray:
    return np.diff(step_edges(bars.n_minutes, cfg.step_minutes)).astype(np.float64)


def twap(bars: MinuteBars, cfg: ExecConfig) -> ScheduleRule:
    lengths = _step_lengths(bars, cfg)
    # the day's minutes spread over the steps: weight = the step's length in minutes, exactly
    return ScheduleRule("twap", np.tile(twap_schedule(lengths.sum(), lengths), (bars.n_assets, 1)))


def vwap(bars: MinuteBars, train_days: np.ndarray, cfg: ExecConfig) -> ScheduleRule:
    train_days = _check_train(train_days, bars)
    edges = step_edges(bars.n_minutes, cfg.step_minutes)
    vol = np.add.reduceat(bars.volume[train_days], edges[:-1], axis=2)  # (d, A, T)
    share = vol / np.maximum(vol.sum(axis=2, keepdims=True), 1e-300)
    return ScheduleRule("vwap", share.mean(axis=0))


def step_volatility(bars: MinuteBars, train_days: np.ndarray, cfg: ExecConfig) -> np.ndarray:
    """(A,) std of step-to-step log changes of the step-end close on training days."""
    train_days = _check_train(train_days, bars)
    edges = step_edges(bars.n_minutes, cfg.step_minutes)
    ends = bars.close[train_days][:, :, edges[1:] - 1]  # (d, A, T)
    starts = bars.open[train_days][:, :, :1]
    path = np.log(np.concatenate([starts, ends], axis=2))
    return np.diff(path, axis=2).std(axis=(0, 2))


def ac(bars: MinuteBars, train_days: np.ndarray, cfg: ExecConfig, params: ACParams | None = None) -> ScheduleRule:
    params = params or ACParams()
    sig = step_volatility(bars, train_days, cfg)
    n_steps = len(step_edges(bars.n_minutes, cfg.step_minutes)) - 1
    w = np.stack(
        [
            ac_trajectory(X=1.0, T_steps=n_steps, tau=1.0, eta=params.eta, gamma=0.0, lam=params.risk_aversion, sigma=s)
            for s in sig
        ]
    )
    return ScheduleRule("ac", w)


def side_split(bars: MinuteBars, cfg: ExecConfig, steps: int | None = None) -> ScheduleRule:
    """Sells in equal parts over the first ``steps`` steps, buys over the last ``steps`` (default: a third of the day,
    4 of 13 half-hours): the side-dependent, price-free schedule that the training and validation days of both our
    markets reward (docs/iac_investigation.md §2)."""
    T = len(_step_lengths(bars, cfg))
    steps = max(1, T // 3) if steps is None else steps
    if not 1 <= steps <= T:
        raise MultiexecError(f"side_split: steps={steps} must be between 1 and the {T} steps of a day")
    w = np.zeros((2, bars.n_assets, T))
    w[0, :, T - steps:] = 1.0
    w[1, :, :steps] = 1.0
    return ScheduleRule("side_split", w)


def _check_train(train_days: np.ndarray, bars: MinuteBars) -> np.ndarray:
    idx = np.unique(np.asarray(train_days, dtype=np.int64))
    if idx.size == 0:
        raise MultiexecError("this rule needs at least one training day to estimate its parameters")
    if idx.min() < 0 or idx.max() >= bars.n_days:
        raise MultiexecError("training day indices out of range of the data")
    return idx


def make_rule_policy(name: str, bars: MinuteBars, train_days: np.ndarray, cfg: ExecConfig, **params) -> ScheduleRule:
    """Build ``twap``, ``vwap``, ``ac`` or ``side_split`` from the data's training days (indices into ``bars.dates``);
    ``params``: the rule's own settings (``ac``: ACParams fields, ``side_split``: ``steps``)."""
    if name not in _RULE_PARAMS:
        raise MultiexecError(f"unknown rule policy {name!r}; choose from {RULES}")
    unknown = sorted(set(params) - _RULE_PARAMS[name])
    if unknown:
        allowed = ", ".join(sorted(_RULE_PARAMS[name])) or "none"
        raise MultiexecError(f"rule {name!r} has no parameter {', '.join(map(repr, unknown))} (its parameters: {allowed})")
    if name == "twap":
        return twap(bars, cfg)
    if name == "vwap":
        return vwap(bars, train_days, cfg)
    if name == "ac":
        return ac(bars, train_days, cfg, ACParams(**params))
    return side_split(bars, cfg, **params)
