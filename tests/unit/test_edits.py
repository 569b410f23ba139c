"""core.data.edits: the Data page's bulk edits return new lists and leave their input alone."""

from __future__ import annotations

import copy

import pytest

from core import chat
from core.data import edits
from tests.unit.test_quality import PARAGRAPH, SYSTEM, conv


def test_set_system_prompt_replaces_or_adds_on_chosen_rows_only():
    data = [conv("Q1?", PARAGRAPH), conv("Q2?", PARAGRAPH, system=None), conv("Q3?", PARAGRAPH)]
    before = copy.deepcopy(data)
    out = edits.set_system_prompt(data, "Be brief.", rows=[0, 1])
    assert [m["content"] for m in out[0]["messages"]] == ["Be brief.", "Q1?", PARAGRAPH]
    assert [m["role"] for m in out[1]["messages"]] == ["system", "user", "assistant"]
    assert out[2]["messages"][0]["content"] == SYSTEM
    assert data == before
    assert [m["role"] for m in edits.set_system_prompt(data, "")[0]["messages"]] == ["user", "assistant"]


def test_strip_prefix_is_case_insensitive_and_tidies():
    data = [conv("Q?", "HERE IS THE ANSWER:  volumes keep data."), conv("Q?", "Surely this stays.")]
    before = copy.deepcopy(data)
    out = edits.strip_prefix(data, "Here is the answer:")
    assert out[0]["messages"][-1]["content"] == "Volumes keep data."
    assert edits.strip_prefix(data, "Sure")[1]["messages"][-1]["content"] == "Surely this stays."
    assert edits.strip_prefix(data, "here is the answer", rows=[1])[0] == data[0]
    assert data == before


def test_delete_and_duplicate_rows():
    data = [conv(f"Q{i}?", PARAGRAPH) for i in range(4)]
    assert [chat.first_user(e) for e in edits.delete_rows(data, [1, 3])] == ["Q0?", "Q2?"]
    out = edits.duplicate_row(data, 1)
    assert [chat.first_user(e) for e in out] == ["Q0?", "Q1?", "Q1?", "Q2?", "Q3?"]
    out[2]["messages"][1]["content"] = "changed"
    assert chat.first_user(data[1]) == "Q1?" and len(data) == 4
    with pytest.raises(ValueError, match="out of range: the dataset has 4 rows"):
        edits.delete_rows(data, [7])


# ---------- the editor's bubbles: tool calls, parts, weights, preference pairs ----------


def test_every_shape_reads_into_bubbles_and_back_unchanged():
    from tests.shapes import OPENAI_DPO, OPENAI_TOOL_CALLING, OPENAI_VISION, OPENAI_WEIGHTED

    legacy = {"role": "assistant", "content": None, "function_call": {"name": "f", "arguments": '{"a": 1}'}}
    for example in (OPENAI_TOOL_CALLING, OPENAI_VISION, OPENAI_WEIGHTED, OPENAI_DPO, {"messages": [legacy, "junk"]}):
        shown = {name: [edits.fields(m) for m in msgs] for name, msgs in edits.sections(example).items()}
        assert edits.edited_example(example, shown, edits.tools_text(example)) == example


def test_a_legacy_function_call_is_edited_in_place_and_arguments_stay_a_string():
    legacy = {"role": "assistant", "content": None, "function_call": {"name": "f", "arguments": '{"a": 1}'}}
    shown = edits.fields(legacy)
    assert shown["calls"] == [{"name": "f", "arguments": '{\n  "a": 1\n}'}] and shown["weight"] is True
    shown["calls"] = [{"name": "g", "arguments": '{"a": 2, "b": "é"}'}]
    assert edits.edited(legacy, shown) == {
        "role": "assistant",
        "content": None,
        "function_call": {"name": "g", "arguments": '{"a": 2, "b": "é"}'},
    }
    for bad, says in (("[1, 2]", "must be a JSON object"), ("{a: 1}", "not valid JSON")):
        shown["calls"] = [{"name": "g", "arguments": bad}]
        with pytest.raises(edits.EditError, match=says):
            edits.edited(legacy, shown, "message 3")
    shown["calls"] = [{"name": " ", "arguments": "{}"}]
    with pytest.raises(edits.EditError, match="message 1, call 1 .*function name is empty"):
        edits.edited(legacy, shown, "message 1")


def test_bulk_edits_keep_a_preference_pair_in_its_form():
    from tests.shapes import OPENAI_DPO

    pair = copy.deepcopy(OPENAI_DPO)
    pair["preferred_output"][0]["content"] = "Sure! " + pair["preferred_output"][0]["content"]
    out = edits.set_system_prompt([pair], "Be brief.")[0]
    assert set(out) == set(OPENAI_DPO) and out["input"]["messages"][0] == {"role": "system", "content": "Be brief."}
    assert out["input"]["tools"] == [] and out["input"]["parallel_tool_calls"] is True
    stripped = edits.strip_prefix([pair], "Sure")[0]
    assert stripped["preferred_output"][0]["content"] == OPENAI_DPO["preferred_output"][0]["content"]
    assert pair["preferred_output"][0]["content"].startswith("Sure! ")  # the input is left alone
