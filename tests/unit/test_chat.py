"""core.chat: reading messages, the two prompts, the answer and content parts of a chat example."""

from core import chat

SYSTEM = {"role": "system", "content": "Be brief."}
Q1, A1 = {"role": "user", "content": "first?"}, {"role": "assistant", "content": "one"}
Q2, A2 = {"role": "user", "content": "second?"}, {"role": "assistant", "content": "two"}
PARTS = {"role": "assistant", "content": [{"type": "text", "text": "pa"}, {"type": "image_url"}, {"text": "rts"}]}


def test_messages_from_a_record_or_a_bare_list():
    record = {"messages": [SYSTEM, "junk", Q1, A1]}
    assert chat.messages(record) == [SYSTEM, Q1, A1]
    assert chat.messages([Q1, 3, A1]) == [Q1, A1]
    assert chat.raw_messages(record) is record["messages"]  # the editor writes back into it
    for nothing in (None, "text", {"prompt": "x"}, {"messages": "x"}):
        assert chat.messages(nothing) == [] and chat.raw_messages(nothing) == []


def test_problem_names_what_is_wrong():
    assert chat.problem({"messages": [Q1, A1]}) is None
    assert chat.problem([1, 2]) == "expected a JSON object with a 'messages' list, got list"
    assert chat.problem({"prompt": "x"}) == "no 'messages' list (keys found: prompt)"
    assert chat.problem({"messages": []}) == "'messages' must be a non-empty list, got []"
    assert chat.problem({"messages": [Q1, "hi"]}) == "message 2 is not an object with 'role' and 'content'"


def test_content_text():
    assert chat.content_text("hi") == "hi" and chat.content_text(None) == ""
    assert chat.content_text(PARTS["content"]) == "parts"
    assert chat.content_text(PARTS["content"], sep="\n") == "pa\nrts"
    assert chat.content_text(42) is None


def test_the_guides_prompt_is_everything_before_the_last_message():
    example = {"messages": [SYSTEM, Q1, A1, Q2, A2]}
    assert chat.prompt_and_reference(example) == ([SYSTEM, Q1, A1, Q2], "two")
    assert chat.prompt_and_reference({"messages": []}) == ([], "")


def test_first_user_is_the_first_user_turn_not_the_prompt():
    example = {"messages": [SYSTEM, Q1, A1, Q2, A2]}
    assert chat.first_user(example) == "first?"
    assert chat.first_user({"messages": [SYSTEM, A1]}) == ""
    assert chat.texts(example, "user") == ["first?", "second?"]
    assert chat.texts({"messages": [Q1, {"role": "user", "content": None}, PARTS]}, "assistant") == ["pa\nrts"]


def test_last_assistant_and_last_answer():
    example = {"messages": [Q1, A1, Q2, PARTS]}
    assert chat.last_assistant(example) is PARTS and chat.last_assistant_at(example) == 3
    assert chat.last_answer(example) == "pa\nrts"  # content parts read as their text
    assert (
        chat.last_answer({"messages": [Q1, A1, {**A2, "tool_calls": [{"id": "c"}]}]}) == "one"
    )  # a call answers nothing
    assert chat.last_assistant({"messages": [Q1]}) is None and chat.last_assistant_at([Q1]) is None
    assert chat.last_answer({"messages": [Q1]}) == ""
    assert chat.last_assistant_at([A1, "junk"]) == 0  # an index into the list as stored


def test_tool_calls_reads_openai_calls_and_the_legacy_function_call():
    from tests.shapes import OPENAI_TOOL_CALLING

    call_turn = OPENAI_TOOL_CALLING["messages"][1]
    assert [c["function"]["name"] for c in chat.tool_calls(call_turn)] == ["get_current_weather"]
    legacy = {"role": "assistant", "content": None, "function_call": {"name": "f", "arguments": "{}"}}
    assert chat.tool_calls(legacy) == [{"type": "function", "function": {"name": "f", "arguments": "{}"}}]
    assert chat.tool_calls({"role": "assistant", "tool_calls": [3, {"id": "a"}]}) == [{"id": "a"}]
    assert chat.tool_calls(A1) == [] and chat.tool_calls("junk") == []
