"""Why the cWGAN world market piles its book up, and what state clipping, side mirroring and volume-proportional
cancels change (docs/intags.md §9.1).

    .venv/bin/python experiments/intags/warm_start_check.py --world NAME=WEIGHTS ... [--seeds 1,2]
        [--window 10:00:00 11:00:00] [--out docs/intags/warm_start_check.csv]

Each world market (and rmsc04, the market its cWGAN learned from) runs from the open to the end of the window on
each seed, with the world agent's cancels at the level nearest their depth output (``depth``, the default) and
drawn in proportion to resting volume (``volume``). Per run, over the window: shares at the best bid and ask
(median of the 1-s snapshots), spread (bp, median), share of snapshots with a side empty, buyer-initiated share of
traded volume, minute-return std, and the book's flows per side: limit orders and their mean size, shares added by
limit orders, removed by cancels and executed. A last table gives the generator's orders on 50,000 of its training
states (no feedback): the same generator that piles its book up in closed loop sizes its orders like the data there,
and far larger when the states' volume features are moved to the top of their training range.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from multiexec.lob.config import get_config, hms_ns, world_config
from multiexec.lob.sim import Simulation


def one_run(cfg, seed: int, window: tuple[str, str]) -> dict:
    sim = Simulation(cfg, seed=seed)
    t0, t1 = hms_ns(window[0]), hms_ns(window[1])
    sim.run_until(t1)
    l2 = sim.l2()
    l2 = l2[(l2.time_ns >= t0) & (l2.time_ns <= t1)]
    tr = sim.trades()
    tr = tr[(tr.time_ns >= t0) & (tr.time_ns <= t1)]
    o = sim.orders()
    o = o[(o.time_ns >= t0) & (o.time_ns <= t1)]
    bp, ap = l2.bid_px_1, l2.ask_px_1
    mid = ((ap + bp) / 2).dropna()
    row = {"l1_bid": float(l2.bid_sz_1.fillna(0).median()), "l1_ask": float(l2.ask_sz_1.fillna(0).median()),
           "spread_bp": float(((ap - bp) / ((ap + bp) / 2) * 1e4).median()),
           "one_sided": float((bp.isna() | ap.isna()).mean()),
           "buyer_share": float(tr.loc[tr.side > 0, "size"].sum() / max(1, tr["size"].sum())),
           "minute_ret_std": float(np.log(mid.iloc[::60]).diff().std()), "traded_shares": int(tr["size"].sum())}
    for side, lab in ((1, "bid"), (-1, "ask")):
        lim = o[(o.msg == "limit") & (o.side == side)]
        row[f"{lab}_limits"] = len(lim)
        row[f"{lab}_limit_size"] = float(lim["size"].mean()) if len(lim) else float("nan")
        row[f"{lab}_added"] = int(lim["size"].sum())
        row[f"{lab}_cancelled"] = int(o.loc[(o.msg == "cancel") & (o.side == side), "size"].sum())
        row[f"{lab}_executed"] = int(tr.loc[tr.side == -side, "size"].sum())
    return row


def generated_on_training_states(weights: str, n: int = 50_000, seed: int = 0) -> dict:
    """The generator's orders on ``n`` training states (rmsc04 seed 101) against the data's, and with features of
    every state moved to the ends of the training range (partial dependence): its volume over 5 levels at the 0.1 %
    / 99.9 % quantile, and a *piled-up* book (volumes and imbalances at the 99.9 % quantile, spread at 0.1 %)."""
    from multiexec.intags.world import WorldGenerator, decode, input_range_of, pairs_from_simulation
    from multiexec.lob.world import WorldWeights

    w = WorldWeights.load(weights)
    pairs = pairs_from_simulation("rmsc04", [101], history=w.history)
    lo, hi = (x.reshape(w.history, -1) for x in input_range_of(pairs))
    g = np.random.default_rng(seed)
    idx = g.choice(len(pairs), min(n, len(pairs)), replace=False)
    zs = torch.as_tensor(g.standard_normal((len(idx), w.noise_dim)))
    gen = WorldGenerator.from_weights(w)

    def at(set_features):
        st = pairs.states[idx].copy()
        for f, v in set_features:
            st[:, :, f] = v[:, f]
        with torch.no_grad():
            return decode(gen(zs, torch.as_tensor(st)), w.out_norm)

    cases = {"data": pairs.orders[idx], "generator": at([]), "generator, volume_5 high": at([(3, hi)]),
             "generator, volume_5 low": at([(3, lo)]),
             "generator, piled-up book": at([(0, hi), (1, hi), (2, hi), (3, hi), (4, lo)])}
    out = {}
    for lab, a in cases.items():
        for t, tn in enumerate(("limit", "market", "cancel")):
            m = a[:, 0] == t
            out[(lab, tn, "share")] = float(m.mean())
            out[(lab, tn, "mean_size")] = float(a[m, 2].mean())
            out[(lab, tn, "buy_share")] = float((a[m, 1] > 0).mean())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--world", nargs="+", required=True, help="NAME=WEIGHTS (a training folder or world .npz)")
    ap.add_argument("--seeds", default="1,2")
    ap.add_argument("--window", nargs=2, default=["10:00:00", "11:00:00"])
    ap.add_argument("--out", type=Path, default=Path("docs/intags/warm_start_check.csv"))
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    rows = []
    for seed in seeds:
        rows.append({"market": "rmsc04", "cancel": "-", "seed": seed,
                     **one_run(get_config("rmsc04", close=args.window[1]), seed, tuple(args.window))})
    for item in args.world:
        name, _, weights = item.partition("=")
        for cancel in ("depth", "volume"):
            cfg = world_config(weights=weights, cancel_target=cancel).model_copy(update={"close": args.window[1]})
            for seed in seeds:
                rows.append({"market": name, "cancel": cancel, "seed": seed, **one_run(cfg, seed, tuple(args.window))})
    df = pd.DataFrame(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(args.out, index=False, float_format="%.6g")
    pd.set_option("display.width", 250)
    cols = ["market", "cancel", "seed", "l1_bid", "l1_ask", "spread_bp", "one_sided", "buyer_share", "minute_ret_std",
            "bid_limit_size", "ask_limit_size", "traded_shares"]
    print(df[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    gen = pd.DataFrame({name: generated_on_training_states(w) for name, _, w in
                        (item.partition("=") for item in args.world)})
    gen.index.names = ["source", "type", "stat"]
    gen.to_csv(args.out.with_name(args.out.stem + "_generator.csv"), float_format="%.6g")
    print(gen.to_string(float_format=lambda v: f"{v:.4g}"))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
