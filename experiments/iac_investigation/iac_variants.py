"""IaC advantage variants on the tiny known-optimum task (and optionally synthetic): which part of the attribution fails?

Each variant is a registered advantage estimator (``multiexec.algos.advantages``) selected by name through
``PPOConfig.advantage``, with the form of the intentions it was run with:

variants: paper (as implemented: A_1 = Q(s,a_1), A_k = Q(a_k)-Q(a_{k-1}), A_K = ret - Q(a_{K-1}); ``iac_attribution``);
          vbase (Q(s,a_0) := V(s), the critic, instead of 0; ``iac_vbase``);
          gae_all (every round gets the GAE advantage ret - V(s): plain PPO on each round; ``gae``);
          gae_final (executed round: GAE advantage; rounds k < K: attribution; one shared scale; ``iac_gae_final``);
          shared_norm / shared_norm_vbase (attribution with one scale for all rounds; optionally Q(s,a_0) := V(s));
          final_only (only the executed round K is trained, with ret - V(s); ``final_only``);
          soft (the rounds exchange the intended-action distributions; only the executed round is trained).
All but ``soft`` send sampled one-hot intentions.
"""
import sys, torch
torch.set_num_threads(1)
from multiexec.testing import known_optimum_dataset, TINY_EXEC
from multiexec.algos.train import TrainConfig, train
from multiexec.algos.ppo import PPOConfig
from multiexec.algos.evaluation import evaluate
from multiexec.execution.env import MultiOrderEnv
from multiexec.policies.agents import NeuralPolicy

# variant -> (intentions, advantage estimator; None: the method's own)
VARIANTS = {
    "paper": ("sampled", None),
    "vbase": ("sampled", "iac_vbase"),
    "gae_all": ("sampled", "gae"),
    "gae_final": ("sampled", "iac_gae_final"),
    "shared_norm": ("sampled", "iac_shared_norm"),
    "shared_norm_vbase": ("sampled", "iac_shared_norm_vbase"),
    "final_only": ("sampled", "final_only"),
    "soft": ("soft", "final_only"),
}


def variant_config(variant: str, **kw) -> TrainConfig:
    intentions, advantage = VARIANTS[variant]
    ppo = kw.pop("ppo", PPOConfig())
    return TrainConfig(intentions=intentions, ppo=ppo.model_copy(update={"advantage": advantage}), **kw)


import os
SEEDS = [int(x) for x in os.environ.get("SEEDS", "0,1").split(",")]
if os.environ.get("SYNTH"):
    import json
    from multiexec.data.dataset import DataConfig, load_dataset
    from multiexec.execution.env import ExecConfig
    d = DataConfig(source="synthetic"); d = d.model_copy(update={"orders": d.orders.model_copy(update={"cash_fraction": float(os.environ["SYNTH"])})})
    sds = load_dataset(d)
    for VARIANT in sys.argv[1:]:
        cfg = variant_config(VARIANT, method="iac_t", seed=0, train_days=1200, eval_every=100)
        res = train(sds, cfg, f"runs/iac_investigation/synthvar/{VARIANT}_iac_t_cash{os.environ['SYNTH']}", ExecConfig(), resume=False, progress=False)
        v = res.log[res.log.kind == "valid"]; b = v.loc[v.team_return.idxmax()]
        print(json.dumps({"name": f"iac_t_cash{os.environ['SYNTH']}_{VARIANT}", "best_valid_team": b.team_return, "best_valid_EG": b.EG_bps,
              "last_valid_team": v.team_return.iloc[-1], "last_valid_EG": v.EG_bps.iloc[-1], "last_valid_TOC": v.TOC_pct.iloc[-1]}), flush=True)
    sys.exit(0)
ds = known_optimum_dataset()
for VARIANT in sys.argv[1:]:
    for method in ("iac_t", "iac_c"):
        for seed in SEEDS:
            cfg = variant_config(VARIANT, method=method, seed=seed, train_days=240, eval_every=80, rollout_days=8,
                                 ppo=PPOConfig(lr=1e-3, reward_scale=1.0))
            res = train(ds, cfg, f"runs/iac_investigation/tinyvar/{VARIANT}_{method}_s{seed}", TINY_EXEC, resume=False, progress=False)
            env = MultiOrderEnv(ds.bars, ds.orders, TINY_EXEC)
            pol = NeuralPolicy(res.agent)
            r = evaluate(env, pol, [0, 1])
            eg = r.orders.groupby("side")["eg_bps"].mean().to_dict()
            print(VARIANT, method, seed, {k: round(v) for k, v in eg.items()}, "team", round(r.extra["team_return"], 4), flush=True)
