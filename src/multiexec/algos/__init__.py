"""Learning algorithms for the execution agents: PPO with IaC's action value attribution, DDQN, training loop,
multi-seed runner, comparison and report. Heavy modules are imported on use."""

from __future__ import annotations

from pathlib import Path


def read_checkpoint(checkpoint: str | Path) -> tuple[Path, dict]:
    """``(path, blob)`` of a ``best.pt`` file or a run folder; anything that is not a multiexec agent checkpoint is
    a :class:`~multiexec.errors.MultiexecError` naming the file."""
    import pickle
    import zipfile

    import torch

    from multiexec.algos.layout import RunLayout
    from multiexec.errors import MultiexecError

    p = Path(checkpoint)
    if p.is_dir():
        p = RunLayout(p).best
        if not p.is_file():
            raise MultiexecError(f"--checkpoint {checkpoint}: the folder has no best.pt (not a finished training run)")
    if not p.is_file():
        raise MultiexecError(f"--checkpoint {p}: file not found")
    try:
        blob = torch.load(p, map_location="cpu", weights_only=False)
    except (pickle.UnpicklingError, zipfile.BadZipFile, RuntimeError, EOFError, ValueError, TypeError, OSError,
            AttributeError, ImportError, UnicodeDecodeError) as exc:
        raise MultiexecError(f"--checkpoint {p}: not a multiexec checkpoint ({type(exc).__name__}: "
                             f"{' '.join(str(exc).split())[:120]})") from None
    if not isinstance(blob, dict) or not {"config", "state"} <= set(blob):
        what = "a training state (last.pt); give best.pt or the run folder" if isinstance(blob, dict) and "learner" in \
            blob else "not a multiexec agent checkpoint (no config/state)"
        raise MultiexecError(f"--checkpoint {p}: {what}")
    return p, blob


def checkpoint_problems(blob: dict, method: str | None = None, exec_cfg=None) -> list[str]:
    """Where a checkpoint does not fit the evaluation asked for: the method named in ``--policy``, the action set,
    step length and feature layout of ``exec_cfg`` and of the environment. Each entry names both sides."""
    from multiexec.algos.train import feature_layout
    from multiexec.execution.env import F_NOW, F_SEQ

    cfg, meta = blob.get("config", {}), blob.get("extra", {}) or {}
    have = cfg.get("method")
    out = []
    if method is not None and have != method:
        out.append(f"--policy {method} but the checkpoint holds a {have} model")
    layout = meta.get("features")
    if layout is not None and layout != feature_layout():
        out.append(f"feature layout differs: checkpoint {layout}, this version {feature_layout()}")
    elif (cfg.get("f_seq"), cfg.get("f_now")) != (F_SEQ, F_NOW):
        out.append(f"feature counts differ: checkpoint {cfg.get('f_seq')}+{cfg.get('f_now')}, this version "
                   f"{F_SEQ}+{F_NOW}")
    if exec_cfg is not None:
        if "step_minutes" in meta and meta["step_minutes"] != exec_cfg.step_minutes:
            out.append(f"step length differs: the checkpoint was trained with {meta['step_minutes']}-minute steps, "
                       f"the evaluation uses {exec_cfg.step_minutes}")
        if "actions" in meta and list(meta["actions"]) != list(exec_cfg.actions):
            out.append(f"action set differs: checkpoint {meta['actions']}, evaluation {list(exec_cfg.actions)}")
        elif cfg.get("n_actions") is not None and cfg["n_actions"] != len(exec_cfg.actions):
            out.append(f"action count differs: checkpoint {cfg['n_actions']}, evaluation {len(exec_cfg.actions)}")
    return out


def load_policy(checkpoint: str | Path, rounds: int | None = None, method: str | None = None, exec_cfg=None):
    """A greedy :class:`~multiexec.policies.agents.NeuralPolicy` from a ``best.pt`` file or a run folder. With
    ``method`` and ``exec_cfg``, the checkpoint must hold that method, trained with the same action set, step length
    and feature layout (else a :class:`~multiexec.errors.MultiexecError` naming both sides)."""
    from multiexec.errors import MultiexecError
    from multiexec.policies.agents import AgentConfig, ExecAgent, NeuralPolicy

    p, blob = read_checkpoint(checkpoint)
    problems = checkpoint_problems(blob, method, exec_cfg)
    if problems:
        raise MultiexecError(f"--checkpoint {p}: " + "; ".join(problems))
    try:
        agent = ExecAgent(AgentConfig(**blob["config"]))
        agent.load_state_dict(blob["state"])
    except (KeyError, TypeError, RuntimeError, ValueError) as exc:
        raise MultiexecError(f"--checkpoint {p}: not a multiexec agent checkpoint "
                             f"({' '.join(str(exc).split())[:160]})") from None
    return NeuralPolicy(agent, rounds=rounds)
