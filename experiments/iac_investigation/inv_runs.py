"""Sequential training runs for the IaC investigation: train split, validation only (no test evaluation)."""
import json, sys, time
import torch
torch.set_num_threads(1)
from multiexec.data.dataset import DataConfig, load_dataset
from multiexec.algos.train import TrainConfig, train
from multiexec.execution.env import ExecConfig

RUNS = [
    # name, method, cash_fraction, train overrides
    ("ppo_ent0.05", "ppo", 0.3, {"ppo": {"entropy_coef": 0.05}}),
    ("ppo_lr1e-3", "ppo", 0.3, {"ppo": {"lr": 1e-3}}),
    ("ppo_cash0.05", "ppo", 0.05, {}),
    ("iac_t_cash0.05", "iac_t", 0.05, {}),
    ("tarmac_cash0.05", "tarmac", 0.05, {}),
    ("ppo_long4000", "ppo", 0.3, {"train_days": 4000, "eval_every": 400}),
    ("ppo_lr1e-3_ent0.05", "ppo", 0.3, {"ppo": {"lr": 1e-3, "entropy_coef": 0.05}}),
    ("ppo_alpha0", "ppo", 0.3, {}, {"alpha": 0.0}),
    ("ppo_lr1e-3_long4000", "ppo", 0.3, {"ppo": {"lr": 1e-3}, "train_days": 4000, "eval_every": 400}),
    ("commnet_cash0.05", "commnet", 0.05, {}),
    ("iac_c_cash0.05", "iac_c", 0.05, {}),
    ("ddqn_cash0.05", "ddqn", 0.05, {}),
    ("ppo_cash0.05_s1", "ppo", 0.05, {"seed": 1}),
    ("iac_t_cash0.05_s1", "iac_t", 0.05, {"seed": 1}),
    ("tarmac_cash0.05_s1", "tarmac", 0.05, {"seed": 1}),
    ("iac_t_cash0.05_lr1e-3", "iac_t", 0.05, {"ppo": {"lr": 1e-3}}),
    ("ppo_cash0.05_lr1e-3", "ppo", 0.05, {"ppo": {"lr": 1e-3}}),
    ("tarmac_cash0.05_lr1e-3", "tarmac", 0.05, {"ppo": {"lr": 1e-3}}),
    ("ppo_lr1e-3_ent0.05_s1", "ppo", 0.3, {"seed": 1, "ppo": {"lr": 1e-3, "entropy_coef": 0.05}}),
    ("ppo_lr1e-3_ent0.05_s2", "ppo", 0.3, {"seed": 2, "ppo": {"lr": 1e-3, "entropy_coef": 0.05}}),
    ("tarmac_lr1e-3_ent0.05", "tarmac", 0.3, {"ppo": {"lr": 1e-3, "entropy_coef": 0.05}}),
    ("iac_t_lr1e-3_ent0.05", "iac_t", 0.3, {"ppo": {"lr": 1e-3, "entropy_coef": 0.05}}),
    ("ppo_lr1e-3_ent0.05_cash0.05", "ppo", 0.05, {"ppo": {"lr": 1e-3, "entropy_coef": 0.05}}),
    ("tarmac_lr1e-3_ent0.05_cash0.05", "tarmac", 0.05, {"ppo": {"lr": 1e-3, "entropy_coef": 0.05}}),
    ("iac_t_lr1e-3_ent0.05_cash0.05", "iac_t", 0.05, {"ppo": {"lr": 1e-3, "entropy_coef": 0.05}}),
]
only = sys.argv[1:] or [r[0] for r in RUNS]
cache = {}
for name, method, cash, over, *ex in RUNS:
    if name not in only:
        continue
    if cash not in cache:
        d = DataConfig(source="synthetic")
        d = d.model_copy(update={"orders": d.orders.model_copy(update={"cash_fraction": cash})})
        cache[cash] = load_dataset(d)
    vals = {"method": method, "seed": 0, "train_days": 1200, "eval_every": 100, "threads": 1, **over}
    cfg = TrainConfig(**vals)
    t0 = time.time()
    res = train(cache[cash], cfg, f"runs/iac_investigation/{name}", ExecConfig(**(ex[0] if ex else {})), resume=True, progress=False)
    log = res.log
    v = log[log.kind == "valid"]
    tr = log[log.kind == "train"]
    best = v.loc[v.team_return.idxmax()]
    out = {"name": name, "secs": round(time.time() - t0), "best_valid_team": best.team_return, "best_valid_EG": best.EG_bps,
           "best_valid_TOC": best.TOC_pct, "last_valid_team": v.team_return.iloc[-1], "last_valid_EG": v.EG_bps.iloc[-1],
           "last_valid_TOC": v.TOC_pct.iloc[-1], "final_entropy": tr.entropy.iloc[-10:].mean() if "entropy" in tr else None}
    print(json.dumps(out), flush=True)
