"""Does the synthetic market with a planted intraday drift contain the coordination problem? (train/valid only)

For each planted drift (``SyntheticConfig.intraday_drift``, bp/day) it loads the synthetic market (data seed 0) and
evaluates rule schedules on the **train and valid** splits (never test), at the scarce cash of the experiment
(``--cash``, default 0.05) and with cash that never binds (``--free-cash``, default 10 x the buy notional) to show
what each order would want on its own:

- TWAP; "buys front, sells back" (4 x 25 % in the first / last four steps: what every order wants alone when the
  market drifts up, buying early and selling late); "buys back, sells front"; "all front" (4 x 25 % in steps 0-3);
- "cash-aware": the team allocates the shared cash. The largest sells, just enough of them to pay for the buys
  beyond the starting cash, sell front (4 x 25 %) to fund the buys; every other sell sells back; the buys buy front
  (25 % a step), smallest buys first, each step capped at 98 % of the cash the team expects to have (cash plus this
  step's sell proceeds at the last seen prices), carrying what the cap cut over to the next steps. It only uses what
  the agents observe (cash, sizes, remaining, past prices), not future prices;
- "cash-aware, 25 % chunks": the same split of the sells and buys front, without the cap (only the discrete
  actions the learned agents have).

It also prints the mean common open-to-close move (equal-weighted over assets) of the train and valid days, the
realised intraday drift the planted one adds to.

Usage: OMP_NUM_THREADS=1 .venv/bin/python experiments/coordination/check_rules.py [--drifts 0,20,30,50] [--cash 0.05]
       [--data base.json]   (a DataConfig file whose synthetic.intraday_drift and orders.cash_fraction are overridden)
"""
from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from multiexec.data.dataset import DataConfig, load_config_file, load_dataset
from multiexec.execution.env import ExecConfig, MultiOrderEnv
from multiexec.execution.metrics import summarize

CAP = 0.98  # share of the expected cash the cash-aware rule lets the buys spend (prices move within a step)


class Sched:
    """Fixed per-side fractions per step."""

    def __init__(self, name, buy, sell):
        self.name, self.buy, self.sell = name, np.asarray(buy, float), np.asarray(sell, float)

    def reset(self, env):
        pass

    def act(self, env, obs):
        return np.minimum(np.where(obs.side < 0, self.buy[obs.t], self.sell[obs.t]), 1.0)


class CashAware:
    """See the module docstring. ``cap``: cap the buys by the expected cash (else plain 25 % chunks)."""

    def __init__(self, name, cap: bool):
        self.name, self.cap = name, cap

    def reset(self, env):
        refp = env.price[:, :, 0] / (1.0 + env.price_feat[:, :, 0] / 100.0)  # previous close (what agents see)
        notional = np.where(env.mask, env.amount * refp, 0.0)
        sell = (env.side > 0) & env.mask
        buy = (env.side < 0) & env.mask
        need = np.maximum(np.where(buy, notional, 0.0).sum(axis=1) - env.cash, 0.0)  # (B,) to fund from sells
        self.funding = np.zeros(env.mask.shape, bool)
        for b in range(env.mask.shape[0]):
            got = 0.0
            for i in np.argsort(-np.where(sell[b], notional[b], -1.0), kind="stable"):
                if not sell[b, i] or got >= need[b]:
                    break
                self.funding[b, i] = True
                got += notional[b, i]
        self.buy_order = np.argsort(np.where(buy, notional, np.inf), axis=1, kind="stable")  # smallest first

    def act(self, env, obs):
        t, T = obs.t, obs.n_steps
        front = 0.25 if t < 4 else 0.0
        back = 0.25 if t >= T - 4 else 0.0
        a = np.where(obs.side > 0, np.where(self.funding, front, back), 0.0)
        a = np.minimum(a, obs.remaining)
        want_buy = np.where(obs.side < 0, np.minimum(obs.remaining, 0.25 if t < 4 else 1.0), 0.0)
        if not self.cap:
            return np.where(obs.side < 0, np.minimum(want_buy, 0.25) if t < 4 else 0.0, a)
        p_est = env.price[:, :, t - 1] if t > 0 else env.price[:, :, 0] / (1.0 + env.price_feat[:, :, 0] / 100.0)
        proceeds = (a * env.amount * p_est * ((obs.side > 0) & obs.mask)).sum(axis=1)
        budget = CAP * (env.cash + proceeds)
        buy = np.zeros_like(a)
        for b in range(a.shape[0]):
            left = budget[b]
            for i in self.buy_order[b]:
                if obs.side[b, i] >= 0 or not obs.mask[b, i]:
                    continue
                cost_full = env.amount[b, i] * p_est[b, i]
                x = min(want_buy[b, i], max(left, 0.0) / max(cost_full, 1e-12))
                buy[b, i] = x
                left -= x * cost_full
        return np.clip(np.where(obs.side < 0, buy, a), 0.0, 1.0)


