"""DataConfig, load_dataset, config files and the data CLI."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from multiexec.testing import write
from typer.testing import CliRunner

from multiexec.data.cli import app
from multiexec.data.dataset import DataConfig, load_config_file, load_dataset
from multiexec.errors import MultiexecError

SMALL = {"synthetic": {"n_assets": 8, "n_days": 16, "history_days": 10},
         "orders": {"top_k": 3}, "splits": {"valid_days": 3, "test_days": 3}}


def test_default_config_loads_fast():
    t0 = time.perf_counter()
    ds = load_dataset(DataConfig())
    assert time.perf_counter() - t0 < 20  # a few seconds on a quiet machine; shared CPUs are noisy
    assert ds.bars.n_assets == 30 and ds.bars.n_days == 60 and len(ds.orders) == 60
    assert (ds.bars.dates[ds.order_day_index] == np.array([o.date for o in ds.orders])).all()
    assert (len(ds.splits["train"]), len(ds.splits["valid"]), len(ds.splits["test"])) == (40, 10, 10)


def test_small_dataset_deterministic_and_summary():
    cfg = DataConfig.model_validate(SMALL)
    a, b = load_dataset(cfg), load_dataset(cfg)
    assert [o.symbols for o in a.orders] == [o.symbols for o in b.orders]
    other = load_dataset(cfg.model_copy(update={"seed": 1}))
    assert not np.allclose(other.bars.close, a.bars.close)
    summ = a.summary()
    assert list(summ.split) == ["train", "valid", "test"] and summ["c0/buy"].iloc[0] == pytest.approx(0.3)
    assert [len(a.split(s)) for s in ("train", "valid", "test")] == [10, 3, 3]
    with pytest.raises(MultiexecError, match="unknown split"):
        a.split("nope")


def test_max_assets_and_symbols():
    ds = load_dataset(DataConfig.model_validate(dict(SMALL, max_assets=5)))
    assert ds.bars.n_assets == 5
    with pytest.raises(MultiexecError, match="unknown symbol"):
        load_dataset(DataConfig.model_validate(dict(SMALL, symbols=["SYN000", "XYZ"])))


@pytest.mark.parametrize("suffix, text", [
    (".yaml", "source: synthetic\norders:\n  top_k: 3\n  lookbak: 4\n"),
    (".json", '{"source": "synthetic", "orders": {"top_k": 3, "lookbak": 4}}'),
    (".toml", 'source = "synthetic"\n[orders]\ntop_k = 3\nlookbak = 4\n'),
])
def test_config_file_unknown_key(tmp_path, suffix, text):
    p = write(tmp_path / f"c{suffix}", text)
    with pytest.raises(MultiexecError, match=r"unknown key 'orders.lookbak'") as exc:
        load_config_file(p)
    assert str(p) in str(exc.value)
    ok = write(tmp_path / f"ok{suffix}", text.replace("lookbak", "lookback"))
    assert load_config_file(ok).orders.lookback == 4


def test_config_file_errors(tmp_path):
    with pytest.raises(MultiexecError, match="config file not found"):
        load_config_file(tmp_path / "none.yaml")
    with pytest.raises(MultiexecError, match=r"seed: .*got 'x'"):
        load_config_file(write(tmp_path / "c.yaml", "seed: x\n"))
    with pytest.raises(MultiexecError, match="cannot parse"):
        load_config_file(write(tmp_path / "c.json", "{oops"))
    cfg = load_config_file(write(tmp_path / "full.yaml", "data:\n  seed: 3\nother: 1\n"), section="data")
    assert cfg.seed == 3


def test_long_table_source_and_orders_csv(tmp_path):
    """A long-table Parquet (the LOB simulator's format) as the source, with orders from a CSV."""
    ds0 = load_dataset(DataConfig.model_validate(SMALL))
    b = ds0.bars
    D, A, M = b.close.shape
    ts = (b.dates.astype("datetime64[m]")[:, None, None] + b.minutes[None, None, :].astype("timedelta64[m]"))
    frame = pd.DataFrame({
        "symbol": np.broadcast_to(np.array(b.symbols)[None, :, None], (D, A, M)).ravel(),
        "timestamp": np.broadcast_to(ts, (D, A, M)).ravel(),
        **{f: getattr(b, f).ravel() for f in ("open", "high", "low", "close", "volume")},
    })
    path = tmp_path / "bars.parquet"
    frame.to_parquet(path)
    orders = write(tmp_path / "o.csv", f"date,symbol,side,amount,cash\n{b.dates[3]},SYN001,buy,10,50\n"
                                       f"{b.dates[5]},SYN002,sell,5,0\n{b.dates[6]},SYN002,buy,5,0\n")
    cfg = DataConfig(source=str(path), orders={"csv": str(orders)},
                     splits={"method": "fractions", "fractions": (0.34, 0.33, 0.33)})
    ds = load_dataset(cfg)
    np.testing.assert_allclose(ds.bars.close, b.close)
    assert [str(o.date) for o in ds.orders] == [str(b.dates[i]) for i in (3, 5, 6)]
    assert ds.splits == {"train": [0], "valid": [1], "test": [2]}
    gen = load_dataset(DataConfig(source=str(path), orders={"top_k": 3, "lookback": 2},
                                  splits={"valid_days": 2, "test_days": 2}))
    assert str(gen.orders[0].date) == str(b.dates[4])  # no daily history: lookback + 2 days before the first


def test_cli_commands(tmp_path):
    runner = CliRunner()
    cfg = write(tmp_path / "c.yaml", "synthetic:\n  n_assets: 8\n  n_days: 16\n  history_days: 10\n"
                                     "orders:\n  top_k: 3\nsplits:\n  valid_days: 3\n  test_days: 3\n")
    out = tmp_path / "o.csv"
    res = runner.invoke(app, ["orders", "--config", str(cfg), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert out.exists() and pd.read_csv(out).columns.tolist() == ["date", "symbol", "side", "amount", "cash"]
    res = runner.invoke(app, ["info"])
    assert res.exit_code == 0 and "synthetic defaults" in res.output
    for cmd in ("load", "fit", "compare", "orders", "info"):
        assert runner.invoke(app, [cmd, "--help"]).exit_code == 0
