"""Replay real NASDAQ messages (LOBSTER AAPL 2012-06-21) through our matching engine, event by event.

See :mod:`multiexec.lob.replay` for the approach (ghost orders seeded from the first book row, unknown ids of
orders resting before the file start applied to the ghost at their level, executions re-matched by the engine
and checked against the maker LOBSTER names). The replay loop is compiled; :func:`_python_replay` below is the
loop as it was written in Python (through the engine's front-end), kept here only as the reference the compiled
loop must equal, count for count and note for note, on the real samples and on synthetic message files.
"""

from collections import deque

import numpy as np
import pytest

from multiexec.errors import MultiexecError
from multiexec.lob.engine import M_NTR, SV_BID, TR_MAKER, TR_PX, Exchange, l3_level
from multiexec.lob.lobster import EMPTY_ASK, EMPTY_BID, lobster_samples, read_lobster
from multiexec.lob.replay import ReplayResult, explain, lobster_stream, replay_lobster
from multiexec.testing import write_pair

COUNTS = ("n_messages", "n_compared_levels", "l1_mismatches", "depth_mismatches", "priority_violations",
          "executions_rematched", "unknown_id_messages", "unseen_levels", "mismatches")


# ------------------------------------------------------------------------------------------------ reference loop


def _book_arrays(book, levels):
    cols = book.to_numpy(np.int64)
    return cols[:, 0::4][:, :levels], cols[:, 1::4][:, :levels], cols[:, 2::4][:, :levels], cols[:, 3::4][:, :levels]


