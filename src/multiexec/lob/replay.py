"""Replay of real NASDAQ (LOBSTER) messages through our matching engine, checked against LOBSTER's book file.

The samples start in the middle of a trading day, with a book already full of orders that the message file never
added. The approach:

1. **Seed** the book from an order-book row taken *after* message ``start - 1`` (default: the first row, so the
   replay begins with message 1). Each visible level becomes one *ghost* order (agent -1) of the level's size.
   Every order resting before the file starts is older than every order the file adds, so under price-time
   priority a level's ghost is at the front of that level's queue, where the real pre-existing orders were.
2. **Unknown ids**: a cancel (type 2/3) or a visible execution (type 4) of an id we never saw added refers to a
   pre-existing order; it is applied to the ghost at that price and side.
3. **Executions are re-matched, not copied**: a type-4 message (resting order of direction ``d`` executed for
   ``q`` shares at price ``p``) is sent to the engine as a market order of side ``-d`` and size ``q``, after
   checking that the order at the front of our queue at ``p`` is the one LOBSTER names (or the ghost, for an
   unknown id) and that ``p`` is our best price. The engine then chooses the maker by price-time priority; the
   replay counts any case where it picks a different order or price (``priority_violations``). If the front
   order is not the named one, the message is applied as a direct reduction of the named order instead, so
   that one discrepancy cannot cascade.
4. Hidden executions (5), cross trades (6) and halts (7) do not change the visible book and are skipped.
5. **Compare** after every message: best bid and ask (price and size) must equal the book row; where the file
   has depth, every level whose price lies inside the seeded price window (between the deepest seeded bid and
   ask) must match in price and size. Outside that window the real book may hold orders that rested before the
   file began and were never visible to us, so those levels are not compared (they are counted as ``unseen``).

The loop over the messages is compiled (numba, :func:`_replay_rows`): the engine's functions are inlined into it,
so a message costs a fraction of a microsecond (``benchmarks/bench_lob.py`` measures it). The Python work is the
set-up (price grid, ghosts, the LOBSTER id -> dense index map) and formatting the first mismatches.

What the mismatch counts mean: LOBSTER's level-N files list only the events that change the first N levels. When
a level beyond N moves into view (the book above it empties), its orders appear in the book file with no message
that added them, and orders resting there may later be cancelled or executed by messages naming ids we never saw.
Such mismatches measure what the file leaves out, not the engine; :func:`explain` says so for each sample.

:func:`lobster_stream` runs the same replay and returns the decoded messages with our book's L2 state *before*
each message (numpy arrays): (book state, order) pairs, e.g. for training a conditional generator of order flow.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

import numba as nb
import numpy as np

from multiexec.errors import MultiexecError
from multiexec.lob import engine as E

GHOST = -1  # agent id of seeded (pre-existing) orders
_NONE = -3  # "no order" in the id tables (FILLED -1 and REJECTED -2 are possible ghost ids)

# counters (cnt array)
C_MSG, C_LEVELS, C_L1, C_DEPTH, C_PRIO, C_REMATCH, C_UNKNOWN, C_UNSEEN, C_NOTES = range(9)
# note kinds
N_NOT_RESTED, N_NO_GHOST, N_MAKERS, N_FRONT, N_L1, N_DEPTH = range(1, 7)
NOTE_W = 16  # (price, size) pairs / makers kept per note


@dataclass
class ReplayResult:
    """Counts from one replay; ``mismatches`` lists (row, what) for the first discrepancies found."""

    n_messages: int = 0
    n_compared_levels: int = 0
    l1_mismatches: int = 0
    depth_mismatches: int = 0
    priority_violations: int = 0
    executions_rematched: int = 0
    unknown_id_messages: int = 0
    unseen_levels: int = 0
    mismatches: list = field(default_factory=list)
    levels: int = 1  # book levels of the replayed sample
    message_levels: int | None = None  # levels its message file covers (from the file name), when known
    seconds: float = 0.0  # time in the compiled loop


def _book_arrays(book, levels: int):
    cols = book.to_numpy(np.int64)
    ask_px, ask_sz = cols[:, 0::4][:, :levels], cols[:, 1::4][:, :levels]
    bid_px, bid_sz = cols[:, 2::4][:, :levels], cols[:, 3::4][:, :levels]
    return ask_px, ask_sz, bid_px, bid_sz


def message_levels(data) -> int | None:
    """Levels the message file covers, from LOBSTER's name ``..._message_N...`` (None when absent)."""
    m = re.search(r"message_(\d+)", data.message_csv.name)
    return int(m.group(1)) if m else None


