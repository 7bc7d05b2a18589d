"""Distances between two samples of feedback (issue 11; paper appendix B.2).

Samples are arrays of shape ``(n,)`` or ``(n, d)``; ``x`` (N values, e.g. the world market's rollouts) and ``y``
(N' values, the real market's).

- :func:`mmd2_unbiased` — the paper's choice: the unbiased U-statistic of the squared MMD (Gretton et al. 2012) with
  a Gaussian kernel ``k(a, b) = exp(-|a - b|^2 / (2 sigma^2))`` (the paper prints the exponent without its minus
  sign) and ``sigma`` = the median of the pooled sample's pairwise distances (median heuristic). Being unbiased, it
  is slightly negative about half the time when both samples come from one distribution.
- :func:`energy_distance` — the energy distance in its correct form (Székely & Rizzo):
  ``2 E|X - Y| - E|X - X'| - E|Y - Y'|`` (Euclidean norms, *not* squared), with U-statistics for the within-sample
  means. It is >= 0 in the population and 0 only for equal distributions (MMD with the distance kernel).
- :func:`energy_paper` — the energy distance **as the paper prints it** (B.2): squared norms and the opposite sign,
  ``mean_{i!=j}|x_i - x_j|^2 - 2 mean|x_i - y_j|^2 + mean_{i!=j}|y_i - y_j|^2``. Algebra gives exactly
  ``2 s_x^2 / N + 2 s_y^2 / N' - 2 |xbar - ybar|^2`` (``s^2`` the unbiased sample variances, summed over
  coordinates): it only sees the means, is blind to a change of spread or shape, and *decreases* (goes negative)
  as the means move apart — a larger value means closer means. It is not a metric; that is why the paper finds its
  "distance" smaller between different markets than between identical ones (its Fig. 14).
- :func:`emd` — the 1-D Wasserstein-1 (earth mover's) distance, ``scipy.stats.wasserstein_distance`` (1-D only).
"""

from __future__ import annotations

import numpy as np

from multiexec.errors import MultiexecError


def _as2d(x) -> np.ndarray:
    a = np.asarray(x, np.float64)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise MultiexecError(f"a feedback sample must be 1-D or 2-D, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise MultiexecError("a feedback sample holds NaN or infinite values")
    return a


def _pair(x, y, minimum: int = 2) -> tuple[np.ndarray, np.ndarray]:
    a, b = _as2d(x), _as2d(y)
    if a.shape[1] != b.shape[1]:
        raise MultiexecError(f"samples of different dimension: {a.shape[1]} and {b.shape[1]}")
    if len(a) < minimum or len(b) < minimum:
        raise MultiexecError(f"each sample needs at least {minimum} values (N >= {minimum}); got {len(a)} and {len(b)}")
    return a, b


def _sqdist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = (a[:, None, :] - b[None, :, :]) ** 2
    return d.sum(-1)


def median_bandwidth(x, y) -> float:
    """The median heuristic: median pairwise Euclidean distance of the pooled sample (pairs i < j, ties at 0
    excluded; 1.0 when every value is equal)."""
    z = np.concatenate([_as2d(x), _as2d(y)])
    d = np.sqrt(_sqdist(z, z)[np.triu_indices(len(z), 1)])
    d = d[d > 0]
    return float(np.median(d)) if len(d) else 1.0


def _offdiag_mean(m: np.ndarray) -> float:
    n = m.shape[0]
    return float((m.sum() - np.trace(m)) / (n * (n - 1)))


def mmd2_unbiased(x, y, bandwidth: float | None = None) -> float:
    """Unbiased MMD² (Gaussian kernel; ``bandwidth`` None = median heuristic on the pooled sample)."""
    a, b = _pair(x, y)
    s = median_bandwidth(a, b) if bandwidth is None else float(bandwidth)
    if s <= 0:
        raise MultiexecError(f"the kernel bandwidth must be > 0, got {s}")
    g = 1.0 / (2.0 * s * s)
    kxx = np.exp(-g * _sqdist(a, a))
    kyy = np.exp(-g * _sqdist(b, b))
    kxy = np.exp(-g * _sqdist(a, b))
    return _offdiag_mean(kxx) + _offdiag_mean(kyy) - 2.0 * float(kxy.mean())


def energy_distance(x, y) -> float:
    """Energy distance ``2 E|X-Y| - E|X-X'| - E|Y-Y'|`` (U-statistics within samples)."""
    a, b = _pair(x, y)
    return (2.0 * float(np.sqrt(_sqdist(a, b)).mean()) - _offdiag_mean(np.sqrt(_sqdist(a, a)))
            - _offdiag_mean(np.sqrt(_sqdist(b, b))))


def energy_paper(x, y) -> float:
    """The paper's printed "energy distance" (squared norms, opposite sign); see the module docstring."""
    a, b = _pair(x, y)
    return _offdiag_mean(_sqdist(a, a)) - 2.0 * float(_sqdist(a, b).mean()) + _offdiag_mean(_sqdist(b, b))


def emd(x, y) -> float:
    """1-D earth mover's (Wasserstein-1) distance via ``scipy.stats.wasserstein_distance``."""
    from scipy.stats import wasserstein_distance

    a, b = _pair(x, y, minimum=1)
    if a.shape[1] != 1:
        raise MultiexecError(f"EMD is implemented for 1-D feedback only, got dimension {a.shape[1]}")
    return float(wasserstein_distance(a[:, 0], b[:, 0]))


DISTANCES = {"mmd": mmd2_unbiased, "energy": energy_distance, "emd": emd, "energy-paper": energy_paper}
DISTANCE_NOTES = {
    "mmd": "unbiased MMD^2, Gaussian kernel, median-heuristic bandwidth (the paper's choice)",
    "energy": "energy distance 2E|X-Y| - E|X-X'| - E|Y-Y'| (correct form)",
    "emd": "1-D Wasserstein-1 (scipy.stats.wasserstein_distance)",
    "energy-paper": "the paper's printed energy distance: squared norms, opposite sign (= -2|mean gap|^2 + O(1/N); "
                    "not a metric)",
}


def distance_name(name: str) -> str:
    low = name.strip().lower()
    alias = {"mmd2": "mmd", "ed": "energy", "energy_distance": "energy", "wasserstein": "emd", "ed-paper": "energy-paper",
             "energy_paper": "energy-paper"}
    low = alias.get(low, low)
    if low not in DISTANCES:
        raise MultiexecError(f"unknown distance {name!r}; known: {', '.join(DISTANCES)}")
    return low


def get_distance(name: str):
    return DISTANCES[distance_name(name)]
