"""Writing a simulated day into a run folder (Parquet), in the formats the data layer and the facts module read.

* ``bars.parquet``: symbol, timestamp (datetime64[ns], exchange wall clock, minute start), open, high, low,
  close (float64 dollars), volume (float64 shares);
* ``l2.parquet``: time_ns, symbol, bid_px_1..N, bid_sz_1..N, ask_px_1..N, ask_sz_1..N (NaN / 0 where empty);
* ``trades.parquet``: time_ns, symbol, price, size, side (+1 buyer-initiated), buyer_agent, seller_agent,
  taker_order_id;
* ``orders.parquet``: time_ns, symbol, agent_id, agent_type, msg, side, price (NaN for market), size,
  order_id;
* ``config.json``: the configuration and seed that produced the run.
"""

from __future__ import annotations

import json
from pathlib import Path

from multiexec.lob.sim import Simulation


def write_run(sim: Simulation, out: str | Path) -> dict[str, Path]:
    """Write the run folder; returns the paths written."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, df in (("bars", sim.bars()), ("l2", sim.l2()), ("trades", sim.trades()), ("orders", sim.orders())):
        p = out / f"{name}.parquet"
        df.to_parquet(p, index=False)
        paths[name] = p
    p = out / "config.json"
    p.write_text(json.dumps({"seed": sim.seed, "events": sim.n_events, "config": sim.config.model_dump()}, indent=2))
    paths["config"] = p
    return paths