# ---------------------------------------------------------------- compiled loop


@nb.njit(cache=True, inline="always")
def _note(notes, pairs, cnt, keep, r, kind, a0, a1, a2, a3, a4, a5, a6, a7):
    n = cnt[C_NOTES]
    if n >= keep:
        return -1
    notes[n, 0] = r
    notes[n, 1] = kind
    notes[n, 2] = a0
    notes[n, 3] = a1
    notes[n, 4] = a2
    notes[n, 5] = a3
    notes[n, 6] = a4
    notes[n, 7] = a5
    notes[n, 8] = a6
    notes[n, 9] = a7
    pairs[n, :, :] = -1
    cnt[C_NOTES] = n + 1
    return n


@nb.njit(cache=True)
def _compare_side(st, k, levels, win_lo, win_hi, rpx, rsz, ours_px, ours_sz, keep_o, keep_r):
    """Compare one side of our book with LOBSTER's row (prices in ticks, -1 where empty): (levels compared, unseen
    levels, 1 when they differ, pairs kept in keep_o, pairs kept in keep_r). Fills keep_o / keep_r (n, 2) with the
    kept (price, size) pairs."""
    E.l2_into(st, 0, levels, ours_px, ours_sz, k)
    unseen = 0
    for j in range(levels):
        if rpx[j] >= 0 and (rpx[j] < win_lo or rpx[j] > win_hi):
            unseen += 1
    sign = 1 if k == 1 else -1
    has_edge = False
    edge = 0
    for e in (ours_px[levels - 1], rpx[levels - 1]):
        if e >= 0:
            if not has_edge or sign * e < edge:
                edge = sign * e
            has_edge = True
    no = 0
    for j in range(levels):
        x = ours_px[j]
        if x >= 0 and win_lo <= x <= win_hi and (not has_edge or sign * x <= edge):
            keep_o[no, 0] = x
            keep_o[no, 1] = ours_sz[j]
            no += 1
    nr = 0
    monotone = True
    for j in range(levels):
        x = rpx[j]
        if x >= 0 and win_lo <= x <= win_hi and (not has_edge or sign * x <= edge):
            if nr > 0 and sign * x <= sign * keep_r[nr - 1, 0]:
                monotone = False
            keep_r[nr, 0] = x
            keep_r[nr, 1] = rsz[j]
            nr += 1
    if monotone:  # both lists strictly sorted the same way: equal as dicts iff equal as sequences
        differ = no != nr
        if not differ:
            for j in range(no):
                if keep_o[j, 0] != keep_r[j, 0] or keep_o[j, 1] != keep_r[j, 1]:
                    differ = True
                    break
        return nr, unseen, 1 if differ else 0, no, nr
    # general case (repeated prices in the file): dict semantics, the last entry of a price wins
    n_unique = 0
    differ = False
    for j in range(nr):
        last = True
        for j2 in range(j + 1, nr):
            if keep_r[j2, 0] == keep_r[j, 0]:
                last = False
                break
        if not last:
            continue
        n_unique += 1
        found = False
        for i in range(no):
            if keep_o[i, 0] == keep_r[j, 0]:
                found = True
                if keep_o[i, 1] != keep_r[j, 1]:
                    differ = True
        if not found:
            differ = True
    if n_unique != no:
        differ = True
    return n_unique, unseen, 1 if differ else 0, no, nr


@nb.njit(cache=True)
def _xor_pairs(keep_o, no, keep_r, nr, out):
    """Sorted (price, size) pairs in exactly one of the two lists, the first ``out.shape[0]`` into ``out``."""
    buf = np.empty(no + nr, np.int64)
    m = 0
    for a, na, b, nb_ in ((keep_o, no, keep_r, nr), (keep_r, nr, keep_o, no)):
        for i in range(na):
            inb = False
            for j in range(nb_):
                if a[i, 0] == b[j, 0] and a[i, 1] == b[j, 1]:
                    inb = True
                    break
            dup = False
            for j in range(m):
                if buf[j] == (a[i, 0] << 32) + a[i, 1]:
                    dup = True
            if not inb and not dup:
                buf[m] = (a[i, 0] << 32) + a[i, 1]
                m += 1
    buf = np.sort(buf[:m])
    n = min(m, out.shape[0])
    for i in range(n):
        out[i, 0] = buf[i] >> 32
        out[i, 1] = buf[i] & 0xFFFFFFFF
    return n


