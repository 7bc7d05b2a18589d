"""Learning algorithms for the execution agents: PPO with IaC's action value attribution, DDQN, training loop,
multi-seed runner, comparison and report. Heavy modules are imported on use."""

from __future__ import annotations

from pathlib import Path


def load_policy(checkpoint: str | Path, rounds: int | None = None):
    """A greedy :class:`~multiexec.policies.agents.NeuralPolicy` from a ``best.pt`` file or a run folder."""
    from multiexec.algos.layout import RunLayout
    from multiexec.policies.agents import ExecAgent, NeuralPolicy

    p = Path(checkpoint)
    if p.is_dir():
        p = RunLayout(p).best
    return NeuralPolicy(ExecAgent.load(p), rounds=rounds)
