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
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from multiexec.errors import MultiexecError
from multiexec.lob.engine import M_NTR, SV_BID, TR_MAKER, TR_PX, Exchange, l3_level

GHOST = -1  # agent id of seeded (pre-existing) orders


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


def _book_arrays(book, levels: int):
    cols = book.to_numpy(np.int64)
    ask_px, ask_sz = cols[:, 0::4][:, :levels], cols[:, 1::4][:, :levels]
    bid_px, bid_sz = cols[:, 2::4][:, :levels], cols[:, 3::4][:, :levels]
    return ask_px, ask_sz, bid_px, bid_sz


def replay_lobster(data, seed=None, seed_row: int = 0, max_messages: int | None = None,
                   keep_mismatches: int = 20) -> ReplayResult:
    """Replay ``data`` (a :class:`multiexec.lob.lobster.LobsterData`) from message ``seed_row + 1``.

    ``seed``: optional LobsterData whose book row ``seed_row`` seeds the book (e.g. a deeper file of the same
    start); by default ``data``'s own book is used. Prices are converted to ticks of the largest common tick.
    """
    msgs = data.messages
    src = data if seed is None else seed
    if seed is not None and not np.array_equal(seed.messages.iloc[: seed_row + 1].to_numpy(),
                                               msgs.iloc[: seed_row + 1].to_numpy()):
        raise MultiexecError("seed sample does not start with the same messages as the replayed sample")
    levels = data.levels
    a_px, a_sz, b_px, b_sz = _book_arrays(data.book, levels)
    sa_px, sa_sz, sb_px, sb_sz = _book_arrays(src.book, src.levels)

    prices = np.concatenate([msgs["price"].to_numpy()[msgs["type"].to_numpy() <= 4],
                             sa_px[seed_row][sa_sz[seed_row] > 0], sb_px[seed_row][sb_sz[seed_row] > 0]])
    tick = int(np.gcd.reduce(prices))
    lo = int(prices.min()) // tick
    hi = int(prices.max()) // tick
    span = hi - lo + 1
    n_ticks = 1 << max(10, int(np.ceil(np.log2(span + 2))))
    if n_ticks > 1 << 18:
        raise MultiexecError(f"LOBSTER prices span {span} ticks: too wide for one book")
    base = max(0, lo - (n_ticks - span) // 2)
    ex = Exchange(1, 1, [base], n_ticks=n_ticks)

    # 1. seed with ghosts, deepest levels first is irrelevant: one ghost per level
    ghost: dict[tuple[int, int], int] = {}  # (side, price tick) -> ghost order id
    for side, px, sz in ((1, sb_px[seed_row], sb_sz[seed_row]), (-1, sa_px[seed_row], sa_sz[seed_row])):
        for p, q in zip(px, sz):
            if q > 0:
                ghost[(side, int(p) // tick)] = ex.limit(0, 0, GHOST, side, int(p) // tick, int(q))
    seeded = np.concatenate([sb_px[seed_row][sb_sz[seed_row] > 0], sa_px[seed_row][sa_sz[seed_row] > 0]]) // tick
    win_lo, win_hi = int(seeded.min()), int(seeded.max())

    res = ReplayResult()
    live: dict[int, int] = {}  # LOBSTER id -> our order id
    typ = msgs["type"].to_numpy()
    oids = msgs["order_id"].to_numpy()
    sizes = msgs["size"].to_numpy()
    pxs = msgs["price"].to_numpy() // tick
    dirs = msgs["direction"].to_numpy()
    times = np.round(msgs["time"].to_numpy() * 1e9).astype(np.int64)
    end = len(msgs) if max_messages is None else min(len(msgs), seed_row + 1 + max_messages)

    def note(row, what):
        if len(res.mismatches) < keep_mismatches:
            res.mismatches.append((row, what))

    def target(row, side, p, lob_id):
        """Our order id for a LOBSTER id (or the ghost at that level for an unknown id)."""
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
        # 5, 6, 7: no visible change
        res.n_messages += 1

        # compare
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
                # a book that shows all its levels is truncated: compare only down to the shallower truncation
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
