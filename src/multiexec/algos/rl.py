"""Generic reinforcement-learning pieces shared by the execution agents (:mod:`multiexec.algos`) and the execution
game (:mod:`multiexec.game`): Double DQN for ensembles, its one configuration, GAE, PPO's clipped surrogate and the
advantage normalisation. Nothing here knows about policies, methods or markets (this module imports no other
``multiexec`` package than :mod:`multiexec.errors`).

Double Deep Q-learning (van Hasselt et al. 2016) for ensembles of independent agents — the project's one DDQN.
Used by the execution game (``multiexec.game``: Q(s, v) over candidate trade sizes v) and by the learning agents
for multi-order execution (a Q-network over a few discrete actions). Everything is batched over an *ensemble*
dimension E: E independent agents/runs, each with its own network weights, optimiser state, replay memory and
target network, trained in lock-step with tensor operations instead of a Python loop.

Contract of the Q-network (any ``nn.Module``):

- ``forward(obs, cand) -> q`` with ``obs`` of shape (E, B, *obs_shape), candidate actions ``cand`` (E, B, K)
  (action values — trade sizes — or indices of discrete actions as floats) and ``q`` (E, B, K);
- every parameter has the ensemble size E as its first dimension (:class:`VmapEnsemble` turns any single-network
  module into such an ensemble with ``torch.func``; the game uses batched weights directly);
- optionally ``fit_grads(obs (E, B, *obs_shape), action (E, B), y (E, B)) -> loss (E,)``: the per-member loss
  ``mean_b (Q(obs, action) - y)^2``, writing the gradient of its sum into the parameters' ``.grad`` (a network can do
  this faster by hand than autograd; the game's network does). Without it, autograd on ``forward``.

Candidate actions and their validity come from ``candidates_fn(obs) -> (cand (E, B, K), mask (E, B, K) bool)``, so
actions can depend on the state (e.g. 0..q_t shares). The double-Q target is
``y = r + gamma * (1 - done) * Q_target(s', cand'[argmax_k Q_main(s', cand'_k) over valid k])``.
Argmaxes go through :func:`best_candidate`, which scores only the states that need one (not terminal next states,
not states with a single valid action, not exploring agents).
"""

from __future__ import annotations

import copy
from typing import Callable, Literal, Protocol

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from torch import nn

from multiexec.errors import MultiexecError, validation_message

CandidatesFn = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


class ExploreFn(Protocol):
    """Exploration hook: returns the index (E, B) of the exploratory candidate for each agent and state."""

    def __call__(self, obs: torch.Tensor, cand: torch.Tensor, mask: torch.Tensor, gen: torch.Generator) -> torch.Tensor: ...


