"""Calibration of the neural world agent by policy gradient on the market distance: INTAGS' Algorithm 1 (issue 11,
item 4; paper §3, Algorithm 1, appendices B.3 and D.1).

One iteration, as the paper prints it:

1. one complete rollout of the world market ``p_theta`` with the experimental agent (:class:`IntagsAgent`);
2. for each agent step ``t = 1 .. T0`` the branch point is the world agent's next decision after the agent's
   ``t``-th decision (``Simulation.world_decision``); its state ``S_t`` is what the generator conditions on;
3. ``b`` actions ``A_{t,k} ~ G_theta(z | S_t)`` are drawn; for each, the market is forked ``N`` times
   (``Simulation.fork``: same state, new random streams; the agent is copied and its own stream reseeded), the
   world agent is forced to take ``A_{t,k}`` (``force_world_action``) and each fork is finished to the end of the
   agent's window (the *MC rollouts*);
4. ``Q^{t,k} = d(feedback of the N MC rollouts, real feedback)`` (the N' cached real rollouts);
5. ``theta <- theta - r sum_t (1/b) sum_k Q^{t,k} grad log p_theta(A_{t,k} | S_t)``, plain gradient descent, with
   ``log p_theta`` a Gaussian KDE over ``kde_samples`` generator draws at ``S_t`` (bandwidth: the median pairwise
   distance of those draws, the median heuristic, held fixed in the gradient), as in appendix B.3.

Defaults are the paper's (D.1): ``T0 = 5, b = 3, N = 5, N' = 100``, learning rate ``1e-9`` halved every 10
iterations, 100 iterations. After every update the weights are exported (:meth:`WorldGenerator.to_weights`) and
the next iteration's markets run the compiled world agent with them.

Options beyond the paper (each compared against the paper's form in ``docs/intags.md`` §10):

- ``baseline="loo"``: subtract from each ``Q^{t,k}`` the mean of the other ``b - 1`` branches at the same ``t``
  (leave-one-out baseline; unbiased, lower variance);
- ``crn=True``: common random numbers, the ``N`` MC rollouts of every branch at ``t`` use the same fork seeds, so
  the branches differ only by their forced action;
- ``likelihood="gaussian"``: an explicit-likelihood head ``y = mu_theta(S) + s * z[:7]`` (``mu`` = the warm-start
  generator at ``z = 0``, per-output scale ``s`` learned, initialised at the warm start's robust output spread), whose
  log-density is exact; exported into the compiled agent as a wider ReLU MLP that carries ``z`` through (needs
  ``relu`` and ``noise_dim >= 7``).

Null controls: ``lr = 0`` (nothing moves) and ``shuffle=True`` (the scores are permuted among the branches of each
branch point before the update — or, ``shuffle_scope="iteration"``, across all of the iteration's branches — so the
update carries no information about which action scored well).

Parallelism: each ``(t, k)`` branch is one job (the worker replays the iteration's rollout up to ``t`` — the
rollout is a pure function of weights and seed, and the replayed state is checked against the parent's — then
runs its ``N`` MC rollouts); jobs run serially, on a local process pool (default) or on Ray, with the same numbers.
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Sequence

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from torch import nn

from multiexec.errors import MultiexecError, validation_message
from multiexec.intags.distances import distance_name, get_distance
from multiexec.intags.estimators import get_estimator
from multiexec.intags.feedback import feedback, feedback_name, feedback_sample
from multiexec.intags.rollouts import (AGENT_SEED_OFFSET, AgentSpec, RolloutLog,
                                       real_feedback_logs, rollout_log, start_rollout)
from multiexec.intags.world import WorldGenerator
from multiexec.lob.world import N_OUT, WorldWeights

CKPT_VERSION = 1
LOG_FIELDS = ("iteration", "lr", "rollout_seed", "rollout_feedback", "branches", "scored", "busy", "q_mean", "q_std",
              "q_min", "q_max", "loss", "mean_log_p", "grad_norm", "step_norm", "theta_norm", "seconds")


class CalibSpec(BaseModel):
    """Algorithm 1's settings (defaults: the paper's D.1)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    feedback: str = "Mkt2NextReturn"
    distance: str = "mmd"
    estimator: str = "hajek"
    t0: int = Field(5, ge=1, description="branch at the agent's first T0 steps")
    b: int = Field(3, ge=1, description="sampled world actions per branch point")
    n_mc: int = Field(5, ge=2, description="MC rollouts per branch (N)")
    n_real: int = Field(100, ge=2, description="real rollouts (N')")
    real_market: str = "rmsc03"
    real_seed: int = 0
    lr: float = Field(1e-9, ge=0)
    lr_halve_every: int = Field(10, ge=1)
    iterations: int = Field(100, ge=1)
    seed: int = 0
    likelihood: Literal["kde", "gaussian"] = "kde"
    kde_samples: int = Field(256, ge=2)
    baseline: Literal["none", "loo"] = "none"
    crn: bool = False
    shuffle: bool = False
    shuffle_scope: Literal["t", "iteration"] = Field(
        "t", description="the null control permutes the scores among the b branches of each branch point (t: the "
        "matched control of the leave-one-out baseline, whose per-t centring it leaves alike) or across all of the "
        "iteration's branches (iteration: the first study's control)")
    ckpt_every: int = Field(10, ge=1)
    max_events: int = Field(1_000_000, ge=1000, description="a rollout past this many kernel events is dropped "
                            "(NaN feedback): bounds memory when a world drifts to orders microseconds apart")
    min_dt_us: float | None = Field(None, gt=0, description="floor on the world agent's time between orders "
                                    "(WorldConfig.min_dt_us; None: the config's 1 us)")

    def world_kw(self) -> dict:
        return {} if self.min_dt_us is None else {"min_dt_us": float(self.min_dt_us)}

    def lr_at(self, iteration: int) -> float:
        return self.lr * 0.5 ** (iteration // self.lr_halve_every)

    def check(self, agent: AgentSpec) -> CalibSpec:
        feedback_name(self.feedback)
        distance_name(self.distance)
        get_estimator(self.estimator)
        if self.t0 > agent.n_steps:
            raise MultiexecError(f"T0 = {self.t0} is beyond the agent's horizon T = {agent.n_steps}")
        if self.baseline == "loo" and self.b < 2:
            raise MultiexecError(f"the leave-one-out baseline needs b >= 2 branches, got b = {self.b}")
        return self


def make_spec(agent: AgentSpec | None = None, **kw) -> CalibSpec:
    """A validated :class:`CalibSpec` (bad values: one-line :class:`MultiexecError`)."""
    try:
        spec = CalibSpec(**kw)
    except ValidationError as exc:
        raise MultiexecError(validation_message(exc, "calibration")) from None
    return spec.check(agent or AgentSpec())


def derive_seed(seed: int, *keys: int) -> int:
    """A 62-bit seed derived from ``(seed, *keys)`` (numpy's SeedSequence), for rollouts, forks and draws."""
    return int(np.random.SeedSequence([int(seed) & (2**63 - 1), *[int(k) for k in keys]]).generate_state(1, np.uint64)[0]
               >> np.uint64(2))


# ---------------------------------------------------------------------------------------------------------------------
# policies: the generator with a KDE likelihood (the paper) or an explicit Gaussian head


def _median_bandwidth(x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        d = torch.pdist(x)
        d = d[d > 0]
        return d.median() if len(d) else torch.ones((), dtype=x.dtype)


class KdePolicy(nn.Module):
    """The world generator; ``log p(A | S)`` by a Gaussian KDE over ``m`` generator draws at ``S`` with the
    median-heuristic bandwidth (paper B.3)."""

    kind = "kde"

    def __init__(self, gen: WorldGenerator):
        super().__init__()
        self.gen = gen

    @property
    def arch(self) -> dict:
        return {"likelihood": self.kind, **self.gen.arch}

    def sample(self, state, n: int, g: torch.Generator) -> torch.Tensor:
        return self.gen.sample(state, n, g)

    def log_prob(self, state, actions: torch.Tensor, m: int, g: torch.Generator) -> torch.Tensor:
        x = self.sample(state, m, g)
        h = _median_bandwidth(x)
        d2 = ((actions[:, None, :] - x[None, :, :]) ** 2).sum(-1)
        d = x.shape[1]
        return torch.logsumexp(-d2 / (2 * h * h), 1) - math.log(m) - 0.5 * d * torch.log(2 * math.pi * h * h)

    def to_weights(self, meta: dict | None = None) -> WorldWeights:
        return self.gen.to_weights(meta)


class GaussianPolicy(nn.Module):
    """Explicit-likelihood head: ``y = mu(S) + s * z[:N_OUT]`` with ``mu(S) = G(0 | S)`` (the generator's MLP with
    its noise input at zero) and a learned per-output scale ``s``; ``log p`` is the exact Gaussian log-density."""

    kind = "gaussian"

    def __init__(self, gen: WorldGenerator, log_s=None):
        super().__init__()
        if gen.activation != "relu":
            raise MultiexecError(f"the Gaussian head is exported as a ReLU network; the generator uses {gen.activation}")
        if gen.noise_dim < N_OUT:
            raise MultiexecError(f"the Gaussian head needs noise_dim >= {N_OUT}, the generator has {gen.noise_dim}")
        self.gen = gen
        dt = gen.net[0].weight.dtype
        self.log_s = nn.Parameter(torch.zeros(N_OUT, dtype=dt) if log_s is None else torch.as_tensor(log_s, dtype=dt))

    @property
    def arch(self) -> dict:
        return {"likelihood": self.kind, **self.gen.arch}

    def mean(self, state) -> torch.Tensor:
        s = torch.as_tensor(np.asarray(state), dtype=torch.float64).reshape(1, -1)
        return self.gen(torch.zeros(1, self.gen.noise_dim, dtype=self.log_s.dtype), s)[0]

    def sample(self, state, n: int, g: torch.Generator) -> torch.Tensor:
        z = torch.randn(n, self.gen.noise_dim, generator=g, dtype=self.log_s.dtype)
        return self.mean(state)[None, :] + torch.exp(self.log_s)[None, :] * z[:, :N_OUT]

    def log_prob(self, state, actions: torch.Tensor, m: int = 0, g: torch.Generator | None = None) -> torch.Tensor:
        mu = self.mean(state)
        u = (actions - mu[None, :]) / torch.exp(self.log_s)[None, :]
        return (-0.5 * u * u - self.log_s[None, :] - 0.5 * math.log(2 * math.pi)).sum(1)

    def to_weights(self, meta: dict | None = None) -> WorldWeights:
        """The head as a compiled world agent: each hidden layer gains ``2 N_OUT`` ReLU units carrying ``+z_j`` and
        ``-z_j`` (``relu(relu(z)) = relu(z)``), the output adds ``s_j (relu(z_j) - relu(-z_j)) = s_j z_j``; the
        generator's own noise inputs are cut (``mu`` sees ``z = 0``)."""
        w = self.gen.to_weights(meta)
        d, nz, k = len(w.x_mean), w.noise_dim, N_OUT
        eye = np.eye(k)
        layers = []
        for i, (W, b) in enumerate(w.layers):
            W = W.copy()
            if i == 0:
                W[:, d:] = 0.0  # mu at z = 0
                pz = np.zeros((2 * k, d + nz))
                pz[:k, d:d + k] = eye
                pz[k:, d:d + k] = -eye
                W, b = np.vstack([W, pz]), np.concatenate([b, np.zeros(2 * k)])
            elif i < len(w.layers) - 1:
                W = np.block([[W, np.zeros((W.shape[0], 2 * k))], [np.zeros((2 * k, W.shape[1])), np.eye(2 * k)]])
                b = np.concatenate([b, np.zeros(2 * k)])
            else:
                s = np.exp(self.log_s.detach().double().numpy())
                W = np.hstack([W, np.diag(s), -np.diag(s)])
            layers.append((W, b.copy()))
        return dataclasses.replace(w, hidden=tuple(h + 2 * k for h in w.hidden), activation="relu", layers=layers,
                                   meta={**w.meta, "head": "gaussian"}).check()


def make_policy(kind: str, gen: WorldGenerator, init_states: Sequence[np.ndarray] = (), seed: int = 0) -> nn.Module:
    """The policy of ``kind`` around ``gen`` (float64). The Gaussian head's scale starts at the per-output
    robust standard deviation (1.4826 x the median absolute deviation) of ``G(z | S) - G(0 | S)`` over 256 draws at
    each of ``init_states`` (the plain standard deviation let heavy tails through, e.g. of the time to the next order,
    and the Gaussian market then sent orders microseconds apart)."""
    if kind == "kde":
        return KdePolicy(gen)
    if kind != "gaussian":
        raise MultiexecError(f"unknown likelihood {kind!r}; choose kde (the paper) or gaussian")
    pol = GaussianPolicy(gen)
    if len(init_states):
        g = torch.Generator().manual_seed(derive_seed(seed, 7))
        with torch.no_grad():
            dev = torch.cat([gen.sample(s, 256, g) - pol.mean(s)[None, :] for s in init_states])
            mad = (dev - dev.median(0).values).abs().median(0).values
            pol.log_s.copy_(torch.log((1.4826 * mad).clamp_min(1e-3)))
    return pol


def flat_params(policy: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in policy.parameters()])


# ---------------------------------------------------------------------------------------------------------------------
# rollouts with branch points


def _market(w: WorldWeights, world_kw: dict):
    from multiexec.lob.config import world_config

    return world_config(arrays=w, **world_kw)


class TooBusy(Exception):
    """A rollout went past ``max_events`` kernel events (a world drifted to orders microseconds apart)."""


CHUNK_NS = 1_000_000_000


def _run_to(sim, t_ns: int, cap: int) -> None:
    """``sim.run_until(t_ns)`` in 1-s slices, raising :class:`TooBusy` past ``cap`` events (bounds memory)."""
    t = sim.now
    while t < t_ns:
        t = min(t + CHUNK_NS, int(t_ns))
        sim.run_until(t)
        if sim.n_events > cap:
            raise TooBusy


def _step(sim, ag, end: int, cap: int):
    """The agent's next decision, then the market up to the world agent's next decision before the agent's
    following one: ``(time_ns, state)`` of that branch point, or None."""
    _run_to(sim, ag.next_ns, cap)
    ag.wake(sim)
    return sim.world_decision(until_ns=min(ag.next_ns, end))


def _finish(sim, ag, end: int, seed: int, cap: int) -> RolloutLog:
    """Run the agent's remaining decisions and the market to ``end`` (``run_execution`` for one agent, in
    slices) and return the log."""
    while ag.next_ns <= end:
        _run_to(sim, ag.next_ns, cap)
        ag.wake(sim)
    _run_to(sim, end, cap)
    return rollout_log(sim, ag, seed)


def main_rollout(w: WorldWeights, seed: int, agent: AgentSpec, t0: int, world_kw: dict | None = None,
                 cap: int = 1_000_000):
    """Algorithm 1, line 2: a complete rollout of the world market; returns the branch points (``(time_ns,
    state)`` or None for the agent's steps 1..T0) and the rollout's log (None when it went past ``cap`` events;
    the branch points after that are None)."""
    sim, ag, end = start_rollout(_market(w, world_kw or {}), seed, agent)
    points = []
    try:
        for _ in range(t0):
            points.append(_step(sim, ag, end, cap))
        return points, _finish(sim, ag, end, seed, cap)
    except TooBusy:
        return points + [None] * (t0 - len(points)), None


def _branch_job(args: tuple) -> dict:
    """Worker entry (module level: it pickles): replay the rollout to step ``t``, then ``N`` MC rollouts with the
    world agent forced to ``y`` at the branch point. Returns the state and the MC rollouts' feedback values."""
    w, world_kw, agent_d, seed, t, y, mc_seeds, fb, estimator, cap = args
    from multiexec.lob import rng as R

    agent = AgentSpec.model_validate(agent_d)
    sim, ag, end = start_rollout(_market(w, world_kw), seed, agent)
    point = None
    for _ in range(t):
        point = _step(sim, ag, end, cap)
    if point is None:
        return {"state": None, "values": [], "busy": 0}
    vals, busy = [], 0
    for s in mc_seeds:
        br = sim.fork(int(s))
        br.force_world_action(y)
        bag = copy.deepcopy(ag)
        bag._rng = R.seed_streams(int(s) + AGENT_SEED_OFFSET, np.array([7], np.int64))  # the agent's own new stream
        try:
            vals.append(feedback(_finish(br, bag, end, int(s), cap), fb, estimator, agent.side))
        except TooBusy:
            vals.append(float("nan"))
            busy += 1
        del br
    return {"state": point[1], "time_ns": point[0], "values": vals, "busy": busy}


def _eval_job(args: tuple) -> list:
    """Worker entry of the evaluation: complete rollouts of one world for some seeds -> per seed, the values of
    ``feedbacks`` (NaN when the rollout went past ``cap`` events)."""
    w, world_kw, agent_d, seeds, fbs, estimator, cap = args
    agent = AgentSpec.model_validate(agent_d)
    cfg = _market(w, world_kw)
    out = []
    for s in seeds:
        sim, ag, end = start_rollout(cfg, s, agent)
        try:
            lg = _finish(sim, ag, end, s, cap)
            out.append([feedback(lg, f, estimator, agent.side) for f in fbs])
        except TooBusy:
            out.append([float("nan")] * len(fbs))
    return out


class Runner:
    """Runs branch jobs in order: ``serial``, ``local`` (a persistent spawn process pool of ``workers``) or
    ``ray`` (tasks on a local Ray or ``ray_address``). Same jobs -> same results with every runner."""

    def __init__(self, kind: str = "local", workers: int | None = None, ray_address: str | None = None):
        if kind not in ("local", "serial", "ray"):
            raise MultiexecError(f"unknown runner {kind!r}; choose 'local' (process pool), 'serial' or 'ray'")
        self.kind, self.workers = kind, max(1, workers or min(2, os.cpu_count() or 1))
        self._pool, self._ray_started, self._task = None, False, None
        if kind == "local" and self.workers == 1:
            self.kind = "serial"
        if self.kind == "local":
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor

            self._pool = ProcessPoolExecutor(self.workers, mp_context=mp.get_context("spawn"))
        elif self.kind == "ray":
            try:
                import ray
            except ImportError:
                raise MultiexecError("the Ray runner needs Ray: pip install -e '.[ray]'") from None
            if not ray.is_initialized():
                ray.init(address=ray_address, num_cpus=None if ray_address else self.workers, include_dashboard=False,
                         log_to_driver=False)
                self._ray_started = True
            self._task = {}

    def map(self, jobs: list, fn=_branch_job) -> list:
        if self.kind == "serial":
            return [fn(j) for j in jobs]
        if self.kind == "local":
            return [f.result() for f in [self._pool.submit(fn, j) for j in jobs]]
        import ray

        if fn not in self._task:
            self._task[fn] = ray.remote(num_cpus=1)(fn)
        return ray.get([self._task[fn].remote(j) for j in jobs])

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
        if self._ray_started:
            import ray

            ray.shutdown()
            self._ray_started = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ---------------------------------------------------------------------------------------------------------------------
# one iteration


@dataclass
class Branches:
    """What an iteration scored: per branch point ``t`` its state, the ``b`` actions and their scores ``Q``
    (NaN where fewer than two MC rollouts had a defined feedback)."""

    states: list[np.ndarray] = field(default_factory=list)
    actions: list[np.ndarray] = field(default_factory=list)  # (b, N_OUT)
    q: list[np.ndarray] = field(default_factory=list)  # (b,)
    values: list[list[list[float]]] = field(default_factory=list)  # [t][k] -> N feedback values
    busy: int = 0  # MC rollouts dropped for going past max_events


def score(values: Sequence[float], real: np.ndarray, distance: str) -> float:
    """``d(f(MC rollouts), f(real))``; NaN when fewer than two MC rollouts have a defined feedback."""
    v = np.asarray(values, np.float64)
    v = v[np.isfinite(v)]
    return float(get_distance(distance)(v, real)) if len(v) >= 2 else float("nan")


def collect_branches(policy: nn.Module, spec: CalibSpec, agent: AgentSpec, real: np.ndarray, iteration: int,
                     runner: Runner, world_kw: dict | None = None) -> tuple[Branches, RolloutLog, int]:
    """Algorithm 1, lines 2-9 for one iteration: the complete rollout, the ``b`` actions at each branch point and
    their scores from ``N`` MC rollouts each."""
    w = policy.to_weights()
    seed = derive_seed(spec.seed, iteration, 0)
    world_kw = {**spec.world_kw(), **(world_kw or {})}
    points, log = main_rollout(w, seed, agent, spec.t0, world_kw, spec.max_events)
    out = Branches()
    jobs, index = [], []
    for t, p in enumerate(points, start=1):
        if p is None:
            continue
        g = torch.Generator().manual_seed(derive_seed(spec.seed, iteration, 1, t))
        with torch.no_grad():
            acts = policy.sample(p[1], spec.b, g).double().numpy()
        out.states.append(p[1])
        out.actions.append(acts)
        for k in range(spec.b):
            mc = [derive_seed(spec.seed, iteration, 2, t, 0 if spec.crn else k, i) for i in range(spec.n_mc)]
            jobs.append((w, world_kw, agent.model_dump(), seed, t, acts[k], mc, spec.feedback, spec.estimator,
                         spec.max_events))
            index.append((len(out.states) - 1, k))
    res = runner.map(jobs)
    out.q = [np.full(spec.b, np.nan) for _ in out.states]
    out.values = [[[] for _ in range(spec.b)] for _ in out.states]
    for (j, k), r in zip(index, res):
        if r["state"] is None or not np.allclose(r["state"], out.states[j], rtol=0, atol=1e-9):
            raise MultiexecError(f"iteration {iteration}: the replayed rollout left the branch point of step {j + 1} "
                                 "(the market is not deterministic in its seed)")
        out.values[j][k] = list(r["values"])
        out.busy += int(r.get("busy", 0))
        out.q[j][k] = score(r["values"], real, spec.distance)
    return out, log, seed


def branch_weights(q: list[np.ndarray], spec: CalibSpec, iteration: int) -> list[np.ndarray]:
    """The weights multiplying ``grad log p`` (before ``1/b``): ``Q`` (the paper), ``Q`` minus the leave-one-out
    mean of the other branches at the same ``t`` (``baseline="loo"``), or ``Q`` permuted across the iteration's
    scored branches of each branch point, or of the whole iteration (``shuffle``, a null control). NaN scores weigh
    0."""
    q = [np.array(x, np.float64) for x in q]
    if spec.shuffle and spec.shuffle_scope == "t":
        g = np.random.default_rng(derive_seed(spec.seed, iteration, 3))
        for x in q:
            ok = np.isfinite(x)
            x[ok] = g.permutation(x[ok])
    elif spec.shuffle:
        flat = np.concatenate(q) if q else np.zeros(0)
        ok = np.isfinite(flat)
        perm = np.random.default_rng(derive_seed(spec.seed, iteration, 3)).permutation(flat[ok])
        flat[ok] = perm
        q = list(np.split(flat, np.cumsum([len(x) for x in q])[:-1])) if q else []
    out = []
    for x in q:
        ok = np.isfinite(x)
        w = np.where(ok, x, 0.0)
        if spec.baseline == "loo":
            n = ok.sum()
            if n >= 2:
                w = np.where(ok, x - (w.sum() - w) / (n - 1), 0.0)
            else:
                w = np.zeros_like(w)
        out.append(w)
    return out


def reinforce_update(policy: nn.Module, branches: Branches, weights: list[np.ndarray], spec: CalibSpec, lr: float,
                     iteration: int) -> dict:
    """Algorithm 1, line 10: ``theta <- theta - lr * grad sum_t (1/b) sum_k w_{t,k} log p(A_{t,k} | S_t)``.
    Returns the loss, mean log p, gradient and step norms."""
    before = flat_params(policy)
    policy.zero_grad()
    loss = torch.zeros((), dtype=torch.float64)
    logps = []
    for t, (s, a, w) in enumerate(zip(branches.states, branches.actions, weights)):
        g = torch.Generator().manual_seed(derive_seed(spec.seed, iteration, 4, t))
        lp = policy.log_prob(s, torch.as_tensor(a, dtype=torch.float64), spec.kde_samples, g)
        logps.append(lp.detach())
        loss = loss + (torch.as_tensor(w, dtype=torch.float64) * lp).sum() / spec.b
    grad_norm = 0.0
    if loss.requires_grad:
        loss.backward()
        with torch.no_grad():
            grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in policy.parameters()]
            grad_norm = float(torch.sqrt(sum((gr.double() ** 2).sum() for gr in grads)))
            if lr != 0:
                for p, gr in zip(policy.parameters(), grads):
                    p -= lr * gr
    after = flat_params(policy)
    return {"loss": float(loss.detach()), "mean_log_p": float(torch.cat(logps).mean()) if logps else float("nan"),
            "grad_norm": grad_norm, "step_norm": float((after - before).norm()), "theta_norm": float(after.norm())}


