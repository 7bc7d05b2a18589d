"""The Qlib comparison's data path, without Qlib: what bench_qlib.py exports and run_qlib.py writes for Qlib.

Qlib itself runs only in ``.venv-qlib`` (``benchmarks/qlib_side/setup_venv.sh``); these tests check the
parts that decide whether the comparison is like for like: the exported schedule, Qlib's file layout and
look-up, and that splitting each step's volume evenly over its minutes at the minute close (Qlib's rule)
reproduces our average execution price.
"""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from multiexec.execution.env import ExecConfig

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # dataclasses need the module registered
    spec.loader.exec_module(mod)
    return mod


bench = _load("bench_qlib", BENCH / "bench_qlib.py")
qside = _load("run_qlib", BENCH / "qlib_side" / "run_qlib.py")


@pytest.fixture(scope="module")
def small_run():
    case = bench.Case("tiny", "synthetic", 5, 3)
    bars = bench.synthetic_bars(n_days=3, n_assets=8, seed=3)
    orders = bench.random_orders(bars, 5, 3, seed=4)
    ours = bench.run_ours(case, bars, orders, ExecConfig(), repeats=1)
    return bars, ours


def test_schedule_is_twap_and_complete(small_run):
    bars, ours = small_run
    assert ours.n_orders == 15 and ours.schedule.shape == (15, 13)
    np.testing.assert_allclose(ours.schedule.sum(axis=1), ours.order_amount, rtol=1e-12)
    # TWAP with ample cash: the same share of the order in each of the 13 equal 30-minute steps
    np.testing.assert_allclose(ours.schedule, np.repeat(ours.order_amount[:, None] / 13, 13, axis=1), rtol=1e-9)


def test_even_split_over_minutes_at_close_gives_our_price(small_run):
    """Qlib's rule applied by hand to the exported schedule reproduces our average execution price."""
    bars, ours = small_run
    edges = np.arange(0, 391, 30)
    minute_shares = np.repeat(ours.schedule / np.diff(edges), np.diff(edges), axis=1)  # (K, 390)
    close = bars.close[ours.order_day, ours.order_asset]  # (K, 390)
    qlib_rule = (minute_shares * close).sum(axis=1) / minute_shares.sum(axis=1)
    np.testing.assert_allclose(qlib_rule, ours.avg_price, rtol=1e-12)
    # and the open would not: the comparison is sensitive to the deal-price field
    other = (minute_shares * bars.open[ours.order_day, ours.order_asset]).sum(axis=1) / minute_shares.sum(axis=1)
    assert np.abs(other / ours.avg_price - 1).max() > 1e-6


def test_export_and_qlib_file_layout(small_run, tmp_path):
    bars, ours = small_run
    ids = np.array([0, 4, 7, 14])
    bench.export_case(tmp_path / "case", bars, ours, ids, step_minutes=30)
    exported = np.load(tmp_path / "case" / "orders.npz")
    np.testing.assert_array_equal(exported["order_id"], ids)
    np.testing.assert_allclose(exported["schedule"], ours.schedule[ids])
    symbols = qside.write_qlib_data(tmp_path / "case", tmp_path / "qlib")
    assert sorted(symbols) == sorted({bars.symbols[a] for a in ours.order_asset[ids]})
    for k in ids:
        sym, day = bars.symbols[ours.order_asset[k]], pd.Timestamp(bars.dates[ours.order_day[k]])
        frame = pd.read_pickle(tmp_path / "qlib" / "backtest" / f"{sym}{qside.SUFFIX}")
        assert list(frame.index.names) == ["instrument", "datetime", "date"]
        # the look-up of qlib.rl.data.pickle_styled.SimpleIntradayBacktestData
        today = frame.loc[pd.IndexSlice[sym, :, day]]
        assert isinstance(today.index, pd.DatetimeIndex) and len(today) == 390
        assert today.index[0] == day + pd.Timedelta("09:30:00") and today.index[-1] == day + pd.Timedelta("15:59:00")
        d, a = ours.order_day[k], ours.order_asset[k]
        np.testing.assert_array_equal(today[qside.PRICE_COL].to_numpy(), bars.close[d, a])
        np.testing.assert_array_equal(today[qside.VOLUME_COL].to_numpy(), bars.volume[d, a])


def test_without_qlib_venv_ours_runs_and_qlib_is_skipped(tmp_path, capsys):
    rc = bench.main(["--cases", "syn-10x1", "--repeats", "1", "--qlib-venv", str(tmp_path / "no-venv"),
                     "--out", str(tmp_path / "out")])
    assert rc == 0
    out = capsys.readouterr().out
    assert "the Qlib part is skipped" in out and "setup_venv.sh" in out
    table = pd.read_csv(tmp_path / "out" / "throughput.csv")
    assert list(table["simulator"]) == ["multiexec"] and table["order-steps/s"].iloc[0] > 0
    assert not (tmp_path / "out" / "price_agreement.csv").exists()
