"""Compile the LOB's numba code ahead (numba caches it on disk): ``python -m multiexec.lob.warm``.

``make`` runs it during set-up, so that the first ``multiexec lob run`` / ``lob replay`` / gym episode on a fresh
machine does not spend minutes compiling without a word. It runs each compiled path once on tiny inputs: a
minute of the rmsc04 market (kernel, agents, matching), the engine's Python front-end (limit, market, cancel,
modify, L1/L2/L3) and the LOBSTER replay loop on a synthetic sample. A second run loads everything from the
cache (about a second)."""

from __future__ import annotations

import time
from pathlib import Path

_LOB_DIR = Path(__file__).resolve().parent


def is_cached() -> bool:
    """True when numba's on-disk cache holds the kernel's event loop (the longest compile)."""
    import os

    root = Path(os.environ["NUMBA_CACHE_DIR"]) if os.environ.get("NUMBA_CACHE_DIR") else _LOB_DIR / "__pycache__"
    return root.is_dir() and any(root.rglob("kernel.run_until-*.nbi"))


def _synthetic_lobster():
    import numpy as np
    import pandas as pd

    from multiexec.lob.lobster import LobsterData, book_columns

    msgs = pd.DataFrame({"time": [34200.0, 34200.1, 34200.2, 34200.3, 34200.4],
                         "type": [1, 1, 4, 2, 3], "order_id": [1, 2, 1, 2, 2], "size": [10, 20, 4, 5, 15],
                         "price": [1000000, 1010000, 1000000, 1010000, 1010000], "direction": [1, -1, 1, -1, -1]})
    rows = [[9999999999, 0, 1000000, 10, 9999999999, 0, -9999999999, 0],
            [1010000, 20, 1000000, 10, 9999999999, 0, -9999999999, 0],
            [1010000, 20, 1000000, 6, 9999999999, 0, -9999999999, 0],
            [1010000, 15, 1000000, 6, 9999999999, 0, -9999999999, 0],
            [9999999999, 0, 1000000, 6, 9999999999, 0, -9999999999, 0]]
    book = pd.DataFrame(np.array(rows, np.int64), columns=book_columns(2))
    return LobsterData(messages=msgs, book=book, levels=2, message_csv=Path("W_2020-01-02_message_2.csv"),
                       orderbook_csv=Path("W_2020-01-02_orderbook_2.csv"))


def warm(verbose: bool = True) -> float:
    """Run every compiled path once; returns the seconds it took (compiling, or loading the cache)."""
    t0 = time.perf_counter()
    cached = is_cached()
    if verbose:
        print("compiling the LOB simulator's numba code (cached on disk; 1-3 minutes the first time)..." if not cached
              else "loading the LOB simulator's compiled code from numba's cache (parts whose source changed are compiled "
              "again)...", flush=True)
    from multiexec.lob.config import get_config
    from multiexec.lob.engine import Exchange
    from multiexec.lob.replay import lobster_stream, replay_lobster
    from multiexec.lob.sim import Simulation

    sim = Simulation(get_config("rmsc04", close="09:31:00"), seed=0)
    sim.run_until(sim.close_ns)
    ex = Exchange(1, 2, [0], n_ticks=1 << 10)
    a = ex.limit(0, 0, 0, 1, 100, 5)
    ex.limit(1, 0, 1, -1, 101, 5)
    ex.modify(2, a, 100, 3)
    ex.cancel(3, a, 1)
    ex.market(4, 0, 1, -1, 1)
    ex.l1()
    ex.l2(0, 5)
    ex.l3(0, 1, 100)
    d = _synthetic_lobster()
    replay_lobster(d)
    lobster_stream(d, depth=2)
    dt = time.perf_counter() - t0
    if verbose:
        print(f"LOB compiled code ready in {dt:.1f} s", flush=True)
    return dt


if __name__ == "__main__":
    warm()
