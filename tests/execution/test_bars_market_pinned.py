"""The bars market gives today's numbers bit for bit: every observation, reward and result of the rule policies on
the test split, hashed, against the values recorded before the environment was split into market / interpreters /
reward (the rules' rows of docs/results.md Table 1: EG 0.59, 0.53, 3.58 bp on the real data)."""

import hashlib

import numpy as np
import pytest

from multiexec.data.dataset import DataConfig, load_dataset
from multiexec.execution.env import ExecConfig, MultiOrderEnv
from multiexec.paths import shared_data
from multiexec.policies.rules import make_rule_policy

PINNED = {
    "us_minute_2018": {
        "twap": ("a7adcd4db42e7dab", -1.7964413618014303e-13),
        "vwap": ("736fd835f1868314", 0.5946930363080524),
        "ac": ("5a731f5cbfb3b401", 0.5289169827800707),
        "side_split": ("44182f2e6f861988", 3.5784775701337197),
    },
    "synthetic": {
        "twap": ("0eb63c8c6f5484b0", 4.917039329827846e-14),
        "vwap": ("5cef30f35f42521d", -0.27736335219464564),
        "ac": ("1694b8d4e564e17b", -3.0512384931064784),
        "side_split": ("1a6f7c4bcef539ac", 10.720797609518156),
    },
}


def digest(env, policy, days):
    h = hashlib.sha256()
    obs = env.reset(days)
    done = False
    while not done:
        h.update(np.ascontiguousarray(obs.seq).tobytes())
        h.update(np.ascontiguousarray(obs.now).tobytes())
        obs, team_r, order_r, done, _ = env.step(policy.act(obs))
        h.update(np.asarray(team_r, np.float64).tobytes())
        h.update(np.asarray(order_r, np.float64).tobytes())
    o, d = env.results(), env.day_results()
    for c in ("filled", "avg_exec_price", "avg_market_price", "eg_bps", "notional"):
        h.update(o[c].to_numpy(np.float64).tobytes())
    for c in ("cash_end", "toc"):
        h.update(d[c].to_numpy(np.float64).tobytes())
    return h.hexdigest()[:16], float(o["eg_bps"].mean())


@pytest.mark.parametrize("source", [pytest.param("us_minute_2018", marks=pytest.mark.realdata), "synthetic"])
def test_rules_bit_identical(source):
    if source != "synthetic" and shared_data(source) is None:
        pytest.skip(f"../shared/data/{source} not present")
    ds = load_dataset(DataConfig(source=source))
    cfg = ExecConfig()
    env = MultiOrderEnv(ds.bars, ds.orders, cfg)
    train = ds.order_day_index[ds.splits["train"]]
    for name, (h, eg) in PINNED[source].items():
        got = digest(env, make_rule_policy(name, ds.bars, train, cfg), ds.splits["test"])
        assert got == (h, eg), f"{source} {name}: {got} != {(h, eg)}"
