"""The LOBSTER reader: layouts, validation with clear errors, sample discovery, conversion to run tables."""

import numpy as np
import pandas as pd
import pytest

from multiexec.errors import MultiexecError
from multiexec.lob.lobster import (
    EMPTY_ASK,
    book_columns,
    lobster_samples,
    lobster_tables,
    lobster_to_run,
    read_lobster,
)
from multiexec.testing import LOBSTER_BOOK, LOBSTER_MESSAGES, shared_or_skip, write_pair


def test_reads_messages_book_and_name(tmp_path):
    d = read_lobster(*write_pair(tmp_path))
    assert d.levels == 2 and len(d) == 5
    assert list(d.messages.columns) == ["time", "type", "order_id", "size", "price", "direction"]
    assert d.messages["time"].iloc[0] == pytest.approx(34200.000000001, abs=1e-12)
    assert d.messages["type"].tolist() == [1, 1, 4, 4, 3]
    assert d.messages["direction"].tolist() == [1, -1, -1, -1, 1]
    assert d.messages["price"].dtype == np.int64 and d.messages["price"].iloc[1] == 1010000
    assert list(d.book.columns) == book_columns(2)
    assert d.book["ask_price_2"].iloc[0] == EMPTY_ASK and d.book["bid_size_2"].iloc[4] == 0
    assert d.symbol == "TEST" and d.date == np.datetime64("2020-01-02")


def test_level1only_layout_is_one_level(tmp_path):
    book1 = [",".join(r.split(",")[:4]) for r in LOBSTER_BOOK]
    d = read_lobster(*write_pair(tmp_path, book=book1, book_name="X_2020-01-02_orderbook_50_level1only.csv"))
    assert d.levels == 1 and list(d.book.columns) == book_columns(1)


def _replace(rows, i, new):
    rows = list(rows)
    rows[i] = new
    return rows


BAD_MESSAGES = [
    (_replace(LOBSTER_MESSAGES, 1, "34200.5,1,12,50,1010000,-1,7"), "row 2 has 7 columns"),
    (_replace(LOBSTER_MESSAGES, 2, "34260.25,4,12,,1010000,-1"), "row 3 has a missing value"),
    (_replace(LOBSTER_MESSAGES, 2, "34260.25,4,12,abc,1010000,-1"), "row 3, column 4: 'abc'"),
    (_replace(LOBSTER_MESSAGES, 0, "time,type,id,size,price,dir"), "no header row"),
    (_replace(LOBSTER_MESSAGES, 3, "34260.25,8,13,5,1010000,-1"), "row 4: type 8"),
    (_replace(LOBSTER_MESSAGES, 3, "34260.25,4,13,5,1010000,0"), "row 4: direction 0"),
    (_replace(LOBSTER_MESSAGES, 3, "34200.1,4,13,5,1010000,-1"), "row 4: time 34200.1 is before"),
    (_replace(LOBSTER_MESSAGES, 3, "34260.25,4,13,5.5,1010000,-1"), "row 4, column size"),
    (_replace(LOBSTER_MESSAGES, 3, "34260.25,4,13,0,1010000,-1"), "row 4: size 0 is not positive"),
    (_replace(LOBSTER_MESSAGES, 3, "34260.25,4,13,5,-3,-1"), "row 4: price -3 is not positive"),
    ([r.rsplit(",", 1)[0] for r in LOBSTER_MESSAGES], "5 columns, expected 6"),
    (LOBSTER_MESSAGES[:4], "not row-aligned"),
]


@pytest.mark.parametrize("messages,match", BAD_MESSAGES)
def test_bad_message_file_names_file_and_row(tmp_path, messages, match):
    m, b = write_pair(tmp_path, messages=messages)
    with pytest.raises(MultiexecError, match=match) as e:
        read_lobster(m, b)
    assert m.name in str(e.value)


BAD_BOOKS = [
    ([",".join(r.split(",")[:6]) for r in LOBSTER_BOOK], "6 columns, expected a multiple of 4", None),
    (_replace(LOBSTER_BOOK, 2, "1010000,60,1000000,100,1020000,0,990000,10"),
     "row 3: ask_price_2 = 1020000 with ask_size_2 = 0", None),
    (_replace(LOBSTER_BOOK, 2, f"1010000,60,1000000,100,{EMPTY_ASK},4,990000,10"), "row 3: ask_price_2", None),
    (_replace(LOBSTER_BOOK, 1, "1010000,80,1000000,-1,1020000,5,990000,10"), "row 2: bid_size_1 = -1 is negative", None),
    (_replace(LOBSTER_BOOK, 1, "1010000,80,1000000,1.5,1020000,5,990000,10"), "row 2, column bid_size_1", None),
    (LOBSTER_BOOK, "announces 10 level", "TEST_2020-01-02_orderbook_10.csv"),
    ([], "is empty", None),
]


