"""Tests on the real data in ../shared/data (skipped with a message where it is absent)."""

from __future__ import annotations

import numpy as np
import pytest
from multiexec.testing import needs_shared

from multiexec.data.dataset import DataConfig, load_dataset
from multiexec.data.loaders import load_daily, load_minute_dir

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def us_bars():
    return load_minute_dir(needs_shared("us_minute_2018"))


def test_us_minute_all_tickers(us_bars):
    b = us_bars
    assert b.n_assets == 60 and b.n_days == 44 and b.n_minutes == 390
    assert str(b.dates[0]) == "2018-02-16" and str(b.dates[-1]) == "2018-04-20"
    assert np.datetime64("2018-03-30") not in b.dates  # Good Friday
    assert b.traded.mean() > 0.99 and b.meta["outside_session_rows"] == 0
    aapl = b.symbols.index("AAPL")
    assert b.volume[0, aapl, -1] == 265739.0 + 2129130.0  # 15:59 plus the folded 16:00 closing print
    assert b.close[0, aapl, -1] == 172.43


def test_sp500_daily():
    d = load_daily(needs_shared("sp500_daily_2013_2018", "all_stocks_5yr.csv.gz"))
    assert d.n_assets == 505 and str(d.dates[-1]) == "2018-02-07"
    jumped = {s for s, _, _ in d.meta["jumps"]}
    assert {"NI", "EBAY", "BAX", "LNT", "DISCA"} <= jumped
    assert np.nanmax(np.abs(d.log_returns())) <= 0.5


def test_us_dataset_orders_and_splits():
    needs_shared("us_minute_2018")
    needs_shared("sp500_daily_2013_2018")
    ds = load_dataset(DataConfig(source="us_minute_2018"))
    assert len(ds.orders) == 44 and str(ds.orders[0].date) == "2018-02-16"
    assert (len(ds.splits["train"]), len(ds.splits["valid"]), len(ds.splits["test"])) == (24, 10, 10)
    test_dates = [str(ds.orders[i].date) for i in ds.splits["test"]]
    assert test_dates[0] == "2018-04-09" and test_dates[-1] == "2018-04-20"
    # the daily panel joins the S&P 500 file and the minute bars across the gap
    j = int(np.searchsorted(ds.daily.dates, np.datetime64("2018-02-16")))
    assert str(ds.daily.dates[j - 1]) == "2018-02-07"
    assert set(ds.daily.meta["history_missing"]) == {"BABA", "BIDU", "JD", "NXPI", "SQ", "TSLA", "TWTR", "X"}
    n = [o.n for o in ds.orders]
    assert min(n) >= 1 and len(set(n)) > 1
