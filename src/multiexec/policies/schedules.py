"""Closed-form execution schedules, the one implementation that the rule policies (:mod:`multiexec.policies.rules`)
and the execution game's theory (:mod:`multiexec.game.theory`) both use.

- :func:`twap` — time-weighted average price: the amount spread over the steps in proportion to their lengths;
- :func:`ac_trajectory` — single-agent Almgren–Chriss with risk aversion.

A schedule is the amount to trade in each step, an array (T,). Pure numpy; nothing above ``multiexec.errors``.
"""

from __future__ import annotations

import math

import numpy as np

from multiexec.errors import MultiexecError


def twap(X: float, steps: int | np.ndarray) -> np.ndarray:
    """TWAP trades (T,): ``X`` spread over the steps in proportion to their lengths, ``X * length_t / sum(length)``.

    ``steps``: the number of equal steps T (``X / T`` each; the risk-neutral single-agent optimum and the Pareto
    optimum of the execution game) or the (T,) step lengths (e.g. minutes, for a day whose last step is short).
    """
    lengths = np.ones(max(int(steps), 0)) if np.ndim(steps) == 0 else np.asarray(steps, dtype=np.float64)
    if lengths.ndim != 1 or lengths.size < 1 or (lengths < 0).any() or not np.isfinite(lengths).all() \
            or lengths.sum() <= 0:
        raise MultiexecError(f"twap: need at least one step and finite non-negative step lengths, got {steps!r}")
    return X * lengths / lengths.sum()


def ac_trajectory(X: float, T_steps: int, tau: float, eta: float, gamma: float, lam: float, sigma: float) -> np.ndarray:
    """Single-agent Almgren–Chriss optimal trades (T_steps,) with risk aversion ``lam``.

    ``eta~ = eta - gamma tau/2``, ``kappa~^2 = lam sigma^2 / eta~``, ``kappa = arccosh(tau^2 kappa~^2/2 + 1)/tau``,
    ``n_j = 2 sinh(kappa tau/2) / sinh(kappa T) cosh(kappa (T - t_{j-1/2})) X`` with ``T = T_steps tau``.
    ``lam = 0`` (or zero volatility) gives TWAP. Requires ``eta~ > 0``.
    """
    if T_steps < 1 or tau <= 0:
        raise MultiexecError(f"ac_trajectory: need T_steps >= 1 and tau > 0, got T_steps={T_steps}, tau={tau}")
    eta_t = eta - gamma * tau / 2
    if eta_t <= 0:
        raise MultiexecError(f"ac_trajectory: eta - gamma*tau/2 = {eta_t} must be > 0 (eta={eta}, gamma={gamma})")
    kt2 = lam * sigma**2 / eta_t
    k = math.acosh(tau**2 * kt2 / 2 + 1) / tau
    T = T_steps * tau
    if k * T < 1e-10:
        return twap(X, T_steps)
    t_half = (np.arange(1, T_steps + 1) - 0.5) * tau
    return 2 * math.sinh(k * tau / 2) / math.sinh(k * T) * np.cosh(k * (T - t_half)) * X
