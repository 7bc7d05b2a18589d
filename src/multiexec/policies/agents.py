"""The learned execution agents: one module per method, all sharing E (extractor) and D (decision module).

Methods (``AgentConfig.method``):

- ``ppo``: independent agents, a = D(h0); critic V(h0) on the order's own reward (eq. 7).
- ``ddqn``: independent agents, Q(h0, ·) by an MLP head; greedy / epsilon-greedy on it (eq. 7).
- ``commnet`` / ``tarmac``: K rounds h_k = C(h_{k-1}) over the alive agents, decide once a = D(h_K) (eq. 8).
- ``is`` (Intention Sharing, Kim et al. 2020): each agent imagines an H-step trajectory with a latent
  transition model fed by its own policy and a predictor of the other agents' actions, summarises it by
  attention over the imagined steps and sends it; one TarMAC attention round over the messages; a = D(h).
- ``iac_c`` / ``iac_t`` (the paper's method, eqs. 12-13): K rounds h_k = C(h_{k-1} || a_{k-1}), a_k ~ D(h_k),
  with a_0 a dummy action (an extra one-hot slot); act with a_K. Q̂(s, a) for the action value attribution.
  ``intentions="soft"`` (default) sends the intended-action *probabilities* π_k = softmax(D(h_k)) for k < K
  instead of a sampled one-hot (``"sampled"``, the paper's literal form); the executed a_K is always sampled.

Team methods get a critic V([h0_i, mean of the alive agents' h0]) for the shared reward.
Parameters are shared by all agents and all rounds. What a method is made of (channel, intention rounds,
imagination, Q-learning, team reward, default rounds and heads) is read from its declaration in
:mod:`multiexec.policies.registry`; no code here compares a method's name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import nn
from torch.distributions import Categorical
from torch.nn import functional as F

from multiexec.errors import MultiexecError
from multiexec.policies.nets import (ActionValue, Extractor, Linear, acting, make_channel, masked_mean,
                                     mean_of_others, mlp)
from multiexec.policies.registry import MethodSpec, get_method, methods_help


class AgentConfig(BaseModel):
    """Architecture of a learned agent (sizes of Table 5 by default)."""

    model_config = ConfigDict(extra="forbid")

    method: str = Field(description="one of " + methods_help() + " (multiexec.policies.registry)")
    n_actions: int = Field(5, ge=2, description="size of the discrete action set")
    f_seq: int = Field(ge=1, description="per-step history features (env.F_SEQ)")
    f_now: int = Field(ge=1, description="current-step features (env.F_NOW)")
    rnn: int = Field(64, ge=1, description="GRU cell size")
    hidden: int = Field(128, ge=1, description="FC layer size")
    rounds: int | None = Field(None, ge=0, description="communication rounds K (IS: imagination horizon); None: the "
                               "method's default (Table 5, in the registry)")
    heads: int | None = Field(None, ge=1, description="attention heads (TarMAC channels); None: the method's default "
                              "(Table 5, in the registry)")
    intentions: Literal["soft", "sampled"] = Field(
        "soft", description="IaC: what the agents send between rounds — 'soft': the intended-action probabilities "
        "(differentiable; the default, see docs/iac_investigation.md), 'sampled': a sampled one-hot intended action "
        "(the paper's literal form)")

    @model_validator(mode="after")
    def _fill(self) -> "AgentConfig":
        spec = get_method(self.method)
        if self.rounds is None:
            self.rounds = spec.rounds
        if self.heads is None:
            self.heads = spec.heads
        if spec.team and self.rounds < 1:
            raise ValueError(f"{self.method} needs at least one communication round, got rounds={self.rounds}")
        return self

    @property
    def spec(self) -> MethodSpec:
        """The registry's declaration of this method."""
        return get_method(self.method)

    @property
    def team(self) -> bool:
        return self.spec.team


