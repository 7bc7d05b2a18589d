"""Nothing silently wrong in minute bars: the price screen (outliers, high < low, open/close outside the range),
the session check (files in another time zone refused, rows outside the session counted and reported), extra days
blamed on the right file, damaged files and unknown file types refused in one line."""

from __future__ import annotations

import gzip
import logging

import numpy as np
import pandas as pd
import pytest

from multiexec.data.dataset import DataConfig, load_dataset
from multiexec.data.loaders import SCREEN_VERSION, load_bars, load_long_table, load_minute_dir
from multiexec.errors import MultiexecError
from multiexec.testing import HEADER, shared_or_skip, write

DAYS = ["2018-03-01", "2018-03-02", "2018-03-05", "2018-03-06"]


def day_rows(day: str, price: float, seed: int, shift: int = 0, minutes=range(570, 960)) -> list[str]:
    """A full day of consistent minute bars (a random walk of ~5 bp a minute); ``shift`` moves every stamp."""
    rng = np.random.default_rng(seed)
    out = []
    for m in minutes:
        o = price
        price = price * float(np.exp(rng.normal(0, 5e-4)))
        hi, lo = max(o, price) * 1.0002, min(o, price) * 0.9998
        t = (m + shift) % 1440
        out.append(f"{day},{t // 60:02d}:{t % 60:02d}:00,{o:.4f},{hi:.4f},{lo:.4f},{price:.4f},{1000 + m}")
    return out


def ticker(folder, sym: str, price: float, seed: int, shift: int = 0, days=DAYS, gz: bool = False):
    rows = []
    for k, d in enumerate(days):
        rows += day_rows(d, price, seed * 100 + k, shift)
    return write(folder / f"{sym}.csv{'.gz' if gz else ''}", HEADER + "\n".join(rows) + "\n", gz=gz)


def set_field(path, line: int, field: str, value) -> None:
    """Set ``field`` of file line ``line`` (1 = header) of a per-ticker CSV."""
    lines = path.read_text().splitlines()
    cells = lines[line - 1].split(",")
    cells[["date", "ToD", "open", "high", "low", "close", "volume"].index(field)] = str(value)
    lines[line - 1] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture
def market(tmp_path):
    d = tmp_path / "m"
    for i, (s, p) in enumerate((("AAA", 50.0), ("BBB", 20.0), ("CCC", 120.0))):
        ticker(d, s, p, i)
    return d


def test_clean_files_pass_the_screen(market):
    bars = load_minute_dir(market, cache=False)
    assert bars.n_assets == 3 and bars.n_days == 4 and bars.meta["repairs"] == [] and bars.meta["notes"] == []
    assert bars.meta["outside_session_rows"] == 0 and bars.meta["screen"] == "error"


def test_a_1e9_close_is_an_error_naming_file_line_ticker_and_field(market):
    set_field(market / "BBB.csv", 2 + 390 + 61, "close", "1e9")  # day 2, 10:31
    with pytest.raises(MultiexecError) as exc:
        load_minute_dir(market, cache=False)
    msg = str(exc.value)
    assert "\n" not in msg
    assert "BBB.csv: line 453 (BBB 2018-03-02 10:31): close 1e+09 is a price outlier" in msg
    assert "screen='repair'" in msg


def test_repair_lists_the_bar_and_the_outlier_never_reaches_the_environment(market):
    from multiexec.execution.env import MultiOrderEnv
    from multiexec.execution.evaluate import run_policy
    from multiexec.policies.rules import make_rule_policy

    set_field(market / "BBB.csv", 2 + 390 + 61, "close", "1e9")
    cfg = DataConfig(source=str(market), daily="none", screen="repair", orders={"top_k": 1, "lookback": 1,
                     "capital": 1e5, "min_notional": 0, "warmup_days": 0}, splits={"valid_days": 1, "test_days": 1})
    # four days, lookback 1: one order day (the last); the repaired bar is on day 2
    cfg = cfg.model_copy(update={"splits": cfg.splits.model_copy(update={"method": "fractions",
                                                                          "fractions": (1.0, 0.0, 0.0)})})
    ds = load_dataset(cfg)
    rep = ds.bars.meta["repairs"]
    assert rep[0]["symbol"] == "BBB" and rep[0]["field"] == "close" and rep[0]["old"] == 1e9
    assert rep[0]["line"] == "line 453" and rep[0]["date"] == "2018-03-02" and rep[0]["time"] == "10:31"
    assert 15 < rep[0]["new"] < 25 and "outlier" in rep[0]["rule"]
    # the only other repairs: the same bar's high or low widened to the new close
    assert all(r["line"] == "line 453" and "widened" in r["rule"] for r in rep[1:])
    assert any(f"screen repaired {len(rep)} price field(s) of 1 bar(s)" in n for n in ds.notes)
    assert ds.bars.close.max() < 200 and ds.bars.high.max() < 200
    day = list(ds.bars.dates).index(np.datetime64("2018-03-02"))
    b = ds.bars.symbols.index("BBB")
    np.testing.assert_allclose(ds.bars.close[day, b, 61], rep[0]["new"])
    # a day of TWAP on the repaired bars: execution gains stay a few bp, not +238 bp
    env = MultiOrderEnv(ds.bars, ds.orders)
    pol = make_rule_policy("twap", ds.bars, ds.order_day_index, env.cfg)
    res = run_policy(env, pol, list(range(len(ds.orders))), progress=False)
    assert np.abs(res.orders["eg_bps"]).max() < 50


