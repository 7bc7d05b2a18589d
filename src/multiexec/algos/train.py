"""Training loop for every learned method: sampling of training days, periodic validation with model
selection, checkpoints with resume, CSV and TensorBoard logs.

Output folder of a run (:class:`multiexec.algos.layout.RunLayout`)::

    config.json    the TrainConfig and the ExecConfig
    metrics.csv    one row per learning step (kind=train) and per validation (kind=valid), x-axis order_steps
    tb/            TensorBoard events (same scalars)
    last.pt        everything needed to resume (agent, optimiser, counters, random states, log)
    best.pt        the agent with the best validation score (``ExecAgent.load``), with what it was trained for
                   (:func:`checkpoint_meta`: method, action set, step length, feature layout, data and market)
    summary.json   written when the run is complete; ``best_days`` is the training days of the selected agent and
                   ``selected_untrained`` is true when that is the untrained network (no validation after step 0
                   did better: train longer) — said in the log too

The budget is counted in training days (episodes); a learning step takes ``rollout_days`` days.
The same seed gives the same numbers (single-threaded torch; ``threads`` > 1 may change the last digits).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from tqdm.auto import tqdm

from multiexec.algos.evaluation import evaluate
from multiexec.algos.layout import RunLayout
from multiexec.algos.learners import DDQNLearner, PPOLearner, exec_ddqn_config, exec_ddqn_values
from multiexec.algos.ppo import PPOConfig
from multiexec.algos.rl import DDQNConfig
from multiexec.errors import MultiexecError
from multiexec.execution.env import F_NOW, F_SEQ, NOW_FEATURES, SEQ_FEATURES, ExecConfig, MultiOrderEnv
from multiexec.execution.markets import Market
from multiexec.policies.agents import AgentConfig, ExecAgent, NeuralPolicy
from multiexec.policies.registry import MethodSpec, get_method, methods_help


class TrainConfig(BaseModel):
    """One training run."""

    model_config = ConfigDict(extra="forbid")

    method: str = Field(description="one of " + methods_help())
    seed: int = Field(0, ge=0, description="seed of the run (network initialisation, sampling of training days)")
    train_days: int = Field(2000, ge=1, description="training budget in days (episodes) sampled from the train split")
    eval_every: int = Field(200, ge=1, description="training days between validations")
    rollout_days: int = Field(16, ge=1, description="days per learning step (PPO family: per update)")
    ddqn_rollout_days: int = Field(1, ge=1, description="days stepped together while DDQN collects transitions")
    rounds: int | None = Field(None, ge=0, description="communication rounds K (None: Table 5)")
    heads: int | None = Field(None, ge=1, description="attention heads (None: Table 5)")
    intentions: Literal["soft", "sampled"] = Field("soft", description="IaC: intended actions sent as probabilities "
                                                   "('soft') or as sampled one-hots ('sampled', the paper's form)")
    ppo: PPOConfig = Field(default_factory=PPOConfig)
    ddqn: DDQNConfig = Field(default_factory=exec_ddqn_config, description="Double DQN settings; a dict is read over "
                             "the execution defaults (multiexec.algos.learners.EXEC_DDQN)")
    select_on: Literal["team_return", "EG_bps"] = Field(
        "team_return", description="validation score for model selection: summed team reward (eq. 8) or EG"
    )
    threads: int | None = Field(1, ge=1, description="torch threads (None: torch's default)")
    time_limit_s: float | None = Field(None, gt=0, description="stop (as complete) after this many seconds")

    @field_validator("method")
    @classmethod
    def _known_method(cls, v: str) -> str:
        get_method(v)
        return v

    @field_validator("ddqn", mode="before")
    @classmethod
    def _ddqn_defaults(cls, v: object) -> object:
        return exec_ddqn_values(v) if isinstance(v, dict) else v

    @property
    def spec(self) -> MethodSpec:
        """The registry's declaration of the method."""
        return get_method(self.method)

    @property
    def days_per_step(self) -> int:
        """Training days per learning step."""
        return self.ddqn_rollout_days if self.spec.q_learning else self.rollout_days

    def agent_config(self, n_actions: int) -> AgentConfig:
        return AgentConfig(method=self.method, n_actions=n_actions, f_seq=F_SEQ, f_now=F_NOW,
                           rounds=self.rounds, heads=self.heads, intentions=self.intentions)


@dataclass
class TrainResult:
    out: Path
    agent: ExecAgent  # the selected (best on validation) agent
    best_score: float
    order_steps: int
    seconds: float
    log: pd.DataFrame


