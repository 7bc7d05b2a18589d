"""IaC investigation: is there a learnable signal in the reward beyond the alpha*a^2 penalty?

On a dataset's train/valid splits (never test) it prints, per split:
- rule schedules (TWAP, front-loaded 4x25%, back-loaded, side-dependent) and the per-order hindsight oracle
  over the discrete action set (DP over quarters of the order, knowing the day's prices) — EG and eq.-7 return;
- a ridge probe: how much of the step's deviation d*(p_t/p~ - 1) the past-price features explain (R^2 on valid);
- a simple state-dependent rule using the probe;
- TOC of each schedule with the dataset's cash fraction.

Usage: OMP_NUM_THREADS=1 .venv/bin/python experiments/iac_investigation/iac_signal.py [--data synthetic] [--cash 0.3]
"""
from __future__ import annotations

import argparse
import numpy as np
import pandas as pd

from multiexec.data.dataset import DataConfig, load_dataset, load_config_file
from multiexec.execution.env import ExecConfig, MultiOrderEnv
from multiexec.execution.metrics import summarize


class Sched:
    """A fixed per-side schedule of fractions per step (B, N) -> fractions."""
    def __init__(self, name, buy, sell=None):
        self.name, self.buy, self.sell = name, np.asarray(buy, float), np.asarray(sell if sell is not None else buy, float)

    def act(self, obs):
        w = np.where(obs.side < 0, self.buy[obs.t], self.sell[obs.t])
        return np.minimum(w, 1.0).astype(np.float64)


class Plan:
    """Per-(day, order) planned fractions (precomputed, e.g. the oracle): plan[day_id][i, t]."""
    def __init__(self, name, plans):
        self.name, self.plans = name, plans

    def act(self, obs):
        B, N = obs.mask.shape
        out = np.zeros((B, N))
        for b, d in enumerate(obs.day):
            p = self.plans[int(d)]
            out[b, : p.shape[0]] = p[:, obs.t]
        return np.clip(out, 0, 1)


class ProbeRule:
    """Trade base 0.25 per step; skip (0) when the probe predicts an unfavourable step, 0.5 when very
    favourable, subject to finishing: never leave more than 0.25 per remaining step."""
    def __init__(self, name, env, w, thr):
        self.name, self.env, self.w, self.thr = name, env, w, thr

    def act(self, obs):
        e = self.env
        t, T = obs.t, obs.n_steps
        X = features(e.price_feat, e.side, t)  # (B, N, F)
        pred = X @ self.w
        rem = obs.remaining
        steps_left = T - t
        a = np.full(rem.shape, 0.25)
        a = np.where(pred < -self.thr, 0.0, a)
        a = np.where(pred > self.thr, 0.5, a)
        need = np.maximum(rem - 0.25 * (steps_left - 1), 0)  # must trade this much to finish at <=0.25/step
        a = np.maximum(a, np.ceil(need * 4 - 1e-9) / 4)
        return np.clip(a, 0, 1)


def features(price_feat, side, t):
    """Past-only features at step t: last deviation from prev close, last vs mean of past steps, last change; times side."""
    B, N, T = price_feat.shape
    d = side.astype(float)
    if t == 0:
        z = np.zeros((B, N))
        return np.stack([z, z, z, z, np.ones((B, N))], -1)
    past = price_feat[:, :, :t] / 100.0
    last = past[:, :, -1]
    m = past.mean(axis=2)
    chg = last - (past[:, :, -2] if t >= 2 else 0.0)
    return np.stack([d * last, d * (last - m), d * chg, d * (t / T), np.ones((B, N))], -1)