def test_a_level_shift_is_not_an_outlier(market):
    """A 40 % jump that stays (news after a halt) is near the bars after it: not flagged, not repaired."""
    path = market / "AAA.csv"
    lines = path.read_text().splitlines()
    for i in range(2 + 200, 2 + 390):  # day 1 from 12:50 on
        cells = lines[i - 1].split(",")
        cells[2:6] = [f"{float(x) * 1.4:.4f}" for x in cells[2:6]]
        lines[i - 1] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    bars = load_minute_dir(market, cache=False)
    assert bars.meta["repairs"] == [] and bars.close[0, 0, 200] / bars.close[0, 0, 199] > 1.35


@pytest.mark.parametrize("field, value, match", [
    ("high", 115.0, "high 115 is below low"),
    ("open", 125.0, "open 125 is outside the bar's range"),
    ("close", 1.0, "close 1 is a price outlier"),
    ("low", 1e-3, "low 0.001 is a price outlier"),
])
def test_bad_bar_kinds(market, field, value, match):
    set_field(market / "CCC.csv", 2 + 100, field, value)  # day 1, 11:10
    with pytest.raises(MultiexecError, match=match) as exc:
        load_minute_dir(market, cache=False)
    assert "CCC.csv: line 102 (CCC 2018-03-01 11:10)" in str(exc.value)
    bars = load_minute_dir(market, cache=False, screen="repair")
    c = bars.symbols.index("CCC")
    o, h, lo, cl = (getattr(bars, f)[0, c, 100] for f in ("open", "high", "low", "close"))
    assert lo <= min(o, cl) <= max(o, cl) <= h and 100 < lo and h < 150
    assert {r["field"] for r in bars.meta["repairs"]} >= {field if field != "open" else "high"}


def test_high_below_low_is_swapped_in_repair(market):
    lines = (market / "AAA.csv").read_text().splitlines()
    cells = lines[10].split(",")
    cells[3], cells[4] = cells[4], cells[3]  # high <-> low
    lines[10] = ",".join(cells)
    (market / "AAA.csv").write_text("\n".join(lines) + "\n")
    bars = load_minute_dir(market, cache=False, screen="repair")
    rules = [r["rule"] for r in bars.meta["repairs"]]
    assert rules == ["high below low: swapped"] * 2
    assert bars.high[0, 0, 9] > bars.low[0, 0, 9]


def test_screen_in_long_tables(tmp_path, market):
    frames = []
    for s in ("AAA", "BBB"):
        df = pd.read_csv(market / f"{s}.csv")
        frames.append(pd.DataFrame({"symbol": s, "timestamp": pd.to_datetime(df.date + " " + df.ToD),
                                    **{c: df[c] for c in ("open", "high", "low", "close", "volume")}}))
    df = pd.concat(frames, ignore_index=True)
    row = 390 * len(DAYS) + 5  # BBB, day 1, 09:35
    df.loc[row, "high"] = 1e6
    p = tmp_path / "long.parquet"
    df.to_parquet(p)
    with pytest.raises(MultiexecError, match=rf"long.parquet \(symbol BBB\): row {row + 1} \(BBB 2018-03-01 09:35\): high"):
        load_long_table(p, cache=False)
    bars = load_long_table(p, cache=False, screen="repair")
    assert bars.meta["repairs"][0]["line"] == f"row {row + 1}" and bars.high.max() < 1000