# ---------------------------------------------------------------------------------------------------------------------
# the training loop


def load_warm(path: str | Path) -> WorldWeights:
    """Warm-start weights: a cWGAN training folder, its ``world.npz`` or any world weights file."""
    return WorldWeights.load(path)


def real_feedback(spec: CalibSpec, agent: AgentSpec, cache: Path | None = None, **run_kw) -> np.ndarray:
    """The real feedback ``f(T_real)``: the N' cached rollouts of the real market (a cache made with another
    experimental agent is refused in one line)."""
    logs, _ = real_feedback_logs(spec.n_real, spec.real_seed, spec.real_market, agent, cache=cache, **run_kw)
    v = feedback_sample(logs, spec.feedback, spec.estimator, agent.side)
    if len(v) < 2:
        raise MultiexecError(f"the real feedback {spec.feedback} is defined for {len(v)} of {len(logs)} rollouts")
    return v


@dataclass
class CalibResult:
    out: Path
    policy: nn.Module
    rows: list[dict]
    seconds: float


def _atomic_save(obj, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _write_csv(rows: list[dict], path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=list(LOG_FIELDS))
        wr.writeheader()
        wr.writerows(rows)
    os.replace(tmp, path)


_RESUME_FREE = ("iterations", "ckpt_every")


def calibrate(warm: str | Path | WorldWeights, out: str | Path, spec: CalibSpec | None = None,
              agent: AgentSpec | None = None, runner: str = "local", workers: int | None = None,
              ray_address: str | None = None, resume: bool = False, real: np.ndarray | None = None,
              real_cache: Path | None = None, progress: bool = True, tensorboard: bool = False,
              world_kw: dict | None = None) -> CalibResult:
    """Run Algorithm 1 from the warm-start weights ``warm`` into folder ``out``: ``checkpoint.pt`` every
    ``ckpt_every`` iterations and at the end (resumable with ``resume``), ``world.npz`` (the calibrated world agent:
    the market ``world:<out>``), ``log.csv`` (one row per iteration), ``spec.json`` and, with ``tensorboard``,
    TensorBoard scalars in ``out/tb``. ``real``: the real feedback sample (default: the cached N' rollouts)."""
    from tqdm.auto import tqdm

    agent = agent or AgentSpec()
    spec = (spec or CalibSpec()).check(agent)
    out = Path(out)
    w0 = warm if isinstance(warm, WorldWeights) else load_warm(warm)
    gen = WorldGenerator.from_weights(w0)
    ck = out / "checkpoint.pt"
    rows: list[dict] = []
    start = 0
    blob = None
    if resume and ck.is_file():
        blob = load_checkpoint(ck)
        want = {"likelihood": spec.likelihood, **gen.arch}
        if blob["arch"] != want:
            raise MultiexecError(f"checkpoint {ck} has another architecture ({_arch_diff(blob['arch'], want)})")
        defaults = {k: f.default for k, f in CalibSpec.model_fields.items()}  # fields added since: their default
        old = {k: v for k, v in {**defaults, **blob["spec"]}.items() if k not in _RESUME_FREE}
        new = {k: v for k, v in spec.model_dump().items() if k not in _RESUME_FREE}
        diff = {k: (old.get(k), new.get(k)) for k in new if old.get(k) != new.get(k)}
        if diff:
            raise MultiexecError(f"checkpoint {ck} was made with other settings: " +
                                 ", ".join(f"{k} {a!r} (now {b!r})" for k, (a, b) in diff.items()))
        start, rows = int(blob["iteration"]), list(blob["rows"])
    if real is None:
        real = real_feedback(spec, agent, real_cache, workers=workers, progress=progress)
    real = np.asarray(real, np.float64)
    init_states = []
    if spec.likelihood == "gaussian" and blob is None:
        pts, _ = main_rollout(w0, derive_seed(spec.seed, 10**6), agent, spec.t0, {**spec.world_kw(), **(world_kw or {})},
                              spec.max_events)
        init_states = [p[1] for p in pts if p is not None]
    policy = make_policy(spec.likelihood, gen, init_states, spec.seed)
    if blob is not None:
        policy.load_state_dict(blob["state"])
    out.mkdir(parents=True, exist_ok=True)
    (out / "spec.json").write_text(json.dumps({"spec": spec.model_dump(), "agent": agent.model_dump(),
                                               "warm": str(warm) if not isinstance(warm, WorldWeights) else "memory",
                                               "warm_digest": w0.digest()}, indent=2))
    writer = None
    if tensorboard:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(out / "tb"), purge_step=start)

    def save(iteration: int) -> None:
        _atomic_save({"version": CKPT_VERSION, "arch": policy.arch, "spec": spec.model_dump(),
                      "agent": agent.model_dump(), "iteration": iteration, "state": policy.state_dict(), "rows": rows,
                      "warm_digest": w0.digest()}, ck)
        policy.to_weights(meta={"calibrated_iterations": iteration, "seed": spec.seed}).save(out / "world.npz")
        _write_csv(rows, out / "log.csv")

    t_all = time.perf_counter()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with Runner(runner, workers, ray_address) as run:
            bar = tqdm(range(start, spec.iterations), initial=start, total=spec.iterations, desc="INTAGS calibration",
                       unit="it", disable=not progress)
            for it in bar:
                t0 = time.perf_counter()
                br, log, seed = collect_branches(policy, spec, agent, real, it, run, world_kw)
                wts = branch_weights(br.q, spec, it)
                lr = spec.lr_at(it)
                upd = reinforce_update(policy, br, wts, spec, lr, it)
                q = np.concatenate(br.q) if br.q else np.zeros(0)
                qf = q[np.isfinite(q)]
                row = {"iteration": it + 1, "lr": lr, "rollout_seed": seed,
                       "rollout_feedback": (float("nan") if log is None else
                                            feedback(log, spec.feedback, spec.estimator, agent.side)),
                       "branches": len(q), "scored": len(qf), "busy": br.busy,
                       "q_mean": float(qf.mean()) if len(qf) else float("nan"),
                       "q_std": float(qf.std()) if len(qf) else float("nan"),
                       "q_min": float(qf.min()) if len(qf) else float("nan"),
                       "q_max": float(qf.max()) if len(qf) else float("nan"),
                       **upd, "seconds": time.perf_counter() - t0}
                rows.append(row)
                if writer is not None:
                    for k in ("q_mean", "loss", "grad_norm", "step_norm", "mean_log_p", "seconds"):
                        writer.add_scalar(k, row[k], it + 1)
                bar.set_postfix(q=f"{row['q_mean']:.4f}", step=f"{row['step_norm']:.2e}", refresh=False)
                if (it + 1) % spec.ckpt_every == 0 or it + 1 == spec.iterations:
                    save(it + 1)
            bar.close()
    finally:
        torch.set_num_threads(threads)
        if writer is not None:
            writer.close()
    if start >= spec.iterations:
        save(start)
    return CalibResult(out, policy, rows, time.perf_counter() - t_all)