def run(env, pol, ids):
    obs = env.reset(ids)
    pol.reset(env)
    ret = np.zeros(len(ids))
    done = False
    while not done:
        res = env.step(pol.act(env, obs).astype(np.float64))
        obs, done = res.obs, res.done
        ret += res.team_reward
    m = summarize(env.results(), env.day_results())
    return {"policy": pol.name, "EG_bps": m["EG_bps"], "TOC_pct": m["TOC_pct"], "fill_pct": m["fill_pct"],
            "team_return": ret.mean()}


def policies(T):
    front = [0.25] * 4 + [0.0] * (T - 4)
    back = [0.0] * (T - 4) + [0.25] * 4
    return [Sched("TWAP", [1 / T] * T, [1 / T] * T), Sched("buys front, sells back", front, back),
            Sched("buys back, sells front", back, front), Sched("all front", front, front),
            CashAware("cash-aware", cap=True), CashAware("cash-aware, 25% chunks", cap=False)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--drifts", default="0,20,30,50,75", help="planted intraday drifts, bp/day")
    ap.add_argument("--cash", type=float, default=0.05, help="orders.cash_fraction of the experiment")
    ap.add_argument("--free-cash", type=float, default=10.0, help="cash fraction at which cash never binds")
    ap.add_argument("--data", default=None, help="base DataConfig file (default: the built-in synthetic market)")
    args = ap.parse_args()
    base = load_config_file(args.data) if args.data else DataConfig(source="synthetic")
    if base.source != "synthetic":
        raise SystemExit("check_rules.py needs a synthetic market (the drift is a knob of the synthetic market)")
    rows = []
    for drift in [float(x) for x in args.drifts.split(",")]:
        for cash in (args.cash, args.free_cash):
            ds = load_dataset(base.model_copy(update={
                "synthetic": base.synthetic.model_copy(update={"intraday_drift": drift}),
                "orders": base.orders.model_copy(update={"cash_fraction": cash})}))
            env = MultiOrderEnv(ds.bars, ds.orders, ExecConfig())
            for split in ("train", "valid"):
                ids = np.asarray(ds.splits[split])
                if cash == args.cash:
                    b = ds.bars
                    di = b.date_index([ds.orders[i].date for i in ids])
                    oc = np.log(b.close[di, :, -1] / b.open[di, :, 0]).mean(axis=1) * 1e4
                    print(f"drift {drift:g} bp/day, {split}: {len(ids)} days, mean common open->close move "
                          f"{oc.mean():.1f} bp (se {oc.std(ddof=1) / np.sqrt(len(oc)):.1f})")
                for pol in policies(env.n_steps):
                    rows.append({"drift": drift, "cash": cash, "split": split, **run(env, pol, ids)})
    df = pd.DataFrame(rows)
    with pd.option_context("display.width", 200, "display.max_rows", 500):
        print(df.to_string(index=False, float_format=lambda x: f"{x:.5g}"))


if __name__ == "__main__":
    main()
