"""The matching engine against an independent pure-Python reference book (:mod:`multiexec.lob.stress`): a short
random stream here (20,000 messages, 5% bad); ``multiexec lob stress --messages 1000000`` runs the long one."""

import pytest

from multiexec.errors import MultiexecError
from multiexec.lob import engine as E
from multiexec.lob.stress import ReferenceBook, StressFailure, run_stress


def test_engine_equals_reference_over_20000_messages():
    rep = run_stress(20_000, seed=0, n_agents=6, full_every=500)
    assert rep.messages == 20_000 and rep.full_checks == 40
    assert set(rep.by_kind) == {"limit", "market", "cancel", "modify"}
    # bad messages of every reason were sent and refused; trades happened
    assert set(rep.rejected) >= {"price", "size", "side", "id"} and sum(rep.rejected.values()) > 500
    assert rep.trades > 5_000 and rep.max_resting > 20


def test_same_seed_same_stream():
    a, b = run_stress(3_000, seed=7), run_stress(3_000, seed=7)
    assert (a.by_kind, a.rejected, a.trades, a.shares_traded) == (b.by_kind, b.rejected, b.trades, b.shares_traded)
    assert run_stress(3_000, seed=8).shares_traded != a.shares_traded


def test_the_stream_catches_an_engine_that_lets_bad_sizes_through(monkeypatch):
    # the front-end's old behaviour for sizes: pass them on unchecked (the compiled engine then rejects zero and
    # negative sizes quietly with a code instead of an error): the reference stream must notice
    monkeypatch.setattr(E.Exchange, "_qty", staticmethod(lambda qty, allow_zero=False: int(qty)))
    with pytest.raises(StressFailure, match="engine accepted, reference refused"):
        run_stress(5_000, seed=0, bad_share=0.3)


def test_the_stream_catches_a_wrong_fill(monkeypatch):
    # an engine that gives the maker one share less than the taker takes breaks conservation at the first trade
    real_market = E.Exchange.market

    def market(self, t, sym, agent, side, qty):
        out = real_market(self, t, sym, agent, side, qty)
        self.st.pos[0, 0] += 1 if out else 0
        return out

    monkeypatch.setattr(E.Exchange, "market", market)
    with pytest.raises(StressFailure, match="not conserved|differ"):
        run_stress(3_000, seed=0)


def test_reference_book_smallest_cases():
    ref = ReferenceBook(2, 0, 1023)
    rem, fills = ref.limit(0, 1, 100, 10)
    ref._rest(1, 0, 1, 100, rem)
    assert ref.bad("limit", side=-1, px=100.5, qty=5, agent=1) == "price"
    assert ref.bad("market", side=1, qty=1.5, agent=1) == "size"
    assert ref.bad("limit", side=-1, px=2**70, qty=5, agent=1) == "price"
    assert ref.bad("cancel", oid=2**64, qty=0, agent=1) == "id"
    assert ref.bad("limit", side=1, px=100, qty=2**62, agent=1) == "size"
    assert ref.bad("limit", side=1, px=100.0, qty=5, agent=1) is None
    done, fills = ref.market(1, -1, 4)
    assert done == 4 and fills == [(1, 100, 4, 0)] and ref.cash == [-400, 400] and ref.pos == [4, -4]
    assert ref.levels(1) == [(100, 6)]


def test_bad_arguments():
    for kwargs, match in (({"n_messages": 0, "seed": 0}, "at least 1"), ({"n_messages": 10, "seed": -1}, "seed"),
                          ({"n_messages": 10, "seed": 0, "bad_share": 2.0}, "bad_share")):
        with pytest.raises(MultiexecError, match=match):
            run_stress(**kwargs)
