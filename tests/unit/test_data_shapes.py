"""Every real-world shape in tests/shapes.py imported as a user would: count, nothing dropped silently, the messages.

Run: `.venv/bin/pytest tests/unit/test_data_shapes.py -q`.
"""

from __future__ import annotations

import gzip
import json

import pytest

from core.data import ERROR, io
from tests import shapes


def chat(*turns: tuple[str, str]) -> list[dict]:
    return [{"role": r, "content": c} for r, c in turns]


def left_out(loaded: io.Loaded) -> list[int]:
    return [f.line for f in loaded.findings if f.severity == ERROR]


def accounted(loaded: io.Loaded, records: int) -> None:
    """Every record is either an example or named, by line, in what was left out."""
    assert len(loaded.examples) + len(left_out(loaded)) == records


def call(call_id: str, name: str, arguments: dict) -> dict:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}


GLAIVE_AS_OPENAI = [{"type": "function", "function": shapes.GLAIVE_TOOLS[0]}]


def test_llamafactory_sharegpt_tool_calls_become_openai_tool_calls(tmp_path):
    path = tmp_path / "glaive.json"
    path.write_text(json.dumps([shapes.LLAMAFACTORY_SHAREGPT_TOOLS, shapes.LLAMAFACTORY_SHAREGPT_TOOLS], indent=2))
    loaded = io.load(path)
    assert loaded.fmt == "sharegpt" and len(loaded.examples) == 2 and left_out(loaded) == []
    arguments = {"amount": 100, "from": "USD", "to": "EUR"}
    assert loaded.examples[0] == {
        "messages": [
            {"role": "system", "content": "You can convert currencies."},
            {"role": "user", "content": "How much is 100 USD in EUR?"},
            {"role": "assistant", "content": None, "tool_calls": [call("call_1", "convert_currency", arguments)]},
            {"role": "tool", "tool_call_id": "call_1", "content": '{"converted_amount": 92.5}'},
            {"role": "assistant", "content": "100 USD is about 92.50 EUR."},
        ],
        "tools": GLAIVE_AS_OPENAI,
    }
    assert any("tool call" in note for note in loaded.notes)


def test_llamafactory_sharegpt_with_role_tags_under_messages(tmp_path):
    loaded = io.load(shapes.write_jsonl(tmp_path / "tags.jsonl", [shapes.LLAMAFACTORY_SHAREGPT_TAGS]))
    assert loaded.fmt == "sharegpt" and left_out(loaded) == []
    (example,) = loaded.examples
    assert [m["role"] for m in example["messages"]] == ["user", "assistant", "tool", "assistant"]
    assert example["messages"][1]["tool_calls"] == [
        call("call_1", "convert_currency", {"amount": 100, "from": "USD", "to": "EUR"})
    ]
    assert example["tools"] == GLAIVE_AS_OPENAI


def test_a_sharegpt_function_call_that_is_not_json_is_left_out_by_line(tmp_path):
    broken = json.loads(json.dumps(shapes.LLAMAFACTORY_SHAREGPT_TOOLS))
    broken["conversations"][1]["value"] = "convert_currency(100)"
    loaded = io.load(shapes.write_jsonl(tmp_path / "g.jsonl", [shapes.LLAMAFACTORY_SHAREGPT_TOOLS, broken]))
    accounted(loaded, 2)
    (finding,) = [f for f in loaded.findings if f.severity == ERROR]
    assert finding.line == 2 and "turn 2" in finding.message and "function_call" in finding.message


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (
            shapes.GUANACO_TEXT,
            chat(
                ("user", "What is a llama?"),
                ("assistant", "A South American camelid."),
                ("user", "Big?"),
                ("assistant", "Up to 200 kg."),
            ),
        ),
        (shapes.CHATML_TEXT, chat(("system", "Be brief."), ("user", "Name a colour."), ("assistant", "Teal."))),
        (
            shapes.LLAMA2_TEXT,
            chat(
                ("system", "Be kind."),
                ("user", "Hi there"),
                ("assistant", "Hello!"),
                ("user", "Bye"),
                ("assistant", "Take care."),
            ),
        ),
    ],
    ids=["guanaco", "chatml", "llama2"],
)
def test_a_text_column_of_a_known_template_is_split_into_turns(tmp_path, record, expected):
    loaded = io.load(shapes.write_jsonl(tmp_path / "t.jsonl", [record, record]))
    assert loaded.fmt == "text" and left_out(loaded) == []
    assert [e["messages"] for e in loaded.examples] == [expected, expected]
    assert any("'text'" in note for note in loaded.notes)


