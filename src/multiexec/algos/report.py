"""``docs/results.md``: tables, figures and the paper's claims checked against the numbers of compare runs."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from multiexec.algos.compare import LABELS
from multiexec.algos.layout import CompareLayout
from multiexec.policies.registry import METHODS, method_names

FIGURES = [
    ("fig8_learning_curves.png", "Learning curves on the validation split (paper Figure 8)"),
    ("fig3b_profile.png", "Execution profile, intended vs executed buys (paper Figure 3b)"),
    ("fig3c_rounds.png", "EG and TOC when acting with the intended actions of round k (paper Figure 3c)"),
    ("fig4a_convergence.png", "Change of the intended actions between rounds (paper Figure 4a)"),
    ("fig4b_rounds.png", "EG and TOC against the number of rounds K (paper Figure 4b)"),
]


def _md(df: pd.DataFrame, floatfmt: str = ".3g") -> str:
    if df.empty:
        return "_(no rows)_\n"
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in df.iterrows():
        cells = [format(v, floatfmt) if isinstance(v, (float, np.floating)) else str(v) for v in r.tolist()]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def claims(t1: pd.DataFrame, rounds_k: pd.DataFrame | None) -> list[str]:
    """The paper's claims, each stated with the numbers that confirm or contradict it."""
    out = []
    learned = t1[t1.group != "rule"].set_index("method")
    if learned.empty:
        return ["no learned method finished"]
    toc, eg = learned["TOC_pct_mean"], learned["EG_bps_mean"]
    single = [s.label for s in METHODS.values() if s.single_order and s.label in learned.index]
    multi = [m for m in learned.index if m not in single]
    if single and multi:
        hi_multi, lo_single = max(toc[multi]), min(toc[single])
        verdict = "yes" if hi_multi < lo_single else ("tie" if np.isclose(hi_multi, lo_single) else "no")
        out.append(f"Multi-agent methods have lower TOC than PPO and DDQN: **{verdict}** — TOC (%) "
                   + ", ".join(f"{m} {toc[m]:.2f}" for m in single + multi) + ".")
    iac = [s.label for s in METHODS.values() if s.intentions and s.label in learned.index]
    if iac:
        best_eg, best_toc = eg.idxmax(), toc.idxmin()
        out.append(f"IaC has the highest EG of the learned methods: **{'yes' if best_eg in iac else 'no'}** "
                   f"(highest: {best_eg}, {eg[best_eg]:.2f} bps; " + ", ".join(f"{m} {eg[m]:.2f}" for m in iac) + ").")
        toc_tie = bool(np.isclose(toc[iac].min(), toc.min())) and best_toc not in iac
        verdict = "yes" if best_toc in iac else ("tie" if toc_tie else "no")
        out.append(f"IaC has the lowest TOC of the learned methods: **{verdict}** "
                   f"(lowest: {best_toc}, {toc[best_toc]:.2f} %; " + ", ".join(f"{m} {toc[m]:.2f}" for m in iac) + ").")
    if rounds_k is not None and not rounds_k.empty:
        r = rounds_k.sort_values("K")
        ks, egs = r["K"].astype(int).tolist(), r["EG_bps_mean"].tolist()
        up_to_3 = [e for k, e in zip(ks, egs) if k <= 3]
        rising = len(up_to_3) > 1 and all(b >= a for a, b in zip(up_to_3, up_to_3[1:]))
        out.append(f"EG rises with K up to about 3: **{'yes' if rising else 'no'}** — "
                   + ", ".join(f"K={k}: {e:.2f}" for k, e in zip(ks, egs)) + ".")
    return out


def _command(cfg: dict, run_dir: Path) -> str:
    """The ``multiexec compare`` call that makes this folder's runs (the data source is the folder's name)."""
    parts = [f"multiexec compare --data {run_dir.name} --seeds {cfg['seeds']}",
             "" if sorted(cfg["methods"]) == sorted(method_names()) else f"--methods {','.join(cfg['methods'])}"]
    for key, flag in (("train_days", "--train-days"), ("eval_every", "--eval-every")):
        if key in cfg["train"]:
            parts.append(f"{flag} {cfg['train'][key]}")
    if cfg.get("rounds_sweep"):
        parts.append("--rounds-sweep " + ",".join(str(k) for k in cfg["rounds_sweep"]))
    if cfg.get("sweep_seeds"):
        parts.append(f"--sweep-seeds {cfg['sweep_seeds']}")
    if cfg.get("action_spaces"):
        parts.append("--action-spaces '" + ";".join(",".join(f"{a:g}" for a in acts) for acts in cfg["action_spaces"]) + "'")
    parts.append(f"--out {run_dir.parent}")
    return " ".join(p for p in parts if p)


