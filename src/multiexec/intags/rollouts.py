"""Rollouts of a market with the INTAGS experimental agent, runners (serial, process pool, Ray) and the cached
"real" feedback (issue 11).

One rollout = one :class:`~multiexec.lob.sim.Simulation` of a market config for one seed with one
:class:`~multiexec.lob.execution.IntagsAgent` (the paper's D.1 set-up: T = 10 steps, parent 50 shares, child 10),
run only as far as the agent needs: the market opens, runs ``warmup_s`` (30 s, ABIDES-gym's ``first_interval``),
the agent decides every ``step_s`` (60 s, ABIDES-gym's step) ``n_steps`` times and observes once more one step
later; the simulation stops there. The day is *not* shortened in the config (the noise agents' wake-up times
stay spread over the whole day, as in the full-day market): the kernel is simply not run past the window.

A rollout returns a :class:`RolloutLog` (the agent's per-step rows as arrays and its episode reward); the feedback
quantities of :mod:`multiexec.intags.feedback` are computed from it. Every rollout is a pure function of (config,
agent spec, seed), so the serial, process-pool and Ray runners return the same numbers.

Markets by name: every :func:`multiexec.lob.config.get_config` name plus ``rmsc04-perturbed`` (:func:`perturbed_rmsc04`,
the near pair of the metric study) and ``<base>-pov<scale>`` (a one-symbol market with its market makers' size per
level scaled, e.g. ``rmsc03-pov0.5``).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from multiexec.errors import MultiexecError
from multiexec.lob.config import MarketConfig, get_config

AGENT_NAME = "intags"
AGENT_SEED_OFFSET = 1 << 33  # the agent's own stream: master seed = market seed + offset (never a market seed)
CACHE_VERSION = 1

# per-step columns kept from the agent's log (float64 arrays)
COLUMNS = ("step", "time_ns", "mid", "spread", "spread_bp", "imbalance_5", "imbalance_all", "direction", "price_impact",
           "propensity", "action", "mid_after", "spread_after", "spread_bp_after", "imbalance_5_after",
           "imbalance_all_after", "direction_after", "price_impact_after", "reward", "executed_after")


class AgentSpec(BaseModel):
    """The experimental agent of a rollout (defaults: the paper's D.1 set-up and our propensity)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n_steps: int = Field(10, ge=1, description="decisions T")
    parent: int = Field(50, gt=0, description="parent order, shares")
    child: int = Field(10, gt=0, description="child order, shares")
    step_s: float = Field(60.0, gt=0, description="seconds between decisions")
    warmup_s: float = Field(30.0, ge=0, description="market time before the first decision")
    side: int = Field(1, description="+1 buy, -1 sell")
    weights: tuple[float, float, float] = (0.3, 0.75, -0.25)
    clip: tuple[float, float] = (0.05, 0.95)

    def window_s(self) -> float:
        """Market seconds a rollout simulates."""
        return self.warmup_s + self.n_steps * self.step_s


@dataclass
class RolloutLog:
    """One rollout: the agent's per-step rows (``rows[col]`` arrays, one entry per order-placing step) and the
    episode's totals."""

    seed: int
    rows: dict[str, np.ndarray]
    episode_reward: float
    executed: int
    entry_mid: float
    n_events: int

    @property
    def n(self) -> int:
        return len(self.rows["action"])


# ---------------------------------------------------------------------------------------------------------------------
# markets

def perturbed(base: str = "rmsc04", scale: float = 0.8) -> MarketConfig:
    """``base`` (one symbol) with its market makers' size per level (``pov``) scaled by ``scale``, everything else
    unchanged; named ``<base>-pov<scale>``."""
    cfg = get_config(base)
    if len(cfg.symbols) != 1:
        raise MultiexecError(f"market {base!r}: a perturbed market needs a one-symbol base")
    if not 0 < scale <= 10:
        raise MultiexecError(f"market {base}-pov{scale}: the scale must lie in (0, 10]")
    sym = cfg.symbols[0]
    mm = sym.market_makers.model_copy(update={"pov": sym.market_makers.pov * scale})
    return cfg.model_copy(update={"name": f"{base}-pov{scale:g}", "symbols": [sym.model_copy(update={"market_makers": mm})]})


def perturbed_rmsc04(scale: float = 0.8) -> MarketConfig:
    """rmsc04 with its market makers' ladders ``scale`` as deep (default 0.8: 20 % thinner), everything else
    unchanged: the *near* market of the metric study, named ``rmsc04-perturbed``."""
    return perturbed("rmsc04", scale).model_copy(update={"name": "rmsc04-perturbed"})


EXTRA_MARKETS: dict[str, Callable[[], MarketConfig]] = {"rmsc04-perturbed": perturbed_rmsc04}


def market_config(market: str | MarketConfig) -> MarketConfig:
    """A market config by name (``get_config`` names, :data:`EXTRA_MARKETS` and ``<base>-pov<scale>``, e.g.
    ``rmsc03-pov0.5``: :func:`perturbed`), or the config itself."""
    if isinstance(market, MarketConfig):
        return market
    if market in EXTRA_MARKETS:
        return EXTRA_MARKETS[market]()
    if "-pov" in market:
        base, _, scale = market.rpartition("-pov")
        try:
            value = float(scale)
        except ValueError:
            raise MultiexecError(f"market {market!r}: <base>-pov<scale> takes a number, e.g. rmsc04-pov0.5") from None
        return perturbed(base, value).model_copy(update={"name": market})
    return get_config(market)


def check_window(config: MarketConfig, agent: AgentSpec) -> None:
    day_s = (config.close_ns - config.open_ns) / 1e9
    if agent.window_s() > day_s:
        raise MultiexecError(f"market {config.name!r}: the agent's window ({agent.window_s():.0f} s) is longer than the "
                             f"{day_s:.0f}-s day")
    if agent.side not in (1, -1):
        raise MultiexecError(f"agent side must be +1 or -1, got {agent.side}")


# ---------------------------------------------------------------------------------------------------------------------
# one rollout

def start_rollout(config: MarketConfig, seed: int, agent: AgentSpec = AgentSpec()):
    """The market of ``config`` for ``seed`` at its open with the experimental agent attached:
    ``(simulation, agent, end of the agent's window in ns)``."""
    from multiexec.lob.execution import IntagsAgent
    from multiexec.lob.sim import Simulation

    check_window(config, agent)
    sim = Simulation(config, seed=int(seed), external=[(AGENT_NAME, 0)])
    start = sim.open_ns + int(round(agent.warmup_s * 1e9))
    end = start + int(round(agent.n_steps * agent.step_s * 1e9))
    ag = IntagsAgent(AGENT_NAME, side=agent.side, quantity=agent.parent, start_ns=start, end_ns=end,
                     freq_s=agent.step_s, child_size=agent.child, weights=tuple(agent.weights), clip=tuple(agent.clip),
                     seed=int(seed) + AGENT_SEED_OFFSET)
    ag.agent_id = sim.agent(AGENT_NAME)
    return sim, ag, end


def rollout(config: MarketConfig, seed: int, agent: AgentSpec = AgentSpec()) -> RolloutLog:
    """Run ``config`` for ``seed`` with the experimental agent and return its log."""
    from multiexec.lob.execution import run_execution

    sim, ag, end = start_rollout(config, seed, agent)
    run_execution(sim, [ag], until_ns=end)
    return rollout_log(sim, ag, seed)


def rollout_log(sim, ag, seed: int) -> RolloutLog:
    """The log of a finished rollout of agent ``ag`` in ``sim``."""
    rows = {c: np.array([r[c] for r in ag.log], np.float64) for c in COLUMNS}
    return RolloutLog(seed=int(seed), rows=rows, episode_reward=ag.episode_reward(sim), executed=ag.executed(sim),
                      entry_mid=float(ag.entry_mid), n_events=sim.n_events)


def _rollout_chunk(args: tuple[dict, list[int], dict]) -> list[RolloutLog]:
    """Worker entry: (config dump, seeds, agent dump) -> logs (module level, so it pickles for pools and Ray)."""
    cfg_d, seeds, agent_d = args
    cfg = MarketConfig.model_validate(cfg_d)
    agent = AgentSpec.model_validate(agent_d)
    return [rollout(cfg, s, agent) for s in seeds]


def _chunks(seeds: Sequence[int], size: int) -> list[list[int]]:
    seeds = [int(s) for s in seeds]
    return [seeds[i:i + size] for i in range(0, len(seeds), size)]


def run_rollouts(market: str | MarketConfig, seeds: Sequence[int], agent: AgentSpec = AgentSpec(), runner: str = "local",
                 workers: int | None = None, progress: bool = True, chunk: int = 10,
                 ray_address: str | None = None) -> list[RolloutLog]:
    """Rollouts of ``market`` for every seed, in seed order. ``runner``: ``serial`` (this process), ``local`` (a
    process pool of ``workers``, default: the machine's cores; one worker runs in this process) or ``ray`` (Ray tasks
    on ``ray_address`` or a local Ray started for the call). Same seeds -> same logs with every runner. The pool
    starts its workers with ``spawn``: a script that calls this needs the ``if __name__ == "__main__":`` guard."""
    from tqdm.auto import tqdm

    cfg = market_config(market)
    check_window(cfg, agent)
    seeds = [int(s) for s in seeds]
    if not seeds:
        return []
    jobs = [(cfg.model_dump(), c, agent.model_dump()) for c in _chunks(seeds, max(1, chunk))]
    desc = f"{cfg.name} rollouts"
    workers = max(1, workers or (os.cpu_count() or 1))
    out: list[RolloutLog] = []
    if runner == "serial" or (runner == "local" and (workers == 1 or len(jobs) == 1)):
        with tqdm(total=len(seeds), desc=desc, disable=not progress) as bar:
            for j in jobs:
                out += _rollout_chunk(j)
                bar.update(len(j[1]))
        return out
    if runner == "local":
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=mp.get_context("spawn")) as pool:
            futures = [pool.submit(_rollout_chunk, j) for j in jobs]
            with tqdm(total=len(seeds), desc=f"{desc} ({workers} workers)", disable=not progress) as bar:
                for f, j in zip(futures, jobs):
                    out += f.result()
                    bar.update(len(j[1]))
        return out
    if runner == "ray":
        return _run_ray(jobs, len(seeds), desc, workers, progress, ray_address)
    raise MultiexecError(f"unknown runner {runner!r}; choose 'local' (process pool), 'serial' or 'ray'")


