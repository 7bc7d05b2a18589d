"""Matching engine: unit cases and hypothesis property tests of the book invariants over random message streams."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numba.core import types

from multiexec.errors import MultiexecError
from multiexec.lob import engine as E
from multiexec.lob.engine import AG_CASH, FILLED, M_NOL, M_NTR, MAX_QTY, OL_OID, REJECTED, TR_PX, Exchange


def test_price_time_priority_partial_fills_and_cash():
    ex = Exchange(1, 4, [1000], n_ticks=1 << 12)
    a = ex.limit(0, 0, 0, 1, 1100, 10)
    b = ex.limit(1, 0, 1, 1, 1100, 5)
    ex.limit(2, 0, 1, 1, 1099, 5)
    assert ex.l1() == (1100, 15, -1, 0)
    assert ex.market(3, 0, 2, -1, 12) == 12
    tr = ex.trades()
    assert tr["maker"].tolist() == [a, b] and tr["qty"].tolist() == [10, 2] and (tr["side"] == -1).all()
    assert ex.l1() == (1100, 3, -1, 0)
    assert ex.st.agv[:, AG_CASH].tolist() == [-11000, -2200, 13200, 0] and ex.st.pos[:, 0].tolist() == [10, 2, -12, 0]
    # partial cancel keeps priority, full cancel removes, stale id is a no-op
    assert ex.cancel(4, b, 1) == 1 and ex.l1() == (1100, 2, -1, 0)
    assert ex.cancel(5, b) == 2 and ex.l1() == (1099, 5, -1, 0)
    assert ex.cancel(6, b) == 0
    # marketable limit walks the book, remainder rests
    ex.limit(7, 0, 3, -1, 1095, 8)
    assert ex.l1() == (-1, 0, 1095, 3)
    assert ex.limit(8, 0, 0, 1, 5000, 1) == FILLED
    with pytest.raises(MultiexecError, match="outside symbol 0's band"):
        ex.limit(9, 0, 0, 1, 1 << 20, 1)


def test_modify_keeps_priority_only_when_shrinking_in_place():
    ex = Exchange(1, 3, [0], n_ticks=1 << 10)
    a = ex.limit(0, 0, 0, -1, 500, 10)
    b = ex.limit(1, 0, 1, -1, 500, 10)
    ex.modify(2, a, 500, 4)  # shrink: stays first
    assert ex.l3(0, -1, 500)["order_id"].tolist() == [a, b]
    ex.modify(3, a, 500, 9)  # grow: goes to the back
    assert ex.l3(0, -1, 500)["order_id"].tolist() == [b, a]
    assert ex.modify(4, b, 400, 10) == b and ex.l1() == (-1, 0, 400, 10)
    c = ex.limit(5, 0, 2, 1, 300, 5)
    assert ex.modify(6, c, 450, 5) == FILLED  # a modify that crosses executes
    assert ex.l1() == (-1, 0, 400, 5)


def _state(ex):
    st = ex.st
    return (st.meta.tolist(), ex.l1(), ex.l2(0, 20)["bid_sz"].tolist(), ex.l2(0, 20)["ask_sz"].tolist(),
            st.agv.tolist(), st.pos.tolist())


BAD = [
    ("limit", (0, 0, 1, -1, 100.5, 5), "price 100.5 is not on the tick grid"),
    ("limit", (0, 0, 1, -1, np.float64(99.25), 5), "is not on the tick grid"),
    ("limit", (0, 0, 1, -1, 2**70, 5), "does not fit in int64"),
    ("limit", (0, 0, 1, -1, 1023 + 1, 5), "outside symbol 0's band"),
    ("limit", (0, 0, 1, 1, 100, 1.5), "size 1.5 is not a whole number of shares"),
    ("limit", (0, 0, 1, 1, 100, 0), r"size 0 is outside \[1, 1,000,000,000\]"),
    ("limit", (0, 0, 1, 1, 100, -3), "size -3 is outside"),
    ("limit", (0, 0, 1, 1, 100, 2**62), "size 4611686018427387904 is outside"),
    ("limit", (0, 0, 1, 1, 100, MAX_QTY + 1), "is outside"),
    ("limit", (0, 0, 1, 0, 100, 5), "side 0 is not"),
    ("limit", (0, 0, 1, True, 100, 5), "side True is not"),
    ("limit", (0, 1, 1, 1, 100, 5), "unknown symbol index 1"),
    ("limit", (0, 0, 7, 1, 100, 5), "unknown agent 7"),
    ("limit", ("now", 0, 1, 1, 100, 5), "time 'now' is not an integer"),
    ("market", (0, 0, 1, 1, 1.5), "size 1.5 is not a whole number"),
    ("market", (0, 0, 1, 1, 0), "size 0 is outside"),
    ("cancel", (0, 2**64), "order id 18446744073709551616 does not fit in int64"),
    ("cancel", (0, "A", 0), "order id 'A' is not an integer"),
    ("cancel", (0, None, 2.5), "order id None"),
    ("modify", (0, 2**64, 100, 5), "does not fit in int64"),
]


@pytest.mark.parametrize("kind,args,match", BAD)
def test_bad_messages_raise_one_line_and_change_nothing(kind, args, match):
    ex = Exchange(1, 2, [0], n_ticks=1 << 10)
    bid = ex.limit(0, 0, 0, 1, 100, 10)
    ex.limit(1, 0, 0, -1, 102, 10)
    before = _state(ex)
    with pytest.raises(MultiexecError, match=match) as e:
        getattr(ex, kind)(*args)
    assert "\n" not in str(e.value)
    assert _state(ex) == before  # not even the message log
    # bad arguments for an existing order: the order keeps its price, size and place
    for px, q, m in ((100.5, 5, "tick grid"), (101, 0.5, "whole number"), (101, 0, "outside"), (5000, 5, "band")):
        with pytest.raises(MultiexecError, match=m):
            ex.modify(2, bid, px, q)
    with pytest.raises(MultiexecError, match="whole number"):
        ex.cancel(2, bid, 2.5)
    assert _state(ex) == before


def test_off_grid_sell_cannot_lock_the_book_and_sizes_cannot_overflow():
    # the smallest case: a bid of 10 at 100, then a sell of 5 at 100.5 left bid 100 = ask 100, no trade
    ex = Exchange(1, 2, [0], n_ticks=1 << 10)
    ex.limit(0, 0, 0, 1, 100, 10)
    with pytest.raises(MultiexecError):
        ex.limit(1, 0, 1, -1, 100.5, 5)
    assert ex.l1() == (100, 10, -1, 0)
    # an integral float is the integer (documented): it trades like 100
    assert ex.limit(2, 0, 1, -1, 100.0, 4) == FILLED and ex.l1() == (100, 6, -1, 0)
    # a market buy of 1.5 used to log a 1-share trade while the book lost 2 shares
    with pytest.raises(MultiexecError):
        ex.market(3, 0, 1, -1, 1.5)
    assert ex.l1() == (100, 6, -1, 0) and len(ex.trades()) == 1
    # the largest sizes add up without wrapping, and cash stays exact
    big = Exchange(1, 3, [0], n_ticks=1 << 10)
    for t in range(4):
        big.limit(t, 0, 0, 1, 1000, MAX_QTY)
    assert big.l1() == (1000, 4 * MAX_QTY, -1, 0)
    assert big.market(5, 0, 1, -1, MAX_QTY) == MAX_QTY
    assert big.st.agv[:2, AG_CASH].tolist() == [-1000 * MAX_QTY, 1000 * MAX_QTY]


def test_compiled_callers_get_a_reject_code_and_nothing_changes():
    ex = Exchange(1, 2, [0], n_ticks=1 << 10)
    a = ex.limit(0, 0, 0, 1, 100, 10)
    book = _state(ex)[1:]
    st = ex.st
    n = int(st.meta[M_NOL])
    # the compiled functions themselves (as the kernel and the world agent call them): int64 arguments
    assert E.limit_order(st, 1, 0, 0, -1, 100, MAX_QTY + 1) == REJECTED
    assert E.limit_order(st, 1, 0, 0, -1, 100, 0) == REJECTED
    assert E.limit_order(st, 1, 0, 0, 3, 100, 5) == REJECTED
    assert E.limit_order(st, 1, 0, 0, -1, -7, 5) == REJECTED
    assert E.market_order(st, 1, 0, 1, -1, MAX_QTY + 1) == 0
    assert E.modify_order(st, 1, a, 100, MAX_QTY + 1, 0, -1, 0) == REJECTED
    assert E.modify_order(st, 1, a, 1 << 12, 5, 0, -1, 0) == REJECTED
    assert st.oll[n: int(st.meta[M_NOL]), OL_OID].tolist() == [REJECTED] * 7  # logged with the reject code
    assert _state(ex)[1:] == book and ex.order(a)["qty"] == 10


def test_front_end_passes_every_argument_to_the_compiled_functions():
    """Omitted default arguments made numba's dispatch cost ~0.35 ms per cancel / modify (issue 13): the
    front-end must call with every argument, so no signature with an omitted argument is ever compiled."""
    funcs = (E.cancel_order, E.modify_order, E.limit_order, E.market_order)
    before = [set(f.signatures) for f in funcs]
    ex = Exchange(1, 2, [0], n_ticks=1 << 10)
    a = ex.limit(0, 0, 0, 1, 100, 10)
    ex.modify(1, a, 101, 8)
    ex.cancel(2, a, 1)
    ex.cancel(3, a)
    ex.market(4, 0, 1, 1, 1)
    for f, old in zip(funcs, before):
        for sig in set(f.signatures) - old:
            assert not any(isinstance(t, types.Omitted) for t in sig), (f, sig)
    assert any(len(sig) == 7 and not any(isinstance(t, types.Omitted) for t in sig)
               for sig in E.cancel_order.signatures)


def test_l2_levels_and_empty_side():
    ex = Exchange(1, 1, [0], n_ticks=1 << 10)
    for px, q in ((100, 1), (90, 2), (95, 3)):
        ex.limit(0, 0, 0, 1, px, q)
    l2 = ex.l2(0, 4)
    assert l2["bid_px"].tolist() == [100, 95, 90, -1] and l2["bid_sz"].tolist() == [1, 3, 2, 0]
    assert l2["ask_px"].tolist() == [-1] * 4


def test_best_price_search_across_bitset_words():
    ex = Exchange(1, 1, [0], n_ticks=1 << 18)
    asks = [131_000, 131_064, 135_000, 200_000, 262_000, 262_143]
    bids = [0, 3, 64, 4095, 4096, 70_000]
    for p in asks:
        ex.limit(0, 0, 0, -1, p, 1)
    for p in bids:
        ex.limit(0, 0, 0, 1, p, 1)
    l2 = ex.l2(0, 6)
    assert l2["ask_px"].tolist() == asks and l2["bid_px"].tolist() == bids[::-1]
    for i in range(len(asks) - 1):
        ex.market(1, 0, 0, 1, 1)
        ex.market(1, 0, 0, -1, 1)
        assert ex.l1()[2] == asks[i + 1] and ex.l1()[0] == bids[::-1][i + 1]


msg = st.tuples(
    st.sampled_from(["limit", "limit", "limit", "market", "cancel", "modify"]),
    st.integers(0, 3),  # agent
    st.sampled_from([1, -1]),
    st.integers(90, 110),  # price
    st.integers(1, 30),  # size
    st.integers(0, 10_000),  # which order to cancel / modify
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(msg, min_size=1, max_size=400))
def test_invariants_random_streams(msgs):
    ex = Exchange(1, 4, [0], n_ticks=1 << 10)
    live: list[int] = []
    # a reference model: list of resting orders [id, side, px, qty, seq]
    ref: dict[int, list] = {}
    seq = 0
    for t, (kind, agent, side, px, q, pick) in enumerate(msgs):
        n_tr = len(ex.trades())
        if kind == "limit":
            oid = ex.limit(t, 0, agent, side, px, q)
            new_trades = ex.trades().iloc[n_tr:]
            _check_fills(new_trades, ref, side, px)
            if oid >= 0:
                live.append(oid)
                seq += 1
                ref[oid] = [side, px, q - int(new_trades["qty"].sum()), seq]
        elif kind == "market":
            ex.market(t, 0, agent, side, q)
            _check_fills(ex.trades().iloc[n_tr:], ref, side, None)
        elif kind == "cancel" and live:
            oid = live[pick % len(live)]
            c = ex.cancel(t, oid, q if pick % 2 else 0)
            if oid in ref:
                ref[oid][2] -= c
        elif kind == "modify" and live:
            oid = live[pick % len(live)]
            if oid in ref:
                old = ref[oid]
                r = ex.modify(t, oid, px, q)
                new_trades = ex.trades().iloc[n_tr:]
                if px == old[1] and q <= old[2]:
                    old[2] = q
                else:
                    _check_fills(new_trades, ref, old[0], px)
                    seq += 1
                    ref[oid] = [old[0], px, q - int(new_trades["qty"].sum()), seq]
                if r < 0:
                    ref.pop(oid, None)
        ref = {k: v for k, v in ref.items() if v[2] > 0}
        # never crossed after matching
        bb, bq, ba, aq = ex.l1()
        assert bb < 0 or ba < 0 or bb < ba
        # level totals equal the sum of the resting orders, and agree with the reference model
        for s_, k in ((1, 0), (-1, 1)):
            l2 = ex.l2(0, 30)
            px_, sz_ = (l2["bid_px"], l2["bid_sz"]) if s_ > 0 else (l2["ask_px"], l2["ask_sz"])
            for p_, z_ in zip(px_, sz_):
                if p_ < 0:
                    continue
                l3 = ex.l3(0, s_, int(p_))
                assert l3["size"].sum() == z_
                expect = sorted((v[3], k_) for k_, v in ref.items() if v[0] == s_ and v[1] == p_)
                assert l3["order_id"].tolist() == [k_ for _, k_ in expect]
        assert sum(v[2] for v in ref.values()) == sum(ex.l2(0, 30)["bid_sz"]) + sum(ex.l2(0, 30)["ask_sz"])
        # shares and cash conserved
        assert ex.st.pos.sum() == 0 and ex.st.agv[:, AG_CASH].sum() == 0
        tr = ex.trades()
        assert (ex.st.agv[:, AG_CASH] == _cash_from(tr, 4)).all()
        ref_live = set(ref)
        assert ex.n_resting == len(ref_live)


def _check_fills(new_trades: pd.DataFrame, ref: dict, side: int, limit_px: int | None) -> None:
    """Every fill respects price-time priority against the reference book."""
    book = {k: list(v) for k, v in ref.items() if v[0] == -side}
    for _, tr in new_trades.iterrows():
        assert tr["side"] == side
        if limit_px is not None:
            assert (tr["px"] <= limit_px) if side > 0 else (tr["px"] >= limit_px)
        best = min(book.items(), key=lambda kv: ((kv[1][1] if side > 0 else -kv[1][1]), kv[1][3]))
        assert tr["maker"] == best[0] and tr["px"] == best[1][1]
        best[1][2] -= tr["qty"]
        ref[best[0]][2] -= tr["qty"]
        if best[1][2] == 0:
            book.pop(best[0])


def _cash_from(tr: pd.DataFrame, n_agents: int) -> np.ndarray:
    cash = np.zeros(n_agents, np.int64)
    for _, r in tr.iterrows():
        v = r["px"] * r["qty"]
        buyer, seller = (r["taker_agent"], r["maker_agent"]) if r["side"] > 0 else (r["maker_agent"], r["taker_agent"])
        cash[buyer] -= v
        cash[seller] += v
    return cash


@settings(max_examples=8, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_invariants_long_streams(seed):
    """Thousands of random messages (two symbols): never crossed, level totals equal their orders, cash and
    shares conserved, every trade at or better than the taker's limit."""
    rng = np.random.default_rng(seed)
    ex = Exchange(2, 6, [0, 0], n_ticks=1 << 10)
    live: list[int] = []
    for t in range(3000):
        u = rng.random()
        sym, agent, side = int(rng.integers(0, 2)), int(rng.integers(0, 6)), int(rng.choice([-1, 1]))
        if u < 0.55:
            px = int(rng.integers(480, 521))
            n0 = int(ex.st.meta[M_NTR])
            oid = ex.limit(t, sym, agent, side, px, int(rng.integers(1, 50)))
            tpx = ex.st.trl[n0: int(ex.st.meta[M_NTR]), TR_PX]
            assert ((tpx <= px) if side > 0 else (tpx >= px)).all()
            if oid >= 0:
                live.append(oid)
        elif u < 0.65:
            ex.market(t, sym, agent, side, int(rng.integers(1, 80)))
        elif u < 0.85 and live:
            ex.cancel(t, live.pop(int(rng.integers(0, len(live)))), int(rng.integers(0, 20)))
        elif live:
            ex.modify(t, live[int(rng.integers(0, len(live)))], int(rng.integers(480, 521)), int(rng.integers(1, 50)))
        if t % 250 == 0 or t == 2999:
            for s in (0, 1):
                bb, _, ba, _ = ex.l1(s)
                assert bb < 0 or ba < 0 or bb < ba
                l2 = ex.l2(s, 60)
                for k, side_ in (("bid", 1), ("ask", -1)):
                    for p_, z_ in zip(l2[f"{k}_px"], l2[f"{k}_sz"]):
                        if p_ >= 0:
                            assert ex.l3(s, side_, int(p_))["size"].sum() == z_ > 0
            assert ex.st.pos.sum() == 0 and ex.st.agv[:, AG_CASH].sum() == 0
