"""Replay real NASDAQ messages (LOBSTER AAPL 2012-06-21) through our matching engine, event by event.

See :mod:`multiexec.lob.replay` for the approach (ghost orders seeded from the first book row, unknown ids of
orders resting before the file start applied to the ghost at their level, executions re-matched by the engine
and checked against the maker LOBSTER names).
"""

import pytest

from multiexec.lob.replay import replay_lobster

lobster = pytest.importorskip("multiexec.lob.lobster")


def _samples():
    pairs = lobster.lobster_samples()
    if not pairs:
        pytest.skip("real data ../shared/data/lobster_aapl_2012-06-21 is absent: skipping the LOBSTER replay")
    data = {}
    for m, b in pairs:
        d = lobster.read_lobster(m, b)
        data[(d.levels, len(d))] = d
    return data


@pytest.mark.realdata
def test_replay_full_depth_prefix_matches_book_every_event():
    data = _samples()
    d = next(v for (lv, n), v in data.items() if lv == 50)
    res = replay_lobster(d)
    assert res.n_messages == len(d) - 1
    assert res.l1_mismatches == 0, res.mismatches
    assert res.priority_violations == 0, res.mismatches
    assert res.executions_rematched > 20
    assert res.n_compared_levels > 10_000
    # one level (59250 ask, 100 shares) appears in LOBSTER's book at row 506 without any message adding it:
    # the only depth discrepancy in this file; it persists until the end of the 672-message prefix.
    assert res.depth_mismatches <= len(d) - 506, res.mismatches


@pytest.mark.realdata
def test_replay_one_hour_best_quotes():
    data = _samples()
    hour = next(v for (lv, n), v in data.items() if lv == 1 and n > 50_000)
    deep = next(v for (lv, n), v in data.items() if lv == 50)
    res = replay_lobster(hour, seed=deep)
    assert res.n_messages == len(hour) - 1
    assert res.executions_rematched > 3_000
    # best bid and ask equal LOBSTER's after more than 99.8% of the 92k events; the rest follow executions of
    # orders that rested before 09:30 beyond the 50 seeded levels (never visible to us)
    assert res.l1_mismatches < 0.002 * res.n_messages, res.mismatches
    assert res.priority_violations < 0.01 * res.executions_rematched, res.mismatches