def test_a_text_column_with_no_template_is_explained_by_line(tmp_path):
    loaded = io.load(shapes.write_jsonl(tmp_path / "t.jsonl", [shapes.GUANACO_TEXT, shapes.PLAIN_TEXT]))
    assert loaded.fmt == "text"
    accounted(loaded, 2)
    (finding,) = [f for f in loaded.findings if f.severity == ERROR]
    assert finding.line == 2 and "### Human:" in finding.message and "<|im_start|>" in finding.message
    assert "user and assistant columns" in finding.hint


def test_dolly_keeps_its_context_in_the_user_turn_and_says_so(tmp_path):
    loaded = io.load(shapes.write_jsonl(tmp_path / "dolly.jsonl", shapes.DOLLY))
    assert loaded.fmt == "alpaca" and left_out(loaded) == []
    assert [e["messages"] for e in loaded.examples] == [
        chat(
            ("user", "When was the tower finished?\n\nContext:\n" + shapes.DOLLY[0]["context"]),
            ("assistant", "In 1889."),
        ),
        chat(("user", "Name a primary colour."), ("assistant", "Red.")),
    ]
    assert any("'context'" in note and "1 record" in note for note in loaded.notes)
    assert any("'category'" in note and "not imported" in note for note in loaded.notes)


def test_aya_inputs_and_targets_are_detected(tmp_path):
    loaded = io.load(shapes.write_jsonl(tmp_path / "aya.jsonl", [shapes.AYA]))
    assert loaded.fmt == "table" and loaded.mapping["user"] == "inputs" and loaded.mapping["assistant"] == "targets"
    assert [e["messages"] for e in loaded.examples] == [
        chat(("user", "Quelle est la capitale de la France ?"), ("assistant", "Paris."))
    ]
    assert any("'inputs'" in note and "user" in note for note in loaded.notes)
    assert any("'language'" in note for note in loaded.notes)


def test_an_excel_semicolon_csv_with_spaced_headers(tmp_path):
    path = tmp_path / "sheet.csv"
    path.write_text(shapes.EXCEL_SEMICOLON_CSV)
    loaded = io.load(path)
    assert loaded.mapping == {"system": None, "user": "Question ", "assistant": "Model Answer"}
    assert [e["messages"] for e in loaded.examples] == [
        chat(("user", "What is 2,5 + 1?"), ("assistant", "3,5")),
        chat(("user", "Say hi"), ("assistant", "Hi!")),
    ]
    assert loaded.lines == [2, 3] and left_out(loaded) == []


def test_a_tab_separated_file_under_a_csv_name(tmp_path):
    path = tmp_path / "sheet.csv"
    path.write_text(shapes.SHEETS_TAB_CSV)
    loaded = io.load(path)
    assert [e["messages"] for e in loaded.examples] == [
        chat(("user", "What is 1+1?"), ("assistant", "2")),
        chat(("user", "Capital of Peru?"), ("assistant", "Lima")),
    ]


