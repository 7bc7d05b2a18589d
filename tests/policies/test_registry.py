"""The registry of learned methods: every method trains and acts through its declaration, unknown names fail in one
line, and no module but the registry compares a method's name."""

import ast
from pathlib import Path

import numpy as np
import pytest
import torch

from multiexec.algos.advantages import ESTIMATORS, estimator_names, get_estimator
from multiexec.algos.learners import exec_ddqn_config
from multiexec.algos.ppo import PPOConfig, collect_rollout, ppo_loss
from multiexec.algos.rl import gae
from multiexec.algos.train import TrainConfig, train
from multiexec.errors import MultiexecError
from multiexec.execution.env import F_NOW, F_SEQ, MultiOrderEnv
from multiexec.policies.agents import AgentConfig, ExecAgent, NeuralPolicy
from multiexec.policies.registry import METHODS, get_method, method_names, methods_help
from multiexec.testing import TINY_EXEC, random_dataset

torch.set_num_threads(1)
SRC = Path(__file__).resolve().parents[2] / "src" / "multiexec"


@pytest.fixture(scope="module")
def tiny_random():
    return random_dataset()


@pytest.mark.parametrize("name", method_names())
def test_every_method_trains_and_acts_through_the_registry(name, tiny_random, tmp_path):
    spec = get_method(name)
    cfg = TrainConfig(method=name, train_days=2, eval_every=2, rollout_days=2, ddqn_rollout_days=2,
                      ddqn=exec_ddqn_config(batch_size=8, train_frequency=4))
    assert cfg.spec is spec and cfg.days_per_step == 2
    res = train(tiny_random, cfg, tmp_path, TINY_EXEC, progress=False)
    agent = res.agent
    assert agent.spec is spec
    assert agent.cfg.rounds == spec.rounds and agent.cfg.heads == spec.heads
    assert agent.cfg.team == spec.team
    assert hasattr(agent, "qhead") == spec.q_learning
    assert hasattr(agent, "qhat") == spec.intentions
    assert hasattr(agent, "channel") == spec.communicates
    env = MultiOrderEnv(tiny_random.bars, tiny_random.orders, TINY_EXEC)
    pol = NeuralPolicy(agent)
    obs = env.reset(np.array(tiny_random.splits["test"]))
    a = pol.act(obs)
    assert a.shape == obs.mask.shape and a.dtype == np.int64
    assert pol.intended.shape[0] == (spec.rounds if spec.intentions else 1)


def test_declarations_are_complete():
    assert method_names() == ("ppo", "ddqn", "commnet", "tarmac", "is", "iac_c", "iac_t")
    assert methods_help() == ", ".join(method_names())
    for name, spec in METHODS.items():
        assert spec.name == name and spec.label
        assert spec.advantage in ESTIMATORS  # every default estimator is registered
        assert spec.team == (spec.family == "multi-agent RL")
        assert spec.communicates == (spec.rounds > 0)
    assert [s.label for s in METHODS.values() if s.intentions] == ["IaC^C", "IaC^T"]


def test_unknown_method_is_one_clear_line():
    with pytest.raises(MultiexecError) as exc:
        get_method("maddpg")
    msg = str(exc.value)
    assert "\n" not in msg and "unknown method 'maddpg'" in msg and methods_help() in msg
    with pytest.raises(ValueError, match="unknown method"):
        TrainConfig(method="maddpg")
    with pytest.raises(ValueError, match="unknown method"):
        AgentConfig(method="maddpg", f_seq=F_SEQ, f_now=F_NOW)


def test_unknown_estimator():
    with pytest.raises(MultiexecError, match="unknown advantage estimator"):
        get_estimator("nope")
    with pytest.raises(ValueError, match="unknown advantage estimator"):
        PPOConfig(advantage="nope")


@pytest.mark.parametrize("estimator", estimator_names())
def test_every_estimator_gives_a_finite_loss(estimator, tiny_random):
    """Each registered estimator (the investigation's variants too) on IaC^T with sampled intentions."""
    env = MultiOrderEnv(tiny_random.bars, tiny_random.orders, TINY_EXEC)
    torch.manual_seed(0)
    agent = ExecAgent(AgentConfig(method="iac_t", n_actions=env.n_actions, f_seq=F_SEQ, f_now=F_NOW,
                                  intentions="sampled"))
    roll = collect_rollout(env, agent, np.arange(4), 100.0)
    adv, ret = gae(roll.rewards, roll.values, 1.0, 0.9)
    loss, stats = ppo_loss(agent, roll, torch.arange(4), adv, ret, PPOConfig(advantage=estimator))
    assert torch.isfinite(loss) and abs(stats["approx_kl"]) < 1e-6
    loss.backward()
    assert agent.decision[0].weight.grad is not None


def test_default_estimator_is_the_methods_own(tiny_random):
    """Naming the method's own estimator gives the same loss as leaving it to the registry."""
    env = MultiOrderEnv(tiny_random.bars, tiny_random.orders, TINY_EXEC)
    for name in ("ppo", "iac_t"):
        torch.manual_seed(0)
        agent = ExecAgent(AgentConfig(method=name, n_actions=env.n_actions, f_seq=F_SEQ, f_now=F_NOW))
        roll = collect_rollout(env, agent, np.arange(4), 100.0)
        adv, ret = gae(roll.rewards, roll.values, 1.0, 0.9)
        a, _ = ppo_loss(agent, roll, torch.arange(4), adv, ret, PPOConfig())
        b, _ = ppo_loss(agent, roll, torch.arange(4), adv, ret, PPOConfig(advantage=get_method(name).advantage))
        assert torch.equal(a, b)


# names that other namespaces use for their own things: the game's two agent algorithms, the network's channel kinds
ALLOWED = {"game": {"ddqn", "ppo"}, "policies/nets.py": {"commnet", "tarmac"}}


def _allowed(rel: str) -> set[str]:
    return set().union(*(v for k, v in ALLOWED.items() if rel == k or rel.startswith(k + "/")))


def _literals(node: ast.AST) -> set[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return set().union(*(_literals(e) for e in node.elts)) if node.elts else set()
    return set()


def method_name_comparisons(src: Path = SRC) -> list[str]:
    """``file:line: name`` of every ``==``/``!=``/``in``/``not in`` against a literal method name outside the registry."""
    names = set(method_names())
    found = []
    for f in sorted(src.rglob("*.py")):
        rel = f.relative_to(src).as_posix()
        if rel == "policies/registry.py":
            continue
        ok = _allowed(rel)
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Compare):
                continue
            if not any(isinstance(op, (ast.Eq, ast.NotEq, ast.In, ast.NotIn)) for op in node.ops):
                continue
            hits = set().union(*(_literals(x) for x in [node.left, *node.comparators])) & names - ok
            found += [f"{rel}:{node.lineno}: {h}" for h in sorted(hits)]
    return found


def test_only_the_registry_compares_method_names():
    assert method_name_comparisons() == []


def test_the_name_check_finds_comparisons(tmp_path):
    (tmp_path / "a.py").write_text('def f(m):\n    return m == "ddqn" or m in ("iac_c", "iac_t") or m == "twap"\n')
    assert method_name_comparisons(tmp_path) == ["a.py:2: ddqn", "a.py:2: iac_c", "a.py:2: iac_t"]
