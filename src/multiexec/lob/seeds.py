"""Realism of a configuration over several seeds: each simulated day's facts (as ``multiexec lob realism``
computes them for one run), summarised per fact as median and range over the days, beside the real data.

>>> table = realism_over_seeds([get_config("rmsc04")], seeds=range(1, 9))
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
from tqdm import tqdm

from multiexec.errors import MultiexecError
from multiexec.lob.config import MarketConfig
from multiexec.lob.realism import HEADLINE, real_facts, run_facts
from multiexec.lob.sim import Simulation

# facts of the before/after table of docs/lob.md: the headline facts plus order placement and message mix
SEED_FACTS = HEADLINE + [
    ("minute_return", "std"), ("limit_order_depth_usd", "share_inside_spread"),
    ("message_mix", "limit"), ("message_mix", "cancel"), ("message_mix", "market"), ("message_mix", "modify"),
]


def day_facts(config: MarketConfig, seed: int) -> pd.DataFrame:
    """The long facts table (``fact, stat, unit, symbol, value``) of one simulated day."""
    sim = Simulation(config, seed=seed)
    sim.run(progress=False)
    tables = {"bars": sim.bars(), "l2": sim.l2(), "trades": sim.trades(), "orders": sim.orders()}
    return run_facts(tables)[2]


def realism_over_seeds(configs: list[MarketConfig], seeds: Iterable[int], real_minute=None,
                       real_lobster=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per (config, fact): median, min and max over ``seeds`` of the simulated value, beside the real value and
    its p10-p90 range (minute facts), and the number of days inside that range. Returns ``(summary,
    per_day)``; ``summary`` also holds one row per config with the number of minute facts inside the real range
    (fact ``minute_facts_in_real_range``)."""
    seeds = [int(s) for s in seeds]
    if not seeds or not configs:
        raise MultiexecError("realism_over_seeds: need at least one config and one seed")
    real = real_facts(real_minute, real_lobster).table
    rows = []
    with tqdm(total=len(configs) * len(seeds), desc="realism days", unit="day") as bar:
        for cfg in configs:
            for seed in seeds:
                t = day_facts(cfg, seed).assign(config=cfg.name, seed=seed)
                rows.append(t)
                bar.update(1)
    per_day = pd.concat(rows, ignore_index=True).merge(
        real[["fact", "stat", "real", "real_p10", "real_p90"]], on=["fact", "stat"], how="left")
    ranged = per_day["real_p10"].notna() & per_day["value"].notna()
    per_day["inside"] = np.where(ranged, (per_day["value"] >= per_day["real_p10"])
                                 & (per_day["value"] <= per_day["real_p90"]), np.nan)
    keep = pd.MultiIndex.from_frame(per_day[["fact", "stat"]]).isin(SEED_FACTS)
    g = per_day[keep].groupby(["config", "fact", "stat"], sort=False)
    summary = g.agg(unit=("unit", "first"), median=("value", "median"), min=("value", "min"),
                    max=("value", "max"), days_inside=("inside", "sum"), days=("value", "size"),
                    real=("real", "first"), real_p10=("real_p10", "first"),
                    real_p90=("real_p90", "first")).reset_index()
    summary.loc[summary["real_p10"].isna(), "days_inside"] = np.nan
    counts = per_day[ranged].groupby(["config", "seed"])["inside"].sum().groupby("config", sort=False)
    extra = pd.DataFrame({"config": list(counts.groups), "fact": "minute_facts_in_real_range",
                          "stat": f"of {int(ranged.groupby([per_day['config'], per_day['seed']]).sum().max())}",
                          "unit": "count", "median": counts.median().to_numpy(), "min": counts.min().to_numpy(),
                          "max": counts.max().to_numpy()})
    order = {f: i for i, f in enumerate(SEED_FACTS)}
    summary = summary.assign(_o=[order[(f, s)] for f, s in zip(summary["fact"], summary["stat"])])
    summary = summary.sort_values(["_o", "config"], kind="stable").drop(columns="_o")
    return pd.concat([extra, summary], ignore_index=True), per_day
