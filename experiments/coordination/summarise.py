"""Read back the coordination comparison (``multiexec compare ... --out runs/coordination``) for
docs/iac_investigation.md §7.

Prints, from the finished run folders (nothing is trained):
- per method and seed, the best validation checkpoint's team return, EG and TOC (``metrics.csv``, what ``best.pt`` holds);
- per method, the seed-mean greedy test schedule by side (``test/profile.json``: executed fraction per step);
- compare's significance tests (``significance.csv``), at the order and the day level (orders of one day share the
  day's market move, so the order-level test treats correlated orders as independent);
- after the fact, for interpretation only (nothing was chosen with it): the mean common open-to-close move of the
  days of each split (equal-weighted over assets), i.e. planted drift plus realised market noise.

Usage: .venv/bin/python experiments/coordination/summarise.py [runs/coordination/data] [experiments/coordination/data.json]
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from multiexec.data.dataset import load_config_file, load_dataset


def main():
    base = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/coordination/data")
    data = sys.argv[2] if len(sys.argv) > 2 else "experiments/coordination/data.json"
    cfg = json.loads((base / "compare_config.json").read_text())
    methods, seeds = cfg["methods"], cfg["seeds"]
    print("best validation checkpoint per run (team return, EG bp, TOC %, training day):")
    for m in methods:
        cells = []
        for s in range(seeds):
            f = base / m / f"seed{s}" / "metrics.csv"
            if not f.is_file():
                cells.append(f"s{s}: missing")
                continue
            v = pd.read_csv(f).query("kind == 'valid'")
            b = v.loc[v["team_return"].idxmax()]
            cells.append(f"s{s}: {b.team_return:.5f} / {b.EG_bps:.2f} / {b.TOC_pct:.2f} @ {int(b.days)}")
        print(f"  {m:7s} " + " | ".join(cells))
    print("seed-mean greedy test schedule, executed fraction per step (steps 0..12):")
    for m in methods:
        ps = [json.loads(p.read_text()) for s in range(seeds)
              if (p := base / m / f"seed{s}" / "test" / "profile.json").is_file()]
        if not ps:
            continue
        for side in ("sell", "buy"):
            x = np.mean([p[f"{side}_executed"] for p in ps], axis=0)
            print(f"  {m:7s} {side:4s}: " + " ".join(f"{v:.2f}" for v in x))
    sig = base / "significance.csv"
    if sig.is_file() and sig.stat().st_size > 1:
        print("compare's paired tests against the best method (significance.csv; day_t_pvalue: t-test over days):")
        for _, r in pd.read_csv(sig).iterrows():
            print(f"  {r.best} - {r.vs}: {r.mean_diff_bps:.2f} bp, order-level p = {r.t_pvalue:.2g}, "
                  f"day-level p = {r.day_t_pvalue:.2g} over {int(r.n_days)} days")
    ds = load_dataset(load_config_file(data))
    b = ds.bars
    print("mean common open->close move of the split's days (bp; planted drift + realised noise; after the fact):")
    for split in ("train", "valid", "test"):
        di = b.date_index([ds.orders[i].date for i in ds.splits[split]])
        oc = np.log(b.close[di, :, -1] / b.open[di, :, 0]).mean(axis=1) * 1e4
        print(f"  {split}: {oc.mean():.1f} (se {oc.std(ddof=1) / np.sqrt(len(oc)):.1f}, {len(oc)} days)")


if __name__ == "__main__":
    main()
