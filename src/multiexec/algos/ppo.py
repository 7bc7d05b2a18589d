"""PPO for the execution agents, with IaC's action value attribution (paper eqs. 16-19).

A rollout is a batch of whole days stepped together. For each decision the agent may emit several
trained decisions ``R``: the K rounds of intended actions for IaC, one otherwise. The policy term of the loss comes
from the method's advantage estimator (:mod:`multiexec.algos.advantages`; ``PPOConfig.advantage`` overrides it);
the generic pieces (GAE, clipped surrogate, normalisation) live in :mod:`multiexec.algos.rl`.

Methods with intention rounds (IaC) fit Q̂ on the taken actions a_K against the λ-return; Intention Sharing adds
its model losses. Policy terms count only agents that are alive (order not finished) at steps whose action
matters (the last step is forced by the environment); value and Q̂ terms count every real order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator
from torch.distributions import Categorical

from multiexec.algos.advantages import LossBatch, estimator_names, get_estimator
from multiexec.algos.rl import gae
from multiexec.policies.agents import ExecAgent, obs_tensors



class PPOConfig(BaseModel):
    """PPO settings (Table 5 of the paper where it gives them, except lr and entropy_coef: see their notes)."""

    model_config = ConfigDict(extra="forbid")

    lr: float = Field(1e-3, gt=0, description="Adam learning rate (selected on validation, docs/iac_investigation.md §4; "
                      "the paper's Table 5 searched 1e-4..1e-5)")
    gamma: float = Field(1.0, ge=0, le=1, description="discount factor")
    gae_lambda: float = Field(0.9, ge=0, le=1, description="GAE lambda")
    clip: float = Field(0.2, gt=0, description="PPO ratio clipping")
    epochs: int = Field(4, ge=1, description="passes over each rollout")
    batch_size: int = Field(128, ge=1, description="day-steps per minibatch (rounded up to whole days)")
    rollout_days: int = Field(16, ge=1, description="days (episodes) collected per update")
    value_coef: float = Field(0.5, ge=0)
    q_coef: float = Field(0.5, ge=0, description="weight of the Q̂ regression loss (IaC)")
    entropy_coef: float = Field(0.05, ge=0, description="entropy bonus (selected on validation with lr, as above)")
    model_coef: float = Field(0.5, ge=0, description="weight of the IS prediction losses")
    max_grad_norm: float = Field(0.5, gt=0)
    reward_scale: float = Field(100.0, gt=0, description="rewards are multiplied by this before learning")
    intent_coef: float = Field(0.0, ge=0, description="IaC (soft intentions): weight of the attribution objective of "
                               "the rounds k < K (0: those rounds learn only through the executed round; see "
                               "docs/iac_investigation.md §6 for why 0 is the default)")
    advantage: str | None = Field(None, description="advantage estimator (multiexec.algos.advantages); None: the "
                                  "method's own (multiexec.policies.registry)")

    @field_validator("advantage")
    @classmethod
    def _known_estimator(cls, v: str | None) -> str | None:
        if v is not None and v not in estimator_names():
            raise ValueError(f"unknown advantage estimator {v!r}; choose one of {', '.join(estimator_names())}")
        return v


@dataclass
class Rollout:
    """Whole days collected with the current policy. Shapes: B days, T steps, N agents, R decisions."""

    seq: torch.Tensor  # (B, N, T, F_SEQ) history at the end of the day (rows never change once written)
    now: torch.Tensor  # (B, T, N, F_NOW)
    active: torch.Tensor  # (B, T, N) bool: alive when deciding
    mask: torch.Tensor  # (B, N) bool: real orders
    actions: torch.Tensor  # (R, B, T, N) int64
    logp: torch.Tensor  # (R, B, T, N)
    values: torch.Tensor  # (B, T, N)
    rewards: torch.Tensor  # (B, T, N), already scaled; the team reward broadcast for team methods
    team_return: np.ndarray  # (B,) unscaled sum over the day of eq. 8

    @property
    def n_order_steps(self) -> int:
        return int(self.mask.sum()) * self.now.shape[1]


@torch.no_grad()
def collect_rollout(env, agent: ExecAgent, day_ids: np.ndarray, reward_scale: float) -> Rollout:
    """Run the stochastic policy for one day on every order set in ``day_ids``."""
    obs = env.reset(day_ids)
    B, N = obs.mask.shape
    T = env.n_steps
    now, active, acts, logps, vals, rews = [], [], [], [], [], []
    team_return = np.zeros(B)
    team = agent.cfg.team
    done = False
    while not done:
        seq, nowt, alive = obs_tensors(obs)
        h0 = agent.encode(seq, nowt, obs.t)
        dec = agent.decide(h0, alive)
        logps.append(Categorical(logits=dec.logits).log_prob(dec.actions))
        now.append(nowt)
        active.append(alive)
        acts.append(dec.actions)
        vals.append(dec.value)
        res = env.step(dec.actions[-1].numpy())
        obs, done = res.obs, res.done
        r = np.broadcast_to(res.team_reward[:, None], res.order_reward.shape) if team else res.order_reward
        rews.append(torch.as_tensor(r * reward_scale, dtype=torch.float32))
        team_return += res.team_reward
    assert len(now) == T
    return Rollout(
        seq=torch.from_numpy(obs.seq),
        now=torch.stack(now, 1),
        active=torch.stack(active, 1),
        mask=torch.from_numpy(obs.mask),
        actions=torch.stack(acts, 2),
        logp=torch.stack(logps, 2),
        values=torch.stack(vals, 1),
        rewards=torch.stack(rews, 1),
        team_return=team_return,
    )


def _masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask.to(x.dtype)
    return (x * m).sum() / m.sum().clamp_min(1.0)


def ppo_loss(agent: ExecAgent, roll: Rollout, days: torch.Tensor, adv: torch.Tensor, ret: torch.Tensor,
             cfg: PPOConfig) -> tuple[torch.Tensor, dict[str, float]]:
    """Loss on the minibatch of days ``days`` of ``roll`` (advantages and returns (B, T, N) precomputed)."""
    b = len(days)
    T, N = roll.now.shape[1], roll.now.shape[2]
    R = roll.actions.shape[0]
    h0_ep = agent.encode_episode(roll.seq[days], roll.now[days])  # (b, T, N, D)
    S = b * T
    h0 = h0_ep.reshape(S, N, -1)
    alive = roll.active[days].reshape(S, N)
    valid = roll.mask[days].unsqueeze(1).expand(b, T, N).reshape(S, N)
    step = torch.arange(T).repeat(b)  # (S,)
    acting = alive & (step < T - 1).unsqueeze(1)
    given = roll.actions[:, days].reshape(R, S, N)
    old_logp = roll.logp[:, days].reshape(R, S, N)
    adv_f = adv[days].reshape(S, N)
    ret_f = ret[days].reshape(S, N)

    dec = agent.decide(h0, alive, given=given)
    dist = Categorical(logits=dec.logits)
    new_logp = dist.log_prob(given)
    spec = agent.spec
    stats: dict[str, float] = {}
    q_loss = torch.zeros(())
    pmask = acting.unsqueeze(0).expand(R, S, N)
    if spec.intentions:  # Q̂ is fitted on the executed actions
        q_loss = _masked_mean((agent.qhat(h0, given[-1], alive) - ret_f) ** 2, valid)
        stats["q_loss"] = float(q_loss.detach())
    estimator = get_estimator(cfg.advantage or spec.advantage)
    obj = estimator(LossBatch(agent=agent, cfg=cfg, dec=dec, h0=h0, alive=alive, acting=acting, given=given,
                              new_logp=new_logp, old_logp=old_logp, adv=adv_f, ret=ret_f))
    pg = obj.pg
    stats.update(obj.stats)
    v_loss = _masked_mean((dec.value - ret_f) ** 2, valid)
    entropy = _masked_mean(dist.entropy()[obj.trained], pmask[obj.trained])
    loss = -pg + cfg.value_coef * v_loss + cfg.q_coef * q_loss - cfg.entropy_coef * entropy
    if spec.imagination:
        h0_next = torch.cat([h0_ep[:, 1:], torch.zeros_like(h0_ep[:, :1])], 1).reshape(S, N, -1)
        act = roll.active[days]
        alive_next = torch.cat([act[:, 1:], torch.zeros_like(act[:, :1])], 1).reshape(S, N)
        model_loss = agent.is_model_loss(h0, h0_next, given[-1], alive, alive_next, dec.aux["others_logits"])
        loss = loss + cfg.model_coef * model_loss
        stats["model_loss"] = float(model_loss.detach())
    with torch.no_grad():
        approx_kl = _masked_mean(old_logp - new_logp, pmask)
    stats.update(pg=float(pg.detach()), v_loss=float(v_loss.detach()), entropy=float(entropy.detach()),
                 approx_kl=float(approx_kl))
    return loss, stats


def ppo_update(agent: ExecAgent, opt: torch.optim.Optimizer, roll: Rollout, cfg: PPOConfig,
               gen: torch.Generator) -> dict[str, float]:
    """Several epochs of minibatch PPO on one rollout; returns the mean of the logged statistics."""
    adv, ret = gae(roll.rewards, roll.values, cfg.gamma, cfg.gae_lambda)
    B, T = roll.now.shape[:2]
    mb_days = max(1, -(-cfg.batch_size // T))
    agent.train()
    sums: dict[str, float] = {}
    n = 0
    for _ in range(cfg.epochs):
        perm = torch.randperm(B, generator=gen)
        for i in range(0, B, mb_days):
            loss, stats = ppo_loss(agent, roll, perm[i : i + mb_days], adv, ret, cfg)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(agent.parameters(), cfg.max_grad_norm)
            opt.step()
            for k, v in stats.items():
                sums[k] = sums.get(k, 0.0) + v
            n += 1
    agent.eval()
    return {k: v / n for k, v in sums.items()}
