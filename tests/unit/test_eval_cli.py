"""`python -m core.eval rouge`: JSON output, exit codes and messages, as a real subprocess.

Run: `pytest tests/unit/test_eval_cli.py`.
"""

import json
import subprocess
import sys
from pathlib import Path

from core.eval import metrics
from core.eval.__main__ import main

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core.eval", *args], cwd=ROOT, capture_output=True, text=True)


def write_chats(path: Path, answers: list[str]) -> Path:
    rows = [
        {"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": a}]}
        for i, a in enumerate(answers)
    ]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


REFS = ["the cat sat on the mat", "The dogs were running quickly.", "Use the lockfile hash.", "yes"]
PREDS = ["the cat lay on the rug", "the dog runs quickly", "Hash the lockfile.", ""]


def test_json_output_matches_evaluate(tmp_path):
    refs = write_chats(tmp_path / "refs.jsonl", REFS)
    preds = write_chats(tmp_path / "preds.jsonl", PREDS)
    out = run("rouge", str(refs), str(preds), "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)  # stdout is exactly one JSON object
    assert set(result) == {"mean", "scores"}
    report = metrics.evaluate(REFS, PREDS)
    assert result["scores"] == [row["rouge_l"] for row in report.rows]
    assert result["mean"] == report.summary["rouge_l"]


def test_mismatched_counts_exit_2_naming_both(tmp_path):
    refs = write_chats(tmp_path / "refs.jsonl", REFS)
    preds = write_chats(tmp_path / "preds.jsonl", PREDS[:3])
    out = run("rouge", str(refs), str(preds), "--json")
    assert out.returncode == 2 and out.stdout == ""
    assert f"{refs} has 4 examples but {preds} has 3" in out.stderr
    assert "Traceback" not in out.stderr


def test_broken_line_exit_2_naming_file_and_line(tmp_path):
    refs = write_chats(tmp_path / "refs.jsonl", REFS)
    preds = tmp_path / "preds.jsonl"
    preds.write_text(write_chats(tmp_path / "ok.jsonl", PREDS[:1]).read_text() + '{"messages": [\n')
    out = run("rouge", str(refs), str(preds))
    assert out.returncode == 2
    assert out.stderr.startswith(f"error: {preds}: line 2: invalid JSON")
    assert "Traceback" not in out.stderr


def test_missing_file_and_missing_assistant_exit_2(tmp_path, capsys):
    refs = write_chats(tmp_path / "refs.jsonl", REFS)
    assert main(["rouge", str(refs), str(tmp_path / "nope.jsonl")]) == 2
    assert f"{tmp_path / 'nope.jsonl'}: no such file" in capsys.readouterr().err

    preds = tmp_path / "preds.jsonl"
    preds.write_text(json.dumps({"messages": [{"role": "user", "content": "only a question"}]}) + "\n")
    assert main(["rouge", str(preds), str(refs)]) == 2
    assert f"{preds}: line 1: no assistant message" in capsys.readouterr().err


def test_unicode_flag_and_human_summary(tmp_path, capsys):
    texts = ["我喜欢猫", "Кошка спит"]
    refs = write_chats(tmp_path / "refs.jsonl", texts)
    preds = write_chats(tmp_path / "preds.jsonl", texts)
    assert main(["rouge", str(refs), str(preds)]) == 0
    plain = capsys.readouterr().out
    assert "mean 0.0000" in plain and "pairs scoring 0: 2" in plain and "--unicode" in plain
    assert main(["rouge", str(refs), str(preds), "--unicode", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"mean": 1.0, "scores": [1.0, 1.0]}
