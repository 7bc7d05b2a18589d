"""Does each PPO-family method learn the known optimum of the tiny 2-order task (multiexec.testing)?"""
import sys, torch
torch.set_num_threads(1)
from multiexec.testing import known_optimum_dataset, OPTIMAL_EG, TINY_EXEC
from multiexec.algos.train import TrainConfig, train
from multiexec.algos.ppo import PPOConfig
from multiexec.algos.evaluation import evaluate
from multiexec.execution.env import MultiOrderEnv
from multiexec.policies.agents import NeuralPolicy
ds = known_optimum_dataset()
print("optimal EG", OPTIMAL_EG)
for method in sys.argv[1:]:
    for seed in [int(x) for x in __import__("os").environ.get("SEEDS", "0,1").split(",")]:
        cfg = TrainConfig(method=method, seed=seed, rounds=(int(__import__("os").environ["ROUNDS"]) if "ROUNDS" in __import__("os").environ else None), train_days=240, eval_every=80, rollout_days=8, ppo=PPOConfig(lr=1e-3, reward_scale=1.0, entropy_coef=float(__import__("os").environ.get("ENT", "0.01"))))
        res = train(ds, cfg, f"runs/iac_investigation/tiny/{method}_s{seed}", TINY_EXEC, resume=False, progress=False)
        env = MultiOrderEnv(ds.bars, ds.orders, TINY_EXEC)
        r = evaluate(env, NeuralPolicy(res.agent), [0, 1])
        eg = r.orders.groupby("side")["eg_bps"].mean().to_dict()
        print(method, seed, {k: round(v) for k, v in eg.items()}, "team", round(r.extra["team_return"], 4), flush=True)
