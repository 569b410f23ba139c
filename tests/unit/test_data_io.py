"""core.data.io: format detection, conversion to chat form, and export round trips.

Run: `pytest tests/unit/test_data_io.py`.
"""

from __future__ import annotations

import json
import os

import datasets
import pandas as pd
import pytest

from core.data import io

EXAMPLES = [
    {
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Explain Docker volumes."},
            {
                "role": "assistant",
                "content": "Persistent storage outside the container — «survives» removal.",
            },
        ]
    },
    {
        "messages": [
            {"role": "user", "content": "東京の天気は?"},
            {"role": "assistant", "content": "晴れ", "weight": 1},
        ]
    },
]


def chat(*turns: tuple[str, str]) -> dict:
    return {"messages": [{"role": r, "content": c} for r, c in turns]}


def write_jsonl(path, records) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")


def test_chat_jsonl_keeps_lines_across_blank_ones(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps(EXAMPLES[0]) + "\n\n\n" + json.dumps(EXAMPLES[1]) + "\n")
    loaded = io.load(path)
    assert (loaded.fmt, loaded.source) == ("chat", "jsonl")
    assert loaded.examples == EXAMPLES and loaded.lines == [1, 4] and loaded.findings == []


def test_sharegpt_is_detected_and_converted(tmp_path):
    path = tmp_path / "s.json"
    rows = [
        {
            "system": "Be kind.",
            "conversations": [
                {"from": "human", "value": "Hi"},
                {"from": "gpt", "value": "Hello"},
                {"from": "user", "value": "Bye"},
                {"from": "assistant", "value": "Take care"},
            ],
        }
    ]
    path.write_text(json.dumps(rows, indent=2))  # a pretty-printed JSON array
    loaded = io.load(path)
    assert loaded.fmt == "sharegpt"
    assert loaded.examples == [
        chat(
            ("system", "Be kind."),
            ("user", "Hi"),
            ("assistant", "Hello"),
            ("user", "Bye"),
            ("assistant", "Take care"),
        )
    ]
    assert [f.kind for f in loaded.findings] == ["file"]  # "one JSON array, not JSON Lines"


def test_alpaca_joins_instruction_and_input(tmp_path):
    path = tmp_path / "a.jsonl"
    write_jsonl(
        path,
        [
            {"instruction": "Translate to French.", "input": "cheese", "output": "fromage"},
            {"instruction": "Say hi.", "input": "", "output": "Hi!", "history": [["Who?", "Me."]]},
        ],
    )
    loaded = io.load(path)
    assert loaded.fmt == "alpaca"
    assert loaded.examples == [
        chat(("user", "Translate to French.\n\ncheese"), ("assistant", "fromage")),
        chat(("user", "Who?"), ("assistant", "Me."), ("user", "Say hi."), ("assistant", "Hi!")),
    ]


