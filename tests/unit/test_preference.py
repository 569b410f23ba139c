"""Preference datasets: every public shape imports as OpenAI DPO pairs, the checks name the pair and the side,
the export round-trips in both formats, dedup and split see pairs, and a chat dataset is derived from the chosen.

Run: `.venv/bin/pytest tests/unit/test_preference.py -q`.
"""

from __future__ import annotations

import copy
import json

import pytest

from core.data import __main__ as data_cli
from core.data import dedup, io, preference, split, validate, versions
from tests.shapes import (
    OPENAI_DPO,
    OPENAI_DPO_TOOLS,
    TRL_PREFERENCE_CONVERSATIONAL,
    TRL_PREFERENCE_IMPLICIT,
    TRL_PREFERENCE_IMPLICIT_STANDARD,
    TRL_PREFERENCE_PROMPT_REPEATED,
    TRL_PREFERENCE_STANDARD,
    write_jsonl,
)
from tests.shapes import dpo_pair as pair


def loaded(tmp_path, records, fmt=None) -> io.Loaded:
    return io.load(write_jsonl(tmp_path / "prefs.jsonl", records), fmt=fmt)


# ---- import: each public shape becomes the OpenAI DPO record -------------------------------------------------------


def test_openai_dpo_is_detected_and_kept_as_is_tools_included(tmp_path):
    got = loaded(tmp_path, [OPENAI_DPO, OPENAI_DPO_TOOLS])
    assert (got.kind, got.fmt, got.lines, got.findings) == ("preference", "preference", [1, 2], [])
    assert got.examples == [OPENAI_DPO, OPENAI_DPO_TOOLS]
    assert got.examples[1]["input"]["tools"][0]["function"]["name"] == "get_current_weather"


def test_trl_standard_strings_become_a_user_prompt_and_assistant_answers(tmp_path):
    (got,) = loaded(tmp_path, [TRL_PREFERENCE_STANDARD]).examples
    assert got == {
        "input": {"messages": [{"role": "user", "content": "The sky is"}]},
        "preferred_output": [{"role": "assistant", "content": " blue."}],
        "non_preferred_output": [{"role": "assistant", "content": " green."}],
    }


def test_trl_conversational_message_lists_convert(tmp_path):
    got = loaded(tmp_path, [TRL_PREFERENCE_CONVERSATIONAL])
    assert got.kind == "preference"
    assert got.examples == [
        {
            "input": {"messages": TRL_PREFERENCE_CONVERSATIONAL["prompt"]},
            "preferred_output": TRL_PREFERENCE_CONVERSATIONAL["chosen"],
            "non_preferred_output": TRL_PREFERENCE_CONVERSATIONAL["rejected"],
        }
    ]


def test_an_implicit_prompt_is_what_chosen_and_rejected_share_at_the_start(tmp_path):
    conversational, standard = loaded(tmp_path, [TRL_PREFERENCE_IMPLICIT, TRL_PREFERENCE_IMPLICIT_STANDARD]).examples
    assert conversational["input"]["messages"] == [{"role": "user", "content": "What color is the sky?"}]
    assert conversational["preferred_output"] == [{"role": "assistant", "content": "It is blue."}]
    assert conversational["non_preferred_output"] == [{"role": "assistant", "content": "It is green."}]
    assert standard["input"]["messages"] == [{"role": "user", "content": "The sky is"}]
    assert [standard[k][0]["content"] for k in preference.SIDES] == [" blue.", " green."]


def test_a_prompt_repeated_at_the_start_of_each_answer_is_taken_off(tmp_path):
    (got,) = loaded(tmp_path, [TRL_PREFERENCE_PROMPT_REPEATED]).examples
    assert got["input"]["messages"] == [{"role": "user", "content": "Write a happy line about rain."}]
    assert got["preferred_output"] == TRL_PREFERENCE_PROMPT_REPEATED["chosen"][1:]


def test_fmt_preference_forces_the_layout_and_a_record_that_cannot_convert_is_named(tmp_path):
    records = [OPENAI_DPO, {"messages": [{"role": "user", "content": "hi"}]}, {"chosen": "Yes.", "rejected": "No."}]
    got = loaded(tmp_path, records, fmt="preference")
    assert (got.kind, len(got.examples), got.lines) == ("preference", 1, [1])
    by_line = {f.line: f for f in got.findings}
    assert set(by_line) == {2, 3}
    assert "not a preference pair" in by_line[2].message and "keys found: messages" in by_line[2].message
    assert "share no" in by_line[3].message and "'prompt'" in by_line[3].message


