"""PPO for the execution agents, with IaC's action value attribution (paper eqs. 16-19).

A rollout is a batch of whole days stepped together. For each decision the agent may emit several
trained decisions ``R``: the K rounds of intended actions for IaC, one otherwise. Advantages per round:

- one decision (PPO, CommNet, TarMAC, IS): GAE(γ, λ) of the order's reward (eq. 7) for PPO, of the team
  reward (eq. 8) for the team methods.
- IaC with sampled intentions (the paper's literal form; eq. 16 with Q̂(s, a_0) = 0):
  ``A_k = Q̂(s, a_k) - Q̂(s, a_{k-1})`` for k < K, and for k = K the value of the actions actually taken,
  estimated by the λ-return of the trajectory (GAE advantage + V(s)), minus Q̂(s, a_{K-1}). The loss (eq. 19)
  averages the clipped PPO surrogate over the K rounds.
- IaC with soft intentions (the default): see :func:`_soft_iac_objective`.

Q̂ is fitted on the taken actions a_K against the λ-return. Policy terms count only agents
that are alive (order not finished) at steps whose action matters (the last step is forced by the
environment); value and Q̂ terms count every real order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from torch.distributions import Categorical

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
        obs, team_r, order_r, done, _ = env.step(dec.actions[-1].numpy())
        r = np.broadcast_to(team_r[:, None], order_r.shape) if team else order_r
        rews.append(torch.as_tensor(r * reward_scale, dtype=torch.float32))
        team_return += team_r
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


def gae(rewards: torch.Tensor, values: torch.Tensor, gamma: float, lam: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimates over the time axis 1 of (B, T, N); the day ends after T (V_T = 0).

    Returns (advantages, λ-returns = advantages + values).
    """
    T = rewards.shape[1]
    adv = torch.zeros_like(rewards)
    last = torch.zeros_like(rewards[:, 0])
    for t in reversed(range(T)):
        next_v = values[:, t + 1] if t + 1 < T else torch.zeros_like(values[:, t])
        delta = rewards[:, t] + gamma * next_v - values[:, t]
        last = delta + gamma * lam * last
        adv[:, t] = last
    return adv, adv + values


def attribution_advantages(q_intended: torch.Tensor, q_final: torch.Tensor) -> torch.Tensor:
    """IaC action value attribution (eq. 16, Q̂(s, a_0) = 0).

    ``q_intended`` (K-1, ...) = Q̂(s, a_k) for k = 1..K-1; ``q_final`` (...) = the value of the executed a_K.
    Returns (K, ...) with A_k = Q(s, a_k) - Q(s, a_{k-1}); the A_k sum to ``q_final``.
    """
    q = torch.cat([q_intended, q_final.unsqueeze(0)], dim=0)
    prev = torch.cat([torch.zeros_like(q[:1]), q[:-1]], dim=0)
    return q - prev


