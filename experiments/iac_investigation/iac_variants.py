"""IaC advantage variants on the tiny known-optimum task (and optionally synthetic): which part of the attribution fails?

variants: paper (as implemented: A_1 = Q(s,a_1), A_k = Q(a_k)-Q(a_{k-1}), A_K = ret - Q(a_{K-1}));
          vbase (Q(s,a_0) := V(s), the critic, instead of 0);
          gae_all (every round gets the GAE advantage ret - V(s): plain PPO on each round);
          gae_final (executed round: GAE advantage; rounds k < K: attribution; one shared scale);
          shared_norm / shared_norm_vbase (attribution with one scale for all rounds; optionally Q(s,a_0) := V(s));
          final_only (only the executed round K is trained, with ret - V(s)).
"""
import sys, torch
torch.set_num_threads(1)
sys.path.insert(0, ".")
import multiexec.algos.ppo as P
from tests.algos.conftest import known_optimum_dataset, TINY_EXEC
from multiexec.algos.train import TrainConfig, train
from multiexec.algos.ppo import PPOConfig
from multiexec.algos.evaluation import evaluate
from multiexec.execution.env import MultiOrderEnv
from multiexec.policies.agents import NeuralPolicy
from torch.distributions import Categorical

VARIANT = "paper"
_orig = P.ppo_loss

def patched(agent, roll, days, adv, ret, cfg):
    if VARIANT == "paper":
        return _orig(agent, roll, days, adv, ret, cfg)
    b = len(days); T, N = roll.now.shape[1], roll.now.shape[2]; R = roll.actions.shape[0]
    h0 = agent.encode_episode(roll.seq[days], roll.now[days]).reshape(b * T, N, -1)
    S = b * T
    alive = roll.active[days].reshape(S, N)
    valid = roll.mask[days].unsqueeze(1).expand(b, T, N).reshape(S, N)
    step = torch.arange(T).repeat(b)
    acting = alive & (step < T - 1).unsqueeze(1)
    given = roll.actions[:, days].reshape(R, S, N); old = roll.logp[:, days].reshape(R, S, N)
    adv_f = adv[days].reshape(S, N); ret_f = ret[days].reshape(S, N)
    dec = agent.decide(h0, alive, given=given)
    dist = Categorical(logits=dec.logits); new = dist.log_prob(given)
    q_taken = agent.qhat(h0, given[-1], alive)
    q_loss = P._masked_mean((q_taken - ret_f) ** 2, valid)
    with torch.no_grad():
        q_int = torch.stack([agent.qhat(h0, given[k], alive) for k in range(R - 1)])
        v = dec.value.detach()
        if VARIANT == "vbase":
            q = torch.cat([q_int, ret_f.unsqueeze(0)]); prev = torch.cat([v.unsqueeze(0), q[:-1]]); ra = q - prev
        elif VARIANT == "gae_all":
            ra = adv_f.unsqueeze(0).expand(R, S, N)
        elif VARIANT in ("final_only", "soft"):
            ra = adv_f.unsqueeze(0).expand(1, S, N)
        elif VARIANT == "gae_final":
            q = torch.cat([q_int, ret_f.unsqueeze(0)])
            ra = q - torch.cat([torch.zeros_like(q[:1]), q[:-1]])
            ra[-1] = adv_f  # executed round: plain GAE advantage (return - V(s))
        elif VARIANT in ("shared_norm", "shared_norm_vbase"):
            q = torch.cat([q_int, ret_f.unsqueeze(0)])
            base0 = v.unsqueeze(0) if VARIANT == "shared_norm_vbase" else torch.zeros_like(q[:1])
            ra = q - torch.cat([base0, q[:-1]])
    pm = acting.unsqueeze(0).expand(ra.shape[0], S, N)
    if VARIANT.startswith("shared_norm") or VARIANT == "gae_final":
        m = pm.float(); n = m.flatten(1).sum(1).clamp_min(1)
        mean = (ra * m).flatten(1).sum(1) / n
        c = ra - mean.view(-1, 1, 1)
        sd = ((c[-1] ** 2) * m[-1]).sum() / n[-1]  # one scale for every round: that of the executed round
        ra = c / (sd.sqrt() + 1e-8)
    else:
        ra = P.normalise(ra, pm)
    sl = slice(R - ra.shape[0], R)
    pg = P.clipped_surrogate(new[sl], old[sl], ra, pm, cfg.clip)
    v_loss = P._masked_mean((dec.value - ret_f) ** 2, valid)
    ent = P._masked_mean(dist.entropy()[sl], pm)
    loss = -pg + cfg.value_coef * v_loss + cfg.q_coef * q_loss - cfg.entropy_coef * ent
    return loss, {"pg": float(pg), "v_loss": float(v_loss), "entropy": float(ent), "q_loss": float(q_loss)}

