"""``multiexec serve replay``: drive a running service over HTTP with historical days, as the trading program would,
filling every child order at its minute's close exactly as the environment's bars market does (the step's volume
spread evenly over its minutes, the shared-cash rule applied to the buys). Its per-order results must equal
``multiexec evaluate`` of the same policy on the same days (the proof of docs/serve.md)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from multiexec.errors import MultiexecError
from multiexec.execution.env import ExecConfig, MultiOrderEnv
from multiexec.execution.markets import apply_cash_rule, minute_price


def _check(resp, what: str) -> dict:
    if resp.status_code >= 400:
        try:
            err = resp.json().get("error", {})
            msg = f"{err.get('field')}: {err.get('message')}"
        except ValueError:
            msg = resp.text[:300]
        raise MultiexecError(f"{what}: HTTP {resp.status_code}: {msg}")
    return resp.json()


def day_request(env: MultiOrderEnv, k: int, policy: str, version: int | None, cfg: ExecConfig) -> dict:
    """The creation request of order set ``k`` of the environment (reference numbers from the environment)."""
    o = env.orders[k]
    bars = env.bars
    d = int(bars.date_index([o.date])[0])
    a = bars.symbol_index(o.symbols)
    return {
        "date": str(o.date), "cash": float(o.cash), "step_minutes": cfg.step_minutes, "minutes_per_day": bars.n_minutes,
        "policy": {"name": policy, "version": version},
        "orders": [{"id": f"{k}-{s}", "symbol": s, "side": "sell" if o.side[i] > 0 else "buy",
                    "amount": float(o.amount[i])} for i, s in enumerate(o.symbols)],
        "reference": {s: {"prev_close": float(env.ref_price[d, a[i]]), "step_volume": float(env.ref_volume[d, a[i]])}
                      for i, s in enumerate(o.symbols)},
    }


def step_request(env: MultiOrderEnv, k: int, t: int, decision: dict, cash: float, cfg: ExecConfig,
                 order_ids: list[str]) -> tuple[dict, float]:
    """The step's market minutes and the fills of the decision at the minutes' prices, as the bars market fills
    them; returns the request and the cash after the step."""
    o = env.orders[k]
    bars = env.bars
    d = int(bars.date_index([o.date])[0])
    a = bars.symbol_index(o.symbols)
    lo, hi = (int(x) for x in decision["minutes"])
    px = minute_price(bars, cfg.price)[d, a, lo:hi]
    p = np.add.reduceat(px[None], [0], axis=2)[0, :, 0] / (hi - lo)  # the step's price, as BarsMarket
    q = np.asarray(decision["quantity"], dtype=np.float64)
    buyf = (o.side < 0).astype(np.float64)
    scale, new_cash, binding = apply_cash_rule((q * p)[None], buyf[None], np.array([cash]))
    filled = q * (1.0 + buyf * (scale[0] - 1.0))
    fields = ("open", "close", "volume") + (("high", "low") if cfg.price == "typical" else ())  # what the service uses
    market = {s: {f: getattr(bars, f)[d, a[i], lo:hi].tolist() for f in fields} for i, s in enumerate(o.symbols)}
    fills = [{"id": oid, "quantity": float(filled[i]), "price": float(p[i]) if filled[i] > 0 else None}
             for i, oid in enumerate(order_ids)]
    return {"index": t, "market": market, "fills": fills}, float(new_cash[0])


def replay(client, env: MultiOrderEnv, day_ids: Sequence[int], policy: str, version: int | None = None,
           progress: bool = False) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Run order sets ``day_ids`` of ``env`` through the service behind ``client`` (an ``httpx.Client`` with the
    base URL and the API key set). Returns per-order and per-day tables like ``MultiOrderEnv.results`` and the
    service's day ids."""
    from tqdm.auto import tqdm

    cfg = env.cfg
    orders, days, served = [], [], []
    for k in tqdm(list(day_ids), desc="replay", disable=not progress, leave=False):
        created = _check(client.post("/v1/days", json=day_request(env, k, policy, version, cfg)), f"day {k}")
        day_id, ids = created["day_id"], created["order_ids"]
        served.append(day_id)
        decision, cash, t, resp = created["decision"], float(env.orders[k].cash), 0, created
        while decision is not None:
            body, cash = step_request(env, k, t, decision, cash, cfg, ids)
            resp = _check(client.post(f"/v1/days/{day_id}/steps", json=body), f"day {k} step {t}")
            decision, t = resp["decision"], t + 1
        rep = resp["report"]
        tab = pd.DataFrame(rep["orders"])
        tab.insert(0, "day_id", k)
        tab.insert(1, "date", str(env.orders[k].date))
        orders.append(tab)
        days.append({"day_id": k, "date": str(env.orders[k].date), "toc": rep["metrics"]["TOC_pct"] / 100.0,
                     "cash_end": rep["cash_end"], "service_day": day_id})
    out = pd.concat(orders, ignore_index=True)
    for c in ("avg_exec_price", "eg_bps", "is_bps", "avg_market_price", "arrival_price"):
        out[c] = out[c].astype(float)
    return out, pd.DataFrame(days), served


def compare_results(served: pd.DataFrame, reference: pd.DataFrame) -> dict[str, float]:
    """Largest differences between the service's per-order results and the environment's (``run_policy``)."""
    key = ["day_id", "symbol"]
    a = served.set_index(key).sort_index()
    b = reference.set_index(key).sort_index()
    if len(a) != len(b) or not a.index.equals(b.index):
        raise MultiexecError(f"the replay has {len(a)} orders, the evaluation {len(b)} (different days or symbols)")
    out = {}
    for c in ("avg_exec_price", "eg_bps", "filled", "is_bps"):
        x, y = a[c].to_numpy(float), b[c].to_numpy(float)
        both_nan = np.isnan(x) & np.isnan(y)
        diff = np.where(both_nan, 0.0, np.abs(x - y))
        out[f"max_abs_diff_{c}"] = float(np.max(diff)) if diff.size else 0.0
    return out
