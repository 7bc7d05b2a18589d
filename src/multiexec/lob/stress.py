"""The matching engine against an independent reference book, over long random message streams.

:class:`ReferenceBook` is a deliberately simple price-time-priority book in pure Python (per side a dict price ->
deque of resting orders, best price by ``max`` / ``min`` over the keys, cash and positions in Python ints, its own
reading of the validity rule of :mod:`multiexec.lob.engine`). :func:`run_stress` draws random messages (limit,
market, cancel, modify, a share of bad ones: prices off the tick grid or outside the band, fractional, zero,
negative or too large sizes, a price of 2**70, an id of 2**64, a side of 0 ...), sends each to both, and after
every message checks:

* the answers agree: accepted / rejected (a bad message raises :class:`~multiexec.errors.MultiexecError` in the
  engine's front-end and is refused by the reference), order id rests or not, executed and cancelled shares;
* the trades agree one for one (maker order, price, size, in order): price-time priority;
* the book is never crossed or locked, and its best levels equal the reference's;
* every level the message touched: its total equals the sum of its resting orders, in the engine and in the
  reference, and its queue (ids, sizes, agents) is the reference's, front first (FIFO);
* cash and shares are conserved (each sums to zero over the agents) and equal the reference's for every agent;
* a bad message changes nothing (message and trade logs, resting orders, cash, positions, best levels);
* every ``full_every`` messages and at the end: every level of both sides and the number of resting orders.

``multiexec lob stress --messages 1000000 --seed 0`` runs it with a progress bar; ``tests/lob/test_reference_book.py``
runs a short stream.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from multiexec.errors import MultiexecError
from multiexec.lob import engine as E

MAX_QTY = E.MAX_QTY


class StressFailure(AssertionError):
    """An invariant did not hold (a bug in the engine or the reference); the message says which and where."""


def _as_int(x):
    """The reference's reading of the rule: an int (not bool), or an integral finite float; else None."""
    if isinstance(x, (bool, np.bool_)):
        return None
    if isinstance(x, (int, np.integer)):
        v = int(x)
    elif isinstance(x, (float, np.floating)) and np.isfinite(x) and float(x) == int(x):
        v = int(x)
    else:
        return None
    return v if -(2**63) <= v < 2**63 else None


