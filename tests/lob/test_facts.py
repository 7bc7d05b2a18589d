"""Stylized facts on hand-computable inputs, and the facts / realism reports on tiny runs."""

import numpy as np
import pandas as pd
import pytest

from multiexec.errors import MultiexecError
from multiexec.lob import facts
from multiexec.lob.realism import (
    read_minute_csvs,
    read_run,
    realism_report,
    stylized_facts_report,
)
from multiexec.testing import shared_or_skip, write_pair

# ---------------------------------------------------------------------------------------------- returns


def test_excess_kurtosis_by_hand_and_by_law():
    assert facts.excess_kurtosis([1.0, -1.0, 1.0, -1.0]) == pytest.approx(-2.0)  # m2 = m4 = 1
    # [0, 0, 2, -2]: m2 = 2, m4 = 8 -> 8 / 4 - 3 = -1
    assert facts.excess_kurtosis([0.0, 0.0, 2.0, -2.0]) == pytest.approx(-1.0)
    rng = np.random.default_rng(0)
    k = facts.excess_kurtosis(np.stack([rng.normal(size=100_000), rng.laplace(size=100_000)]))
    assert k[0] == pytest.approx(0.0, abs=0.1) and k[1] == pytest.approx(3.0, abs=0.3)  # Laplace: 3
    assert np.isnan(facts.excess_kurtosis([1.0, 1.0, 1.0, 1.0]))  # no variance


def test_autocorrelation_by_hand_segments_and_nan():
    # x = [1, -1, 1, -1]: c0 = 4, lag-1 products = -3 -> -0.75; lag 2 = +2/4
    assert facts.autocorrelation([1.0, -1.0, 1.0, -1.0], [1, 2]) == pytest.approx([-0.75, 0.5])
    # two rows never pair across their boundary
    two = facts.autocorrelation(np.array([[1.0, -1.0], [1.0, -1.0]]), 1)
    assert two[:, 0] == pytest.approx([-0.5, -0.5])
    # NaN padding changes nothing
    x = np.array([0.3, -1.2, 0.5, 2.0, -0.7])
    padded = facts.autocorrelation(np.append(x, [np.nan, np.nan]), [1, 2])
    assert padded == pytest.approx(facts.autocorrelation(x, [1, 2]))
    with pytest.raises(MultiexecError, match="lags"):
        facts.autocorrelation(x, [0])


