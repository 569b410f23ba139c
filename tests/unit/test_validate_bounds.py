"""Validation of junk stays bounded: findings capped per kind, files of no JSON refused early, memory measured.

Memory is measured in a fresh interpreter (its peak resident size before and after validating), so the
test process's own peak cannot hide a growth.
Run: `.venv/bin/pytest tests/unit/test_validate_bounds.py -q`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from core.data import PER_KIND, io, validate
from core.data.readers import SNIPPET

ROOT = Path(__file__).resolve().parents[2]
GOOD = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}]}
GOOD_LINE = json.dumps(GOOD) + "\n"


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_findings_of_one_kind_are_capped_and_the_rest_counted(tmp_path):
    junk = 5_000
    path = write(tmp_path / "d.jsonl", GOOD_LINE * 300 + "".join(f"not json {'x' * 500} {i}\n" for i in range(junk)))
    report = validate.validate_file(path)
    unreadable = [f for f in report.errors if f.kind == "unreadable_line"]
    kept, (closing,) = unreadable[:-1], unreadable[-1:]
    assert [f.line for f in kept] == list(range(301, 301 + PER_KIND))  # the first ones, with their lines
    assert all(f.message.startswith("invalid JSON") and len(f.message) < 200 for f in kept)  # short snippets
    assert closing.message == f"and {junk - PER_KIND:,} more lines like this" and closing.line == 301 + PER_KIND
    assert report.n_errors == junk == report.counts_by_kind["unreadable_line"] and report.examples == 300
    assert validate.report_json(report)["error_count"] == junk


def test_a_file_with_no_json_object_in_its_first_lines_is_refused_without_reading_on(tmp_path):
    rows = "".join(f"name{i},age,city\n" for i in range(200)) + GOOD_LINE * 10  # the objects come too late
    with pytest.raises(io.DataError) as refused:
        validate.validate_file(write(tmp_path / "people.jsonl", rows))
    message = str(refused.value)
    assert "people.jsonl: is not JSON Lines" in message and "line 1: invalid JSON" in message
    assert "'name0,age,city'" in message and "CSV" in message and "import it on the Data page" in message
    with pytest.raises(io.DataError, match=r"line 1: the entry is a number, not an object"):
        validate.validate_file(write(tmp_path / "n.jsonl", "".join(f"{i}\n" for i in range(300))))
    # Fewer lines than that are read to the end: an object further down is still found.
    report = validate.validate_file(write(tmp_path / "few.jsonl", "junk\n" * 199 + GOOD_LINE))
    assert report.examples == 1 and report.n_errors == 199


@pytest.mark.parametrize(
    ("first", "tabular"),
    [
        ("prompt,completion", True),  # a two-column spreadsheet export
        ("question\tanswer", True),
        ("Hello, world. This is prose, not a table of any kind at all.", False),
        ("junk", False),
    ],
)
def test_the_refusal_names_a_table_by_its_header_line(tmp_path, first, tabular):
    rows = first + "\n" + "".join(f'"What is {i}?","It is {i}."\n' for i in range(250))
    with pytest.raises(io.DataError) as refused:
        validate.validate_file(write(tmp_path / "sheet.jsonl", rows))
    assert ("this looks like CSV/TSV" in str(refused.value)) is tabular


def test_a_spreadsheet_is_named_as_one(tmp_path):
    with zipfile.ZipFile(tmp_path / "sheet.jsonl", "w") as z:  # an .xlsx is a zip of XML parts
        z.writestr("xl/workbook.xml", "<workbook/>")
    with pytest.raises(io.DataError, match=r"zip file .*xlsx.*save it as CSV or JSON Lines"):
        validate.validate_file(tmp_path / "sheet.jsonl")


def test_values_from_the_data_are_quoted_short_in_findings():
    key, role = "k" * 100_000, "r" * 100_000
    report = validate.validate([{"messages": [{"role": role, "content": "x", key: 1}]}], count_tokens=False)
    assert report.errors and all(len(f.message) < SNIPPET + 100 for f in report.errors + report.warnings)


PEAK = """
import resource, sys
from core.data import validate
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    validate.validate_file(sys.argv[1], fmt="chat", count_tokens=False)
except Exception as e:
    print(type(e).__name__, file=sys.stderr)
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)
"""


def peak_growth_mb(path: Path) -> float:
    done = subprocess.run(
        [sys.executable, "-c", PEAK, str(path)], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    return float(done.stdout)


@pytest.mark.parametrize(
    ("name", "body", "bound_mb"),
    [
        # 2 MB of two-byte junk lines after a good start: each kept a finding (about 180 MB per MB read).
        ("junk-after-good.jsonl", GOOD_LINE * 300 + "x\n" * (1 << 20), 20),
        # Records are checked a chunk at a time: neither objects that are no conversation (about 40 MB per MB
        # kept) nor good examples (about 9 MB per MB) are all held to be counted.
        ("objects.jsonl", GOOD_LINE * 300 + '{"a": 1}\n' * (1 << 19), 20),
        ("good.jsonl", GOOD_LINE * 100_000, 40),
        # 20 MB on one line: the line itself, read once, and a short message.
        ("one-line.jsonl", GOOD_LINE + "z" * (20 << 20), 70),
    ],
)
def test_peak_memory_of_validating_junk_stays_bounded(tmp_path, name, body, bound_mb):
    assert peak_growth_mb(write(tmp_path / name, body)) < bound_mb
