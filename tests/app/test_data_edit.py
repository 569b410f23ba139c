"""The Data page's Edit view under AppTest: filters, table edits, the chat view, bulk actions.

Each test creates a dataset in its own FT_HOME, renders `ui.data.edit.render` from a tiny script,
drives widgets by key and checks the draft the workspace now holds.
Run: `.venv/bin/pytest tests/app/test_data_edit.py -q -s` (-s prints the 10k render time).
"""

from __future__ import annotations

import copy
import json

from streamlit.testing.v1 import AppTest

from core.data import edits, versions
from tests.shapes import OPENAI_DPO, OPENAI_TOOL_CALLING, OPENAI_VISION, OPENAI_WEIGHTED, WEATHER_TOOL

SCRIPT = """
import time
import streamlit as st
from core.data import quality, validate, versions
from ui.data import edit, state

work = state.load(versions.datasets()[0])
report = validate.validate(work.examples, count_tokens=False)
checks = quality.run_checks(work.examples)
start = time.perf_counter()
edit.render(work, report, checks)
st.session_state["render_s"] = time.perf_counter() - start
"""


def chat(system: str | None, *turns: str) -> dict:
    msgs = [{"role": "system", "content": system}] if system else []
    roles = ["user", "assistant"] * len(turns)
    return {"messages": msgs + [{"role": r, "content": t} for r, t in zip(roles, turns, strict=False)]}


FOUR = [
    chat(None, "Capital of France?", "Here is the answer: Paris."),
    chat(None, "What is 2+2?", "Here is the answer: 4."),
    chat("Be brief.", "Largest ocean?", "Here is the answer: the Pacific."),
    chat(None, "Capital of Spain?", "Madrid."),
]


def start(examples: list[dict]) -> tuple[AppTest, int]:
    dataset_id = versions.create("demo", examples).dataset_id
    at = AppTest.from_string(SCRIPT, default_timeout=60)
    run(at)
    return at, dataset_id


def run(at: AppTest) -> None:
    at.run()
    assert not at.exception, at.exception


def draft(dataset_id: int) -> list[dict]:
    found = versions.load_draft(dataset_id)
    assert found is not None, "no draft was written"
    return found.examples


def table(at: AppTest):
    (editor,) = at.data_editor
    return editor.value


def search(at: AppTest, text: str) -> None:
    at.text_input(key="data_edit_search").set_value(text)
    run(at)


def edit_cells(at: AppTest, edited_rows: dict, page: int = 1) -> None:
    # AppTest cannot type into st.data_editor; the edit state goes in before run().
    at.session_state[f"data_edit_table_{page}"] = {
        "edited_rows": edited_rows,
        "added_rows": [],
        "deleted_rows": [],
    }
    run(at)


def test_search_is_case_insensitive_over_all_messages_and_counts_matches():
    at, _ = start(FOUR)
    assert "4 of 4 examples match" in at.markdown[0].value
    search(at, "CAPITAL")
    assert table(at)["row"].tolist() == [1, 4]
    assert "2 of 4 examples match" in at.markdown[0].value
    search(at, "be brief")  # only example 3's system message says this
    assert table(at)["row"].tolist() == [3]


def test_issue_and_length_filters():
    examples = [*FOUR, chat(None, "Tallest mountain?", "TODO")]  # a placeholder answer
    at, _ = start(examples)
    assert "placeholder" in at.multiselect(key="data_edit_kinds").options
    at.multiselect(key="data_edit_kinds").set_value(["placeholder"])
    run(at)
    assert table(at)["row"].tolist() == [5]
    assert "placeholder" in table(at)["issues"].iloc[0].split(", ")
    at.multiselect(key="data_edit_kinds").set_value([])
    # Answer words: 5, 5, 6, 1, 1; keep 2 to 5 words.
    at.slider(key="data_edit_words").set_value((2, 5))
    run(at)
    assert table(at)["row"].tolist() == [1, 2]


