"""Order generation invariants, order CSV round trip and errors."""

from __future__ import annotations

import numpy as np
import pytest
from multiexec.testing import write

from multiexec.data.daily import DailyBars
from multiexec.data.ordergen import OrderGenConfig, read_orders_csv, winners_losers_orders, write_orders_csv
from multiexec.data.synthetic import generate
from multiexec.errors import MultiexecError


@pytest.fixture(scope="module")
def market():
    bars, hist = generate(n_assets=15, n_days=12, history_days=10, seed=5)
    daily = DailyBars.concat(hist, DailyBars.from_minute(bars))
    return bars, daily


def test_invariants(market):
    bars, daily = market
    cfg = OrderGenConfig(top_k=4, lookback=3, capital=1e6, min_notional=1000, cash_fraction=0.3, warmup_days=5)
    orders = winners_losers_orders(daily, bars.dates, cfg, seed=1)
    assert len(orders) >= 10 and len({o.n for o in orders}) > 1  # n varies from day to day
    for o in orders:
        j = int(np.searchsorted(daily.dates, o.date))
        px = daily.close[j - 1, [daily.symbols.index(s) for s in o.symbols]]
        buy = np.sum(o.amount * px * (o.side == -1))
        sell = np.sum(o.amount * px * (o.side == 1))
        assert (o.amount > 0).all() and np.allclose(o.amount, np.round(o.amount))
        assert o.cash == pytest.approx(0.3 * buy)
        # self-financing rebalance at the previous close: buys and sells match up to whole shares,
        # dropped small changes and cash left over from rounding
        assert abs(buy - sell) < 0.02 * 1e6 + 4 * 1000
        # orders move the portfolio to the top-k winners of the trailing return
        ret = np.log(daily.close[j - 1] / daily.close[j - 1 - 3])
        winners = set(np.array(daily.symbols)[np.argsort(-ret)[:4]])
        assert all(s in winners for s, d in zip(o.symbols, o.side) if d == -1)
    again = winners_losers_orders(daily, bars.dates, cfg, seed=1)
    assert [(o.symbols, o.amount.tolist(), o.cash) for o in orders] == \
        [(o.symbols, o.amount.tolist(), o.cash) for o in again]


def test_min_notional_drops_small_changes(market):
    bars, daily = market
    loose = winners_losers_orders(daily, bars.dates, OrderGenConfig(top_k=4, min_notional=0), 0)
    tight = winners_losers_orders(daily, bars.dates, OrderGenConfig(top_k=4, min_notional=200_000), 0)
    assert sum(o.n for o in tight) < sum(o.n for o in loose)


def test_top_k_too_large(market):
    bars, daily = market
    with pytest.raises(MultiexecError, match="top_k"):
        winners_losers_orders(daily, bars.dates, OrderGenConfig(top_k=15), 0)


def test_csv_round_trip(market, tmp_path):
    bars, daily = market
    orders = winners_losers_orders(daily, bars.dates, OrderGenConfig(top_k=4), 0)
    p = tmp_path / "o.csv"
    write_orders_csv(orders, p)
    back = read_orders_csv(p, bars)
    assert len(back) == len(orders)
    for a, b in zip(orders, back):
        assert a.date == b.date and a.symbols == b.symbols and (a.side == b.side).all()
        np.testing.assert_array_equal(a.amount, b.amount)
        assert a.cash == b.cash


def _csv(bars, rows, header="date,symbol,side,amount,cash"):
    return header + "\n" + "\n".join(rows) + "\n"


@pytest.mark.parametrize("rows, match", [
    (["{d},SYN000,buy,100,5", "{d},NOPE,sell,10,5"], "line 3: unknown symbol 'NOPE'"),
    (["{d},SYN000,buy,0,5"], "line 2: amount must be a positive number"),
    (["{d},SYN000,buy,-3,5"], "line 2: amount must be a positive number"),
    (["{d},SYN000,hold,3,5"], "line 2: side must be 'buy' or 'sell'"),
    (["2001-01-01,SYN000,buy,3,5"], "line 2: date 2001-01-01 is not a trading day"),
    (["{d},SYN000,buy,3,5", "{d},SYN000,sell,3,5"], "line 3: duplicate order for SYN000"),
    (["{d},SYN000,buy,3,5", "{d},SYN001,sell,3,6"], "line 3: cash 6.0 differs"),
    (["{d},SYN000,buy,3,"], "no cash value for date"),
    (["{d},SYN000,buy,3,-1"], "line 2: cash must be >= 0"),
])
def test_csv_errors(market, tmp_path, rows, match):
    bars, _ = market
    d = str(bars.dates[0])
    p = write(tmp_path / "o.csv", _csv(bars, [r.format(d=d) for r in rows]))
    with pytest.raises(MultiexecError, match=match):
        read_orders_csv(p, bars)


def test_csv_cash_file(market, tmp_path):
    bars, _ = market
    d0, d1 = str(bars.dates[0]), str(bars.dates[1])
    p = write(tmp_path / "o.csv", _csv(bars, [f"{d0},SYN000,buy,3", f"{d1},SYN002,sell,4"],
                                       "date,symbol,side,amount"))
    with pytest.raises(MultiexecError, match="no cash given"):
        read_orders_csv(p, bars)
    c = write(tmp_path / "c.csv", f"date,cash\n{d0},100\n{d1},0\n")
    got = read_orders_csv(p, bars, c)
    assert [o.cash for o in got] == [100.0, 0.0] and got[1].side.tolist() == [1]
    bad = write(tmp_path / "c2.csv", f"date,cash\n{d0},100\n")
    with pytest.raises(MultiexecError, match=f"no cash for date {d1}"):
        read_orders_csv(p, bars, bad)
    with pytest.raises(MultiexecError, match="orders file not found"):
        read_orders_csv(tmp_path / "none.csv", bars)
    with pytest.raises(MultiexecError, match="expected date,symbol,side,amount"):
        read_orders_csv(write(tmp_path / "h.csv", "day,symbol,side,amount\n"), bars)


def test_damaged_orders_and_cash_files(market, tmp_path):
    bars, _ = market
    d0 = str(bars.dates[0])
    gz = tmp_path / "o.csv.gz"
    gz.write_bytes(b"\x1f\x8b\x08\x00not really gzip")
    with pytest.raises(MultiexecError, match=r"o.csv.gz: malformed or unreadable CSV"):
        read_orders_csv(gz, bars)
    with pytest.raises(MultiexecError, match=r"e.csv: empty file"):
        read_orders_csv(write(tmp_path / "e.csv", ""), bars)
    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(MultiexecError, match=r"dir.csv: is a folder"):
        read_orders_csv(tmp_path / "dir.csv", bars)
    p = write(tmp_path / "o.csv", f"date,symbol,side,amount\n{d0},SYN000,buy,3\n")
    with pytest.raises(MultiexecError, match=r"c.csv: malformed or unreadable CSV"):
        read_orders_csv(p, bars, write(tmp_path / "c.csv", 'date,cash\n"2018-01-02,1\n'))