def _moments(adv: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and standard deviation (+1e-8) over the masked entries of each leading slice, shaped to broadcast."""
    m = mask.to(adv.dtype)
    n = m.flatten(1).sum(1).clamp_min(1.0)
    shape = (-1,) + (1,) * (adv.dim() - 1)
    mean = (adv * m).flatten(1).sum(1) / n
    var = (((adv - mean.view(shape)) ** 2) * m).flatten(1).sum(1) / n
    return mean.view(shape), var.sqrt().view(shape) + 1e-8


def normalise(adv: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Zero-mean, unit-std advantages over the masked entries of each leading slice (round)."""
    mean, std = _moments(adv, mask)
    return (adv - mean) / std


def clipped_surrogate(
    new_logp: torch.Tensor, old_logp: torch.Tensor, adv: torch.Tensor, mask: torch.Tensor, clip: float
) -> torch.Tensor:
    """PPO's clipped objective, averaged over masked entries of each round, then over rounds (eq. 19)."""
    ratio = torch.exp(new_logp - old_logp)
    obj = torch.minimum(ratio * adv, ratio.clamp(1 - clip, 1 + clip) * adv)
    m = mask.to(obj.dtype)
    per_round = (obj * m).flatten(1).sum(1) / m.flatten(1).sum(1).clamp_min(1.0)
    return per_round.mean()


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
    stats: dict[str, float] = {}
    q_loss = torch.zeros(())
    pmask = acting.unsqueeze(0).expand(R, S, N)
    iac = agent.cfg.method in ("iac_c", "iac_t")
    if iac:  # Q̂ is fitted on the executed actions in both forms
        q_loss = _masked_mean((agent.qhat(h0, given[-1], alive) - ret_f) ** 2, valid)
        stats["q_loss"] = float(q_loss.detach())
    if iac and agent.cfg.intentions == "soft":
        pg, intent = _soft_iac_objective(agent, dec, h0, alive, acting, ret_f, new_logp[-1], old_logp[-1], cfg)
        stats["intent"] = float(intent.detach())
        pg = pg + cfg.intent_coef * intent
    elif iac:
        with torch.no_grad():
            q_int = torch.stack([agent.qhat(h0, given[k], alive) for k in range(R - 1)]) if R > 1 else ret_f[:0]
            round_adv = attribution_advantages(q_int.reshape(R - 1, S, N), ret_f)
        round_adv = normalise(round_adv, pmask)
        pg = clipped_surrogate(new_logp, old_logp, round_adv, pmask, cfg.clip)
    else:
        round_adv = normalise(adv_f.unsqueeze(0).expand(R, S, N), pmask)
        pg = clipped_surrogate(new_logp, old_logp, round_adv, pmask, cfg.clip)
    v_loss = _masked_mean((dec.value - ret_f) ** 2, valid)
    entropy = _masked_mean(dist.entropy(), pmask)
    loss = -pg + cfg.value_coef * v_loss + cfg.q_coef * q_loss - cfg.entropy_coef * entropy
    if agent.cfg.method == "is":
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


def _soft_iac_objective(agent: ExecAgent, dec, h0: torch.Tensor, alive: torch.Tensor, acting: torch.Tensor,
                        ret: torch.Tensor, new_logp: torch.Tensor, old_logp: torch.Tensor,
                        cfg: PPOConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """IaC with soft intentions: (clipped surrogate of the executed round, attribution objective of rounds k < K).

    Executed round K: ``A_K = G - E_{a~π_{K-1}} Q̂(s, a)`` (eq. 16 with the last intention's expected value in
    place of Q̂(s, a_{K-1}); V(s) when K = 1), G the λ-return. Rounds k < K: ascend the expected attribution
    ``E_{a~π_k}[Q̂(s, a) - E_{π_k} Q̂]`` through π_k (an all-actions policy gradient: no sampling noise, and
    Q̂ is judged against the others' intentions of the same round). Both are divided by one scale, the
    standard deviation of A_K, so the rounds keep their relative weight.
    """
    probs = dec.aux.get("intent_probs")  # (K-1, S, N, A) or None when K = 1
    rounds = 0 if probs is None else probs.shape[0]
    with torch.no_grad():
        h = h0.detach()
        # Q̂ of each own action against the others' intentions, for the rounds that need it: the last intention
        # (the executed round's baseline) and, when their objective is on, every intention
        need = range(rounds) if cfg.intent_coef > 0 else range(max(rounds - 1, 0), rounds)
        q_all = {k: agent.qhat.every_action(h, probs[k].detach(), alive) for k in need}
        if probs is None:
            adv = ret - dec.value.detach()
        else:
            adv = ret - (probs[-1].detach() * q_all[rounds - 1]).sum(-1)
        mean, scale = _moments(adv.unsqueeze(0), acting.unsqueeze(0))
        adv = (adv - mean[0]) / scale[0]
    pg = clipped_surrogate(new_logp.unsqueeze(0), old_logp.unsqueeze(0), adv.unsqueeze(0), acting.unsqueeze(0), cfg.clip)
    if cfg.intent_coef == 0 or rounds == 0:
        return pg, torch.zeros(())
    terms = []
    for k in range(rounds):
        p = probs[k].detach()
        q = (q_all[k] - (p * q_all[k]).sum(-1, keepdim=True)) / scale[0]
        terms.append(_masked_mean((probs[k] * q).sum(-1), acting))
    return pg, torch.stack(terms).mean()


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