def oracle_plans(env, ids, actions, alpha):
    """Per order, the discrete schedule maximising sum_t a_t*g_t - alpha*a_t^2 with g = d*(p_t/p~-1), known prices."""
    plans = {}
    q = int(round(1 / min(a for a in actions if a > 0)))
    steps = [int(round(a * q)) for a in actions]
    for d in ids:
        env.reset([d])
        g = env.side[0][:, None] * (env.price[0] / env.avg_price[0][:, None] - 1.0)  # (N, T)
        N, T = g.shape
        plan = np.zeros((N, T))
        for i in range(N):
            # V[t][r]: best value from step t with r quarters left
            V = np.full((T + 1, q + 1), -np.inf); V[T, 0] = 0.0
            choice = np.zeros((T, q + 1), dtype=int)
            for t in range(T - 1, -1, -1):
                for r in range(q + 1):
                    opts = [r] if t == T - 1 else [s for s in steps if s <= r] + ([r] if r not in steps else [])
                    best = -np.inf
                    for s in set(min(s, r) for s in opts):
                        a = s / q
                        v = a * g[i, t] - alpha * a * a + V[t + 1, r - s]
                        if v > best:
                            best, choice[t, r] = v, s
                    V[t, r] = best
            r = q
            for t in range(T):
                s = choice[t, r]; plan[i, t] = s / q; r -= s
        plans[int(d)] = plan
    return plans


