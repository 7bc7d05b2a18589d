"""Advantage estimators of the PPO family: a registry of named policy objectives.

A method declares its default estimator in :mod:`multiexec.policies.registry` (``MethodSpec.advantage``);
``PPOConfig.advantage`` may name another one (the investigation's variants). An estimator receives the
re-evaluated minibatch (:class:`LossBatch`) and returns the policy objective to *ascend* (:class:`PolicyObjective`);
:func:`multiexec.algos.ppo.ppo_loss` adds the value, Q̂, entropy and model terms. Adding an estimator is one
function decorated with :func:`register_estimator`.

Registered:

- ``gae``: GAE(γ, λ) of the order's reward (PPO) or of the team reward (team methods), normalised per round, on
  every round (eq. 7 / eq. 8). For IaC this trains every round on the same advantage (the investigation's
  ``gae_all``).
- ``iac_attribution`` (IaC's default): with sampled intentions (the paper's literal form; eq. 16 with
  Q̂(s, a_0) = 0) ``A_k = Q̂(s, a_k) - Q̂(s, a_{k-1})`` for k < K and, for k = K, the λ-return minus Q̂(s, a_{K-1});
  the loss (eq. 19) averages the clipped surrogate over the K rounds, each round normalised on its own. With soft
  intentions: see :func:`soft_iac_objective`.
- variants of the IaC investigation (``docs/iac_investigation.md``), sampled intentions:
  ``iac_vbase`` (attribution with Q̂(s, a_0) := V(s)), ``iac_gae_final`` (executed round: the GAE advantage, rounds
  k < K: the attribution; one scale, the executed round's), ``iac_shared_norm`` / ``iac_shared_norm_vbase``
  (attribution with one scale for every round, optionally Q̂(s, a_0) := V(s)) and ``final_only`` (only the
  executed round is trained, with the GAE advantage).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch.nn import Module

from multiexec.algos.rl import clipped_surrogate, moments, normalise
from multiexec.errors import MultiexecError


@dataclass
class LossBatch:
    """A PPO minibatch re-evaluated by the current agent: S samples (day-steps) × N agents × R decisions."""

    agent: Module  # the ExecAgent
    cfg: Any  # the PPOConfig
    dec: Any  # the agent's Decision on the minibatch (given actions)
    h0: torch.Tensor  # (S, N, D)
    alive: torch.Tensor  # (S, N) bool
    acting: torch.Tensor  # (S, N) bool: alive at a step whose action matters
    given: torch.Tensor  # (R, S, N) actions of the rollout
    new_logp: torch.Tensor  # (R, S, N)
    old_logp: torch.Tensor  # (R, S, N)
    adv: torch.Tensor  # (S, N) GAE advantages
    ret: torch.Tensor  # (S, N) λ-returns

    @property
    def rounds(self) -> int:
        return self.given.shape[0]

    @property
    def pmask(self) -> torch.Tensor:
        """(R, S, N): the acting mask of every round."""
        return self.acting.unsqueeze(0).expand(self.rounds, *self.acting.shape)


@dataclass
class PolicyObjective:
    """The policy term to ascend, extra statistics, and the rounds whose entropy is rewarded."""

    pg: torch.Tensor
    stats: dict[str, float] = field(default_factory=dict)
    trained: slice = field(default_factory=lambda: slice(None))


Estimator = Callable[[LossBatch], PolicyObjective]
ESTIMATORS: dict[str, Estimator] = {}


def register_estimator(name: str) -> Callable[[Estimator], Estimator]:
    """Decorator: register ``fn(batch) -> PolicyObjective`` as the advantage estimator ``name``."""

    def deco(fn: Estimator) -> Estimator:
        if name in ESTIMATORS:
            raise MultiexecError(f"advantage estimator {name!r} is registered twice")
        ESTIMATORS[name] = fn
        return fn

    return deco


def estimator_names() -> tuple[str, ...]:
    return tuple(ESTIMATORS)


def get_estimator(name: str) -> Estimator:
    fn = ESTIMATORS.get(name)
    if fn is None:
        raise MultiexecError(f"unknown advantage estimator {name!r}; choose one of {', '.join(ESTIMATORS)}")
    return fn


def _masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask.to(x.dtype)
    return (x * m).sum() / m.sum().clamp_min(1.0)


def attribution_advantages(q_intended: torch.Tensor, q_final: torch.Tensor) -> torch.Tensor:
    """IaC action value attribution (eq. 16, Q̂(s, a_0) = 0).

    ``q_intended`` (K-1, ...) = Q̂(s, a_k) for k = 1..K-1; ``q_final`` (...) = the value of the executed a_K.
    Returns (K, ...) with A_k = Q(s, a_k) - Q(s, a_{k-1}); the A_k sum to ``q_final``.
    """
    q = torch.cat([q_intended, q_final.unsqueeze(0)], dim=0)
    prev = torch.cat([torch.zeros_like(q[:1]), q[:-1]], dim=0)
    return q - prev


def _q_intended(b: LossBatch) -> torch.Tensor:
    """Q̂(s, a_k) (R-1, S, N) of the intended actions of the rounds k < K (no gradient)."""
    R = b.rounds
    with torch.no_grad():
        if R == 1:
            return b.ret.new_zeros((0, *b.ret.shape))
        return torch.stack([b.agent.qhat(b.h0, b.given[k], b.alive) for k in range(R - 1)]).reshape(R - 1, *b.ret.shape)


def _surrogate(b: LossBatch, round_adv: torch.Tensor, trained: slice = slice(None)) -> PolicyObjective:
    mask = b.pmask[trained]
    pg = clipped_surrogate(b.new_logp[trained], b.old_logp[trained], round_adv, mask, b.cfg.clip)
    return PolicyObjective(pg, trained=trained)


@register_estimator("gae")
def gae_objective(b: LossBatch) -> PolicyObjective:
    """Every round on the normalised GAE advantage."""
    round_adv = normalise(b.adv.unsqueeze(0).expand(b.rounds, *b.adv.shape), b.pmask)
    return _surrogate(b, round_adv)


@register_estimator("final_only")
def final_only_objective(b: LossBatch) -> PolicyObjective:
    """Only the executed round, on the normalised GAE advantage."""
    last = slice(b.rounds - 1, b.rounds)
    return _surrogate(b, normalise(b.adv.unsqueeze(0), b.pmask[last]), last)


@register_estimator("iac_attribution")
def iac_attribution_objective(b: LossBatch) -> PolicyObjective:
    """IaC's action value attribution: per-round attribution (sampled intentions) or :func:`soft_iac_objective`."""
    if b.agent.cfg.intentions == "soft":
        pg, intent = soft_iac_objective(b.agent, b.dec, b.h0, b.alive, b.acting, b.ret, b.new_logp[-1],
                                        b.old_logp[-1], b.cfg)
        return PolicyObjective(pg + b.cfg.intent_coef * intent, stats={"intent": float(intent.detach())})
    with torch.no_grad():
        round_adv = attribution_advantages(_q_intended(b), b.ret)
    return _surrogate(b, normalise(round_adv, b.pmask))


