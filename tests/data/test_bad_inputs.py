"""Bad inputs of the data layer answered in one line: config files (empty, unknown type, invalid values), seeds,
lookbacks longer than the history, daily histories that lack tickers (listed, kept or dropped), orders above the
participation cap; and ``data fit`` shows its progress."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from multiexec.data.cli import app
from multiexec.data.dataset import DataConfig, load_config_file, load_dataset, validate_config
from multiexec.data.synthetic import fit_params, generate
from multiexec.errors import MultiexecError
from multiexec.testing import HEADER, minute_rows, write

SMALL = {"synthetic": {"n_assets": 6, "n_days": 12, "history_days": 8},
         "orders": {"top_k": 2}, "splits": {"valid_days": 2, "test_days": 2}}
DAYS = [str(d) for d in np.busday_offset(np.datetime64("2018-03-01"), np.arange(8), roll="forward")]
DAILY = "date,open,high,low,close,volume,Name\n"


def one_line(exc) -> str:
    msg = str(exc.value)
    assert "\n" not in msg and "Traceback" not in msg and "pydantic" not in msg
    return msg


@pytest.fixture
def small_dir(tmp_path):
    """Three tickers, eight days of three bars each (volume 1000 a bar: 3000 shares a day)."""
    d = tmp_path / "m"
    for k, (sym, p) in enumerate((("AAA", 10.0), ("BBB", 20.0), ("CCC", 30.0))):
        text = HEADER
        for i, day in enumerate(DAYS):
            px = p * (1 + 0.01 * ((i * (k + 1)) % 5))
            text += minute_rows(day, [("09:30", px, px, px, px, 1000), ("12:00", px, px, px, px, 1000),
                                      ("15:59", px, px, px, px, 1000)])
        write(d / f"{sym}.csv", text)
    return d


def daily_file(tmp_path, symbols=("AAA", "BBB")):
    rows = []
    for sym in symbols:
        for i, day in enumerate(np.busday_offset(np.datetime64("2018-02-01"), np.arange(10), roll="forward")):
            rows.append(f"{day},10,10,10,{10 + i},5000,{sym}")
    return write(tmp_path / "daily.csv", DAILY + "\n".join(rows) + "\n")


ORDERS = {"top_k": 1, "lookback": 2, "capital": 1e3, "min_notional": 0, "warmup_days": 2}
SPLITS = {"method": "fractions", "fractions": (0.5, 0.25, 0.25)}


# ------------------------------------------------------------------------------------------- configs
@pytest.mark.parametrize("name, text, match", [
    ("empty.yaml", "", r"empty.yaml: the config file is empty"),
    ("comments.yaml", "# nothing here\n\n", r"comments.yaml: the config file is empty"),
    ("null.yaml", "~\n", r"null.yaml: the config file is empty"),
    ("empty.toml", "", r"empty.toml: the config file is empty"),
    ("c.ini", "[data]\nseed = 1\n", r"c.ini: unknown config file type '.ini'"),
    ("c.cfg", "seed: 1\n", r"c.cfg: unknown config file type '.cfg'"),
    ("list.yaml", "- 1\n- 2\n", r"list.yaml: config must be a mapping"),
    ("bad.yaml", "a: [1, 2\nb: 3\n", r"bad.yaml: cannot parse config: "),
    ("neg.yaml", "seed: -1\n", r"neg.yaml: seed: Input should be greater than or equal to 0 \(got -1\)"),
    ("lb.yaml", "orders:\n  lookback: 0\n", r"lb.yaml: orders.lookback: Input should be greater than or equal to 1"),
    ("many.toml", 'seed = "x"\nmax_participation = 2\n[orders]\ntop_k = 0\n',
     r"many.toml: (?=.*seed: Input should be a valid integer)(?=.*max_participation: Input should be less)"
     r"(?=.*; orders.top_k: )"),
    ("screen.json", '{"screen": "fix"}', r"screen.json: screen: Input should be 'error' or 'repair' \(got 'fix'\)"),
])
def test_config_files_one_line(tmp_path, name, text, match):
    with pytest.raises(MultiexecError, match=match) as exc:
        load_config_file(write(tmp_path / name, text))
    one_line(exc)


def test_config_that_is_a_folder_and_explicit_empty_mapping(tmp_path):
    (tmp_path / "d.yaml").mkdir()
    with pytest.raises(MultiexecError, match=r"d.yaml: config must be a file"):
        load_config_file(tmp_path / "d.yaml")
    assert load_config_file(write(tmp_path / "e.json", "{}")) == DataConfig()  # explicit: all defaults


def test_validate_config_names_the_source():
    with pytest.raises(MultiexecError, match=r"^options: seed: Input should be greater than or equal to 0") as exc:
        validate_config({"seed": -4}, DataConfig, "options")
    one_line(exc)


# --------------------------------------------------------------------------------------------- seeds
def test_negative_seeds_are_one_line_errors(tmp_path):
    with pytest.raises(MultiexecError, match="seed of the synthetic market must be an integer >= 0, got -1"):
        generate(n_assets=2, n_days=1, history_days=0, seed=-1)
    runner = CliRunner()
    for args in (["orders", "--seed", "-1", "--out", str(tmp_path / "o.csv")], ["compare", "--seed", "-2"]):
        r = runner.invoke(app, args)
        assert r.exit_code == 2 and "Invalid value for '--seed'" in r.output, r.output
    assert not (tmp_path / "o.csv").exists()


# -------------------------------------------------------------------------------------------- lookback
def test_lookback_longer_than_the_history():
    cfg = DataConfig.model_validate(dict(SMALL, orders={"top_k": 2, "lookback": 500}))
    with pytest.raises(MultiexecError, match=r"orders.lookback = 500 needs 502 days of daily history before a day "
                                             r"of bars, but the data has 20 days in all \(8 of history \+ 12 of bars\)"):
        load_dataset(cfg)


# ------------------------------------------------------------------------------------------ daily file
def test_tickers_missing_from_the_daily_file_are_listed_kept_or_dropped(tmp_path, small_dir, caplog):
    daily = daily_file(tmp_path)
    cfg = DataConfig(source=str(small_dir), daily=str(daily), orders=ORDERS, splits=SPLITS)
    with caplog.at_level(logging.WARNING, logger="multiexec.data"):
        ds = load_dataset(cfg)
    note = "1 of 3 tickers have no daily history: CCC; they are ranked on the minute bars' daily closes only"
    assert any(note in n for n in ds.notes) and note in caplog.text
    assert ds.bars.symbols == ["AAA", "BBB", "CCC"] and ds.daily.meta["history_missing"] == ["CCC"]
    assert np.isnan(ds.daily.close[: 10, 2]).all() and np.isfinite(ds.daily.close[:10, :2]).all()
    dropped = load_dataset(cfg.model_copy(update={"on_missing": "drop"}))
    assert dropped.bars.symbols == ["AAA", "BBB"]
    assert any("dropped 1 of 3 tickers that have no daily history (on_missing='drop'): CCC" in n for n in dropped.notes)
    none = daily_file(tmp_path, symbols=("XXX", "YYY"))
    with pytest.raises(MultiexecError, match=r"daily.csv: the daily history has none of the 3 tickers"):
        load_dataset(cfg.model_copy(update={"daily": str(none)}))
    with pytest.raises(MultiexecError, match=r"daily history file not found: .*nope.csv"):
        load_dataset(cfg.model_copy(update={"daily": str(tmp_path / "nope.csv")}))
    with pytest.raises(MultiexecError, match="the synthetic market makes its own daily history"):
        load_dataset(DataConfig(daily=str(daily)))
    assert load_dataset(cfg.model_copy(update={"daily": "none"})).daily.meta.get("history") is None


def test_cli_daily_and_drop_missing(tmp_path, small_dir):
    daily = daily_file(tmp_path)
    cfg = write(tmp_path / "c.yaml", f"orders: {ORDERS}\nsplits:\n  method: fractions\n  fractions: [0.5, 0.25, 0.25]\n")
    runner = CliRunner()
    out = tmp_path / "o.csv"
    base = ["orders", "--config", str(cfg), "--source", str(small_dir), "--out", str(out)]
    r = runner.invoke(app, base + ["--daily", str(daily)])
    assert r.exit_code == 0, r.output
    with_ccc = pd.read_csv(out)
    r = runner.invoke(app, base + ["--daily", str(daily), "--drop-missing"])
    assert r.exit_code == 0, r.output
    assert "CCC" not in set(pd.read_csv(out).symbol) and len(pd.read_csv(out)) > 0
    r = runner.invoke(app, base + ["--daily", "none"])
    assert r.exit_code == 0, r.output
    assert not pd.read_csv(out).equals(with_ccc)  # ranked without the history: other orders
    info = ["info", "--config", str(cfg), "--source", str(small_dir), "--daily"]
    r = runner.invoke(app, info + [str(daily)])
    assert r.exit_code == 0 and f"daily history: {daily}" in r.output, r.output
    r = runner.invoke(app, info + ["none"])
    assert r.exit_code == 0 and "daily history: none (only the minute bars)" in r.output, r.output
    r = runner.invoke(app, base + ["--screen", "fix"])
    assert r.exit_code != 0 and "--screen: expected 'error' or 'repair'" in str(r.exception)


# ------------------------------------------------------------------------------------- participation
def test_orders_above_the_participation_cap(tmp_path, small_dir):
    d0, d1 = DAYS[3], DAYS[4]
    orders = write(tmp_path / "o.csv", f"date,symbol,side,amount,cash\n{d0},AAA,buy,700,1e6\n{d0},BBB,sell,751,\n"
                                       f"{d1},AAA,buy,100,1e6\n")
    cfg = DataConfig(source=str(small_dir), daily="none", orders={"csv": str(orders)},
                     splits={"method": "fractions", "fractions": (1.0, 0.0, 0.0)})
    with pytest.raises(MultiexecError, match=rf"o.csv: order {d0} BBB sell 751 shares is 0.25x the day's volume "
                                             r"3000 in the bars, above max_participation = 0.25") as exc:
        load_dataset(cfg)
    one_line(exc)
    part = load_dataset(cfg.model_copy(update={"over_cap": "partial"}))
    assert part.cuts == [{"date": d0, "symbol": "BBB", "side": "sell", "amount": 751.0, "cut_to": 750.0,
                          "day_volume": 3000.0}]
    assert part.orders[0].amount.tolist() == [700.0, 750.0]
    assert any("1 order(s) above 0.25 of the day's volume cut to the cap (partial fills): BBB" in n for n in part.notes)
    assert part.bars.meta["max_participation"] == 0.25
    loose = load_dataset(cfg.model_copy(update={"max_participation": 0.5}))
    assert loose.orders[0].amount.tolist() == [700.0, 751.0] and loose.cuts == []
    off = load_dataset(cfg.model_copy(update={"max_participation": None}))
    assert off.bars.meta["max_participation"] is None
    with pytest.raises(MultiexecError, match=r"max_participation: Input should be less than or equal to 1"):
        validate_config({"max_participation": 1.5}, DataConfig, "options")


def test_generated_orders_above_the_cap(small_dir):
    cfg = DataConfig(source=str(small_dir), daily="none", orders=dict(ORDERS, capital=1e7), splits=SPLITS)
    with pytest.raises(MultiexecError, match=r"\(generated orders\): order .* shares is .*x the day's volume 3000"):
        load_dataset(cfg)


# --------------------------------------------------------------------------------------------- fit
def test_fit_shows_progress(capsys):
    bars, _ = generate(n_assets=3, n_days=5, history_days=0, seed=2)
    quiet = fit_params(bars)
    assert capsys.readouterr().err == ""
    loud = fit_params(bars, progress=True)
    err = capsys.readouterr().err
    assert "fit" in err and "13/13" in err and "tail match" in err
    assert loud.t_df == quiet.t_df and loud.garch_alpha == quiet.garch_alpha
