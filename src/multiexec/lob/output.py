"""Writing a simulated day into a run folder (Parquet), in the formats the data layer and the facts module read.

* ``bars.parquet``: symbol, timestamp (datetime64[ns], exchange wall clock, minute start), open, high, low,
  close (float64 dollars), volume (float64 shares);
* ``l2.parquet``: time_ns, symbol, bid_px_1..N, bid_sz_1..N, ask_px_1..N, ask_sz_1..N (NaN / 0 where empty);
* ``trades.parquet``: time_ns, symbol, price, size, side (+1 buyer-initiated), buyer_agent, seller_agent,
  taker_order_id;
* ``orders.parquet``: time_ns, symbol, agent_id, agent_type, msg, side, price (NaN for market), size,
  order_id;
* ``config.json``: the configuration and seed that produced the run.

A run folder may also hold the reports made from it: ``facts/`` (``multiexec lob run``'s stylized facts) and
``realism/`` (``multiexec lob realism``'s default folder). :func:`write_run` first removes these outputs of an
earlier run (:func:`clear_run`), by their known names only, so that no stale table or report is left beside the
new run; anything else in the folder stays.
"""

from __future__ import annotations

import json
from pathlib import Path

from multiexec.lob.realism import FACTS_FILES, REALISM_FILES
from multiexec.lob.sim import Simulation


RUN_FILES = ("bars.parquet", "l2.parquet", "trades.parquet", "orders.parquet", "config.json")
"""The files :func:`write_run` writes."""
REPORT_FILES = {"facts": FACTS_FILES, "realism": REALISM_FILES}
"""The report subfolders a run folder may hold and the files the reports write into them."""


def clear_run(out: str | Path) -> None:
    """Remove the outputs of an earlier run from the folder ``out``: :data:`RUN_FILES` and the report files of
    :data:`REPORT_FILES` (a report subfolder goes too once empty). Files of other names are left alone."""
    out = Path(out)
    for name in RUN_FILES:
        f = out / name
        if f.is_file() or f.is_symlink():
            f.unlink()
    for folder, names in REPORT_FILES.items():
        sub = out / folder
        if not sub.is_dir() or sub.is_symlink():
            continue
        for name in names:
            f = sub / name
            if f.is_file() or f.is_symlink():
                f.unlink()
        if not any(sub.iterdir()):
            sub.rmdir()


def write_run(sim: Simulation, out: str | Path) -> dict[str, Path]:
    """Write the run folder (after :func:`clear_run`: no output of an earlier run stays); returns the paths
    written."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    clear_run(out)
    paths = {}
    for name, df in (("bars", sim.bars()), ("l2", sim.l2()), ("trades", sim.trades()), ("orders", sim.orders())):
        p = out / f"{name}.parquet"
        df.to_parquet(p, index=False)
        paths[name] = p
    p = out / "config.json"
    p.write_text(json.dumps({"seed": sim.seed, "events": sim.n_events, "config": sim.config.model_dump()}, indent=2))
    paths["config"] = p
    return paths
