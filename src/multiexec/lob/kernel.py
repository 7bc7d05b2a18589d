"""Discrete-event kernel with the background agents, compiled with numba.

Events live in a binary heap ordered by (time, sequence number), so equal times keep their sending order and a
run is reproducible event for event. Event kinds:

* ``WAKE``: an agent acts. The event time is when the agent's market-data query reaches the exchange (it sees
  the book then); the orders it sends arrive ``2 x latency`` later (the reply's trip back and the order's trip
  out), so every agent trades on information one round trip old, as in ABIDES.
* ``LIMIT``, ``MARKET``, ``CANCEL``, ``CANCEL_ALL``, ``MODIFY``: a message reaching the exchange.
* ``REQUOTE``: a market maker's reaction to a book-imbalance alert (its subscription), like a wake-up that does
  not schedule the next one.

Latency (per message batch): ``min_latency[agent] + jitter`` with ABIDES' cubic jitter
``a / x**3 * min_latency / unit`` (``x`` uniform on ``[clip, 1]``), drawn from the agent's own generator.
Every agent, the fundamental of every symbol, has its own xoshiro256** stream from the master seed
(:mod:`multiexec.lob.rng`).

Speed: :func:`run_until` works on borrowed (not reference-counted) views of the state arrays
(:func:`multiexec.lob.engine.borrow`) and the per-event functions are inlined into it; numba otherwise
increments and decrements atomically the reference count of every array of the state tuples at each call, which
cost about two thirds of the time per event.

Agents (parameters in ``fp`` / state in ``fs`` rows, column constants below):

* noise (ABIDES NoiseAgent): wakes once at a uniform time, sends one limit order in a random direction at the
  opposite best price (a marketable order); size from the order-size model. With probability
  ``market_order_share`` (not in ABIDES) it sends a market order instead, for at most the shares quoted at the
  opposite best.
* value (ABIDES ValueAgent): Poisson wake-ups; cancels its open orders; observes the fundamental with noise of
  variance ``sigma_n``; Bayesian (Kalman) update of its estimate; projects it to the close with mean
  reversion; buys if the projection is above the mid, sells otherwise; with probability ``percent_aggr`` at the
  opposite best price, else passively up to ``depth_spread x spread`` away from it; an aggressive order is a
  market order (at most the shares quoted at the opposite best) with probability ``market_order_share``.
* momentum (ABIDES MomentumAgent): Poisson wake-ups; records the mid; buys at the ask when the short moving
  average is at least the long one, sells at the bid otherwise.
* adaptive market maker (ABIDES AdaptiveMarketMakerAgent): Poisson wake-ups; spread estimate by EWMA
  (``spread_alpha``) or a fixed window (``window_ticks``, then ``level_spacing`` is in ticks); a ladder of
  ``num_ticks`` orders per side, ``level_spacing x spread`` ticks apart, around
  the mid skewed by the recent trade imbalance, moved by diff-and-replace (only changed levels are modified);
  size per level ``pov x`` volume since its last wake-up (``replace``: a changed level is cancelled and a new
  order sent, each message with its own latency draw, as exchanges see quote updates; else one modify message
  per changed level, all arriving together); re-quotes
  when top-of-book imbalance ``|q_bid - q_ask| / (q_bid + q_ask)`` crosses ``min_imbalance`` (an empty side is a
  full imbalance), at most once per ``requote_cooldown`` (without it the re-quotes, which move the top of the
  book, feed back into new alerts).
* external: controlled from Python (execution agents, the gym environment); their messages enter through
  :func:`push_message`.
* world (INTAGS' neural world agent, :mod:`multiexec.lob.world`): at each wake-up it observes the book (the
  features of its last ``history`` decisions), draws the noise ``z`` from its own stream (or takes an action
  forced from Python), runs its MLP and sends one order (limit / market / cancel by price level) after a fixed
  latency, then wakes again after the time its action asks for. ``meta[K_STOP]`` (an agent id, -1 = off) makes
  :func:`run_until` stop just before that world agent's next decision (``STOPPED``), so Python can read the
  state it will see, sample or force its action, and fork the market there.

Intraday profile: value agents' arrival rate, noise agents' wake-up density and the fundamental's diffusion
variance are scaled by a U-shaped multiplier ``1 + A (exp(-(t - open)/tau) + exp(-(close - t)/tau))``
(``A = 0``: flat, as ABIDES).

Stochastic volatility (``vol_of_vol > 0``; ABIDES has none): the log-volatility ``h`` of each symbol is an OU
process (stationary std ``vol_of_vol``, time constant ``vol_tau``), advanced exactly with the fundamental. It
scales the fundamental's diffusion std by ``exp(h - vov^2)`` (mean-one variance), its jump sizes by
``exp(h - vov^2 / 2)`` (mean one), and the value agents' arrival rate by ``exp(p h - p^2 vov^2 / 2)``
(``p = activity_exponent``, mean one): calm and
turbulent spells of news and of trading alternate over tens of minutes, which gives the volatility clustering
(autocorrelation of |r|) and the volume/|r| link of real markets.

The fundamental (one per symbol) is an Ornstein-Uhlenbeck process with Poisson jumps, advanced lazily when
observed (ABIDES' sparse mean-reverting oracle) with the correct step: the *standard deviation*
``sigma * sqrt((1 - exp(-2 kappa dt)) / (2 kappa))`` (ABIDES passes the variance there; issue
jpmorganchase/abides-jpmc-public#10).
"""

