"""A corpus of malformed files: each gets a clear DataError or a Finding with its line, never a traceback.

Every file is generated here, in tmp_path. Run: `pytest tests/unit/test_bad_inputs.py`.
"""

from __future__ import annotations

import json
import random

import pytest

from core.data import io, validate

GOOD = {
    "messages": [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
    ]
}
LINE = json.dumps(GOOD).encode() + b"\n"


def msgs(*messages) -> bytes:
    return json.dumps({"messages": list(messages)}).encode() + b"\n"


def long_good() -> bytes:
    # Longer than the 1 KiB a reader sniffs, so a later problem is not mistaken for a binary file.
    return json.dumps({"messages": [{"role": "user", "content": "x " * 600}, GOOD["messages"][2]]}).encode() + b"\n"


def not_a_dataset_folder(tmp_path):
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "notes.txt").write_text("hello")
    return folder


def many_lines_with_three_bad(tmp_path):
    bad = {17: b'{"messages": [\n', 50_000: b"not json\n", 99_999: b'{"messages": []}\n'}
    small = LINE.replace(b" ", b"")
    path = tmp_path / "many.jsonl"
    path.write_bytes(b"".join(bad.get(i, small) for i in range(1, 100_001)))
    return path


def latin1_offset() -> int:
    # The bad byte's file offset: all of line 1, then its index within line 2.
    return len(LINE) + LATIN1_LINE.index(b"\xe9")


LATIN1_LINE = b'{"messages": [{"role": "user", "content": "caf\xe9"}]}\n'
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x06\x00\x00\x00"

# id, file suffix, content (bytes, or a function of tmp_path returning the path), load kwargs, expectation:
#   ("error", [texts])            DataError whose message holds each text (and the file name)
#   ("finding", kind, line, text) a finding of that kind at that line (None: whole file) whose message holds text
#   ("clean", n)                  no errors, n examples
CASES = [
    (
        "truncated-json",
        ".jsonl",
        LINE + b'{"messages": [{"role": "user", "content": "Hi"',
        {},
        ("finding", "unreadable_line", 2, "invalid JSON"),
    ),
    (
        "messages-is-an-object",
        ".jsonl",
        b'{"messages": {"role": "user", "content": "Hi"}}\n',
        {},
        ("finding", "missing_messages_list", 1, "not a list"),
    ),
    (
        "messages-is-a-string",
        ".jsonl",
        LINE + b'{"messages": "Hi there"}\n',
        {},
        ("finding", "missing_messages_list", 2, "a string"),
    ),
    (
        "messages-is-null",
        ".jsonl",
        b'{"messages": null}\n',
        {},
        ("finding", "missing_messages_list", 1, "null"),
    ),
    (
        "json-array-not-lines",
        ".jsonl",
        json.dumps([GOOD, GOOD], indent=2).encode(),
        {},
        ("finding", "file", None, "JSON array"),
    ),
    ("utf8-bom", ".jsonl", b"\xef\xbb\xbf" + LINE, {}, ("finding", "encoding", None, "byte-order mark")),
    ("utf16", ".jsonl", LINE.decode().encode("utf-16"), {}, ("finding", "encoding", None, "UTF-16")),
    ("utf16-broken", ".jsonl", b"\xff\xfe{\x00\x22", {}, ("error", ["UTF-16"])),
    (
        "latin1-byte-in-line-2",
        ".jsonl",
        LINE + LATIN1_LINE + LINE,
        {},
        ("finding", "encoding", 2, f"byte offset {len(LINE) + LATIN1_LINE.index(bytes([0xE9]))}"),
    ),
    (
        "latin1-whole-file",
        ".jsonl",
        LATIN1_LINE,
        {},
        ("error", ["line 1", "invalid UTF-8", "byte offset 46"]),
    ),
    ("nul-bytes-at-start", ".jsonl", b"\x00\x00" + LINE, {}, ("error", ["NUL"])),
    (
        "nul-bytes-in-line-3",
        ".jsonl",
        long_good() + long_good() + b'{"a": 1}\x00\x00\n',
        {},
        ("finding", "encoding", 3, "NUL"),
    ),
    (
        "20mb-single-line",
        ".jsonl",
        b'{"messages": [{"role": "user", "content": "' + b"lorem " * 3_500_000,
        {},
        ("error", ["line 1", "invalid JSON"]),
    ),
    ("empty-file", ".jsonl", b"", {}, ("error", ["empty"])),
    ("whitespace-only", ".jsonl", b"   \t  \n   \n", {}, ("error", ["empty or blank"])),
    ("only-newlines", ".jsonl", b"\n\n", {}, ("error", ["empty or blank"])),
    ("random-bytes", ".jsonl", random.Random(7).randbytes(4096), {}, ("error", [".jsonl"])),
    ("png-header", ".jsonl", PNG, {}, ("error", ["NUL", "binary"])),
    ("png-named-csv", ".csv", PNG, {}, ("error", ["binary"])),
    (
        "csv-missing-columns",
        ".csv",
        b"foo,bar\n1,2\n",
        {},
        ("error", ["no column for the user turn", "columns: foo, bar"]),
    ),
    (
        "csv-mapping-to-absent-column",
        ".csv",
        b"question,reply\nq,a\n",
        {"mapping": {"assistant": "answer"}},
        ("error", ["no column 'answer'", "question, reply"]),
    ),
    (
        "csv-ragged-row",
        ".csv",
        b"question,answer\nq1,a1\nq2,a2,extra\nq3,a3\n",
        {},
        ("finding", "unreadable_line", 3, "3 fields"),
    ),
    ("100k-lines-three-bad", None, many_lines_with_three_bad, {}, ("lines", [17, 50_000, 99_999])),
    (
        "content-is-a-list",
        ".jsonl",
        msgs({"role": "user", "content": ["Hi"]}, GOOD["messages"][2]),
        {},
        ("finding", "missing_content", 1, "a list"),
    ),
    (
        "content-is-a-number",
        ".jsonl",
        msgs({"role": "user", "content": 42}, GOOD["messages"][2]),
        {},
        ("finding", "missing_content", 1, "a number"),
    ),
    (
        "content-is-nan",
        ".jsonl",
        b'{"messages": [{"role": "user", "content": NaN}]}\n',
        {},
        ("finding", "missing_content", 1, "a number"),
    ),
    (
        "role-missing",
        ".jsonl",
        msgs({"content": "Hi"}, GOOD["messages"][2]),
        {},
        ("finding", "message_missing_key", 1, "no role"),
    ),
    ("scalar-lines", ".jsonl", LINE + b"42\n", {}, ("finding", "data_type", 2, "a number")),
    (
        "deeply-nested-junk-line-2",
        ".jsonl",
        LINE + b"[" * 100_000 + b"\n",
        {},
        ("finding", "unreadable_line", 2, "nested too deeply"),
    ),
    (
        "deeply-nested-junk-line-1",
        ".jsonl",
        b"[" * 100_000 + b"\n" + LINE,
        {},
        ("finding", "unreadable_line", 1, "nested too deeply"),
    ),
    (
        "deep-but-valid-content",
        ".jsonl",
        msgs({"role": "user", "content": json.loads('{"a":' * 50 + "1" + "}" * 50)}, GOOD["messages"][2]),
        {},
        ("finding", "missing_content", 1, "an object"),
    ),
    (
        "integer-too-long",
        ".jsonl",
        LINE + b'{"messages": ' + b"1" * 5000 + b"}\n",
        {},
        ("finding", "unreadable_line", 2, "digits"),
    ),
    ("crlf-line-endings", ".jsonl", LINE.replace(b"\n", b"\r\n") * 2, {}, ("clean", 2)),
    ("old-mac-cr-only", ".jsonl", LINE.replace(b"\n", b"\r") * 2, {}, ("error", ["line 1", "Extra data"])),
    (
        "trailing-garbage",
        ".jsonl",
        LINE + LINE.rstrip() + b" xyz\n",
        {},
        ("finding", "unreadable_line", 2, "Extra data"),
    ),
    (
        "escaped-lone-surrogate",
        ".jsonl",
        b'{"messages": [{"role": "user", "content": "\\ud800"}, {"role": "assistant", "content": "ok"}]}\n',
        {},
        ("clean", 1),
    ),
    (
        "utf8-cut-at-end-of-file",
        ".jsonl",
        LINE + "é".encode()[:1],
        {},
        ("finding", "encoding", 2, f"byte offset {len(LINE)}"),
    ),
    ("parquet-that-is-text", ".parquet", b"question,answer\nq,a\n", {}, ("error", ["not a Parquet file"])),
    ("parquet-truncated", ".parquet", b"PAR1" + b"\x15\x04" * 50, {}, ("error", ["damaged Parquet"])),
    ("folder-not-hf-dataset", None, not_a_dataset_folder, {}, ("error", ["not a Hugging Face dataset"])),
    ("over-size-limit", ".jsonl", LINE * 100, {"max_bytes": 1000}, ("error", ["over the", "limit", "MB"])),
    ("missing-file", None, lambda tmp_path: tmp_path / "nope.jsonl", {}, ("error", ["no such file"])),
]


