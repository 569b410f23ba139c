"""The tolerant JSON Lines reader: every bad file gets a line and a reason."""

import pytest

from core.jsonl import JsonlError, read_records, scan_records


def write(tmp_path, data: bytes):
    p = tmp_path / "f.jsonl"
    p.write_bytes(data)
    return p


def test_reads_lines_and_skips_blank_ones(tmp_path):
    p = write(tmp_path, b'{"a": 1}\n\n{"a": 2}\r\n')
    assert list(read_records(p)) == [(1, {"a": 1}), (3, {"a": 2})]


@pytest.mark.parametrize(
    "data, line, words",
    [
        (b'{"a": 1}\n{"a": \n', 2, "invalid JSON"),
        (b'{"a": 1}\n\xff\xfe\xfa\n', 2, "byte offset 9"),
        (b"", None, "empty"),
        (b'[\n{"a": 1},\n{"a": 2}\n]\n', 1, "JSON array"),
        (b'{"a": "x\x00"}\n', 1, "NUL"),
        (b"[" * 100_000 + b"\n", 1, "nested too deeply"),
        (b'{"a": ' + b"9" * 5000 + b"}\n", 1, "unreadable JSON value"),
        (b"\xff\xfe{\x00\n\x00\x00\xd8", None, "broken UTF-16"),
    ],
)
def test_first_bad_line_is_named(tmp_path, data, line, words):
    with pytest.raises(JsonlError) as e:
        list(read_records(write(tmp_path, data)))
    assert e.value.line == line
    assert words in str(e.value)


def test_bom_and_utf16_are_read_with_a_note(tmp_path):
    recs, notes = scan_records(write(tmp_path, b'\xef\xbb\xbf{"a": 1}\n'))
    assert recs == [(1, {"a": 1})] and "byte-order mark" in notes[0].reason
    recs, notes = scan_records(write(tmp_path, '{"a": "é"}\n'.encode("utf-16")))
    assert recs == [(1, {"a": "é"})] and "UTF-16" in notes[0].reason


def test_scan_reports_every_bad_line(tmp_path):
    recs, problems = scan_records(write(tmp_path, b'{"a": 1}\nnope\n{"a": 3}\n{\n'))
    assert [n for n, _ in recs] == [1, 3]
    assert [p.line for p in problems] == [2, 4]
