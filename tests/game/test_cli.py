"""``multiexec game``: the theory table writes what it says, with a seed; bad values are refused before any work."""

import pandas as pd

from multiexec.cli import run


def test_theory_writes_its_table_and_is_seeded(tmp_path, capsys):
    assert run(["game", "theory", "--episodes", "3", "--seed", "1", "--out", str(tmp_path / "a")]) == 0
    assert run(["game", "theory", "--episodes", "3", "--seed", "1", "--out", str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out
    a, b = pd.read_csv(tmp_path / "a" / "theory.csv"), pd.read_csv(tmp_path / "b" / "theory.csv")
    pd.testing.assert_frame_equal(a, b)
    assert set(a["schedule"]) == {"TWAP", "Schied-Zhang Nash", "exact discrete Nash"}
    assert a["simulated IS agent 1"].notna().all() and "wrote" in out


def test_study_defaults_to_a_results_folder_not_the_docs(capsys):
    assert run(["game", "study", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.replace("│", " ").split())
    assert "[default: results/game_study]" in text