def test_ar1_autocorrelation_and_volatility_clustering():
    rng = np.random.default_rng(1)
    n, phi = 50_000, 0.6
    e = rng.normal(size=n)
    x = np.empty(n)
    x[0] = e[0]
    for t in range(1, n):
        x[t] = phi * x[t - 1] + e[t]
    acf = facts.autocorrelation(x, [1, 2, 3])
    assert acf == pytest.approx([phi, phi**2, phi**3], abs=0.02)
    # GARCH-like returns: no return autocorrelation, positive |r| autocorrelation
    sig = np.exp(np.repeat(rng.normal(0, 0.7, n // 50), 50))
    r = sig * rng.normal(size=n)
    f = facts.return_facts(r, max_lag=10)
    assert abs(f["acf_1"][0]) < 0.02
    assert all(f[f"abs_acf_{k}"][0] > 0.1 for k in range(1, 11))
    assert f["kurtosis"][0] > 1 and f["n"][0] == n


def test_aggregation_and_normality():
    assert facts.aggregate_returns(np.arange(1.0, 7.0), 2).tolist() == [[3.0, 7.0, 11.0]]
    assert facts.aggregate_returns(np.arange(1.0, 7.0), 4).tolist() == [[10.0]]  # tail dropped
    rng = np.random.default_rng(2)
    r = rng.laplace(size=(20, 3600))  # iid heavy tails: kurtosis 3 at k = 1, 3/k when aggregated
    agg = facts.aggregational_normality(r, (1, 5, 30))
    assert agg["n_per_row"].tolist() == [3600, 720, 120]
    assert agg["kurtosis"].iloc[0] == pytest.approx(3.0, abs=0.5)
    assert agg["kurtosis"].iloc[1] == pytest.approx(0.6, abs=0.3)
    assert agg["kurtosis"].iloc[2] == pytest.approx(0.1, abs=0.3)


def _bars(close_by_day: dict, symbol="S", volume=None):
    rows = []
    for day, closes in close_by_day.items():
        for i, c in enumerate(closes):
            if c is None:
                continue
            ts = pd.Timestamp(day) + pd.Timedelta(hours=9, minutes=30 + i)
            rows.append({"symbol": symbol, "timestamp": ts, "open": c, "high": c, "low": c, "close": c,
                         "volume": 10.0 if volume is None else volume[i]})
    return pd.DataFrame(rows)


def test_bars_matrix_fills_gaps_inside_days_only():
    bars = _bars({"2020-01-02": [100.0, None, 110.0, None], "2020-01-03": [None, 50.0, 55.0, 60.0]})
    keys, minutes, close, volume = facts.bars_matrix(bars, 570, 574)
    assert keys["date"].dt.strftime("%Y-%m-%d").tolist() == ["2020-01-02", "2020-01-03"]
    assert minutes.tolist() == [570, 571, 572, 573]
    np.testing.assert_array_equal(close[0], [100.0, 100.0, 110.0, np.nan])  # after the last bar: NaN
    np.testing.assert_array_equal(volume[0], [10.0, 0.0, 10.0, np.nan])
    np.testing.assert_array_equal(close[1], [np.nan, 50.0, 55.0, 60.0])
    r = facts.log_returns(close)
    np.testing.assert_allclose(r[0], [0.0, np.log(1.1), np.nan])
    np.testing.assert_allclose(r[1], [np.nan, np.log(1.1), np.log(60 / 55)])  # no overnight return
    with pytest.raises(MultiexecError, match="duplicate"):
        facts.bars_matrix(pd.concat([bars, bars.iloc[:1]]))


def test_volume_return_correlation_and_intraday_profile():
    r = np.array([[0.01, -0.02, 0.005, 0.03]])
    v = np.array([[7.0, *(2 * np.abs(r[0]) + 1)]])  # first minute has no return
    assert facts.volume_abs_return_correlation(v, r)[0] == pytest.approx(1.0)
    minutes = np.arange(570, 960)
    flat = facts.intraday_profile(np.ones((2, 390)), minutes, 30)
    assert len(flat) == 13 and flat["mean"].to_numpy() == pytest.approx(np.full(13, 1 / 13))
    assert facts.u_shape_ratio(flat["mean"]) == pytest.approx(1.0)
    u = np.ones(390)
    u[:30] = 3.0
    u[-30:] = 3.0
    prof = facts.intraday_profile(u, minutes, 30)
    assert prof.index.tolist()[:2] == [570, 600]
    assert facts.u_shape_ratio(prof["mean"]) == pytest.approx(3.0)


# ---------------------------------------------------------------------------------------------- book

L2 = pd.DataFrame(
    {
        "time_ns": [0, 10, 20, 30],
        "symbol": "S",
        "bid_px_1": [100.0, 100.0, 99.0, np.nan],
        "bid_px_2": [99.0, 99.5, np.nan, np.nan],
        "bid_sz_1": [10, 30, 5, 0],
        "bid_sz_2": [20, 10, 0, 0],
        "ask_px_1": [101.0, 100.5, 101.0, 102.0],
        "ask_px_2": [102.0, 101.0, 103.0, 104.0],
        "ask_sz_1": [10, 20, 5, 7],
        "ask_sz_2": [40, 0, 5, 3],
    }
)


def test_book_facts_by_hand():
    assert facts.book_levels(L2) == 2
    np.testing.assert_allclose(facts.spread(L2), [1.0, 0.5, 2.0, np.nan])
    np.testing.assert_allclose(facts.mid_price(L2), [100.5, 100.25, 100.0, np.nan])
    v1 = facts.volume_at_levels(L2, 1)
    assert v1["total"].tolist() == [20, 50, 10, 7]
    v2 = facts.volume_at_levels(L2, 2)
    assert v2["bid"].tolist() == [30, 40, 5, 0] and v2["ask"].tolist() == [50, 20, 10, 10]
    np.testing.assert_allclose(facts.imbalance(L2, 1), [0.5, 0.6, 0.5, 0.0])
    np.testing.assert_allclose(facts.imbalance(L2, 2), [30 / 80, 40 / 60, 5 / 15, 0.0])
    with pytest.raises(MultiexecError, match="3 levels"):
        facts.volume_at_levels(L2, 3)
    with pytest.raises(MultiexecError, match="ask_sz_2"):
        facts.book_levels(L2.drop(columns="ask_sz_2"))


def test_limit_order_depth_uses_book_strictly_before():
    orders = pd.DataFrame(
        {
            "time_ns": [0, 10, 10, 25, 25],
            "msg": ["limit", "limit", "limit", "cancel", "limit"],
            "side": [1, 1, -1, 1, -1],
            "price": [99.0, 99.9, 101.5, 99.0, 100.0],
        }
    )
    d = facts.limit_order_depth(orders, L2)
    # t=0: no earlier book; t=10 sees the t=0 book (bid 100, ask 101); t=25 sees t=20 (ask 101): inside by 1
    np.testing.assert_allclose(d["depth"], [np.nan, 0.1, 0.5, -1.0])
    np.testing.assert_allclose(d["mid"], [np.nan, 100.5, 100.5, 100.0])
    assert len(facts.limit_order_depth(orders[orders["msg"] == "cancel"], L2)) == 0


def test_feed_view_shows_orders_as_lobster_does():
    """Executions on arrival become one market message, the rest of a limit order a limit message; orders the
    feed never shows (rejected, unfilled market orders, cancels of orders already gone) are dropped."""
    orders = pd.DataFrame({
        "time_ns": [10, 20, 30, 40, 50, 60, 70, 80],
        "msg": ["limit", "limit", "market", "market", "limit", "cancel", "cancel", "limit"],
        "side": [1, -1, 1, -1, 1, 1, -1, 1],
        "price": [101.0, 99.0, np.nan, np.nan, 98.0, 98.0, np.nan, 500.0],
        "size": [100, 50, 30, 20, 10, 10, 5, 7],
        "order_id": [1, 2, 3, 4, 5, 5, 9, -2],
    })
    trades = pd.DataFrame({"time_ns": [10, 10, 20, 40], "size": [35, 25, 50, 20], "side": [1, 1, -1, -1],
                           "taker_order_id": [1, 1, 2, 4]})
    v = facts.feed_view(orders, trades)
    assert v["msg"].tolist() == ["market", "limit", "market", "market", "limit", "cancel"]
    assert v["size"].tolist() == [60, 40, 50, 20, 10, 10]
    assert v["time_ns"].tolist() == [10, 10, 20, 40, 50, 60]
    assert v["price"].isna().tolist() == [True, False, True, True, False, False]
    assert v["side"].tolist() == [1, 1, -1, -1, 1, 1]
    # without order ids (the LOBSTER tables) the log is already a feed
    lob = orders.drop(columns="order_id")
    assert facts.feed_view(lob, trades) is lob


def test_times_durations_and_weighted_summaries():
    assert facts.inter_arrival_times([3_000_000_000, 0, 1_000_000_000]).tolist() == [1.0, 2.0]
    assert facts.snapshot_durations([0, 10, 40]).tolist() == [10.0, 30.0, 0.0]
    assert facts.snapshot_durations([0, 10, 40], end_ns=50).tolist() == [10.0, 30.0, 10.0]
    x = np.array([1.0, 2.0, 3.0, np.nan])
    assert facts.weighted_quantile(x, 0.5).tolist() == [2.0]
    assert facts.weighted_quantile(x, 0.5, [1, 1, 10, 1]).tolist() == [3.0]
    s = facts.distribution_summary([1.0, 3.0], [3.0, 1.0])
    assert s["n"] == 2 and s["mean"] == pytest.approx(1.5) and s["std"] == pytest.approx(np.sqrt(0.75))
    assert s["p50"] == 1.0 and s["p95"] == 3.0
    # zero total weight (one snapshot): plain summary
    assert facts.distribution_summary([4.0], [0.0])["mean"] == 4.0


# ---------------------------------------------------------------------------------------------- reports


def make_run(folder, seed=0, levels=5, symbols=("SIM",)):
    """A tiny synthetic run folder in the simulator's format: one day, random-walk mid, random book."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    bars, l2, trades, orders = [], [], [], []
    day = pd.Timestamp("2021-03-01")
    for sym in symbols:
        mid = 100 * np.exp(np.cumsum(rng.normal(0, 5e-4, 390)))
        vol = rng.integers(100, 1000, 390) * (1 + 2 * (np.abs(np.arange(390) - 195) > 165))
        bars.append(pd.DataFrame({"symbol": sym, "timestamp": day + pd.to_timedelta(570 + np.arange(390), "min"),
                                  "open": mid, "high": mid * 1.001, "low": mid * 0.999, "close": mid,
                                  "volume": vol}))
        t = np.sort(rng.integers(34_200 * 10**9, 57_600 * 10**9, 600))
        m = np.round(np.interp(t, 34_200e9 + 60e9 * np.arange(390), mid), 2)
        row = {"time_ns": t, "symbol": sym}
        for i in range(1, levels + 1):
            row[f"bid_px_{i}"] = m - 0.01 * i
            row[f"ask_px_{i}"] = m + 0.01 * i
            row[f"bid_sz_{i}"] = rng.integers(1, 500, len(t))
            row[f"ask_sz_{i}"] = rng.integers(1, 500, len(t))
        l2.append(pd.DataFrame(row))
        tt = np.sort(rng.choice(t, 100, replace=False))
        trades.append(pd.DataFrame({"time_ns": tt, "symbol": sym, "price": m[np.searchsorted(t, tt)],
                                    "size": rng.integers(1, 200, 100), "side": rng.choice([-1, 1], 100)}))
        to = np.sort(rng.integers(34_200 * 10**9, 57_600 * 10**9, 300))
        side = rng.choice([-1, 1], 300)
        orders.append(pd.DataFrame({"time_ns": to, "symbol": sym, "agent_id": rng.integers(0, 50, 300),
                                    "agent_type": "noise", "msg": rng.choice(["limit", "market", "cancel"], 300),
                                    "side": side, "price": 100 - side * rng.integers(0, 5, 300) * 0.01,
                                    "size": rng.integers(1, 100, 300)}))
    for name, parts in (("bars", bars), ("l2", l2), ("trades", trades), ("orders", orders)):
        pd.concat(parts, ignore_index=True).to_parquet(folder / f"{name}.parquet", index=False)
    return folder


def _value(table, fact, stat, symbol, col="value"):
    row = table[(table["fact"] == fact) & (table["stat"] == stat) & (table["symbol"] == symbol)]
    assert len(row) == 1, (fact, stat, symbol)
    return row[col].iloc[0]


def test_stylized_facts_report_matches_direct_computation(tmp_path):
    run = make_run(tmp_path / "run", symbols=("A", "B"))
    table = stylized_facts_report(run, tmp_path / "out")
    assert (tmp_path / "out" / "stylized_facts.csv").is_file()
    assert (tmp_path / "out" / "minute_facts.png").stat().st_size > 10_000
    assert (tmp_path / "out" / "book_facts.png").stat().st_size > 10_000
    assert set(table["symbol"]) == {"A", "B"}
    bars = pd.read_parquet(run / "bars.parquet")
    close = bars[bars["symbol"] == "A"]["close"].to_numpy()
    r = np.diff(np.log(close))
    assert _value(table, "minute_return", "kurtosis", "A") == pytest.approx(facts.excess_kurtosis(r))
    assert _value(table, "minute_return", "acf_1", "A") == pytest.approx(facts.autocorrelation(r, 1)[0])
    assert _value(table, "intraday_volume", "u_ratio", "A") > 1.5  # the fixture's volume is U-shaped
    l2 = pd.read_parquet(run / "l2.parquet")
    l2a = l2[l2["symbol"] == "B"]
    w = facts.snapshot_durations(l2a["time_ns"].to_numpy())
    assert _value(table, "spread_usd", "mean", "B") == pytest.approx(np.average(facts.spread(l2a), weights=w))
    assert _value(table, "imbalance_L5", "p50", "B") == pytest.approx(
        facts.weighted_quantile(facts.imbalance(l2a, 5), 0.5, w)[0])
    assert "imbalance_L10" not in set(table["fact"])  # the run has 5 levels
    o = pd.read_parquet(run / "orders.parquet")
    oa = o[o["symbol"] == "A"]
    assert _value(table, "inter_arrival_s", "mean", "A") == pytest.approx(
        facts.inter_arrival_times(oa["time_ns"]).mean())
    counts = np.bincount(oa["time_ns"] // 60_000_000_000 - 570, minlength=390)
    prof = facts.intraday_profile(counts, np.arange(570, 960), 30)["mean"]
    assert _value(table, "intraday_activity", "u_ratio", "A") == pytest.approx(facts.u_shape_ratio(prof))


def test_read_run_errors(tmp_path):
    run = make_run(tmp_path / "run")
    (run / "trades.parquet").unlink()
    with pytest.raises(MultiexecError, match="no trades.parquet"):
        read_run(run)
    run = make_run(tmp_path / "run2")
    pd.read_parquet(run / "l2.parquet").drop(columns="ask_sz_1").to_parquet(run / "l2.parquet")
    with pytest.raises(MultiexecError, match=r"l2.parquet: missing column\(s\) \['ask_sz_1'\]"):
        read_run(run)


def _minute_csv(path, seed):
    rng = np.random.default_rng(seed)
    rows = []
    for day in ("2018-03-01", "2018-03-02"):
        c = 50 * np.exp(np.cumsum(rng.normal(0, 1e-3, 391)))
        for i in range(391):
            rows.append(f"{day},{(570 + i) // 60:02d}:{(570 + i) % 60:02d}:00,{c[i]},{c[i]},{c[i]},{c[i]},"
                        f"{float(rng.integers(100, 1000))}")
    path.write_text("date,ToD,open,high,low,close,volume\n" + "\n".join(rows) + "\n")


def test_realism_report_side_by_side(tmp_path):
    run = make_run(tmp_path / "run")
    minute = tmp_path / "minute"
    minute.mkdir()
    _minute_csv(minute / "AAA.csv", 1)
    _minute_csv(minute / "BBB.csv", 2)
    lob = tmp_path / "lob"
    write_pair(lob / "sample")
    table = realism_report(run, tmp_path / "out", real_minute=minute, real_lobster=lob)
    out = tmp_path / "out"
    for f in ("realism.csv", "realism.md", "stylized_facts.csv", "minute_facts.png", "book_facts.png"):
        assert (out / f).is_file(), f
    # real minute facts: median over the 4 ticker-days of per-day statistics (16:00 bars left out)
    bars = read_minute_csvs(minute)
    per_day = []
    for (_, _), g in bars.groupby([bars["symbol"], bars["timestamp"].dt.date]):
        g = g[g["timestamp"].dt.hour * 60 + g["timestamp"].dt.minute < 960]
        per_day.append(facts.excess_kurtosis(np.diff(np.log(g["close"].to_numpy()))))
    row = table[(table["fact"] == "minute_return") & (table["stat"] == "kurtosis")].iloc[0]
    assert row["real"] == pytest.approx(np.median(per_day))
    assert row["n_real"] == 4 and row["real_p10"] <= row["real"] <= row["real_p90"]
    assert row["in_real_range"] == (row["real_p10"] <= row["simulated"] <= row["real_p90"])
    # real book facts from the tiny LOBSTER pair: spreads 1, 1, 1, 1, 2 dollars in force 0.5, 59.75, 0, 60.75
    # and 0 s (the last row closes the sample): time-weighted mean 1.0
    sp = table[(table["fact"] == "spread_usd") & (table["stat"] == "mean")].iloc[0]
    assert sp["real"] == pytest.approx(1.0) and "TEST" in sp["real_source"]
    assert np.isnan(table[table["fact"] == "imbalance_L5"]["real"]).all()  # the sample has 2 levels
    assert np.isnan(table[table["fact"] == "intraday_activity"]["real"]).all()  # 3 minutes: no day profile
    md = (out / "realism.md").read_text()
    assert "| minute bars | minute_return | kurtosis |" in md and "2 tickers" in md


def test_realism_report_without_shared_data(tmp_path, monkeypatch):
    monkeypatch.setenv("MULTIEXEC_SHARED", str(tmp_path / "no_shared"))
    (tmp_path / "no_shared").mkdir()
    table = realism_report(make_run(tmp_path / "run"), tmp_path / "out")
    assert table["real"].isna().all() and len(table) > 50
    md = (tmp_path / "out" / "realism.md").read_text()
    assert "real minute bars absent" in md and "LOBSTER samples absent" in md
    with pytest.raises(MultiexecError, match="real_minute folder not found"):
        realism_report(tmp_path / "run", tmp_path / "out", real_minute=tmp_path / "nope")


def test_read_minute_csvs_errors(tmp_path):
    (tmp_path / "X.csv").write_text("date,time,close\n2018-01-02,09:30:00,1\n")
    with pytest.raises(MultiexecError, match=r"X.csv: missing column"):
        read_minute_csvs(tmp_path)
    (tmp_path / "X.csv").write_text("date,ToD,open,high,low,close,volume\n2018-01-02,9h30,1,1,1,1,1\n")
    with pytest.raises(MultiexecError, match="row 2: bad date/ToD"):
        read_minute_csvs(tmp_path)


@pytest.mark.realdata
def test_real_facts_on_real_data(tmp_path):
    """The real data shows the stylized facts: heavy tails, no return autocorrelation, volatility clustering,
    U-shaped volume; the LOBSTER hour has a positive spread of a few basis points."""
    src = shared_or_skip("us_minute_2018")
    shared_or_skip("lobster_aapl_2012-06-21")
    minute = tmp_path / "minute"
    minute.mkdir()
    for t in ("AAPL", "MSFT", "JPM"):
        (minute / f"{t}.csv.gz").symlink_to(src / f"{t}.csv.gz")
    from multiexec.lob.realism import real_facts

    real = real_facts(real_minute=minute).table.set_index(["fact", "stat"])["real"]
    assert real["minute_return", "kurtosis"] > 1.0
    assert abs(real["minute_return", "acf_1"]) < 0.1
    assert min(real["abs_minute_return", f"abs_acf_{k}"] for k in range(1, 11)) > 0.03
    assert real["aggregational_normality", "kurt_15min"] < real["aggregational_normality", "kurt_1min"]
    assert real["intraday_volume", "u_ratio"] > 1.5
    assert 1.0 < real["spread_bps", "p50"] < 10.0
    assert 0.3 < real["imbalance_L1", "mean"] < 0.7
    assert real["inter_arrival_s", "cv"] > 1.5  # bursty, unlike a Poisson stream (cv 1)


def test_minute_facts_of_a_truncated_day_invent_nothing():
    from multiexec.lob.realism import minute_facts

    rng = np.random.default_rng(3)
    close = list(100 * np.exp(np.cumsum(rng.normal(0, 1e-3, 60))))  # 09:30-10:29 only
    mf = minute_facts(_bars({"2020-01-02": close}))
    row = mf.per_day.iloc[0]
    assert row["n"] == 59  # no zero returns after 10:29
    assert row["kurtosis"] == pytest.approx(facts.excess_kurtosis(np.diff(np.log(close))))
    assert np.isnan(row["u_ratio"])  # no volume in the last 30 minutes: no U-shape measured
