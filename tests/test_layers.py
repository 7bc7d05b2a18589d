"""The one-way floors of the package (issue 10, §2): read every module's ``multiexec.*`` imports with ``ast`` and
check that no import runs up a floor, that packages on one floor do not import each other, and that there is no
import cycle between modules or packages.

Floors (a module may import its own package and anything on a lower floor):

- 0: ``multiexec.errors``, ``multiexec.paths`` and the root ``multiexec/__init__.py`` (they may import each other);
- 1: ``data``, ``lob`` (the data at the bottom and the simulated market beside it). One direction between them is
  allowed, ``lob -> data`` (a market may read bars and orders, data never depends on a market); today neither
  imports the other;
- 2: ``execution`` (the environment and its markets);
- 3: ``policies``;
- 4: ``algos`` (learning);
- 5: the studies, ``game``, ``intags``, ``serve``: they never import each other;
- 6: the command lines: ``multiexec/cli.py`` and every ``multiexec/<package>/cli.py``. A CLI module may import
  anything; nothing imports a CLI module except ``multiexec/cli.py``.

``multiexec.testing`` (helpers for the tests and experiments) sits on the CLI floor too: it may import anything and
no library module may import it.

Every import counts: module level, inside functions, and under ``if TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
ROOT = "multiexec"

FLOORS: dict[str, int] = {
    ROOT: 0, "errors": 0, "paths": 0,
    "data": 1, "lob": 1,
    "execution": 2,
    "policies": 3,
    "algos": 4,
    "game": 5, "intags": 5, "serve": 5,
}
TOP = 6  # cli modules and multiexec.testing
ALLOWED_SIDEWAYS = {("lob", "data")}  # (importer, imported) on the same floor


# ---------------------------------------------------------------------------------------------------------------------
# the import graph

def module_files(src: Path = SRC) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package."""
    out = {}
    for f in sorted((src / ROOT).rglob("*.py")):
        parts = list(f.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = f
    return out


def _resolve(name: str, modules: Iterable[str]) -> str | None:
    """The longest known module that ``name`` is or lies in (``multiexec.x.y.Class`` -> ``multiexec.x.y``)."""
    mods = set(modules)
    parts = name.split(".")
    for k in range(len(parts), 0, -1):
        cand = ".".join(parts[:k])
        if cand in mods:
            return cand
    return None


def imports_of(module: str, path: Path, modules: Iterable[str]) -> set[str]:
    """The ``multiexec`` modules that ``module`` imports anywhere in its file."""
    mods = set(modules)
    is_pkg = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_pkg else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                pkg = ".".join(base + ([node.module] if node.module else []))
            else:
                pkg = node.module or ""
            # `from pkg import sub` imports the submodule pkg.sub where it is one, else pkg itself
            names = [f"{pkg}.{a.name}" if f"{pkg}.{a.name}" in mods else pkg for a in node.names]
        else:
            continue
        for name in names:
            if name == ROOT or name.startswith(ROOT + "."):
                target = _resolve(name, mods)
                if target is not None and target != module:
                    out.add(target)
    return out


def import_graph(src: Path = SRC) -> dict[str, set[str]]:
    files = module_files(src)
    return {m: imports_of(m, f, files) for m, f in files.items()}


# ---------------------------------------------------------------------------------------------------------------------
# the rules

def package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ROOT


def is_top(module: str) -> bool:
    """A CLI module or the test helpers: the top floor."""
    return module.rsplit(".", 1)[-1] == "cli" or module == f"{ROOT}.testing"


def floor_of(module: str) -> int:
    if is_top(module):
        return TOP
    pkg = package_of(module)
    if pkg not in FLOORS:
        raise KeyError(f"{module}: package {pkg!r} has no floor in tests/test_layers.py; give it one")
    return FLOORS[pkg]


def layer_violations(graph: Mapping[str, Iterable[str]]) -> list[str]:
    """One line per import that breaks the floors."""
    bad = []
    for src in sorted(graph):
        for dst in sorted(graph[src]):
            if is_top(dst) and dst != src:
                if src != f"{ROOT}.cli":
                    what = "the test helpers" if dst == f"{ROOT}.testing" else "a CLI module"
                    bad.append(f"{src} -> {dst}: {what} (only {ROOT}.cli may import a CLI module, no library module "
                               "the test helpers)")
                continue
            if is_top(src):
                continue
            ps, pd = package_of(src), package_of(dst)
            if ps == pd:
                continue
            fs, fd = floor_of(src), floor_of(dst)
            if fd > fs:
                bad.append(f"{src} -> {dst}: runs up from floor {fs} ({ps}) to floor {fd} ({pd})")
            elif fd == fs and fs > 0 and (ps, pd) not in ALLOWED_SIDEWAYS:
                bad.append(f"{src} -> {dst}: sideways between {ps} and {pd} on floor {fs}")
    return bad


def cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan), each as one cycle through it."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    comps: list[list[str]] = []
    counter = [0]
    nodes = set(graph) | {d for ds in graph.values() for d in ds}

    def strong(v: str) -> None:  # iterative Tarjan
        work = [(v, iter(sorted(graph.get(v, ()))))]
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        while work:
            node, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph.get(w, ())))))
                    break
                if w in on:
                    low[node] = min(low[node], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on.discard(w)
                        comp.append(w)
                        if w == node:
                            break
                    if len(comp) > 1:
                        comps.append(sorted(comp))

    for v in sorted(nodes):
        if v not in index:
            strong(v)
    return [_one_cycle(c, graph) for c in sorted(comps)]


def _one_cycle(comp: list[str], graph: Mapping[str, Iterable[str]]) -> list[str]:
    """A cycle a -> ... -> a inside the component (breadth first from its first node)."""
    inside = set(comp)
    start = comp[0]
    prev: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph.get(v, ())):
                if w not in inside:
                    continue
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(prev[path[-1]])
                    return [start] + path[::-1][1:] + [start] if len(path) > 1 else [start, v, start]
                if w not in prev:
                    prev[w] = v
                    nxt.append(w)
        frontier = nxt
    return comp