def test_table_edit_lands_on_the_right_example_when_filtered():
    at, dataset_id = start(FOUR)
    search(at, "ocean")  # the table's only row is example 3
    edit_cells(at, {0: {"assistant": "The Pacific.", "system": ""}})
    rows = draft(dataset_id)
    # The emptied system cell drops the system message; the answer is replaced.
    assert rows[2] == chat(None, "Largest ocean?", "The Pacific.")
    assert rows[:2] + rows[3:] == FOUR[:2] + FOUR[3:]
    assert at.success and "1 example" in at.success[0].value
    assert "Save as version" in " ".join(c.value for c in at.caption)
    assert table(at)["assistant"].tolist() == ["The Pacific."]


def test_table_edit_of_a_multi_turn_example_changes_its_last_turns():
    long = chat("Sys.", "Hi", "Hello!", "Name a color.", "Blue.")
    at, dataset_id = start([FOUR[0], long])
    assert table(at).iloc[1][["system", "user", "assistant", "turns"]].tolist() == [
        "Sys.",
        "Name a color.",
        "Blue.",
        5,
    ]
    edit_cells(at, {1: {"user": "Name a fruit.", "assistant": "Apple."}, 0: {"system": "Be kind."}})
    rows = draft(dataset_id)
    assert rows[1] == chat("Sys.", "Hi", "Hello!", "Name a fruit.", "Apple.")
    assert rows[0] == chat("Be kind.", "Capital of France?", "Here is the answer: Paris.")


def focus(at: AppTest, number: int) -> None:
    at.number_input(key="data_edit_focus").set_value(number)
    run(at)


def click(at: AppTest, key: str) -> None:
    at.button(key=key).click()
    run(at)


def test_chat_view_edits_adds_and_deletes_messages():
    at, dataset_id = start(FOUR)
    focus(at, 2)
    assert at.text_area(key="data_edit_msg_text_0").value == "What is 2+2?"
    at.text_area(key="data_edit_msg_text_1").set_value("4.")
    at.selectbox(key="data_edit_msg_role_0").set_value("user")
    click(at, "data_edit_msg_save")
    assert draft(dataset_id)[1] == chat(None, "What is 2+2?", "4.")
    click(at, "data_edit_msg_add")  # after an assistant turn the next natural role is user
    assert draft(dataset_id)[1]["messages"][-1] == {"role": "user", "content": ""}
    at.text_area(key="data_edit_msg_text_2").set_value("And 3+3?")
    click(at, "data_edit_msg_add")
    assert draft(dataset_id)[1] == chat(None, "What is 2+2?", "4.", "And 3+3?", "")
    click(at, "data_edit_msg_del_0")
    assert [m["content"] for m in draft(dataset_id)[1]["messages"]] == ["4.", "And 3+3?", ""]
    assert at.text_area(key="data_edit_msg_text_0").value == "4."
    assert draft(dataset_id)[0] == FOUR[0] and draft(dataset_id)[2:] == FOUR[2:]


def test_duplicate_delete_and_add_examples():
    at, dataset_id = start(FOUR)
    focus(at, 2)
    click(at, "data_edit_row_duplicate")
    assert draft(dataset_id) == [FOUR[0], FOUR[1], FOUR[1], FOUR[2], FOUR[3]]
    assert at.number_input(key="data_edit_focus").value == 3  # the copy, ready to edit
    click(at, "data_edit_row_delete")
    assert draft(dataset_id) == FOUR
    click(at, "data_edit_row_add")
    blank = {"messages": [{"role": "user", "content": ""}, {"role": "assistant", "content": ""}]}
    assert draft(dataset_id) == [*FOUR, blank]
    assert at.number_input(key="data_edit_focus").value == 5
    assert "5 of 5 examples match" in at.markdown[0].value


