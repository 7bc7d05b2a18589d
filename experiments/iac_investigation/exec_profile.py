"""Greedy execution profile (valid split) of best.pt of given run folders: mean executed fraction per step, by side."""
import sys, json
import torch
torch.set_num_threads(1)
from multiexec.data.dataset import DataConfig, load_dataset
from multiexec.execution.env import ExecConfig, MultiOrderEnv
from multiexec.algos.evaluation import evaluate
from multiexec.policies.agents import ExecAgent, NeuralPolicy
cash = float(sys.argv[1]); runs = sys.argv[2:]
d = DataConfig(source="synthetic"); d = d.model_copy(update={"orders": d.orders.model_copy(update={"cash_fraction": cash})})
ds = load_dataset(d)
for r in runs:
    cfg = json.load(open(f"{r}/config.json"))
    env = MultiOrderEnv(ds.bars, ds.orders, ExecConfig(**cfg["exec"]))
    res = evaluate(env, NeuralPolicy(ExecAgent.load(f"{r}/best.pt")), ds.splits["valid"])
    m = res.metrics
    print(f"{r}: valid EG {m['EG_bps']:.2f} TOC {m['TOC_pct']:.2f} team {res.extra['team_return']:.5f}")
    for k in ("buy_requested", "buy_executed", "sell_executed"):
        print(f"  {k:14s} " + " ".join(f"{x:.2f}" for x in res.profile[k]))