def _run_ray(jobs: list, n: int, desc: str, workers: int, progress: bool, address: str | None) -> list[RolloutLog]:
    from tqdm.auto import tqdm

    try:
        import ray
    except ImportError:
        raise MultiexecError("the Ray runner needs Ray: pip install -e '.[ray]'") from None
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, num_cpus=None if address else workers, include_dashboard=False, log_to_driver=False)
    try:
        task = ray.remote(num_cpus=1)(_rollout_chunk)
        refs = [task.remote(j) for j in jobs]
        done = {}
        with tqdm(total=n, desc=f"{desc} (ray)", disable=not progress) as bar:
            pending = list(refs)
            while pending:
                ready, pending = ray.wait(pending, num_returns=1)
                for r in ready:
                    done[r] = ray.get(r)
                    bar.update(len(done[r]))
        return [log for r in refs for log in done[r]]
    finally:
        if started:
            ray.shutdown()


# ---------------------------------------------------------------------------------------------------------------------
# cache (npz: the logs of every rollout + a JSON header naming config, agent and seeds)

def cache_key(config: MarketConfig, agent: AgentSpec, seeds: Sequence[int]) -> dict:
    return {"version": CACHE_VERSION, "config": config.model_dump(mode="json"), "agent": agent.model_dump(mode="json"),
            "seeds": [int(s) for s in seeds]}