@pytest.mark.parametrize("book,match,book_name", BAD_BOOKS)
def test_bad_book_file_names_file_and_row(tmp_path, book, match, book_name):
    m, b = write_pair(tmp_path, book=book, book_name=book_name)
    if not book:
        b.write_text("")
    with pytest.raises(MultiexecError, match=match) as e:
        read_lobster(m, b)
    assert b.name in str(e.value)


def test_missing_file(tmp_path):
    m, _ = write_pair(tmp_path)
    with pytest.raises(MultiexecError, match="not found"):
        read_lobster(m, tmp_path / "nope.csv")


def test_samples_pair_by_name(tmp_path):
    write_pair(tmp_path / "a", msg_name="S_2020-01-02_1_2_message_5.csv", book_name="S_2020-01-02_1_2_orderbook_5.csv")
    write_pair(tmp_path / "b", msg_name="S_2020-01-02_message_50_first9.csv",
               book_name="S_2020-01-02_orderbook_50_first9.csv")
    write_pair(tmp_path / "c", msg_name="S_2020-01-02_1_2_message_50.csv",
               book_name="S_2020-01-02_1_2_orderbook_50_level1only.csv")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "S_2020-01-02_message_5.csv").write_text("")  # no book: not a sample
    pairs = lobster_samples(tmp_path)
    assert [(m.parent.name, b.name) for m, b in pairs] == [
        ("a", "S_2020-01-02_1_2_orderbook_5.csv"),
        ("b", "S_2020-01-02_orderbook_50_first9.csv"),
        ("c", "S_2020-01-02_1_2_orderbook_50_level1only.csv"),
    ]
    assert lobster_samples(tmp_path / "absent") == []


def test_tables_in_run_format(tmp_path):
    d = read_lobster(*write_pair(tmp_path))
    t = lobster_tables(d)
    l2 = t["l2"]
    assert list(l2.columns) == ["time_ns", "symbol"] + [f"{s}_{k}_{i}" for s in ("bid", "ask") for k in ("px", "sz")
                                                        for i in (1, 2)]
    assert l2["time_ns"].tolist()[:2] == [34_200_000_000_001, 34_200_500_000_000]
    assert l2["ask_px_1"].iloc[0] == 101.0 and np.isnan(l2["ask_px_2"].iloc[0]) and l2["ask_sz_2"].iloc[0] == 0
    assert np.isnan(l2["bid_px_2"].iloc[4]) and l2["bid_sz_2"].dtype == np.int64

    tr = t["trades"]
    assert tr["size"].tolist() == [20, 5] and tr["side"].tolist() == [1, 1] and tr["price"].tolist() == [101.0, 101.0]

    o = t["orders"]
    assert list(o.columns) == ["time_ns", "symbol", "agent_id", "agent_type", "msg", "side", "price", "size"]
    assert o["msg"].tolist() == ["limit", "limit", "market", "cancel"]  # the two executions: one market order
    assert o["size"].tolist() == [100, 50, 25, 100] and o["side"].tolist() == [1, -1, 1, 1]
    assert np.isnan(o["price"].iloc[2])

    bars = t["bars"]  # 09:30, 09:31 (the trades), 09:32 (no trade: close carried, volume 0)
    assert bars["timestamp"].tolist() == list(pd.to_datetime(["2020-01-02 09:30", "2020-01-02 09:31",
                                                              "2020-01-02 09:32"]))
    assert bars["volume"].tolist() == [0, 25, 0]
    assert bars["close"].tolist() == [101.0, 101.0, 101.0]

    run = lobster_to_run(d, tmp_path / "run")
    assert sorted(p.name for p in run.iterdir()) == ["bars.parquet", "l2.parquet", "orders.parquet", "trades.parquet"]
    assert pd.read_parquet(run / "bars.parquet")["timestamp"].dtype == "datetime64[ns]"


@pytest.mark.realdata
def test_real_samples_layouts_agree():
    shared_or_skip("lobster_aapl_2012-06-21")
    data = {b.name: read_lobster(m, b) for m, b in lobster_samples()}
    assert len(data) == 3
    by_levels = {d.levels: d for d in data.values()}
    hour, deep, l10 = by_levels[1], by_levels[50], by_levels[10]
    assert (len(hour), len(deep), len(l10)) == (91997, 672, 999)
    assert hour.messages["time"].iloc[-1] == pytest.approx(37799.837, abs=1e-3)
    # the full-depth file is a prefix of the hour; the level-1 file is its first 4 columns
    n = len(deep)
    pd.testing.assert_frame_equal(hour.messages.iloc[:n], deep.messages)
    pd.testing.assert_frame_equal(hour.book.iloc[:n], deep.book[book_columns(1)])
    t = lobster_tables(hour)
    l2 = t["l2"]
    assert (l2["ask_px_1"] > l2["bid_px_1"]).all()  # never crossed or locked
    assert len(t["trades"]) == int(hour.messages["type"].isin([4, 5]).sum())
    assert t["bars"]["timestamp"].iloc[0] == pd.Timestamp("2012-06-21 09:30")
    assert len(t["bars"]) == 60
