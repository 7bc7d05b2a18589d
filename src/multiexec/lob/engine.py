"""Matching engine: price-time-priority limit order books for one or more symbols, compiled with numba.

Layout (all state is a :class:`ExState` namedtuple of numpy arrays, so compiled code can work on it and Python
can grow it):

* prices are integer ticks; a symbol's book covers ``n_ticks`` (a power of two, 2**10 .. 2**18) ticks from
  ``base[sym]``; orders priced outside are rejected (an exchange price band);
* each price level keeps a FIFO of resting orders (a doubly linked list through the order pool: O(1) add,
  cancel and execution) and its share total and order count (kept, never recomputed);
* a three-level bitset per book side marks non-empty levels: the next best level after a level empties is found
  with two or three word scans and a de Bruijn bit search, O(log_64 n_ticks);
* the order pool (shared by all symbols) hands out slots from a free stack; an order id is
  ``generation << 32 | slot``, so a stale id (filled or cancelled order) is recognised in O(1);
* every execution is written to the trade log and settles cash (ticks x shares) and positions of both agents;
  every message is written to the message log. Callers guarantee room (see :func:`room`), growing the arrays
  from Python when needed (:meth:`Exchange.ensure`).

Sides: +1 buy / -1 sell outside; book side index 0 = bids, 1 = asks inside.
Message codes in the log: 0 limit, 1 market, 2 cancel, 3 modify.

Valid messages (the rule, enforced twice): prices are integer ticks inside the symbol's band
``[base, base + n_ticks)`` (``base + n_ticks - 1 <= MAX_TICK``); sizes are integers in ``[1, MAX_QTY]``; sides are
+1 / -1; order ids are int64. Nothing is rounded. The Python front-end (:class:`Exchange`) raises
:class:`~multiexec.errors.MultiexecError` for anything else before the engine sees it (off-grid price such as 100.5,
fractional size, size <= 0 or above MAX_QTY, a price or id that is not an int64, unknown symbol or agent), so a bad
message changes nothing, not even the message log. Compiled callers get the engine's own checks: the message is
logged with order id REJECTED and nothing else changes (a float price or size is accepted only when integral, at no
cost for integer arguments). With these limits a level's total (at most 2**32 orders of MAX_QTY) and one trade's
value (MAX_TICK x MAX_QTY < 2**61) fit in int64; an agent's cash is exact while the value it has traded stays below
2**63 ticks x shares (at 100,000 ticks a share, 9.2e13 shares).
"""

from __future__ import annotations

import math
from collections import namedtuple

import numba as nb
import numpy as np
import pandas as pd
from numba.core import cgutils, types
from numba.extending import intrinsic, overload

from multiexec.errors import MultiexecError

MSG_LIMIT, MSG_MARKET, MSG_CANCEL, MSG_MODIFY = 0, 1, 2, 3
MSG_NAMES = np.array(["limit", "market", "cancel", "modify"])
REJECTED = -2  # order id returned for a rejected order (bad price, size or symbol)
FILLED = -1  # order id returned for an order that did not rest (fully filled or market)
MAX_QTY = 1_000_000_000  # largest order size (shares): level totals and trade values stay inside int64
MAX_TICK = 2**31 - 1  # largest price (ticks) a book's band may reach

# meta slots
M_NFREE, M_NTR, M_NOL, M_NREST, M_O1, M_O2 = 0, 1, 2, 3, 4, 5
META_LEN = 8

ExState = namedtuple(
    "ExState",
    [
        "lvl",  # (S, 2, T, 4) int64: per level total shares, order count, head slot, tail slot
        "bits",  # (S, 2, T/64 + ceil(T/4096) + 1) uint64 non-empty levels: words of level 0, 1, 2 (offsets in meta)
        "symv",  # (S, 6) int64 per symbol: SV_BASE tick offset, SV_BID / SV_ASK best level index (-1 empty),
        #          SV_LAST last trade tick, SV_VOLB / SV_VOLS cumulative buyer- / seller-initiated volume
        "pool",  # (C, 11) int64 order pool, columns O_*
        "free",  # (C,) stack of free slots
        "agv",  # (A, 2) int64 per agent: AG_HEAD first resting order slot, AG_CASH cash in ticks x shares
        "pos",  # (A, S) int64 positions
        "trl",  # (N, 9) trade log, columns TR_*
        "oll",  # (N, 8) message log, columns OL_*
        "meta",
    ],
)

L_QTY, L_CNT, L_HEAD, L_TAIL = range(4)
SV_BASE, SV_BID, SV_ASK, SV_LAST, SV_VOLB, SV_VOLS = range(6)
AG_HEAD, AG_CASH = range(2)
O_NEXT, O_PREV, O_ANEXT, O_APREV, O_QTY, O_PX, O_SIDE, O_SYM, O_AGENT, O_GEN, O_TIME = range(11)
TR_TIME, TR_SYM, TR_PX, TR_QTY, TR_SIDE, TR_MAKER, TR_TAKER, TR_MAKER_AGENT, TR_TAKER_AGENT = range(9)
OL_TIME, OL_SYM, OL_AGENT, OL_MSG, OL_SIDE, OL_PX, OL_QTY, OL_OID = range(8)
TR_NAMES = ["time", "sym", "px", "qty", "side", "maker", "taker", "maker_agent", "taker_agent"]
OL_NAMES = ["time", "sym", "agent", "msg", "side", "px", "qty", "oid"]

