"""INTAGS stylized facts (issue 11; paper Figs 6-9, 16, 17): the "real" rmsc03 market, the warm-start cWGAN world
and the calibrated world markets, over 12 trials each, window 10:00-11:00.

    .venv/bin/python experiments/intags/stylized_facts.py [--seed 2000000] [--trials 12]
        [--markets real=rmsc03 cwgan=world:docs/intags/calibration/warm_world.npz loo_s0=world:... ...]
        [--max-events 2000000] [--window 10:00:00 11:00:00] [--floor-offset 1000] [--out docs/intags/facts]

Every market runs from the open (09:30) to 11:00 on trial seeds ``seed + j`` (j = 0..trials-1; the same seeds for
every market), the kernel in 1-s slices; a trial past ``--max-events`` kernel events is dropped and counted. Facts,
over 10:00-11:00, pooled over the trials of a market:

- ``vol_l{1,5,10}_{bid,ask}``: shares resting at the first 1 / 5 / 10 levels of a side, one value per 1-s L2 snapshot;
- ``cum_exec_{buy,sell}``: cumulative executed volume since 10:00 of buyer- / seller-initiated trades, one value per
  trial and minute (the curve at 10:01, 10:02, ..., 11:00);
- ``depth``: depth in ticks of each new limit order behind its own side's best price (feed view: only the resting
  part of an order, as LOBSTER shows it; negative inside the spread);
- ``spread``: best ask - best bid in ticks per 1-s snapshot where both sides are quoted (``one_sided`` in the
  summary: share of snapshots with a side empty);
- ``fill_time``: time to first fill (s) of a 1-share probe limit order at the touch: at each minute from 10:00 to
  10:59 a probe agent cancels its orders and posts 1 share at the best bid and 1 at the best ask; an order not
  filled within the minute counts as 60 s (censored; ``fill_rate`` in the summary). The probe's own trades and
  orders are left out of every other fact;
- ``vol_per_min``: executed shares per minute (one value per trial and minute).

A noise floor: ``real_b`` is the real market again on other seeds (``seed + floor-offset + j``); its distance to
``real`` is what sampling alone gives. ``--window`` moves the window (e.g. ``09:31:00 09:41:00``, the calibration
rollouts' span; the market still runs from the open).

Distances to the real market per fact: 1-D Wasserstein (EMD, ``scipy.stats.wasserstein_distance``), the same over the
real sample's standard deviation (comparable across facts), and the two-sample KS statistic. Writes
``<out>/facts_summary.csv`` (per market and fact: n, mean, p5, p50, p95), ``<out>/facts_distance.csv``,
``<out>/facts_distance.md`` and one PNG per fact group. Same seed -> same numbers.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from multiexec.errors import MultiexecError
from multiexec.intags.metric import save_figure
from multiexec.lob import facts as F
from multiexec.lob.config import get_config, hms_ns
from multiexec.lob.sim import Simulation

CAL = "docs/intags/calibration"
DEFAULT_MARKETS = [
    "real=rmsc03",
    f"cwgan=world:{CAL}/warm_world.npz",
    *[f"{r}=world:{CAL}/runs/{r}/world.npz" for r in
      ("loo_s0", "loo_s1", "loo_s2", "loo-pi_s0", "loo-pi_s1", "loo-pi_s2", "loo-ep_s0", "loo-t2b5_s3",
       "loo-shuffle_s0", "loo-shuffle-pi_s0")],
]
NS = 10**9
WINDOW = ("10:00:00", "11:00:00")
PROBE = "probe"
LEVELS = (1, 5, 10)
FACTS = ([f"vol_l{n}_{s}" for n in LEVELS for s in ("bid", "ask")]
         + ["cum_exec_buy", "cum_exec_sell", "depth", "spread", "fill_time", "vol_per_min"])
UNITS = {**{f"vol_l{n}_{s}": "shares" for n in LEVELS for s in ("bid", "ask")}, "cum_exec_buy": "shares",
         "cum_exec_sell": "shares", "depth": "ticks", "spread": "ticks", "fill_time": "s", "vol_per_min": "shares"}



class TooBusy(Exception):
    pass


def run_trial(name: str, seed: int, max_events: int, window: tuple[str, str] = WINDOW) -> dict[str, np.ndarray]:
    """One trial of market ``name`` (a get_config name) on ``seed``: the facts of ``window`` (from the open to its
    end)."""
    cfg = get_config(name, close=window[1])
    sim = Simulation(cfg, seed=seed, external=[(PROBE, 0)])
    probe = sim.agent(PROBE)
    w0, w1 = hms_ns(window[0]), hms_ns(window[1])
    tick = cfg.tick_dollars
    posts = []  # (time_ns, side)
    t = sim.now
    next_probe = w0
    while t < w1:
        t = min(t + NS, w1)
        sim.run_until(t)
        if sim.n_events > max_events:
            raise TooBusy
        if t == next_probe and t < w1:
            sim.send_cancel_all(probe)
            bid, _, ask, _ = sim.l1()
            if bid >= 0:
                sim.send_limit(probe, 1, bid, 1)
                posts.append((t, 1))
            if ask >= 0:
                sim.send_limit(probe, -1, ask, 1)
                posts.append((t, -1))
            next_probe += 60 * NS
    l2 = sim.l2()
    l2 = l2[(l2["time_ns"] >= w0) & (l2["time_ns"] < w1)].reset_index(drop=True)
    trades = sim.trades()
    orders = sim.orders()
    out: dict[str, np.ndarray] = {}
    for n in LEVELS:
        v = F.volume_at_levels(l2, n)
        out[f"vol_l{n}_bid"] = v["bid"].to_numpy(np.float64)
        out[f"vol_l{n}_ask"] = v["ask"].to_numpy(np.float64)
    sp = F.spread(l2) / tick
    out["one_sided"] = np.array([np.mean(~np.isfinite(sp))])
    out["spread"] = np.round(sp[np.isfinite(sp)], 6)
    # probe fills
    buy_fill = trades[trades["buyer_agent"] == probe]["time_ns"].to_numpy()
    sell_fill = trades[trades["seller_agent"] == probe]["time_ns"].to_numpy()
    ft, filled = [], []
    for t_post, side in posts:
        f = buy_fill if side > 0 else sell_fill
        f = f[(f >= t_post) & (f < t_post + 60 * NS)]
        filled.append(f.size > 0)
        ft.append((f.min() - t_post) / NS if f.size else 60.0)
    out["fill_time"] = np.array(ft, np.float64)
    out["fill_rate"] = np.array([np.mean(filled) if filled else np.nan])
    # executed volume (probe trades left out)
    tr = trades[(trades["buyer_agent"] != probe) & (trades["seller_agent"] != probe)]
    tr = tr[(tr["time_ns"] >= w0) & (tr["time_ns"] < w1)]
    minute = ((tr["time_ns"].to_numpy() - w0) // (60 * NS)).astype(np.int64)
    size = tr["size"].to_numpy(np.float64)
    side = tr["side"].to_numpy()
    n_min = (w1 - w0) // (60 * NS)
    buy = np.bincount(minute[side > 0], weights=size[side > 0], minlength=n_min)
    sell = np.bincount(minute[side < 0], weights=size[side < 0], minlength=n_min)
    out["cum_exec_buy"] = np.cumsum(buy)
    out["cum_exec_sell"] = np.cumsum(sell)
    out["vol_per_min"] = buy + sell
    # limit-order depth (feed view; probe left out)
    full_l2 = sim.l2()
    od = orders[orders["agent_id"] != probe]
    od = F.feed_view(od, trades)
    od = od[(od["time_ns"] >= w0) & (od["time_ns"] < w1)]
    d = F.limit_order_depth(od, full_l2)["depth"].to_numpy(np.float64) / tick
    out["depth"] = np.round(d[np.isfinite(d)], 6)
    out["n_events"] = np.array([float(sim.n_events)])
    return out


def distances(x: np.ndarray, real: np.ndarray) -> dict[str, float]:
    from scipy import stats

    if x.size == 0 or real.size == 0:
        return {"emd": np.nan, "emd_over_real_std": np.nan, "ks": np.nan}
    emd = float(stats.wasserstein_distance(x, real))
    sd = float(np.std(real))
    return {"emd": emd, "emd_over_real_std": emd / sd if sd > 0 else np.nan,
            "ks": float(stats.ks_2samp(x, real).statistic)}


def plot(pooled: dict, markets: list[str], out: Path, curves: dict, window: tuple[str, str]) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cmap = plt.get_cmap("tab10")
    color = {m: ("black" if i == 0 else cmap((i - 1) % 10)) for i, m in enumerate(markets)}
    groups = {
        "volume_levels": [f"vol_l{n}_{s}" for n in LEVELS for s in ("bid", "ask")],
        "executed_volume": ["cum_exec_buy", "cum_exec_sell", "vol_per_min"],
        "depth_spread_fill": ["depth", "spread", "fill_time"],
    }
    paths = []
    for g, fs in groups.items():
        ncol = 2 if len(fs) == 6 else 3
        nrow = int(np.ceil(len(fs) / ncol))
        fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 3.0 * nrow), squeeze=False)
        for ax, f in zip(axes.ravel(), fs):
            for m in markets:
                x = np.sort(pooled[m][f])
                if x.size:
                    ax.step(x, np.arange(1, x.size + 1) / x.size, where="post", color=color[m],
                            lw=2.2 if m == markets[0] else 1.1, label=m)
            ax.set_title(f"{f} ({UNITS[f]})", fontsize=9)
            ax.set_ylabel("ECDF", fontsize=8)
            ax.tick_params(labelsize=7)
            if f in ("vol_per_min", "depth") or f.startswith("vol_l"):
                ax.set_xscale("symlog")
        axes.ravel()[0].legend(fontsize=6, loc="lower right")
        for ax in axes.ravel()[len(fs):]:
            ax.axis("off")
        fig.suptitle(f"stylized facts {window[0][:5]}-{window[1][:5]}, pooled trials: {g.replace('_', ' ')}", fontsize=10)
        paths.append(save_figure(fig, out / f"facts_{g}.png"))
    # time series as the paper's Fig 6/7: mean over trials of the 10-level volume per side and cumulative volume
    fig, axes = plt.subplots(2, len(markets), figsize=(2.3 * len(markets), 4.6), squeeze=False, sharex=True)
    for j, m in enumerate(markets):
        c = curves[m]
        for i, (a, b, lab) in enumerate((("vol_l10_bid", "vol_l10_ask", "10-level volume"),
                                         ("cum_exec_buy", "cum_exec_sell", "cum. executed"))):
            ax = axes[i, j]
            for k, col in ((a, "tab:green"), (b, "tab:red")):
                if c.get(k) is not None:
                    ax.plot(c[k][0], c[k][1], color=col, lw=1, label=k.split("_")[-1])
            ax.tick_params(labelsize=6)
            if i == 0:
                ax.set_title(m, fontsize=8)
            if j == 0:
                ax.set_ylabel(lab, fontsize=7)
                ax.legend(fontsize=6, loc="upper left")
        axes[1, j].set_xlabel(f"minutes after {window[0][:5]}", fontsize=7)
    fig.suptitle("over trials: median 10-level volume (top), mean cumulative executed volume (bottom); "
                 "green: bid / buy, red: ask / sell", fontsize=9)
    paths.append(save_figure(fig, out / "facts_timeseries.png"))
    return paths


def mean_curve(per_trial: list[dict], key: str, step_s: float) -> tuple[np.ndarray, np.ndarray] | None:
    """Mean over trials of a per-minute series; median for the per-second book volumes (rmsc03's 10-level volume
    has brief spikes near 50,000 shares that would hide the rest)."""
    arrs = [t[key] for t in per_trial if t[key].size]
    if not arrs:
        return None
    n = min(a.size for a in arrs)
    y = (np.median if key.startswith("vol_l") else np.mean)([a[:n] for a in arrs], axis=0)
    return (np.arange(1, n + 1) * step_s / 60.0, y)


def md_table(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in df.iterrows():
        cells = []
        for c in cols:
            v = r[c]
            cells.append(f"{v:.3g}" if isinstance(v, float) else str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=2_000_000, help="trial j runs on seed + j (all markets alike)")
    ap.add_argument("--trials", type=int, default=12)
    ap.add_argument("--markets", nargs="+", default=DEFAULT_MARKETS, help="label=config; the first is the real one")
    ap.add_argument("--max-events", type=int, default=2_000_000)
    ap.add_argument("--window", nargs=2, default=list(WINDOW), metavar=("START", "END"),
                    help="HH:MM:SS HH:MM:SS, whole minutes after the open (default 10:00:00 11:00:00)")
    ap.add_argument("--floor-offset", type=int, default=1000, help="the noise floor 'real_b' runs the real market "
                    "on seeds seed + offset + j (0: no floor)")
    ap.add_argument("--out", default="docs/intags/facts")
    a = ap.parse_args(argv)
    if a.trials < 2:
        raise MultiexecError(f"--trials must be >= 2, got {a.trials}")
    try:
        window = (a.window[0], a.window[1])
        w0, w1 = hms_ns(window[0]), hms_ns(window[1])
    except ValueError:
        raise MultiexecError(f"--window needs HH:MM:SS HH:MM:SS, got {a.window}") from None
    if w1 <= w0 or (w1 - w0) % (60 * NS) or w0 < hms_ns("09:30:00") or (w0 - hms_ns("09:30:00")) % (60 * NS):
        raise MultiexecError(f"--window {a.window}: need 09:30:00 <= START < END, whole minutes")
    specs = []
    for s in a.markets:
        if "=" not in s:
            raise MultiexecError(f"--markets entry {s!r} is not label=config")
        lab, cfg = s.split("=", 1)
        get_config(cfg)  # validate early: one line on a bad name or missing file
        specs.append((lab, cfg))
    if a.floor_offset:
        specs.insert(1, ("real_b", specs[0][1]))
    labels = [lab for lab, _ in specs]
    if len(set(labels)) != len(labels):
        raise MultiexecError("--markets labels must be distinct")
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    seeds = [a.seed + j for j in range(a.trials)]
    pooled, curves, info = {}, {}, {}
    t_all = time.time()
    for lab, cfg in specs:
        per_trial, dropped, t0 = [], 0, time.time()
        for s in seeds:
            if lab == "real_b":
                s += a.floor_offset
            try:
                per_trial.append(run_trial(cfg, s, a.max_events, window))
            except TooBusy:
                dropped += 1
        print(f"[{time.time() - t_all:6.1f}s] {lab}: {len(per_trial)}/{len(seeds)} trials "
              f"({dropped} dropped past {a.max_events:,} events) in {time.time() - t0:.1f}s", flush=True)
        if not per_trial:
            raise MultiexecError(f"market {lab}: every trial went past --max-events")
        pooled[lab] = {f: np.concatenate([t[f] for t in per_trial]) for f in FACTS}
        curves[lab] = {k: mean_curve(per_trial, k, 1.0 if k.startswith("vol_l") else 60.0)
                       for k in ("vol_l10_bid", "vol_l10_ask", "cum_exec_buy", "cum_exec_sell")}
        info[lab] = {"trials": len(per_trial), "dropped": dropped,
                     "events_median": float(np.median([t["n_events"][0] for t in per_trial])),
                     "one_sided": float(np.mean([t["one_sided"][0] for t in per_trial])),
                     "fill_rate": float(np.nanmean([t["fill_rate"][0] for t in per_trial]))}
    real = labels[0]
    rows, drows = [], []
    for lab in labels:
        for f in FACTS:
            x = pooled[lab][f]
            q = np.quantile(x, [0.05, 0.5, 0.95]) if x.size else [np.nan] * 3
            rows.append({"market": lab, "fact": f, "unit": UNITS[f], "n": int(x.size),
                         "mean": float(np.mean(x)) if x.size else np.nan, "p5": float(q[0]), "p50": float(q[1]),
                         "p95": float(q[2])})
            if lab != real:
                drows.append({"market": lab, "fact": f, **distances(x, pooled[real][f])})
    summary = pd.DataFrame(rows)
    dist = pd.DataFrame(drows)
    runinfo = pd.DataFrame([{"market": k, **v} for k, v in info.items()])
    summary.to_csv(out / "facts_summary.csv", index=False, float_format="%.6g")
    dist.to_csv(out / "facts_distance.csv", index=False, float_format="%.6g")
    runinfo.to_csv(out / "facts_runs.csv", index=False, float_format="%.6g")
    wide = dist.pivot(index="fact", columns="market", values="emd_over_real_std").reindex(FACTS)[labels[1:]]
    ks = dist.pivot(index="fact", columns="market", values="ks").reindex(FACTS)[labels[1:]]
    md = ["EMD / std of the real sample (lower is closer to rmsc03):", "",
          md_table(wide.reset_index()), "", "KS statistic:", "", md_table(ks.reset_index()), "",
          "Runs:", "", md_table(runinfo)]
    if "cwgan" in labels:
        others = [m for m in labels[1:] if m not in ("cwgan", "real_b")]
        closer = pd.DataFrame({m: (wide[m] < wide["cwgan"]) for m in others})
        md += ["", "Facts (of 12) where the market is closer (EMD) than the cWGAN: "
               + ", ".join(f"{m} {int(closer[m].sum())}" for m in others)]
    (out / "facts_distance.md").write_text("\n".join(md) + "\n")
    paths = plot(pooled, labels, out, curves, window)
    print("\n".join(md))
    print("wrote", ", ".join(str(p) for p in [out / "facts_summary.csv", out / "facts_distance.csv",
                                               out / "facts_runs.csv", out / "facts_distance.md", *paths]))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except MultiexecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