from __future__ import annotations

import math
from collections import namedtuple

import numba as nb
import numpy as np

from multiexec.lob import engine as E
from multiexec.lob import rng as R
from multiexec.lob import world as W

# agent types
NOISE, VALUE, MOMENTUM, MM, EXTERNAL, WORLD = 0, 1, 2, 3, 4, 5
TYPE_NAMES = ("noise", "value", "momentum", "market_maker", "external", "world")

# event kinds
WAKE, LIMIT, MARKET, CANCEL, CANCEL_ALL, MODIFY, REQUOTE, CANCEL_LEVEL = 0, 1, 2, 3, 4, 5, 6, 7
# heap row columns
H_TIME, H_SEQ, H_KIND, H_AGENT, H_SYM, H_SIDE, H_PX, H_QTY, H_OID = range(9)
HCOLS = 9

# fp / fs columns
N_WAKE, N_SIZE, N_MKT = 0, 1, 2
V_RBAR, V_KAPPA, V_SIGN, V_SIGS, V_LAMBDA, V_AGGR, V_DEPTH, V_SIZE, V_MKT = 0, 1, 2, 3, 4, 5, 6, 7, 8
V_RT, V_SIGT, V_PREV = 0, 1, 2
M_WAKE, M_SIZE, M_SHORT, M_LONG = 0, 1, 2, 3
M_NOBS = 0
K_POV, K_MIN, K_NT, K_SPACING, K_ALPHA, K_WAKE, K_SKEW, K_BACKSTOP, K_IMB, K_WINDOW, K_COOL, K_REPLACE = range(12)
K_MID, K_SPREAD, K_VB, K_VS, K_BUY, K_SELL, K_TVB, K_TVS, K_LASTQ = range(9)
NFP = 12
NFS = 9
# fundamental params / state
F_RBAR, F_KAPPA, F_SIGMA, F_JRATE, F_JMEAN, F_JSTD, F_UAMP, F_UTAU, F_OPEN, F_CLOSE, F_VOV, F_VTAU, F_VEXP = range(13)
NSP = 13
F_TIME, F_VAL, F_NEXTJ, F_H = range(4)
NFSTATE = 4
# kernel meta
K_NOW, K_NHEAP, K_SEQ, K_NEVENTS, K_OPEN, K_CLOSE, K_NSNAP, K_SNAPNEXT, K_SNAPDT, K_MAXPUSH, K_CDELAY, K_STOP = range(12)
KMETA = 12
# latency params (global)
L_JITTER, L_CLIP, L_UNIT = 0, 1, 2

OK, NEED_EXCHANGE_ROOM, NEED_HEAP_ROOM, STOPPED = 0, 1, 2, 3

KState = namedtuple(
    "KState",
    [
        "heap",  # (H, HCOLS) int64
        "ag_type", "ag_sym", "ag_lat", "ag_aux",  # (A,)
        "rng",  # (A, 4) uint64 agent streams
        "fp", "fs",  # (A, NFP), (A, NFS) float64
        "hist",  # (n_momentum, long window) float64 mid history
        "sp", "fstate", "frng",  # (S, NSP), (S, NFSTATE) float64; (S, 4) uint64
        "mm_list",  # (S, max_mm) int64, -1 padded
        "imb_on",  # (S,) int64
        "lat",  # (3,) float64 jitter, clip, unit
        "size_w", "size_v",  # order-size mixture: weights (cumulative) and values (0 = log-normal component)
        "snap_t", "snap_px", "snap_sz",  # (n_snap,), (n_snap, S, 2, depth)
        "meta",  # (KMETA,) int64
        # world agents (row = ag_aux of the agent; one row of zeros when there is none)
        "wpar", "wlay",  # (nw, P) float64 weights, (nw, L) int64 layout (multiexec.lob.world.WorldWeights.flat)
        "wcfg", "wst",  # (nw, NWC) float64 caps and latency, (nw, NWS) float64 state (header + feature history)
        "wbuf", "wint",  # (nw, B) float64 and (nw, 4 x BOOK_LEVELS) int64 scratch
    ],
)


# ---------------------------------------------------------------- heap


@nb.njit(cache=True)
def _less(h, i, j):
    return h[i, H_TIME] < h[j, H_TIME] or (h[i, H_TIME] == h[j, H_TIME] and h[i, H_SEQ] < h[j, H_SEQ])


@nb.njit(cache=True)
def _swap(h, i, j):
    for c in range(HCOLS):
        tmp = h[i, c]
        h[i, c] = h[j, c]
        h[j, c] = tmp


@nb.njit(cache=True)
def push(h, meta, t, kind, agent, sym, side, px, qty, oid):
    """Schedule an event (``h`` = the heap, ``meta`` = the kernel meta array)."""
    n = meta[K_NHEAP]
    h[n, H_TIME] = t
    h[n, H_SEQ] = meta[K_SEQ]
    meta[K_SEQ] += 1
    h[n, H_KIND] = kind
    h[n, H_AGENT] = agent
    h[n, H_SYM] = sym
    h[n, H_SIDE] = side
    h[n, H_PX] = px
    h[n, H_QTY] = qty
    h[n, H_OID] = oid
    meta[K_NHEAP] = n + 1
    i = n
    while i > 0:
        p = (i - 1) >> 1
        if _less(h, i, p):
            _swap(h, i, p)
            i = p
        else:
            break


