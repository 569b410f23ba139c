"""`python -m core.data validate` as a real subprocess: JSON shape and exit codes."""

import json
import subprocess
import sys
from pathlib import Path

from core.data import samples

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core.data", *args], cwd=ROOT, capture_output=True, text=True)


def test_clean_file_exits_0_with_stats():
    out = run("validate", str(samples.sample_path("demo")), "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["examples"] == 200 and report["errors"] == [] and report["warnings"] == []
    assert set(report["stats"]) >= {"examples", "avg_assistant_words"}


def test_errors_exit_1_with_file_lines(tmp_path):
    f = tmp_path / "d.jsonl"
    good = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
    bad = {"messages": [{"role": "user", "content": "q"}, {"role": "bot", "content": "a"}]}
    f.write_text("\n".join(json.dumps(x) for x in (good, good, bad)) + "\n{broken\n")
    out = run("validate", str(f), "--json")
    assert out.returncode == 1
    errors = json.loads(out.stdout)["errors"]
    assert {(e["line"], e["kind"]) for e in errors} >= {(3, "unrecognized_role"), (4, "unreadable_line")}
    assert all(set(e) == {"line", "kind", "message"} for e in errors)


def test_unreadable_file_exits_2_without_a_traceback(tmp_path):
    f = tmp_path / "bin.jsonl"
    f.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    out = run("validate", str(f))
    assert out.returncode == 2
    assert "Traceback" not in out.stderr and "bin.jsonl" in out.stderr


def test_messy_sample_text_report_names_lines():
    out = run("validate", str(samples.sample_path("messy")))
    assert out.returncode == 1
    assert "line 61:" in out.stdout