# ---- validation ----------------------------------------------------------------------------------------------------


def kinds(report) -> dict[int, set[str]]:
    out: dict[int, set[str]] = {}
    for f in report.errors:
        out.setdefault(f.line, set()).add(f.kind)
    return out


def test_a_clean_file_validates_with_token_stats_per_pair(tmp_path):
    path = write_jsonl(tmp_path / "ok.jsonl", [pair("q1", "good", "bad", "Be kind."), pair("q2", "yes", "no", "Hi")])
    report = validate.validate_file(path)
    assert report.ok and report.examples == 2 and not report.warnings
    assert report.stats["pairs"] == 2
    for side in ("chosen", "rejected"):
        assert report.stats[side]["tokens_per_example"]["min"] > 0
        assert report.stats[side]["examples"] == 2


def test_each_check_names_the_line_and_the_side(tmp_path):
    no_rejected = pair("q2", "good", "bad")
    no_rejected["non_preferred_output"] = []
    two_messages = pair("q3", "good", "bad")
    two_messages["preferred_output"].append({"role": "assistant", "content": "more"})
    from_user = pair("q4", "good", "bad")
    from_user["non_preferred_output"][0]["role"] = "user"
    ends_with_assistant = pair("q5", "good", "bad")
    ends_with_assistant["input"]["messages"].append({"role": "assistant", "content": "earlier"})
    blank = pair("q7", "good", "  ")
    records = [pair("q1", "good", "bad"), no_rejected, two_messages, from_user, ends_with_assistant]
    records += [pair("q6", "same", "same"), blank]
    report = validate.validate(loaded(tmp_path, records))
    found = kinds(report)
    assert 1 not in found
    assert "preference_missing_answer" in found[2]
    assert "preference_answer_not_one_assistant" in found[3] and "preference_answer_not_one_assistant" in found[4]
    assert "preference_prompt_ends_with_assistant" in found[5]
    assert "preference_same_answers" in found[6]
    assert "empty_content" in found[7]
    (empty,) = [f for f in report.errors if f.line == 7 and f.kind == "empty_content"]
    assert empty.message.startswith("prompt + rejected answer: ") and empty.row == 6 and empty.hint
    (missing,) = [f for f in report.errors if f.kind == "preference_missing_answer"]
    assert "non-preferred" in missing.message and missing.hint


def test_a_problem_of_the_prompt_is_reported_once_not_per_side(tmp_path):
    bad = pair("q", "good", "bad")
    bad["input"]["messages"].insert(0, {"role": "sistem", "content": "x"})
    report = validate.validate(loaded(tmp_path, [bad]))
    roles = [f for f in report.errors if f.kind == "unrecognized_role"]
    assert len(roles) == 1 and not roles[0].message.startswith("prompt + ")


def test_a_list_of_pairs_validates_too_and_rows_are_pair_indices():
    report = preference.validate([pair("q", "a", "a"), pair("q2", "a", "b")], count_tokens=False)
    assert [(f.row, f.line, f.kind) for f in report.errors] == [(0, 1, "preference_same_answers")]