@nb.njit(cache=True)
def _pop(h, meta, out):
    for c in range(HCOLS):
        out[c] = h[0, c]
    n = meta[K_NHEAP] - 1
    meta[K_NHEAP] = n
    if n > 0:
        for c in range(HCOLS):
            h[0, c] = h[n, c]
        i = 0
        while True:
            l_ = 2 * i + 1
            if l_ >= n:
                break
            m = l_
            if l_ + 1 < n and _less(h, l_ + 1, l_):
                m = l_ + 1
            if _less(h, m, i):
                _swap(h, i, m)
                i = m
            else:
                break


@nb.njit(cache=True)
def push_wakes(ks, first_wake):
    """Schedule each agent's first wake-up (agents with a negative time get none), in agent order."""
    for a in range(first_wake.shape[0]):
        if first_wake[a] >= 0:
            push(ks.heap, ks.meta, first_wake[a], WAKE, a, ks.ag_sym[a], 0, 0, 0, -1)


# ---------------------------------------------------------------- helpers


@nb.njit(cache=True)
def _latency(ag_lat, rng, lat, a):
    base = float(ag_lat[a])
    jit = lat[L_JITTER]
    if jit <= 0.0:
        return ag_lat[a]
    clip = lat[L_CLIP]
    x = clip + (1.0 - clip) * R.uniform(rng, a)
    return int(base + jit / (x * x * x) * base / lat[L_UNIT])


@nb.njit(cache=True, inline="always")
def latency(ks, a):
    """One-way latency (ns) of a message batch of agent ``a``: minimum plus ABIDES' cubic jitter."""
    return _latency(ks.ag_lat, ks.rng, ks.lat, a)


@nb.njit(cache=True)
def _order_size(rng, size_w, size_v, a):
    """ABIDES' order-size model: a mixture of a log-normal (mu 2.9, sigma 1.2) and round lots."""
    u = R.uniform(rng, a)
    k = 0
    while k < size_w.shape[0] - 1 and u > size_w[k]:
        k += 1
    v = size_v[k]
    if v > 0:
        return int(v)
    return int(round(math.exp(2.9 + 1.2 * R.normal(rng, a))))


@nb.njit(cache=True)
def push_message(ks, a, t_send, kind, sym, side, px, qty, oid):
    """Send one message from agent ``a`` at ``t_send``; it reaches the exchange after the agent's latency."""
    push(ks.heap, ks.meta, t_send + latency(ks, a), kind, a, sym, side, px, qty, oid)


@nb.njit(cache=True)
def intraday(sp, s, t):
    """Intraday activity multiplier ``1 + A (exp(-(t - open)/tau) + exp(-(close - t)/tau))`` (U-shaped)."""
    amp = sp[s, F_UAMP]
    if amp <= 0.0:
        return 1.0
    tau = sp[s, F_UTAU]
    x = max(0.0, t - sp[s, F_OPEN])
    y = max(0.0, sp[s, F_CLOSE] - t)
    return 1.0 + amp * (math.exp(-x / tau) + math.exp(-y / tau))


@nb.njit(cache=True)
def observe_fundamental(ks, s, t):
    """Advance symbol ``s``'s fundamental to time ``t`` (OU steps between Poisson jumps) and return it."""
    return _fundamental(ks.sp, ks.fstate, ks.frng, s, t)


@nb.njit(cache=True)
def vol_factor(sp, fs, s, power):
    """Symbol ``s``'s stochastic-volatility factor ``exp(power (h - power vov^2 / 2))`` now (mean 1 for a
    stationary log-volatility ``h ~ N(0, vov^2)``); 1 without stochastic volatility."""
    vov = sp[s, F_VOV]
    if vov <= 0.0:
        return 1.0
    return math.exp(power * fs[s, F_H] - 0.5 * power * power * vov * vov)


@nb.njit(cache=True)
def _fundamental(sp, fs, frng, s, t):
    if t <= fs[s, F_TIME]:
        return fs[s, F_VAL]
    mu = sp[s, F_RBAR]
    kap = sp[s, F_KAPPA]
    sig = sp[s, F_SIGMA]
    vov = sp[s, F_VOV]
    while True:
        tj = fs[s, F_NEXTJ]
        tt = min(t, tj)
        d = tt - fs[s, F_TIME]
        if d > 0:
            if kap > 0:
                decay = math.exp(-kap * d)
                sd = sig * math.sqrt((1.0 - decay * decay) / (2.0 * kap))
            else:
                decay = 1.0
                sd = sig * math.sqrt(d)
            sd *= math.sqrt(intraday(sp, s, fs[s, F_TIME] + 0.5 * d))
            if vov > 0.0:
                # log-volatility h: an OU process (stationary std vov, time constant F_VTAU), sampled exactly;
                # the step's variance uses the mean of exp(2h) at both ends, normalised to mean 1
                h0 = fs[s, F_H]
                e = math.exp(-d / sp[s, F_VTAU])
                h1 = h0 * e + vov * math.sqrt(1.0 - e * e) * R.normal(frng, s)
                fs[s, F_H] = h1
                sd *= math.sqrt(0.5 * (math.exp(2.0 * h0) + math.exp(2.0 * h1))) * math.exp(-vov * vov)
            v = mu + (fs[s, F_VAL] - mu) * decay + sd * R.normal(frng, s)
            fs[s, F_VAL] = max(1.0, v)
            fs[s, F_TIME] = tt
        if tj <= t:
            jump = (sp[s, F_JMEAN] + sp[s, F_JSTD] * R.normal(frng, s)) * vol_factor(sp, fs, s, 1.0)
            if R.uniform(frng, s) < 0.5:
                jump = -jump
            fs[s, F_VAL] = max(1.0, fs[s, F_VAL] + jump)
            rate = sp[s, F_JRATE]
            fs[s, F_NEXTJ] = tj + R.exponential(frng, s, 1.0 / rate) if rate > 0 else 1e30
        else:
            break
    return fs[s, F_VAL]


