"""Data-layer timings: parsing vs cached loading of the 60-stock US minute universe and the S&P 500 daily
file, the minute-bar screen (outliers, high < low, open/close outside the range) on its ~1M rows and the bars it
flags, generating the synthetic market, and building datasets. Prints a table (and writes
``results/bench_data.csv``). Uses a fresh temporary cache so the first load really parses.

    .venv/bin/python benchmarks/bench_data.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3, help="cached loads / generations to time (median reported)")
    ap.add_argument("--out", type=Path, default=Path("results/bench_data.csv"))
    args = ap.parse_args()
    os.environ["MULTIEXEC_CACHE"] = tempfile.mkdtemp(prefix="multiexec-bench-cache-")
    logging.getLogger("multiexec.data").setLevel(logging.ERROR)  # the data notes once per load: not timings
    import pandas as pd

    from multiexec.data.dataset import DataConfig, load_dataset
    from multiexec.data.loaders import load_bars, load_daily, resolve_source
    from multiexec.data.synthetic import generate
    from multiexec.paths import shared_data

    rows = []

    def timed(name: str, fn, repeats: int = 1) -> None:
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        rows.append({"task": name, "seconds (median)": statistics.median(times), "runs": repeats})
        print(f"{name:60s} {statistics.median(times):8.3f} s")

    if shared_data("us_minute_2018") is not None:
        timed("us_minute_2018 60 tickers x 44 days: first load (parse)", lambda: load_bars("us_minute_2018"))
        timed("us_minute_2018: cached load", lambda: load_bars("us_minute_2018"), args.repeats)
        from multiexec.data.loaders import US_CLOSE, US_OPEN, _parse_minute_file, minute_dir_files, screen_rows

        parsed = []
        for sym, path in minute_dir_files(resolve_source("us_minute_2018")).items():
            r = _parse_minute_file(path)
            ok = (r["minute"] >= US_OPEN) & (r["minute"] <= US_CLOSE)
            parsed.append((sym, str(path), {k: v[ok].copy() for k, v in r.items()}))
        flagged = []

        def screen_all() -> None:
            flagged.clear()
            for sym, path, r in parsed:
                rr = {k: v.copy() for k, v in r.items()}
                flagged.extend(screen_rows(rr, path, sym, lambda i: f"line {i + 2}", "repair"))

        timed(f"screen of us_minute_2018 ({sum(len(r['close']) for _, _, r in parsed)} rows)", screen_all,
              args.repeats)
        print(f"{'':60s} bars flagged by the screen: {len({(x['file'], x['line']) for x in flagged})}")
        timed("sp500 daily 505 x 1259: first load (parse)", lambda: load_daily(resolve_source("sp500_daily")))
        timed("sp500 daily: cached load", lambda: load_daily(resolve_source("sp500_daily")), args.repeats)
        timed("load_dataset(us_minute_2018) with caches warm",
              lambda: load_dataset(DataConfig(source="us_minute_2018")), args.repeats)
    else:
        print("shared data absent: real-data timings skipped")
    timed("synthetic 30 assets x 90 days (60 + 30 history)", lambda: generate(seed=0), args.repeats)
    timed("load_dataset(DataConfig()) (synthetic default)", lambda: load_dataset(DataConfig()), args.repeats)
    df = pd.DataFrame(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(args.out, index=False)
    print()
    print(df.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    print(f"wrote {args.out} (timings are noisy on a shared machine)")


if __name__ == "__main__":
    main()