def test_the_cli_validates_a_preference_file(tmp_path, capsys):
    path = write_jsonl(tmp_path / "p.jsonl", [OPENAI_DPO, pair("q", "same", "same")])
    assert data_cli.main(["validate", str(path), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["examples"] == 2 and [(e["line"], e["kind"]) for e in out["errors"]] == [(2, "preference_same_answers")]


# ---- export, dedup, split, derivation ------------------------------------------------------------------------------


def test_export_then_import_gives_the_same_pairs_in_both_formats(tmp_path):
    pairs = loaded(tmp_path, [OPENAI_DPO, OPENAI_DPO_TOOLS, pair("q", "good", "bad", "sys")]).examples
    for fmt in preference.EXPORTS:
        path = tmp_path / f"out-{fmt}.jsonl"
        path.write_bytes(preference.export_bytes(pairs, fmt))
        back = io.load(path)
        assert (back.kind, back.examples, back.findings) == ("preference", pairs, []), fmt
    trl = json.loads((tmp_path / "out-trl.jsonl").read_text().splitlines()[1])
    assert set(trl) == {"prompt", "chosen", "rejected", "tools", "parallel_tool_calls"}


def test_exact_duplicate_pairs_need_the_same_prompt_and_both_answers():
    a = pair("Q", "good", "bad")
    examples = [a, pair("q ", "good", " bad"), pair("Q", "good", "worse"), pair("Q", "better", "bad")]
    assert dedup.find_exact(examples) == [[0, 1]]
    assert dedup.example_text(a) == "Q"  # near-duplicates are found by prompt


def test_a_split_never_puts_one_prompt_in_two_splits():
    examples = [pair(f"q{i // 3}", f"good {i}", f"bad {i}") for i in range(60)]
    topics = [i % 2 for i in range(60)]  # stratified too: a group follows its first row's topic
    for rows in (split.split(examples, (0.6, 0.2, 0.2), seed=3), split.split(examples, (0.6, 0.2, 0.2), 3, topics)):
        where = {}
        for name, members in rows.items():
            for r in members:
                where.setdefault(examples[r]["input"]["messages"][0]["content"], set()).add(name)
        assert all(len(s) == 1 for s in where.values())
        assert sorted(r for members in rows.values() for r in members) == list(range(60))
        assert all(rows[name] for name in split.SPLITS)


def test_a_chat_dataset_is_derived_from_the_chosen_answers():
    pairs = [OPENAI_DPO_TOOLS, pair("q", "good", "bad", "sys")]
    source = versions.create("prefs", pairs, kind="preference", splits={"train": [0], "validation": [1], "test": []})
    derived = preference.derive_chat(source)
    assert derived.kind == "chat" and derived.dataset != source.dataset and derived.number == 1
    assert "chosen answers of prefs v1" in derived.note
    assert derived.splits == source.splits
    first, second = versions.examples(derived)
    assert first["messages"] == OPENAI_DPO_TOOLS["input"]["messages"] + OPENAI_DPO_TOOLS["preferred_output"]
    assert first["tools"] == OPENAI_DPO_TOOLS["input"]["tools"] and first["parallel_tool_calls"] is False
    assert [m["content"] for m in second["messages"]] == ["sys", "q", "good"]
    assert validate.validate([second]).ok
    again = preference.derive_chat(source)  # a second derivation gets a name of its own
    assert again.dataset not in (derived.dataset, source.dataset)
    with pytest.raises(ValueError, match="preference"):
        preference.derive_chat(derived)


def test_conversion_never_changes_the_record_it_reads():
    record = copy.deepcopy(TRL_PREFERENCE_PROMPT_REPEATED)
    preference.convert(record)
    assert record == TRL_PREFERENCE_PROMPT_REPEATED


@pytest.mark.parametrize(
    "record",
    [
        {"chosen": "Yes.", "rejected": "Yes."},
        {"chosen": "Paris is the capital.", "rejected": "Paris is the capital."},
        {"chosen": [{"role": "assistant", "content": "Hi"}], "rejected": [{"role": "assistant", "content": "Hi"}]},
    ],
)
def test_two_equal_answers_without_a_prompt_are_explained_as_the_same(record):
    got, problem = preference.convert(record)
    assert got is None and problem.startswith("both answers are the same") and "share no" not in problem


def test_one_pair_check_strict_or_lenient():
    malformed = {"input": "hi", "preferred_output": "x"}  # shaped like a pair, not one yet: the editor's case
    assert preference.is_pair(OPENAI_DPO) and preference.is_pair(OPENAI_DPO, lenient=True)
    assert not preference.is_pair(malformed) and preference.is_pair(malformed, lenient=True)
    for chat in ({"messages": []}, None, []):
        assert not preference.is_pair(chat) and not preference.is_pair(chat, lenient=True)


def test_counts_of_pairs_and_examples_agree_in_number():
    assert [preference.counted(n) for n in (0, 1, 2)] == [
        "0 preference pairs",
        "1 preference pair",
        "2 preference pairs",
    ]
    assert [preference.counted(n, "chat") for n in (1, 3)] == ["1 example", "3 examples"]