@nb.njit(cache=True)
def _bbo(symv, s):
    b = symv[s, E.SV_BID]
    a = symv[s, E.SV_ASK]
    base = symv[s, E.SV_BASE]
    return (b + base if b >= 0 else -1), (a + base if a >= 0 else -1)


# ---------------------------------------------------------------- agents


@nb.njit(cache=True)
def _touch_size(ex, s, side):
    """Shares displayed at the opposite best price for an order of direction ``side`` (0 when that side is
    empty): an agent's market order takes at most what it sees quoted."""
    k = 1 if side > 0 else 0
    i = ex.symv[s, E.SV_BID + k]
    return ex.lvl[s, k, i, E.L_QTY] if i >= 0 else 0


@nb.njit(cache=True)
def _market_instead(rng, share, a):
    """True with probability ``share``: an aggressive order goes out as a market order instead of a limit
    order at the opposite best (no draw when ``share`` is 0, so ABIDES' streams are unchanged)."""
    return share > 0.0 and R.uniform(rng, a) < share


@nb.njit(cache=True, inline="always")
def _noise(ks, ex, a, t):
    s = ks.ag_sym[a]
    bid, ask = _bbo(ex.symv, s)
    side = 1 if R.uniform(ks.rng, a) < 0.5 else -1
    q = int(ks.fp[a, N_SIZE]) if ks.fp[a, N_SIZE] > 0 else _order_size(ks.rng, ks.size_w, ks.size_v, a)
    if q <= 0:
        return
    t_arr = t + ks.meta[K_CDELAY] + 2 * _latency(ks.ag_lat, ks.rng, ks.lat, a)
    if _market_instead(ks.rng, ks.fp[a, N_MKT], a):
        q = min(q, _touch_size(ex, s, side))
        if q > 0:
            push(ks.heap, ks.meta, t_arr, MARKET, a, s, side, 0, q, -1)
    elif side > 0 and ask > 0:
        push(ks.heap, ks.meta, t_arr, LIMIT, a, s, 1, ask, q, -1)
    elif side < 0 and bid > 0:
        push(ks.heap, ks.meta, t_arr, LIMIT, a, s, -1, bid, q, -1)


@nb.njit(cache=True, inline="always")
def _value(ks, ex, a, t):
    s = ks.ag_sym[a]
    fp = ks.fp
    fs = ks.fs
    t_arr = t + ks.meta[K_CDELAY] + 2 * _latency(ks.ag_lat, ks.rng, ks.lat, a)
    # ABIDES: cancel all open orders at every wake-up
    if ex.agv[a, E.AG_HEAD] >= 0:
        push(ks.heap, ks.meta, t_arr, CANCEL_ALL, a, s, 0, 0, 0, -1)
    # noisy observation of the fundamental (sigma_n is a variance)
    r = _fundamental(ks.sp, ks.fstate, ks.frng, s, t)
    obs = round(r + math.sqrt(fp[a, V_SIGN]) * R.normal(ks.rng, a))
    kap = fp[a, V_KAPPA]
    prev = fs[a, V_PREV] if fs[a, V_PREV] >= 0 else float(ks.meta[K_OPEN])
    delta = max(0.0, t - prev)
    dec = math.exp(delta * math.log1p(-kap)) if kap > 0 else 1.0
    r_tp = (1.0 - dec) * fp[a, V_RBAR] + dec * fs[a, V_RT]
    if kap > 0:
        sig_tp = dec * dec * fs[a, V_SIGT] + (1.0 - dec * dec) / (1.0 - (1.0 - kap) ** 2) * fp[a, V_SIGS]
    else:
        sig_tp = fs[a, V_SIGT] + delta * fp[a, V_SIGS]
    sn = fp[a, V_SIGN]
    fs[a, V_RT] = (sn * r_tp + sig_tp * obs) / (sn + sig_tp)
    fs[a, V_SIGT] = sn * sig_tp / (sn + sig_tp)
    fs[a, V_PREV] = t
    rest = max(0.0, ks.meta[K_CLOSE] - t)
    dec = math.exp(rest * math.log1p(-kap)) if kap > 0 else 1.0
    r_T = round((1.0 - dec) * fp[a, V_RBAR] + dec * fs[a, V_RT])

    bid, ask = _bbo(ex.symv, s)
    kind = LIMIT
    if bid > 0 and ask > 0:
        mid = (bid + ask) // 2
        spread = ask - bid
        aggressive = R.uniform(ks.rng, a) < fp[a, V_AGGR]
        if aggressive:
            adj = 0
        else:
            hi = int(fp[a, V_DEPTH] * spread)
            adj = R.randint(ks.rng, a, 0, hi) if hi > 0 else 0
        if r_T < mid:
            side = -1
            px = bid + adj
        else:
            side = 1
            px = max(1, ask - adj)
        if aggressive and _market_instead(ks.rng, fp[a, V_MKT], a):
            kind = MARKET
    else:
        side = 1 if R.uniform(ks.rng, a) < 0.5 else -1
        px = int(r_T)
    q = int(fp[a, V_SIZE]) if fp[a, V_SIZE] > 0 else _order_size(ks.rng, ks.size_w, ks.size_v, a)
    if kind == MARKET:
        q = min(q, _touch_size(ex, s, side))
    if q > 0:
        push(ks.heap, ks.meta, t_arr, kind, a, s, side, px if kind == LIMIT else 0, q, -1)
    rate = fp[a, V_LAMBDA] * intraday(ks.sp, s, t) * vol_factor(ks.sp, ks.fstate, s, ks.sp[s, F_VEXP])
    nxt = t + int(R.exponential(ks.rng, a, 1.0 / rate))
    push(ks.heap, ks.meta, nxt, WAKE, a, s, 0, 0, 0, -1)