def _arch_diff(a: dict, b: dict) -> str:
    return ", ".join(f"{k} {a.get(k)} (wanted {b.get(k)})" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k))


def load_checkpoint(path: str | Path) -> dict:
    p = Path(path)
    if p.is_dir():
        p = p / "checkpoint.pt"
    if not p.is_file():
        raise MultiexecError(f"calibration checkpoint {p} not found")
    try:
        blob = torch.load(p, map_location="cpu", weights_only=False)
        blob["arch"], blob["spec"], blob["iteration"]
    except Exception as exc:  # noqa: BLE001 - any unreadable file is one line
        raise MultiexecError(f"{p} is not an INTAGS calibration checkpoint ({type(exc).__name__})") from None
    return blob


# ---------------------------------------------------------------------------------------------------------------------
# evaluation: calibrated vs warm-start world market, on held-out seeds

EVAL_WORLD_SEED0 = 1_000_000_000  # held-out world seeds (training rollouts use 62-bit derived seeds)
EVAL_REAL_SEED0 = 1_000_000  # fresh real rollouts (the training cache uses 0..N'-1)


def paired_comparison(fa: np.ndarray, fb: np.ndarray, real: np.ndarray, distance: str, boot: int = 1000,
                      perms: int = 1000, seed: int = 0) -> dict:
    """``d(A, real) - d(B, real)`` for two world markets run on the *same* seeds (``fa[j]``, ``fb[j]``: seed
    ``j``; NaN allowed), with a paired bootstrap 95 % interval (seeds resampled jointly, real resampled) and a
    two-sided paired permutation p-value (A and B swapped per seed)."""
    dist = get_distance(distance)
    fa, fb, real = (np.asarray(x, np.float64) for x in (fa, fb, real))
    real = real[np.isfinite(real)]

    def d(x, r):
        x = x[np.isfinite(x)]
        return float(dist(x, r)) if len(x) >= 2 else float("nan")

    da, db = d(fa, real), d(fb, real)
    rng = np.random.default_rng(seed)
    n, m = len(fa), len(real)
    bs = []
    for _ in range(boot):
        i, j = rng.integers(0, n, n), rng.integers(0, m, m)
        bs.append(d(fa[i], real[j]) - d(fb[i], real[j]))
    bs = np.array(bs)
    bs = bs[np.isfinite(bs)]
    obs = da - db
    cnt = 0
    for _ in range(perms):
        sw = rng.random(n) < 0.5
        pa, pb = np.where(sw, fb, fa), np.where(sw, fa, fb)
        cnt += abs(d(pa, real) - d(pb, real)) >= abs(obs) - 1e-15
    return {"d_a": da, "d_b": db, "diff": obs, "ci_lo": float(np.quantile(bs, 0.025)) if len(bs) else float("nan"),
            "ci_hi": float(np.quantile(bs, 0.975)) if len(bs) else float("nan"),
            "p_perm": (1 + cnt) / (1 + perms) if np.isfinite(obs) else float("nan"),
            "n_a": int(np.isfinite(fa).sum()), "n_b": int(np.isfinite(fb).sum()), "n_real": int(len(real))}


