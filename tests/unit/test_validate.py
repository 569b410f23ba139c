"""core.data.validate: each check on a minimal bad example, statistics against hand counts.

Run: `pytest tests/unit/test_validate.py`.
"""

from __future__ import annotations

import json

import pytest
from tokenizers import Tokenizer, models, pre_tokenizers

from core import tokens
from core.data import io, validate
from tests.unit.test_tokens import count_assistant

SYS = {"role": "system", "content": "You are terse."}
USER = {"role": "user", "content": "Hi"}
BOT = {"role": "assistant", "content": "Hello there friend"}
GOOD = {"messages": [SYS, USER, BOT]}


def msgs(*messages) -> dict:
    return {"messages": list(messages)}


# (kind, severity, a minimal record that must raise it)
CASES = [
    ("data_type", "error", ["not", "an", "object"]),
    ("data_type", "error", "a string"),
    ("missing_messages_list", "error", {"conversation": [SYS, USER, BOT]}),
    ("missing_messages_list", "error", {"messages": "Hi"}),
    ("missing_messages_list", "error", {"messages": []}),
    ("message_not_object", "error", msgs(SYS, "Hi", BOT)),
    ("message_missing_key", "error", msgs(SYS, {"content": "Hi"}, BOT)),
    ("message_missing_key", "error", msgs(SYS, {"role": "user"}, BOT)),
    ("message_unrecognized_key", "error", msgs(SYS, {**USER, "mood": "curious"}, BOT)),
    ("unrecognized_role", "error", msgs(SYS, {"role": "human", "content": "Hi"}, BOT)),
    ("unrecognized_role", "error", msgs(SYS, USER, {"role": "observation", "content": "42"}, BOT)),  # ShareGPT's
    ("unrecognized_role", "error", msgs(SYS, {"role": ["user"], "content": "Hi"}, BOT)),
    ("missing_content", "error", msgs(SYS, {"role": "user", "content": ["Hi"]}, BOT)),
    ("missing_content", "error", msgs(SYS, {"role": "user", "content": 42}, BOT)),
    ("missing_content", "error", msgs(SYS, {"role": "user", "content": None}, BOT)),
    ("assistant_without_output", "error", msgs(SYS, USER, {"role": "assistant", "content": None})),
    ("empty_content", "error", msgs(SYS, {"role": "user", "content": "  \n\t"}, BOT)),
    ("empty_content", "error", msgs(SYS, USER, {"role": "assistant", "content": ""})),
    ("example_missing_assistant_message", "error", msgs(SYS, USER)),
    ("last_not_assistant", "error", msgs(SYS, USER, BOT, USER)),
    ("system_not_first", "warning", msgs(USER, SYS, BOT)),
    ("roles_not_alternating", "warning", msgs(SYS, USER, USER, BOT)),
    ("roles_not_alternating", "warning", msgs(SYS, BOT, USER, BOT)),
    ("no_system_message", "warning", msgs(USER, BOT)),
    ("no_user_message", "warning", msgs(SYS, BOT)),
]


def kinds_at(report: validate.Report, line: int) -> set[str]:
    return {f.kind for f in report.errors + report.warnings if f.line == line}