_ONE = np.uint64(1)
_ZERO = np.uint64(0)
_ALL = np.uint64(0xFFFFFFFFFFFFFFFF)
_DEBRUIJN = np.uint64(0x03F79D71B4CB0A89)
_DEBRUIJN_TABLE = np.array(
    [0, 1, 48, 2, 57, 49, 28, 3, 61, 58, 50, 42, 38, 29, 17, 4, 62, 55, 59, 36, 53, 51, 43, 22, 45, 39, 33, 30, 24,
     18, 12, 5, 63, 47, 56, 27, 60, 41, 37, 16, 54, 35, 52, 21, 44, 32, 23, 11, 46, 26, 40, 15, 34, 20, 31, 10, 25,
     14, 19, 9, 13, 8, 7, 6], dtype=np.int64)

# Compiled helpers take the few arrays they need, not the whole ExState: numba reference-counts every array of
# a tuple argument on each call, which made per-call overhead dominate the run time.


# ---------------------------------------------------------------- borrowed views


@intrinsic
def borrow(typingctx, arr):
    """A view of array ``arr`` that numba does not reference-count (its meminfo is null).

    Compiled code increments and decrements (atomically) the reference count of every array it takes from a
    tuple or passes to a function that is not inlined: dozens of atomic operations per simulated event, a large
    share of the kernel's time. The event loop therefore works on borrowed views of the state arrays; they live
    only while the loop runs, during which the caller keeps the arrays themselves alive."""
    if not isinstance(arr, types.Array):
        return None

    def codegen(context, builder, sig, args):
        src = context.make_array(sig.args[0])(context, builder, value=args[0])
        dst = context.make_array(sig.return_type)(context, builder)
        for f in ("nitems", "itemsize", "data", "shape", "strides"):
            setattr(dst, f, getattr(src, f))
        dst.meminfo = cgutils.get_null_value(dst.meminfo.type)
        dst.parent = cgutils.get_null_value(dst.parent.type)
        return dst._getvalue()

    return arr(arr), codegen


@nb.njit(cache=True)
def borrowed(st):
    """``st`` with every array replaced by a borrowed view (see :func:`borrow`); only for use inside one call."""
    return ExState(borrow(st.lvl), borrow(st.bits), borrow(st.symv), borrow(st.pool), borrow(st.free),
                   borrow(st.agv), borrow(st.pos), borrow(st.trl), borrow(st.oll), borrow(st.meta))


# ---------------------------------------------------------------- validation


def _integral(x):
    """True when ``x`` is an integer value (always for integer types; floats only when finite and integral)."""
    return x == np.floor(x)


@overload(_integral)
def _integral_ov(x):
    if isinstance(x, types.Integer):
        return lambda x: True
    if isinstance(x, types.Float):
        return lambda x: math.isfinite(x) and x == math.floor(x) and abs(x) < 9.0e18
    return lambda x: False


# ---------------------------------------------------------------- allocation


def new_state(n_symbols: int, n_agents: int, base_ticks, n_ticks: int = 1 << 16, pool: int = 1 << 14,
              trade_log: int = 1 << 16, msg_log: int = 1 << 16) -> ExState:
    """Empty books for ``n_symbols`` symbols, tick window ``[base, base + n_ticks)`` per symbol."""
    if n_ticks & (n_ticks - 1) or not (1 << 10) <= n_ticks <= (1 << 18):
        raise MultiexecError(f"n_ticks must be a power of two in [2**10, 2**18], got {n_ticks}")
    S, T = int(n_symbols), int(n_ticks)
    base = np.asarray(base_ticks, dtype=np.float64).reshape(-1)
    if base.shape[0] != S or not np.isfinite(base).all() or (base < 0).any() or (base != np.floor(base)).any():
        raise MultiexecError(f"base_ticks must be {S} non-negative integer tick offsets, got {base_ticks}")
    if (base + T - 1 > MAX_TICK).any():
        raise MultiexecError(f"base_ticks + n_ticks - 1 must be at most {MAX_TICK} ticks, got {base_ticks}")
    base = base.astype(np.int64)
    i8 = np.int64
    lvl = np.zeros((S, 2, T, 4), i8)
    lvl[..., L_HEAD] = -1
    lvl[..., L_TAIL] = -1
    w0, w1 = T // 64, max(1, T // 4096)
    symv = np.zeros((S, 6), i8)
    symv[:, SV_BASE] = base
    symv[:, [SV_BID, SV_ASK, SV_LAST]] = -1
    agv = np.zeros((n_agents, 2), i8)
    agv[:, AG_HEAD] = -1
    st = ExState(
        lvl=lvl, bits=np.zeros((S, 2, w0 + w1 + 1), np.uint64), symv=symv,
        pool=np.zeros((pool, 11), i8), free=np.arange(pool - 1, -1, -1, dtype=i8),
        agv=agv, pos=np.zeros((n_agents, S), i8),
        trl=np.zeros((trade_log, 9), i8), oll=np.zeros((msg_log, 8), i8), meta=np.zeros(META_LEN, i8),
    )
    st.meta[M_NFREE] = pool
    st.meta[M_O1] = w0
    st.meta[M_O2] = w0 + w1
    return st


