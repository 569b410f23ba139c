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