def _resume_key(cfg: dict) -> dict:
    """The part of a TrainConfig a resumed run must share with its checkpoint: everything that affects its
    numbers, except the budget (which may grow) — settings the method does not use are left out. A saved config
    is first read as a TrainConfig, so that settings added later with their default compare equal."""
    try:
        cfg = TrainConfig.model_validate(cfg).model_dump()
        q_learning = get_method(cfg["method"]).q_learning
    except (ValidationError, MultiexecError, KeyError):
        return cfg
    unused = ("ppo", "rollout_days", "intentions") if q_learning else ("ddqn", "ddqn_rollout_days")
    skip = ("train_days", "time_limit_s", "threads", "eval_every") + unused
    return {k: v for k, v in cfg.items() if k not in skip}


def same_run(saved: dict, cfg: TrainConfig, exec_cfg: ExecConfig) -> bool:
    """Whether a finished run's saved ``config.json`` is the run ``cfg``/``exec_cfg`` asks for (same budget too)."""
    want = cfg.model_dump()
    have = saved.get("train", {})
    return (_resume_key(have) == _resume_key(want) and have.get("train_days") == want["train_days"]
            and have.get("eval_every") == want["eval_every"] and saved.get("exec") == exec_cfg.model_dump())


CHECKPOINT_FORMAT = 1
"""version of the metadata :func:`checkpoint_meta` writes into ``best.pt``"""


def feature_layout() -> dict[str, list[str]]:
    """The observation's feature names, in the order the network reads them."""
    return {"seq": list(SEQ_FEATURES), "now": list(NOW_FEATURES)}


def checkpoint_meta(cfg: TrainConfig, exec_cfg: ExecConfig, dataset=None, market: Market | None = None) -> dict:
    """What a saved agent was trained for, stored in ``best.pt``: a policy is only run where these agree
    (:func:`multiexec.algos.load_policy`)."""
    data = getattr(dataset, "name", None)
    source = getattr(getattr(dataset, "config", None), "source", None)
    return {"format": CHECKPOINT_FORMAT, "method": cfg.method, "actions": list(exec_cfg.actions),
            "step_minutes": exec_cfg.step_minutes, "price": exec_cfg.price, "features": feature_layout(),
            "data": data, "data_source": source, "market": getattr(market, "name", "bars") if market is not None
            else "bars", "seed": cfg.seed}


def _split(dataset, name: str) -> np.ndarray:
    ids = np.asarray(dataset.splits.get(name, []), dtype=np.int64)
    if ids.size == 0:
        raise MultiexecError(f"the dataset has no days in its {name!r} split")
    return ids


def _best_days(log: list[dict]) -> int:
    """Training days of the best validation in a log (for checkpoints written before ``best_days`` was kept)."""
    best, days = -np.inf, 0
    for row in log:
        if row.get("kind") == "valid" and row.get("best", -np.inf) > best:
            best, days = row["best"], row["days"]
    return days


def make_learner(cfg: TrainConfig, env: MultiOrderEnv):
    agent_cfg = cfg.agent_config(env.n_actions)
    if cfg.spec.q_learning:
        return DDQNLearner(agent_cfg, cfg.ddqn, env.n_steps, cfg.seed)
    torch.manual_seed(cfg.seed)
    return PPOLearner(ExecAgent(agent_cfg), cfg.ppo, cfg.seed)