def evaluate(calibrated: str | Path, baseline: str | Path, feedbacks: Sequence[str] = ("Mkt2NextReturn",
             "Mkt2NextPriceImpact", "EpisodeReward"), distance: str = "mmd", n_world: int = 50, n_real: int = 100,
             real_market: str = "rmsc03", estimator: str = "hajek", agent: AgentSpec | None = None, boot: int = 1000,
             perms: int = 1000, seed: int = 0, min_dt_us: float | None = None, max_events: int = 1_000_000,
             runner: str = "local", workers: int | None = None, **run_kw):
    """Distance to the real market of the calibrated world market (A) against the warm start (B), on held-out
    seeds: ``n_world`` world rollouts per market (the same seeds for both) against ``n_real`` fresh real ones.
    ``min_dt_us``: the same floor on the world agent's time between orders for both markets (as in training); a
    world rollout past ``max_events`` kernel events counts as undefined (NaN; ``n_a`` / ``n_b`` say how many are
    left).
    Returns a DataFrame, one row per feedback (see :func:`paired_comparison`)."""
    import pandas as pd

    from multiexec.intags.rollouts import cached_rollouts

    agent = agent or AgentSpec()
    fbs = [feedback_name(f) for f in feedbacks]
    distance = distance_name(distance)
    if n_world < 2 or n_real < 2:
        raise MultiexecError(f"evaluation needs at least 2 world and 2 real rollouts, got {n_world} and {n_real}")
    wseeds = range(EVAL_WORLD_SEED0 + seed * 10_000, EVAL_WORLD_SEED0 + seed * 10_000 + n_world)
    kw = {} if min_dt_us is None else {"min_dt_us": float(min_dt_us)}
    seeds = list(wseeds)
    chunks = [seeds[i:i + 10] for i in range(0, len(seeds), 10)]
    vals = {}
    with Runner(runner, workers) as run:
        for name, path in (("a", calibrated), ("b", baseline)):
            w = WorldWeights.load(path)
            res = run.map([(w, kw, agent.model_dump(), c, fbs, estimator, max_events) for c in chunks], _eval_job)
            vals[name] = np.array([v for part in res for v in part], np.float64).reshape(len(seeds), len(fbs))
    lr, _ = cached_rollouts(real_market, range(EVAL_REAL_SEED0, EVAL_REAL_SEED0 + n_real), agent,
                            runner=runner, workers=workers, **run_kw)
    rows = []
    for i, f in enumerate(fbs):
        fa, fb = vals["a"][:, i], vals["b"][:, i]
        fr = feedback_sample(lr, f, estimator, agent.side)
        rows.append({"feedback": f, "distance": distance, **paired_comparison(fa, fb, fr, distance, boot, perms, seed)})
    return pd.DataFrame(rows)