@dataclass
class Decision:
    """Output of one decision step for S samples × N agents.

    ``logits`` (R, S, N, A) and ``actions`` (R, S, N): one entry per trained decision — the K rounds of
    intended actions for IaC (the last is the executed action), one otherwise. ``value`` (S, N) is the
    critic (None for DDQN); ``q`` (S, N, A) the DDQN action values; ``aux`` method-specific tensors.
    """

    logits: torch.Tensor
    actions: torch.Tensor
    value: torch.Tensor | None = None
    q: torch.Tensor | None = None
    aux: dict[str, torch.Tensor] = field(default_factory=dict)


class ExecAgent(nn.Module):
    """One learned agent type; see the module docstring for the methods."""

    def __init__(self, cfg: AgentConfig):
        super().__init__()
        self.cfg = cfg
        D, A = cfg.hidden, cfg.n_actions
        self.extractor = Extractor(cfg.f_seq, cfg.f_now, cfg.rnn, D)
        spec = self.spec = cfg.spec
        if spec.q_learning:
            self.qhead = mlp([D, D, D, A])
            return
        self.decision = mlp([2 * D if spec.imagination else D, D, D, A])  # D: three layers, softmax in Categorical
        self.critic = mlp([2 * D if cfg.team else D, D, D, 1])
        if spec.intentions:
            self.channel = make_channel(spec.channel, D + A + 1, D, cfg.heads)
            self.qhat = ActionValue(D, A, D)
        elif spec.communicates and not spec.imagination:
            self.channel = make_channel(spec.channel, D, D, cfg.heads)
        elif spec.imagination:
            self.predict_others = mlp([D, D, A])  # logits of the others' mean action distribution
            self.dynamics = mlp([D + 2 * A, D, D])  # latent next observation
            self.traj_token = Linear(D + A, D)
            self.traj_query = Linear(D, D)
            self.traj_key = Linear(D, D)
            self.channel = make_channel(spec.channel, 2 * D, D, cfg.heads)

    # ------------------------------------------------------------------ extraction
    def encode(self, seq: torch.Tensor, now: torch.Tensor, t: int) -> torch.Tensor:
        """h0 (B, N, D) at decision step ``t`` from an observation's ``seq`` (B, N, T, F) and ``now``."""
        return self.extractor.head(self.extractor.history(seq, t), now)

    def encode_episode(self, seq: torch.Tensor, now: torch.Tensor) -> torch.Tensor:
        """h0 (B, T, N, D) for every step of finished episodes: ``seq`` (B, N, T, F) final, ``now`` (B, T, N, F)."""
        hist = self.extractor.history(seq).transpose(1, 2)  # (B, T, N, R)
        return self.extractor.head(hist, now)

    # ------------------------------------------------------------------ decision
    def decide(
        self,
        h0: torch.Tensor,
        alive: torch.Tensor,
        given: torch.Tensor | None = None,
        greedy: bool = False,
        rounds: int | None = None,
        with_value: bool = True,
    ) -> Decision:
        """Decide for S samples × N agents from h0 (S, N, D).

        ``given`` (R, S, N): re-evaluate these actions (training) instead of choosing; ``greedy``: argmax
        instead of sampling; ``rounds``: run only the first ``rounds`` communication rounds (IaC analysis of
        the intended actions of each round); ``with_value``: also evaluate the critic (not needed to act).
        """
        spec = self.spec
        K = self.cfg.rounds if rounds is None else rounds

        def choose(logits: torch.Tensor, r: int) -> torch.Tensor:
            if given is not None:
                return given[r]
            if greedy:
                return logits.argmax(-1)
            return Categorical(logits=logits).sample()

        if spec.q_learning:
            q = self.qhead(h0)
            return Decision(logits=q.unsqueeze(0), actions=q.argmax(-1).unsqueeze(0) if given is None else given, q=q)
        value = self._value(h0, alive) if with_value else None
        everyone = bool(alive.all())  # all alive: no hidden state to hold back, skip the masked update

        def update(new: torch.Tensor, old: torch.Tensor) -> torch.Tensor:
            return new if everyone else torch.where(alive.unsqueeze(-1), new, old)

        if not spec.communicates:
            logits = self.decision(h0)
            return Decision(logits=logits.unsqueeze(0), actions=choose(logits, 0).unsqueeze(0), value=value)
        if not spec.intentions and not spec.imagination:
            h = h0
            for _ in range(K):
                h = update(self.channel(h, alive), h)
            logits = self.decision(h)
            return Decision(logits=logits.unsqueeze(0), actions=choose(logits, 0).unsqueeze(0), value=value)
        if spec.intentions:
            A = self.cfg.n_actions
            soft = self.cfg.intentions == "soft"
            h = h0
            # a_0: the dummy slot A of an (A + 1)-wide intention vector
            intent = F.one_hot(torch.full(alive.shape, A, dtype=torch.long, device=h0.device), A + 1).to(h.dtype)
            all_logits, all_actions, all_probs = [], [], []
            for k in range(K):
                h = update(self.channel(torch.cat([h, intent], dim=-1), alive), h)
                logits = self.decision(h)
                last = k == K - 1
                if soft and not last:
                    # the intention sent is the distribution itself; the argmax is recorded for analysis
                    probs = _softmax_last(logits)
                    act = logits.argmax(-1)
                    intent = F.pad(probs, (0, 1))
                    all_probs.append(probs)
                else:
                    act = choose(logits, k)
                    if not last:  # the last round's action is executed, not sent
                        intent = F.one_hot(act, A + 1).to(h.dtype)
                all_logits.append(logits)
                all_actions.append(act)
            aux = {"intent_probs": torch.stack(all_probs)} if all_probs else {}
            return Decision(logits=torch.stack(all_logits), actions=torch.stack(all_actions), value=value, aux=aux)
        # Intention Sharing
        msg, others_logits = self._imagine(h0, K)
        x = torch.cat([h0, msg], dim=-1)
        h = update(self.channel(x, alive), h0)
        logits = self.decision(torch.cat([h0, h], dim=-1))
        return Decision(
            logits=logits.unsqueeze(0),
            actions=choose(logits, 0).unsqueeze(0),
            value=value,
            aux={"others_logits": others_logits},
        )

    def _value(self, h0: torch.Tensor, alive: torch.Tensor) -> torch.Tensor:
        if self.cfg.team:
            pooled = masked_mean(h0, alive).unsqueeze(1).expand_as(h0)
            return self.critic(torch.cat([h0, pooled], dim=-1)).squeeze(-1)
        return self.critic(h0).squeeze(-1)

    def _imagine(self, h0: torch.Tensor, horizon: int) -> tuple[torch.Tensor, torch.Tensor]:
        """IS: roll an imagined trajectory of ``horizon`` steps in latent space; attention-summarise it.

        Returns the message (S, N, D) and the predicted logits of the others' actions at the current step.
        """
        D = self.cfg.hidden
        z = h0
        tokens, first_others = [], None
        for tau in range(horizon):
            own = F.softmax(self.decision(torch.cat([z, torch.zeros_like(z)], dim=-1)), dim=-1)
            others_logits = self.predict_others(z)
            if first_others is None:
                first_others = others_logits
            tokens.append(self.traj_token(torch.cat([z, own], dim=-1)))
            if tau < horizon - 1:
                z = self.dynamics(torch.cat([z, own, F.softmax(others_logits, dim=-1)], dim=-1))
        tok = torch.stack(tokens, dim=-2)  # (S, N, H, D)
        att = torch.einsum("snd,snhd->snh", self.traj_query(h0), self.traj_key(tok)) / D**0.5
        msg = (F.softmax(att, dim=-1).unsqueeze(-1) * tok).sum(-2)
        return msg, first_others

    def is_model_loss(
        self, h0: torch.Tensor, h0_next: torch.Tensor, actions: torch.Tensor, alive: torch.Tensor,
        alive_next: torch.Tensor, others_logits: torch.Tensor,
    ) -> torch.Tensor:
        """IS auxiliary loss: cross-entropy of the predicted vs actual mean action of the other alive agents,
        plus MSE of the latent transition model against the next step's (detached) h0."""
        A = self.cfg.n_actions
        onehot = F.one_hot(actions, A).to(h0.dtype)
        target = mean_of_others(onehot, alive)
        has_others = (alive.sum(1, keepdim=True) > 1) & alive
        ce = -(target * F.log_softmax(others_logits, -1)).sum(-1)
        ce = (ce * has_others).sum() / has_others.sum().clamp_min(1)
        pred = self.dynamics(torch.cat([h0, onehot, target], dim=-1))
        ok = (alive & alive_next).unsqueeze(-1).to(h0.dtype)
        mse = (((pred - h0_next.detach()) ** 2) * ok).sum() / (ok.sum() * h0.shape[-1]).clamp_min(1)
        return ce + mse

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path, extra: dict | None = None) -> None:
        torch.save({"config": self.cfg.model_dump(), "state": self.state_dict(), "extra": extra or {}}, path)

    @classmethod
    def load(cls, path: str | Path) -> "ExecAgent":
        p = Path(path)
        if not p.is_file():
            raise MultiexecError(f"model file not found: {p}")
        blob = torch.load(p, map_location="cpu", weights_only=False)
        try:
            agent = cls(AgentConfig(**blob["config"]))
            agent.load_state_dict(blob["state"])
        except (KeyError, TypeError, RuntimeError, ValueError) as exc:
            raise MultiexecError(f"{p}: not a multiexec agent checkpoint ({exc})") from None
        return agent


