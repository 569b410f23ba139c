"""`python -m core.arena ratings` and `preferences`: JSON shape, the table, exit code 2 naming file, line, column."""

import contextlib
import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from core.arena import __main__ as arena_cli

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


# ---- preferences ----------------------------------------------------------------------------------------------------

VOTES = """model_a,model_b,winner,rater,item
Base,Tuned,model_b,ann,0
Tuned,Base,model_a,bob,0
Base,Tuned,tie,ann,1
Base,Tuned,model_a,ann,2
Tuned,Base,model_a,bob,2
"""


def write_items(path: Path, n: int = 3) -> Path:
    rows = [
        {"item": i, "messages": [{"role": "user", "content": f"q{i}"}], "answers": {"Base": f"b{i}", "Tuned": f"t{i}"}}
        for i in range(n)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def in_process(*args: str) -> subprocess.CompletedProcess:
    """The command's main in this process (its error paths need no interpreter start): code, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = arena_cli.main(list(args))
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def preferences(tmp_path, votes: str = VOTES, items: Path | None = None, *extra: str, runner=in_process):
    (tmp_path / "votes.csv").write_text(votes)
    items = items or write_items(tmp_path / "items.jsonl")
    out = str(tmp_path / "prefs.jsonl")
    return runner("preferences", "--votes", str(tmp_path / "votes.csv"), "--items", str(items), "--out", out, *extra)


def test_preferences_from_the_downloads_write_openai_pairs_and_print_the_counts(tmp_path):
    out = preferences(tmp_path, VOTES, None, "--json", runner=run)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert {k: got[k] for k in ("votes", "pairs", "ties", "both_bad", "split", "ab_votes", "groups")} == {
        "votes": 5, "pairs": 1, "ties": 1, "both_bad": 0, "split": 1, "ab_votes": 4, "groups": 2}  # fmt: skip
    [pair] = [json.loads(x) for x in (tmp_path / "prefs.jsonl").read_text().splitlines()]
    assert pair == {
        "input": {"messages": [{"role": "user", "content": "q0"}]},
        "preferred_output": [{"role": "assistant", "content": "t0"}],
        "non_preferred_output": [{"role": "assistant", "content": "b0"}],
    }
    text = preferences(tmp_path)
    assert text.returncode == 0 and text.stdout.splitlines() == [
        "5 votes: 1 tie, 0 both bad; 4 A/B votes in 2 groups -> 1 pair, 1 split",
        f"wrote 1 preference pair to {tmp_path / 'prefs.jsonl'} (OpenAI preference JSONL)",
    ]


def test_preferences_bad_files_name_the_file_line_and_column(tmp_path):
    unknown = preferences(tmp_path, VOTES + "Base,Tuned,model_a,cy,9\n")
    assert (
        unknown.returncode == 2 and "votes.csv line 7, column item: item '9' is not among the items" in unknown.stderr
    )
    other = preferences(tmp_path, VOTES + "Base,Other,model_b,cy,1\n")
    assert "votes.csv line 7, column model_b: item 1 has no answer from 'Other'" in other.stderr
    no_item = preferences(tmp_path, "model_a,model_b,winner\nBase,Tuned,model_a\n")
    assert "votes.csv line 1: missing column item" in no_item.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text(write_items(tmp_path / "ok.jsonl").read_text() + '{"item": 3, "messages": [}\n')
    broken = preferences(tmp_path, VOTES, bad)
    assert (
        broken.returncode == 2 and "bad.jsonl line 4: invalid JSON" in broken.stderr and "column 26" in broken.stderr
    )
    bad.write_text('{"item": 0, "messages": [{"role": "user", "content": "q"}], "answers": {"Base": "b"}}\n')
    one = preferences(tmp_path, VOTES, bad)
    assert "bad.jsonl line 1, field answers" in one.stderr
    for out in (unknown, other, no_item, broken, one):
        assert out.returncode == 2 and out.stdout == "" and "Traceback" not in out.stderr
    assert not (tmp_path / "prefs.jsonl").exists()


def test_preferences_without_usable_votes_exit_2_and_write_nothing(tmp_path):
    out = preferences(tmp_path, "model_a,model_b,winner,rater,item\nBase,Tuned,tie,ann,0\nBase,Tuned,both_bad,bob,1\n")
    assert out.returncode == 2 and "no usable votes (2 votes: 1 tie, 1 both bad;" in out.stderr
    assert not (tmp_path / "prefs.jsonl").exists()


def test_preferences_take_sessions_or_files_not_both(tmp_path):
    both = in_process("preferences", "1", "--votes", "v.csv", "--items", "i.jsonl", "--out", str(tmp_path / "p.jsonl"))
    half = in_process("preferences", "--votes", "v.csv", "--out", str(tmp_path / "p.jsonl"))
    missing = in_process("preferences", "42", "--out", str(tmp_path / "p.jsonl"))
    assert both.returncode == half.returncode == missing.returncode == 2
    assert "not both" in both.stderr and "go together" in half.stderr and "no arena session 42" in missing.stderr