def grow(st: ExState, pool: int | None = None, trade_log: int | None = None, msg_log: int | None = None) -> ExState:
    """A copy of ``st`` with larger order pool / trade log / message log (contents kept)."""
    d = st._asdict()
    if pool is not None and pool > st.pool.shape[0]:
        old = st.pool.shape[0]
        p = np.zeros((pool, 11), np.int64)
        p[:old] = st.pool
        d["pool"] = p
        nfree = int(st.meta[M_NFREE])
        free = np.empty(pool, np.int64)
        added = np.arange(pool - 1, old - 1, -1, dtype=np.int64)
        free[: len(added)] = added
        free[len(added): len(added) + nfree] = st.free[:nfree]
        d["free"] = free
        d["meta"] = st.meta.copy()
        d["meta"][M_NFREE] = nfree + len(added)
    for f, n in (("trl", trade_log), ("oll", msg_log)):
        if n is not None and n > d[f].shape[0]:
            a = np.zeros((n, d[f].shape[1]), np.int64)
            a[: d[f].shape[0]] = d[f]
            d[f] = a
    return ExState(**d)


@nb.njit(cache=True)
def room(meta, trl, oll, need):
    """True when one more message fits: a free order slot and ``need`` free rows in both the trade log and the
    message log (a message fills at most every resting order; a cancel-all logs one cancel per order)."""
    return (meta[M_NFREE] >= 1 and meta[M_NOL] + need <= oll.shape[0] and meta[M_NTR] + need <= trl.shape[0])


# ---------------------------------------------------------------- bitsets


@nb.njit(cache=True, inline="always")
def _ctz(x):
    return _DEBRUIJN_TABLE[((x & (~x + _ONE)) * _DEBRUIJN) >> np.uint64(58)]


@nb.njit(cache=True, inline="always")
def _msb(x):
    x |= x >> np.uint64(1)
    x |= x >> np.uint64(2)
    x |= x >> np.uint64(4)
    x |= x >> np.uint64(8)
    x |= x >> np.uint64(16)
    x |= x >> np.uint64(32)
    return _ctz(x ^ (x >> np.uint64(1)))


@nb.njit(cache=True)
def _bit_set(bits, meta, s, k, i):
    w = i >> 6
    bits[s, k, w] |= _ONE << np.uint64(i & 63)
    w1 = w >> 6
    bits[s, k, meta[M_O1] + w1] |= _ONE << np.uint64(w & 63)
    bits[s, k, meta[M_O2]] |= _ONE << np.uint64(w1 & 63)


@nb.njit(cache=True)
def _bit_clear(bits, meta, s, k, i):
    w = i >> 6
    bits[s, k, w] &= ~(_ONE << np.uint64(i & 63))
    if bits[s, k, w] == _ZERO:
        w1 = w >> 6
        o1 = meta[M_O1]
        bits[s, k, o1 + w1] &= ~(_ONE << np.uint64(w & 63))
        if bits[s, k, o1 + w1] == _ZERO:
            bits[s, k, meta[M_O2]] &= ~(_ONE << np.uint64(w1 & 63))


@nb.njit(cache=True)
def next_ge(bits, meta, s, k, i):
    """Lowest non-empty level index >= i on side k, or -1."""
    o1 = meta[M_O1]
    o2 = meta[M_O2]
    if i >= o1 * 64:
        return -1
    if i < 0:
        i = 0
    w = i >> 6
    m = bits[s, k, w] & (_ALL << np.uint64(i & 63))
    if m != _ZERO:
        return (w << 6) + _ctz(m)
    w1 = w >> 6
    b = (w & 63) + 1
    m = bits[s, k, o1 + w1] & (_ALL << np.uint64(b)) if b < 64 else _ZERO
    if m != _ZERO:
        w = (w1 << 6) + _ctz(m)
        return (w << 6) + _ctz(bits[s, k, w])
    b = (w1 & 63) + 1
    m = bits[s, k, o2] & (_ALL << np.uint64(b)) if b < 64 else _ZERO
    if m != _ZERO:
        w1 = _ctz(m)
        w = (w1 << 6) + _ctz(bits[s, k, o1 + w1])
        return (w << 6) + _ctz(bits[s, k, w])
    return -1


@nb.njit(cache=True)
def prev_le(bits, meta, s, k, i):
    """Highest non-empty level index <= i on side k, or -1."""
    o1 = meta[M_O1]
    o2 = meta[M_O2]
    if i < 0:
        return -1
    if i >= o1 * 64:
        i = o1 * 64 - 1
    w = i >> 6
    m = bits[s, k, w] & (_ALL >> np.uint64(63 - (i & 63)))
    if m != _ZERO:
        return (w << 6) + _msb(m)
    w1 = w >> 6
    b = w & 63
    m = bits[s, k, o1 + w1] & ((_ONE << np.uint64(b)) - _ONE) if b > 0 else _ZERO
    if m != _ZERO:
        w = (w1 << 6) + _msb(m)
        return (w << 6) + _msb(bits[s, k, w])
    b = w1 & 63
    m = bits[s, k, o2] & ((_ONE << np.uint64(b)) - _ONE) if b > 0 else _ZERO
    if m != _ZERO:
        w1 = _msb(m)
        w = (w1 << 6) + _msb(bits[s, k, o1 + w1])
        return (w << 6) + _msb(bits[s, k, w])
    return -1


