"""Run policies over days of a dataset and collect results, metrics, tables and figures.

Files of :func:`write_results` (``multiexec evaluate --out``)::

    metrics.csv                one row per policy: EG, IS, ARR, POS, GLR, TOC, fill, paired tests against TWAP
    orders_<policy>.csv        one row per order: amount, filled, unfilled, average prices, EG, IS
    days_<policy>.csv          one row per day: cash path, TOC
    decisions_<policy>.csv     (or .parquet) the decision log, one row per order and step: day_id, date, order,
                               symbol, side, step, minute, intended_qty, executed_qty, price, cash_after,
                               cash_binding (see ``MultiOrderEnv.decisions``)
    execution_profile.png price_trend.png

Files of an earlier evaluation in the same folder that this one would not write (another policy's) are removed, so a
folder never mixes two runs.
"""

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
    decisions: pd.DataFrame | None = None  # the per-step decision log (run_policy(..., decisions=True))

    @property
    def metrics(self) -> dict[str, float]:
        return summarize(self.orders, self.days)


def run_policy(
    env: MultiOrderEnv, policy: Policy, day_ids: Sequence[int], batch_days: int = 64, progress: bool = True,
    decisions: bool = False, desc: str | None = None,
) -> EvalResult:
    """Execute ``policy`` on the order sets ``day_ids`` (indices into ``env.orders``), in batches of days; with
    ``decisions`` also keep the per-step decision log. The progress bar counts days, advancing every step."""
    day_ids = np.asarray(day_ids, dtype=np.int64)
    if day_ids.size == 0:
        raise MultiexecError("no days to evaluate (empty split?)")
    orders, days, log = [], [], []
    sums = {k: np.zeros(env.n_steps) for k in ("buy_requested", "buy_executed", "sell_requested", "sell_executed")}
    counts = {"buy": 0, "sell": 0}
    batches = [day_ids[i : i + batch_days] for i in range(0, day_ids.size, batch_days)]
    bar = tqdm(total=int(day_ids.size), desc=desc or f"evaluate {policy.name}", unit="day", disable=not progress,
               leave=False, bar_format="{l_bar}{bar}| {n:.1f}/{total} days [{elapsed}<{remaining}]")
    for ids in batches:
        obs = env.reset(ids)
        done = False
        while not done:
            res = env.step(policy.act(obs))
            obs, done = res.obs, res.done
            bar.update(len(ids) / env.n_steps)
        orders.append(env.results())
        days.append(env.day_results())
        if decisions:
            log.append(env.decisions())
        prof = env.profiles()
        for side, sgn in (("buy", -1), ("sell", 1)):
            sel = prof["mask"] & (prof["side"] == sgn)
            counts[side] += int(sel.sum())
            sums[f"{side}_requested"] += prof["requested"][sel].sum(axis=0)
            sums[f"{side}_executed"] += prof["executed"][sel].sum(axis=0)
    bar.close()
    profile = {k: v / max(counts[k.split("_")[0]], 1) for k, v in sums.items()}
    return EvalResult(policy.name, pd.concat(orders, ignore_index=True), pd.concat(days, ignore_index=True), profile,
                      decisions=pd.concat(log, ignore_index=True) if log else None)


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


DECISION_FORMATS = ("csv", "parquet")


def write_results(results: Sequence[EvalResult], out: Path, bars=None, reference: str = "twap",
                  decisions: str = "csv") -> pd.DataFrame:
    """Write tables (CSV), decision logs (``decisions``: csv or parquet) and figures (PNG) for ``results`` into
    ``out`` (see the module docstring), after removing the per-policy files of an earlier evaluation there; return
    the metrics table."""
    from multiexec.execution.plots import plot_price_trend, plot_profiles

    if decisions not in DECISION_FORMATS:
        raise MultiexecError(f"decision log format {decisions!r}: choose {' or '.join(DECISION_FORMATS)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    keep = {f"{kind}_{r.name}.csv" for r in results for kind in ("orders", "days")}
    keep |= {f"decisions_{r.name}.{decisions}" for r in results if r.decisions is not None}
    for pattern in ("orders_*.csv", "days_*.csv", "decisions_*.csv", "decisions_*.parquet"):
        for old in out.glob(pattern):
            if old.name not in keep and old.is_file():
                old.unlink()
    table = metrics_table(results, reference)
    table.to_csv(out / "metrics.csv", index=False)
    for r in results:
        r.orders.to_csv(out / f"orders_{r.name}.csv", index=False)
        r.days.to_csv(out / f"days_{r.name}.csv", index=False)
        if r.decisions is not None:
            path = out / f"decisions_{r.name}.{decisions}"
            if decisions == "parquet":
                r.decisions.assign(date=r.decisions["date"].astype(str)).to_parquet(path, index=False)
            else:
                r.decisions.to_csv(path, index=False)
    plot_profiles([(r.name, r.profile) for r in results], out / "execution_profile.png")
    if bars is not None:
        plot_price_trend(results[0].orders, bars, out / "price_trend.png")
    elif (out / "price_trend.png").is_file():
        (out / "price_trend.png").unlink()
    return table