@nb.njit(cache=True, inline="always")
def _momentum(ks, ex, a, t):
    s = ks.ag_sym[a]
    fp = ks.fp
    bid, ask = _bbo(ex.symv, s)
    if bid > 0 and ask > 0:
        h = ks.hist[ks.ag_aux[a]]
        L = h.shape[0]
        n = int(ks.fs[a, M_NOBS])
        h[n % L] = (bid + ask) // 2
        n += 1
        ks.fs[a, M_NOBS] = n
        ns = int(fp[a, M_SHORT])
        nl = int(fp[a, M_LONG])
        if n >= nl:
            ss = 0.0
            sl = 0.0
            for j in range(nl):
                v = h[(n - 1 - j) % L]
                sl += v
                if j < ns:
                    ss += v
            q = int(fp[a, M_SIZE]) if fp[a, M_SIZE] > 0 else _order_size(ks.rng, ks.size_w, ks.size_v, a)
            if q > 0:
                t_arr = t + ks.meta[K_CDELAY] + 2 * _latency(ks.ag_lat, ks.rng, ks.lat, a)
                if round(ss / ns) >= round(sl / nl):
                    push(ks.heap, ks.meta, t_arr, LIMIT, a, s, 1, ask, q, -1)
                else:
                    push(ks.heap, ks.meta, t_arr, LIMIT, a, s, -1, bid, q, -1)
    nxt = t + int(R.exponential(ks.rng, a, fp[a, M_WAKE]))
    push(ks.heap, ks.meta, nxt, WAKE, a, s, 0, 0, 0, -1)