@nb.njit(cache=True)
def next_level(bits, meta, s, k, i):
    """The next level index behind level ``i`` (worse price) on side k, or -1."""
    return prev_le(bits, meta, s, k, i - 1) if k == 0 else next_ge(bits, meta, s, k, i + 1)


# ---------------------------------------------------------------- order pool and levels


@nb.njit(cache=True)
def _slot(pool, oid):
    if oid < 0:
        return -1
    slot = oid & 0xFFFFFFFF
    if slot >= pool.shape[0] or pool[slot, O_GEN] != (oid >> 32) or pool[slot, O_QTY] <= 0:
        return -1
    return slot


@nb.njit(cache=True)
def slot_of(st, oid):
    """Pool slot of a live order id, or -1 when the id is unknown, filled or cancelled."""
    return _slot(st.pool, oid)


@nb.njit(cache=True)
def _alloc(pool, free, meta, t, s, agent, side, px, qty):
    n = meta[M_NFREE] - 1
    meta[M_NFREE] = n
    slot = free[n]
    pool[slot, O_GEN] += 1
    pool[slot, O_QTY] = qty
    pool[slot, O_PX] = px
    pool[slot, O_SIDE] = side
    pool[slot, O_SYM] = s
    pool[slot, O_AGENT] = agent
    pool[slot, O_TIME] = t
    pool[slot, O_NEXT] = -1
    pool[slot, O_PREV] = -1
    pool[slot, O_ANEXT] = -1
    pool[slot, O_APREV] = -1
    return slot


@nb.njit(cache=True)
def _release(pool, free, meta, slot):
    pool[slot, O_QTY] = 0
    n = meta[M_NFREE]
    free[n] = slot
    meta[M_NFREE] = n + 1


@nb.njit(cache=True, inline="always")
def _oid(pool, slot):
    return (pool[slot, O_GEN] << 32) | slot


@nb.njit(cache=True)
def _rest(pool, lvl, bits, symv, agv, meta, slot):
    """Append an allocated order at the back of its price level and of its agent's list."""
    s = pool[slot, O_SYM]
    k = 0 if pool[slot, O_SIDE] > 0 else 1
    i = pool[slot, O_PX] - symv[s, SV_BASE]
    tail = lvl[s, k, i, L_TAIL]
    pool[slot, O_PREV] = tail
    pool[slot, O_NEXT] = -1
    if tail >= 0:
        pool[tail, O_NEXT] = slot
    else:
        lvl[s, k, i, L_HEAD] = slot
        _bit_set(bits, meta, s, k, i)
    lvl[s, k, i, L_TAIL] = slot
    lvl[s, k, i, L_QTY] += pool[slot, O_QTY]
    lvl[s, k, i, L_CNT] += 1
    b = symv[s, SV_BID + k]
    if b < 0 or (k == 0 and i > b) or (k == 1 and i < b):
        symv[s, SV_BID + k] = i
    a = pool[slot, O_AGENT]
    if a >= 0:
        h = agv[a, AG_HEAD]
        pool[slot, O_ANEXT] = h
        pool[slot, O_APREV] = -1
        if h >= 0:
            pool[h, O_APREV] = slot
        agv[a, AG_HEAD] = slot
    meta[M_NREST] += 1


@nb.njit(cache=True)
def _unlink(pool, lvl, bits, symv, agv, meta, slot):
    """Remove a resting order from its level and agent list (level total already reduced by the caller)."""
    s = pool[slot, O_SYM]
    k = 0 if pool[slot, O_SIDE] > 0 else 1
    i = pool[slot, O_PX] - symv[s, SV_BASE]
    p = pool[slot, O_PREV]
    n = pool[slot, O_NEXT]
    if p >= 0:
        pool[p, O_NEXT] = n
    else:
        lvl[s, k, i, L_HEAD] = n
    if n >= 0:
        pool[n, O_PREV] = p
    else:
        lvl[s, k, i, L_TAIL] = p
    lvl[s, k, i, L_CNT] -= 1
    if lvl[s, k, i, L_CNT] == 0:
        _bit_clear(bits, meta, s, k, i)
        if symv[s, SV_BID + k] == i:
            symv[s, SV_BID + k] = next_level(bits, meta, s, k, i)
    a = pool[slot, O_AGENT]
    if a >= 0:
        ap = pool[slot, O_APREV]
        an = pool[slot, O_ANEXT]
        if ap >= 0:
            pool[ap, O_ANEXT] = an
        else:
            agv[a, AG_HEAD] = an
        if an >= 0:
            pool[an, O_APREV] = ap
    meta[M_NREST] -= 1


@nb.njit(cache=True)
def _log_msg(oll, meta, t, s, agent, msg, side, px, qty, oid):
    n = meta[M_NOL]
    oll[n, OL_TIME] = t
    oll[n, OL_SYM] = s
    oll[n, OL_AGENT] = agent
    oll[n, OL_MSG] = msg
    oll[n, OL_SIDE] = side
    oll[n, OL_PX] = px
    oll[n, OL_QTY] = qty
    oll[n, OL_OID] = oid
    meta[M_NOL] = n + 1


