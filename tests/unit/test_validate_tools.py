"""core.data.validate on OpenAI's full chat format: tools, tool calls, tool results, weights, content parts.

OpenAI's own function-calling example (tests/shapes.py) must be valid; each check of the tool-calling format
fires on a minimal bad example, naming its line and message; tool definitions and calls are counted as
OpenAI's cookbook counts them (the arithmetic is redone here with tiktoken).
Run: `pytest tests/unit/test_validate_tools.py`.
"""

from __future__ import annotations

import copy
import json

import pytest

from core import templates, tokens
from core.data import validate
from tests.shapes import (
    OPENAI_PARALLEL_TOOL_CALLS,
    OPENAI_TOOL_CALLING,
    OPENAI_VISION,
    OPENAI_WEIGHTED,
    WEATHER_TOOL,
    write_jsonl,
)

USER = {"role": "user", "content": "What is the weather in Paris?"}
ANSWER = {"role": "assistant", "content": "It is 21 degrees and sunny."}


def call(call_id: str = "call_1", name: str = "get_current_weather", arguments='{"location": "Paris, France"}'):
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def calling(*calls) -> dict:
    return {"role": "assistant", "content": None, "tool_calls": list(calls)}


def result(call_id: str = "call_1", content: str = '{"temperature": 21}') -> dict:
    return {"role": "tool", "tool_call_id": call_id, "content": content}


def example(*messages, tools=(WEATHER_TOOL,), **extra) -> dict:
    record = {"messages": list(messages), **extra}
    if tools is not None:
        record["tools"] = list(tools)
    return record


GOOD = example(USER, calling(call()), result(), ANSWER)


def findings(report: validate.Report) -> list:
    return report.errors + report.warnings


def test_openais_tool_calling_example_is_valid_with_no_errors(tmp_path):
    path = write_jsonl(tmp_path / "tools.jsonl", [OPENAI_TOOL_CALLING] * 3)
    report = validate.validate_file(path)
    assert report.errors == []
    # A missing system prompt stays a warning; nothing about tools, roles or null content.
    assert {f.kind for f in report.warnings} == {"no_system_message"}


def test_openais_weighted_parallel_and_vision_examples_are_valid():
    assert validate.validate([OPENAI_WEIGHTED, OPENAI_PARALLEL_TOOL_CALLS], count_tokens=False).errors == []
    assert validate.validate([OPENAI_VISION], model="gpt-4o-2024-08-06", count_tokens=False).errors == []


def test_legacy_functions_and_function_call_are_valid():
    legacy = {
        "messages": [
            USER,
            {"role": "assistant", "function_call": {"name": "get_current_weather", "arguments": '{"location": "x"}'}},
            {"role": "function", "name": "get_current_weather", "content": "21 degrees"},
            ANSWER,
        ],
        "functions": [WEATHER_TOOL["function"]],
    }
    assert validate.validate([legacy], count_tokens=False).errors == []


def test_parallel_calls_weights_names_and_content_parts_are_valid():
    record = example(
        {"role": "system", "content": [{"type": "text", "text": "You answer weather questions."}]},
        {"role": "user", "name": "ann", "content": [{"type": "text", "text": "Paris and Rome?"}]},
        calling(call("a"), call("b", arguments='{"location": "Rome, Italy"}')),
        result("a"),
        result("b", content=[{"type": "text", "text": '{"temperature": 25}'}]),
        {**ANSWER, "weight": 1},
        {"role": "user", "content": "Thanks"},
        {"role": "assistant", "content": "You are welcome.", "weight": 0},
        parallel_tool_calls=True,
    )
    assert findings(validate.validate([record], count_tokens=False)) == []