@nb.njit(cache=True, inline="always")
def _mm_quote(ks, ex, a, t):
    """Move the ladder to the (skewed) last mid: the agent's resting orders of each side, sorted by price, are
    paired with the desired levels in order; identical pairs are left alone (no message), others are modified
    (with ``replace``: cancelled and sent anew, each message with its own latency draw), surplus orders
    cancelled and missing levels added (ABIDES' diff-and-replace)."""
    s = ks.ag_sym[a]
    fp = ks.fp
    fs = ks.fs
    mid = fs[a, K_MID]
    if mid <= 0:
        return
    tvb = fs[a, K_TVB]
    tvs = fs[a, K_TVS]
    mid_point = mid
    if fp[a, K_SKEW] != 0 and tvb + tvs > 0:
        imb = 2.0 * tvb / (tvb + tvs) - 1.0
        mid_point = int(mid + imb * fp[a, K_SKEW])
    window = fp[a, K_WINDOW] if fp[a, K_WINDOW] > 0 else fs[a, K_SPREAD]
    step = max(1, int(round(fp[a, K_SPACING] * window))) if fp[a, K_WINDOW] <= 0 else max(1, int(fp[a, K_SPACING]))
    hb = int(mid_point) - int(math.floor(0.5 * window))
    la = int(mid_point) + int(math.ceil(0.5 * window))
    if la <= hb:
        la = hb + 1
    nt = int(fp[a, K_NT])
    fs[a, K_LASTQ] = t
    t_arr = t + ks.meta[K_CDELAY] + 2 * _latency(ks.ag_lat, ks.rng, ks.lat, a)
    back = int(fp[a, K_BACKSTOP])
    # desired ladder, ascending prices per side
    d_px = np.empty((2, nt), np.int64)
    d_q = np.empty((2, nt), np.int64)
    nd0 = 0
    for j in range(nt - 1, -1, -1):
        pb = hb - j * step
        if pb >= 1:
            d_px[0, nd0] = pb
            d_q[0, nd0] = back if (back > 0 and j == nt - 1) else int(fs[a, K_BUY])
            nd0 += 1
    for j in range(nt):
        d_px[1, j] = la + j * step
        d_q[1, j] = back if (back > 0 and j == nt - 1) else int(fs[a, K_SELL])
    nd = (nd0, nt)
    # the agent's resting orders
    pool = ex.pool
    n_own = 0
    slot = ex.agv[a, E.AG_HEAD]
    while slot >= 0:
        n_own += 1
        slot = pool[slot, E.O_ANEXT]
    e_px = np.empty((2, n_own), np.int64)
    e_q = np.empty((2, n_own), np.int64)
    e_id = np.empty((2, n_own), np.int64)
    ne = np.zeros(2, np.int64)
    slot = ex.agv[a, E.AG_HEAD]
    while slot >= 0:
        k = 0 if pool[slot, E.O_SIDE] > 0 else 1
        e_px[k, ne[k]] = pool[slot, E.O_PX]
        e_q[k, ne[k]] = pool[slot, E.O_QTY]
        e_id[k, ne[k]] = (pool[slot, E.O_GEN] << 32) | slot
        ne[k] += 1
        slot = pool[slot, E.O_ANEXT]
    h = ks.heap
    meta = ks.meta
    replace = fp[a, K_REPLACE] > 0
    t0 = t + ks.meta[K_CDELAY]
    for k in range(2):
        side = 1 if k == 0 else -1
        order = np.argsort(e_px[k, :ne[k]], kind="mergesort")
        common = min(ne[k], nd[k])
        for i in range(common):
            o = order[i]
            if e_px[k, o] == d_px[k, i] and e_q[k, o] == d_q[k, i]:
                continue
            if replace:
                push(h, meta, t0 + 2 * _latency(ks.ag_lat, ks.rng, ks.lat, a), CANCEL, a, s, side, 0, 0, e_id[k, o])
                push(h, meta, t0 + 2 * _latency(ks.ag_lat, ks.rng, ks.lat, a), LIMIT, a, s, side, d_px[k, i],
                     d_q[k, i], -1)
            else:
                push(h, meta, t_arr, MODIFY, a, s, side, d_px[k, i], d_q[k, i], e_id[k, o])
        for i in range(common, ne[k]):
            ta = t0 + 2 * _latency(ks.ag_lat, ks.rng, ks.lat, a) if replace else t_arr
            push(h, meta, ta, CANCEL, a, s, side, 0, 0, e_id[k, order[i]])
        for i in range(common, nd[k]):
            ta = t0 + 2 * _latency(ks.ag_lat, ks.rng, ks.lat, a) if replace else t_arr
            push(h, meta, ta, LIMIT, a, s, side, d_px[k, i], d_q[k, i], -1)


@nb.njit(cache=True, inline="always")
def _mm_wake(ks, ex, a, t):
    s = ks.ag_sym[a]
    fp = ks.fp
    fs = ks.fs
    bid, ask = _bbo(ex.symv, s)
    if bid > 0 and ask > 0:
        fs[a, K_MID] = (bid + ask) // 2
        if fp[a, K_WINDOW] <= 0:
            al = fp[a, K_ALPHA]
            fs[a, K_SPREAD] = al * (ask - bid) + (1.0 - al) * fs[a, K_SPREAD]
    # transacted volume since the last wake-up
    vb = ex.symv[s, E.SV_VOLB]
    vs = ex.symv[s, E.SV_VOLS]
    fs[a, K_TVB] = vb - fs[a, K_VB]
    fs[a, K_TVS] = vs - fs[a, K_VS]
    fs[a, K_VB] = vb
    fs[a, K_VS] = vs
    q = round(fp[a, K_POV] * (fs[a, K_TVB] + fs[a, K_TVS]))
    q = max(q, fp[a, K_MIN])
    fs[a, K_BUY] = q
    fs[a, K_SELL] = q
    _mm_quote(ks, ex, a, t)
    nxt = t + int(R.exponential(ks.rng, a, fp[a, K_WAKE]))
    push(ks.heap, ks.meta, nxt, WAKE, a, s, 0, 0, 0, -1)


@nb.njit(cache=True, inline="always")
def _mm_requote(ks, ex, a, t):
    s = ks.ag_sym[a]
    bid, ask = _bbo(ex.symv, s)
    if bid > 0 and ask > 0:
        ks.fs[a, K_MID] = (bid + ask) // 2
    _mm_quote(ks, ex, a, t)


@nb.njit(cache=True, inline="always")
def _alert(ks, s, t):
    """Book-imbalance alert: each market maker of symbol ``s`` re-quotes (at most once per cooldown)."""
    for j in range(ks.mm_list.shape[1]):
        m = ks.mm_list[s, j]
        if m < 0:
            break
        if t - ks.fs[m, K_LASTQ] >= ks.fp[m, K_COOL]:
            push(ks.heap, ks.meta, t + latency(ks, m), REQUOTE, m, s, 0, 0, 0, -1)