@nb.njit(cache=True, inline="always")
def _match(st, t, s, taker_slot, side, limit_i, qty):
    """Execute ``qty`` of an incoming order against the opposite side up to level index ``limit_i``
    (inclusive; any level for a market order). Returns the remaining quantity."""
    pool = st.pool
    lvl = st.lvl
    symv = st.symv
    bits = st.bits
    agv = st.agv
    trl = st.trl
    meta = st.meta
    pos = st.pos
    free = st.free
    k = 1 if side > 0 else 0  # opposite side
    taker_agent = pool[taker_slot, O_AGENT]
    taker_oid = _oid(pool, taker_slot)
    base = symv[s, SV_BASE]
    rem = qty
    while rem > 0:
        i = symv[s, SV_BID + k]
        if i < 0 or (k == 1 and i > limit_i) or (k == 0 and i < limit_i):
            break
        px = i + base
        while rem > 0 and lvl[s, k, i, L_HEAD] >= 0:
            m = lvl[s, k, i, L_HEAD]
            q = min(rem, pool[m, O_QTY])
            n = meta[M_NTR]
            ma = pool[m, O_AGENT]
            trl[n, TR_TIME] = t
            trl[n, TR_SYM] = s
            trl[n, TR_PX] = px
            trl[n, TR_QTY] = q
            trl[n, TR_SIDE] = side
            trl[n, TR_MAKER] = _oid(pool, m)
            trl[n, TR_TAKER] = taker_oid
            trl[n, TR_MAKER_AGENT] = ma
            trl[n, TR_TAKER_AGENT] = taker_agent
            meta[M_NTR] = n + 1
            value = px * q
            sgn = 1 if side > 0 else -1  # taker buys: +1
            if taker_agent >= 0:
                agv[taker_agent, AG_CASH] -= sgn * value
                pos[taker_agent, s] += sgn * q
            if ma >= 0:
                agv[ma, AG_CASH] += sgn * value
                pos[ma, s] -= sgn * q
            symv[s, SV_VOLB if side > 0 else SV_VOLS] += q
            symv[s, SV_LAST] = px
            rem -= q
            pool[m, O_QTY] -= q
            lvl[s, k, i, L_QTY] -= q
            if pool[m, O_QTY] == 0:
                _unlink(pool, lvl, bits, symv, agv, meta, m)
                _release(pool, free, meta, m)
    return rem


# ---------------------------------------------------------------- messages


@nb.njit(cache=True, inline="always")
def _match_and_rest(st, t, s, slot, oid, side, i, qty):
    """Match order ``slot`` against the book at level index ``i``; rest what is left. Returns ``oid`` or FILLED."""
    pool = st.pool
    rem = _match(st, t, s, slot, side, i, qty)
    if rem == 0:
        _release(pool, st.free, st.meta, slot)
        return FILLED
    pool[slot, O_QTY] = rem
    _rest(pool, st.lvl, st.bits, st.symv, st.agv, st.meta, slot)
    return oid


@nb.njit(cache=True, inline="always")
def limit_order(st, t, s, agent, side, px, qty):
    """Limit order: matches what it crosses, rests the remainder. Returns its id when it rests,
    FILLED (-1) when fully executed, REJECTED (-2) for a price off the tick grid or outside the band, a size not
    an integer in [1, MAX_QTY] or a bad side (logged with id REJECTED; nothing else changes)."""
    T = st.lvl.shape[2]
    if not (_integral(px) and _integral(qty)) or qty <= 0 or qty > MAX_QTY or (side != 1 and side != -1):
        _log_msg(st.oll, st.meta, t, s, agent, MSG_LIMIT, side, px, qty, REJECTED)
        return REJECTED
    ipx = np.int64(px)
    iq = np.int64(qty)
    i = ipx - st.symv[s, SV_BASE]
    if i < 0 or i >= T:
        _log_msg(st.oll, st.meta, t, s, agent, MSG_LIMIT, side, ipx, iq, REJECTED)
        return REJECTED
    pool = st.pool
    slot = _alloc(pool, st.free, st.meta, t, s, agent, side, ipx, iq)
    oid = _oid(pool, slot)
    _log_msg(st.oll, st.meta, t, s, agent, MSG_LIMIT, side, ipx, iq, oid)
    return _match_and_rest(st, t, s, slot, oid, side, i, iq)


@nb.njit(cache=True, inline="always")
def market_order(st, t, s, agent, side, qty):
    """Market order (immediate or cancel). Returns the executed quantity (0 and logged with id REJECTED for a
    size not an integer in [1, MAX_QTY] or a bad side)."""
    if not _integral(qty) or qty <= 0 or qty > MAX_QTY or (side != 1 and side != -1):
        _log_msg(st.oll, st.meta, t, s, agent, MSG_MARKET, side, -1, qty, REJECTED)
        return 0
    iq = np.int64(qty)
    slot = _alloc(st.pool, st.free, st.meta, t, s, agent, side, -1, iq)
    _log_msg(st.oll, st.meta, t, s, agent, MSG_MARKET, side, -1, iq, _oid(st.pool, slot))
    limit_i = st.lvl.shape[2] if side > 0 else -1
    rem = _match(st, t, s, slot, side, limit_i, iq)
    _release(st.pool, st.free, st.meta, slot)
    return iq - rem


