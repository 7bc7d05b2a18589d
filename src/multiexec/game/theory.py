"""Closed forms and numerical benchmarks of the execution game.

- :func:`expected_is` — expected IS of any schedules (both same-step conventions);
- :func:`twap`, :func:`sz_nash_two`, :func:`sz_nash` — TWAP and the Schied–Zhang Nash schedules;
- :func:`discrete_nash` — the exact Nash equilibrium of the discrete game as simulated (linear first-order system);
- :func:`pareto_front` — the Pareto front of (E[IS_1], E[IS_2]) with pymoo's NSGA-II (TWAP is the Pareto optimum).

Single-agent Almgren–Chriss with risk aversion is :func:`multiexec.policies.schedules.ac_trajectory` (the
closed-form schedules that the rule policies use too).

Schedules are trades per step, arrays (n, N) for n agents; inventories are (n, N+1) with ``X[:, 0] = q0``.
"""

from __future__ import annotations

import math

import numpy as np

from multiexec.errors import MultiexecError
from multiexec.game.params import GameParams
from multiexec.policies.schedules import twap as _twap

__all__ = ["discrete_nash", "expected_is", "pareto_front", "sz_nash", "sz_nash_two", "twap"]


def expected_is(schedules: np.ndarray, p: GameParams, same_step: bool | None = None) -> np.ndarray:
    """Expected IS per agent of schedules (..., n, N).

    ``E[IS_k] = kappa sum_t v_kt sum_{s<t} V_s + (alpha/tau) sum_t v_kt^2 [+ kappa/2 sum_t v_kt (V_t - v_kt)]``;
    the bracket (each other agent trades before k with probability 1/2) only with the same-step convention
    (``same_step``, default ``p.coin_toss``). Volatility does not enter the expectation.
    """
    v = np.asarray(schedules, dtype=float)
    same = p.coin_toss if same_step is None else same_step
    V = v.sum(-2, keepdims=True)
    before = np.cumsum(V, -1) - V  # sum_{s<t} V_s
    out = p.kappa * (v * before).sum(-1) + p.alpha / p.tau * (v**2).sum(-1)
    if same:
        out = out + 0.5 * p.kappa * (v * (V - v)).sum(-1)
    return out


def twap(p: GameParams) -> np.ndarray:
    """TWAP trades (N,): q0/N per step (the risk-neutral single-agent optimum and the Pareto optimum), the shared
    :func:`multiexec.policies.schedules.twap` in the game's parameters."""
    return _twap(p.q0, p.N)


def _trades(X: np.ndarray) -> np.ndarray:
    return -np.diff(X, axis=-1)


def sz_nash_two(p: GameParams, x1: float | None = None, x2: float | None = None, lam: float = 0.0,
                sigma: float | None = None) -> np.ndarray:
    """Schied–Zhang two-player Nash inventories (2, N+1) at t = 0, tau, ..., T (closed form, risk aversion lam)."""
    x1 = p.q0 if x1 is None else x1
    x2 = p.q0 if x2 is None else x2
    sig = p.sigma if sigma is None else sigma
    a, k, T = p.alpha, p.kappa, p.T
    t = np.linspace(0.0, T, p.N + 1)

    def part(x: float, decay: float, c: float) -> np.ndarray:
        # x * exp(decay t) * sinh((T-t) c) / sinh(T c); c -> 0 limit is linear
        if c * T < 1e-12:
            return x * np.exp(decay * t) * (T - t) / T
        return x * np.exp(decay * t) * np.sinh((T - t) * c) / np.sinh(T * c)

    Sum = part(x1 + x2, -k / (6 * a), math.sqrt(k**2 + 12 * a * lam * sig**2) / (6 * a))
    Diff = part(x1 - x2, k / (2 * a), math.sqrt(k**2 + 4 * a * lam * sig**2) / (2 * a))
    return np.stack([(Sum + Diff) / 2, (Sum - Diff) / 2])


def sz_nash(p: GameParams, lam: float = 0.0, sigma: float | None = None) -> np.ndarray:
    """Schied–Zhang Nash trades per agent (N,) for n = p.n_agents players with equal inventories q0 and risk aversion lam."""
    n, g, l, T = p.n_agents, p.kappa, p.alpha, p.T
    sig = p.sigma if sigma is None else sigma
    rho_hat = math.sqrt((n - 1) ** 2 * g**2 + 4 * (n + 1) * lam * sig**2 * l) / (2 * (n + 1) * l)
    t = np.linspace(0.0, T, p.N + 1)
    if rho_hat * T < 1e-12:  # n = 1 and risk neutral: TWAP
        X = p.q0 * (T - t) / T
    else:
        rm = -(n - 1) * g / (2 * (n + 1) * l) - rho_hat
        rp = -(n - 1) * g / (2 * (n + 1) * l) + rho_hat
        X = p.q0 * (np.exp(rho_hat * T + rm * t) - np.exp(-rho_hat * T + rp * t)) / (2 * np.sinh(rho_hat * T))
    return _trades(X)