class DDQNConfig(BaseModel):
    """The one configuration of :class:`DoubleDQN` (defaults: the execution-game paper's Table 1).

    What the schedule counts is explicit (``schedule``), not switched off by sentinel numbers:

    - ``"steps"`` (the game): every call of :meth:`DoubleDQN.observe` is one environment step; a gradient step
      every ``train_frequency`` steps, a target copy every ``target_network_frequency`` steps, an epsilon decay
      every ``epsilon_decay_every`` steps;
    - ``"transitions"`` (the execution agents, whose steps bring a varying number of transitions): a gradient step
      per ``train_frequency`` transitions stored (fractions carry over), a target copy every
      ``target_network_frequency`` gradient steps and an epsilon decay every ``epsilon_decay_every`` gradient steps.
    """

    model_config = ConfigDict(extra="forbid")

    learning_rate: float = Field(1e-4, gt=0, description="Adam learning rate")
    batch_size: int = Field(64, gt=0, description="transitions per gradient step (per ensemble member)")
    buffer_size: int = Field(15_000, gt=0, description="replay memory capacity per ensemble member")
    drop_oldest_half: bool = Field(True, description="when the memory is full drop its oldest half (the paper's "
                                   "code); False: overwrite the oldest (ring buffer)")
    gamma: float = Field(1.0, ge=0, le=1, description="discount factor")
    schedule: Literal["steps", "transitions"] = Field(
        "steps", description="what train_frequency, target_network_frequency and epsilon_decay_every count (see "
        "the class docstring)")
    train_frequency: int = Field(1, gt=0, description="steps (schedule 'steps') or transitions ('transitions') "
                                 "per gradient step")
    target_network_frequency: int = Field(75, gt=0, description="steps ('steps') or gradient steps ('transitions') "
                                          "between copies main -> target network")
    epsilon_start: float = Field(1.0, description="initial exploration probability")
    epsilon_decay: float = Field(0.995, description="epsilon <- max(epsilon_min, epsilon * epsilon_decay) every "
                                 "epsilon_decay_every steps ('steps') or gradient steps ('transitions')")
    epsilon_decay_every: int = Field(75, gt=0, description="steps or gradient steps between epsilon decays")
    epsilon_min: float = Field(0.0, description="lower bound of epsilon")
    learning_starts: int | None = Field(None, ge=0, description="transitions in memory before learning starts "
                                        "(None: one batch)")
    max_grad_norm: float | None = Field(1.0, gt=0, description="gradient-norm clip, per ensemble member (None: no "
                                        "clipping)")
    reward_scale: float = Field(1.0, gt=0, description="rewards are multiplied by this before they are stored (by "
                                "the caller: the execution learner; the game scales its own rewards)")

    def __init__(self, **data: object) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise MultiexecError(validation_message(exc, "DDQNConfig")) from None

    @model_validator(mode="after")
    def _check(self) -> "DDQNConfig":
        if self.batch_size > self.buffer_size:
            raise ValueError(f"batch_size={self.batch_size} exceeds buffer_size={self.buffer_size}")
        if not 0 <= self.epsilon_min <= self.epsilon_start <= 1 or not 0 < self.epsilon_decay <= 1:
            raise ValueError(
                f"epsilon: need 0 <= epsilon_min={self.epsilon_min} <= epsilon_start={self.epsilon_start} <= 1"
                f" and 0 < epsilon_decay={self.epsilon_decay} <= 1")
        return self

    @property
    def start(self) -> int:
        """Transitions in memory before learning starts."""
        return self.batch_size if self.learning_starts is None else max(self.learning_starts, 1)


class ReplayMemory:
    """Per-member replay memory of E ensemble members filled in lock-step, stored as torch tensors (E, capacity, ...).

    Each :meth:`add` appends n transitions to every member. When full, either the oldest half is dropped
    (``drop_oldest_half``) or the oldest entries are overwritten. :meth:`sample` draws, independently per member,
    ``batch`` transitions uniformly with replacement.
    """

    def __init__(self, ensemble: int, capacity: int, drop_oldest_half: bool = True) -> None:
        self.E, self.capacity, self.drop_oldest_half = ensemble, capacity, drop_oldest_half
        self.data: dict[str, torch.Tensor] = {}
        self.size = 0
        self._pos = 0

    def __len__(self) -> int:
        return self.size

    def add(self, **fields: torch.Tensor) -> None:
        """Append transitions: every field (E, n, ...) with the same E and n; the same field names every call."""
        n = next(iter(fields.values())).shape[1]
        if not self.data:
            self.data = {k: torch.zeros((self.E, self.capacity, *v.shape[2:]), dtype=v.dtype, device=v.device)
                         for k, v in fields.items()}
        if set(fields) != set(self.data):
            raise MultiexecError(f"replay memory fields {sorted(fields)} differ from {sorted(self.data)}")
        i = 0
        while i < n:  # whole slices at a time; the same result as appending the n transitions one by one
            if self.size == self.capacity:
                if self.drop_oldest_half:
                    half = self.capacity // 2
                    for buf in self.data.values():
                        buf[:, : self.capacity - half] = buf[:, half:].clone()
                    self.size = self._pos = self.capacity - half
                else:
                    self._pos %= self.capacity
            m = min(n - i, self.capacity - self._pos)
            for k, v in fields.items():
                self.data[k][:, self._pos:self._pos + m] = v[:, i:i + m]
            self._pos += m
            self.size = max(self.size, min(self._pos, self.capacity))
            i += m

    def sample(self, batch: int, gen: torch.Generator) -> dict[str, torch.Tensor]:
        """Draw (E, batch, ...) transitions per member."""
        if self.size == 0:
            raise MultiexecError("cannot sample from an empty replay memory")
        dev = next(iter(self.data.values())).device
        idx = torch.randint(0, self.size, (self.E, batch), generator=gen, device=dev)
        out = {}
        for k, buf in self.data.items():
            ix = idx.view(self.E, batch, *([1] * (buf.dim() - 2))).expand(self.E, batch, *buf.shape[2:])
            out[k] = torch.gather(buf, 1, ix)
        return out


