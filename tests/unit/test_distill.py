"""A candidate's answers as a dataset: prompts kept, answers as the last turn, failures listed, provenance.

Run: `.venv/bin/pytest tests/unit/test_distill.py -q`.
"""

from __future__ import annotations

import json
import time

import pytest

from core.data import versions
from core.eval import candidates, distill, generate
from core.eval.generate import GenParams

SYSTEM = {"role": "system", "content": "Answer briefly."}
TOOLS = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]


def example(n: int) -> dict:
    turns = [SYSTEM, {"role": "user", "content": f"q{n}"}, {"role": "assistant", "content": f"old {n}"}]
    return {"messages": turns, **({"tools": TOOLS} if n == 0 else {})}


def row(i: int, text: str, error: str | None = None) -> dict:
    return {"index": i, "prediction": text, "n_tokens": 3, **({"error": error} if error else {})}


def test_answers_replace_the_last_turn_and_failed_ones_are_listed_by_line():
    examples = [example(n) for n in range(4)]
    rows = [row(0, " new 0 "), row(1, ""), row(2, "", "m: HTTP 400: too long"), row(3, "new 3")]
    splits = {"train": [0, 1], "validation": [2], "test": [3]}
    built = distill.build(examples, rows, splits)
    assert built.examples == [
        {
            "messages": [SYSTEM, {"role": "user", "content": "q0"}, {"role": "assistant", "content": "new 0"}],
            "tools": TOOLS,
        },
        {"messages": [SYSTEM, {"role": "user", "content": "q3"}, {"role": "assistant", "content": "new 3"}]},
    ]
    assert built.failed == [
        {"line": 2, "reason": "the answer came back empty"},
        {"line": 3, "reason": "m: HTTP 400: too long"},
    ]
    assert built.splits == {"train": [0], "validation": [], "test": [1]}
    with pytest.raises(ValueError, match="2 answers for 4 examples"):
        distill.build(examples, rows[:2])


def _cache(cand, version, params, rows):
    generate.save_outputs(cand, version, distill.SPLIT, params, rows, {"run_id": "r1"})


def test_save_makes_a_new_chat_dataset_with_its_provenance_and_leaves_failures_out():
    examples = [example(n) for n in range(4)]
    source = versions.create(f"src-{time.time_ns()}", examples, splits={"train": [0, 1, 2], "test": [3]})
    cand, params = candidates.openai("ft:gpt-4o-mini-2024-07-18:acme::x1"), GenParams(max_new_tokens=32)
    with pytest.raises(ValueError, match="generate first"):
        distill.save(cand, source, params, "never")
    _cache(cand, source, params, [row(0, "a0"), row(1, " "), row(2, "a2"), row(3, "a3")])
    saved, built = distill.save(cand, source, params, distill.default_name(cand, source))
    assert (saved.kind, saved.n_examples, saved.number) == ("chat", 3, 1)
    assert saved.dataset == f"{source.dataset} · {cand.label} answers"
    assert [e["messages"][-1]["content"] for e in versions.examples(saved)] == ["a0", "a2", "a3"]
    assert saved.splits == {"train": [0, 1], "test": [2]}
    assert "1 failed and left out (lines 2)" in saved.note and cand.label in saved.note
    record = distill.provenance(saved)
    assert record["candidate"]["model"] == cand.model and "api_key_env" not in record["candidate"]
    assert (record["source_version_id"], record["prompts"], record["saved"]) == (source.id, 4, 3)
    assert record["failed"] == [{"line": 2, "reason": "the answer came back empty"}]
    assert record["params"]["max_new_tokens"] == 32 and record["generation_run"] == "r1"
    assert distill.default_name(cand, source).endswith("answers 2")  # the first name is taken now
    assert distill.state(cand, source, params).failed == record["failed"]


def test_reopening_keeps_the_good_answers_and_leaves_only_the_failed_to_ask():
    source = versions.create(f"src-{time.time_ns()}", [example(n) for n in range(3)])
    cand, params = candidates.openai("gpt-4o-mini"), GenParams()
    _cache(cand, source, params, [row(0, "a0"), row(1, ""), row(2, "", "refused")])
    key = distill.key(cand, source, params)
    assert generate.reopen(key, keep=lambda r: distill.failure(r) is None) == 2
    assert generate.cached_rows(key) is None  # no longer complete
    assert json.dumps(generate.received(key)) == json.dumps({0: row(0, "a0")})
    with pytest.raises(ValueError, match="every answer failed"):
        _cache(cand, source, params, [row(0, ""), row(1, ""), row(2, "")])
        distill.save(cand, source, params, "all-failed")


def test_an_example_without_an_answer_yet_is_asked_whole_and_gets_the_answer_appended():
    prompts_only = {"messages": [SYSTEM, {"role": "user", "content": "q"}]}
    assert generate.prompt_of(prompts_only) == prompts_only["messages"]
    assert generate.prompt_of(example(1)) == example(1)["messages"][:2]
    built = distill.build([prompts_only], [row(0, "a")])
    assert built.examples == [
        {"messages": [SYSTEM, {"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
    ]