def discrete_nash(p: GameParams, same_step: bool | None = None, inventories: np.ndarray | None = None) -> np.ndarray:
    """Exact Nash equilibrium (n, N) of the discrete game as simulated, risk neutral.

    Agent k minimises its expected IS (:func:`expected_is`) subject to ``sum_t v_kt = x_k``; with the others fixed it is a
    convex quadratic, so the equilibrium solves the stacked first-order conditions
    ``kappa (L + L^T) v_k + 2 alpha/tau v_k + kappa L O_k + c kappa/2 O_k = mu_k 1`` (``O_k`` = others' trades,
    ``L`` strictly lower triangular ones, ``c`` = 1 with the same-step term), one linear system.
    """
    same = p.coin_toss if same_step is None else same_step
    n, N = p.n_agents, p.N
    x = np.full(n, p.q0) if inventories is None else np.asarray(inventories, float)
    L = np.tril(np.ones((N, N)), -1)
    own = p.kappa * (L + L.T) + 2 * p.alpha / p.tau * np.eye(N)
    cross = p.kappa * L + (0.5 * p.kappa * np.eye(N) if same else 0.0)
    size = n * N + n
    A = np.zeros((size, size))
    b = np.zeros(size)
    for k in range(n):
        rows = slice(k * N, (k + 1) * N)
        for j in range(n):
            A[rows, j * N:(j + 1) * N] = own if j == k else cross
        A[rows, n * N + k] = -1.0
        A[n * N + k, rows] = 1.0
        b[n * N + k] = x[k]
    sol = np.linalg.solve(A, b)
    return sol[: n * N].reshape(n, N)


def pareto_front(p: GameParams, same_step: bool | None = None, pop_size: int = 200, n_gen: int = 300,
                 seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Pareto front of (E[IS_1], E[IS_2]) of two sellers over non-negative schedules, by NSGA-II (pymoo).

    Decision variables are weights w in [0, 1]^(2N), schedules ``v_k = x_k w_k / sum(w_k)``. Returns (F (M, 2) sorted by
    E[IS_1], schedules (M, 2, N)). The convention follows ``same_step`` (default ``p.coin_toss``).
    """
    from pymoo.algorithms.moo.nsga2 import NSGA2
    from pymoo.core.problem import Problem
    from pymoo.optimize import minimize

    if p.n_agents != 2:
        raise MultiexecError(f"pareto_front is for two agents, got n_agents={p.n_agents}")
    N = p.N

    def to_sched(w: np.ndarray) -> np.ndarray:
        w = w.reshape(-1, 2, N) + 1e-12
        return p.q0 * w / w.sum(-1, keepdims=True)

    class _P(Problem):
        def __init__(self) -> None:
            super().__init__(n_var=2 * N, n_obj=2, xl=0.0, xu=1.0)

        def _evaluate(self, X: np.ndarray, out: dict, *args: object, **kwargs: object) -> None:
            out["F"] = expected_is(to_sched(X), p, same_step)

    # seed part of the population with blends of TWAP and the two extremes (one agent spreads over the first N-1
    # steps, the other sells everything in the last step), the rest uniform at random
    rng = np.random.default_rng(seed)
    spread = np.r_[np.ones(N - 1), 0.0]
    last = np.r_[np.zeros(N - 1), 1.0]
    flat = np.ones(N)
    n_seed = pop_size // 2
    lam = rng.uniform(0, 1, (n_seed, 1))
    first = np.where(rng.uniform(size=(n_seed, 1)) < 0.5, 1.0, 0.0)
    a1 = first * (lam * spread + (1 - lam) * flat) + (1 - first) * (lam * last + (1 - lam) * flat)
    a2 = first * (lam * last + (1 - lam) * flat) + (1 - first) * (lam * spread + (1 - lam) * flat)
    X0 = np.concatenate([np.hstack([a1, a2]), rng.uniform(0, 1, (pop_size - n_seed, 2 * N))])
    res = minimize(_P(), NSGA2(pop_size=pop_size, sampling=X0), ("n_gen", n_gen), seed=seed, verbose=False)
    X = np.atleast_2d(res.X)
    F = np.atleast_2d(res.F)
    order = np.argsort(F[:, 0])
    return F[order], to_sched(X[order])