def run(env, pol, ids):
    obs = env.reset(ids)
    ret = np.zeros(len(ids))
    done = False
    while not done:
        step = env.step(pol.act(obs))
        obs, done = step.obs, step.done
        ret += step.team_reward
    res = env.results(); days = env.day_results()
    m = summarize(res, days)
    return {"policy": pol.name, "EG_bps": m["EG_bps"], "TOC_pct": m["TOC_pct"], "fill_pct": m["fill_pct"],
            "team_return": ret.mean()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="synthetic")
    ap.add_argument("--cash", type=float, default=None, help="override orders.cash_fraction")
    args = ap.parse_args()
    if args.data.endswith(".json"):
        dcfg = load_config_file(args.data)
    else:
        dcfg = DataConfig(source=args.data)
    if args.cash is not None:
        dcfg = dcfg.model_copy(update={"orders": dcfg.orders.model_copy(update={"cash_fraction": args.cash})})
    ds = load_dataset(dcfg)
    ecfg = ExecConfig()
    env = MultiOrderEnv(ds.bars, ds.orders, ecfg)
    T = env.n_steps
    tr, va = np.asarray(ds.splits["train"]), np.asarray(ds.splits["valid"])

    # --- signal scale and probe
    def collect(ids):
        env.reset(ids)
        g = env.side[..., None] * (env.price / env.avg_price[..., None] - 1.0)
        Xs, ys, ms = [], [], []
        for t in range(T):
            Xs.append(features(env.price_feat, env.side, t)); ys.append(g[:, :, t]); ms.append(env.mask)
        return np.stack(Xs, 2), np.stack(ys, 2), np.stack(ms, 2), g
    Xtr, ytr, mtr, gtr = collect(tr)
    Xva, yva, mva, gva = collect(va)
    w = np.linalg.solve(Xtr[mtr].T @ Xtr[mtr] + 1e-6 * np.eye(Xtr.shape[-1]), Xtr[mtr].T @ ytr[mtr])
    pred = Xva[mva] @ w
    r2 = 1 - np.mean((yva[mva] - pred) ** 2) / np.var(yva[mva])
    corr = np.corrcoef(pred, yva[mva])[0, 1]
    print(f"data {ds.name}: train days {len(tr)}, valid days {len(va)}, T={T}, cash_fraction {dcfg.orders.cash_fraction}")
    print(f"signed step deviation g=d*(p_t/p~-1): std {np.std(yva[mva])*1e4:.1f} bp, mean |g| {np.mean(np.abs(yva[mva]))*1e4:.1f} bp (valid)")
    mean_by_t = np.array([np.mean(yva[..., t][mva[..., t]]) for t in range(T)]) * 1e4
    print("mean g by step (bp, valid): " + " ".join(f"{x:.1f}" for x in mean_by_t))
    mean_by_t_tr = np.array([np.mean(ytr[..., t][mtr[..., t]]) for t in range(T)]) * 1e4
    print("mean g by step (bp, train): " + " ".join(f"{x:.1f}" for x in mean_by_t_tr))
    for split, (ids, g, m) in (("train", (tr, gtr, mtr)), ("valid", (va, gva, mva))):
        env.reset(ids)
        for name, sgn in (("buy", -1), ("sell", 1)):
            sel = m & (env.side[..., None] == sgn)
            prof = [np.mean(g[..., t][sel[..., t]]) * 1e4 for t in range(T)]
            print(f"mean g by step, {name}s ({split}, bp): " + " ".join(f"{x:.1f}" for x in prof))
    # actionable target: g_t minus the mean of g over the remaining steps (trading now vs spreading over what is left)
    def actionable(g):
        csum = np.cumsum(g[..., ::-1], axis=-1)[..., ::-1]
        return g - csum / np.arange(T, 0, -1)
    atr, ava = actionable(gtr), actionable(gva)
    sel_tr = mtr.copy(); sel_tr[..., T - 1] = False  # the last step is forced: nothing to choose
    sel_va = mva.copy(); sel_va[..., T - 1] = False
    wa = np.linalg.solve(Xtr[sel_tr].T @ Xtr[sel_tr] + 1e-6 * np.eye(Xtr.shape[-1]), Xtr[sel_tr].T @ atr[sel_tr])
    pa = Xva[sel_va] @ wa
    r2a = 1 - np.mean((ava[sel_va] - pa) ** 2) / np.var(ava[sel_va])
    print(f"actionable target g_t - mean(g_t..g_T): std {np.std(ava[sel_va])*1e4:.1f} bp; ridge probe valid R^2 {r2a:.4f}, "
          f"corr {np.corrcoef(pa, ava[sel_va])[0, 1]:.3f}")
    # autocorrelation of consecutive step returns (mean reversion / momentum inside the day)
    env.reset(tr)
    r = np.diff(np.log(env.price), axis=-1)
    mm = np.broadcast_to(env.mask[..., None], r.shape)
    x, y = r[..., :-1][mm[..., 1:]], r[..., 1:][mm[..., 1:]]
    print(f"lag-1 autocorrelation of 30-min step returns (train orders): {np.corrcoef(x, y)[0, 1]:.3f}")
    print(f"ridge probe on past prices -> g: valid R^2 {r2:.4f}, corr {corr:.3f}, weights {np.round(w, 4).tolist()}")
    print(f"penalty scale: alpha*0.25^2 = {0.01*0.0625*1e4:.2f} bp-units per step; 4x25% total {0.01*0.25*1e4:.0f}; "
          f"TWAP total {0.01/13*1e4:.1f}; whole order at once {0.01*1e4:.0f}")

    acts = ecfg.actions
    rows = []
    front = [0.25] * 4 + [0] * (T - 4)
    back = [0] * (T - 4) + [0.25] * 4
    pols = [Sched("TWAP", [1 / T] * T), Sched("front 4x25%", front), Sched("back 4x25%", back),
            Sched("buys front, sells back", front, back), Sched("buys back, sells front", back, front),
            ProbeRule("probe rule thr=5bp", env, w, 5e-4), ProbeRule("probe rule thr=10bp", env, w, 1e-3)]
    for split, ids in (("train", tr), ("valid", va)):
        for p in pols:
            rows.append({"split": split, **run(env, p, ids)})
        plans = oracle_plans(env, ids, acts, ecfg.alpha)
        rows.append({"split": split, **run(env, Plan(f"hindsight oracle (alpha={ecfg.alpha})", plans), ids)})
    df = pd.DataFrame(rows)
    with pd.option_context("display.width", 200):
        print(df.to_string(index=False, float_format=lambda x: f"{x:.5g}"))


if __name__ == "__main__":
    main()