@nb.njit(cache=True, inline="always")
def _world(ks, ex, a, t):
    """The world agent's decision: observe, draw ``z`` (or take the forced action), forward, send one order,
    schedule the next decision."""
    w = ks.ag_aux[a]
    s = ks.ag_sym[a]
    par = ks.wpar[w]
    lay = ks.wlay[w]
    cfg = ks.wcfg[w]
    st = ks.wst[w]
    buf = ks.wbuf[w]
    ib = ks.wint[w]
    H = lay[W.L_H]
    F = lay[W.L_F]
    Z = lay[W.L_Z]
    nb_ = W.BOOK_LEVELS
    bpx = ib[0:nb_]
    bsz = ib[nb_:2 * nb_]
    apx = ib[2 * nb_:3 * nb_]
    asz = ib[3 * nb_:4 * nb_]
    feat = buf[0:F]
    z = buf[F:F + Z]
    y = buf[F + Z:F + Z + W.N_OUT]
    W.observe(ex, s, t, st, H, bpx, bsz, apx, asz, feat)
    bid = bpx[0]
    ask = apx[0]
    forced = st[W.W_FORCED] > 0
    st[W.W_FORCED] = 0.0
    tries = 0
    while True:
        if forced:
            for j in range(W.N_OUT):
                y[j] = st[W.W_FY + j]
        else:
            for j in range(Z):
                z[j] = R.normal(ks.rng, a)
            W.forward(par, lay, st[W.W_HIST:W.W_HIST + H * F], z, buf[F + Z + W.N_OUT:], y)
        typ, side, size, depth, dt = W.decode(par, lay, y, cfg)
        # an order that cannot act (a market order into an empty side, a cancel of a side where the agent
        # rests nothing) is drawn again, as DeepMarket's world agent regenerates such orders
        ok = True
        if typ == W.A_MARKET:
            ok = (ask >= 0) if side > 0 else (bid >= 0)
        elif typ == W.A_CANCEL:
            ok = (bid >= 0) if side > 0 else (ask >= 0)
        if ok or forced or tries >= cfg[W.C_REDRAW]:
            break
        tries += 1
    st[W.W_NREDRAW] += tries
    if cfg[W.C_DTMODE] == W.DT_EMPIRICAL:
        edt = W.empirical_dt(par, lay, R.uniform(ks.rng, a), cfg)
        if edt >= 0:
            dt = edt
    for j in range(W.N_OUT):
        st[W.W_LY + j] = y[j]
    st[W.W_NDEC] += 1.0
    t_arr = t + int(cfg[W.C_LAT])
    if typ == W.A_LIMIT:
        if side > 0:
            ref = bid if bid >= 0 else (ask - 1 if ask >= 0 else int(st[W.W_MID]))
            px = ref - depth
            if ask >= 0 and px >= ask:
                px = ask - 1
        else:
            ref = ask if ask >= 0 else (bid + 1 if bid >= 0 else int(st[W.W_MID] + 1.0))
            px = ref + depth
            if bid >= 0 and px <= bid:
                px = bid + 1
        if px >= 1:
            push(ks.heap, ks.meta, t_arr, LIMIT, a, s, side, px, size, -1)
    elif typ == W.A_MARKET:
        push(ks.heap, ks.meta, t_arr, MARKET, a, s, side, 0, size, -1)
    else:
        best = bid if side > 0 else ask
        if best >= 0:
            if cfg[W.C_CANCEL] == W.CANCEL_VOLUME:
                p = W.volume_level(ex, s, 0 if side > 0 else 1, R.uniform(ks.rng, a), 64)
            else:
                target = best - max(depth, 0) if side > 0 else best + max(depth, 0)
                p = W.nearest_level(ex, s, 0 if side > 0 else 1, target, 64)
            push(ks.heap, ks.meta, t_arr, CANCEL_LEVEL, a, s, side, p, size, -1)
        else:
            st[W.W_NMISS] += 1.0
    push(ks.heap, ks.meta, t + dt, WAKE, a, s, 0, 0, 0, -1)


@nb.njit(cache=True)
def world_observation(ks, ex, a, t, out_state):
    """The state world agent ``a`` would condition on if it decided at ``t`` (its history with the current book
    appended), written into ``out_state``; the agent itself is left untouched."""
    w = ks.ag_aux[a]
    st = ks.wst[w].copy()
    lay = ks.wlay[w]
    H = lay[W.L_H]
    F = lay[W.L_F]
    nb_ = W.BOOK_LEVELS
    ib = np.empty(4 * nb_, np.int64)
    feat = np.empty(F)
    W.observe(ex, ks.ag_sym[a], t, st, H, ib[0:nb_], ib[nb_:2 * nb_], ib[2 * nb_:3 * nb_], ib[3 * nb_:], feat)
    for j in range(H * F):
        out_state[j] = st[W.W_HIST + j]


# ---------------------------------------------------------------- snapshots and the loop


@nb.njit(cache=True)
def _snapshot(ks, ex, t):
    n = ks.meta[K_NSNAP]
    ks.snap_t[n] = t
    depth = ks.snap_px.shape[3]
    for s in range(ex.symv.shape[0]):
        for k in range(2):
            E.l2_into(ex, s, depth, ks.snap_px[n, s, k], ks.snap_sz[n, s, k], k)
    ks.meta[K_NSNAP] = n + 1
    ks.meta[K_SNAPNEXT] += ks.meta[K_SNAPDT]


@nb.njit(cache=True)
def _take_snapshots(ks, ex, upto):
    while ks.meta[K_SNAPNEXT] <= upto and ks.meta[K_NSNAP] < ks.snap_t.shape[0]:
        _snapshot(ks, ex, ks.meta[K_SNAPNEXT])


