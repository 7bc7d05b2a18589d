"""Training runs on us_minute_2018 (train split; validation only)."""
import json, time, torch
torch.set_num_threads(1)
from multiexec.data.dataset import DataConfig, load_dataset
from multiexec.algos.train import TrainConfig, train
from multiexec.execution.env import ExecConfig
ds = load_dataset(DataConfig(source="us_minute_2018"))
RUNS = [("real_ppo_lr1e-3_ent0.05_s0", "ppo", 0), ("real_ppo_lr1e-3_ent0.05_s1", "ppo", 1), ("real_ppo_lr1e-3_ent0.05_s2", "ppo", 2),
        ("real_tarmac_lr1e-3_ent0.05_s0", "tarmac", 0), ("real_iac_t_lr1e-3_ent0.05_s0", "iac_t", 0)]
for name, method, seed in RUNS:
    cfg = TrainConfig(method=method, seed=seed, train_days=1200, eval_every=100, ppo={"lr": 1e-3, "entropy_coef": 0.05})
    t0 = time.time()
    res = train(ds, cfg, f"runs/iac_investigation/{name}", ExecConfig(), resume=True, progress=False)
    v = res.log[res.log.kind == "valid"]; b = v.loc[v.team_return.idxmax()]
    print(json.dumps({"name": name, "secs": round(time.time() - t0), "best_valid_team": b.team_return, "best_valid_EG": b.EG_bps,
          "best_valid_TOC": b.TOC_pct, "last_valid_team": v.team_return.iloc[-1], "last_valid_EG": v.EG_bps.iloc[-1],
          "last_valid_TOC": v.TOC_pct.iloc[-1]}), flush=True)