class VmapEnsemble(nn.Module):
    """E independent copies of a single-network Q-module, evaluated together with ``torch.func.vmap``.

    ``make()`` returns a module with ``forward(obs (B, *obs_shape), cand (B, K)) -> (B, K)``; the ensemble has the
    DDQN contract (parameters with leading dimension E). Copies are initialised independently.
    """

    def __init__(self, make: Callable[[], nn.Module], ensemble: int) -> None:
        super().__init__()
        from torch.func import stack_module_state

        mods = [make() for _ in range(ensemble)]
        params, buffers = stack_module_state(mods)
        self.ensemble = ensemble
        self.params = nn.ParameterDict({k.replace(".", "__"): nn.Parameter(v) for k, v in params.items()})
        self._buffers_stacked = buffers
        self._base = [copy.deepcopy(mods[0]).to("meta")]  # list: not registered as a sub-module

    def forward(self, obs: torch.Tensor, cand: torch.Tensor) -> torch.Tensor:
        from torch.func import functional_call, vmap

        params = {k.replace("__", "."): v for k, v in self.params.items()}

        def one(p: dict, b: dict, o: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
            return functional_call(self._base[0], (p, b), (o, c))

        return vmap(one)(params, self._buffers_stacked, obs, cand)


def masked_argmax(q: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Index of the largest valid value along the last dimension (first on ties). Every row needs a valid entry."""
    return q.masked_fill(~mask, float("-inf")).argmax(-1)


def best_candidate(qnet: nn.Module, obs: torch.Tensor, cand: torch.Tensor, mask: torch.Tensor,
                   need: torch.Tensor | None = None) -> torch.Tensor:
    """``masked_argmax(qnet(obs, cand), mask)`` (E, B), evaluating only the states that matter.

    Rows with a single valid candidate, and rows where ``need`` (E, B) is False, get their first valid candidate
    without evaluating the network. The remaining rows (states) are packed per member (padded to the member with
    the most), and the candidates cut after the last one valid in any of them. Rows stay whole, so a network can
    share the work of a state among its candidates (the game's does).
    """
    E, B, K = cand.shape
    first = mask.to(torch.uint8).argmax(-1)
    rows = mask.sum(-1) > 1
    if need is not None:
        rows &= need
    count = rows.sum(1)
    Bp = int(count.max())
    if Bp == 0:
        return first
    cols = mask & rows.unsqueeze(-1)
    Kp = int(cols.any(1).any(0).nonzero().max()) + 1
    if Bp > 0.8 * B:  # packing would not save work: score every row
        return torch.where(rows, masked_argmax(qnet(obs, cand[..., :Kp]), mask[..., :Kp]), first)
    idx = torch.argsort(rows.to(torch.uint8), dim=1, descending=True, stable=True)[:, :Bp]  # needed rows first
    o = obs.reshape(E, B, -1)
    obs_p = o.gather(1, idx.unsqueeze(-1).expand(E, Bp, o.shape[-1])).view(E, Bp, *obs.shape[2:])
    ik = idx.unsqueeze(-1).expand(E, Bp, Kp)
    best_p = masked_argmax(qnet(obs_p, cand[..., :Kp].gather(1, ik)), mask[..., :Kp].gather(1, ik))
    valid = torch.arange(Bp, device=cand.device) < count.unsqueeze(1)
    return first.scatter(1, idx, torch.where(valid, best_p, first.gather(1, idx)))


class DoubleDQN:
    """Double DQN for an ensemble of E independent agents (see the module docstring for the network contract).

    Typical loop: ``idx = agent.act(obs, cand, mask)``; step the environment with ``cand.gather(-1, idx)``;
    ``agent.observe(obs, action, reward, next_obs, done)`` stores the transitions (E, n, ...), then makes the gradient
    step, target copy and epsilon decay that are due.
    """

    def __init__(self, qnet: nn.Module, args: DDQNConfig, candidates_fn: CandidatesFn, explore_fn: ExploreFn | None = None,
                 seed: int = 0, target_candidates_fn: CandidatesFn | None = None) -> None:
        self.q = qnet
        self.target = copy.deepcopy(qnet).requires_grad_(False)
        self.args = args
        self.E = self._ensemble_size(qnet)
        self.candidates_fn = candidates_fn
        self.target_candidates_fn = target_candidates_fn or candidates_fn
        self.explore_fn = explore_fn or uniform_explore
        dev = next(qnet.parameters()).device
        self.gen = torch.Generator(device=dev).manual_seed(seed)
        self.optim = torch.optim.Adam(qnet.parameters(), lr=args.learning_rate, fused=True)
        self.memory = ReplayMemory(self.E, args.buffer_size, args.drop_oldest_half)
        self.epsilon = args.epsilon_start
        self.steps = 0
        self.grad_steps = 0
        self.pending = 0.0  # gradient steps due (schedule "transitions")
        self.last_loss = torch.full((self.E,), float("nan"))

    @staticmethod
    def _ensemble_size(qnet: nn.Module) -> int:
        sizes = {p.shape[0] for p in qnet.parameters()}
        if len(sizes) != 1:
            raise MultiexecError(f"every Q-network parameter needs the ensemble size as first dimension, got {sizes}")
        return sizes.pop()

    @torch.no_grad()
    def act(self, obs: torch.Tensor, cand: torch.Tensor, mask: torch.Tensor, greedy: bool = False) -> torch.Tensor:
        """Index (E, B) of the chosen candidate: epsilon-greedy (the exploration hook with probability epsilon)."""
        if greedy or self.epsilon <= 0:
            return best_candidate(self.q, obs, cand, mask)
        explore = torch.rand(mask.shape[:-1], generator=self.gen, device=mask.device) < self.epsilon
        idx = best_candidate(self.q, obs, cand, mask, need=~explore)  # exploring members skip the greedy scoring
        if explore.any():
            idx = torch.where(explore, self.explore_fn(obs, cand, mask, self.gen), idx)
        return idx

    def observe(self, obs: torch.Tensor, action: torch.Tensor, reward: torch.Tensor, next_obs: torch.Tensor,
                done: torch.Tensor) -> list[torch.Tensor]:
        """Store transitions (E, n, ...) (``action`` is the candidate *value* taken), then learn as scheduled
        (``args.schedule``). Returns the per-member losses (E,) of the gradient steps made."""
        self.memory.add(obs=obs, action=action.to(obs.dtype), reward=reward.to(obs.dtype), next_obs=next_obs,
                        done=done.to(obs.dtype))
        if self.args.schedule == "transitions":
            return self._learn_per_transitions(obs.shape[1])
        self.steps += 1
        a = self.args
        losses = []
        if len(self.memory) >= a.start and self.steps % a.train_frequency == 0:
            losses.append(self.train_step())
        if self.steps % a.target_network_frequency == 0:
            self.update_target()
        if self.steps % a.epsilon_decay_every == 0:
            self.epsilon = max(a.epsilon_min, self.epsilon * a.epsilon_decay)
        return losses

    def _learn_per_transitions(self, n: int) -> list[torch.Tensor]:
        a = self.args
        self.pending += n / a.train_frequency
        losses = []
        while self.pending >= 1 and len(self.memory) >= a.start:
            self.pending -= 1
            losses.append(self.train_step())
            self.grad_steps += 1
            if self.grad_steps % a.target_network_frequency == 0:
                self.update_target()
            if self.grad_steps % a.epsilon_decay_every == 0:
                self.epsilon = max(a.epsilon_min, self.epsilon * a.epsilon_decay)
        return losses

    def td_target(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Double-Q target (E, B): argmax by the main network, value by the target network."""
        with torch.no_grad():
            cand, mask = self.target_candidates_fn(batch["next_obs"])
            best = best_candidate(self.q, batch["next_obs"], cand, mask, need=batch["done"] == 0)
            a_next = cand.gather(-1, best.unsqueeze(-1))
            q_next = self.target(batch["next_obs"], a_next).squeeze(-1)
            return batch["reward"] + self.args.gamma * (1.0 - batch["done"]) * q_next

    def train_step(self) -> torch.Tensor:
        """One gradient step on a sampled batch; returns the per-member loss (E,)."""
        batch = self.memory.sample(self.args.batch_size, self.gen)
        y = self.td_target(batch)
        fit = getattr(self.q, "fit_grads", None)
        if fit is not None:  # the network computes loss and gradients itself (see the module docstring)
            loss_e = fit(batch["obs"], batch["action"], y)
        else:
            self.optim.zero_grad(set_to_none=True)
            q = self.q(batch["obs"], batch["action"].unsqueeze(-1)).squeeze(-1)
            loss_e = ((q - y) ** 2).mean(1)
            loss_e.sum().backward()  # members do not share weights: each gets the gradient of its own mean loss
        if self.args.max_grad_norm is not None:
            clip_per_member(self.q.parameters(), self.args.max_grad_norm, self.E)
        self.optim.step()
        self.last_loss = loss_e.detach()
        return self.last_loss

    def update_target(self) -> None:
        """Copy main -> target network."""
        self.target.load_state_dict(self.q.state_dict())

    def state_dict(self) -> dict:
        return {"q": self.q.state_dict(), "target": self.target.state_dict(), "optim": self.optim.state_dict(),
                "epsilon": self.epsilon, "steps": self.steps, "grad_steps": self.grad_steps, "pending": self.pending,
                "gen": self.gen.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.q.load_state_dict(state["q"])
        self.target.load_state_dict(state["target"])
        self.optim.load_state_dict(state["optim"])
        self.epsilon, self.steps = state["epsilon"], state["steps"]
        self.grad_steps, self.pending = state.get("grad_steps", 0), state.get("pending", 0.0)
        if "gen" in state:
            self.gen.set_state(state["gen"])


@torch.no_grad()
def clip_per_member(params: object, max_norm: float, ensemble: int) -> torch.Tensor:
    """Clip the gradient norm of each ensemble member separately (parameters have leading dimension E)."""
    grads = [p.grad for p in params if p.grad is not None]  # type: ignore[attr-defined]
    norm = torch.stack([torch.linalg.vector_norm(g.reshape(ensemble, -1), dim=1) for g in grads]).square().sum(0).sqrt()
    scale = (max_norm / (norm + 1e-6)).clamp(max=1.0)
    torch._foreach_mul_(grads, [scale.view(-1, *([1] * (g.dim() - 1))) for g in grads])
    return norm


def uniform_explore(obs: torch.Tensor, cand: torch.Tensor, mask: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Default exploration: a uniformly random valid candidate."""
    u = torch.rand(mask.shape, generator=gen, device=mask.device).masked_fill(~mask, -1.0)
    return u.argmax(-1)


# ------------------------------------------------------------------------------------------------ PPO pieces
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


def moments(adv: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and standard deviation (+1e-8) over the masked entries of each leading slice, shaped to broadcast."""
    m = mask.to(adv.dtype)
    n = m.flatten(1).sum(1).clamp_min(1.0)
    shape = (-1,) + (1,) * (adv.dim() - 1)
    mean = (adv * m).flatten(1).sum(1) / n
    var = (((adv - mean.view(shape)) ** 2) * m).flatten(1).sum(1) / n
    return mean.view(shape), var.sqrt().view(shape) + 1e-8


def normalise(adv: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Zero-mean, unit-std advantages over the masked entries of each leading slice (round)."""
    mean, std = moments(adv, mask)
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
