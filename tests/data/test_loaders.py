"""Loaders on good and bad input: grid and fill rule, long tables, daily bars, cache."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from multiexec.data.loaders import load_bars, load_daily, load_long_table, load_minute_dir
from multiexec.errors import MultiexecError
from multiexec.testing import HEADER, minute_rows, write


def test_grid_fold_and_fill(tiny_dir):
    bars = load_minute_dir(tiny_dir, cache=False)
    assert bars.symbols == ["AAA", "BBB"]
    assert bars.close.shape == (2, 2, 390)
    assert bars.minutes[0] == 570 and bars.minutes[-1] == 959
    a = 0
    # 09:31 missing: carries the 09:30 close with zero volume, not traded
    assert not bars.traded[0, a, 1] and bars.volume[0, a, 1] == 0
    assert bars.open[0, a, 1] == bars.high[0, a, 1] == bars.low[0, a, 1] == bars.close[0, a, 1] == 10.2
    assert bars.close[0, a, 2] == 10.3 and bars.traded[0, a, 2]
    # 16:00 folded into 15:59: volume added, close replaced, high/low extended, open kept
    last = (0, a, 389)
    assert bars.volume[last] == 1070 and bars.close[last] == 10.5
    assert bars.high[last] == 10.8 and bars.low[last] == 10.0 and bars.open[last] == 10.3
    # day 2: no 15:59 bar, the 16:00 bar takes its place
    assert bars.close[1, a, 389] == 11.5 and bars.volume[1, a, 389] == 900 and bars.traded[1, a, 389]
    assert bars.close[1, a, 388] == 11.0 and not bars.traded[1, a, 388]
    # BBB starts at 09:31: 09:30 back-filled with the first traded open
    b = 1
    assert not bars.traded[0, b, 0] and bars.close[0, b, 0] == 20 and bars.volume[0, b, 0] == 0
    assert bars.close[0, b, 389] == 20.2
    assert bars.daily_close()[0].tolist() == [10.5, 20.2]


def test_outside_session_rows_are_counted(tmp_path):
    d = tmp_path / "m"
    rows = [("08:00", 9, 9, 9, 9, 1), ("09:30", 10, 10, 10, 10, 5), ("16:05", 11, 11, 11, 11, 1)]
    write(d / "X.csv", HEADER + minute_rows("2018-01-02", rows))
    bars = load_minute_dir(d, cache=False)
    assert bars.meta["outside_session_rows"] == 2 and bars.meta["outside_session"] == {"X": 2}
    assert bars.close[0, 0, -1] == 10
    assert "dropped 2 rows outside the session 09:30-16:00 in 1 file(s): X 2" in bars.meta["notes"][0]
    # most of the volume outside the session: refused, not loaded as a near-empty day
    write(d / "X.csv", HEADER + minute_rows("2018-01-02", [r[:5] + (100,) if r[0] != "09:30" else r for r in rows]))
    with pytest.raises(MultiexecError, match=r"X.csv: the file does not fit the 09:30-16:00 US/Eastern session: "
                                             r"98% of its volume \(67% of its rows\)"):
        load_minute_dir(d, cache=False)


@pytest.mark.parametrize("body, match", [
    ("date,time,open,high,low,close,volume\n2018-01-02,09:30:00,1,1,1,1,1\n", "malformed header"),
    (HEADER + "2018-01-02,09:30:00,1,1,1,abc,1\n", r"line 2: column 'close' is not a number"),
    (HEADER + "2018-01-02,09:30:00,1,1,1,1,1\n2018-01-02,09:31:00,1,1,1,1,1,7\n", "malformed CSV"),
    (HEADER + "2018-13-02,09:30:00,1,1,1,1,1\n", "line 2: bad date/time"),
    (HEADER + "2018-01-02,09:30:00,1,1,1,1,1\n2018-01-02,09:31:00,1,1,1,,1\n", r"line 3: close price is NaN"),
    (HEADER + "2018-01-02,09:30:00,1,1,0,1,1\n", "line 2: low price is NaN or non-positive"),
    (HEADER + "2018-01-02,09:30:00,1,1,-1,1,1\n", "line 2: low price is NaN or non-positive"),
    (HEADER + "2018-01-02,09:30:00,1,1,1,1,-5\n", "line 2: volume is negative"),
    (HEADER + "2018-01-02,09:30:00,1,1,1,1,1\n2018-01-02,09:30:00,1,1,1,1,1\n", "line 3: duplicate timestamp"),
    (HEADER + "2018-01-02,09:31:00,1,1,1,1,1\n2018-01-02,09:30:00,1,1,1,1,1\n", "line 3: timestamps not sorted"),
    ("", "empty file"),
])
def test_minute_file_errors(tmp_path, body, match):
    d = tmp_path / "m"
    write(d / "BAD.csv", body)
    with pytest.raises(MultiexecError, match=match) as exc:
        load_minute_dir(d, cache=False)
    if body:
        assert "BAD.csv" in str(exc.value)


def test_missing_paths_and_symbols(tmp_path, tiny_dir):
    with pytest.raises(MultiexecError, match="directory not found"):
        load_minute_dir(tmp_path / "nope")
    with pytest.raises(MultiexecError, match="data source not found"):
        load_bars(str(tmp_path / "nope"))
    with pytest.raises(MultiexecError, match=r"unknown symbol\(s\) \['ZZZ'\]"):
        load_minute_dir(tiny_dir, symbols=["AAA", "ZZZ"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(MultiexecError, match="no <SYMBOL>.csv"):
        load_minute_dir(tmp_path / "empty")


def test_missing_day_error_and_drop(tiny_dir):
    write(tiny_dir / "CCC.csv", HEADER + minute_rows("2018-02-16", [("09:30", 5, 5, 5, 5, 1)]))
    with pytest.raises(MultiexecError, match=r"CCC.csv: no bars for CCC on 2018-02-20"):
        load_minute_dir(tiny_dir, cache=False)
    bars = load_minute_dir(tiny_dir, on_missing="drop", cache=False)
    assert bars.symbols == ["AAA", "BBB"]
    assert bars.meta["dropped"] == {"CCC": ["2018-02-20"]}


def _long_frame():
    ts = pd.to_datetime(["2024-01-02 09:30", "2024-01-02 09:31", "2024-01-03 09:30", "2024-01-03 09:32"])
    rows = []
    for s, px in (("AA", 10.0), ("BB", 50.0)):
        for i, t in enumerate(ts):
            rows.append((s, t, px + i, px + i + 0.5, px + i - 0.5, px + i + 0.1, 100.0 * (i + 1)))
    return pd.DataFrame(rows, columns=["symbol", "timestamp", "open", "high", "low", "close", "volume"])


@pytest.mark.parametrize("fmt", ["csv", "parquet", "csv.gz"])
def test_long_table_good(tmp_path, fmt):
    df = _long_frame()
    p = tmp_path / f"bars.{fmt}"
    df.to_parquet(p) if fmt == "parquet" else df.to_csv(p, index=False)
    bars = load_long_table(p, cache=False)
    assert bars.symbols == ["AA", "BB"] and bars.n_days == 2
    assert bars.minutes.tolist() == [570, 571, 572]  # inferred: minutes present on any day
    assert not bars.traded[0, 0, 2] and bars.close[0, 0, 2] == bars.close[0, 0, 1]  # 09:32 on day 1 filled
    assert not bars.traded[1, 1, 1] and bars.volume[1, 1, 1] == 0
    assert bars.close[1, 1, 2] == pytest.approx(53.1)


@pytest.mark.parametrize("mutate, match", [
    (lambda d: d.drop(columns=["volume"]), "missing"),
    (lambda d: d.assign(close=d.close.where(d.index != 2, np.nan)), r"(line 4|row 3) \(symbol AA\): close price"),
    (lambda d: d.assign(timestamp=d.timestamp.where(d.index != 1, d.timestamp[0])), r"\(symbol AA\): duplicate"),
    (lambda d: d.iloc[[0, 2, 1, 3, 4, 5, 6, 7]].reset_index(drop=True), r"\(symbol AA\): timestamps not sorted"),
    (lambda d: d.iloc[[0, 1, 4, 5, 6, 7]].reset_index(drop=True), r"no bars for AA on 2024-01-03"),
])
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_long_table_errors(tmp_path, fmt, mutate, match):
    df = mutate(_long_frame())
    p = tmp_path / f"bars.{fmt}"
    df.to_parquet(p) if fmt == "parquet" else df.to_csv(p, index=False)
    with pytest.raises(MultiexecError, match=match):
        load_long_table(p, cache=False)


def test_long_table_unknown_symbol(tmp_path):
    p = tmp_path / "bars.parquet"
    _long_frame().to_parquet(p)
    with pytest.raises(MultiexecError, match="unknown symbol"):
        load_long_table(p, symbols=["AA", "QQ"])
    assert load_long_table(p, symbols=["BB"]).symbols == ["BB"]


DAILY = "date,open,high,low,close,volume,Name\n"


def test_daily_good_with_hole_and_jump(tmp_path):
    rows = [
        "2018-01-02,10,11,9,10,100,AA", "2018-01-03,,,,10.5,100,AA", "2018-01-04,10,11,9,21,100,AA",
        "2018-01-05,21,22,20,22,100,AA", "2018-01-03,50,51,49,50,5,BB", "2018-01-04,50,51,49,51,5,BB",
        "2018-01-05,50,51,49,52,5,BB",
    ]
    p = write(tmp_path / "d.csv", DAILY + "\n".join(rows) + "\n")
    raw = load_daily(p, jump_threshold=None, cache=False)
    assert raw.symbols == ["AA", "BB"] and raw.n_days == 4
    assert np.isnan(raw.close[0, 1])  # BB has no bar on 2018-01-02: NaN is allowed in daily bars
    assert raw.open[1, 0] == 10.5 and raw.meta["filled_ohl"] == 1
    scr = load_daily(p, cache=False)  # AA doubles on 2018-01-04 (log 0.69 > 0.5): back-adjusted
    assert scr.meta["jumps"] == [("AA", "2018-01-04", pytest.approx(2.0))]
    assert scr.close[2, 0] == 21 and scr.close[1, 0] == pytest.approx(21)
    assert np.nanmax(np.abs(scr.log_returns())) < 0.5


@pytest.mark.parametrize("row, match", [
    ("2018-01-03,1,1,1,0,5,AA", "line 3 .*close price is NaN or non-positive"),
    ("2018-01-03,1,1,1,,5,AA", "line 3: close or volume is missing"),
    ("2018-01-02,1,1,1,1,5,AA", r"line 3 \(symbol AA\): duplicate date"),
    ("2018-01-01,1,1,1,1,5,AA", r"line 3 \(symbol AA\): dates not sorted"),
    ("2018-01-03,1,1,1,1,-5,AA", "volume is negative"),
])
def test_daily_errors(tmp_path, row, match):
    p = write(tmp_path / "d.csv", DAILY + "2018-01-02,1,1,1,1,5,AA\n" + row + "\n")
    with pytest.raises(MultiexecError, match=match):
        load_daily(p, cache=False)
    with pytest.raises(MultiexecError, match="malformed header"):
        load_daily(write(tmp_path / "h.csv", "date,close,Name\n2018-01-02,1,AA\n"), cache=False)
    with pytest.raises(MultiexecError, match="unknown symbol"):
        load_daily(write(tmp_path / "ok.csv", DAILY + "2018-01-02,1,1,1,1,5,AA\n"), symbols=["ZZ"], cache=False)


def test_cache_round_trip_and_invalidation(tiny_dir):
    first = load_minute_dir(tiny_dir)
    assert first.meta["cache_hit"] is False
    again = load_minute_dir(tiny_dir)
    assert again.meta["cache_hit"] is True
    for f in ("open", "high", "low", "close", "volume", "traded"):
        np.testing.assert_array_equal(getattr(first, f), getattr(again, f))
    assert again.symbols == first.symbols and (again.dates == first.dates).all()
    # editing a file (size and mtime change) makes a new entry
    p = tiny_dir / "BBB.csv"
    p.write_text(p.read_text().replace("20.2,10\n", "20.15,10\n"))
    os.utime(p, ns=(1, 1))
    changed = load_minute_dir(tiny_dir)
    assert changed.meta["cache_hit"] is False and changed.close[0, 1, -1] == 20.15