# (kind, a minimal record that raises it, the message number the finding names or None)
BAD = [
    ("tool_result_without_call", example(USER, result("call_9"), ANSWER), 2),
    ("tool_result_without_call", example(USER, calling(call("a")), result("zzz"), ANSWER), 3),
    ("tool_result_without_call", example(USER, {"role": "function", "name": "f", "content": "1"}, ANSWER), 2),
    ("duplicate_tool_call_id", example(USER, calling(call("a"), call("a")), result("a"), ANSWER), 2),
    ("duplicate_tool_call_id", example(USER, calling(call("a")), result("a"), result("a"), ANSWER), 4),
    ("bad_tool_arguments", example(USER, calling(call(arguments="{location: Paris")), result(), ANSWER), 2),
    ("bad_tool_arguments", example(USER, calling(call(arguments='["Paris"]')), result(), ANSWER), 2),
    ("bad_tool_arguments", example(USER, calling(call(arguments={"location": "Paris"})), result(), ANSWER), 2),
    ("unknown_function", example(USER, calling(call(name="get_weather")), result(), ANSWER), 2),
    ("bad_function_name", example(USER, calling(call(name="get weather!")), result(), ANSWER, tools=None), 2),
    ("bad_tool_call", example(USER, calling({"type": "function", "function": {"name": "f"}}), ANSWER), 2),
    ("bad_tool_call", example(USER, {"role": "assistant", "tool_calls": []}, ANSWER), 2),
    ("bad_weight", example(USER, {**ANSWER, "weight": 0.5}), 2),
    ("bad_weight", example({**USER, "weight": 1}, ANSWER), 1),
    ("assistant_without_output", example(USER, {"role": "assistant", "content": None}), 2),
    ("assistant_without_output", example(USER, {"role": "assistant"}), 2),
    ("nothing_to_learn", example(USER, {**ANSWER, "weight": 0}), None),
    ("message_missing_key", example(USER, calling(call()), {"role": "tool", "content": "21"}, ANSWER), 3),
]


def _tool(**function) -> dict:
    return {"type": "function", "function": {"name": "get_current_weather", **function}}


BAD_TOOLS = [
    ("tool_parameters_not_object", [_tool(parameters={"type": "string"})]),
    ("tool_parameters_not_object", [_tool(parameters=["location"])]),
    ("bad_function_name", [{"type": "function", "function": {"name": "x" * 65}}]),
    ("bad_tool_definition", [{"type": "retrieval", "function": {"name": "get_current_weather"}}]),
    ("bad_tool_definition", [{"type": "function"}]),
]


def _only(report: validate.Report, kind: str) -> list:
    found = [f for f in findings(report) if f.kind == kind]
    assert found, f"{kind} did not fire: {[(f.kind, f.message) for f in findings(report)]}"
    return found


@pytest.mark.parametrize(("kind", "bad", "message_no"), BAD, ids=[f"{c[0]}-{i}" for i, c in enumerate(BAD)])
def test_each_tool_check_names_the_line_the_message_and_a_fix(kind, bad, message_no):
    report = validate.validate([GOOD, bad, GOOD], count_tokens=False)
    found = _only(report, kind)
    assert {(f.line, f.row, f.severity) for f in found} == {(2, 1, "error")}
    assert all(f.hint and f.message for f in found)
    if message_no is not None:
        assert all(f"message {message_no}" in f.message for f in found)
    assert [f for f in report.errors if f.line != 2] == []  # the good examples have none


@pytest.mark.parametrize(("kind", "tools"), BAD_TOOLS, ids=[f"{c[0]}-{i}" for i, c in enumerate(BAD_TOOLS)])
def test_each_tool_definition_check_names_the_tool(kind, tools):
    bad = example(USER, ANSWER, tools=tools)
    found = _only(validate.validate([GOOD, bad], count_tokens=False), kind)
    assert {f.line for f in found} == {2} and all("tool 1" in f.message and f.hint for f in found)


def test_parallel_tool_calls_must_be_a_boolean():
    found = _only(
        validate.validate([example(USER, ANSWER, parallel_tool_calls="yes")], count_tokens=False),
        "bad_tool_definition",
    )
    assert "parallel_tool_calls" in found[0].message


def test_tool_turns_keep_the_role_order_checks_sensible():
    # assistant -> tool -> assistant, with two results in a row, is the normal shape: no alternation warning.
    report = validate.validate([GOOD, example(USER, calling(call("a"), call("b")), result("a"), result("b"), ANSWER)])
    assert "roles_not_alternating" not in report.counts_by_kind
    # Ending on a tool result still fails "the last must be the assistant's".
    ending = validate.validate([example(USER, calling(call()), result())], count_tokens=False)
    assert [f.kind for f in ending.errors] == ["last_not_assistant"]