def test_cache_is_keyed_by_the_screen(market):
    set_field(market / "AAA.csv", 30, "close", "5000")
    with pytest.raises(MultiexecError, match="price outlier"):
        load_minute_dir(market)
    rep = load_minute_dir(market, screen="repair")
    assert rep.meta["cache_hit"] is False and {r["line"] for r in rep.meta["repairs"]} == {"line 30"}
    again = load_minute_dir(market, screen="repair")
    assert again.meta["cache_hit"] is True and again.meta["repairs"] == rep.meta["repairs"]
    with pytest.raises(MultiexecError, match="price outlier"):  # no silent reuse of the repaired entry
        load_minute_dir(market)
    assert SCREEN_VERSION >= 1
    with pytest.raises(MultiexecError, match="screen must be 'error' or 'repair'"):
        load_minute_dir(market, screen="fix")


def test_rows_outside_the_session_are_counted_and_reported(market, caplog):
    extra = ["2018-03-01,08:00:00,50,50,50,50,10", "2018-03-01,08:01:00,50,50,50,50,10"]
    lines = (market / "AAA.csv").read_text().splitlines()
    lines[1:1] = extra  # pre-market rows, before the day's first session bar
    lines.append(f"{DAYS[-1]},17:30:00,50,50,50,50,10")  # after hours
    (market / "AAA.csv").write_text("\n".join(lines) + "\n")
    with caplog.at_level(logging.WARNING, logger="multiexec.data"):
        bars = load_minute_dir(market, cache=False)
    assert bars.meta["outside_session_rows"] == 3 and bars.meta["outside_session"] == {"AAA": 3}
    note = "dropped 3 rows outside the session 09:30-16:00 in 1 file(s): AAA 3"
    assert any(note in n for n in bars.meta["notes"]) and note in caplog.text


@pytest.mark.parametrize("shift, match", [
    (300, r"AAA.csv: the file does not fit the 09:30-16:00 US/Eastern session: 79% of its volume \(77% of its rows\)"),
    (-60, r"AAA.csv: .*the last bar in the session is at 14:59, not about 16:00"),  # US/Central
    (60, r"AAA.csv: .*the first bar in the session is at 10:30, not about 09:30"),  # Atlantic
])
def test_a_file_in_another_time_zone_is_refused(market, shift, match):
    ticker(market, "AAA", 50.0, 0, shift=shift)
    with pytest.raises(MultiexecError, match=match) as exc:
        load_minute_dir(market, cache=False)
    assert "UTC" in str(exc.value) and "\n" not in str(exc.value)


def test_an_extra_day_is_blamed_on_the_file_that_has_it(market):
    ticker(market, "BBB", 20.0, 1, days=DAYS + ["2018-03-07"])
    for on_missing in ("error", "drop"):
        with pytest.raises(MultiexecError, match=r"BBB.csv: has bars on 2018-03-07, a day that only 1 of 3 files"):
            load_minute_dir(market, cache=False, on_missing=on_missing)


def test_an_extra_day_among_two_files(tmp_path):
    d = tmp_path / "two"
    ticker(d, "AAA", 50.0, 0)
    ticker(d, "BBB", 20.0, 1, days=DAYS + ["2018-03-10"])  # a Saturday
    with pytest.raises(MultiexecError, match=r"BBB.csv: has bars on 2018-03-10, a weekend day \(an extra day"):
        load_minute_dir(d, cache=False)
    ticker(d, "BBB", 20.0, 1, days=DAYS + ["2018-03-07"])  # a weekday: a tie, both files named
    with pytest.raises(MultiexecError, match=r"AAA.csv: no bars for AAA on 2018-03-07; only 1 of 2 files have that day "
                                             r"\(BBB.csv\): a missing day here or an extra day there"):
        load_minute_dir(d, cache=False)


