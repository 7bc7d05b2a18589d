"""The paper's comparison: every learned method × seeds, the rule baselines, Table 1, Table 4 and the figures.

Layout under ``out`` (:class:`multiexec.algos.layout.CompareLayout`)::

    <method>/seed<k>/             training run + test evaluation (multiexec.algos.runner)
    rounds_K<k>/seed<s>/          IaC^T with K = k rounds (Figure 4b)
    actions_<i>/<method>/seed<s>/ action-space variants (Table 4)
    rules/                        rule baselines on the test split
    table1.csv table4.csv rounds_K.csv significance.csv timing.csv
    fig8_learning_curves.png fig3b_profile.png fig3c_rounds.png fig4a_convergence.png fig4b_rounds.png

Statistics: mean ± std over seeds of each run's test metrics; significance: paired t-test and Wilcoxon test
over test orders of the seed-averaged per-order EG of each method against the best learned method
(``multiexec.execution.metrics.paired_test``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from multiexec.algos.layout import CompareLayout, RunLayout
from multiexec.algos.runner import LocalRunner, Runner, RunSpec, load_data_cached, run_spec
from multiexec.algos.train import TrainConfig
from multiexec.data.dataset import DataConfig
from multiexec.execution.env import ExecConfig
from multiexec.policies.registry import METHODS, ROUNDS_SWEEP_METHOD, get_method, method_names, methods_where

METRICS = ("EG_bps", "ARR_pct", "POS_pct", "GLR", "TOC_pct", "fill_pct")
RULE_LABELS = {"twap": "TWAP", "vwap": "VWAP", "ac": "AC", "side_split": "Side split"}
LABELS = {**{name: spec.label for name, spec in METHODS.items()}, **RULE_LABELS}
TABLE4_METHODS = methods_where(table4=True)


class CompareConfig(BaseModel):
    """What ``multiexec compare`` runs."""

    model_config = ConfigDict(extra="forbid")

    data: DataConfig = Field(default_factory=DataConfig, description="the dataset (multiexec.data.dataset)")
    methods: list[str] = Field(default_factory=lambda: list(method_names()))
    seeds: int = Field(3, ge=1)
    rules: list[str] = Field(default_factory=lambda: ["twap", "vwap", "ac", "side_split"])
    train: dict = Field(default_factory=dict, description="TrainConfig overrides shared by all runs")
    exec: ExecConfig = Field(default_factory=ExecConfig)
    rounds_sweep: list[int] = Field(default_factory=list, description="K values for Figure 4b (IaC^T)")
    action_spaces: list[list[float]] = Field(default_factory=list, description="action sets for Table 4")
    sweep_seeds: int | None = Field(None, ge=1, description="seeds of the K sweep and Table 4 runs (None: seeds)")


    @field_validator("methods")
    @classmethod
    def _known_methods(cls, v: list[str]) -> list[str]:
        for m in v:
            get_method(m)
        return v


def _spec(cfg: CompareConfig, run: RunLayout, method: str, seed: int, exec_cfg: ExecConfig | None = None,
          **overrides) -> RunSpec:
    train = TrainConfig(**{**cfg.train, "method": method, "seed": seed, **overrides})
    return RunSpec(data=cfg.data, train=train, exec=exec_cfg or cfg.exec, out=str(run.root))


def plan(cfg: CompareConfig, out: Path) -> dict[str, list[tuple[str, RunSpec]]]:
    """All runs, grouped: 'main' (Table 1), 'rounds' (Figure 4b), 'actions' (Table 4)."""
    lay = CompareLayout(out)
    groups: dict[str, list[tuple[str, RunSpec]]] = {"main": [], "rounds": [], "actions": []}
    for m in cfg.methods:
        for s in range(cfg.seeds):
            groups["main"].append((m, _spec(cfg, lay.run(m, s), m, s)))
    sweep_seeds = cfg.sweep_seeds or cfg.seeds
    for k in cfg.rounds_sweep:
        for s in range(sweep_seeds):
            groups["rounds"].append((str(k), _spec(cfg, lay.rounds_run(k, s), ROUNDS_SWEEP_METHOD, s, rounds=k)))
    for i, acts in enumerate(cfg.action_spaces):
        ecfg = cfg.exec.model_copy(update={"actions": acts})
        for m in TABLE4_METHODS:
            for s in range(sweep_seeds):
                groups["actions"].append((f"{i}:{m}", _spec(cfg, lay.actions_run(i, m, s), m, s, ecfg)))
    return groups


def _finished(spec: RunSpec) -> bool:
    from multiexec.algos.runner import _test_done

    return _test_done(spec)


def run_compare(cfg: CompareConfig, out: str | Path, workers: int | None = None,
                runner: Runner | None = None) -> dict[str, pd.DataFrame]:
    """Train or load every run, evaluate the rules, write the tables and figures; return the tables."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    lay = CompareLayout(out)
    lay.config.write_text(json.dumps(cfg.model_dump(mode="json"), indent=2))
    groups = plan(cfg, out)
    flat = [s for g in groups.values() for _, s in g]
    from tqdm.auto import tqdm

    done = sum(1 for s in flat if _finished(s))
    tqdm.write(f"compare {out}: {len(flat)} runs ({len(groups['main'])} Table 1, {len(groups['rounds'])} K sweep, "
               f"{len(groups['actions'])} action sets); {done} already finished")
    (runner or LocalRunner(workers)).map(run_spec, flat)
    dataset = load_data_cached(cfg.data)
    dataset.summary().to_csv(lay.data_summary, index=False)
    rules = _rules(cfg, dataset, lay)
    tables = {"table1": table1(cfg, out, rules), "timing": timing(groups["main"])}
    tables["significance"] = significance(cfg, out)
    if groups["rounds"]:
        tables["rounds_K"] = _grouped_metrics(groups["rounds"], "K")
    if groups["actions"]:
        default = [(f"-1:{m}", s) for m, s in groups["main"] if m in TABLE4_METHODS]  # the main runs' action set
        t4 = _grouped_metrics(default + groups["actions"], "variant")
        spaces = {-1: cfg.exec.actions, **dict(enumerate(cfg.action_spaces))}
        t4.insert(0, "actions", [str(spaces[int(v.split(":")[0])]) for v in t4["variant"]])
        t4.insert(1, "method", [LABELS[v.split(":")[1]] for v in t4["variant"]])
        tables["table4"] = t4.drop(columns="variant")
    for name, t in tables.items():
        t.to_csv(lay.table(name), index=False)
    figures(cfg, out, groups, rules)
    return tables


