"""Read JSON Lines the way a curator's file actually arrives: BOMs, UTF-16, bad bytes, arrays.

`read_records(path)` yields `(line_number, object)` for each non-blank line and raises
`JsonlError` naming the first line it cannot read and why; `scan_records` reports every bad
line instead of stopping. Line numbers are 1-based lines of the file.
Test: `pytest tests/unit/test_jsonl.py`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

MAX_LINE_CHARS_SHOWN = 80


@dataclass
class JsonlError(Exception):
    """A problem with the file; line is None when it concerns the whole file."""

    line: int | None
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}" if self.line else self.reason


def _decode(raw: bytes) -> tuple[str, list[JsonlError]]:
    """Bytes to text, with the file-level notes (BOM, UTF-16) a curator should see."""
    notes: list[JsonlError] = []
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        notes.append(JsonlError(None, "file is UTF-16; save it as UTF-8 (it was read as UTF-16)"))
        try:
            return raw.decode("utf-16"), notes
        except UnicodeDecodeError as e:
            raise JsonlError(None, f"broken UTF-16 at byte offset {e.start}; save the file as UTF-8") from None
    if raw.startswith(b"\xef\xbb\xbf"):
        notes.append(JsonlError(None, "file starts with a UTF-8 byte-order mark (BOM); it was ignored"))
        raw = raw[3:]
    try:
        return raw.decode("utf-8"), notes
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise JsonlError(
            line,
            f"invalid UTF-8 at byte offset {e.start} (byte 0x{raw[e.start]:02x}); save the file as UTF-8",
        ) from None


def _parse_line(number: int, text: str) -> object:
    if "\x00" in text:
        raise JsonlError(number, "contains NUL bytes (binary data?)")
    snippet = text[:MAX_LINE_CHARS_SHOWN] + ("..." if len(text) > MAX_LINE_CHARS_SHOWN else "")
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise JsonlError(number, f"invalid JSON ({e.msg} at column {e.colno}): {snippet!r}") from None
    except RecursionError:
        raise JsonlError(number, "JSON nested too deeply to read") from None
    except ValueError as e:  # e.g. an integer longer than Python's digit limit
        raise JsonlError(number, f"unreadable JSON value ({e}): {snippet!r}") from None


def read_text(path: str | Path) -> tuple[str, list[JsonlError]]:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise JsonlError(None, f"cannot read {path}: {e.strerror or e}") from None
    if not raw.strip():
        raise JsonlError(None, "the file is empty")
    if b"\x00" in raw[:1024] and not raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise JsonlError(1, "contains NUL bytes: this looks like a binary file, not JSON Lines")
    return _decode(raw)


def _looks_like_array(text: str) -> bool:
    stripped = text.lstrip()
    return stripped.startswith("[") and "\n" in stripped.strip()


def scan_records(path: str | Path) -> tuple[list[tuple[int, object]], list[JsonlError]]:
    """Every readable record and every problem, without stopping at the first."""
    text, problems = read_text(path)
    if _looks_like_array(text):
        try:
            items = json.loads(text)
            problems.append(JsonlError(None, "file is one JSON array, not JSON Lines; read it as an array"))
            return [(i + 1, item) for i, item in enumerate(items)], problems
        except json.JSONDecodeError:
            pass
    records = []
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            records.append((number, _parse_line(number, line.rstrip("\r"))))
        except JsonlError as e:
            problems.append(e)
    return records, problems


def read_records(path: str | Path) -> Iterator[tuple[int, object]]:
    """Strict reading: raises JsonlError at the first line that is not a JSON value."""
    text, _ = read_text(path)
    if _looks_like_array(text):
        raise JsonlError(1, "the file is one JSON array, not JSON Lines (one object per line)")
    for number, line in enumerate(text.split("\n"), 1):
        if line.strip():
            yield number, _parse_line(number, line.rstrip("\r"))