def train(dataset, cfg: TrainConfig, out: str | Path, exec_cfg: ExecConfig | None = None, resume: bool = True,
          progress: bool = True, market: Market | None = None) -> TrainResult:
    """Train ``cfg.method`` on ``dataset`` (``.bars``, ``.orders``, ``.splits``) and select on the valid split;
    ``market``: where the orders trade (default: the dataset's bars; e.g. the LOB market of its simulated days)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = RunLayout(out)
    exec_cfg = exec_cfg or ExecConfig()
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    env = MultiOrderEnv(market if market is not None else dataset.bars, dataset.orders, exec_cfg)
    train_ids, valid_ids = _split(dataset, "train"), _split(dataset, "valid")
    files.config.write_text(json.dumps({"train": cfg.model_dump(), "exec": exec_cfg.model_dump()}, indent=2))

    learner = make_learner(cfg, env)
    meta = checkpoint_meta(cfg, exec_cfg, dataset, env.market)
    rng = np.random.default_rng(cfg.seed)
    days_done, order_steps, best, elapsed0, best_days = 0, 0, -np.inf, 0.0, 0
    log: list[dict] = []
    ckpt = files.checkpoint
    if resume and ckpt.is_file():
        blob = torch.load(ckpt, map_location="cpu", weights_only=False)
        if _resume_key(blob["config"]) != _resume_key(cfg.model_dump()):
            raise MultiexecError(f"{ckpt}: checkpoint was made with a different config (beyond the budget); "
                                 "use a new --out or --no-resume")
        learner.agent.load_state_dict(blob["agent"])
        learner.load_state_dict(blob["learner"])
        rng.bit_generator.state = blob["np_rng"]
        torch.set_rng_state(blob["torch_rng"])
        days_done, order_steps, best, elapsed0 = blob["days_done"], blob["order_steps"], blob["best"], blob["elapsed"]
        log = blob["log"]
        best_days = blob.get("best_days", _best_days(log))

    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(files.tensorboard), purge_step=order_steps)
    per_step = cfg.days_per_step
    t0 = time.perf_counter() - elapsed0

    def validate() -> None:
        nonlocal best, best_days
        res = evaluate(env, NeuralPolicy(learner.agent), valid_ids)
        m = res.metrics
        row = {"kind": "valid", "days": days_done, "order_steps": order_steps, "seconds": time.perf_counter() - t0,
               "team_return": res.extra["team_return"],
               **{k: m[k] for k in ("EG_bps", "POS_pct", "GLR", "TOC_pct", "fill_pct")}}
        score = row[cfg.select_on]
        if score > best:
            best, best_days = score, days_done
            learner.agent.save(files.best, extra={**meta, "days": days_done, "order_steps": order_steps, "score": score})
        row["best"] = best
        log.append(row)
        for k, v in row.items():
            if k not in ("kind", "days", "order_steps"):
                writer.add_scalar(f"valid/{k}", v, order_steps)

    def checkpoint() -> None:
        torch.save({
            "config": cfg.model_dump(), "agent": learner.agent.state_dict(), "learner": learner.state_dict(),
            "np_rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(), "days_done": days_done,
            "order_steps": order_steps, "best": best, "elapsed": time.perf_counter() - t0, "log": log,
            "best_days": best_days,
        }, files.checkpoint_tmp)
        files.checkpoint_tmp.replace(ckpt)
        pd.DataFrame(log).to_csv(files.metrics, index=False)

    if days_done == 0:
        validate()
        checkpoint()
    next_eval = (days_done // cfg.eval_every + 1) * cfg.eval_every
    bar = tqdm(total=cfg.train_days, initial=days_done, desc=f"train {cfg.method} seed {cfg.seed}", disable=not progress)
    while days_done < cfg.train_days:
        if cfg.time_limit_s is not None and time.perf_counter() - t0 > cfg.time_limit_s:
            break
        ids = rng.choice(train_ids, size=per_step, replace=train_ids.size < per_step)
        stats = learner.learn(env, ids)
        days_done += per_step
        order_steps += int(stats.pop("order_steps"))
        row = {"kind": "train", "days": days_done, "order_steps": order_steps, "seconds": time.perf_counter() - t0, **stats}
        log.append(row)
        for k, v in stats.items():
            writer.add_scalar(f"train/{k}", v, order_steps)
        bar.update(per_step)
        bar.set_postfix(best=f"{best:.4g}")
        if days_done >= next_eval or days_done >= cfg.train_days:
            validate()
            checkpoint()
            next_eval += cfg.eval_every
    bar.close()
    if log[-1]["kind"] != "valid":  # stopped by the time limit between validations
        validate()
        checkpoint()
    writer.close()
    seconds = time.perf_counter() - t0
    untrained = best_days == 0
    if untrained:
        tqdm.write(f"note: {cfg.method} seed {cfg.seed}: no validation after training beat the untrained network's "
                   f"{cfg.select_on} {best:.4g}; the selected (and tested) agent is the initial one — train longer "
                   "or validate more often")
    summary = {"method": cfg.method, "seed": cfg.seed, "best_score": best, "select_on": cfg.select_on,
               "best_days": best_days, "selected_untrained": untrained,
               "days": days_done, "order_steps": order_steps, "seconds": seconds,
               "order_steps_per_s": order_steps / max(seconds, 1e-9), "complete": True}
    files.summary.write_text(json.dumps(summary, indent=2))
    return TrainResult(out, ExecAgent.load(files.best), best, order_steps, seconds, pd.DataFrame(log))