def section(run_dir: Path, doc_dir: Path, title: str) -> str:
    """Markdown for one compare folder; its figures are copied next to the document."""
    run_dir = Path(run_dir)
    lay = CompareLayout(run_dir)
    cfg = json.loads(lay.config.read_text())
    t1 = pd.read_csv(lay.table("table1"))
    fig_dir = doc_dir / "results" / run_dir.name
    fig_dir.mkdir(parents=True, exist_ok=True)
    parts = [f"## {title}\n", f"Runs: `{run_dir}`; data config `{json.dumps(cfg['data'])}`; seeds: {cfg['seeds']}; "
             f"training overrides: `{json.dumps(cfg['train'])}`. Made by `{_command(cfg, run_dir)}` "
             "(its finished runs are read back, not retrained).\n"]
    if lay.data_summary.is_file():
        parts += ["### Data (orders per split)\n", _md(pd.read_csv(lay.data_summary))]
    show = ["method", "group", "seeds", "EG_bps", "ARR_pct", "POS_pct", "GLR", "TOC_pct", "fill_pct", "team_return"]
    parts += ["### Table 1 (test split; learned: mean ± std over seeds)\n",
              "EG in basis points; team_return: the day's summed team reward (eq. 8), the training objective.\n",
              _md(t1[show])]
    rounds_k = pd.read_csv(lay.table("rounds_K")) if lay.table("rounds_K").is_file() else None
    parts += ["### The paper's claims, checked\n", "\n".join(f"- {c}" for c in claims(t1, rounds_k)) + "\n"]
    sig = lay.table("significance")
    if sig.is_file() and sig.stat().st_size > 1:
        df = pd.read_csv(sig)
        cols = ["best", "vs", "mean_diff_bps", "ci_low", "ci_high", "t_pvalue", "wilcoxon_pvalue", "n",
                "day_t_pvalue", "n_days"]
        parts += ["### Significance (paired over test orders, seed-averaged EG, against the best learned method)\n",
                  "t and Wilcoxon over orders (CI too); day_t_pvalue: t-test over the days' mean differences — the "
                  "one to trust, since the orders of one day share its market move and cash.\n",
                  _md(df[[c for c in cols if c in df.columns]])]
    tim = lay.table("timing")
    if tim.is_file() and tim.stat().st_size > 1:
        df = pd.read_csv(tim)
        agg = df.groupby("method").agg(runs=("seed", "count"), seconds_mean=("seconds", "mean"),
                                       order_steps=("order_steps", "mean"), steps_per_s=("order_steps_per_s", "mean"))
        agg.index = [LABELS.get(m, m) for m in agg.index]
        total = df["seconds"].sum()
        parts += ["### Measured training time (per run, this machine)\n", _md(agg.reset_index(names="method")),
                  f"Sum over all runs: {total / 60:.1f} CPU-minutes (runs spread over the cores by the runner).\n"]
        if "selected_untrained" in df.columns:
            bad = df[df["selected_untrained"].astype(str).str.lower() == "true"]
            if len(bad):
                runs = ", ".join(f"{LABELS.get(m, m)} seed {s}" for m, s in zip(bad["method"], bad["seed"]))
                parts.append(f"**Model selection kept the untrained network** in {len(bad)} run(s) ({runs}): no "
                             "validation after training beat step 0, so their test rows are the initial policy's.\n")
    if rounds_k is not None:
        parts += ["### EG against K (IaC^T)\n", _md(rounds_k)]
    if lay.table("table4").is_file():
        parts += ["### Table 4: action spaces\n", _md(pd.read_csv(lay.table("table4")))]
    for name, caption in FIGURES:
        src = lay.figure(name)
        if src.is_file():
            shutil.copy2(src, fig_dir / name)
            parts.append(f"**{caption}**\n\n![{caption}](results/{run_dir.name}/{name})\n")
    return "\n".join(parts)


def write_doc(run_dirs: list[Path], path: Path, titles: list[str], command: str) -> Path:
    """Write ``path`` (e.g. docs/results.md) from the compare folders ``run_dirs``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    head = ("# Results: learned multi-order execution agents\n\n"
            f"Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC by `{command}` — do not edit by hand; "
            "rerun the command. Model selection uses the validation split only; the test split is touched once "
            "per selected agent. Why the paper's claims do not hold on our data, and what was changed because of "
            "it (learning rate, entropy bonus, IaC's soft intentions): `docs/iac_investigation.md`.\n")
    body = [section(d, path.parent, t) for d, t in zip(run_dirs, titles)]
    path.write_text(head + "\n" + "\n".join(body))
    return path