@nb.njit(cache=True)
def _replay_rows(st, r0, end, typ, lid, size, px, dirs, times, live, ghost, levels, win_lo, win_hi,
                 rb_px, rb_sz, ra_px, ra_sz, cnt, keep, notes, pairs, rec0, rec_depth, rec_px, rec_sz, scratch):
    """Replay rows ``r0 .. end - 1``. Returns the next row to replay: ``end`` when done, earlier when the
    exchange's arrays must grow first (the caller grows them and calls again; nothing is lost)."""
    st = E.borrowed(st)
    meta = st.meta
    symv = st.symv
    lvl = st.lvl
    pool = st.pool
    trl = st.trl
    base = symv[0, E.SV_BASE]
    T = lvl.shape[2]
    ours_px = scratch[0, :, 0]
    ours_sz = scratch[0, :, 1]
    keep_o = scratch[1]
    keep_r = scratch[2]
    for r in range(r0, end):
        if not E.room(meta, trl, st.oll, meta[E.M_NREST] + 1):
            return r
        if rec_depth > 0:  # our book before message r
            j = r - rec0
            for k in range(2):
                E.l2_into(st, 0, rec_depth, rec_px[j, k], rec_sz[j, k], k)
        t = times[r]
        ty = typ[r]
        q = size[r]
        p = px[r]
        d = dirs[r]
        u = lid[r]
        if ty == 1:
            oid = E.limit_order(st, t, 0, 0, d, p, q)
            if oid < 0:
                _note(notes, pairs, cnt, keep, r, N_NOT_RESTED, u, oid, 0, 0, 0, 0, 0, 0)
            else:
                live[u] = oid
        elif ty == 2 or ty == 3 or ty == 4:
            oid = live[u]
            if oid == _NONE:
                cnt[C_UNKNOWN] += 1
                i = p - base
                oid = ghost[0 if d > 0 else 1, i] if 0 <= i < T else _NONE
                if oid == _NONE:
                    _note(notes, pairs, cnt, keep, r, N_NO_GHOST, u, d, p, 0, 0, 0, 0, 0)
            if oid != _NONE:
                if ty == 4:
                    k = 0 if d > 0 else 1
                    bi = symv[0, E.SV_BID + k]
                    best = bi + base if bi >= 0 else -1
                    i = p - base
                    front = False
                    if best == p and E._slot(pool, oid) >= 0:
                        h = lvl[0, k, i, E.L_HEAD]
                        front = h >= 0 and ((pool[h, E.O_GEN] << 32) | h) == oid
                    if front:
                        n0 = meta[E.M_NTR]
                        E.market_order(st, t, 0, 0, -d, q)
                        cnt[C_REMATCH] += 1
                        n1 = meta[E.M_NTR]
                        ok = True
                        for j in range(n0, n1):
                            if trl[j, E.TR_MAKER] != oid or trl[j, E.TR_PX] != p:
                                ok = False
                        if not ok:
                            cnt[C_PRIO] += 1
                            n = _note(notes, pairs, cnt, keep, r, N_MAKERS, u, n1 - n0, 0, 0, 0, 0, 0, 0)
                            if n >= 0:
                                for j in range(min(n1 - n0, pairs.shape[1])):
                                    pairs[n, j, 0] = trl[n0 + j, E.TR_MAKER]
                                    pairs[n, j, 1] = trl[n0 + j, E.TR_PX]
                    else:
                        cnt[C_PRIO] += 1
                        _note(notes, pairs, cnt, keep, r, N_FRONT, u, p, best, 0, 0, 0, 0, 0)
                        E.cancel_order(st, t, oid, q, -1, -1, 0)
                else:
                    E.cancel_order(st, t, oid, q, -1, -1, 0)
                if E._slot(pool, oid) < 0:
                    live[u] = _NONE
        # 5, 6, 7: no visible change
        cnt[C_MSG] += 1

        # compare
        b = symv[0, E.SV_BID]
        a = symv[0, E.SV_ASK]
        bb = b + base if b >= 0 else -1
        bq = lvl[0, 0, b, E.L_QTY] if b >= 0 else 0
        ba = a + base if a >= 0 else -1
        aq = lvl[0, 1, a, E.L_QTY] if a >= 0 else 0
        if bb != rb_px[r, 0] or bq != rb_sz[r, 0] or ba != ra_px[r, 0] or aq != ra_sz[r, 0]:
            cnt[C_L1] += 1
            _note(notes, pairs, cnt, keep, r, N_L1, bb, bq, ba, aq, rb_px[r, 0], rb_sz[r, 0], ra_px[r, 0], ra_sz[r, 0])
        if levels > 1:
            for k in range(2):  # bids first, as the Python reference did
                rpx = rb_px[r] if k == 0 else ra_px[r]
                rsz = rb_sz[r] if k == 0 else ra_sz[r]
                nr, unseen, differ, no, nraw = _compare_side(st, k, levels, win_lo, win_hi, rpx, rsz, ours_px,
                                                             ours_sz, keep_o, keep_r)
                cnt[C_UNSEEN] += unseen
                cnt[C_LEVELS] += nr
                if differ:
                    cnt[C_DEPTH] += 1
                    n = _note(notes, pairs, cnt, keep, r, N_DEPTH, k, 0, 0, 0, 0, 0, 0, 0)
                    if n >= 0:
                        notes[n, 3] = _xor_pairs(keep_o, no, keep_r, nraw, pairs[n])
    return end