def test_damaged_gzip_and_unknown_file_types(tmp_path, market):
    good = ticker(tmp_path / "g", "ZZZ", 10.0, 5, gz=True)
    data = bytearray(good.read_bytes())
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "ZZZ.csv.gz").write_bytes(bytes(data[: len(data) // 2]))  # truncated
    with pytest.raises(MultiexecError, match=r"ZZZ.csv.gz: cannot read file \(corrupt or truncated\?\)"):
        load_minute_dir(bad, cache=False)
    data[len(data) // 2: len(data) // 2 + 40] = b"x" * 40  # corrupt in the middle
    (bad / "ZZZ.csv.gz").write_bytes(bytes(data))
    with pytest.raises(MultiexecError, match=r"ZZZ.csv.gz: cannot read file"):
        load_minute_dir(bad, cache=False)
    (bad / "ZZZ.csv.gz").write_bytes(b"not gzip at all")
    with pytest.raises(MultiexecError, match=r"ZZZ.csv.gz: cannot read file"):
        load_minute_dir(bad, cache=False)
    ini = write(tmp_path / "c.ini", "[data]\nsource = synthetic\n")
    with pytest.raises(MultiexecError, match=r"c.ini: unknown data file type '.ini'"):
        load_bars(str(ini))
    assert gzip.decompress(good.read_bytes()).startswith(HEADER.encode())


@pytest.mark.realdata
def test_real_data_passes_the_screen():
    """The shared minute data loads under the default screen (an error on any flagged bar): the rule flags none
    of its bars, and no row lies outside the session. (Same options as test_realdata: a cache hit there.)"""
    shared_or_skip("us_minute_2018")
    bars = load_bars("us_minute_2018")
    assert bars.meta["screen"] == "error" and bars.meta["repairs"] == [] and bars.meta["outside_session_rows"] == 0
    assert bars.n_assets == 60


def test_cli_load_reports_the_screen(market):
    from typer.testing import CliRunner

    from multiexec.data.cli import app

    set_field(market / "BBB.csv", 2 + 390 + 61, "close", "1e9")
    runner = CliRunner()
    r = runner.invoke(app, ["load", str(market), "--no-cache"])
    assert r.exit_code != 0 and "BBB.csv: line 453 (BBB 2018-03-02 10:31): close 1e+09 is a price outlier" in str(
        r.exception)
    r = runner.invoke(app, ["load", str(market), "--no-cache", "--screen", "repair"])
    assert r.exit_code == 0, r.output
    assert "repairs by the screen" in r.output and "line 453" in r.output
    assert "bars repaired by the screen: 1 (screen=repair)" in r.output


def test_a_new_screen_version_invalidates_the_cache(market, monkeypatch):
    import multiexec.data.loaders as loaders

    assert load_minute_dir(market).meta["cache_hit"] is False
    assert load_minute_dir(market).meta["cache_hit"] is True
    monkeypatch.setattr(loaders, "SCREEN_VERSION", loaders.SCREEN_VERSION + 1)
    assert load_minute_dir(market).meta["cache_hit"] is False  # the rules changed: parsed and screened again


@pytest.mark.parametrize("sign", [-1, 1])
def test_side_median_matches_a_direct_computation(sign):
    """The vectorised reference of the outlier rule: median close of up to 5 rows on one side, same day, >= 3 rows."""
    from multiexec.data.loaders import _side_median

    rng = np.random.default_rng(sign + 7)
    day = np.sort(rng.integers(0, 40, 600))
    lc = rng.normal(size=600)
    got = _side_median(day, lc, sign)
    for i in range(len(lc)):
        side = [lc[j] for j in (i + sign * np.arange(1, 6)) if 0 <= j < len(lc) and day[j] == day[i]]
        if len(side) >= 3:
            assert got[i] == pytest.approx(np.median(side))
        else:
            assert np.isnan(got[i])


def test_a_long_table_symbol_in_another_time_zone_is_refused(tmp_path, market):
    frames = []
    for s, shift in (("AAA", 0), ("BBB", 0), ("CCC", 300)):
        df = pd.read_csv(market / f"{s}.csv")
        ts = pd.to_datetime(df.date + " " + df.ToD) + pd.Timedelta(minutes=shift)
        frames.append(pd.DataFrame({"symbol": s, "timestamp": ts,
                                    **{c: df[c] for c in ("open", "high", "low", "close", "volume")}}))
    p = tmp_path / "long.csv"
    pd.concat(frames[:2]).to_csv(p, index=False)
    assert load_long_table(p, cache=False).n_minutes == 390
    pd.concat(frames).to_csv(p, index=False)
    with pytest.raises(MultiexecError, match=r"long.csv \(symbol CCC\): its trading day runs 14:30-20:59 on the "
                                             r"median day, the other symbols' 09:30-15:59 \(is it in another time zone"):
        load_long_table(p, cache=False)
