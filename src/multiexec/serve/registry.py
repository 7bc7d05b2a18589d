"""The service's policy registry: rule policies and trained checkpoints, each name with numbered versions.

- A **rule** version stores its schedule weights per symbol (estimated from the training days of a dataset for VWAP
  and AC; the same for every symbol for TWAP and the side split), for one step length and one day length.
- A **checkpoint** version stores the checkpoint file's bytes (a ``multiexec train`` run folder's ``best.pt``) and
  the run's execution settings (``config.json``: step length, action set). It is loaded through
  :func:`multiexec.algos.load_policy`, the project's one loading function.

A day keeps the version it started with; ``multiexec retrain`` registers new versions (:func:`retrain`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tempfile
import threading
from pathlib import Path

import numpy as np

from multiexec.errors import MultiexecError
from multiexec.execution.env import ExecConfig
from multiexec.execution.markets import step_edges
from multiexec.execution.policy import Policy
from multiexec.serve.store import Store

_AGENTS: dict[str, object] = {}  # sha256 -> loaded NeuralPolicy (the template of each day's own instance)
_LOCK = threading.Lock()


def rule_weights(rule, symbols: list[str]) -> dict[str, list[list[float]]]:
    """Per symbol, the (2 sides, T steps) weights of a :class:`~multiexec.policies.rules.ScheduleRule` built on bars
    with these symbols."""
    return {s: rule.weights[:, i, :].tolist() for i, s in enumerate(symbols)}


def register_rule(store: Store, rule_name: str, dataset, cfg: ExecConfig, name: str | None = None,
                  train_days: np.ndarray | None = None, note: str = "", **params) -> tuple[str, int]:
    """Estimate ``rule_name`` on ``train_days`` (indices into ``dataset.bars.dates``; default: the train split)
    and register its weights as the next version of ``name`` (default: the rule's name)."""
    from multiexec.policies.rules import make_rule_policy

    if train_days is None:
        train_days = dataset.bars.date_index([dataset.orders[i].date for i in dataset.splits["train"]])
    rule = make_rule_policy(rule_name, dataset.bars, train_days, cfg, **params)
    name = name or rule_name
    body = {"rule": rule_name, "weights": rule_weights(rule, dataset.bars.symbols), "source": dataset.name,
            "train_dates": [str(dataset.bars.dates[i]) for i in np.unique(train_days)][:1]
            + [str(dataset.bars.dates[int(np.max(train_days))])], "params": params}
    version = store.add_policy(name, "rule", rule_name, cfg.model_dump_json(), dataset.bars.n_minutes, body, note=note)
    return name, version


def register_uniform_rule(store: Store, rule_name: str, cfg: ExecConfig, minutes_per_day: int, name: str | None = None,
                          note: str = "", **params) -> tuple[str, int]:
    """A rule that needs no data (twap, side_split): the same weights for every symbol."""
    from multiexec.data.bars import MinuteBars
    from multiexec.policies.rules import make_rule_policy

    if rule_name not in ("twap", "side_split"):
        raise MultiexecError(f"rule {rule_name!r} is estimated from data: register it with --data")
    one = np.ones((1, 1, minutes_per_day))
    bars = MinuteBars(["*"], np.array(["2000-01-03"], dtype="datetime64[D]"), np.arange(minutes_per_day), one, one,
                      one, one, one, np.ones(one.shape, bool))
    rule = make_rule_policy(rule_name, bars, np.array([0]), cfg, **params)
    body = {"rule": rule_name, "weights": {}, "default": rule.weights[:, 0, :].tolist(), "params": params}
    version = store.add_policy(name or rule_name, "rule", rule_name, cfg.model_dump_json(), minutes_per_day, body,
                               note=note)
    return name or rule_name, version


def register_checkpoint(store: Store, checkpoint: str | Path, name: str | None = None, cfg: ExecConfig | None = None,
                        note: str = "") -> tuple[str, int]:
    """Register a trained checkpoint (a run folder or its ``best.pt``); the execution settings are the run's
    ``config.json`` (or ``cfg``). It is loaded once here, so a broken file is refused at registration."""
    from multiexec.algos import load_policy
    from multiexec.algos.layout import RunLayout

    p = Path(checkpoint)
    file = RunLayout(p).best if p.is_dir() else p
    if not file.is_file():
        raise MultiexecError(f"checkpoint not found: {file}")
    conf = file.parent / "config.json"
    if cfg is None:
        saved = json.loads(conf.read_text()).get("exec") if conf.is_file() else None
        cfg = ExecConfig(**saved) if saved else ExecConfig()
    # loaded through the project's loader, which checks the checkpoint against these settings (step length, action
    # set, feature layout) where it records them
    policy = load_policy(file, exec_cfg=cfg)
    n_actions = policy.agent.cfg.n_actions
    if n_actions != len(cfg.actions):
        raise MultiexecError(f"{file}: the agent has {n_actions} actions, the execution settings {len(cfg.actions)}")
    blob = file.read_bytes()
    minutes = int(json.loads(conf.read_text()).get("minutes_per_day", 390)) if conf.is_file() else 390
    version = store.add_policy(name or policy.agent.cfg.method, "checkpoint", policy.agent.cfg.method,
                               cfg.model_dump_json(), minutes, {"file": str(file.resolve())}, blob=blob, note=note)
    return name or policy.agent.cfg.method, version


def make_day_policy(row: dict, symbols: list[str], cache_dir: Path | None = None) -> Policy:
    """The policy of one day (its own instance) from a registry row, for the day's symbols in order."""
    params = json.loads(row["params_json"])
    if row["kind"] == "rule":
        from multiexec.policies.rules import ScheduleRule

        weights, default = params.get("weights", {}), params.get("default")
        rows = []
        for i, s in enumerate(symbols):
            w = weights.get(s, default)
            if w is None:
                raise MultiexecError(f"orders[{i}].symbol: {s!r} is not covered by policy {row['name']} "
                                     f"v{row['version']} (estimated on other symbols)")
            rows.append(w)
        return ScheduleRule(row["method"], np.stack([np.asarray(w) for w in rows], axis=1))
    from multiexec.policies.agents import NeuralPolicy

    template = _load_checkpoint(row, cache_dir)
    return NeuralPolicy(template.agent, greedy=template.greedy, rounds=template.rounds, name=row["name"])


def _load_checkpoint(row: dict, cache_dir: Path | None):
    from multiexec.algos import load_policy

    sha = row["sha256"] or hashlib.sha256(row["blob"]).hexdigest()
    with _LOCK:
        if sha not in _AGENTS:
            folder = Path(cache_dir or Path(tempfile.gettempdir()) / "multiexec-serve-policies")
            folder.mkdir(parents=True, exist_ok=True)
            file = folder / f"{sha}.pt"
            if not file.is_file():
                tmp = file.with_suffix(f".{threading.get_ident()}.tmp")
                tmp.write_bytes(row["blob"])
                tmp.replace(file)
            _AGENTS[sha] = load_policy(file)
    return _AGENTS[sha]


def check_fits(row: dict, step_minutes: int, minutes_per_day: int) -> ExecConfig:
    """The version's execution settings, if the day's step length and day length are the ones it was made for."""
    cfg = ExecConfig.model_validate_json(row["exec_json"])
    if step_minutes != cfg.step_minutes:
        raise MultiexecError(f"step_minutes: policy {row['name']} v{row['version']} decides every {cfg.step_minutes} "
                             f"minutes, the day asks for {step_minutes}")
    if row["kind"] == "rule" and minutes_per_day != row["minutes_per_day"]:
        raise MultiexecError(f"minutes_per_day: policy {row['name']} v{row['version']} was made for "
                             f"{row['minutes_per_day']}-minute days")
    if len(step_edges(minutes_per_day, step_minutes)) < 2:
        raise MultiexecError("minutes_per_day: no step fits in the day")
    return cfg


def window_dataset(dataset, window_days: int, valid_days: int):
    """The latest ``window_days`` order days of ``dataset``: all but the last ``valid_days`` to train on, the last
    ``valid_days`` to select on (and to report as the test)."""
    n = len(dataset.orders)
    if window_days > n:
        raise MultiexecError(f"--window-days {window_days}: the data has only {n} order days")
    if not 1 <= valid_days < window_days:
        raise MultiexecError(f"--valid-days must be between 1 and {window_days - 1}")
    ids = list(range(n - window_days, n))
    splits = {"train": ids[:-valid_days], "valid": ids[-valid_days:], "test": ids[-valid_days:]}
    return dataclasses.replace(dataset, splits=splits)


def retrain(store: Store, method: str, dataset, window_days: int, valid_days: int, cfg: ExecConfig, out: Path,
            name: str | None = None, seed: int = 0, train_days: int = 2000, eval_every: int = 200,
            overrides: dict | None = None) -> dict:
    """Train ``method`` on the rolling window of the latest data (a rule: re-estimate it there) and register the
    result as the next version of ``name``. Returns what was registered."""
    from multiexec.policies.rules import RULES

    ds = window_dataset(dataset, window_days, valid_days)
    first, last = ds.orders[ds.splits["train"][0]].date, ds.orders[ds.splits["valid"][-1]].date
    note = f"retrained on {ds.name} {first}..{last} ({window_days} days, last {valid_days} for validation)"
    if method in RULES:
        days_idx = ds.bars.date_index([ds.orders[i].date for i in ds.splits["train"]])
        nm, version = register_rule(store, method, ds, cfg, name=name, train_days=days_idx, note=note)
        return {"name": nm, "version": version, "kind": "rule", "note": note}
    from multiexec.algos.train import TrainConfig, train

    tcfg = TrainConfig(**{"method": method, "seed": seed, "train_days": train_days, "eval_every": eval_every,
                          **(overrides or {})})
    result = train(ds, tcfg, out, cfg, resume=False, progress=False)
    nm, version = register_checkpoint(store, Path(out), name=name, cfg=cfg, note=note)
    return {"name": nm, "version": version, "kind": "checkpoint", "note": note, "best_score": result.best_score,
            "out": str(out)}