@pytest.mark.parametrize(("kind", "severity", "bad"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_each_check_fires_on_its_bad_example_only(kind, severity, bad):
    report = validate.validate([GOOD, bad, GOOD], count_tokens=False)
    found = [f for f in report.errors + report.warnings if f.kind == kind]
    assert found, f"{kind} did not fire"
    assert {f.line for f in found} == {2} and {f.row for f in found} == {1}
    assert {f.severity for f in found} == {severity}
    assert all(f.hint and f.message for f in found)
    assert kinds_at(report, 1) == kinds_at(report, 3) == set()


def test_a_clean_dataset_has_no_findings():
    report = validate.validate([GOOD, msgs(SYS, USER, BOT, USER, BOT)])
    assert report.ok and report.errors == [] and report.warnings == [] and report.counts_by_kind == {}


def test_cookbook_extras_are_accepted():
    # name, weight and function_call are allowed keys; content may be null beside a function_call.
    call = {"role": "assistant", "content": None, "function_call": {"name": "f", "arguments": "{}"}}
    named = {"role": "user", "content": "Hi", "name": "bob"}
    record = msgs(SYS, named, call, {"role": "function", "content": "3", "name": "f"}, {**BOT, "weight": 1})
    assert validate.validate([record], count_tokens=False).errors == []


def test_one_problem_one_finding():
    # A message with neither role nor content is one missing-key finding, not three.
    report = validate.validate([msgs(SYS, {}, BOT)], count_tokens=False)
    assert [f.kind for f in report.errors] == ["message_missing_key"]
    assert "role or content" in report.errors[0].message


def test_rows_index_the_loaded_examples(tmp_path):
    path = tmp_path / "d.jsonl"
    lines = [GOOD, 42, "{broken", msgs(SYS, USER)]
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n")
    loaded = io.load(path)
    report = validate.validate(loaded, count_tokens=False)
    by_kind = {f.kind: f for f in report.errors}
    assert (by_kind["data_type"].line, by_kind["data_type"].row) == (2, None)
    assert by_kind["unreadable_line"].line == 3
    missing = by_kind["example_missing_assistant_message"]
    assert (missing.line, missing.row) == (4, 1)
    assert loaded.examples[missing.row] == msgs(SYS, USER)
    assert "skipped" not in report.counts_by_kind  # the precise data_type finding stands instead
    assert report.counts_by_kind == {
        "data_type": 1,
        "unreadable_line": 1,
        "example_missing_assistant_message": 1,
    }


def test_converted_layouts_report_source_lines(tmp_path):
    path = tmp_path / "s.jsonl"
    rows = [
        {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"}]},
        {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "   "}]},
        {"conversations": [{"from": "narrator", "value": "Once"}]},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    report = validate.validate_file(path, count_tokens=False)
    assert {(f.kind, f.line) for f in report.errors} == {("empty_content", 2), ("not_converted", 3)}


# ---------------------------------------------------------------- statistics


@pytest.fixture
def word_tokenizer(tmp_path):
    """A tokenizer.json where every whitespace-separated word is one token: counts by hand."""
    tok = Tokenizer(models.WordLevel({"[UNK]": 0}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    folder = tmp_path / "local-model"
    folder.mkdir()
    tok.save(str(folder / "tokenizer.json"))
    return folder


STATS_DATA = [
    GOOD,  # 3 messages, last answer 3 words
    msgs({"role": "user", "content": "a b"}, {"role": "assistant", "content": "one two three four five"}),
    msgs(
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "x"},
        {"role": "user", "content": "more"},
        {"role": "assistant", "content": "done now"},
    ),
]


def test_structure_stats_match_hand_counts():
    stats = validate.validate(STATS_DATA, count_tokens=False).stats
    assert stats["examples"] == 3
    # Final answers have 3, 5 and 2 words: (3 + 5 + 2) / 3 = 3.33.
    assert stats["avg_assistant_words"] == 3.33
    # Messages [3, 2, 4], sorted [2, 3, 4]; linear p10 at position 0.2 -> 2.2, p90 at 1.8 -> 3.8.
    assert stats["messages_per_example"] == {
        "min": 2,
        "max": 4,
        "mean": 3.0,
        "median": 3.0,
        "p10": 2.2,
        "p90": 3.8,
    }


def test_token_stats_match_hand_counts(word_tokenizer):
    stats = validate.validate(STATS_DATA, model=str(word_tokenizer)).stats
    # Cookbook accounting, one token per word: 3 primer + per message (3 + 1 for the role word + content).
    # ex1: 3 + 3*4 + (3 + 1 + 3) = 22; ex2: 3 + 2*4 + (2 + 5) = 18; ex3: 3 + 4*4 + (1 + 1 + 1 + 2) = 24.
    assert stats["total_tokens"] == 64
    tpe = stats["tokens_per_example"]  # sorted [18, 22, 24]: p10 18 + 0.2*4 = 18.8, p90 22 + 0.8*2 = 23.6
    assert tpe == {"min": 18, "max": 24, "mean": 21.33, "median": 22.0, "p10": 18.8, "p90": 23.6}
    # Assistant tokens 3, 5, 1 + 2 = 3: sorted [3, 3, 5], p90 3 + 0.8*2 = 4.6, mean 11 / 3.
    assert stats["assistant_tokens_per_example"]["p90"] == 4.6
    assert stats["avg_assistant_tokens"] == 3.67
    # 3 examples: 3 * 3 < 100, so min(25, 100 // 3) = 25 epochs; no limit known for this tokenizer.
    assert stats["n_epochs"] == 25 and stats["token_limit"] is None
    assert stats["billed_tokens"] == 25 * 64


def test_token_limit_caps_billing_and_warns(word_tokenizer):
    report = validate.validate(STATS_DATA, model=str(word_tokenizer), token_limit=20)
    over = [f for f in report.warnings if f.kind == "over_token_limit"]
    assert [(f.line, f.row) for f in over] == [(1, 0), (3, 2)]  # 22 and 24 tokens exceed 20
    assert "22 tokens" in over[0].message
    assert report.stats["examples_over_limit"] == 2
    assert report.stats["billed_tokens"] == 25 * (20 + 18 + 20)


def test_name_costs_one_more_token(word_tokenizer):
    plain = validate.validate([msgs(USER, BOT)], model=str(word_tokenizer)).stats["total_tokens"]
    named = validate.validate([msgs({**USER, "name": "bob"}, BOT)], model=str(word_tokenizer)).stats
    assert named["total_tokens"] == plain + 2  # the name's one word, plus the cookbook's +1


def test_openai_counts_agree_with_core_tokens():
    # core.tokens.count_chat is the reference for one conversation; the batched path must agree.
    data = STATS_DATA + [msgs({**USER, "name": "bob"}, BOT)]
    stats = validate.validate(data, model="gpt-4o-mini-2024-07-18").stats
    enc = tokens.encoding("o200k_base")
    assert stats["total_tokens"] == sum(tokens.count_chat(d["messages"], enc) for d in data)
    expected_assistant = [count_assistant(d["messages"], enc) for d in data]
    assert stats["assistant_tokens_per_example"]["max"] == max(expected_assistant)
    assert stats["tokenizer"] == "o200k_base"
    # gpt-4o-mini's per-example limit, from OpenAI's fine-tuning guide (platform.openai.com/docs/guides/fine-tuning)
    assert stats["token_limit"] == 65536


def test_unknown_model_warns_once_and_skips_the_limit():
    report = validate.validate([GOOD], model="my-house-model")
    assert [f.kind for f in report.warnings] == ["unknown_model"]
    assert report.warnings[0].line is None and report.stats["token_limit"] is None


@pytest.mark.parametrize(
    ("n", "epochs"),
    [(1, 25), (10, 10), (33, 3), (34, 3), (8333, 3), (8334, 2), (10_000, 2), (30_000, 1)],
)
def test_default_epochs_follow_the_cookbook(n, epochs):
    # 3 unless n*3 < 100 (then min(25, 100 // n)) or n*3 > 25,000 (then max(1, 25,000 // n)).
    # n=33: 99 < 100 -> min(25, 3) = 3; n=8334: 25,002 > 25,000 -> 25,000 // 8334 = 2.
    assert validate.default_epochs(n) == epochs


def test_word_total_equals_str_split():
    texts = [
        "a b  c",
        " x\ty\n",
        "",
        "   ",
        "é b\u00a0c",
        "one",
        "a\x1cb",
        "\x00a b\x7f",
        "w",
        "東京 は\u3000晴れ",
    ]
    # split() by hand: 3 + 2 + 0 + 0 + 3 + 1 + 2 + 2 + 1 + 3 = 17
    assert validate.word_total(texts) == 17 == sum(len(t.split()) for t in texts)


def test_report_json_has_the_cli_shape(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(GOOD).encode() + b"\n{oops\n")
    out = validate.report_json(validate.validate_file(path))
    assert set(out) == {"examples", "error_count", "warning_count", "errors", "warnings", "stats"}
    assert (out["error_count"], out["warning_count"]) == (1, 1)
    assert out["errors"] == [{"line": 2, "kind": "unreadable_line", "message": out["errors"][0]["message"]}]
    assert "invalid JSON" in out["errors"][0]["message"]
    assert out["warnings"][0]["line"] is None and out["warnings"][0]["kind"] == "encoding"
    json.dumps(out)  # serializable as is


def test_lone_surrogates_do_not_break_either_tokenizer(word_tokenizer):
    # "\ud800" can arrive from a JSON escape; both counters must still count it (as one character).
    data = [msgs(USER, {"role": "assistant", "content": "bad \ud800 half"})]
    assert validate.validate(data, model=str(word_tokenizer)).stats["assistant_tokens_per_example"]["max"] == 3
    assert validate.validate(data).stats["total_tokens"] > 0


def test_fine_tuned_model_ids_use_the_base_models_limit():
    stats = validate.validate([GOOD], model="ft:gpt-4o-mini-2024-07-18:acme::abc123").stats
    assert stats["token_limit"] == 65536 and stats["tokenizer"] == "o200k_base"