# ---------------------------------------------------------------- Python driver


def _run(data, seed=None, seed_row: int = 0, max_messages: int | None = None, keep_mismatches: int = 20,
         record_depth: int = 0):
    msgs = data.messages
    if max_messages is not None and max_messages < 0:
        raise MultiexecError(f"max_messages must be >= 0, got {max_messages}")
    if not 0 <= seed_row < len(msgs):
        raise MultiexecError(f"seed_row {seed_row} is outside the sample's {len(msgs)} rows")
    src = data if seed is None else seed
    if seed is not None and (len(seed.messages) <= seed_row or not np.array_equal(
            seed.messages.iloc[: seed_row + 1].to_numpy(), msgs.iloc[: seed_row + 1].to_numpy())):
        raise MultiexecError("seed sample does not start with the same messages as the replayed sample")
    levels = data.levels
    a_px, a_sz, b_px, b_sz = _book_arrays(data.book, levels)
    sa_px, sa_sz, sb_px, sb_sz = _book_arrays(src.book, src.levels)

    typ = msgs["type"].to_numpy(np.int64)
    prices = np.concatenate([msgs["price"].to_numpy()[typ <= 4],
                             sa_px[seed_row][sa_sz[seed_row] > 0], sb_px[seed_row][sb_sz[seed_row] > 0]])
    if len(prices) == 0:
        raise MultiexecError(f"{data.message_csv}: no prices to replay (no orders and an empty first book row)")
    tick = int(np.gcd.reduce(prices))
    lo = int(prices.min()) // tick
    hi = int(prices.max()) // tick
    span = hi - lo + 1
    n_ticks = 1 << max(10, int(np.ceil(np.log2(span + 2))))
    if n_ticks > 1 << 18:
        raise MultiexecError(f"LOBSTER prices span {span} ticks: too wide for one book")
    base = max(0, lo - (n_ticks - span) // 2)
    ex = E.Exchange(1, 1, [base], n_ticks=n_ticks)

    # 1. seed with ghosts: one per level
    ghost = np.full((2, n_ticks), _NONE, np.int64)
    for side, spx, ssz in ((1, sb_px[seed_row], sb_sz[seed_row]), (-1, sa_px[seed_row], sa_sz[seed_row])):
        for p, q in zip(spx, ssz):
            if q > 0:
                ghost[0 if side > 0 else 1, int(p) // tick - base] = ex.limit(0, 0, GHOST, side, int(p) // tick, int(q))
    seeded = np.concatenate([sb_px[seed_row][sb_sz[seed_row] > 0], sa_px[seed_row][sa_sz[seed_row] > 0]]) // tick
    win_lo, win_hi = (int(seeded.min()), int(seeded.max())) if len(seeded) else (0, -1)

    _, lid = np.unique(msgs["order_id"].to_numpy(np.int64), return_inverse=True)
    live = np.full(int(lid.max()) + 1 if len(lid) else 1, _NONE, np.int64)
    sizes = msgs["size"].to_numpy(np.int64)
    pxs = msgs["price"].to_numpy(np.int64) // tick
    dirs = msgs["direction"].to_numpy(np.int64)
    times = np.round(msgs["time"].to_numpy() * 1e9).astype(np.int64)
    end = len(msgs) if max_messages is None else min(len(msgs), seed_row + 1 + max_messages)
    # one layout for every input (C-contiguous int64), so the loop is compiled once, whatever the sample's shape
    rb_px = np.ascontiguousarray(np.where(b_sz > 0, b_px // tick, -1), dtype=np.int64)
    ra_px = np.ascontiguousarray(np.where(a_sz > 0, a_px // tick, -1), dtype=np.int64)
    b_sz, a_sz = (np.ascontiguousarray(x, dtype=np.int64) for x in (b_sz, a_sz))
    typ, sizes, pxs, dirs, times = (np.ascontiguousarray(x, dtype=np.int64) for x in (typ, sizes, pxs, dirs, times))

    cnt = np.zeros(9, np.int64)
    notes = np.zeros((max(keep_mismatches, 0), 10), np.int64)
    pairs = np.full((max(keep_mismatches, 0), max(NOTE_W, levels), 2), -1, np.int64)
    n_rec = end - (seed_row + 1)
    rec_px = np.zeros((n_rec if record_depth else 0, 2, max(record_depth, 1)), np.int64)
    rec_sz = np.zeros_like(rec_px)
    scratch = np.zeros((3, levels, 2), np.int64)
    lid = np.ascontiguousarray(lid.reshape(-1), dtype=np.int64)
    args = (typ, lid, sizes, pxs, dirs, times, live, ghost, levels, win_lo, win_hi, rb_px, b_sz, ra_px, a_sz, cnt,
            keep_mismatches, notes, pairs, seed_row + 1, record_depth, rec_px, rec_sz, scratch)
    _replay_rows(ex.st, end, end, *args)  # compiles or loads the loop from the cache: not part of the timing
    t0 = time.perf_counter()
    r = seed_row + 1
    while r < end:
        r = _replay_rows(ex.st, r, end, *args)
        if r < end:
            ex.ensure()
    seconds = time.perf_counter() - t0

    ids = msgs["order_id"].to_numpy(np.int64)
    res = ReplayResult(
        n_messages=int(cnt[C_MSG]), n_compared_levels=int(cnt[C_LEVELS]), l1_mismatches=int(cnt[C_L1]),
        depth_mismatches=int(cnt[C_DEPTH]), priority_violations=int(cnt[C_PRIO]),
        executions_rematched=int(cnt[C_REMATCH]), unknown_id_messages=int(cnt[C_UNKNOWN]),
        unseen_levels=int(cnt[C_UNSEEN]), levels=levels, message_levels=message_levels(data), seconds=seconds,
    )
    for i in range(int(cnt[C_NOTES])):
        res.mismatches.append((int(notes[i, 0]), _note_text(notes[i], pairs[i], ids)))
    stream = None
    if record_depth:
        rows = slice(seed_row + 1, end)
        stream = {"row": np.arange(seed_row + 1, end), "time_ns": times[rows], "type": typ[rows],
                  "order_id": ids[rows], "size": sizes[rows], "price": pxs[rows], "direction": dirs[rows],
                  "bid_px": rec_px[:, 0], "bid_sz": rec_sz[:, 0], "ask_px": rec_px[:, 1], "ask_sz": rec_sz[:, 1],
                  "tick": tick}
    return res, stream


def _note_text(note, pairs, ids) -> str:
    r, kind = int(note[0]), int(note[1])
    a = [int(x) for x in note[2:]]
    lob_id = int(ids[r])
    if kind == N_NOT_RESTED:
        return f"new limit order {lob_id} did not rest (returned {a[1]})"
    if kind == N_NO_GHOST:
        return f"unknown id {lob_id} at a level without a seeded order (side {a[1]}, price {a[2]})"
    if kind == N_MAKERS:
        n = min(a[1], pairs.shape[0])
        more = ", ..." if a[1] > n else ""
        makers = ", ".join(str(int(x)) for x in pairs[:n, 0])
        pxs = ", ".join(str(int(x)) for x in pairs[:n, 1])
        return f"execution of {lob_id}: engine matched makers [{makers}{more}] at [{pxs}{more}]"
    if kind == N_FRONT:
        return f"execution of {lob_id} at {a[1]}: front of queue / best price differ (best {a[2]})"
    if kind == N_L1:
        return f"L1 ours {tuple(a[:4])} LOBSTER {tuple(a[4:])}"
    if kind == N_DEPTH:
        diff = [(int(p), int(s)) for p, s in pairs[: a[1]]]
        return f"{'bid' if a[0] == 0 else 'ask'} depth differs (price, size) in ours xor LOBSTER: {diff}"
    raise AssertionError(kind)


def replay_lobster(data, seed=None, seed_row: int = 0, max_messages: int | None = None,
                   keep_mismatches: int = 20) -> ReplayResult:
    """Replay ``data`` (a :class:`multiexec.lob.lobster.LobsterData`) from message ``seed_row + 1``.

    ``seed``: optional LobsterData whose book row ``seed_row`` seeds the book (e.g. a deeper file of the same
    start); by default ``data``'s own book is used. Prices are converted to ticks of the largest common tick.
    ``max_messages``: replay at most this many messages (None: all; 0: none).
    """
    return _run(data, seed, seed_row, max_messages, keep_mismatches)[0]


def lobster_stream(data, seed=None, seed_row: int = 0, depth: int = 10, max_messages: int | None = None) -> dict:
    """The replay as (book state, order) pairs: the decoded messages ``seed_row + 1 ..`` and our engine's L2 book
    *before* each of them (numpy arrays, one row per message):

    * ``row`` (index in the file), ``time_ns`` (ns after midnight), ``type`` (LOBSTER's 1-7), ``order_id``,
      ``size`` (shares), ``price`` (ticks; multiply by ``tick`` for LOBSTER's dollars x 10000), ``direction``
      (+1 buy / -1 sell *resting* order: an execution of a sell order is a buyer-initiated trade);
    * ``bid_px``, ``ask_px`` (n, depth) price ticks, -1 where a level is empty; ``bid_sz``, ``ask_sz`` (n, depth)
      shares, 0 where empty; level 1 first;
    * ``tick``: LOBSTER price units per tick (the largest common divisor of the prices, 100 = one cent);
    * ``result``: the :class:`ReplayResult` of the same replay (how far the book agrees with LOBSTER's).

    The book is the engine's reconstruction (seeded with ghosts, then every message applied), so it has ``depth``
    levels even where LOBSTER's book file has fewer (the one-hour AAPL file has one, seed it from the 50-level
    file with ``seed=``); where both exist it equals LOBSTER's (see ``result``).
    """
    if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or not 1 <= depth <= 1000:
        raise MultiexecError(f"depth must be an integer in [1, 1000], got {depth!r}")
    res, stream = _run(data, seed, seed_row, max_messages, 20, int(depth))
    stream["result"] = res
    return stream


def explain(res: ReplayResult, deeper_messages: int | None = None, deeper_levels: int | None = None) -> str:
    """What the counts of one replay mean, in a sentence or three (printed by ``multiexec lob replay``).

    ``deeper_messages`` / ``deeper_levels``: the number of messages a file covering more levels has over the same
    time span, and its levels (to show how many events this file leaves out)."""
    if res.n_messages == 0:
        return "nothing replayed: no message after the seed row, so nothing was compared (not a pass)"
    parts = []
    ml = res.message_levels
    clean = res.l1_mismatches == 0 and res.depth_mismatches == 0 and res.priority_violations == 0
    if clean:
        parts.append("our book equals LOBSTER's after every message")
    if ml is not None and (res.l1_mismatches or res.depth_mismatches):
        left_out = ""
        if deeper_messages is not None and deeper_levels is not None and deeper_messages > res.n_messages + 1:
            share = 1 - (res.n_messages + 1) / deeper_messages
            left_out = (f" (over the same time the {deeper_levels}-level file has {deeper_messages:,} messages, this "
                        f"one {res.n_messages + 1:,}: {share:.0%} left out)")
        parts.append(
            f"expected mismatches: a level-{ml} message file lists only events inside the first {ml} levels"
            f"{left_out}; while a level sits deeper, its adds and cancels are not in the file, so when it moves into "
            f"view (the book above it empties) LOBSTER's book shows orders no message added, or lacks orders whose "
            f"cancel we never saw, and later messages name ids we never saw: these counts measure what the file "
            f"leaves out, not the engine")
    if res.executions_rematched or res.priority_violations:
        parts.append(f"the engine re-matched {res.executions_rematched:,} executions by price-time priority; "
                     f"{res.priority_violations:,} executions named an order that was not first in our queue at the "
                     f"best price" + (" (an order we never saw in front of it, or the exchange executing out of "
                                      "displayed time priority)" if res.priority_violations else ""))
    return "; ".join(parts)