def test_images_are_allowed_only_for_models_that_take_them():
    record = OPENAI_VISION
    image = record["messages"][1]["content"][1]
    assert validate.validate([record], model="gpt-4o-2024-08-06", count_tokens=False).errors == []
    refused = _only(
        validate.validate([record], model="gpt-4o-mini-2024-07-18", count_tokens=False), "image_not_supported"
    )
    assert "gpt-4o-mini-2024-07-18" in refused[0].message and "gpt-4o-2024-08-06" in refused[0].message
    in_answer = example(USER, {"role": "assistant", "content": [image]})
    found = _only(validate.validate([in_answer], model="gpt-4o-2024-08-06", count_tokens=False), "image_not_supported")
    assert "message 2" in found[0].message


def test_a_bad_content_part_is_named():
    bad = example({"role": "user", "content": [{"type": "text", "txt": "Hi"}]}, ANSWER)
    found = _only(validate.validate([bad], count_tokens=False), "missing_content")
    assert "part 1" in found[0].message


def test_hints_never_tell_users_to_drop_tool_calls():
    for hint in validate.HINTS.values():
        assert "tool" not in hint or "remove" not in hint.lower()
    assert "tool" in validate.HINTS["unrecognized_role"]


# ---------------------------------------------------------------- tokens


def test_tool_definitions_and_calls_are_counted_as_the_cookbook_counts_them():
    enc = tokens.encoding("o200k_base")
    n = lambda s: len(enc.encode_ordinary(s))  # noqa: E731
    record = copy.deepcopy(OPENAI_TOOL_CALLING)
    user, calls, tool, answer = record["messages"]
    fn = calls["tool_calls"][0]["function"]
    # Messages: 3 each, the role and every string value, the reply primer 3 (cookbook section 6).
    messages = 4 * 3 + 3 + sum(n(m["role"]) for m in record["messages"])
    messages += n(user["content"]) + n(tool["tool_call_id"]) + n(tool["content"]) + n(answer["content"])
    # The call: its name and arguments, as the assistant's output.
    call_tokens = n(fn["name"]) + n(fn["arguments"])
    # Tools (cookbook section 7, gpt-4o family): 7 per function + "name:description", 3 for the properties, per
    # property 3 + "name:type:description" (a trailing "." dropped), an enum -3 then 3 + item per item; 12 at the end.
    props = WEATHER_TOOL["function"]["parameters"]["properties"]
    definitions = 7 + n("get_current_weather:Get the current weather in a given location") + 3
    definitions += 3 + n(f"location:string:{props['location']['description']}")
    definitions += 3 - 3 + (3 + n("celsius")) + (3 + n("fahrenheit")) + n("format:string:")
    definitions += 12
    stats = validate.validate([record]).stats
    assert stats["total_tokens"] == messages + call_tokens + definitions
    assert stats["tool_tokens"]["definitions"] == definitions and stats["tool_tokens"]["calls"] == call_tokens
    assert stats["assistant_tokens_per_example"]["max"] == call_tokens + n(answer["content"])
    assert stats["billed_tokens"] == stats["n_epochs"] * (messages + call_tokens + definitions)
    assert tokens.count_chat(record["messages"], enc, templates.tools_of(record)) == stats["total_tokens"]


def test_content_parts_text_is_counted_and_plain_examples_have_no_tool_tokens():
    enc = tokens.encoding("o200k_base")
    plain = {"messages": [{"role": "user", "content": "Hi there"}, {"role": "assistant", "content": "Hello"}]}
    parts = {"messages": [{"role": "user", "content": [{"type": "text", "text": "Hi there"}]}, plain["messages"][1]]}
    a, b = validate.validate([plain]).stats, validate.validate([parts]).stats
    assert a["total_tokens"] == b["total_tokens"] == tokens.count_chat(plain["messages"], enc)
    assert a["tool_tokens"]["definitions"] == a["tool_tokens"]["calls"] == 0


def test_a_tool_calling_file_validates_a_chunk_at_a_time_with_lines(tmp_path):
    lines = [GOOD] * 5 + [example(USER, calling(call(arguments="nope")), result(), ANSWER)]
    path = tmp_path / "t.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    report = validate.validate_file(path, count_tokens=False)
    assert [(f.kind, f.line) for f in report.errors] == [("bad_tool_arguments", 6)]