def _softmax_last(x: torch.Tensor) -> torch.Tensor:
    """``F.softmax(x, -1)``; without autograd over a few actions, computed along a contiguous transposed copy
    (PyTorch's CPU softmax over a last dimension of ~5 is ~10x slower than over a long one; same numbers to
    float32 rounding)."""
    if torch.is_grad_enabled() or x.shape[-1] > 16 or x.dim() < 2:
        return F.softmax(x, dim=-1)
    return F.softmax(x.transpose(-1, -2).contiguous(), dim=-2).transpose(-1, -2)


def obs_tensors(obs) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(seq, now, alive) torch tensors of an environment observation (no copy)."""
    return torch.from_numpy(obs.seq), torch.from_numpy(obs.now), torch.from_numpy(obs.active)


class NeuralPolicy:
    """A trained agent as an environment policy: ``act(obs)`` returns (B, N) action indices.

    ``intended`` holds the (R, B, N) intended actions of every round of the last call (R = 1 except IaC).
    Within a day the GRU state of the history is carried from one step to the next (one GRU step per
    decision instead of a scan over the whole history; same numbers); a new day or batch starts afresh.

    Acting runs the linear layers in oneDNN (:func:`multiexec.policies.nets.acting`; same numbers to float32
    rounding, faster).
    """

    def __init__(self, agent: ExecAgent, greedy: bool = True, rounds: int | None = None, name: str | None = None):
        self.agent = agent.eval()
        self.greedy = greedy
        self.rounds = rounds
        self.name = name or agent.cfg.method
        self.intended: np.ndarray | None = None
        self._hist: torch.Tensor | None = None
        self._key: tuple | None = None

    def _history(self, obs, seq: torch.Tensor) -> torch.Tensor:
        ext = self.agent.extractor
        days = tuple(np.asarray(obs.day).tolist())
        if self._key is not None and self._key == (days, obs.t - 1, seq.shape[1]):
            hist = ext.advance(self._hist, seq[:, :, obs.t - 1])
        else:
            hist = ext.history(seq, obs.t)
        self._hist, self._key = hist, (days, obs.t, seq.shape[1])
        return hist

    @torch.inference_mode()
    def act(self, obs) -> np.ndarray:
        seq, now, alive = obs_tensors(obs)
        with acting():
            h0 = self.agent.extractor.head(self._history(obs, seq), now)
            dec = self.agent.decide(h0, alive, greedy=self.greedy, rounds=self.rounds, with_value=False)
        self.intended = dec.actions.numpy()
        return self.intended[-1].astype(np.int64)
