"""`python -m core.arena ratings` as a real subprocess: JSON shape, the table, and exit code 2."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
TRUE = {"alpha": 1000, "beta": 1100, "gamma": 1250}


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core.arena", *args], cwd=ROOT, capture_output=True, text=True)


def write_votes(path: Path, n: int = 300, seed: int = 0) -> Path:
    """Votes drawn from the Bradley-Terry formula for TRUE, with a rater column the reader must keep."""
    rng = np.random.default_rng(seed)
    names = list(TRUE)
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["model_a", "model_b", "winner", "rater"])
        for k in range(n):
            i, j = rng.choice(len(names), 2, replace=False)
            p = 1 / (1 + 10 ** ((TRUE[names[j]] - TRUE[names[i]]) / 400))
            winner = "tie" if rng.random() < 0.1 else ("model_a" if rng.random() < p else "model_b")
            out.writerow([names[i], names[j], winner, f"r{k % 3}"])
    return path


def test_json_ratings_with_intervals(tmp_path):
    out = run("ratings", str(write_votes(tmp_path / "votes.csv")), "--json", "--rounds", "50")
    assert out.returncode == 0, out.stderr
    board = json.loads(out.stdout)["ratings"]
    assert set(board) == set(TRUE)
    for row in board.values():
        assert row["ci_low"] <= row["rating"] <= row["ci_high"]
    # Each vote involves two models, so the per-model counts add up to twice the 300 votes.
    assert sum(row["votes"] for row in board.values()) == 600
    assert board["gamma"]["rating"] > board["alpha"]["rating"]


def test_text_table_lists_every_model(tmp_path):
    out = run("ratings", str(write_votes(tmp_path / "votes.csv")), "--rounds", "20", "--seed", "3")
    assert out.returncode == 0, out.stderr
    assert all(name in out.stdout for name in TRUE) and "300 votes" in out.stdout


def test_bad_winner_exits_2_naming_the_line(tmp_path):
    f = tmp_path / "bad.csv"
    f.write_text("model_a,model_b,winner\nx,y,model_a\nx,y,left\n")
    out = run("ratings", str(f), "--json")
    assert out.returncode == 2 and out.stdout == ""
    assert "bad.csv line 3, column winner" in out.stderr and "Traceback" not in out.stderr


def test_missing_file_and_bad_rounds_exit_2(tmp_path):
    missing = run("ratings", str(tmp_path / "nope.csv"))
    assert missing.returncode == 2 and "nope.csv" in missing.stderr and "Traceback" not in missing.stderr
    rounds = run("ratings", str(write_votes(tmp_path / "votes.csv")), "--rounds", "0")
    assert rounds.returncode == 2 and "--rounds" in rounds.stderr