def make(tmp_path, name, suffix, content):
    if callable(content):
        return content(tmp_path)
    path = tmp_path / f"{name}{suffix}"
    path.write_bytes(content)
    return path


@pytest.mark.parametrize(("name", "suffix", "content", "kwargs", "expect"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_named_never_a_traceback(tmp_path, name, suffix, content, kwargs, expect):
    path = make(tmp_path, name, suffix, content)
    if expect[0] == "error":
        with pytest.raises(io.DataError) as caught:
            validate.validate_file(path, **kwargs)
        message = str(caught.value)
        assert path.name in message
        for text in expect[1]:
            assert text in message
        assert len(message) < 400  # a 20 MB line is quoted, not printed
        return
    report = validate.validate_file(path, **kwargs)
    findings = report.errors + report.warnings
    if expect[0] == "finding":
        _, kind, line, text = expect
        hits = [f for f in findings if f.kind == kind and f.line == line]
        assert hits, f"no {kind} at line {line}: {[(f.kind, f.line, f.message) for f in findings]}"
        assert any(text in f.message for f in hits), [f.message for f in hits]
    elif expect[0] == "lines":
        assert [f.line for f in report.errors] == expect[1]
        assert report.examples == 100_000 - 2  # lines 17 and 50,000 are not JSON; 99,999 is, with no messages
        assert report.warnings == []
    else:
        assert report.errors == [] and report.examples == expect[1]


def test_corpus_is_big_enough():
    assert len(CASES) >= 25


def test_latin1_offset_helper_matches_the_case():
    # Guards the hand arithmetic used in the latin1 case: one full line, then "caf" and 40 bytes before it.
    assert latin1_offset() == len(LINE) + 46
