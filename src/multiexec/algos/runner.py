"""Independent runs (method × seed × variant) as self-contained jobs, and runners that execute them.

A job is a :class:`RunSpec` (a validated model, picklable and JSON round-trippable) and the work is the module-level function
:func:`run_spec`: it loads the data, trains (or resumes, or finds the finished run), evaluates the selected
agent on the test split and returns a small dict. Nothing else is shared between jobs, so a runner only has
to call ``run_spec`` somewhere: :class:`LocalRunner` uses a process pool over the machine's cores;
:class:`RayRunner` sends the same function unchanged to a Ray cluster (``pip install -e '.[ray]'``;
``multiexec compare --runner ray --ray-address auto``). Outputs are written to ``spec.out``, so on a
cluster ``--out`` must be a folder every node can reach (a shared file system). Both show a progress bar of
finished runs.

Per-run outputs (beside the training outputs of :mod:`multiexec.algos.train`), in ``<out>/test/``
(:class:`multiexec.algos.layout.EvalLayout`)::

    metrics.json       EG, ARR, POS, GLR, TOC, fill, team_return on the test split
    orders.csv days.csv per-order and per-day results
    profile.json       average requested (intended) and executed fraction per step, buys and sells
    rounds.csv         methods with intention rounds (IaC): metrics when acting with the intended actions of round k
    convergence.json   methods with intention rounds (IaC): mean change of the intended actions between rounds
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Callable, Protocol, Sequence

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from tqdm.auto import tqdm

from multiexec.algos.layout import EvalLayout, RunLayout
from multiexec.algos.train import TrainConfig
from multiexec.data.dataset import DataConfig
from multiexec.errors import MultiexecError
from multiexec.execution.env import ExecConfig
from multiexec.execution.lob_market import LOBMarketConfig
from multiexec.execution.policy import Policy

_DATA_CACHE: dict[str, object] = {}


class RunSpec(BaseModel):
    """One independent training run and its test evaluation."""

    model_config = ConfigDict(extra="forbid")

    data: DataConfig = Field(default_factory=DataConfig, description="the dataset (multiexec.data.dataset)")
    train: TrainConfig
    exec: ExecConfig = Field(default_factory=ExecConfig)
    market: LOBMarketConfig | None = Field(None, description="None: trade on the data's bars; else the reactive LOB "
                                           "market, whose simulated days replace the data (seed: data.seed)")
    out: str
    resume: bool = True
    progress: bool = False


def load_data_cached(data: DataConfig):
    """The dataset of a DataConfig, loaded once per process."""
    from multiexec.data.dataset import load_dataset

    key = data.model_dump_json()
    if key not in _DATA_CACHE:
        _DATA_CACHE[key] = load_dataset(data)
    return _DATA_CACHE[key]


def check_step_fits(step_minutes: int, n_minutes: int, what: str = "step_minutes") -> str | None:
    """``step_minutes`` against the data's trading day of ``n_minutes``: longer is an error; a step that does not
    divide the day is allowed (the last step is shorter) and returned as a note to print."""
    if step_minutes > n_minutes:
        raise MultiexecError(f"{what} {step_minutes}: longer than the data's trading day ({n_minutes} minutes); "
                             f"choose at most {n_minutes}")
    if n_minutes % step_minutes:
        n = -(-n_minutes // step_minutes)
        return (f"note: {what} {step_minutes} does not divide the {n_minutes}-minute day: {n} steps, the last one "
                f"{n_minutes - (n - 1) * step_minutes} minutes")
    return None


def load_run_data(spec: RunSpec):
    """(dataset, market) of a run: the data and its bars, or the LOB market's simulated days and the market. A step
    longer than the data's trading day is an error."""
    if spec.market is None:
        ds = load_data_cached(spec.data)
        check_step_fits(spec.exec.step_minutes, ds.bars.n_minutes, "exec.step_minutes")
        return ds, ds.bars
    from multiexec.execution.lob_market import lob_dataset

    key = spec.market.model_dump_json() + f"|{spec.data.seed}|{spec.exec.step_minutes}"
    if key not in _DATA_CACHE:
        _DATA_CACHE[key] = lob_dataset(spec.market, seed=spec.data.seed, step_minutes=spec.exec.step_minutes,
                                       progress=spec.progress)
    check_step_fits(spec.exec.step_minutes, _DATA_CACHE[key][0].bars.n_minutes, "exec.step_minutes")
    return _DATA_CACHE[key]


def _test_done(spec: RunSpec) -> bool:
    """A finished run of exactly this spec (a changed config or budget trains again, or fails in ``train``)."""
    from multiexec.algos.train import same_run

    files = RunLayout(spec.out)
    if not (files.summary.is_file() and files.test.metrics.is_file()):
        return False
    try:
        saved = json.loads(files.config.read_text())
    except (OSError, ValueError):
        return False
    return same_run(saved, spec.train, spec.exec)