@pytest.mark.parametrize("name", ["d.jsonl.gz", "d.json.gz", "d.csv.gz"])
def test_gzip_files_are_read_directly(tmp_path, name):
    if name.startswith("d.csv"):
        data = shapes.SHEETS_TAB_CSV.encode()
    elif name.startswith("d.jsonl"):
        data = "".join(json.dumps(r) + "\n" for r in shapes.DOLLY).encode()
    else:
        data = json.dumps(shapes.DOLLY, indent=2).encode()
    path = tmp_path / name
    path.write_bytes(gzip.compress(data))
    loaded = io.load(path)
    assert len(loaded.examples) == 2 and left_out(loaded) == []
    assert loaded.source == name.split(".")[1]


def test_a_gzip_bomb_is_refused_at_the_limit_while_decompressing(tmp_path):
    path = tmp_path / "bomb.jsonl.gz"
    with gzip.open(path, "wb") as f:
        for _ in range(40):
            f.write(b" " * 1024 * 1024)  # 40 MB of spaces, a few KB compressed
    assert path.stat().st_size < 1024 * 1024
    with pytest.raises(io.DataError, match=r"bomb\.jsonl\.gz: uncompresses to more than the 10\.0 MB limit"):
        io.load(path, max_bytes=10 * 1024 * 1024)


def test_a_pretty_printed_json_array_names_the_line_each_record_starts_on(tmp_path):
    good = shapes.OPENAI_TOOL_CALLING
    records = [good, {"conversation": "not one"}, good]
    path = tmp_path / "array.json"
    text = json.dumps(records, indent=2)
    path.write_text(text)
    loaded = io.load(path, fmt="chat")
    starts = [i + 1 for i, line in enumerate(text.splitlines()) if line == "  {"]
    assert loaded.raw_lines == starts and loaded.lines == [starts[0], starts[2]]
    assert left_out(loaded) == [starts[1]]


def test_a_column_is_never_mapped_to_two_roles(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("Question,Answer\nq,a\n")
    with pytest.raises(io.DataError, match="column 'Answer' is chosen for both the user and the assistant turn"):
        io.load(path, mapping={"user": "Answer", "assistant": "Answer"})
    # a suggestion never takes a column the mapping already gave to another role
    with pytest.raises(io.DataError, match="has no column for the assistant turn"):
        io.load(path, mapping={"user": "Answer"})


def test_parallel_sharegpt_calls_are_answered_in_order_and_a_preamble_is_the_system_turn(tmp_path):
    both = [
        {"name": "convert_currency", "arguments": {"amount": 1, "from": "USD", "to": "EUR"}},
        {"name": "convert_currency", "arguments": {"amount": 1, "from": "USD", "to": "GBP"}},
    ]
    parallel = {
        "conversations": [
            {"from": "human", "value": "1 USD in EUR and GBP?"},
            {"from": "function_call", "value": json.dumps(both)},
            {"from": "observation", "value": "0.92"},
            {"from": "observation", "value": "0.79"},
            {"from": "gpt", "value": "0.92 EUR, 0.79 GBP."},
        ],
        "tools": json.dumps(shapes.GLAIVE_TOOLS),
    }
    lone = {"conversations": [{"from": "human", "value": "Hi"}, {"from": "observation", "value": "?"}]}
    loaded = io.load(shapes.write_jsonl(tmp_path / "p.jsonl", [parallel, lone]))
    accounted(loaded, 2)
    messages = loaded.examples[0]["messages"]
    assert [c["id"] for c in messages[1]["tool_calls"]] == ["call_1", "call_2"]
    assert [(m["tool_call_id"], m["content"]) for m in messages[2:4]] == [("call_1", "0.92"), ("call_2", "0.79")]
    (finding,) = [f for f in loaded.findings if f.severity == ERROR]
    assert finding.line == 2 and "answers no earlier function_call" in finding.message
    vicuna = {"text": "A chat with a helpful assistant. ### Human: Hi ### Assistant: Hello."}
    (example,) = io.load(shapes.write_jsonl(tmp_path / "v.jsonl", [vicuna])).examples
    assert example["messages"] == chat(
        ("system", "A chat with a helpful assistant."), ("user", "Hi"), ("assistant", "Hello.")
    )
