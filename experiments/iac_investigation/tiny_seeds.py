"""Tiny known-optimum task (multiexec.testing), 6 seeds: how many reach the optimum?

Usage: OMP_NUM_THREADS=1 .venv/bin/python experiments/iac_investigation/tiny_seeds.py METHOD [key=value ...]
keys: intentions (soft|sampled), icoef (PPOConfig.intent_coef), ent (entropy_coef), lr, rounds, days, seeds.
Defaults: lr 1e-3, entropy 0.01, intent_coef 1, soft (the values of the §6 experiments; pass ent=0.05 icoef=0 for
the new defaults).
"""
import sys, torch
torch.set_num_threads(1)
from multiexec.testing import known_optimum_dataset, TINY_EXEC
from multiexec.algos.train import TrainConfig, train
from multiexec.algos.ppo import PPOConfig
from multiexec.algos.evaluation import evaluate
from multiexec.execution.env import MultiOrderEnv
from multiexec.policies.agents import NeuralPolicy
ds = known_optimum_dataset()
method = sys.argv[1]
kw = dict(a.split("=") for a in sys.argv[2:])
res_all = []
for seed in range(int(kw.get("seeds", 6))):
    cfg = TrainConfig(method=method, seed=seed, rounds=int(kw["rounds"]) if "rounds" in kw else None,
                      intentions=kw.get("intentions", "soft"), train_days=int(kw.get("days", 240)), eval_every=80, rollout_days=8,
                      ppo=PPOConfig(lr=float(kw.get("lr", 1e-3)), reward_scale=1.0, entropy_coef=float(kw.get("ent", 0.01)),
                                    intent_coef=float(kw.get("icoef", 1.0))))
    res = train(ds, cfg, f"runs/iac_investigation/tiny_seeds/{method}_{'_'.join(sys.argv[2:])}_s{seed}", TINY_EXEC, resume=False, progress=False)
    env = MultiOrderEnv(ds.bars, ds.orders, TINY_EXEC)
    r = evaluate(env, NeuralPolicy(res.agent), [0, 1])
    res_all.append(round(r.extra["team_return"], 3))
print(method, kw, "at optimum", sum(x >= 0.1235 for x in res_all), "/", len(res_all), "mean", round(sum(res_all)/len(res_all), 3), res_all, flush=True)