def _digest(key: dict) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def default_cache_path(config: MarketConfig, agent: AgentSpec, seeds: Sequence[int]) -> Path:
    from multiexec.paths import cache_dir

    key = cache_key(config, agent, seeds)
    return cache_dir() / "intags" / f"rollouts_{config.name}_{len(key['seeds'])}_{_digest(key)}.npz"


def save_logs(path: Path, key: dict, logs: Sequence[RolloutLog]) -> None:
    """Write ``logs`` atomically (temporary file, then rename) so a concurrent reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = np.array([lg.n for lg in logs], np.int64)
    arrays = {f"row_{c}": (np.concatenate([lg.rows[c] for lg in logs]) if logs else np.zeros(0)) for c in COLUMNS}
    arrays.update(n_rows=n, seed=np.array([lg.seed for lg in logs], np.int64),
                  episode_reward=np.array([lg.episode_reward for lg in logs], np.float64),
                  executed=np.array([lg.executed for lg in logs], np.int64),
                  entry_mid=np.array([lg.entry_mid for lg in logs], np.float64),
                  n_events=np.array([lg.n_events for lg in logs], np.int64),
                  header=np.array(json.dumps(key, sort_keys=True)))
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, path)


def read_header(path: Path) -> dict:
    try:
        with np.load(path, allow_pickle=False) as z:
            return json.loads(str(z["header"]))
    except Exception as exc:  # not an npz, or no header
        raise MultiexecError(f"{path}: not a rollout cache of multiexec intags ({type(exc).__name__})") from None


def load_logs(path: Path, key: dict | None = None) -> list[RolloutLog]:
    """Logs from a cache file; with ``key``, refuse (one line) a file made for another agent, market or seeds."""
    path = Path(path)
    head = read_header(path)
    if key is not None:
        check_header(path, head, key)
    with np.load(path, allow_pickle=False) as z:
        n = z["n_rows"]
        bounds = np.concatenate([[0], np.cumsum(n)])
        cols = {c: z[f"row_{c}"] for c in COLUMNS}
        return [RolloutLog(seed=int(z["seed"][i]), rows={c: cols[c][bounds[i]:bounds[i + 1]] for c in COLUMNS},
                           episode_reward=float(z["episode_reward"][i]), executed=int(z["executed"][i]),
                           entry_mid=float(z["entry_mid"][i]), n_events=int(z["n_events"][i]))
                for i in range(len(n))]


def check_header(path: Path, head: dict, key: dict) -> None:
    if head.get("version") != key["version"]:
        raise MultiexecError(f"{path}: cache version {head.get('version')} is not {key['version']}; delete it")
    if head.get("agent") != key["agent"]:
        raise MultiexecError(f"{path} was made with another experimental agent ({_diff(head.get('agent'), key['agent'])}); "
                             "use another cache file or the same agent")
    if head.get("config") != key["config"]:
        raise MultiexecError(f"{path} was made for another market ({head.get('config', {}).get('name')!r}, "
                             f"{_diff(head.get('config'), key['config'])}), not {key['config']['name']!r}")
    if head.get("seeds") != key["seeds"]:
        s = head.get("seeds") or []
        raise MultiexecError(f"{path} holds {len(s)} rollouts for other seeds ({s[:1]}..), not the "
                             f"{len(key['seeds'])} asked ({key['seeds'][:1]}..)")


def _diff(a, b, prefix: str = "") -> str:
    """The first differing field of two nested dicts, as ``name: a != b``."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if a.get(k) != b.get(k):
                return _diff(a.get(k), b.get(k), f"{prefix}{k}.")
    return f"{prefix.rstrip('.') or 'value'}: {a!r} != {b!r}"