class ReferenceBook:
    """Price-time-priority book of one symbol in pure Python: ``bids`` / ``asks`` map price -> deque of
    ``[order id, size, agent]``; ``where`` maps a resting order id -> (side, price)."""

    def __init__(self, n_agents: int, lo: int, hi: int):
        self.lo, self.hi = lo, hi  # price band, inclusive
        self.bids: dict[int, deque] = {}
        self.asks: dict[int, deque] = {}
        self.where: dict[int, tuple[int, int]] = {}
        self.cash = [0] * n_agents
        self.pos = [0] * n_agents
        self.n_agents = n_agents

    # -- the rule
    def bad(self, kind: str, side=None, px=None, qty=None, oid=None, agent=None) -> str | None:
        """Why a message is invalid (None when valid)."""
        if agent is not None and (_as_int(agent) is None or not -1 <= _as_int(agent) < self.n_agents):
            return "agent"
        if kind in ("limit", "market") and side not in (1, -1) or isinstance(side, bool):
            return "side"
        if kind in ("limit", "market", "modify"):
            q = _as_int(qty)
            if q is None or not 1 <= q <= MAX_QTY:
                return "size"
        if kind == "cancel":
            q = _as_int(qty)
            if q is None or not 0 <= q <= MAX_QTY:
                return "size"
        if kind in ("cancel", "modify") and _as_int(oid) is None:
            return "id"
        if kind == "limit" or (kind == "modify" and _as_int(oid) in self.where):
            p = _as_int(px)
            if p is None or not self.lo <= p <= self.hi:
                return "price"
        if kind == "modify" and _as_int(px) is None:
            return "price"
        return None

    # -- book
    def _side(self, side: int) -> dict:
        return self.bids if side > 0 else self.asks

    def best(self, side: int):
        book = self._side(side)
        if not book:
            return None
        return max(book) if side > 0 else min(book)

    def level(self, side: int, px: int) -> list:
        return [tuple(o) for o in self._side(side).get(px, ())]

    def _match(self, agent: int, side: int, qty: int, limit_px):
        """Fills of an incoming order against the opposite side: [(maker id, price, size, maker agent)]."""
        fills = []
        opp = self._side(-side)
        while qty > 0 and opp:
            px = min(opp) if side > 0 else max(opp)
            if limit_px is not None and (px > limit_px if side > 0 else px < limit_px):
                break
            q = opp[px]
            while qty > 0 and q:
                o = q[0]
                n = min(qty, o[1])
                fills.append((o[0], px, n, o[2]))
                sgn = 1 if side > 0 else -1
                self.cash[agent] -= sgn * px * n
                self.pos[agent] += sgn * n
                self.cash[o[2]] += sgn * px * n
                self.pos[o[2]] -= sgn * n
                o[1] -= n
                qty -= n
                if o[1] == 0:
                    q.popleft()
                    del self.where[o[0]]
            if not q:
                del opp[px]
        return fills, qty

    def _rest(self, oid: int, agent: int, side: int, px: int, qty: int) -> None:
        self._side(side).setdefault(px, deque()).append([oid, qty, agent])
        self.where[oid] = (side, px)

    def limit(self, agent, side, px, qty):
        """(remaining size that rests, fills); the caller rests it under the engine's id."""
        return self._match(agent, side, qty, px)[::-1]

    def market(self, agent, side, qty):
        fills, rem = self._match(agent, side, qty, None)
        return qty - rem, fills

    def _remove(self, oid: int):
        side, px = self.where.pop(oid)
        q = self._side(side)[px]
        for j, o in enumerate(q):
            if o[0] == oid:
                del q[j]
                break
        if not q:
            del self._side(side)[px]
        return side, px, o

    def cancel(self, oid: int, qty: int) -> int:
        if oid not in self.where:
            return 0
        side, px = self.where[oid]
        o = next(o for o in self._side(side)[px] if o[0] == oid)
        if qty <= 0 or qty >= o[1]:
            self._remove(oid)
            return o[1]
        o[1] -= qty
        return qty

    def modify(self, oid: int, px: int, qty: int):
        """(rests afterwards, fills); None when the order is unknown or gone."""
        if oid not in self.where:
            return None
        side, old_px = self.where[oid]
        o = next(o for o in self._side(side)[old_px] if o[0] == oid)
        if px == old_px and qty <= o[1]:
            o[1] = qty
            return True, []
        self._remove(oid)
        fills, rem = self._match(o[2], side, qty, px)
        if rem > 0:
            self._rest(oid, o[2], side, px, rem)
        return rem > 0, fills

    def levels(self, side: int) -> list[tuple[int, int]]:
        book = self._side(side)
        return [(p, sum(o[1] for o in book[p])) for p in sorted(book, reverse=side > 0)]


@dataclass
class StressReport:
    messages: int = 0
    by_kind: dict = field(default_factory=dict)
    rejected: dict = field(default_factory=dict)  # bad messages refused, by reason
    trades: int = 0
    shares_traded: int = 0
    max_resting: int = 0
    full_checks: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        kinds = ", ".join(f"{k} {v:,}" for k, v in sorted(self.by_kind.items()))
        bad = ", ".join(f"{k} {v:,}" for k, v in sorted(self.rejected.items()))
        return (f"{self.messages:,} messages ({kinds}) in {self.seconds:.1f} s: every invariant held after every "
                f"message; {sum(self.rejected.values()):,} bad messages refused and changed nothing ({bad}); "
                f"{self.trades:,} trades, {self.shares_traded:,} shares; up to {self.max_resting:,} resting orders; "
                f"{self.full_checks:,} full-book comparisons")


_BAD = ("off-grid price", "fractional size", "zero size", "negative size", "size above MAX_QTY", "size 2**62",
        "price 2**70", "price below band", "price above band", "side 0", "market fractional size",
        "market size 0", "cancel id 2**64", "cancel fractional size", "modify off-grid price",
        "modify fractional size", "modify size 0", "numpy off-grid price", "bool side")


