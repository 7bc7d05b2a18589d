"""The registry of learned execution methods: one declaration per method.

Every other module reads a method's properties from its :class:`MethodSpec` (architecture, learner, advantage
estimator, label, family, defaults) instead of comparing its name; this module is the only place where a method's
name is compared. Adding a method is one new entry of :data:`METHODS` (plus, if it needs one, a new architecture
branch keyed on the spec's fields and a new advantage estimator registered in :mod:`multiexec.algos.advantages`).

The rule policies (TWAP, VWAP, AC, side split) are not learned and live in :mod:`multiexec.policies.rules`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from multiexec.errors import MultiexecError

Family = Literal["single-order RL", "multi-agent RL"]
Channel = Literal["none", "commnet", "tarmac"]
Learner = Literal["ppo", "ddqn"]


@dataclass(frozen=True)
class MethodSpec:
    """One learned method (the numbers of rounds and heads are the paper's Table 5)."""

    name: str
    """identifier used in configs, CLIs and run folders"""
    label: str
    """display name in tables and figures"""
    family: Family
    """group of Table 1"""
    team: bool
    """trained on the team reward (eq. 8) with a pooled critic; else on the order's own reward (eq. 7)"""
    channel: Channel
    """communication channel between the agents"""
    learner: Learner
    """learning algorithm: PPO (policy gradient) or Double DQN (action values)"""
    advantage: str
    """name of the default advantage estimator (``multiexec.algos.advantages``); unused by DDQN"""
    intentions: bool = False
    """IaC: K rounds of intended actions fed back into the channel, with a learned Q̂(s, a) for the attribution"""
    imagination: bool = False
    """Intention Sharing: imagined trajectories summarised into the message, with a learned model of the others"""
    rounds: int = 0
    """default communication rounds K (IS: imagination horizon)"""
    heads: int = 1
    """default attention heads of a TarMAC channel"""
    table4: bool = False
    """one of the methods of the action-space study (Table 4)"""
    profile: bool = False
    """shown in the execution-profile figure (Figure 3b)"""

    @property
    def q_learning(self) -> bool:
        """Learns action values (Double DQN) rather than a policy."""
        return self.learner == "ddqn"

    @property
    def single_order(self) -> bool:
        """Optimises each order on its own (eq. 7)."""
        return self.family == "single-order RL"

    @property
    def communicates(self) -> bool:
        """Has a communication channel (needs at least one round)."""
        return self.channel != "none"


METHODS: dict[str, MethodSpec] = {s.name: s for s in (
    MethodSpec("ppo", "PPO", "single-order RL", team=False, channel="none", learner="ppo", advantage="gae",
               table4=True, profile=True),
    MethodSpec("ddqn", "DDQN", "single-order RL", team=False, channel="none", learner="ddqn", advantage="gae"),
    MethodSpec("commnet", "CommNet", "multi-agent RL", team=True, channel="commnet", learner="ppo", advantage="gae",
               rounds=2),
    MethodSpec("tarmac", "TarMAC", "multi-agent RL", team=True, channel="tarmac", learner="ppo", advantage="gae",
               rounds=3, heads=4, table4=True),
    MethodSpec("is", "IS", "multi-agent RL", team=True, channel="tarmac", learner="ppo", advantage="gae",
               imagination=True, rounds=3, heads=4),
    MethodSpec("iac_c", "IaC^C", "multi-agent RL", team=True, channel="commnet", learner="ppo",
               advantage="iac_attribution", intentions=True, rounds=3, profile=True),
    MethodSpec("iac_t", "IaC^T", "multi-agent RL", team=True, channel="tarmac", learner="ppo",
               advantage="iac_attribution", intentions=True, rounds=3, heads=2, table4=True, profile=True),
)}

ROUNDS_SWEEP_METHOD = "iac_t"
"""the method whose number of rounds K is swept (Figure 4b)"""


def method_names() -> tuple[str, ...]:
    """Every registered method, in the order of the paper's tables."""
    return tuple(METHODS)


def methods_help() -> str:
    """The method names for CLI help texts."""
    return ", ".join(METHODS)


def get_method(name: str) -> MethodSpec:
    """The spec of ``name``; an unknown name raises :class:`MultiexecError` listing the choices."""
    spec = METHODS.get(name)
    if spec is None:
        raise MultiexecError(f"unknown method {name!r}; choose one of {methods_help()}")
    return spec


def label(name: str) -> str:
    """Display label of a learned method, or the name itself for anything else (e.g. a rule)."""
    spec = METHODS.get(name)
    return spec.label if spec is not None else name


def methods_where(**flags: object) -> tuple[str, ...]:
    """Names of the methods whose spec fields equal ``flags`` (e.g. ``methods_where(intentions=True)``)."""
    return tuple(n for n, s in METHODS.items() if all(getattr(s, k) == v for k, v in flags.items()))
