"""Is the synthetic market with ``intraday_drift = 0`` bit for bit the market of the code before the knob existed?

Loads a reference copy of ``synthetic.py`` (e.g. from git: ``git show 3ab8453:src/multiexec/data/synthetic.py >
/tmp/synthetic_ref.py``) and compares every array of ``generate`` (default size: 30 assets, 60 days, 30 history
days) for the given seeds with ``np.array_equal``, for the default call and for ``intraday_drift=0.0``.

Usage: .venv/bin/python experiments/coordination/check_default_unchanged.py /tmp/synthetic_ref.py [seeds, default 0,1,3]
"""
from __future__ import annotations

import importlib.util
import sys

import numpy as np

from multiexec.data import synthetic


def main():
    spec = importlib.util.spec_from_file_location("synthetic_ref", sys.argv[1])
    ref = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ref)
    seeds = [int(s) for s in (sys.argv[2] if len(sys.argv) > 2 else "0,1,3").split(",")]
    fields = ("open", "high", "low", "close", "volume", "traded")
    for seed in seeds:
        bars_ref, hist_ref = ref.generate(None, 30, 60, 30, seed)
        for kwargs in ({}, {"intraday_drift": 0.0}):
            bars, hist = synthetic.generate(None, 30, 60, 30, seed, **kwargs)
            same = all(np.array_equal(getattr(bars, f), getattr(bars_ref, f)) for f in fields)
            same &= all(np.array_equal(getattr(hist, f), getattr(hist_ref, f))
                        for f in ("open", "high", "low", "close", "volume"))
            same &= np.array_equal(bars.dates, bars_ref.dates) and bars.symbols == bars_ref.symbols
            print(f"seed {seed} {kwargs or 'default call'}: {'bit-identical' if same else 'DIFFERENT'}")
            if not same:
                sys.exit(1)


if __name__ == "__main__":
    main()