@nb.njit(cache=True, inline="always")
def cancel_order(st, t, oid, qty, agent, sym=-1, side=0):
    """Cancel ``qty`` shares of a resting order (all of it when ``qty <= 0`` or more than remains), keeping its
    queue position when partial. Returns the cancelled quantity (0 for an unknown / already gone order, logged
    with the sender's ``sym`` and ``side``; 0 and logged with id REJECTED for a fractional ``qty``)."""
    if not _integral(qty):
        _log_msg(st.oll, st.meta, t, sym, agent, MSG_CANCEL, side, -1, qty, REJECTED)
        return 0
    iq = np.int64(qty)
    pool = st.pool
    slot = _slot(pool, oid)
    if slot < 0:
        _log_msg(st.oll, st.meta, t, sym, agent, MSG_CANCEL, side, -1, iq, oid)
        return 0
    s = pool[slot, O_SYM]
    k = 0 if pool[slot, O_SIDE] > 0 else 1
    i = pool[slot, O_PX] - st.symv[s, SV_BASE]
    left = pool[slot, O_QTY]
    c = left if (iq <= 0 or iq >= left) else iq
    _log_msg(st.oll, st.meta, t, s, pool[slot, O_AGENT], MSG_CANCEL, pool[slot, O_SIDE], pool[slot, O_PX], c, oid)
    st.lvl[s, k, i, L_QTY] -= c
    if c == left:
        _unlink(pool, st.lvl, st.bits, st.symv, st.agv, st.meta, slot)
        _release(pool, st.free, st.meta, slot)
    else:
        pool[slot, O_QTY] = left - c
    return c


@nb.njit(cache=True, inline="always")
def modify_order(st, t, oid, px, qty, agent, sym=-1, side=0):
    """Modify a resting order to price ``px`` and remaining size ``qty``. Same price and a smaller size keeps
    the queue position; otherwise the order loses priority (re-enters at the back, matching what it crosses).
    Returns the order id when it rests afterwards, FILLED, or REJECTED (unknown order, price off the grid or
    outside the band, size not an integer in [1, MAX_QTY]; an unknown order is logged with the sender's ``sym``
    and ``side``; a rejected modify leaves the order as it was)."""
    pool = st.pool
    slot = _slot(pool, oid)
    T = st.lvl.shape[2]
    if slot < 0:
        _log_msg(st.oll, st.meta, t, sym, agent, MSG_MODIFY, side, px, qty, oid)
        return REJECTED
    s = pool[slot, O_SYM]
    side = pool[slot, O_SIDE]
    if not (_integral(px) and _integral(qty)) or qty <= 0 or qty > MAX_QTY:
        _log_msg(st.oll, st.meta, t, s, pool[slot, O_AGENT], MSG_MODIFY, side, px, qty, REJECTED)
        return REJECTED
    ipx = np.int64(px)
    iq = np.int64(qty)
    i_new = ipx - st.symv[s, SV_BASE]
    if i_new < 0 or i_new >= T:
        _log_msg(st.oll, st.meta, t, s, pool[slot, O_AGENT], MSG_MODIFY, side, ipx, iq, REJECTED)
        return REJECTED
    _log_msg(st.oll, st.meta, t, s, pool[slot, O_AGENT], MSG_MODIFY, side, ipx, iq, oid)
    k = 0 if side > 0 else 1
    i_old = pool[slot, O_PX] - st.symv[s, SV_BASE]
    left = pool[slot, O_QTY]
    if i_new == i_old and iq <= left:
        st.lvl[s, k, i_old, L_QTY] -= left - iq
        pool[slot, O_QTY] = iq
        return oid
    st.lvl[s, k, i_old, L_QTY] -= left
    _unlink(pool, st.lvl, st.bits, st.symv, st.agv, st.meta, slot)
    pool[slot, O_PX] = ipx
    pool[slot, O_TIME] = t
    return _match_and_rest(st, t, s, slot, oid, side, i_new, iq)


@nb.njit(cache=True, inline="always")
def cancel_all(st, t, agent):
    """Cancel every resting order of ``agent``. Returns the number of orders cancelled."""
    pool = st.pool
    n = 0
    slot = st.agv[agent, AG_HEAD]
    while slot >= 0:
        nxt = pool[slot, O_ANEXT]
        s = pool[slot, O_SYM]
        k = 0 if pool[slot, O_SIDE] > 0 else 1
        i = pool[slot, O_PX] - st.symv[s, SV_BASE]
        left = pool[slot, O_QTY]
        _log_msg(st.oll, st.meta, t, s, agent, MSG_CANCEL, pool[slot, O_SIDE], pool[slot, O_PX], left,
                 _oid(pool, slot))
        st.lvl[s, k, i, L_QTY] -= left
        _unlink(pool, st.lvl, st.bits, st.symv, st.agv, st.meta, slot)
        _release(pool, st.free, st.meta, slot)
        n += 1
        slot = nxt
    return n


# ---------------------------------------------------------------- market data