def cached_rollouts(market: str | MarketConfig, seeds: Sequence[int], agent: AgentSpec = AgentSpec(),
                    cache: Path | None = None, refresh: bool = False, **run_kw) -> tuple[list[RolloutLog], Path]:
    """Rollouts from the cache file keyed by (config, agent, seeds), computing and writing it when absent.
    ``cache``: an explicit file; a file there made for another agent / market / seeds is refused (one line)."""
    cfg = market_config(market)
    seeds = [int(s) for s in seeds]
    key = cache_key(cfg, agent, seeds)
    path = Path(cache) if cache is not None else default_cache_path(cfg, agent, seeds)
    if path.exists() and not refresh:
        return load_logs(path, key), path
    logs = run_rollouts(cfg, seeds, agent, **run_kw)
    save_logs(path, key, logs)
    return logs, path


def real_feedback_logs(n: int = 100, seed: int = 0, market: str = "rmsc03", agent: AgentSpec = AgentSpec(),
                       cache: Path | None = None, refresh: bool = False, **run_kw) -> tuple[list[RolloutLog], Path]:
    """The "real" market's rollouts (paper: N' = 100 rmsc03 rollouts, computed once, offline), seeds
    ``seed .. seed + n - 1``, cached."""
    if n < 2:
        raise MultiexecError(f"the real feedback needs at least 2 rollouts, got {n}")
    return cached_rollouts(market, range(seed, seed + n), agent, cache=cache, refresh=refresh, **run_kw)