def _rules(cfg: CompareConfig, dataset, lay: CompareLayout) -> dict[str, dict]:
    from multiexec.algos.evaluation import evaluate
    from multiexec.execution.env import MultiOrderEnv
    from multiexec.policies.rules import make_rule_policy

    lay.rules.mkdir(parents=True, exist_ok=True)
    env = MultiOrderEnv(dataset.bars, dataset.orders, cfg.exec)
    train_days = dataset.bars.date_index([dataset.orders[i].date for i in dataset.splits["train"]])
    res = {}
    for name in cfg.rules:
        r = evaluate(env, make_rule_policy(name, dataset.bars, train_days, cfg.exec), dataset.splits["test"])
        r.orders.to_csv(lay.rule_orders(name), index=False)
        res[name] = {"metrics": {**r.metrics, "team_return": r.extra["team_return"]}, "profile": r.profile}
    return res


def _test_metrics(run: RunLayout) -> dict | None:
    p = run.test.metrics
    return json.loads(p.read_text()) if p.is_file() else None


def _fmt(values: list[float], digits: int = 2) -> str:
    v = np.asarray(values, dtype=float)
    return f"{v.mean():.{digits}f} ± {v.std(ddof=1):.{digits}f}" if v.size > 1 else f"{v.mean():.{digits}f}"


def table1(cfg: CompareConfig, out: Path, rules: dict[str, dict]) -> pd.DataFrame:
    """Table 1: rules (single numbers) and learned methods (mean ± std over seeds); numeric columns too."""
    rows = []
    for name, r in rules.items():
        rows.append({"method": LABELS.get(name, name), "group": "rule", "seeds": 1,
                     **{k: f"{r['metrics'][k]:.2f}" for k in METRICS},
                     "team_return": f"{r['metrics']['team_return']:.5f}",
                     **{f"{k}_mean": r["metrics"][k] for k in METRICS + ("team_return",)}})
    for m in cfg.methods:
        lay = CompareLayout(out)
        ms = [x for x in (_test_metrics(lay.run(m, s)) for s in range(cfg.seeds)) if x is not None]
        if not ms:
            continue
        spec = get_method(m)
        row = {"method": spec.label, "group": spec.family, "seeds": len(ms)}
        for k in METRICS:
            row[k] = _fmt([x[k] for x in ms])
        row["team_return"] = _fmt([x["team_return"] for x in ms], digits=5)
        for k in METRICS + ("team_return",):
            vals = np.array([x[k] for x in ms], dtype=float)
            row[f"{k}_mean"], row[f"{k}_std"] = float(vals.mean()), float(vals.std(ddof=1)) if len(vals) > 1 else 0.0
        rows.append(row)
    return pd.DataFrame(rows)