@nb.njit(cache=True)
def l2_into(st, s, depth, px_out, sz_out, k):
    """Fill ``px_out[:depth]`` (price ticks, -1 where empty) and ``sz_out`` with the first ``depth`` levels of
    side ``k`` (0 bids, 1 asks) of symbol ``s``."""
    i = st.symv[s, SV_BID + k]
    base = st.symv[s, SV_BASE]
    lvl = st.lvl
    bits = st.bits
    meta = st.meta
    for j in range(depth):
        if i < 0:
            px_out[j] = -1
            sz_out[j] = 0
        else:
            px_out[j] = i + base
            sz_out[j] = lvl[s, k, i, L_QTY]
            i = next_level(bits, meta, s, k, i)


@nb.njit(cache=True)
def side_total(st, s, k, depth):
    """Shares resting in the first ``depth`` levels (all levels when depth <= 0) of side k."""
    i = st.symv[s, SV_BID + k]
    tot = 0
    j = 0
    while i >= 0 and (depth <= 0 or j < depth):
        tot += st.lvl[s, k, i, L_QTY]
        j += 1
        i = next_level(st.bits, st.meta, s, k, i)
    return tot


@nb.njit(cache=True)
def l3_level(st, s, k, px):
    """(order ids, sizes, agents) queued at price ``px`` of side ``k``, front first."""
    i = px - st.symv[s, SV_BASE]
    pool = st.pool
    n = st.lvl[s, k, i, L_CNT]
    ids = np.empty(n, np.int64)
    qs = np.empty(n, np.int64)
    ags = np.empty(n, np.int64)
    slot = st.lvl[s, k, i, L_HEAD]
    j = 0
    while slot >= 0:
        ids[j] = _oid(pool, slot)
        qs[j] = pool[slot, O_QTY]
        ags[j] = pool[slot, O_AGENT]
        j += 1
        slot = pool[slot, O_NEXT]
    return ids, qs, ags


# ---------------------------------------------------------------- Python front end


_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1


def _int_arg(name: str, x, what: str = "an integer") -> int:
    """``x`` as a Python int: ints and numpy integers as they are, floats only when integral; else an error."""
    if type(x) is int and _I64_MIN <= x <= _I64_MAX:  # the common case, first
        return x
    if isinstance(x, (bool, np.bool_)):
        raise MultiexecError(f"{name} {x!r} is not {what}")
    if isinstance(x, (int, np.integer)):
        v = int(x)
    elif isinstance(x, (float, np.floating)) and np.isfinite(x) and float(x) == np.floor(x):
        v = int(x)
    else:
        raise MultiexecError(f"{name} {x!r} is not {what}")
    if not _I64_MIN <= v <= _I64_MAX:
        raise MultiexecError(f"{name} {x!r} does not fit in int64")
    return v