def run_stress(n_messages: int, seed: int, n_agents: int = 8, full_every: int = 1000, progress: bool = False,
               bad_share: float = 0.05) -> StressReport:
    """Drive the engine (through :class:`~multiexec.lob.engine.Exchange`) and a :class:`ReferenceBook` with
    ``n_messages`` random messages; raise :class:`StressFailure` at the first invariant that fails."""
    for name, v in (("messages", n_messages), ("seed", seed), ("n_agents", n_agents), ("full_every", full_every)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise MultiexecError(f"{name} must be an integer, got {v!r}")
    if n_messages < 1:
        raise MultiexecError(f"messages must be at least 1, got {n_messages}")
    if seed < 0:
        raise MultiexecError(f"seed must be >= 0, got {seed}")
    if not 1 <= n_agents <= 1000 or full_every < 1:
        raise MultiexecError("n_agents must be in [1, 1000] and full_every >= 1")
    if not 0.0 <= bad_share <= 1.0:
        raise MultiexecError(f"bad_share must be in [0, 1], got {bad_share}")
    rng = np.random.default_rng(seed)
    base, n_ticks = 1000, 1 << 10
    lo, hi = base, base + n_ticks - 1
    mid = base + n_ticks // 2
    ex = E.Exchange(1, n_agents, [base], n_ticks=n_ticks)
    ref = ReferenceBook(n_agents, lo, hi)
    rep = StressReport()
    live: list[int] = []  # resting ids (engine ids), for picking cancel / modify targets
    gone: deque = deque(maxlen=64)  # recently removed ids: stale cancels and modifies
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=n_messages, unit="msg", unit_scale=True, desc="stress", mininterval=0.5)
    t_start = time.perf_counter()
    st_keys = (E.M_NOL, E.M_NTR, E.M_NREST, E.M_NFREE)

    def fail(i, what, msg):
        raise StressFailure(f"message {i} ({what}): {msg}")

    def check_level(i, what, side, px):
        k = 0 if side > 0 else 1
        st = ex.st
        idx = px - base
        ids, qs, ags = E.l3_level(st, 0, k, px)
        tot = int(st.lvl[0, k, idx, E.L_QTY])
        got = list(zip(ids.tolist(), qs.tolist(), ags.tolist()))
        want = ref.level(side, px)
        if got != want:
            fail(i, what, f"{'bid' if side > 0 else 'ask'} level {px}: engine queue {got[:5]} reference {want[:5]}")
        if tot != sum(qs.tolist()):
            fail(i, what, f"level {px} total {tot} != sum of its orders {sum(qs.tolist())}")

    def full_check(i, what):
        for side, name in ((1, "bid"), (-1, "ask")):
            l2 = ex.l2(0, n_ticks)
            px, sz = l2[f"{name}_px"], l2[f"{name}_sz"]
            got = [(int(p), int(s)) for p, s in zip(px, sz) if p >= 0]
            if got != ref.levels(side):
                fail(i, what, f"{name} side differs: engine {got[:5]} reference {ref.levels(side)[:5]}")
            for p, _ in got:
                check_level(i, what, side, p)
        if ex.n_resting != len(ref.where):
            fail(i, what, f"{ex.n_resting} resting orders in the engine, {len(ref.where)} in the reference")
        rep.full_checks += 1

    def pick(stale_share=0.1):
        if (gone and rng.random() < stale_share) or not live:
            return gone[int(rng.integers(len(gone)))] if gone else int(rng.integers(1, 1 << 40))
        return live[int(rng.integers(len(live)))]

    chunk = 8192
    for i in range(n_messages):
        j = i % chunk
        if j == 0:  # random numbers drawn in blocks (a scalar draw costs about a microsecond)
            U, AG, SD, BADK = rng.random(chunk), rng.integers(0, n_agents, chunk), rng.random(chunk), \
                rng.integers(0, len(_BAD), chunk)
            Q, BIG, OFF, PAS = rng.integers(1, 60, chunk), rng.random(chunk), rng.integers(-25, 26, chunk), \
                rng.integers(0, 6, chunk)
            CQ = rng.integers(0, 30, chunk)
        t = i
        u = U[j]
        agent = int(AG[j])
        side = 1 if SD[j] < 0.5 else -1
        bad_kind = _BAD[int(BADK[j])] if u < bad_share else None
        q = int(Q[j]) if BIG[j] < 0.999 else MAX_QTY
        # limit prices around the mid, a little more often on the passive side
        px = mid + int(OFF[j]) - side * int(PAS[j])
        kind = "limit" if u < 0.50 else "market" if u < 0.58 else "cancel" if u < 0.80 else "modify"
        args = {"side": side, "px": px, "qty": q, "agent": agent}
        if bad_kind is not None:
            kind, args = _bad_message(bad_kind, args, pick, base, n_ticks, rng)
        elif kind == "cancel":
            args = {"oid": pick(), "qty": int(CQ[j]), "agent": agent}
        elif kind == "modify":
            args = {"oid": pick(), "px": px, "qty": q, "agent": agent}
        what = _What(kind, args)
        rep.by_kind[kind] = rep.by_kind.get(kind, 0) + 1
        reason = ref.bad(kind, **args)
        st = ex.st
        before = None if reason is None else ([int(st.meta[k_]) for k_ in st_keys], ex.l1(0),
                                              st.agv[:, E.AG_CASH].tolist(), st.pos[:, 0].tolist())
        n_tr = int(st.meta[E.M_NTR])
        try:
            if kind == "limit":
                out = ex.limit(t, 0, args["agent"], args["side"], args["px"], args["qty"])
            elif kind == "market":
                out = ex.market(t, 0, args["agent"], args["side"], args["qty"])
            elif kind == "cancel":
                out = ex.cancel(t, args["oid"], args["qty"], args["agent"])
            else:
                out = ex.modify(t, args["oid"], args["px"], args["qty"], args["agent"])
            err = None
        except MultiexecError as e:
            err = str(e)
        if (err is None) != (reason is None):
            fail(i, what, f"engine {'accepted' if err is None else 'refused (' + err + ')'}, reference "
                          f"{'accepted' if reason is None else 'refused (' + reason + ')'}")
        touched: set = set()
        if err is not None:
            st = ex.st
            after = ([int(st.meta[k_]) for k_ in st_keys], ex.l1(0), st.agv[:, E.AG_CASH].tolist(),
                     st.pos[:, 0].tolist())
            if after != before:
                fail(i, what, f"a refused message changed the engine: {before} -> {after}")
            rep.rejected[reason] = rep.rejected.get(reason, 0) + 1
            if isinstance(args.get("px"), int) and lo <= args["px"] <= hi:
                touched.update({(1, args["px"]), (-1, args["px"])})
        else:
            a = args
            if kind == "limit":
                rem, fills = ref.limit(a["agent"], a["side"], a["px"], a["qty"])
                if (out >= 0) != (rem > 0):
                    fail(i, what, f"engine returned {out}, reference leaves {rem} shares to rest")
                if out >= 0:
                    ref._rest(out, a["agent"], a["side"], a["px"], rem)
                    live.append(out)
                touched.add((a["side"], a["px"]))
            elif kind == "market":
                done, fills = ref.market(a["agent"], a["side"], a["qty"])
                if out != done:
                    fail(i, what, f"engine executed {out}, reference {done}")
            elif kind == "cancel":
                oid = a["oid"]
                loc = ref.where.get(oid)
                c = ref.cancel(oid, a["qty"])
                fills = []
                if out != c:
                    fail(i, what, f"engine cancelled {out}, reference {c}")
                if loc is not None:
                    touched.add(loc)
            else:
                oid = a["oid"]
                loc = ref.where.get(oid)
                r = ref.modify(oid, a["px"], a["qty"])
                fills = [] if r is None else r[1]
                expect_rest = r is not None and r[0]
                if r is None and out != E.REJECTED:
                    fail(i, what, f"modify of an unknown id returned {out}")
                if r is not None and (out >= 0) != expect_rest:
                    fail(i, what, f"engine returned {out}, reference {'rests' if expect_rest else 'filled'}")
                if loc is not None:
                    touched.update({loc, (loc[0], a["px"])})
            st = ex.st
            n1 = int(st.meta[E.M_NTR])
            got = [(int(m), int(p), int(s), int(ma)) for m, p, s, ma in
                   st.trl[n_tr:n1][:, [E.TR_MAKER, E.TR_PX, E.TR_QTY, E.TR_MAKER_AGENT]]]
            if got != fills:
                fail(i, what, f"trades differ: engine {got[:4]} reference {fills[:4]}")
            for m, p, s, ma in fills:
                touched.add((-a.get("side", 0) if kind != "modify" else -(loc[0] if loc else 0), p))
                if m not in ref.where:
                    gone.append(m)
            rep.trades += len(fills)
            rep.shares_traded += sum(f[2] for f in fills)
            if kind in ("cancel", "modify") and a["oid"] not in ref.where and loc is not None:
                gone.append(a["oid"])
            if len(live) > 2 * len(ref.where) + 64:
                live[:] = [o for o in live if o in ref.where]
        # invariants after every message
        st = ex.st
        bb, bq, ba, aq = ex.l1(0)
        if bb >= 0 and ba >= 0 and bb >= ba:
            fail(i, what, f"book crossed or locked: bid {bb} >= ask {ba}")
        for side_, (p_, q_) in ((1, (bb, bq)), (-1, (ba, aq))):
            rb = ref.best(side_)
            want = (rb, sum(o[1] for o in ref._side(side_)[rb])) if rb is not None else (-1, 0)
            if (p_, q_) != want:
                fail(i, what, f"best {'bid' if side_ > 0 else 'ask'} engine {(p_, q_)} reference {want}")
        for side_, p_ in touched:
            if side_ != 0 and lo <= p_ <= hi:
                check_level(i, what, side_, p_)
        cash, pos = st.agv[:, E.AG_CASH].tolist(), st.pos[:, 0].tolist()
        if sum(cash) != 0 or sum(pos) != 0:
            fail(i, what, f"cash or shares not conserved: sum cash {sum(cash)}, sum shares {sum(pos)}")
        if cash != ref.cash or pos != ref.pos:
            fail(i, what, f"cash / positions differ: engine {cash} {pos} reference {ref.cash} {ref.pos}")
        rep.max_resting = max(rep.max_resting, len(ref.where))
        if (i + 1) % full_every == 0 or i == n_messages - 1:
            full_check(i, what)
        if bar is not None and (i + 1) % 5000 == 0:
            bar.update(5000)
    if bar is not None:
        bar.update(n_messages - bar.n)
        bar.close()
    rep.messages = n_messages
    rep.seconds = time.perf_counter() - t_start
    return rep