P.ppo_loss = patched

# "soft": the rounds exchange the intended action *distributions* (softmax) instead of sampled one-hots;
# only the executed round is trained (GAE advantage), as in final_only.
import torch.nn.functional as F
from multiexec.policies.agents import ExecAgent, Decision, IAC_METHODS
_orig_decide = ExecAgent.decide

def soft_decide(self, h0, alive, given=None, greedy=False, rounds=None, with_value=True):
    if VARIANT != "soft" or self.cfg.method not in IAC_METHODS:
        return _orig_decide(self, h0, alive, given=given, greedy=greedy, rounds=rounds, with_value=with_value)
    K = self.cfg.rounds if rounds is None else rounds
    A = self.cfg.n_actions
    value = self._value(h0, alive) if with_value else None
    h = h0
    prev = F.one_hot(torch.full(alive.shape, A, dtype=torch.long), A + 1).to(h0.dtype)
    L, acts = [], []
    for k in range(K):
        h = torch.where(alive.unsqueeze(-1), self.channel(torch.cat([h, prev], -1), alive), h)
        logits = self.decision(h)
        a = given[k] if given is not None else (logits.argmax(-1) if greedy else Categorical(logits=logits).sample())
        prev = torch.cat([F.softmax(logits, -1), torch.zeros_like(logits[..., :1])], -1)
        L.append(logits); acts.append(a)
    acts[-1] = acts[-1]
    return Decision(logits=torch.stack(L), actions=torch.stack(acts), value=value)

ExecAgent.decide = soft_decide
import os
SEEDS = [int(x) for x in os.environ.get("SEEDS", "0,1").split(",")]
if os.environ.get("SYNTH"):
    import json
    from multiexec.data.dataset import DataConfig, load_dataset
    from multiexec.execution.env import ExecConfig
    d = DataConfig(source="synthetic"); d = d.model_copy(update={"orders": d.orders.model_copy(update={"cash_fraction": float(os.environ["SYNTH"])})})
    sds = load_dataset(d)
    for VARIANT in sys.argv[1:]:
        cfg = TrainConfig(method="iac_t", seed=0, train_days=1200, eval_every=100)
        res = train(sds, cfg, f"runs/iac_investigation/synthvar/{VARIANT}_iac_t_cash{os.environ['SYNTH']}", ExecConfig(), resume=False, progress=False)
        v = res.log[res.log.kind == "valid"]; b = v.loc[v.team_return.idxmax()]
        print(json.dumps({"name": f"iac_t_cash{os.environ['SYNTH']}_{VARIANT}", "best_valid_team": b.team_return, "best_valid_EG": b.EG_bps,
              "last_valid_team": v.team_return.iloc[-1], "last_valid_EG": v.EG_bps.iloc[-1], "last_valid_TOC": v.TOC_pct.iloc[-1]}), flush=True)
    sys.exit(0)
ds = known_optimum_dataset()
for VARIANT in sys.argv[1:]:
    for method in ("iac_t", "iac_c"):
        for seed in SEEDS:
            cfg = TrainConfig(method=method, seed=seed, train_days=240, eval_every=80, rollout_days=8, ppo=PPOConfig(lr=1e-3, reward_scale=1.0))
            res = train(ds, cfg, f"runs/iac_investigation/tinyvar/{VARIANT}_{method}_s{seed}", TINY_EXEC, resume=False, progress=False)
            env = MultiOrderEnv(ds.bars, ds.orders, TINY_EXEC)
            pol = NeuralPolicy(res.agent)
            r = evaluate(env, pol, [0, 1])
            eg = r.orders.groupby("side")["eg_bps"].mean().to_dict()
            print(VARIANT, method, seed, {k: round(v) for k, v in eg.items()}, "team", round(r.extra["team_return"], 4), flush=True)