def test_bulk_actions_touch_only_the_filtered_rows():
    at, dataset_id = start(FOUR)
    search(at, "here is the answer")  # examples 1, 2 and 3
    at.text_input(key="data_edit_search").set_value("")
    search(at, "capital")  # examples 1 and 4; only 1 has the opener
    assert at.expander[0].label == "Bulk actions on the 2 filtered rows"
    click(at, "data_edit_bulk_strip")
    assert "from 1 of 2 examples" in at.success[0].value
    rows = draft(dataset_id)
    assert rows[0] == chat(None, "Capital of France?", "Paris.")
    assert rows[1:] == FOUR[1:]

    at.text_area(key="data_edit_bulk_system").set_value("Answer in one word.")
    click(at, "data_edit_bulk_system_apply")
    rows = draft(dataset_id)
    assert rows[0] == chat("Answer in one word.", "Capital of France?", "Paris.")
    assert rows[3] == chat("Answer in one word.", "Capital of Spain?", "Madrid.")
    assert rows[1:3] == FOUR[1:3]

    click(at, "data_edit_bulk_delete")  # not confirmed: nothing goes
    assert len(draft(dataset_id)) == 4 and at.warning
    at.checkbox(key="data_edit_bulk_confirm").check()
    click(at, "data_edit_bulk_delete")
    assert draft(dataset_id) == FOUR[1:3]
    assert at.checkbox(key="data_edit_bulk_confirm").value is False


def test_focus_request_from_the_check_view_opens_that_row():
    at, _ = start(FOUR)
    at.session_state["data_focus_row"] = 2  # 0-based: example 3
    run(at)
    assert at.number_input(key="data_edit_focus").value == 3
    assert at.text_area(key="data_edit_msg_text_0").value == "Be brief."
    assert at.selectbox(key="data_edit_msg_role_0").value == "system"
    assert "data_focus_row" not in at.session_state


def test_ten_thousand_examples_render_one_page():
    examples = [chat("Be brief.", f"Question {i}?", f"Answer number {i}.") for i in range(10_000)]
    at, _ = start(examples)
    print(f"\n10k examples: Edit view rendered in {at.session_state['render_s']:.2f} s")
    assert len(table(at)) == 50
    assert table(at)["row"].tolist()[:2] == [1, 2]
    at.number_input(key="data_edit_page").set_value(200)  # 10,000 / 50 = 200 pages
    run(at)
    print(f"10k examples, last page: {at.session_state['render_s']:.2f} s")
    assert table(at)["row"].tolist()[-1] == 10_000


# ---- two tabs on one draft --------------------------------------------------------------------------


def two_tabs_out_of_step() -> tuple[AppTest, AppTest, int]:
    """Tab 1 edits, tab 2 (which follows that draft) edits after it: tab 1's copy is now stale."""
    tab1, dataset_id = start(FOUR)
    tab2 = AppTest.from_string(SCRIPT, default_timeout=60)
    run(tab2)
    edit_cells(tab1, {0: {"assistant": "Paris, from tab 1."}})
    run(tab2)  # tab 2 had no edits of its own: it now shows tab 1's draft
    edit_cells(tab2, {1: {"assistant": "4, from tab 2."}})
    newer = draft(dataset_id)
    assert newer[0]["messages"][-1]["content"] == "Paris, from tab 1."  # tab 2 picked up tab 1's draft
    assert newer[1]["messages"][-1]["content"] == "4, from tab 2."
    edit_cells(tab1, {2: {"assistant": "The Pacific, from tab 1."}})  # over a draft tab 2 has changed
    return tab1, tab2, dataset_id


def test_a_stale_tab_is_told_and_does_not_overwrite_the_newer_draft():
    tab1, _, dataset_id = two_tabs_out_of_step()
    assert draft(dataset_id)[1]["messages"][-1]["content"] == "4, from tab 2."  # not overwritten
    warning = " ".join(w.value for w in tab1.warning)
    assert "This tab's copy is out of date" in warning and "Another tab or window edited" in warning
    mine = tab1.session_state["data_work"].examples  # tab 1's own edits are kept in its session
    assert mine[2]["messages"][-1]["content"] == "The Pacific, from tab 1."
    assert mine[1] == FOUR[1]


def test_the_stale_tab_can_keep_its_copy_as_a_new_version_and_the_other_draft_stays():
    tab1, _, dataset_id = two_tabs_out_of_step()
    mine = tab1.session_state["data_work"].examples
    tab1.button(key="data_conflict_keep").click()
    run(tab1)
    latest = versions.latest(dataset_id)
    assert versions.examples(latest) == mine and latest.number == 2
    assert draft(dataset_id)[1]["messages"][-1]["content"] == "4, from tab 2."


