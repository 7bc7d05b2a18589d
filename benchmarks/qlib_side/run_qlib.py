"""Qlib's side of ``benchmarks/bench_qlib.py``: runs inside the separate ``.venv-qlib`` virtualenv.

It reads what the main side exported (plain ``.npz`` arrays, readable by any NumPy), writes the
bars in the data format of Qlib's simple single-order simulator and runs the exported orders with
the exported per-step schedules through ``qlib.rl.order_execution.SingleAssetOrderExecutionSimple``.

Qlib's data format (``qlib.rl.data.pickle_styled``, "pickle-styled" data of the OPD paper): one
pickled ``pandas.DataFrame`` per instrument at ``<data_dir>/backtest/<instrument>.pkl.backtest``,
indexed by ``(instrument, datetime, date)``, with at least the columns ``$close0`` (the deal price
for ``deal_price="close"``) and ``$volume0``. Every row is one tick (here: one minute). The
simulator cuts the day into steps of ``ticks_per_step`` ticks, splits each step's amount evenly over
the step's ticks and trades them at the tick's deal price; ``vol_threshold=None`` disables its
volume cap. The ``.pkl.backtest`` suffix (accepted by Qlib's ``_find_pickle``) makes Qlib skip its
handler-format loader, which would otherwise unpickle every file once more per order only to fail.

Usage (normally called by bench_qlib.py)::

    .venv-qlib/bin/python benchmarks/qlib_side/run_qlib.py EXPORT_DIR OUT_JSON [--repeats 2]

``EXPORT_DIR`` holds one folder per case with ``bars.npz`` and ``orders.npz`` (see
``bench_qlib.export_case``). The result is a JSON file: per case, the timings and the average
execution price of every order run.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

PRICE_COL = "$close0"
VOLUME_COL = "$volume0"
SUFFIX = ".pkl.backtest"
PROGRESS_EVERY = 10  # orders between two "progress N" lines on stdout


def minute_index(dates: np.ndarray, minutes: np.ndarray) -> tuple[pd.DatetimeIndex, pd.DatetimeIndex]:
    """(datetime, date) of every (day, minute) pair, day-major: ``len(dates) * len(minutes)`` each."""
    day = pd.DatetimeIndex(np.asarray(dates, dtype="datetime64[D]").astype("datetime64[ns]"))
    offs = pd.to_timedelta(np.asarray(minutes, dtype=np.int64), unit="min")
    when = (day.values[:, None] + offs.values[None, :]).reshape(-1)
    return pd.DatetimeIndex(when), pd.DatetimeIndex(np.repeat(day.values, len(minutes)))


def pickle_styled_frame(symbol: str, dates: np.ndarray, minutes: np.ndarray, close: np.ndarray,
                        volume: np.ndarray) -> pd.DataFrame:
    """One instrument's bars (``close``/``volume``: (days, minutes)) as Qlib's pickle-styled backtest frame."""
    when, day = minute_index(dates, minutes)
    index = pd.MultiIndex.from_arrays(
        [np.full(len(when), symbol, dtype=object), when, day], names=["instrument", "datetime", "date"]
    )
    return pd.DataFrame(
        {PRICE_COL: np.asarray(close, dtype=np.float64).reshape(-1),
         VOLUME_COL: np.asarray(volume, dtype=np.float64).reshape(-1)},
        index=index,
    )


def write_qlib_data(case_dir: Path, data_dir: Path) -> list[str]:
    """Write the bars of ``case_dir/bars.npz`` as ``data_dir/backtest/<symbol>.pkl.backtest``; returns the symbols."""
    bars = dict(np.load(case_dir / "bars.npz", allow_pickle=False))
    orders = dict(np.load(case_dir / "orders.npz", allow_pickle=False))
    symbols = [str(s) for s in bars["symbols"]]
    out = data_dir / "backtest"
    out.mkdir(parents=True, exist_ok=True)
    used = np.unique(orders["asset"])
    for a in used:
        frame = pickle_styled_frame(symbols[a], bars["dates"], bars["minutes"], bars["close"][:, a],
                                    bars["volume"][:, a])
        frame.to_pickle(out / f"{symbols[a]}{SUFFIX}")
    return [symbols[a] for a in used]


def run_case(case_dir: Path, work_dir: Path, repeats: int) -> dict:
    """Run every exported order of one case through Qlib's simple simulator; best time of ``repeats``."""
    from qlib.backtest.decision import Order, OrderDir
    from qlib.rl.data import pickle_styled
    from qlib.rl.order_execution import SingleAssetOrderExecutionSimple

    t0 = time.perf_counter()
    data_dir = work_dir / case_dir.name
    write_qlib_data(case_dir, data_dir)
    export_s = time.perf_counter() - t0

    # materialise the arrays: an NpzFile would re-read the archive at every access inside the timed loop
    bars = dict(np.load(case_dir / "bars.npz", allow_pickle=False))
    orders = dict(np.load(case_dir / "orders.npz", allow_pickle=False))
    symbols = [str(s) for s in bars["symbols"]]
    days = pd.DatetimeIndex(np.asarray(bars["dates"], dtype="datetime64[D]").astype("datetime64[ns]"))
    step_minutes = int(orders["step_minutes"])
    schedule = orders["schedule"]  # (K, T) shares per step
    ids = orders["order_id"]
    # a backtest walks the orders instrument by instrument so that Qlib's per-file cache hits
    run_order = np.lexsort((orders["day"], orders["asset"]))

    best_total = best_steps = best_cpu = np.inf
    prices = np.full(len(ids), np.nan)
    n_steps = np.zeros(len(ids), dtype=np.int64)
    for _ in range(repeats):
        # every repeat does the same work: Qlib reads its files again
        pickle_styled._read_pickle.cache_clear()
        pickle_styled.load_simple_intraday_backtest_data.cache_clear()
        step_s = 0.0
        start, cpu_start = time.perf_counter(), time.process_time()
        for j, k in enumerate(run_order):
            day = days[orders["day"][k]]
            order = Order(
                stock_id=symbols[orders["asset"][k]],
                amount=float(orders["amount"][k]),
                direction=OrderDir.SELL if orders["side"][k] > 0 else OrderDir.BUY,
                start_time=day,
                end_time=day + pd.Timedelta(hours=23, minutes=59, seconds=59),
            )
            sim = SingleAssetOrderExecutionSimple(order, data_dir, ticks_per_step=step_minutes, vol_threshold=None)
            s0 = time.perf_counter()
            t = 0
            while not sim.done():
                sim.step(float(schedule[k, t]))
                t += 1
            step_s += time.perf_counter() - s0
            n_steps[k] = t
            prices[k] = sim.metrics["trade_price"]
            if (j + 1) % PROGRESS_EVERY == 0 or j + 1 == len(run_order):  # for the caller's progress bar
                print(f"progress {(j % PROGRESS_EVERY) + 1}", flush=True)
        total, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        best_total, best_steps, best_cpu = min(best_total, total), min(best_steps, step_s), min(best_cpu, cpu)
    return {
        "order_id": ids.tolist(),
        "trade_price": prices.tolist(),
        "n_steps": n_steps.tolist(),
        "order_steps": int(n_steps.sum()),
        "seconds": best_total,
        "seconds_steps_only": best_steps,
        "cpu_seconds": best_cpu,
        "export_seconds": export_s,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("export_dir", type=Path, help="folder with one sub-folder (bars.npz, orders.npz) per case")
    ap.add_argument("out_json", type=Path, help="where to write the results")
    ap.add_argument("--repeats", type=int, default=2, help="timed passes over each case's orders (best is kept)")
    ap.add_argument("--work-dir", type=Path, default=None,
                    help="where Qlib's data files go (default: EXPORT_DIR/qlib_data)")
    args = ap.parse_args()

    import qlib

    # pyqlib 0.9.7 triggers pandas FutureWarnings at every step (DataFrame concat with empty frames);
    # printing them would flood the output and slow the timed loop
    warnings.filterwarnings("ignore", category=FutureWarning)
    work = args.work_dir or args.export_dir / "qlib_data"
    cases = sorted(p for p in args.export_dir.iterdir() if (p / "orders.npz").exists())
    if not cases:
        raise SystemExit(f"no cases (sub-folders with orders.npz) in {args.export_dir}")
    result = {"qlib_version": qlib.__version__, "numpy_version": np.__version__, "pandas_version": pd.__version__,
              "cases": {}}
    for case in cases:
        result["cases"][case.name] = run_case(case, work, max(1, args.repeats))
        r = result["cases"][case.name]
        print(f"done {case.name}: {len(r['order_id'])} orders, {r['order_steps'] / r['seconds']:,.0f} order-steps/s",
              flush=True)
    args.out_json.write_text(json.dumps(result))


if __name__ == "__main__":
    main()