class Exchange:
    """A Python handle on an :class:`ExState` (used by tests, the LOBSTER replay's set-up and external agents).

    Grows its arrays as needed before each call, so it never runs out of room. Every argument is checked before
    the compiled engine sees it (see the module's rule): a bad message raises
    :class:`~multiexec.errors.MultiexecError` and changes nothing. Cancels and modifies of ids that are unknown or
    gone (filled, cancelled) are not errors: they return 0 / REJECTED, as the engine does for compiled callers.
    """

    def __init__(self, n_symbols: int = 1, n_agents: int = 1, base_ticks=(0,), n_ticks: int = 1 << 16,
                 state: ExState | None = None):
        self.st = state if state is not None else new_state(n_symbols, n_agents, base_ticks, n_ticks)

    # capacity
    def ensure(self, need: int | None = None) -> None:
        st = self.st
        nfree, ntr, nol, nrest = st.meta[:4].tolist()
        need = nrest + 1 if need is None else need
        nt, nl = st.trl.shape[0], st.oll.shape[0]
        if nfree >= 1 and ntr + need <= nt and nol + need <= nl:
            return
        pool = st.pool.shape[0] * 2 if nfree < 1 else None
        tl = max(2 * nt, ntr + need) if ntr + need > nt else None
        ml = max(2 * nl, nol + need) if nol + need > nl else None
        self.st = grow(st, pool, tl, ml)

    # argument checks (MultiexecError, nothing changed)
    def _sym(self, sym) -> int:
        s = _int_arg("symbol index", sym)
        if not 0 <= s < self.st.symv.shape[0]:
            raise MultiexecError(f"unknown symbol index {sym}")
        return s

    def _agent(self, agent) -> int:
        a = _int_arg("agent", agent)
        if not -1 <= a < self.st.agv.shape[0]:
            raise MultiexecError(f"unknown agent {agent}")
        return a

    @staticmethod
    def _side(side) -> int:
        if isinstance(side, (bool, np.bool_)) or side not in (1, -1):
            raise MultiexecError(f"side {side!r} is not +1 (buy) or -1 (sell)")
        return int(side)

    @staticmethod
    def _qty(qty, allow_zero: bool = False) -> int:
        q = _int_arg("size", qty, "a whole number of shares")
        lo = 0 if allow_zero else 1
        if not lo <= q <= MAX_QTY:
            raise MultiexecError(f"size {qty!r} is outside [{lo}, {MAX_QTY:,}] shares")
        return q

    def _px(self, px, sym: int) -> int:
        p = _int_arg("price", px, "on the tick grid (prices are integer ticks)")
        base = int(self.st.symv[sym, SV_BASE])
        if not base <= p < base + self.st.lvl.shape[2]:
            raise MultiexecError(f"price {px!r} is outside symbol {sym}'s band [{base}, "
                                 f"{base + self.st.lvl.shape[2] - 1}] ticks")
        return p

    def _live(self, oid) -> tuple[int, int]:
        """(order id as int, its symbol or -1 when the id is unknown or gone); :func:`_slot`'s test in Python."""
        o = _int_arg("order id", oid)
        if o < 0:
            return o, -1
        slot, pool = o & 0xFFFFFFFF, self.st.pool
        if slot >= pool.shape[0]:
            return o, -1
        row = pool[slot]
        return o, (int(row[O_SYM]) if row[O_GEN] == (o >> 32) and row[O_QTY] > 0 else -1)

    # messages (all arguments passed: numba's dispatch of omitted defaults costs ~0.1-0.35 ms a call)
    def limit(self, t: int, sym: int, agent: int, side: int, px: int, qty: int) -> int:
        t, sym, agent, side = _int_arg("time", t), self._sym(sym), self._agent(agent), self._side(side)
        px, qty = self._px(px, sym), self._qty(qty)
        self.ensure()
        return int(limit_order(self.st, t, sym, agent, side, px, qty))

    def market(self, t: int, sym: int, agent: int, side: int, qty: int) -> int:
        t, sym, agent, side = _int_arg("time", t), self._sym(sym), self._agent(agent), self._side(side)
        qty = self._qty(qty)
        self.ensure()
        return int(market_order(self.st, t, sym, agent, side, qty))

    def cancel(self, t: int, oid: int, qty: int = 0, agent: int = -1) -> int:
        """Cancel ``qty`` shares (0: all) of order ``oid``; returns the shares cancelled (0: unknown or gone)."""
        t, (oid, _), qty, agent = _int_arg("time", t), self._live(oid), self._qty(qty, True), self._agent(agent)
        self.ensure(1)
        return int(cancel_order(self.st, t, oid, qty, agent, -1, 0))

    def modify(self, t: int, oid: int, px: int, qty: int, agent: int = -1) -> int:
        """Re-price / re-size order ``oid``; returns its id, FILLED, or REJECTED when the id is unknown or gone."""
        t, (oid, sym), agent = _int_arg("time", t), self._live(oid), self._agent(agent)
        qty = self._qty(qty)
        px = self._px(px, sym) if sym >= 0 else _int_arg("price", px, "on the tick grid (prices are integer ticks)")
        self.ensure()
        return int(modify_order(self.st, t, oid, px, qty, agent, -1, 0))

    # market data
    def l1(self, sym: int = 0) -> tuple[int, int, int, int]:
        """(best bid tick, bid size, best ask tick, ask size); -1 / 0 where a side is empty."""
        st = self.st
        sym = self._sym(sym)
        b, a = st.symv[sym, SV_BID], st.symv[sym, SV_ASK]
        base = st.symv[sym, SV_BASE]
        return (int(b + base) if b >= 0 else -1, int(st.lvl[sym, 0, b, L_QTY]) if b >= 0 else 0,
                int(a + base) if a >= 0 else -1, int(st.lvl[sym, 1, a, L_QTY]) if a >= 0 else 0)

    def l2(self, sym: int = 0, depth: int = 10) -> dict[str, np.ndarray]:
        sym, depth = self._sym(sym), _int_arg("depth", depth)
        if depth < 1:
            raise MultiexecError(f"depth {depth} must be at least 1")
        out = {k: np.empty(depth, np.int64) for k in ("bid_px", "bid_sz", "ask_px", "ask_sz")}
        l2_into(self.st, sym, depth, out["bid_px"], out["bid_sz"], 0)
        l2_into(self.st, sym, depth, out["ask_px"], out["ask_sz"], 1)
        return out

    def l3(self, sym: int, side: int, px: int) -> pd.DataFrame:
        sym = self._sym(sym)
        ids, qs, ags = l3_level(self.st, sym, 0 if self._side(side) > 0 else 1, self._px(px, sym))
        return pd.DataFrame({"order_id": ids, "size": qs, "agent": ags})

    def order(self, oid: int) -> dict | None:
        slot = int(slot_of(self.st, _int_arg("order id", oid)))
        if slot < 0:
            return None
        p = self.st.pool[slot]
        return {"sym": int(p[O_SYM]), "side": int(p[O_SIDE]), "px": int(p[O_PX]), "qty": int(p[O_QTY]),
                "agent": int(p[O_AGENT]), "time": int(p[O_TIME])}

    def open_orders(self, agent: int) -> list[int]:
        agent = self._agent(agent)
        if agent < 0:
            raise MultiexecError("agent -1 (anonymous orders) has no order list")
        pool, out = self.st.pool, []
        slot = self.st.agv[agent, AG_HEAD]
        while slot >= 0:
            out.append(int((pool[slot, O_GEN] << 32) | slot))
            slot = pool[slot, O_ANEXT]
        return out

    def trades(self) -> pd.DataFrame:
        n = int(self.st.meta[M_NTR])
        return pd.DataFrame(self.st.trl[:n].copy(), columns=TR_NAMES)

    def messages(self) -> pd.DataFrame:
        n = int(self.st.meta[M_NOL])
        return pd.DataFrame(self.st.oll[:n].copy(), columns=OL_NAMES)

    @property
    def n_resting(self) -> int:
        return int(self.st.meta[M_NREST])