def test_the_stale_tab_can_load_the_newer_draft():
    tab1, _, dataset_id = two_tabs_out_of_step()
    tab1.button(key="data_conflict_load").click()
    run(tab1)
    assert tab1.session_state["data_work"].examples == draft(dataset_id)
    assert not [w for w in tab1.warning if "out of date" in w.value]


# ---- tool calls, content parts, weights and preference pairs ----------------------------------------


def tool_example() -> dict:
    """OpenAI's tool-calling example with a user turn of content parts (text and an image URL)."""
    ex = copy.deepcopy(OPENAI_TOOL_CALLING)
    ex["messages"][0]["content"] = copy.deepcopy(OPENAI_VISION["messages"][1]["content"])
    return ex


def test_tool_calls_results_parts_and_tools_have_their_own_bubbles():
    at, _ = start([tool_example()])
    assert at.text_input(key="data_edit_msg_fn_1_0").value == "get_current_weather"
    args = at.text_area(key="data_edit_msg_args_1_0").value
    assert args == json.dumps({"location": "San Francisco, USA", "format": "celsius"}, indent=2)
    assert at.text_area(key="data_edit_msg_text_2").value == json.dumps({"temperature": 18, "sky": "fog"}, indent=2)
    shown = " ".join(c.value for c in at.caption)
    assert "Result of `get_current_weather`" in shown  # the tool turn names the call it answers
    assert at.text_area(key="data_edit_msg_part_0_0").value == "What is this cheese?"
    assert at.text_input(key="data_edit_msg_part_0_1").value == "https://upload.wikimedia.org/cheese.jpg"
    assert json.loads(at.text_area(key="data_edit_tools").value) == [WEATHER_TOOL]
    click(at, "data_edit_msg_save")  # nothing edited: nothing changes, OpenAI's form is kept
    assert at.info and "Nothing changed" in at.info[0].value


def test_edited_arguments_stay_a_json_string_and_bad_json_is_refused_with_the_text_kept():
    at, dataset_id = start([tool_example()])
    bad = '{"location": "Paris, France", "format": celsius}'
    at.text_area(key="data_edit_msg_args_1_0").set_value(bad)
    click(at, "data_edit_msg_save")
    assert at.error and "message 2" in at.error[0].value and "not valid JSON" in at.error[0].value
    assert versions.load_draft(dataset_id) is None  # nothing saved
    assert at.text_area(key="data_edit_msg_args_1_0").value == bad  # the text is kept to fix
    at.text_area(key="data_edit_msg_args_1_0").set_value('{\n  "location": "Paris, France",\n  "format": "celsius"\n}')
    at.text_input(key="data_edit_msg_fn_1_0").set_value("get_weather")
    click(at, "data_edit_msg_save")
    saved = draft(dataset_id)[0]
    call = saved["messages"][1]
    assert call["tool_calls"][0]["function"] == {
        "name": "get_weather",
        "arguments": '{"location": "Paris, France", "format": "celsius"}',
    }
    assert call["content"] is None and call["tool_calls"][0]["id"] == "call_id"  # null stays null
    expected = tool_example()
    expected["messages"][1] = call
    assert saved == expected


def test_tools_parts_and_results_are_saved_back_in_openai_form():
    at, dataset_id = start([tool_example()])
    at.text_area(key="data_edit_tools").set_value("[{not json")
    click(at, "data_edit_msg_save")
    assert at.error and "tools" in at.error[0].value and versions.load_draft(dataset_id) is None
    tools = [WEATHER_TOOL, {**WEATHER_TOOL, "function": {**WEATHER_TOOL["function"], "name": "get_forecast"}}]
    at.text_area(key="data_edit_tools").set_value(json.dumps(tools, indent=2))
    at.text_area(key="data_edit_msg_part_0_0").set_value("Which cheese is this?")
    at.text_area(key="data_edit_msg_text_2").set_value('{"temperature": 21, "sky": "clear"}')
    click(at, "data_edit_msg_save")
    saved = draft(dataset_id)[0]
    assert saved["tools"] == tools and saved["parallel_tool_calls"] is False
    assert saved["messages"][0]["content"][0] == {"type": "text", "text": "Which cheese is this?"}
    assert saved["messages"][0]["content"][1] == tool_example()["messages"][0]["content"][1]
    assert saved["messages"][2] == {
        "role": "tool",
        "tool_call_id": "call_id",
        "content": '{"temperature": 21, "sky": "clear"}',
    }


