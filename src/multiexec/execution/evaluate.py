"""Run policies over days of a dataset and collect results, metrics, tables and figures."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from multiexec.errors import MultiexecError
from multiexec.execution.env import MultiOrderEnv
from multiexec.execution.metrics import paired_test, summarize
from multiexec.execution.policy import Policy


@dataclass
class EvalResult:
    """Per-order and per-day tables of one policy, with its average execution profile."""

    name: str
    orders: pd.DataFrame
    days: pd.DataFrame
    # average fraction of the order amount per step, by side: keys buy_requested, buy_executed, sell_*
    profile: dict[str, np.ndarray] = field(default_factory=dict)
    extra: dict = field(default_factory=dict)

    @property
    def metrics(self) -> dict[str, float]:
        return summarize(self.orders, self.days)


def run_policy(
    env: MultiOrderEnv, policy: Policy, day_ids: Sequence[int], batch_days: int = 64, progress: bool = True
) -> EvalResult:
    """Execute ``policy`` on the order sets ``day_ids`` (indices into ``env.orders``), in batches of days."""
    day_ids = np.asarray(day_ids, dtype=np.int64)
    if day_ids.size == 0:
        raise MultiexecError("no days to evaluate (empty split?)")
    orders, days = [], []
    sums = {k: np.zeros(env.n_steps) for k in ("buy_requested", "buy_executed", "sell_requested", "sell_executed")}
    counts = {"buy": 0, "sell": 0}
    batches = [day_ids[i : i + batch_days] for i in range(0, day_ids.size, batch_days)]
    for ids in tqdm(batches, desc=f"evaluate {policy.name}", disable=not progress, leave=False):
        obs = env.reset(ids)
        done = False
        while not done:
            res = env.step(policy.act(obs))
            obs, done = res.obs, res.done
        orders.append(env.results())
        days.append(env.day_results())
        prof = env.profiles()
        for side, sgn in (("buy", -1), ("sell", 1)):
            sel = prof["mask"] & (prof["side"] == sgn)
            counts[side] += int(sel.sum())
            sums[f"{side}_requested"] += prof["requested"][sel].sum(axis=0)
            sums[f"{side}_executed"] += prof["executed"][sel].sum(axis=0)
    profile = {k: v / max(counts[k.split("_")[0]], 1) for k, v in sums.items()}
    return EvalResult(policy.name, pd.concat(orders, ignore_index=True), pd.concat(days, ignore_index=True), profile)


def metrics_table(results: Sequence[EvalResult], reference: str = "twap") -> pd.DataFrame:
    """One row per policy: EG, ARR, POS, GLR, TOC, fill rate, and the paired test of EG against ``reference``."""
    ref = next((r for r in results if r.name == reference), None)
    rows = []
    for r in results:
        row = {"policy": r.name, **r.metrics}
        if ref is not None and r is not ref:
            key = ["day_id", "symbol"]
            a = r.orders.set_index(key)["eg_bps"]
            b = ref.orders.set_index(key)["eg_bps"]
            test = paired_test(a, b)
            row.update({f"vs_{reference}_{k}": v for k, v in test.items() if k != "n"})
        rows.append(row)
    return pd.DataFrame(rows)


def write_results(results: Sequence[EvalResult], out: Path, bars=None, reference: str = "twap") -> pd.DataFrame:
    """Write tables (CSV) and figures (PNG) for ``results`` into ``out``; return the metrics table."""
    from multiexec.execution.plots import plot_price_trend, plot_profiles

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    table = metrics_table(results, reference)
    table.to_csv(out / "metrics.csv", index=False)
    for r in results:
        r.orders.to_csv(out / f"orders_{r.name}.csv", index=False)
        r.days.to_csv(out / f"days_{r.name}.csv", index=False)
    plot_profiles([(r.name, r.profile) for r in results], out / "execution_profile.png")
    if bars is not None:
        plot_price_trend(results[0].orders, bars, out / "price_trend.png")
    return table