def _seed_mean_eg(runs: list[RunLayout]) -> pd.Series | None:
    frames = [pd.read_csv(r.test.orders).set_index(["day_id", "symbol"])["eg_bps"]
              for r in runs if r.test.orders.is_file()]
    return pd.concat(frames, axis=1).mean(axis=1) if frames else None


def significance(cfg: CompareConfig, out: Path) -> pd.DataFrame:
    """Paired tests (over test orders) of each learned method's seed-averaged EG against the best one."""
    from multiexec.execution.metrics import paired_test

    lay = CompareLayout(out)
    eg = {m: _seed_mean_eg([lay.run(m, s) for s in range(cfg.seeds)]) for m in cfg.methods}
    eg = {m: v for m, v in eg.items() if v is not None}
    if not eg:
        return pd.DataFrame()
    best = max(eg, key=lambda m: eg[m].mean())
    rows = []
    for m, v in eg.items():
        if m == best:
            continue
        t = paired_test(eg[best], v)
        rows.append({"best": LABELS[best], "vs": LABELS[m], **t})
    return pd.DataFrame(rows)


def timing(main: list[tuple[str, RunSpec]]) -> pd.DataFrame:
    """Measured training time and throughput of every run of Table 1, with the training days of the selected agent
    and whether that is the untrained network (``selected_untrained``; None for runs from before it was recorded)."""
    rows = []
    for m, spec in main:
        p = RunLayout(spec.out).summary
        if p.is_file():
            s = json.loads(p.read_text())
            rows.append({"method": m, "seed": spec.train.seed, "days": s["days"], "order_steps": s["order_steps"],
                         "seconds": s["seconds"], "order_steps_per_s": s["order_steps_per_s"],
                         "best_days": s.get("best_days"), "selected_untrained": s.get("selected_untrained")})
    untrained = [f"{r['method']} seed {r['seed']}" for r in rows if r["selected_untrained"]]
    if untrained:
        from tqdm.auto import tqdm

        tqdm.write(f"note: the selected agent is the untrained network in {len(untrained)} run(s): "
                   f"{', '.join(untrained)} (timing.csv, selected_untrained)")
    return pd.DataFrame(rows)


def _grouped_metrics(group: list[tuple[str, RunSpec]], key: str) -> pd.DataFrame:
    by: dict[str, list[dict]] = {}
    for k, spec in group:
        m = _test_metrics(RunLayout(spec.out))
        if m is not None:
            by.setdefault(k, []).append(m)
    rows = []
    for k, ms in by.items():
        row = {key: k, "seeds": len(ms)}
        for name in ("EG_bps", "TOC_pct", "team_return"):
            vals = np.array([x[name] for x in ms], dtype=float)
            row[f"{name}_mean"], row[f"{name}_std"] = vals.mean(), vals.std(ddof=1) if len(vals) > 1 else 0.0
        rows.append(row)
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------------ figures
def figures(cfg: CompareConfig, out: Path, groups: dict, rules: dict) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    made = [_fig_learning(cfg, out), _fig_profile(cfg, out), _fig_rounds(cfg, out), _fig_convergence(cfg, out)]
    if groups["rounds"]:
        made.append(_fig_rounds_k(out))
    return [p for p in made if p is not None]