def _attribution(b: LossBatch, v_base: bool) -> torch.Tensor:
    with torch.no_grad():
        q = torch.cat([_q_intended(b), b.ret.unsqueeze(0)])
        base0 = b.dec.value.detach().unsqueeze(0) if v_base else torch.zeros_like(q[:1])
        return q - torch.cat([base0, q[:-1]])


def _shared_scale(round_adv: torch.Tensor, pmask: torch.Tensor) -> torch.Tensor:
    """Centre each round, divide every round by one scale: the standard deviation of the executed round."""
    m = pmask.to(round_adv.dtype)
    n = m.flatten(1).sum(1).clamp_min(1)
    mean = (round_adv * m).flatten(1).sum(1) / n
    c = round_adv - mean.view(-1, *([1] * (round_adv.dim() - 1)))
    sd = ((c[-1] ** 2) * m[-1]).sum() / n[-1]
    return c / (sd.sqrt() + 1e-8)


@register_estimator("iac_vbase")
def iac_vbase_objective(b: LossBatch) -> PolicyObjective:
    """Attribution with Q̂(s, a_0) := V(s) (the critic) instead of 0; rounds normalised on their own."""
    return _surrogate(b, normalise(_attribution(b, v_base=True), b.pmask))


@register_estimator("iac_gae_final")
def iac_gae_final_objective(b: LossBatch) -> PolicyObjective:
    """Executed round: the GAE advantage; rounds k < K: the attribution; one shared scale."""
    ra = _attribution(b, v_base=False)
    ra[-1] = b.adv
    return _surrogate(b, _shared_scale(ra, b.pmask))


@register_estimator("iac_shared_norm")
def iac_shared_norm_objective(b: LossBatch) -> PolicyObjective:
    """Attribution (Q̂(s, a_0) = 0) with one scale for every round."""
    return _surrogate(b, _shared_scale(_attribution(b, v_base=False), b.pmask))


@register_estimator("iac_shared_norm_vbase")
def iac_shared_norm_vbase_objective(b: LossBatch) -> PolicyObjective:
    """Attribution with Q̂(s, a_0) := V(s) and one scale for every round."""
    return _surrogate(b, _shared_scale(_attribution(b, v_base=True), b.pmask))


def soft_iac_objective(agent, dec, h0: torch.Tensor, alive: torch.Tensor, acting: torch.Tensor,
                       ret: torch.Tensor, new_logp: torch.Tensor, old_logp: torch.Tensor,
                       cfg) -> tuple[torch.Tensor, torch.Tensor]:
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
        mean, scale = moments(adv.unsqueeze(0), acting.unsqueeze(0))
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
