"""Per-round entropy and greedy actions of IaC^T during training on the tiny known-optimum task."""
import torch, numpy as np
torch.set_num_threads(1)
from multiexec.testing import known_optimum_dataset, TINY_EXEC
from multiexec.algos.train import TrainConfig, make_learner
from multiexec.algos.ppo import PPOConfig, collect_rollout
from multiexec.execution.env import MultiOrderEnv
from torch.distributions import Categorical
ds = known_optimum_dataset()
env = MultiOrderEnv(ds.bars, ds.orders, TINY_EXEC)
for rounds in (3, 1):
    for lr in (1e-3, 1e-4):
        cfg = TrainConfig(method="iac_t", seed=0, rounds=rounds, rollout_days=8, ppo=PPOConfig(lr=lr, reward_scale=1.0))
        L = make_learner(cfg, env)
        print(f"--- IaC^T K={rounds} lr={lr}")
        for u in range(31):
            if u % 5 == 0:
                with torch.no_grad():
                    roll = collect_rollout(env, L.agent, np.arange(8), 1.0)
                    obs = env.reset([0]); from multiexec.policies.agents import obs_tensors
                    seq, now, alive = obs_tensors(obs)
                    h0 = L.agent.encode(seq, now, 0)
                    dec = L.agent.decide(h0, alive)
                    ent = Categorical(logits=dec.logits).entropy()[:, 0]  # (R, N) at step 0
                    pr = torch.softmax(dec.logits[:, 0], -1)
                print(f"update {u:2d} stoch team return {roll.team_return.mean():.4f}; step-0 entropy per round (sell, buy): "
                      + "; ".join(f"{e[0]:.2f},{e[1]:.2f}" for e in ent.tolist())
                      + " | last-round probs sell " + " ".join(f"{p:.2f}" for p in pr[-1, 0].tolist()))
            L.learn(env, np.arange(8))