def _fig_learning(cfg: CompareConfig, out: Path) -> Path:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    for m in cfg.methods:
        curves = []
        for s in range(cfg.seeds):
            p = CompareLayout(out).run(m, s).metrics
            if p.is_file():
                log = pd.read_csv(p)
                curves.append(log[log.kind == "valid"][["order_steps", "team_return", "EG_bps"]].to_numpy())
        if not curves:
            continue
        n = min(len(c) for c in curves)
        arr = np.stack([c[:n] for c in curves])  # (seeds, n, 3)
        x = arr[:, :, 0].mean(0)
        for j, col in enumerate((1, 2)):
            mu, sd = arr[:, :, col].mean(0), arr[:, :, col].std(0)
            ax[j].plot(x, mu, label=LABELS[m])
            ax[j].fill_between(x, mu - sd, mu + sd, alpha=0.2)
    ax[0].set(xlabel="order-steps of interaction", ylabel="validation team return (sum of eq. 8)")
    ax[1].set(xlabel="order-steps of interaction", ylabel="validation EG (bps)")
    ax[0].legend(fontsize=8)
    fig.suptitle("Learning curves (mean ± std over seeds) — paper Figure 8")
    fig.tight_layout()
    path = CompareLayout(out).figure("fig8_learning_curves.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _mean_profile(runs: list[RunLayout]) -> dict[str, np.ndarray] | None:
    ps = [json.loads(r.test.profile.read_text()) for r in runs if r.test.profile.is_file()]
    if not ps:
        return None
    return {k: np.mean([p[k] for p in ps], axis=0) for k in ps[0]}


def _intention_methods(methods: list[str]) -> list[str]:
    """The methods with intention rounds (IaC), in the registry's order."""
    return [m for m in methods_where(intentions=True) if m in methods]


def _profile_methods(methods: list[str]) -> list[str]:
    """The methods of the profile figure (registry ``profile``): the intention methods last first, one of them only."""
    shown = [m for m in reversed(methods_where(profile=True)) if m in methods]
    iac = [m for m in shown if get_method(m).intentions]
    return [m for m in shown if not get_method(m).intentions or m == iac[0]]


def _fig_profile(cfg: CompareConfig, out: Path) -> Path | None:
    from multiexec.execution.plots import plot_profiles

    lay = CompareLayout(out)
    shown = _profile_methods(cfg.methods)
    profiles = [(LABELS[m], p) for m in shown if (p := _mean_profile([lay.run(m, s) for s in range(cfg.seeds)]))]
    if not profiles:
        return None
    path = lay.figure("fig3b_profile.png")
    plot_profiles(profiles, path, title="execution profile on the test split")
    return path


def _fig_rounds(cfg: CompareConfig, out: Path) -> Path | None:
    import matplotlib.pyplot as plt

    lay = CompareLayout(out)
    iac = _intention_methods(cfg.methods)
    if not iac:
        return None
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.8))
    for m in iac:
        frames = [pd.read_csv(p) for s in range(cfg.seeds) if (p := lay.run(m, s).test.rounds).is_file()]
        if not frames:
            continue
        df = pd.concat(frames).groupby("round")[["EG_bps", "TOC_pct"]].agg(["mean", "std"])
        for j, col in enumerate(("EG_bps", "TOC_pct")):
            ax[j].errorbar(df.index, df[(col, "mean")], yerr=df[(col, "std")].fillna(0), marker="o", capsize=3,
                           label=LABELS[m])
    ax[0].set(xlabel="round k (acting with a_k)", ylabel="test EG (bps)")
    ax[1].set(xlabel="round k (acting with a_k)", ylabel="test TOC (%)")
    ax[0].legend()
    fig.suptitle("Intended actions of each round — paper Figure 3c")
    fig.tight_layout()
    path = lay.figure("fig3c_rounds.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _fig_convergence(cfg: CompareConfig, out: Path) -> Path | None:
    import matplotlib.pyplot as plt

    lay = CompareLayout(out)
    iac = _intention_methods(cfg.methods)
    if not iac:
        return None
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for m in iac:
        conv = [json.loads(p.read_text())["abs_change"] for s in range(cfg.seeds)
                if (p := lay.run(m, s).test.convergence).is_file()]
        conv = [c for c in conv if c]
        if not conv:
            continue
        arr = np.array(conv)
        k = np.arange(2, arr.shape[1] + 2)
        ax.errorbar(k, arr.mean(0), yerr=arr.std(0), marker="o", capsize=3, label=LABELS[m])
    ax.set(xlabel="round k", ylabel="mean |a_k - a_(k-1)| (fraction of order)",
           title="Convergence of intended actions — paper Figure 4a")
    ax.legend()
    fig.tight_layout()
    path = lay.figure("fig4a_convergence.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _fig_rounds_k(out: Path) -> Path | None:
    import matplotlib.pyplot as plt

    lay = CompareLayout(out)
    p = lay.table("rounds_K")
    if not p.is_file():
        return None
    df = pd.read_csv(p).sort_values("K")
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.8))
    for j, col in enumerate(("EG_bps", "TOC_pct")):
        ax[j].errorbar(df["K"], df[f"{col}_mean"], yerr=df[f"{col}_std"], marker="o", capsize=3)
        ax[j].set(xlabel="communication rounds K", ylabel=f"test {col}")
    fig.suptitle("IaC^T against the number of rounds K — paper Figure 4b")
    fig.tight_layout()
    path = lay.figure("fig4b_rounds.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
