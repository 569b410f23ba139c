"""The shipped samples: demo is clean and passes the checks; every problem planted in messy is real
and, for the quality checks' kinds, flagged on exactly its lines.

Run: `.venv/bin/pytest tests/unit/test_samples.py -q`.
"""

from __future__ import annotations

import json
import re
from itertools import combinations

import pytest

from core.data import quality as q
from core.data.samples import NAMES, PLANTED, planted, sample_path
from core.jsonl import scan_records

QUALITY_KINDS = sorted({p.kind for p in PLANTED if p.owner.startswith("quality.")})
ROLES = ("system", "user", "assistant")


def planted_lines(kind: str) -> set[int]:
    """Every line planted with this kind (both members of duplicate pairs)."""
    return {line for p in planted(kind) for line in p.lines}


def load(name: str) -> tuple[list[dict], list[int]]:
    records, _ = scan_records(sample_path(name))
    return [obj for _, obj in records], [line for line, _ in records]


def raw_lines(name: str) -> list[str]:
    return sample_path(name).read_text(encoding="utf-8").splitlines()


@pytest.fixture(scope="module")
def demo_report():
    examples, _ = load("demo")
    return q.run_checks(examples)


@pytest.fixture(scope="module")
def messy():
    examples, lines = load("messy")
    report = q.run_checks(examples)
    flagged = {kind: {lines[r] for r in report.rows(kind)} for kind in {f.kind for f in report.flags}}
    return report, flagged


def test_sample_paths():
    assert all(sample_path(name).is_file() for name in NAMES)
    with pytest.raises(ValueError, match="choose one of demo, messy"):
        sample_path("nope")


def test_demo_examples_are_well_formed():
    examples, _ = load("demo")
    assert len(examples) == 200
    for ex in examples:
        msgs = ex["messages"]
        assert [m["role"] for m in msgs] == list(ROLES)
        assert all(isinstance(m["content"], str) and m["content"].strip() for m in msgs)
    assert len({ex["messages"][0]["content"] for ex in examples}) == 1


def test_demo_has_no_near_duplicates_by_word_overlap():
    examples, _ = load("demo")
    words = [set(re.findall(r"\w+", " ".join(m["content"] for m in ex["messages"][1:]).lower())) for ex in examples]
    worst = max(len(a & b) / len(a | b) for a, b in combinations(words, 2))
    assert worst < 0.5  # Jaccard of word sets; the closest two demo examples measured 0.26


def test_demo_passes_the_quality_checks(demo_report):
    assert q.FAIL not in {c.verdict for c in demo_report.checks}
    assert demo_report.verdict == q.OK and demo_report.flags == []  # written clean: nothing to flag


def test_messy_size_and_invalid_line():
    lines = raw_lines("messy")
    assert 120 <= len(lines) <= 200
    _, problems = scan_records(sample_path("messy"))
    assert [p.line for p in problems] == sorted(planted_lines("unreadable_line"))
    (bad,) = planted_lines("unreadable_line")
    with pytest.raises(json.JSONDecodeError):
        json.loads(lines[bad - 1])


@pytest.mark.parametrize("kind", QUALITY_KINDS)
def test_every_planted_quality_problem_is_flagged(messy, kind):
    _, flagged = messy
    expected = planted_lines(kind)
    if kind == "dominant_topic":
        # Clustering is approximate: the dominant topic must hold nearly all Docker rows and little
        # else ("What is structured logging?" rides in on "How do Docker logging drivers work?").
        assert len(flagged[kind] & expected) >= 0.9 * len(expected)
        assert len(flagged[kind] - expected) <= 2
    else:
        assert expected <= flagged.get(kind, set())


def test_quality_flags_land_only_on_planted_rows(messy):
    report, flagged = messy
    problem_lines = {line for p in PLANTED if p.kind != "dominant_topic" for line in p.lines}
    for kind, lines in flagged.items():
        if kind != "dominant_topic":
            assert lines <= problem_lines, f"{kind} flagged clean lines {sorted(lines - problem_lines)}"
    assert report.check("diversity").verdict == q.WARN


def _messages(line: str) -> list[dict]:
    return json.loads(line)["messages"]


def test_validator_owned_problems_are_really_there():
    lines = raw_lines("messy")
    for line in planted_lines("empty_content"):
        assert any(not m["content"].strip() for m in _messages(lines[line - 1]))
    for line in planted_lines("last_not_assistant"):
        assert _messages(lines[line - 1])[-1]["role"] == "user"

    def roles(line: int) -> list[str]:
        return [m["role"] for m in _messages(lines[line - 1])]

    assert all(set(roles(n)) - set(ROLES) for n in planted_lines("unrecognized_role"))
    assert all(
        [r for r in roles(n) if r != "system"][0] == "assistant" for n in planted_lines("roles_not_alternating")
    )
    assert all("system" in roles(n)[1:] for n in planted_lines("system_not_first"))


def _normal(line: str) -> list[str]:
    return [" ".join(m["content"].split()).casefold() for m in _messages(line)]


def test_duplicate_pairs_are_what_they_claim():
    lines = raw_lines("messy")
    for p in planted("exact_duplicate"):
        a, b = (lines[n - 1] for n in p.lines)
        assert a != b and _normal(a) == _normal(b)
    for p in planted("near_duplicate"):
        a, b = (_messages(lines[n - 1]) for n in p.lines)
        assert a[:-1] == b[:-1]  # same question; the answers differ in exactly one word
        wa, wb = a[-1]["content"].split(), b[-1]["content"].split()
        assert len(wa) == len(wb) and sum(x != y for x, y in zip(wa, wb, strict=True)) == 1
