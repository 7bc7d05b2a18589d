"""Folder layouts shared by the training loop, the runner, the comparison and the report: every path of a run
folder and of a comparison folder is built here, nowhere else.

A run folder (:class:`RunLayout`)::

    config.json    the TrainConfig and the ExecConfig
    metrics.csv    one row per learning step (kind=train) and per validation (kind=valid)
    tb/            TensorBoard events
    last.pt        everything needed to resume
    best.pt        the agent with the best validation score
    summary.json   written when the training is complete
    test/          the test-split evaluation (:class:`EvalLayout`)

A comparison folder (:class:`CompareLayout`)::

    <method>/seed<k>/             training run + test evaluation
    rounds_K<k>/seed<s>/          the K sweep (Figure 4b)
    actions_<i>/<method>/seed<s>/ action-space variants (Table 4)
    rules/                        rule baselines on the test split
    compare_config.json data_summary.csv <table>.csv <figure>.png
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class EvalLayout:
    """The test-split evaluation of a run (``<run>/test``)."""

    root: Path

    @property
    def metrics(self) -> Path:
        """EG, ARR, POS, GLR, TOC, fill, team_return on the test split"""
        return self.root / "metrics.json"

    @property
    def orders(self) -> Path:
        return self.root / "orders.csv"

    @property
    def days(self) -> Path:
        return self.root / "days.csv"

    @property
    def profile(self) -> Path:
        """average requested (intended) and executed fraction per step, buys and sells"""
        return self.root / "profile.json"

    @property
    def rounds(self) -> Path:
        """methods with intention rounds: metrics when acting with the intended actions of round k"""
        return self.root / "rounds.csv"

    @property
    def convergence(self) -> Path:
        """methods with intention rounds: mean change of the intended actions between rounds"""
        return self.root / "convergence.json"


@dataclass(frozen=True)
class RunLayout:
    """The files of one training run."""

    root: Path

    def __init__(self, root: str | Path) -> None:
        object.__setattr__(self, "root", Path(root))

    @property
    def config(self) -> Path:
        return self.root / "config.json"

    @property
    def metrics(self) -> Path:
        """the training log"""
        return self.root / "metrics.csv"

    @property
    def tensorboard(self) -> Path:
        return self.root / "tb"

    @property
    def checkpoint(self) -> Path:
        """``last.pt``: everything needed to resume"""
        return self.root / "last.pt"

    @property
    def checkpoint_tmp(self) -> Path:
        return self.root / "last.pt.tmp"

    @property
    def best(self) -> Path:
        """``best.pt``: the selected agent"""
        return self.root / "best.pt"

    @property
    def summary(self) -> Path:
        return self.root / "summary.json"

    @property
    def test(self) -> EvalLayout:
        return EvalLayout(self.root / "test")


@dataclass(frozen=True)
class CompareLayout:
    """The folders and files of one comparison (``multiexec compare``, one data source)."""

    root: Path

    def __init__(self, root: str | Path) -> None:
        object.__setattr__(self, "root", Path(root))

    def run(self, method: str, seed: int) -> RunLayout:
        """A run of Table 1."""
        return RunLayout(self.root / method / f"seed{seed}")

    def rounds_run(self, rounds: int, seed: int) -> RunLayout:
        """A run of the K sweep."""
        return RunLayout(self.root / f"rounds_K{rounds}" / f"seed{seed}")

    def actions_run(self, index: int, method: str, seed: int) -> RunLayout:
        """A run of the action-space variant ``index`` (Table 4)."""
        return RunLayout(self.root / f"actions_{index}" / method / f"seed{seed}")

    @property
    def rules(self) -> Path:
        return self.root / "rules"

    def rule_orders(self, rule: str) -> Path:
        return self.rules / f"orders_{rule}.csv"

    @property
    def config(self) -> Path:
        return self.root / "compare_config.json"

    @property
    def data_summary(self) -> Path:
        return self.root / "data_summary.csv"

    def table(self, name: str) -> Path:
        """``<name>.csv``: table1, table4, rounds_K, significance, timing"""
        return self.root / f"{name}.csv"

    def figure(self, name: str) -> Path:
        """a figure file, e.g. ``fig8_learning_curves.png``"""
        return self.root / name