@nb.njit(cache=True)
def _borrowed(ks):
    """``ks`` with every array replaced by a borrowed view (:func:`multiexec.lob.engine.borrow`)."""
    b = E.borrow
    return KState(b(ks.heap), b(ks.ag_type), b(ks.ag_sym), b(ks.ag_lat), b(ks.ag_aux), b(ks.rng), b(ks.fp), b(ks.fs),
                  b(ks.hist), b(ks.sp), b(ks.fstate), b(ks.frng), b(ks.mm_list), b(ks.imb_on), b(ks.lat), b(ks.size_w),
                  b(ks.size_v), b(ks.snap_t), b(ks.snap_px), b(ks.snap_sz), b(ks.meta), b(ks.wpar), b(ks.wlay),
                  b(ks.wcfg), b(ks.wst), b(ks.wbuf), b(ks.wint))


@nb.njit(cache=True)
def run_until(ks, ex, t_end):
    """Process events with time <= ``t_end`` (capped at the close). Returns OK, or NEED_EXCHANGE_ROOM /
    NEED_HEAP_ROOM when arrays must grow first (the caller grows them and calls again: nothing is lost), or
    STOPPED when the next event is the decision of the world agent ``meta[K_STOP]`` (not processed)."""
    ks = _borrowed(ks)
    ex = E.borrowed(ex)
    meta = ks.meta
    heap = ks.heap
    ag_type = ks.ag_type
    exmeta = ex.meta
    trl = ex.trl
    oll = ex.oll
    symv = ex.symv
    lvl = ex.lvl
    mm_list = ks.mm_list
    imb_on = ks.imb_on
    t_end = min(t_end, meta[K_CLOSE])
    ev = np.empty(HCOLS, np.int64)
    while meta[K_NHEAP] > 0 and heap[0, H_TIME] <= t_end:
        if not E.room(exmeta, trl, oll, exmeta[E.M_NREST] + 1):
            return NEED_EXCHANGE_ROOM
        if meta[K_NHEAP] + meta[K_MAXPUSH] + exmeta[E.M_NREST] > heap.shape[0]:
            return NEED_HEAP_ROOM
        t = heap[0, H_TIME]
        if (meta[K_STOP] >= 0 and heap[0, H_AGENT] == meta[K_STOP] and heap[0, H_KIND] == WAKE
                and ag_type[heap[0, H_AGENT]] == WORLD and t >= meta[K_OPEN]):
            return STOPPED
        if meta[K_SNAPNEXT] <= t:
            _take_snapshots(ks, ex, t)
        _pop(heap, meta, ev)
        meta[K_NOW] = t
        meta[K_NEVENTS] += 1
        kind = ev[H_KIND]
        a = ev[H_AGENT]
        if t < meta[K_OPEN]:
            continue
        if kind == WAKE:
            typ = ag_type[a]
            if typ == NOISE:
                _noise(ks, ex, a, t)
            elif typ == VALUE:
                _value(ks, ex, a, t)
            elif typ == MOMENTUM:
                _momentum(ks, ex, a, t)
            elif typ == MM:
                _mm_wake(ks, ex, a, t)
            elif typ == WORLD:
                _world(ks, ex, a, t)
            continue
        if kind == REQUOTE:
            _mm_requote(ks, ex, a, t)
            continue
        s = ev[H_SYM]
        if kind == LIMIT:
            E.limit_order(ex, t, s, a, ev[H_SIDE], ev[H_PX], ev[H_QTY])
        elif kind == MARKET:
            E.market_order(ex, t, s, a, ev[H_SIDE], ev[H_QTY])
        elif kind == CANCEL:
            E.cancel_order(ex, t, ev[H_OID], ev[H_QTY], a, s, ev[H_SIDE])
        elif kind == CANCEL_ALL:
            E.cancel_all(ex, t, a)
        elif kind == MODIFY:
            E.modify_order(ex, t, ev[H_OID], ev[H_PX], ev[H_QTY], a, s, ev[H_SIDE])
        elif kind == CANCEL_LEVEL:
            if W.cancel_level(ex, t, s, ev[H_SIDE], ev[H_PX], ev[H_QTY], a) == 0:
                ks.wst[ks.ag_aux[a], W.W_NMISS] += 1.0
        # top-of-book imbalance alert for the market makers subscribed to symbol s
        if s >= 0 and mm_list[s, 0] >= 0:
            b = symv[s, E.SV_BID]
            k = symv[s, E.SV_ASK]
            if b >= 0 or k >= 0:
                qb = lvl[s, 0, b, E.L_QTY] if b >= 0 else 0
                qa = lvl[s, 1, k, E.L_QTY] if k >= 0 else 0
                if abs(qb - qa) >= ks.fp[mm_list[s, 0], K_IMB] * (qb + qa):
                    if imb_on[s] == 0:
                        imb_on[s] = 1
                        _alert(ks, s, t)
                else:
                    imb_on[s] = 0
    if meta[K_SNAPNEXT] <= t_end:
        _take_snapshots(ks, ex, t_end)
    meta[K_NOW] = max(meta[K_NOW], t_end)
    return OK
