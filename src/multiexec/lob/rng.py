"""Per-agent random generators for compiled code: xoshiro256** streams derived from one master seed.

Each stream (an agent, the fundamental of a symbol, the latency jitter of an agent) has its own 4-word state
row, seeded with SplitMix64 from ``(master_seed, stream key)``. Adding or removing an agent therefore never
changes another agent's draws, and the same master seed gives the same numbers on every machine.
All functions are numba-compiled and take the state array plus the row index.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

_U1 = np.uint64(1)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


@nb.njit(cache=True, inline="always")
def _rotl(x, k):
    return (x << np.uint64(k)) | (x >> np.uint64(64 - k))


@nb.njit(cache=True)
def _splitmix(x):
    z = x + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


@nb.njit(cache=True)
def seed_streams(master_seed, keys):
    """(len(keys), 4) xoshiro256** states: stream i is seeded from ``(master_seed, keys[i])``."""
    n = keys.shape[0]
    out = np.empty((n, 4), dtype=np.uint64)
    m = _splitmix(np.uint64(master_seed))
    for i in range(n):
        x = _splitmix(m ^ _splitmix(np.uint64(keys[i]) + np.uint64(0x632BE59BD9B4E019)))
        for j in range(4):
            x = _splitmix(x)
            out[i, j] = x
    return out


@nb.njit(cache=True)
def next_u64(st, i):
    s0 = st[i, 0]
    s1 = st[i, 1]
    s2 = st[i, 2]
    s3 = st[i, 3]
    result = _rotl(s1 * np.uint64(5), 7) * np.uint64(9)
    t = s1 << np.uint64(17)
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = _rotl(s3, 45)
    st[i, 0] = s0
    st[i, 1] = s1
    st[i, 2] = s2
    st[i, 3] = s3
    return result


@nb.njit(cache=True)
def uniform(st, i):
    """Uniform on [0, 1) with 53 random bits."""
    return float(next_u64(st, i) >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@nb.njit(cache=True)
def randint(st, i, lo, hi):
    """Integer uniform on [lo, hi) (hi > lo)."""
    return lo + int(uniform(st, i) * (hi - lo))


@nb.njit(cache=True)
def normal(st, i):
    """Standard normal (Box-Muller, one value per call)."""
    u1 = uniform(st, i)
    while u1 <= 0.0:
        u1 = uniform(st, i)
    u2 = uniform(st, i)
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


@nb.njit(cache=True)
def exponential(st, i, mean):
    u = uniform(st, i)
    return -mean * math.log(1.0 - u)


@nb.njit(cache=True)
def uniforms(st, i, n):
    """``n`` uniforms on [0, 1) from stream ``i``."""
    out = np.empty(n)
    for j in range(n):
        out[j] = uniform(st, i)
    return out