def test_the_weight_toggle_saves_weight_zero_and_the_turn_looks_different():
    at, dataset_id = start([copy.deepcopy(OPENAI_WEIGHTED)])
    assert at.toggle(key="data_edit_msg_weight_2").value is False  # weight 0: shown, not learned
    assert at.toggle(key="data_edit_msg_weight_4").value is True
    assert any("not learned" in c.value for c in at.caption)
    at.toggle(key="data_edit_msg_weight_4").set_value(False)
    at.toggle(key="data_edit_msg_weight_2").set_value(True)
    click(at, "data_edit_msg_save")
    msgs = draft(dataset_id)[0]["messages"]
    assert [m.get("weight") for m in msgs] == [None, None, 1, None, 0]
    assert [m["content"] for m in msgs] == [m["content"] for m in OPENAI_WEIGHTED["messages"]]


def test_a_preference_pair_shows_chosen_and_rejected_side_by_side_and_saves_in_its_form():
    at, dataset_id = start([copy.deepcopy(OPENAI_DPO), chat(None, "Capital of Spain?", "Madrid.")])
    prompt = OPENAI_DPO["input"]["messages"][0]["content"]
    assert at.text_area(key="data_edit_msg_text_0").value == prompt
    assert at.text_area(key="data_edit_chosen_text_0").value == OPENAI_DPO["preferred_output"][0]["content"]
    assert at.text_area(key="data_edit_rejected_text_0").value == OPENAI_DPO["non_preferred_output"][0]["content"]
    at.text_area(key="data_edit_rejected_text_0").set_value("No idea.")
    click(at, "data_edit_msg_save")
    saved = draft(dataset_id)[0]
    expected = copy.deepcopy(OPENAI_DPO)
    expected["non_preferred_output"][0]["content"] = "No idea."
    assert saved == expected  # same DPO form: no "messages" key appears
    focus(at, 2)  # a chat example in the same dataset still opens as a chat
    assert at.text_area(key="data_edit_msg_text_1").value == "Madrid."
    search(at, "no idea")  # the search reads a pair's answers too
    assert table(at)["row"].tolist() == [1] and table(at)["user"].tolist() == [prompt]


def test_malformed_records_open_and_save_without_breaking_the_page():
    odd = [
        "a bare string",
        {"messages": ["junk", {"role": "user", "content": {"x": 1}}, {"role": "tool", "tool_call_id": "nope"}]},
        {"input": "not an object", "preferred_output": "nor a list"},
        {"messages": [{"role": "assistant", "tool_calls": [{"id": "c", "function": "f"}], "content": None}]},
    ]
    at, dataset_id = start(odd)
    for number in range(1, len(odd) + 1):
        focus(at, number)
        at.text_area(key="data_edit_tools").set_value('[{"type": "function", "function": {"name": "f"}}]')
        click(at, "data_edit_msg_save")
        assert json.loads(edits.tools_text(draft(dataset_id)[number - 1])) == [
            {"type": "function", "function": {"name": "f"}}
        ]
        if number == 2:
            assert "which no earlier message makes" in " ".join(c.value for c in at.caption)


def test_the_table_shows_and_edits_the_text_of_content_parts_keeping_the_image():
    at, dataset_id = start([copy.deepcopy(OPENAI_VISION)])
    assert table(at)["user"].tolist() == ["What is this cheese?"]
    edit_cells(at, {0: {"user": "Which cheese is this?"}})
    parts = draft(dataset_id)[0]["messages"][1]["content"]
    assert parts == [{"type": "text", "text": "Which cheese is this?"}, OPENAI_VISION["messages"][1]["content"][1]]
