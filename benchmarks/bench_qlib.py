"""Throughput of ``MultiOrderEnv`` next to Qlib's single-order simulator, and price agreement.

    bash benchmarks/qlib_side/setup_venv.sh              # once: the separate Qlib virtualenv .venv-qlib
    .venv/bin/python benchmarks/bench_qlib.py            # full run (~2-3 minutes on 2 busy cores)
    .venv/bin/python benchmarks/bench_qlib.py --help

1. Ours: order-steps per second of ``MultiOrderEnv`` driven by the TWAP rule (``multiexec.policies.rules.twap``,
   its ``act`` included in the timed loop), cash ample, for 10, 100 and 1,000 orders per day and a batch of
   64 days x 100 orders, on synthetic minute bars built here (random-walk prices, U-shaped volume, some
   minutes without volume); the project's embedded default data set (``load_dataset(DataConfig())``: its own
   order sets, whose size varies by day, with their cash raised so it never binds); and 20 random orders a day
   on the real ``us_minute_2018`` bars where the shared data is present.
   Best of ``--repeats`` episodes (reset + all steps); building the environment is not timed.
2. Qlib: a seeded random subset of the same orders (``--qlib-orders`` per case) is exported (bars as
   ``.npz``, orders with the per-step volumes our environment actually executed) and run in the separate
   ``.venv-qlib`` virtualenv by ``benchmarks/qlib_side/run_qlib.py`` through
   ``qlib.rl.order_execution.SingleAssetOrderExecutionSimple`` (deal price = minute close, 30 ticks per step,
   ``vol_threshold=None``). Its order-steps per second count each order's simulator construction (its data
   lookup) and steps; "steps only" counts the steps alone. Orders run instrument by instrument so that Qlib's
   per-file cache hits; each timed pass starts with Qlib's caches cleared.
   For both, "per CPU-second" divides the same work by the process's CPU time instead of the wall clock:
   less distorted when other processes share the cores.
3. Agreement: the average execution price of every order that Qlib ran against ours for the same schedule;
   the largest relative difference is printed.

Without ``.venv-qlib`` the Qlib part is skipped with a message that says how to create it
(``bash benchmarks/qlib_side/setup_venv.sh``). Results: printed table and ``<out>/throughput.csv``,
``<out>/price_agreement.csv``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from multiexec.data.bars import MinuteBars
from multiexec.data.orders import DayOrders
from multiexec.errors import MultiexecError
from multiexec.execution.env import ExecConfig, MultiOrderEnv
from multiexec.paths import REPO_ROOT, shared_data
from multiexec.policies.rules import twap

QLIB_SIDE = Path(__file__).resolve().parent / "qlib_side"
DEFAULT_VENV = REPO_ROOT / ".venv-qlib"
GOAL = 1_000_000  # order-steps per second
DATA_LABELS = {"synthetic": "synthetic (bench)", "default": "default (load_dataset)", "us_minute_2018": "us_minute_2018"}


@dataclass
class Case:
    """One benchmark case: ``days`` trading days with ``orders_per_day`` orders each (None: as the data set has)."""

    name: str
    data: str  # "synthetic" (built here), "default" (load_dataset(DataConfig())) or "us_minute_2018"
    orders_per_day: int | None  # None: the dataset's own order sets (their count varies by day)
    days: int | None  # None: every day of the dataset


@dataclass
class OursResult:
    """Timing of our environment on a case, and what the Qlib side needs to replay its orders."""

    case: Case
    n_orders: int
    order_steps: int
    seconds: float  # best wall-clock time of an episode
    cpu_seconds: float  # best CPU time of an episode (less sensitive to other processes on the machine)
    avg_price: np.ndarray  # (K,) average execution price per order, flattened day-major
    schedule: np.ndarray  # (K, T) shares executed per step
    order_day: np.ndarray  # (K,) index into bars.dates
    order_asset: np.ndarray  # (K,) index into bars.symbols
    order_side: np.ndarray  # (K,) +1 sell / -1 buy
    order_amount: np.ndarray  # (K,)


# ------------------------------------------------------------------------------------------------ data
def synthetic_bars(n_days: int, n_assets: int, seed: int, n_minutes: int = 390) -> MinuteBars:
    """Random-walk minute bars on a 09:30-16:00 grid with U-shaped volume and ~2% minutes without trades."""
    rng = np.random.default_rng(seed)
    shape = (n_days, n_assets, n_minutes)
    level = rng.uniform(10, 300, (1, n_assets, 1))
    logp = np.cumsum(rng.standard_t(4, shape) * 5e-4, axis=2) + rng.normal(0, 0.01, (n_days, n_assets, 1))
    close = level * np.exp(logp)
    open_ = np.concatenate([close[:, :, :1] * np.exp(rng.normal(0, 5e-4, (n_days, n_assets, 1))), close[:, :, :-1]],
                           axis=2)
    spread = np.abs(rng.normal(0, 3e-4, shape))
    high = np.maximum(open_, close) * (1 + spread)
    low = np.minimum(open_, close) * (1 - spread)
    x = np.linspace(-1, 1, n_minutes)
    u_shape = 1.0 + 2.5 * x**2
    volume = np.round(rng.lognormal(6, 0.8, shape) * u_shape)
    quiet = rng.random(shape) < 0.02
    volume[quiet] = 0.0
    dates = np.busday_offset(np.datetime64("2021-01-04", "D"), np.arange(n_days), roll="forward")
    return MinuteBars(
        symbols=[f"SYN{i:04d}" for i in range(n_assets)], dates=dates, minutes=np.arange(570, 570 + n_minutes),
        open=open_, high=high, low=low, close=close, volume=volume, traded=~quiet, source="synthetic (bench_qlib)",
    )


def ample_cash(bars: MinuteBars, day: int, assets: np.ndarray, side: np.ndarray, amount: np.ndarray) -> float:
    """10x the day's buy notional at the day's highest closes: the cash rule can never bind."""
    return 10.0 * float((amount * bars.close[day, assets].max(axis=1))[side < 0].sum()) + 1.0


def random_orders(bars: MinuteBars, orders_per_day: int, n_days: int, seed: int) -> list[DayOrders]:
    """``orders_per_day`` orders on each of the first ``n_days`` days, random sides and amounts; ample cash."""
    if orders_per_day > bars.n_assets:
        raise MultiexecError(f"{orders_per_day} orders per day need as many assets, the data has {bars.n_assets}")
    rng = np.random.default_rng(seed)
    out = []
    for d in range(n_days):
        idx = rng.choice(bars.n_assets, orders_per_day, replace=False)
        side = rng.choice(np.array([-1, 1], dtype=np.int8), orders_per_day)
        amount = rng.integers(100, 10_000, orders_per_day).astype(np.float64)
        out.append(DayOrders(bars.dates[d], [bars.symbols[i] for i in idx], side, amount,
                             ample_cash(bars, d, idx, side, amount)))
    return out


def with_ample_cash(bars: MinuteBars, orders: list[DayOrders]) -> list[DayOrders]:
    """The same order sets with their cash raised so that it never binds."""
    out = []
    for o in orders:
        d, idx = int(bars.date_index([o.date])[0]), bars.symbol_index(o.symbols)
        out.append(DayOrders(o.date, o.symbols, o.side, o.amount, ample_cash(bars, d, idx, o.side, o.amount)))
    return out


# ------------------------------------------------------------------------------------------------ ours
def run_ours(case: Case, bars: MinuteBars, orders: list[DayOrders], cfg: ExecConfig, repeats: int) -> OursResult:
    """Best-of-``repeats`` time of a TWAP episode over all days at once; also the executed schedule and prices."""
    env = MultiOrderEnv(bars, orders, cfg)
    rule = twap(bars, cfg)
    best = best_cpu = np.inf
    for _ in range(repeats):
        start, cpu_start = time.perf_counter(), time.process_time()
        obs = env.reset()
        done = False
        while not done:
            res = env.step(rule.act(obs))
            obs, done = res.obs, res.done
        best = min(best, time.perf_counter() - start)
        best_cpu = min(best_cpu, time.process_time() - cpu_start)
    if env.binding_hist.any():
        raise MultiexecError(f"{case.name}: the cash rule bound although cash was meant to be ample")
    res = env.results()
    if not np.allclose(res["fill_rate"], 1.0):
        raise MultiexecError(f"{case.name}: not every order was filled")
    b, i = np.nonzero(env.mask)  # day-major, the order of results()
    n_orders = len(b)
    return OursResult(
        case=case, n_orders=n_orders, order_steps=n_orders * env.n_steps, seconds=best, cpu_seconds=best_cpu,
        avg_price=res["avg_exec_price"].to_numpy(),
        schedule=env.exec_hist[b, i] * env.amount[b, i][:, None],
        order_day=env.day[b], order_asset=env.asset[b, i], order_side=env.side[b, i].astype(np.int64),
        order_amount=env.amount[b, i],
    )


# ------------------------------------------------------------------------------------------------ export
def export_case(out_dir: Path, bars: MinuteBars, ours: OursResult, order_ids: np.ndarray, step_minutes: int) -> None:
    """Write the bars of the orders' assets and the chosen orders with their executed schedules as ``.npz``.

    ``bars.npz``: symbols (A',), dates (D,) ``datetime64[D]``, minutes (M,), close and volume (D, A', M).
    ``orders.npz``: order_id (K',) (index into ``ours``), day, asset (into bars.npz), side (+1 sell / -1 buy),
    amount, schedule (K', T) shares per step, step_minutes. Plain arrays, so any NumPy reads them.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    assets, local = np.unique(ours.order_asset[order_ids], return_inverse=True)
    np.savez(
        out_dir / "bars.npz", symbols=np.asarray(bars.symbols)[assets].astype(str), dates=bars.dates,
        minutes=bars.minutes, close=bars.close[:, assets], volume=bars.volume[:, assets],
    )
    np.savez(
        out_dir / "orders.npz", order_id=order_ids, day=ours.order_day[order_ids], asset=local.reshape(-1),
        side=ours.order_side[order_ids], amount=ours.order_amount[order_ids], schedule=ours.schedule[order_ids],
        step_minutes=np.int64(step_minutes),
    )


def qlib_python(venv: Path) -> Path | None:
    """The virtualenv's interpreter, or None where there is no such virtualenv."""
    py = venv / "bin" / "python"
    return py if py.exists() else None


def run_qlib(py: Path, export_dir: Path, repeats: int, timeout: float) -> dict:
    """Run ``qlib_side/run_qlib.py`` in the Qlib virtualenv (with a progress bar); its JSON result."""
    from tqdm import tqdm

    out = export_dir / "qlib_result.json"
    n_orders = sum(len(np.load(p)["order_id"]) for p in export_dir.glob("*/orders.npz"))
    cmd = [str(py), str(QLIB_SIDE / "run_qlib.py"), str(export_dir), str(out), "--repeats", str(repeats)]
    log = export_dir / "qlib_stderr.txt"
    with open(log, "w") as err, subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True) as proc, \
            tqdm(total=n_orders * repeats, desc="qlib", unit="order") as bar:
        killed = threading.Event()

        def stop() -> None:
            killed.set()
            proc.kill()

        watchdog = threading.Timer(timeout, stop)
        watchdog.start()
        try:
            for line in proc.stdout:
                if line.startswith("progress "):
                    bar.update(int(line.split()[1]))
            rc = proc.wait()
        finally:
            watchdog.cancel()
    if killed.is_set():
        raise MultiexecError(f"the Qlib side ran past {timeout:.0f} s and was stopped: {' '.join(cmd)}")
    if rc != 0:
        tail = "\n".join(log.read_text().strip().splitlines()[-30:])
        raise MultiexecError(f"the Qlib side failed (exit {rc}): {' '.join(cmd)}\n{tail}")
    return json.loads(out.read_text())


# ------------------------------------------------------------------------------------------------ main
def build_cases(include_real: bool) -> list[Case]:
    cases = [
        Case("syn-10x1", "synthetic", 10, 1),
        Case("syn-100x1", "synthetic", 100, 1),
        Case("syn-1000x1", "synthetic", 1000, 1),
        Case("syn-100x64", "synthetic", 100, 64),
        Case("default", "default", None, None),
    ]
    if include_real:
        cases.append(Case("us2018-20x44", "us_minute_2018", 20, 44))
    return cases


def case_inputs(case: Case, seed: int) -> tuple[MinuteBars, list[DayOrders]]:
    """The bars and order sets of a case (cash always ample)."""
    if case.data == "synthetic":
        bars = synthetic_bars(case.days, max(case.orders_per_day, 10), seed)
        return bars, random_orders(bars, case.orders_per_day, case.days, seed + 1)
    if case.data == "default":
        from multiexec.data.dataset import DataConfig, load_dataset

        ds = load_dataset(DataConfig(seed=seed))
        return ds.bars, with_ample_cash(ds.bars, ds.orders)
    from multiexec.data.loaders import load_bars

    bars = load_bars(case.data)
    if bars.n_days < case.days:
        raise MultiexecError(f"{case.data} has {bars.n_days} days, the case needs {case.days}")
    return bars, random_orders(bars, case.orders_per_day, case.days, seed + 1)


def orders_per_day_label(orders: list[DayOrders]) -> str:
    counts = [o.n for o in orders]
    lo, hi = min(counts), max(counts)
    return str(lo) if lo == hi else f"{lo}-{hi}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 2)[2])
    ap.add_argument("--seed", type=int, default=0, help="seed of the synthetic bars, the orders and the Qlib subset")
    ap.add_argument("--repeats", type=int, default=7, help="timed episodes of ours per case (best is kept)")
    ap.add_argument("--qlib-orders", type=int, default=60, help="orders per case run through Qlib (random subset)")
    ap.add_argument("--qlib-repeats", type=int, default=2, help="timed passes of Qlib per case (best is kept)")
    ap.add_argument("--qlib-venv", type=Path, default=DEFAULT_VENV, help="virtualenv with pyqlib 0.9.7")
    ap.add_argument("--no-real", action="store_true", help="skip the us_minute_2018 case even where the data exists")
    ap.add_argument("--cases", nargs="+", default=None, metavar="NAME",
                    help="run only these cases (syn-10x1 syn-100x1 syn-1000x1 syn-100x64 default us2018-20x44)")
    ap.add_argument("--out", type=Path, default=REPO_ROOT / "results" / "bench_qlib", help="folder for the CSV tables")
    args = ap.parse_args(argv)

    from tqdm import tqdm

    cfg = ExecConfig()  # 30-minute steps, minute close, TWAP inside a step
    include_real = not args.no_real and shared_data("us_minute_2018") is not None
    if not args.no_real and not include_real:
        print("note: shared/data/us_minute_2018 is absent: the real-data case is skipped")
    cases = build_cases(include_real)
    if args.cases is not None:
        known = {c.name for c in build_cases(True)}
        unknown = sorted(set(args.cases) - known)
        if unknown:
            raise MultiexecError(f"unknown case(s) {unknown}; choose from {sorted(known)}")
        cases = [c for c in cases if c.name in args.cases]
        if not cases:
            raise MultiexecError(f"none of the cases {args.cases} can run here (is the real data absent?)")
    py = qlib_python(args.qlib_venv)
    if py is None:
        print(f"note: no Qlib virtualenv at {args.qlib_venv}: the Qlib part is skipped.\n"
              f"      Create it with:  bash benchmarks/qlib_side/setup_venv.sh   (pyqlib==0.9.7, tianshou==0.4.10, "
              "numpy<2; a few minutes)")

    rng = np.random.default_rng(args.seed)
    rows, ours_by_case, labels = [], {}, {}
    with tempfile.TemporaryDirectory(prefix="bench_qlib_") as tmp:
        export_dir = Path(tmp)
        for case in tqdm(cases, desc="ours", unit="case"):
            bars, orders = case_inputs(case, args.seed)
            r = run_ours(case, bars, orders, cfg, args.repeats)
            ours_by_case[case.name] = r
            labels[case.name] = {"data": DATA_LABELS[case.data], "orders/day": orders_per_day_label(orders),
                                 "days": len(orders)}
            rows.append({"simulator": "multiexec", **labels[case.name], "orders run": r.n_orders,
                         "order-steps/s": r.order_steps / r.seconds,
                         "per CPU-second": r.order_steps / r.cpu_seconds, "steps only": np.nan})
            if py is not None:
                k = min(args.qlib_orders, r.n_orders)
                ids = np.sort(rng.choice(r.n_orders, k, replace=False))
                export_case(export_dir / case.name, bars, r, ids, cfg.step_minutes)

        agreement = []
        if py is not None:
            print(f"running Qlib's simulator in {args.qlib_venv} ...", flush=True)
            q = run_qlib(py, export_dir, args.qlib_repeats, timeout=900)
            for case in cases:
                qc = q["cases"][case.name]
                r = ours_by_case[case.name]
                ids = np.asarray(qc["order_id"])
                ours_p, qlib_p = r.avg_price[ids], np.asarray(qc["trade_price"])
                n_steps = np.asarray(qc["n_steps"])
                if (n_steps != r.schedule.shape[1]).any():
                    raise MultiexecError(f"{case.name}: Qlib took {sorted(set(n_steps))} steps, ours "
                                         f"{r.schedule.shape[1]}")
                rel = np.abs(qlib_p - ours_p) / ours_p
                agreement.append({"case": case.name, "orders compared": len(ids), "max rel diff": rel.max(),
                                  "mean rel diff": rel.mean()})
                rows.append({"simulator": f"qlib {q['qlib_version']}", **labels[case.name], "orders run": len(ids),
                             "order-steps/s": qc["order_steps"] / qc["seconds"],
                             "per CPU-second": qc["order_steps"] / qc["cpu_seconds"],
                             "steps only": qc["order_steps"] / qc["seconds_steps_only"]})

    table = pd.DataFrame(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "throughput.csv", index=False)
    fmt = {c: "{:,.0f}".format for c in ("order-steps/s", "per CPU-second", "steps only")}
    print()
    print(table.to_string(index=False, formatters=fmt, na_rep="-"))
    print("order-steps/s: wall clock, best of the repeats; "
          "per CPU-second: the same work over this process's CPU time;\n"
          "steps only (Qlib): wall clock without building each order's simulator (its data look-up).")
    print(f"\ngoal for multiexec: >= {GOAL:,} order-steps/s on 2 cores; "
          "timings are noisy when other processes share the CPU.")
    ours_rates = table[table.simulator == "multiexec"]
    below = ours_rates[ours_rates["order-steps/s"] < GOAL]
    if len(below):
        print("below goal: " + ", ".join(f"{r['orders/day']} orders x {r['days']} day(s)" for _, r in below.iterrows()))
    if agreement:
        agr = pd.DataFrame(agreement)
        agr.to_csv(args.out / "price_agreement.csv", index=False)
        print(f"\nprice agreement (average execution price per order, same TWAP schedule, same bars): "
              f"{int(agr['orders compared'].sum())} orders, max relative difference {agr['max rel diff'].max():.2e}")
        sci = "{:.2e}".format
        print(agr.to_string(index=False, formatters={"max rel diff": sci, "mean rel diff": sci}))
    print(f"\ntables written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
