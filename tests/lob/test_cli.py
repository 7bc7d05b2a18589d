import pandas as pd
import pytest
from typer.testing import CliRunner

from multiexec.cli import run as cli_run
from multiexec.lob.cli import app
from multiexec.testing import LOBSTER_BOOK, LOBSTER_MESSAGES, write_pair


def test_lob_run_writes_run_folder(tmp_path):
    res = CliRunner().invoke(app, ["run", "--config", "rmsc04", "--seed", "1", "--out", str(tmp_path),
                                   "--close", "09:36:00", "--no-facts", "--l2-depth", "5"])
    assert res.exit_code == 0, res.output
    for name in ("bars", "l2", "trades", "orders"):
        assert (tmp_path / f"{name}.parquet").exists()
    l2 = pd.read_parquet(tmp_path / "l2.parquet")
    assert "bid_px_5" in l2.columns and "bid_px_6" not in l2.columns
    assert len(pd.read_parquet(tmp_path / "bars.parquet")) == 6


def test_second_run_into_a_folder_clears_the_first_runs_outputs_only(tmp_path):
    args = ["run", "--config", "rmsc04", "--out", str(tmp_path), "--close", "09:36:00", "--no-facts",
            "--l2-depth", "5"]
    assert CliRunner().invoke(app, args + ["--seed", "1"]).exit_code == 0
    # reports of the earlier run (`lob run` facts, `lob realism`'s default folder) and files of the user's
    for folder, names in (("facts", ["stylized_facts.csv", "minute_facts.png"]),
                          ("realism", ["realism.md", "realism.csv", "book_facts.png"])):
        (tmp_path / folder).mkdir()
        for name in names:
            (tmp_path / folder / name).write_text("stale")
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "realism.md").write_text("mine")
    first = pd.read_parquet(tmp_path / "trades.parquet")
    res = CliRunner().invoke(app, args + ["--seed", "2"])
    assert res.exit_code == 0, res.output
    assert not (tmp_path / "realism").exists() and not (tmp_path / "facts").exists()
    assert (tmp_path / "notes.txt").read_text() == "mine" and (tmp_path / "mine" / "realism.md").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bars.parquet", "config.json", "l2.parquet", "mine",
                                                          "notes.txt", "orders.parquet", "trades.parquet"]
    assert not pd.read_parquet(tmp_path / "trades.parquet").equals(first)
    # a report folder holding a file of the user's keeps that file (and so stays)
    (tmp_path / "realism").mkdir()
    (tmp_path / "realism" / "realism.md").write_text("stale")
    (tmp_path / "realism" / "draft.txt").write_text("mine")
    assert CliRunner().invoke(app, args + ["--seed", "2"]).exit_code == 0
    assert [p.name for p in (tmp_path / "realism").iterdir()] == ["draft.txt"]


def test_lob_configs_lists_populations():
    res = CliRunner().invoke(app, ["configs"])
    assert res.exit_code == 0 and "5000 noise" in res.output and "1000 noise" in res.output


def _one_line_error(capsys, argv, match):
    rc = cli_run(argv)
    err = capsys.readouterr().err.strip()
    assert rc == 2, (argv, err)
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    assert match in err, err
    return err


