"""Rollouts with the experimental agent: determinism across runners, the cached real feedback, the CLI (issue 11)."""

import importlib.util

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from multiexec.errors import MultiexecError
from multiexec.intags.metric import bootstrap_curve, smallest_separating_n
from multiexec.intags.rollouts import (AgentSpec, cached_rollouts, market_config, perturbed_rmsc04, real_feedback_logs,
                                       rollout, run_rollouts)
from multiexec.lob.config import get_config


def same_logs(a, b):
    assert [x.seed for x in a] == [y.seed for y in b]
    for x, y in zip(a, b):
        assert x.episode_reward == y.episode_reward and x.n_events == y.n_events
        for c in x.rows:
            assert np.array_equal(x.rows[c], y.rows[c], equal_nan=True), c


def test_rollout_is_a_function_of_the_seed_and_the_pool_gives_the_same_numbers():
    serial = run_rollouts("rmsc04", range(4), runner="serial", progress=False)
    pool = run_rollouts("rmsc04", range(4), runner="local", workers=2, chunk=2, progress=False)
    same_logs(serial, pool)
    assert serial[0].rows["mid"][0] != serial[1].rows["mid"][0]
    lg = serial[0]
    assert 0 < lg.executed <= 50 and lg.rows["step"][0] == 0 and lg.rows["time_ns"][0] == get_config("rmsc04").open_ns + 30e9
    assert np.all(np.diff(lg.rows["time_ns"]) == 60e9)


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray is not installed (pip install -e '.[ray]')")
def test_ray_runner_gives_the_same_numbers():
    same_logs(run_rollouts("rmsc04", range(3), runner="ray", workers=2, chunk=1, progress=False),
              run_rollouts("rmsc04", range(3), runner="serial", progress=False))


def test_real_feedback_is_cached_and_a_cache_of_another_agent_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("MULTIEXEC_CACHE", str(tmp_path))
    logs, path = real_feedback_logs(n=3, seed=5, runner="serial", progress=False)
    assert path.exists() and path.parent == tmp_path / "intags" and "rmsc03" in path.name
    again, path2 = real_feedback_logs(n=3, seed=5, runner="serial", progress=False)
    assert path2 == path
    same_logs(logs, again)
    other = AgentSpec(weights=(0.0, 1.0, -0.5))
    with pytest.raises(MultiexecError, match="another experimental agent"):
        real_feedback_logs(n=3, seed=5, agent=other, cache=path)
    with pytest.raises(MultiexecError, match="another market"):
        cached_rollouts("rmsc04", range(5, 8), cache=path)
    with pytest.raises(MultiexecError, match="other seeds"):
        real_feedback_logs(n=3, seed=6, cache=path)
    with pytest.raises(MultiexecError, match="at least 2"):
        real_feedback_logs(n=1)
    # the default file name is keyed by the agent: another agent gets its own cache
    _, p_other = real_feedback_logs(n=3, seed=5, agent=other, runner="serial", progress=False)
    assert p_other != path


def test_markets_and_window():
    p = perturbed_rmsc04()
    base = get_config("rmsc04")
    assert p.symbols[0].market_makers.pov == pytest.approx(0.8 * base.symbols[0].market_makers.pov)
    assert p.model_dump(exclude={"name", "symbols"}) == base.model_dump(exclude={"name", "symbols"})
    assert market_config("rmsc04-perturbed").name == "rmsc04-perturbed"
    with pytest.raises(MultiexecError, match="unknown market config"):
        market_config("rmsc05")
    short = get_config("rmsc04", close="09:35:00")
    with pytest.raises(MultiexecError, match="longer than"):
        rollout(short, 0)


def test_bootstrap_curve_and_separation():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(120), 3 + rng.standard_normal(120)
    diff = bootstrap_curve(a, b, "mmd", [2, 5, 20], 20, rng)
    same = bootstrap_curve(a, None, "mmd", [2, 5, 20], 20, rng)
    assert list(diff["N"]) == [2, 5, 20] and (diff["draws"] == 20).all()
    assert diff["mean"].iloc[-1] > same["q95"].iloc[-1]
    tab = pd.concat([diff.assign(kind="different"), same.assign(kind="same")])
    assert smallest_separating_n(tab) in (2, 5, 20)
    # two samples of one distribution never separate
    c = bootstrap_curve(a, a[::-1].copy(), "mmd", [5, 20], 20, rng).assign(kind="different")
    assert np.isnan(smallest_separating_n(pd.concat([c, same[same["N"] > 2].assign(kind="same")])))
    with pytest.raises(MultiexecError, match=">= 2"):
        bootstrap_curve(a, b, "mmd", [1, 5], 5, rng)


def test_cli_feedback_and_metric_study(tmp_path, monkeypatch):
    from multiexec.intags.cli import app

    monkeypatch.setenv("MULTIEXEC_CACHE", str(tmp_path / "cache"))
    res = CliRunner().invoke(app, ["feedback", "-n", "3", "--runner", "serial", "--out", str(tmp_path / "f.csv")])
    assert res.exit_code == 0, res.output
    assert "3 rollouts of rmsc03" in res.output and len(pd.read_csv(tmp_path / "f.csv")) == 3
    cache = next((tmp_path / "cache" / "intags").glob("*.npz"))
    res = CliRunner().invoke(app, ["feedback", "-n", "3", "--cache", str(cache), "--weights", "0,1,-1"])
    assert res.exit_code != 0 and "another experimental agent" in str(res.exception)
    out = tmp_path / "study"
    res = CliRunner().invoke(app, ["metric-study", "-n", "8", "--ns", "2,3", "--draws", "4", "--pairs", "far",
                                   "--feedbacks", "EpisodeReward,Mkt2NextReturn", "--distances", "mmd,emd",
                                   "--runner", "serial", "--out", str(out)])
    assert res.exit_code == 0, res.output
    curves = pd.read_csv(out / "metric_study_curves.csv")
    assert set(curves["feedback"]) == {"EpisodeReward", "Mkt2NextReturn"} and set(curves["N"]) == {2, 3}
    assert (out / "metric_study_far.png").exists() and (out / "distributions_far.png").exists()
    for args, msg in ((["--feedbacks", "Foo"], "unknown feedback"), (["--distances", "kl"], "unknown distance"),
                      (["--ns", "1,2"], "N of the grid must be >= 2"), (["-n", "5", "--ns", "2,3"], "too few")):
        res = CliRunner().invoke(app, ["metric-study", "--out", str(out), *args])
        assert res.exit_code != 0 and msg in str(res.exception), (args, res.exception)


def test_save_figure_writes_a_256_colour_png(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    from multiexec.intags.metric import save_figure

    fig, ax = plt.subplots()
    for k in range(12):
        ax.plot(range(50), [k * x ** 0.5 for x in range(50)])
    p = save_figure(fig, tmp_path / "sub" / "f.png", dpi=60)
    with Image.open(p) as im:
        assert im.mode == "P" and len(im.getcolors(maxcolors=256)) <= 256
    assert not plt.get_fignums()  # closed