class _What:
    """A message's description, formatted only when a check fails."""

    __slots__ = ("kind", "args")

    def __init__(self, kind, args):
        self.kind, self.args = kind, args

    def __str__(self):
        return f"{self.kind} {self.args}"


def _bad_message(kind: str, args: dict, pick, base: int, n_ticks: int, rng) -> tuple[str, dict]:
    """One invalid message of the given kind (see :data:`_BAD`)."""
    a = dict(args)
    if kind == "off-grid price":
        return "limit", {**a, "px": a["px"] + 0.5}
    if kind == "numpy off-grid price":
        return "limit", {**a, "px": np.float64(a["px"]) + 0.25}
    if kind == "fractional size":
        return "limit", {**a, "qty": 1.5}
    if kind == "zero size":
        return "limit", {**a, "qty": 0}
    if kind == "negative size":
        return "limit", {**a, "qty": -int(rng.integers(1, 10))}
    if kind == "size above MAX_QTY":
        return "limit", {**a, "qty": MAX_QTY + 1}
    if kind == "size 2**62":
        return "limit", {**a, "qty": 2**62}
    if kind == "price 2**70":
        return "limit", {**a, "px": 2**70}
    if kind == "price below band":
        return "limit", {**a, "px": base - 1}
    if kind == "price above band":
        return "limit", {**a, "px": base + n_ticks}
    if kind == "side 0":
        return "limit", {**a, "side": 0}
    if kind == "bool side":
        return "market", {"side": True, "qty": a["qty"], "agent": a["agent"]}
    if kind == "market fractional size":
        return "market", {"side": a["side"], "qty": 1.5, "agent": a["agent"]}
    if kind == "market size 0":
        return "market", {"side": a["side"], "qty": 0, "agent": a["agent"]}
    if kind == "cancel id 2**64":
        return "cancel", {"oid": 2**64, "qty": 0, "agent": a["agent"]}
    if kind == "cancel fractional size":
        return "cancel", {"oid": pick(0.0), "qty": 2.5, "agent": a["agent"]}
    if kind == "modify off-grid price":
        return "modify", {"oid": pick(0.0), "px": a["px"] + 0.5, "qty": a["qty"], "agent": a["agent"]}
    if kind == "modify fractional size":
        return "modify", {"oid": pick(0.0), "px": a["px"], "qty": 0.5, "agent": a["agent"]}
    if kind == "modify size 0":
        return "modify", {"oid": pick(0.0), "px": a["px"], "qty": 0, "agent": a["agent"]}
    raise AssertionError(kind)
