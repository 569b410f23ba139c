"""The Data page's table of examples as plain data: cells, cells written back, and the search."""

from core.data import table

EXAMPLE = {
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello there", "weight": 1},
    ],
    "id": 7,
}


def test_cells_show_the_system_and_last_turns():
    assert table.cells(EXAMPLE) == {"system": "Be brief.", "user": "Hi", "assistant": "Hello there", "turns": 3}
    assert table.cells({"messages": [{"role": "user", "content": ["a", "part"]}]})["user"] == '["a", "part"]'


def test_set_cell_changes_one_message_and_keeps_the_rest():
    out = table.set_cell(EXAMPLE, "assistant", "Hey")
    assert out["messages"][2] == {"role": "assistant", "content": "Hey", "weight": 1}
    assert out["id"] == 7 and EXAMPLE["messages"][2]["content"] == "Hello there"  # the original is untouched
    assert [m["role"] for m in table.set_cell(EXAMPLE, "system", "  ")["messages"]] == ["user", "assistant"]
    no_system = table.set_cell(EXAMPLE, "system", "")
    assert table.set_cell(no_system, "system", "New")["messages"][0] == {"role": "system", "content": "New"}
    only_answer = {"messages": [{"role": "assistant", "content": "A"}]}
    assert [m["role"] for m in table.set_cell(only_answer, "user", "Q")["messages"]] == ["user", "assistant"]


def test_search_by_text_kind_and_answer_length():
    examples = [EXAMPLE, {"messages": [{"role": "user", "content": "Tell me"}, {"role": "assistant", "content": "x"}]}]
    index = table.search_index(examples)
    assert index == (["be brief.\nhi\nhello there", "tell me\nx"], [2, 1])
    issues = {1: ["empty_answer"]}
    assert table.matching_rows(index, issues, query="HELLO") == [0]
    assert table.matching_rows(index, issues, kinds=["empty_answer"]) == [1]
    assert table.matching_rows(index, issues, words=(2, 5)) == [0]
    assert table.matching_rows(index, issues, only_issues=True) == [1]