def _python_replay(data, seed=None, seed_row=0, max_messages=None, keep_mismatches=20) -> ReplayResult:
    """The replay loop in Python, message by message through :class:`Exchange` (the library's implementation
    before the loop was compiled)."""
    msgs = data.messages
    src = data if seed is None else seed
    levels = data.levels
    a_px, a_sz, b_px, b_sz = _book_arrays(data.book, levels)
    sa_px, sa_sz, sb_px, sb_sz = _book_arrays(src.book, src.levels)
    prices = np.concatenate([msgs["price"].to_numpy()[msgs["type"].to_numpy() <= 4],
                             sa_px[seed_row][sa_sz[seed_row] > 0], sb_px[seed_row][sb_sz[seed_row] > 0]])
    tick = int(np.gcd.reduce(prices))
    lo, hi = int(prices.min()) // tick, int(prices.max()) // tick
    span = hi - lo + 1
    n_ticks = 1 << max(10, int(np.ceil(np.log2(span + 2))))
    base = max(0, lo - (n_ticks - span) // 2)
    ex = Exchange(1, 1, [base], n_ticks=n_ticks)
    ghost = {}
    for side, px, sz in ((1, sb_px[seed_row], sb_sz[seed_row]), (-1, sa_px[seed_row], sa_sz[seed_row])):
        for p, q in zip(px, sz):
            if q > 0:
                ghost[(side, int(p) // tick)] = ex.limit(0, 0, -1, side, int(p) // tick, int(q))
    seeded = np.concatenate([sb_px[seed_row][sb_sz[seed_row] > 0], sa_px[seed_row][sa_sz[seed_row] > 0]]) // tick
    win_lo, win_hi = int(seeded.min()), int(seeded.max())
    res = ReplayResult()
    live = {}
    typ, oids, sizes = msgs["type"].to_numpy(), msgs["order_id"].to_numpy(), msgs["size"].to_numpy()
    pxs, dirs = msgs["price"].to_numpy() // tick, msgs["direction"].to_numpy()
    times = np.round(msgs["time"].to_numpy() * 1e9).astype(np.int64)
    end = len(msgs) if max_messages is None else min(len(msgs), seed_row + 1 + max_messages)

    def note(row, what):
        if len(res.mismatches) < keep_mismatches:
            res.mismatches.append((row, what))

    def target(row, side, p, lob_id):
        if lob_id in live:
            return live[lob_id]
        res.unknown_id_messages += 1
        g = ghost.get((side, p))
        if g is None:
            note(row, f"unknown id {lob_id} at a level without a seeded order (side {side}, price {p})")
        return g

    for r in range(seed_row + 1, end):
        t, ty, lid, q, p, d = int(times[r]), int(typ[r]), int(oids[r]), int(sizes[r]), int(pxs[r]), int(dirs[r])
        if ty == 1:
            oid = ex.limit(t, 0, 0, d, p, q)
            if oid < 0:
                note(r, f"new limit order {lid} did not rest (returned {oid})")
            else:
                live[lid] = oid
        elif ty in (2, 3):
            oid = target(r, d, p, lid)
            if oid is not None:
                ex.cancel(t, oid, q)
                if ex.order(oid) is None:
                    live.pop(lid, None)
        elif ty == 4:
            oid = target(r, d, p, lid)
            if oid is not None:
                k = 0 if d > 0 else 1
                bi = ex.st.symv[0, SV_BID + k]
                best = bi + base if bi >= 0 else -1
                front = l3_level(ex.st, 0, k, p)[0][:1] if ex.order(oid) is not None else np.empty(0, np.int64)
                if best == p and len(front) and front[0] == oid:
                    n0 = int(ex.st.meta[M_NTR])
                    ex.market(t, 0, 0, -d, q)
                    res.executions_rematched += 1
                    makers = ex.st.trl[n0: int(ex.st.meta[M_NTR]), TR_MAKER]
                    tpx = ex.st.trl[n0: int(ex.st.meta[M_NTR]), TR_PX]
                    if not (np.all(makers == oid) and np.all(tpx == p)):
                        res.priority_violations += 1
                        note(r, f"execution of {lid}: engine matched makers {makers.tolist()} at {tpx.tolist()}")
                else:
                    res.priority_violations += 1
                    note(r, f"execution of {lid} at {p}: front of queue / best price differ (best {best})")
                    ex.cancel(t, oid, q)
                if ex.order(oid) is None:
                    live.pop(lid, None)
        res.n_messages += 1
        bb, bq, ba, aq = ex.l1()
        rb = int(b_px[r, 0]) // tick if b_sz[r, 0] > 0 else -1
        ra = int(a_px[r, 0]) // tick if a_sz[r, 0] > 0 else -1
        if (bb, bq, ba, aq) != (rb, int(b_sz[r, 0]), ra, int(a_sz[r, 0])):
            res.l1_mismatches += 1
            note(r, f"L1 ours {(bb, bq, ba, aq)} LOBSTER {(rb, int(b_sz[r, 0]), ra, int(a_sz[r, 0]))}")
        if levels > 1:
            l2 = ex.l2(0, levels)
            for name, ours_px, ours_sz, real_px, real_sz in (
                ("bid", l2["bid_px"], l2["bid_sz"], b_px[r], b_sz[r]),
                ("ask", l2["ask_px"], l2["ask_sz"], a_px[r], a_sz[r]),
            ):
                rp = np.where(real_sz > 0, real_px // tick, -1)
                res.unseen_levels += int(((rp >= 0) & ((rp < win_lo) | (rp > win_hi))).sum())
                edges = [int(x[levels - 1]) for x in (ours_px, rp) if x[levels - 1] >= 0]
                sign = 1 if name == "ask" else -1
                edge = min(sign * e for e in edges) if edges else None

                def keep(x, edge=edge, sign=sign):
                    return x >= 0 and win_lo <= x <= win_hi and (edge is None or sign * x <= edge)

                ours = {int(x): int(s) for x, s in zip(ours_px, ours_sz) if keep(x)}
                real = {int(x): int(s) for x, s in zip(rp, real_sz) if keep(x)}
                res.n_compared_levels += len(real)
                if ours != real:
                    res.depth_mismatches += 1
                    diff = sorted(set(ours.items()) ^ set(real.items()))[:6]
                    note(r, f"{name} depth differs (price, size) in ours xor LOBSTER: {diff}")
    return res


def _same(a: ReplayResult, b: ReplayResult) -> None:
    for k in COUNTS:
        assert getattr(a, k) == getattr(b, k), (k, getattr(a, k), getattr(b, k))


# ------------------------------------------------------------------------------------------------ synthetic files


def _synthetic_lobster(seed: int, n_events: int = 3000, visible: int | None = None, book_levels: int = 30):
    """A LOBSTER-like day: a book with orders resting before the file starts (never announced), then random
    adds near the best, partial cancels, deletes, executions of the front order at the best price and hidden
    executions, written as (message rows, book rows). ``visible``: keep only the messages that touch the first
    ``visible`` levels of their side and write a ``visible``-level book, as LOBSTER's level-N files do."""
    rng = np.random.default_rng(seed)
    tick, mid = 100, 1_000_000
    books = {1: {}, -1: {}}  # side -> price -> deque [id, size]
    where = {}
    next_id = [1]

    def add(side, px, size):
        oid = next_id[0]
        next_id[0] += 1
        books[side].setdefault(px, deque()).append([oid, size])
        where[oid] = (side, px)
        return oid

    for k in range(1, 21):  # pre-existing orders, every third tick (new orders fill the gaps)
        for _ in range(int(rng.integers(1, 4))):
            add(1, mid - 3 * k * tick, int(rng.integers(1, 300)))
            add(-1, mid + 3 * k * tick, int(rng.integers(1, 300)))

    def levels(side):
        return sorted(books[side], reverse=side > 0)

    def row(nlev):
        out = []
        for i in range(nlev):
            for side, empty in ((-1, EMPTY_ASK), (1, EMPTY_BID)):
                lv = levels(side)
                if i < len(lv):
                    out += [lv[i], sum(o[1] for o in books[side][lv[i]])]
                else:
                    out += [empty, 0]
        return ",".join(str(x) for x in out)

    def rank(side, px):
        lv = levels(side)
        return lv.index(px) if px in lv else sum(1 for p in lv if (p > px if side > 0 else p < px))

    msgs, rows = [], []
    t = 34200.0
    for _ in range(n_events):
        t += float(rng.exponential(0.01))
        u = rng.random()
        side = 1 if rng.random() < 0.5 else -1
        if not books[1] or not books[-1]:  # keep both sides quoted: the next order goes to the empty side
            side, u = (1 if not books[1] else -1), 0.0
        bb = max(books[1]) if books[1] else min(books[-1]) - 5 * tick
        ba = min(books[-1]) if books[-1] else bb + 5 * tick
        if u < 0.45 or len(where) < 30:
            # a new order inside or behind the spread, never crossing
            px = (bb if side > 0 else ba) - side * tick * int(rng.integers(-1, 12))
            px = min(px, ba - tick) if side > 0 else max(px, bb + tick)
            size = int(rng.integers(1, 300))
            r_before = rank(side, px)
            oid = add(side, px, size)
            ev = (1, oid, size, px, side)
        elif u < 0.85:
            oid = list(where)[int(rng.integers(len(where)))]
            side, px = where[oid]
            r_before = rank(side, px)
            q = books[side][px]
            o = next(o for o in q if o[0] == oid)
            if rng.random() < 0.3 and o[1] > 1:
                c = int(rng.integers(1, o[1]))
                o[1] -= c
                ev = (2, oid, c, px, side)
            else:
                q.remove(o)
                del where[oid]
                if not q:
                    del books[side][px]
                ev = (3, oid, o[1], px, side)
        elif u < 0.97:
            px = bb if side > 0 else ba
            r_before = 0
            q = books[side][px]
            o = q[0]
            e = int(rng.integers(1, o[1] + 1))
            o[1] -= e
            if o[1] == 0:
                q.popleft()
                del where[o[0]]
                if not q:
                    del books[side][px]
            ev = (4, o[0], e, px, side)
        else:
            r_before = 0
            ev = (5, 0, int(rng.integers(1, 100)), bb if side > 0 else ba, side)
        if visible is not None and ev[0] in (1, 2, 3) and r_before >= visible:
            continue
        ty, oid, size, px, side = ev
        msgs.append(f"{t:.9f},{ty},{oid},{size},{px},{side}")
        rows.append(row(book_levels if visible is None else visible))
    return msgs, rows


def _write_synthetic(tmp_path, seed, visible=None, n_events=3000):
    msgs, rows = _synthetic_lobster(seed, n_events, visible)
    lv = 30 if visible is None else visible
    folder = tmp_path / f"s{seed}_{lv}"
    m, b = write_pair(folder, messages=msgs, book=rows, msg_name=f"SYN_2020-01-02_34200000_57600000_message_{lv}.csv",
                      book_name=f"SYN_2020-01-02_34200000_57600000_orderbook_{lv}.csv")
    return read_lobster(m, b)


@pytest.mark.parametrize("seed", [0, 1])
def test_compiled_replay_equals_python_loop_on_synthetic_files(tmp_path, seed):
    full = _write_synthetic(tmp_path, seed)
    res = replay_lobster(full)
    _same(res, _python_replay(full))
    # every message of every level is in the file: the book matches LOBSTER's after every message
    assert res.n_messages == len(full) - 1 and res.executions_rematched > 100
    assert res.l1_mismatches == res.depth_mismatches == res.priority_violations == 0, res.mismatches
    assert "equals LOBSTER's after every message" in explain(res)
    # a level-5 file leaves out the messages beyond its 5 levels: mismatches appear, and are explained as such
    cut = _write_synthetic(tmp_path, seed, visible=5)
    res5 = replay_lobster(cut)
    _same(res5, _python_replay(cut))
    assert res5.depth_mismatches > 0 and res5.mismatches
    assert "expected mismatches: a level-5 message file" in explain(res5)
    # partial replays agree too
    _same(replay_lobster(full, max_messages=700, keep_mismatches=3), _python_replay(full, max_messages=700,
                                                                                    keep_mismatches=3))


def test_stream_gives_the_book_before_each_message(tmp_path):
    d = _write_synthetic(tmp_path, 2, n_events=800)
    s = lobster_stream(d, depth=5)
    n = len(d) - 1
    assert s["result"].n_messages == n and s["result"].l1_mismatches == 0
    for k in ("row", "time_ns", "type", "order_id", "size", "price", "direction"):
        assert s[k].shape == (n,) and s[k].dtype == np.int64
    for k in ("bid_px", "bid_sz", "ask_px", "ask_sz"):
        assert s[k].shape == (n, 5)
    assert s["tick"] == 100
    book = d.book.to_numpy(np.int64)
    # the book before message r is LOBSTER's book after message r - 1 (ticks of 100 price units)
    for j in (0, 1, 17, n - 1):
        r = int(s["row"][j])
        prev = book[r - 1]
        bid_sz, ask_sz = prev[3::4][:5], prev[1::4][:5]
        assert s["bid_sz"][j].tolist() == bid_sz.tolist() and s["ask_sz"][j].tolist() == ask_sz.tolist()
        assert s["bid_px"][j].tolist() == np.where(bid_sz > 0, prev[2::4][:5] // 100, -1).tolist()
        assert s["ask_px"][j].tolist() == np.where(ask_sz > 0, prev[0::4][:5] // 100, -1).tolist()
    assert (s["price"] == d.messages["price"].to_numpy()[1:] // 100).all()
    with pytest.raises(MultiexecError, match="depth"):
        lobster_stream(d, depth=0)


def test_bad_replay_arguments_are_one_line_errors(tmp_path):
    d = _write_synthetic(tmp_path, 3, n_events=50)
    with pytest.raises(MultiexecError, match="max_messages must be >= 0"):
        replay_lobster(d, max_messages=-5)
    with pytest.raises(MultiexecError, match="seed_row"):
        replay_lobster(d, seed_row=len(d))
    res = replay_lobster(d, max_messages=0)
    assert res.n_messages == 0 and "nothing was compared (not a pass)" in explain(res)


# ------------------------------------------------------------------------------------------------ real samples


def _samples():
    pairs = lobster_samples()
    if not pairs:
        pytest.skip("real data ../shared/data/lobster_aapl_2012-06-21 is absent: skipping the LOBSTER replay")
    data = {}
    for m, b in pairs:
        d = read_lobster(m, b)
        data[(d.levels, len(d))] = d
    return data


@pytest.mark.realdata
def test_replay_full_depth_prefix_matches_book_every_event():
    data = _samples()
    d = next(v for (lv, n), v in data.items() if lv == 50)
    res = replay_lobster(d)
    _same(res, _python_replay(d))
    assert res.n_messages == len(d) - 1
    assert res.l1_mismatches == 0, res.mismatches
    assert res.priority_violations == 0, res.mismatches
    assert res.executions_rematched > 20
    assert res.n_compared_levels > 10_000
    # one level (59250 ask, 100 shares) enters the 50 visible levels at row 506 when the ask at 58567 is deleted:
    # it rested beyond level 50, so no message of this level-50 file added it; the only depth discrepancy here
    assert res.depth_mismatches <= len(d) - 506, res.mismatches
    assert res.mismatches[0][0] == 506 and "(59250, 100)" in res.mismatches[0][1]


@pytest.mark.realdata
def test_replay_ten_level_sample_mismatches_are_explained():
    data = _samples()
    d = next(v for (lv, n), v in data.items() if lv == 10)
    res = replay_lobster(d)
    _same(res, _python_replay(d))
    assert res.n_messages == len(d) - 1 and res.message_levels == 10
    # the engine itself is right where the file lets us check it: every execution by price-time priority
    assert res.executions_rematched > 50 and res.priority_violations == 0
    # ... but the level-10 message file leaves out the events beyond level 10 (268 of the 1,267 events that the
    # level-50 file has over the same 49 s): the book differs, and the replay says why
    hour = next(v for (lv, n), v in data.items() if lv == 1)
    t = hour.messages["time"].to_numpy()
    n_deep = int(((t >= d.messages["time"].iloc[0]) & (t <= d.messages["time"].iloc[-1])).sum())
    assert n_deep > len(d)
    assert res.depth_mismatches > 0
    text = explain(res, n_deep, 50)
    assert "expected mismatches: a level-10 message file" in text and f"{n_deep:,} messages" in text


@pytest.mark.realdata
def test_replay_one_hour_best_quotes():
    data = _samples()
    hour = next(v for (lv, n), v in data.items() if lv == 1 and n > 50_000)
    deep = next(v for (lv, n), v in data.items() if lv == 50)
    res = replay_lobster(hour, seed=deep)
    n = 10_000  # the Python loop on the whole hour takes several seconds
    _same(replay_lobster(hour, seed=deep, max_messages=n), _python_replay(hour, seed=deep, max_messages=n))
    assert res.n_messages == len(hour) - 1
    assert res.executions_rematched > 3_000
    # best bid and ask equal LOBSTER's after more than 99.8% of the 92k events; the rest follow executions of
    # orders that rested before 09:30 beyond the 50 seeded levels (never visible to us)
    assert res.l1_mismatches < 0.002 * res.n_messages, res.mismatches
    assert res.priority_violations < 0.01 * res.executions_rematched, res.mismatches
    # the compiled loop: ~10 million messages a second on a quiet machine (the Python loop managed ~10,000); the
    # bound leaves room for a loaded test machine
    assert res.n_messages / res.seconds > 200_000