# bad inputs of the lob commands -> (argv tail, the part of the one-line message that names the problem)
BAD = [
    (["run", "--close", "25:00:00"], "--close '25:00:00' is not a time of day (00:00:00 to 24:00:00)"),
    (["run", "--close", "24:00:01"], "--close '24:00:01' is not a time of day"),
    (["run", "--close", "09:61:00"], "--close '09:61:00' is not a time of day"),
    (["run", "--close", "noon"], "--close 'noon' is not a time of day HH:MM:SS"),
    (["run", "--close", "-1:00:00"], "--close '-1:00:00' is not a time of day"),
    (["run", "--close", "09:00:00"], "--open 09:30:00 is not before --close 09:00:00"),
    (["run", "--open", "16:00:00", "--close", "16:00:00"], "--open 16:00:00 is not before --close 16:00:00"),
    (["run", "--seed", "-1"], "--seed -1: seeds are integers >= 0"),
    (["run", "--l2-depth", "0"], "--l2-depth 0 is outside 1-100"),
    (["run", "--snapshot-s", "0"], "--snapshot-s 0.0 must be > 0"),
    (["run", "--config", "nope"], "unknown market config 'nope'"),
    (["replay", "--max-messages", "-5"], "--max-messages -5: must be 0 (all) or a positive number"),
    (["replay", "--data", "/nonexistent/lobster"], "--data /nonexistent/lobster is not a folder"),
    (["stress", "--messages", "0"], "--messages 0: must be at least 1"),
    (["stress", "--seed", "-3"], "--seed -3: seeds are integers >= 0"),
    (["stress", "--agents", "0"], "--agents 0 is outside 1-1000"),
    (["stress", "--bad-share", "1.5"], "--bad-share 1.5 is outside [0, 1]"),
    (["realism-seeds", "--seeds", "5-1"], "--seeds '5-1': the range is empty (A-B needs A <= B)"),
    (["realism-seeds", "--seeds", "one-two"], "--seeds 'one-two': expected A-B or a comma list"),
    (["realism-seeds", "--seeds", "-1,2"], "--seeds '-1,2': seeds are integers >= 0"),
]


@pytest.mark.parametrize("tail,match", BAD)
def test_bad_inputs_are_one_line_errors(capsys, tmp_path, tail, match):
    _one_line_error(capsys, ["lob", *tail, *(["--out", str(tmp_path / "o")] if tail[0] in ("run", "realism-seeds")
                                            else [])], match)
    assert not (tmp_path / "o").exists()  # checked before any work: nothing written


def test_out_that_is_a_file_is_refused_before_the_run(capsys, tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    _one_line_error(capsys, ["lob", "run", "--out", str(f), "--close", "09:31:00"], f"--out {f} is a file")


def test_replay_without_samples_and_with_nothing_to_replay(capsys, tmp_path):
    (tmp_path / "empty").mkdir()
    _one_line_error(capsys, ["lob", "replay", "--data", str(tmp_path / "empty")], "no LOBSTER sample")
    # a sample of one message: the book is seeded from it and nothing is left to compare: not a pass
    write_pair(tmp_path / "one", messages=LOBSTER_MESSAGES[:1], book=LOBSTER_BOOK[:1])
    rc = cli_run(["lob", "replay", "--data", str(tmp_path / "one")])
    cap = capsys.readouterr()
    assert rc == 2 and "nothing was compared (not a pass)" in cap.out
    assert cap.err.strip().startswith("error: nothing replayed for") and "\n" not in cap.err.strip()


def test_replay_of_a_folder_explains_its_counts(capsys, tmp_path):
    write_pair(tmp_path / "s")
    rc = cli_run(["lob", "replay", "--data", str(tmp_path / "s")])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "4 messages" in out and "L1 mismatches" in out and "meaning:" in out
    assert "messages for 2 levels" in out


def test_stress_command_runs_and_reports(capsys):
    rc = cli_run(["lob", "stress", "--messages", "3000", "--seed", "1"])
    out = capsys.readouterr().out
    assert rc == 0 and "3,000 messages" in out and "every invariant held after every message" in out


@pytest.mark.realdata
def test_lob_replay_command_reports_each_sample(capsys):
    from multiexec.lob.lobster import lobster_samples

    if not lobster_samples():
        pytest.skip("real data ../shared/data/lobster_aapl_2012-06-21 is absent")
    rc = cli_run(["lob", "replay", "--max-messages", "500"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert out.count("L1 mismatches") == len(lobster_samples())
    # the level-10 sample: its mismatches are explained, with the share of events its file leaves out
    line = next(x for x in out.splitlines() if "level-10 message file" in x)
    assert "expected mismatches" in line and "50-level file has" in line


def test_lob_realism_seeds_rejects_bad_seed_list(tmp_path):
    res = CliRunner().invoke(app, ["realism-seeds", "--seeds", "one-two", "--out", str(tmp_path)])
    assert res.exit_code != 0 and "--seeds" in str(res.exception)