def package_graph(graph: Mapping[str, Iterable[str]]) -> dict[str, set[str]]:
    """Imports between packages (CLI modules and the test helpers as their own nodes: they sit above everything)."""
    def node(m: str) -> str:
        return m if is_top(m) else package_of(m)

    out: dict[str, set[str]] = {}
    for s, ds in graph.items():
        out.setdefault(node(s), set()).update(node(d) for d in ds if node(d) != node(s))
    return out


def _fmt_cycles(cs: list[list[str]]) -> str:
    return "\n".join("  " + " -> ".join(c) for c in cs)


# ---------------------------------------------------------------------------------------------------------------------
# the package as it is

@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph()


def test_every_package_has_a_floor(graph):
    unknown = sorted({package_of(m) for m in graph if not is_top(m) and package_of(m) not in FLOORS})
    assert not unknown, f"packages without a floor in tests/test_layers.py: {unknown}"


def test_no_upward_or_sideways_import(graph):
    bad = layer_violations(graph)
    assert not bad, "imports that break the floors (see tests/test_layers.py):\n  " + "\n  ".join(bad)


def test_no_module_cycle(graph):
    cs = cycles(graph)
    assert not cs, "import cycles between modules:\n" + _fmt_cycles(cs)


def test_no_package_cycle(graph):
    cs = cycles(package_graph(graph))
    assert not cs, "import cycles between packages:\n" + _fmt_cycles(cs)


def test_the_graph_is_read(graph):
    # a few edges the checker must see: module level, in a function, `from pkg import submodule`
    assert f"{ROOT}.errors" in graph[f"{ROOT}.policies.rules"]
    assert f"{ROOT}.game.params" in graph[f"{ROOT}.game.study"]
    assert f"{ROOT}.lob.engine" in graph[f"{ROOT}.lob.sim"]
    assert f"{ROOT}.data.cli" in graph[f"{ROOT}.cli"]


# ---------------------------------------------------------------------------------------------------------------------
# the checker on planted graphs

def _g(*edges: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for e in edges:
        a, b = (f"{ROOT}.{x.strip()}" if x.strip() != ROOT else ROOT for x in e.split("->"))
        out.setdefault(a, set()).add(b)
        out.setdefault(b, set())
    return out


def test_checker_accepts_downward_imports():
    g = _g("game.theory -> policies.schedules", "policies.rules -> execution.env", "execution.env -> data.bars",
           "data.bars -> errors", "lob.market -> data.orders", "algos.cli -> game.study", "cli -> algos.cli",
           "execution.cli -> algos.train", "policies.schedules -> errors", "game.study -> game.theory")
    assert layer_violations(g) == []
    assert cycles(g) == []


@pytest.mark.parametrize("edge, words", [
    ("policies.rules -> game.theory", "runs up from floor 3 (policies) to floor 5 (game)"),
    ("execution.env -> algos.ppo", "runs up from floor 2"),
    ("errors -> data.bars", "runs up from floor 0"),
    ("multiexec -> algos", "runs up from floor 0"),
    ("game.study -> intags.sim", "sideways between game and intags"),
    ("data.bars -> lob.sim", "sideways between data and lob"),
    ("algos.train -> execution.cli", "a CLI module"),
    ("game.cli -> lob.cli", "a CLI module"),
    ("policies.rules -> testing", "the test helpers"),
])
def test_checker_flags_a_planted_import(edge, words):
    bad = layer_violations(_g(edge, "game.theory -> errors"))
    assert len(bad) == 1 and words in bad[0], bad


def test_checker_reports_cycles():
    g = _g("game.experiment -> game.ppo_agents", "game.ppo_agents -> game.agents", "game.agents -> game.experiment",
           "game.agents -> game.params")
    assert cycles(g) == [[f"{ROOT}.game.agents", f"{ROOT}.game.experiment", f"{ROOT}.game.ppo_agents",
                          f"{ROOT}.game.agents"]]
    assert cycles(package_graph(_g("policies.rules -> game.theory", "game.theory -> policies.nets"))) == [
        ["game", "policies", "game"]]


def test_checker_reads_every_kind_of_import(tmp_path):
    pkg = tmp_path / ROOT
    (pkg / "game").mkdir(parents=True)
    (pkg / "policies").mkdir()
    for f in ("__init__.py", "errors.py", "game/__init__.py", "game/a.py", "game/b.py", "policies/__init__.py",
              "policies/rules.py"):
        (pkg / f).touch()
    (pkg / "policies" / "rules.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "from ..errors import MultiexecError\n"
        "if TYPE_CHECKING:\n    from multiexec.game.a import X\n"
        "def f():\n    import multiexec.game.b\n    from multiexec.game import b\n")
    (pkg / "game" / "a.py").write_text("from . import b\nfrom .b import Y\n")
    g = import_graph(tmp_path)
    assert g[f"{ROOT}.policies.rules"] == {f"{ROOT}.errors", f"{ROOT}.game.a", f"{ROOT}.game.b"}
    assert g[f"{ROOT}.game.a"] == {f"{ROOT}.game.b"}
    assert len(layer_violations(g)) == 2
