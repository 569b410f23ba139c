"""`python -m core.data dedup` on the messy sample finds exactly the planted duplicate pairs."""

import json
import subprocess
import sys
from pathlib import Path

from core.data import samples
from tests.shapes import dpo_pair

ROOT = Path(__file__).resolve().parents[2]


def test_dedup_cli_finds_the_planted_pairs():
    out = subprocess.run(
        [sys.executable, "-m", "core.data", "dedup", str(samples.sample_path("messy")), "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    found = json.loads(out.stdout)
    exact = {tuple(p.lines) for p in samples.planted("exact_duplicate")}
    near = {tuple(p.lines) for p in samples.planted("near_duplicate")}
    assert {tuple(c) for c in found["exact"]} == exact
    assert {tuple(c) for c in found["near"]} == near


def test_dedup_cli_rejects_a_bad_threshold():
    out = subprocess.run(
        [sys.executable, "-m", "core.data", "dedup", str(samples.sample_path("demo")), "--threshold", "1.5"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2 and "threshold" in out.stderr and "Traceback" not in out.stderr


def test_dedup_cli_reads_a_preference_file_by_pair_and_by_prompt(tmp_path):
    pairs = [
        dpo_pair("How do I list running Docker containers?", "Run docker ps.", "Reboot."),
        dpo_pair("What does SQL's GROUP BY do?", "It groups rows for aggregates.", "It sorts."),
        dpo_pair("how do I list running docker containers?", "Run docker ps.", "Reboot."),  # the same pair
        dpo_pair("How can I list the running Docker containers?", "docker ps -a lists all.", "Ask IT."),
    ]
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps(p) + "\n" for p in pairs))
    out = subprocess.run(
        [sys.executable, "-m", "core.data", "dedup", str(path), "--json"], cwd=ROOT, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout) == {"exact": [[1, 3]], "near": [[1, 4]]}