def test_csv_columns_are_detected(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text('Question,Answer\n"What is 2+2, really?",4\n"Multi\nline",yes\n')
    loaded = io.load(path)
    assert (loaded.fmt, loaded.source) == ("table", "csv")
    assert loaded.mapping == {"system": None, "user": "Question", "assistant": "Answer"}
    assert loaded.examples == [
        chat(("user", "What is 2+2, really?"), ("assistant", "4")),
        chat(("user", "Multi\nline"), ("assistant", "yes")),
    ]
    assert loaded.lines == [2, 3]  # the header is line 1; the second row starts on line 3


def test_csv_with_mapping_and_an_empty_cell(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("persona,ask,reply\nBe brief.,Hi,Hello\n,Yo,\n")
    loaded = io.load(path, mapping={"system": "persona", "user": "ask", "assistant": "reply"})
    assert loaded.examples == [chat(("system", "Be brief."), ("user", "Hi"), ("assistant", "Hello"))]
    [problem] = loaded.findings
    assert (problem.kind, problem.line) == ("not_converted", 3) and "'reply'" in problem.message


def test_json_array_of_flat_objects(tmp_path):
    path = tmp_path / "f.json"
    path.write_text(json.dumps([{"prompt": "p1", "response": "r1"}, {"prompt": "p2", "response": 7}], indent=1))
    loaded = io.load(path)
    assert loaded.fmt == "table"
    assert loaded.examples == [
        chat(("user", "p1"), ("assistant", "r1")),
        chat(("user", "p2"), ("assistant", "7")),
    ]


def test_one_line_json_array(tmp_path):
    path = tmp_path / "f.json"
    path.write_text(json.dumps(EXAMPLES))
    loaded = io.load(path)
    assert loaded.examples == EXAMPLES and loaded.lines == [1, 1]


def test_parquet_from_pandas_with_mapping(tmp_path):
    path = tmp_path / "p.parquet"
    pd.DataFrame({"input": ["a", "b"], "output": ["x", None], "id": [1, 2]}).to_parquet(path)
    loaded = io.load(path)
    assert loaded.source == "parquet" and loaded.examples == [chat(("user", "a"), ("assistant", "x"))]
    assert [(f.kind, f.line) for f in loaded.findings] == [("not_converted", 2)]


def test_parquet_with_list_of_struct_messages(tmp_path):
    path = tmp_path / "m.parquet"
    # pyarrow unifies the structs: message 1 gains weight=None, which load() drops again.
    pd.DataFrame({"messages": [EXAMPLES[1]["messages"], EXAMPLES[0]["messages"]]}).to_parquet(path)
    loaded = io.load(path)
    assert loaded.fmt == "chat" and loaded.examples == [EXAMPLES[1], EXAMPLES[0]]


def test_jsonl_round_trip(tmp_path):
    path = io.to_jsonl(EXAMPLES, tmp_path / "out" / "d.jsonl")
    assert io.load(path).examples == EXAMPLES
    assert io.to_jsonl_bytes(EXAMPLES) == path.read_bytes()
    assert "東京".encode() in path.read_bytes()  # readable UTF-8, not \u escapes


def test_jsonl_export_survives_lone_surrogates(tmp_path):
    odd = [chat(("user", "bad \ud800 half"), ("assistant", "ok"))]
    path = io.to_jsonl(odd, tmp_path / "d.jsonl")
    path.read_bytes().decode("utf-8")  # still valid UTF-8
    assert io.load(path).examples == odd


def test_parquet_round_trip_keeps_extra_keys(tmp_path):
    examples = EXAMPLES + [{**chat(("user", "2+2?"), ("assistant", "4")), "tools": [{"type": "function"}]}]
    path = io.to_parquet(examples, tmp_path / "d.parquet")
    loaded = io.load(path)
    assert loaded.source == "parquet" and loaded.examples == examples


def test_hf_dataset_round_trip(tmp_path):
    folder = io.to_hf_dataset(EXAMPLES, tmp_path / "hf")
    loaded = io.load(folder)
    assert (loaded.fmt, loaded.source) == ("chat", "hf") and loaded.examples == EXAMPLES
    # stored as a list of structs (what TRL reads), not as JSON text
    assert datasets.load_from_disk(str(folder)).features["messages"].feature["role"].dtype == "string"


def test_hf_dataset_with_mixed_content_types_round_trips_as_json(tmp_path):
    mixed = [
        chat(("user", "Hi"), ("assistant", "Hello")),
        {"messages": [{"role": "user", "content": ["part"]}]},
    ]
    assert io.load(io.to_hf_dataset(mixed, tmp_path / "hf")).examples == mixed


def test_hf_dataset_dict_reads_train_and_says_so(tmp_path):
    dd = datasets.DatasetDict(
        {"train": datasets.Dataset.from_list(EXAMPLES[:1]), "test": datasets.Dataset.from_list(EXAMPLES[1:])}
    )
    dd.save_to_disk(str(tmp_path / "dd"))
    loaded = io.load(tmp_path / "dd")
    assert loaded.examples == EXAMPLES[:1]
    assert "train" in loaded.findings[0].message and "test" in loaded.findings[0].message


def test_fmt_forces_a_layout(tmp_path):
    path = tmp_path / "x.txt"
    write_jsonl(path, [{"conversations": [{"from": "human", "value": "a"}, {"from": "gpt", "value": "b"}]}])
    assert io.load(path, fmt="sharegpt").examples == [chat(("user", "a"), ("assistant", "b"))]
    with pytest.raises(io.DataError, match="unknown format 'yaml'"):
        io.load(path, fmt="yaml")


def test_size_limit_is_configurable(tmp_path):
    path = tmp_path / "d.jsonl"
    write_jsonl(path, EXAMPLES)
    with pytest.raises(io.DataError, match=r"over the 0\.0 MB limit"):
        io.load(path, max_bytes=10)
    assert io.load(path, max_bytes=10_000).examples == EXAMPLES


def test_a_hub_dataset_is_held_to_the_size_limit(tmp_path, monkeypatch):
    # A local folder of data files goes through datasets.load_dataset, as a hub id does, with no network.
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    (tmp_path / "repo").mkdir()
    write_jsonl(tmp_path / "repo" / "train.jsonl", EXAMPLES)
    loaded = io.load(tmp_path / "repo", fmt="hub")
    assert (loaded.source, loaded.examples) == ("hub", EXAMPLES)
    with pytest.raises(io.DataError, match=r"repo is 0\.0 MB, over the 0\.0 MB limit"):
        io.load(tmp_path / "repo", fmt="hub", max_bytes=10)


def test_columns_for_a_mapping_form_even_when_none_is_recognised(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("q,a,notes\nx,y,z\n")
    assert io.columns(path, fmt="table") == ["q", "a", "notes"]
    with pytest.raises(io.DataError, match="no column for the user turn"):
        io.load(path)
    assert io.load(path, mapping={"user": "q", "assistant": "a"}).examples == [chat(("user", "x"), ("assistant", "y"))]
    assert io.suggest_mapping(["ID", "Question", "Answer"]) == {
        "system": None,
        "user": "Question",
        "assistant": "Answer",
    }


def test_load_cached_reads_a_file_again_only_when_it_changes(tmp_path):
    path = tmp_path / "d.jsonl"
    write_jsonl(path, EXAMPLES)
    first = io.load_cached(path)
    assert io.load_cached(path) is first and first.examples == EXAMPLES
    assert io.load_cached(path, fmt="chat") is not first  # another format is another read
    write_jsonl(path, EXAMPLES[:1])
    assert io.load_cached(path).examples == EXAMPLES[:1]
    path.write_text("not json\n")
    with pytest.raises(io.DataError, match="no readable record"):
        io.load_cached(path)
    table = tmp_path / "t.csv"
    table.write_text("q,a\nx,y\n")
    assert io.columns_cached(table) == ["q", "a"]
    mapped = io.load_cached(table, mapping={"user": "q", "assistant": "a"})
    assert mapped.examples == [chat(("user", "x"), ("assistant", "y"))]


def test_an_upload_is_written_once_and_the_limit_is_a_setting():
    kept = io.keep_upload("my data.jsonl", b"{}\n", "upload-1")
    assert kept.name == "my_data.jsonl" and kept.read_bytes() == b"{}\n"
    os.utime(kept, ns=(0, 0))
    assert io.keep_upload("my data.jsonl", b"{}\n", "upload-1") == kept
    assert kept.stat().st_mtime_ns == 0  # a rerun with the same upload does not write it again
    assert io.keep_upload("my data.jsonl", b"[]\n", "upload-2").read_bytes() == b"[]\n"
    assert io.limit_mb() == io.DEFAULT_MAX_BYTES // io.MB
    io.set_limit_mb(5)
    assert io.limit_mb() == 5
    with pytest.raises(ValueError, match="at least 1 MB"):
        io.set_limit_mb(0)