def run_spec(spec: RunSpec) -> dict:
    """Train (or resume) one run, then evaluate its selected agent on the test split. Returns the summary
    with the test metrics; a finished run is only read back."""
    from multiexec.algos.train import train

    files = RunLayout(spec.out)
    if spec.resume and _test_done(spec):
        return {**json.loads(files.summary.read_text()), "test": json.loads(files.test.metrics.read_text())}
    dataset, market = load_run_data(spec)
    result = train(dataset, spec.train, files.root, spec.exec, resume=spec.resume, progress=spec.progress,
                   market=market)
    test = evaluate_run(result.agent, dataset, spec.exec, "test", files.test, market=market)
    return {**json.loads(files.summary.read_text()), "test": test}


def evaluate_run(agent, dataset, exec_cfg: ExecConfig, split: str, out: EvalLayout | str | Path,
                 market=None) -> dict:
    """Evaluation of a selected agent on ``split`` into ``out``, with the per-round analysis for methods with
    intention rounds (IaC)."""
    from multiexec.algos.evaluation import IntentionRecorder, evaluate
    from multiexec.execution.env import MultiOrderEnv
    from multiexec.policies.agents import NeuralPolicy

    files = out if isinstance(out, EvalLayout) else EvalLayout(Path(out))
    files.root.mkdir(parents=True, exist_ok=True)
    env = MultiOrderEnv(market if market is not None else dataset.bars, dataset.orders, exec_cfg)
    days = dataset.splits[split]
    policy: Policy = NeuralPolicy(agent)
    rec = IntentionRecorder(policy, env.actions)
    res = evaluate(env, rec, days)
    metrics = {**res.metrics, "team_return": res.extra["team_return"]}
    res.orders.to_csv(files.orders, index=False)
    res.days.to_csv(files.days, index=False)
    files.profile.write_text(json.dumps({k: list(map(float, v)) for k, v in res.profile.items()}))
    if agent.spec.intentions:
        rows = []
        for k in range(1, agent.cfg.rounds + 1):
            rk = evaluate(env, NeuralPolicy(agent, rounds=k), days)
            rows.append({"round": k, **rk.metrics, "team_return": rk.extra["team_return"]})
        pd.DataFrame(rows).to_csv(files.rounds, index=False)
        files.convergence.write_text(json.dumps(rec.summary()))
    files.metrics.write_text(json.dumps(metrics, indent=2))
    return metrics


class Runner(Protocol):
    """Executes ``fn`` on every spec and returns the results in order."""

    def map(self, fn: Callable[[RunSpec], dict], specs: Sequence[RunSpec]) -> list[dict]: ...


class LocalRunner:
    """Runs jobs on this machine: in-process for one worker, else a process pool (one torch thread each)."""

    def __init__(self, workers: int | None = None):
        if workers is not None and workers < 1:
            raise MultiexecError(f"workers={workers}: at least one worker (None: all cores)")
        self.workers = workers or max(1, os.cpu_count() or 1)

    def map(self, fn: Callable[[RunSpec], dict], specs: Sequence[RunSpec]) -> list[dict]:
        """Results in the order of ``specs``; the progress bar counts finished runs as they finish."""
        if self.workers == 1 or len(specs) <= 1:
            return [fn(s) for s in tqdm(specs, desc="runs", unit="run", disable=len(specs) <= 1)]
        import multiprocessing as mp
        from concurrent.futures import as_completed

        with ProcessPoolExecutor(min(self.workers, len(specs)), mp_context=mp.get_context("spawn")) as pool:
            futures = [pool.submit(fn, s) for s in specs]
            for f in tqdm(as_completed(futures), total=len(futures), unit="run",
                          desc=f"runs ({min(self.workers, len(specs))} workers)"):
                f.result()  # a failed run stops the comparison at once
            return [f.result() for f in futures]


class RayRunner:
    """Runs jobs as Ray tasks (one CPU each), on a running cluster (``address``, e.g. "auto") or, with ``address``
    None, on a local Ray instance started for the call."""

    def __init__(self, address: str | None = None, workers: int | None = None):
        try:
            import ray
        except ImportError:
            raise MultiexecError("the Ray runner needs Ray: pip install -e '.[ray]'") from None
        self.ray = ray
        self.address = address
        self.workers = workers

    def map(self, fn: Callable[[RunSpec], dict], specs: Sequence[RunSpec]) -> list[dict]:
        ray = self.ray
        started = not ray.is_initialized()
        if started:
            ray.init(address=self.address, num_cpus=None if self.address else self.workers,
                     include_dashboard=False, log_to_driver=False)
        try:
            task = ray.remote(num_cpus=1)(fn)
            refs = [task.remote(s) for s in specs]
            done = {}
            with tqdm(total=len(refs), desc="runs (ray)") as bar:
                pending = list(refs)
                while pending:
                    ready, pending = ray.wait(pending, num_returns=1)
                    for r in ready:
                        done[r] = ray.get(r)
                    bar.update(len(ready))
            return [done[r] for r in refs]
        finally:
            if started:
                ray.shutdown()


def make_runner(kind: str = "local", workers: int | None = None, address: str | None = None) -> Runner:
    """``local`` (process pool) or ``ray``."""
    if kind == "local":
        return LocalRunner(workers)
    if kind == "ray":
        return RayRunner(address, workers)
    raise MultiexecError(f"unknown runner {kind!r}; choose 'local' or 'ray'")
