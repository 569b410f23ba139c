"""Readers: a file (JSON Lines, JSON, CSV/TSV, Parquet), a `save_to_disk` folder or a hub dataset, as raw records.

Each reader returns (source lines, records, findings): every record as read, the 1-based line (or row) it came from,
and a Finding for each line it could not read. A file that cannot be read at all raises DataError. core.data.layouts
turns the records into chat examples; core.data.io.load joins the two.
Test: `pytest tests/unit/test_data_io.py tests/unit/test_bad_inputs.py`.
"""

from __future__ import annotations

import contextlib
import csv
import gc
import json
import re
from io import StringIO
from pathlib import Path

from core import jsonl
from core.data import ERROR, WARNING, DataError, Finding
from core.data.writers import JSON_COLUMNS_KEY

DEFAULT_MAX_BYTES = 200 * 1024 * 1024
SOURCES = ("jsonl", "json", "csv", "parquet", "hf", "hub")
SNIPPET = 80
_BOM8, _BOM16 = b"\xef\xbb\xbf", (b"\xff\xfe", b"\xfe\xff")
_BAD_BYTE = re.compile("[\udc80-\udcff]")  # how errors="surrogateescape" shows bytes that are not UTF-8


@contextlib.contextmanager
def gc_paused():
    """Building 100k nested records trips the cyclic GC again and again (3x slower here); pause it."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def snippet(text: str) -> str:
    return repr(text[:SNIPPET] + ("..." if len(text) > SNIPPET else ""))


# ---------------------------------------------------------------- JSON Lines and JSON


def _parse(text: str) -> tuple[object, str | None]:
    """One JSON value, or why not, in core.jsonl's words (it lets RecursionError escape)."""
    if "\x00" in text:
        return None, "contains NUL bytes (binary data?)"
    try:
        return json.loads(text), None
    except json.JSONDecodeError as e:
        return None, f"invalid JSON ({e.msg} at column {e.colno}): {snippet(text)}"
    except RecursionError:
        return None, "invalid JSON: nested too deeply to read"
    except ValueError as e:  # e.g. integers longer than Python's 4,300-digit conversion limit
        return None, f"invalid JSON ({e})"


def _byte_findings(path: Path, numbers: list[int]) -> list[Finding]:
    """Where each listed line stops being UTF-8, as a byte offset into the file."""
    wanted, offset, out = set(numbers), 0, []
    for number, chunk in enumerate(path.read_bytes().split(b"\n"), 1):
        if number in wanted:
            try:
                chunk.decode("utf-8")
            except UnicodeDecodeError as e:
                msg = f"invalid UTF-8 at byte offset {offset + e.start} (byte 0x{chunk[e.start]:02x})"
                out.append(Finding("encoding", msg, line=number, hint="save the file as UTF-8"))
        offset += len(chunk) + 1
    return out


def _read_lines(path: Path, bom: bool) -> tuple[list[int], list, list[Finding]]:
    """JSON Lines parsed line by line with json's C scanner; every bad line becomes a Finding.

    Skipping json.loads' per-call work (encoding sniffing, two regex passes) and reading with
    surrogateescape (a bad byte costs its line, not the file) keeps pace with the guide's loop.
    """
    scan = json.JSONDecoder().scan_once
    lines, objs, findings, bad_bytes = [], [], [], []
    encoding = "utf-8-sig" if bom else "utf-8"
    with open(path, encoding=encoding, errors="surrogateescape", newline="\n") as f:
        for number, text in enumerate(f, 1):
            try:
                obj, end = scan(text, 0)
                if (end < len(text) and not text[end:].isspace()) or (not text.isascii() and _BAD_BYTE.search(text)):
                    raise ValueError
            except (StopIteration, ValueError, RecursionError):
                if not text.strip():
                    continue
                if not text.isascii() and _BAD_BYTE.search(text):
                    bad_bytes.append(number)
                    continue
                obj, problem = _parse(text.rstrip("\r\n"))  # names the problem; accepts leading spaces
                if problem:
                    kind = "encoding" if "NUL" in problem else "unreadable_line"
                    findings.append(Finding(kind, problem, line=number))
                    continue
            objs.append(obj)
            lines.append(number)
    if bad_bytes:
        findings = sorted(findings + _byte_findings(path, bad_bytes), key=lambda f: f.line)
    if bom:
        findings.insert(
            0, Finding("encoding", "file starts with a UTF-8 byte-order mark (BOM); it was ignored", WARNING)
        )
    return lines, objs, findings


def _via_jsonl(path: Path) -> tuple[list[int], list, list[Finding]] | None:
    """UTF-16, binary-looking and JSON-array files, as core.jsonl reads them; None: read by line."""
    try:
        pairs, problems = jsonl.scan_records(path)
    except UnicodeDecodeError as e:  # before ValueError: it is one
        raise DataError(f"starts like UTF-16 but is not valid UTF-16 ({e.reason} at byte {e.start})") from None
    except jsonl.JsonlError as e:
        if e.line and "UTF-8" in e.reason:
            return None
        raise DataError(str(e)) from None
    except (RecursionError, ValueError):  # core.jsonl lets these escape from json.loads
        return None
    findings = []
    for p in problems:
        encoding = any(w in p.reason for w in ("NUL", "UTF-8", "UTF-16", "BOM"))
        kind = "encoding" if encoding else ("file" if p.line is None else "unreadable_line")
        findings.append(Finding(kind, p.reason, WARNING if p.line is None else ERROR, line=p.line))
    return [n for n, _ in pairs], [o for _, o in pairs], findings


def _read_json(path: Path) -> tuple[list[int], list, list[Finding]]:
    with open(path, "rb") as f:
        head = f.read(1024)
    special = head.startswith(_BOM16) or b"\x00" in head or head.lstrip(b" \t\r\n" + _BOM8)[:1] == b"["
    lines, objs, findings = (special and _via_jsonl(path)) or _read_lines(path, head.startswith(_BOM8))
    if len(objs) == 1 and isinstance(objs[0], list):  # a JSON array on one line
        findings.append(Finding("file", "file is one JSON array on one line; read it as an array", WARNING))
        lines, objs = [1] * len(objs[0]), objs[0]
    return lines, objs, findings


# ---------------------------------------------------------------- tables


def _json_cells(objs: list, lines: list[int], columns) -> list[Finding]:
    """Decode JSON-text cells (messages, conversations, our Parquet columns) in place."""
    findings = []
    for row, line in zip(objs, lines, strict=True):
        for key in {*columns, "messages", "conversations"} & row.keys():
            value = row[key]
            if value is None and key in columns:
                del row[key]  # an example without that key when it was written
                continue
            if isinstance(value, str):
                value, problem = _parse(value)
                if problem:  # the cell stays text, and validation says so once more in context
                    findings.append(Finding("unreadable_line", f"column '{key}': {problem}", line=line))
                    continue
            if isinstance(value, list) and key in ("messages", "conversations"):
                # list-of-struct columns fill absent fields with None: drop them (content stays)
                value = [
                    {k: v for k, v in m.items() if v is not None or k == "content"} if isinstance(m, dict) else m
                    for m in value
                ]
            row[key] = value
    return findings


def _read_csv(path: Path) -> tuple[list[int], list, list[Finding]]:
    try:
        text, notes = jsonl.read_text(path)
    except jsonl.JsonlError as e:
        raise DataError(str(e)) from None
    findings = [Finding("encoding", n.reason, WARNING) for n in notes]
    csv.field_size_limit(2**31 - 1)  # long answers are normal; the file-size limit guards memory
    reader = csv.reader(StringIO(text, newline=""), "excel-tab" if path.suffix.lower() == ".tsv" else "excel")
    lines, objs = [], []
    try:
        header = next(reader, None)
        if not header:
            raise DataError("has no header row")
        start = reader.line_num + 1
        for cells in reader:
            if len(cells) != len(header) and any(c.strip() for c in cells):
                msg = f"has {len(cells)} fields, the header has {len(header)}"
                findings.append(Finding("unreadable_line", msg, line=start, hint="quote cells that hold commas"))
            elif cells:
                lines.append(start)
                objs.append(dict(zip(header, cells, strict=True)))
            start = reader.line_num + 1
    except csv.Error as e:
        raise DataError(f"is not readable as CSV (line {reader.line_num}: {e})") from None
    return lines, objs, findings + _json_cells(objs, lines, ())


def _read_parquet(path: Path) -> tuple[list[int], list, list[Finding]]:
    import pyarrow.parquet as pq

    with open(path, "rb") as f:
        if f.read(4) != b"PAR1":
            raise DataError("is not a Parquet file (it does not start with the PAR1 marker)")
    try:
        table = pq.read_table(path)
    except Exception as e:  # noqa: BLE001 - pyarrow raises several types for a damaged file
        raise DataError(f"is a damaged Parquet file ({e})") from None
    columns = [c for c in (table.schema.metadata or {}).get(JSON_COLUMNS_KEY, b"").decode().split(",") if c]
    objs = table.to_pylist()
    lines = list(range(1, len(objs) + 1))
    return lines, objs, _json_cells(objs, lines, columns)


def _rows_of(ds, findings: list[Finding]) -> tuple[list[int], list, list[Finding]]:
    import datasets

    if isinstance(ds, datasets.DatasetDict):
        split = "train" if "train" in ds else next(iter(ds))
        findings.append(Finding("file", f"dataset has splits {', '.join(ds)}; read '{split}'", WARNING))
        ds = ds[split]
    objs = ds.to_list()
    lines = list(range(1, len(objs) + 1))
    return lines, objs, findings + _json_cells(objs, lines, ())


def _read_hf(path: Path) -> tuple[list[int], list, list[Finding]]:
    import datasets

    try:
        ds = datasets.load_from_disk(str(path))
    except Exception as e:  # noqa: BLE001 - datasets raises FileNotFoundError, ValueError, ...
        raise DataError(f"is not a Hugging Face dataset folder (save_to_disk output): {e}") from None
    return _rows_of(ds, [])


def _over_limit(name: str, size: int, max_bytes: int) -> DataError:
    mb = 1024 * 1024
    return DataError(
        f"{name} is {size / mb:.1f} MB, over the {max_bytes / mb:.1f} MB limit (max_bytes); "
        "split the file or raise the limit"
    )


def _read_hub(repo_id: str, max_bytes: int) -> tuple[list[int], list, list[Finding]]:
    """A hub id (or anything `datasets.load_dataset` takes), held to the same size limit as a file."""
    import datasets

    try:  # the size the hub declares, checked before anything is downloaded
        info = datasets.load_dataset_builder(repo_id).info
        declared = info.download_size or info.dataset_size
    except Exception:  # noqa: BLE001 - load_dataset below names the problem
        declared = None
    if declared and declared > max_bytes:
        raise _over_limit(repo_id, declared, max_bytes)
    try:
        ds = datasets.load_dataset(repo_id)
    except Exception as e:  # noqa: BLE001 - no network, no such dataset, gated, ...
        raise DataError(f"could not load the hub dataset {repo_id!r}: {e}") from None
    parts = ds.values() if isinstance(ds, datasets.DatasetDict) else [ds]
    size = sum(part.data.nbytes for part in parts)
    if size > max_bytes:  # no declared size (a local script or folder): the loaded table's
        raise _over_limit(repo_id, size, max_bytes)
    return _rows_of(ds, [])


# ---------------------------------------------------------------- dispatch


def _sniff_source(path: Path) -> str:
    if path.is_dir():
        return "hf"
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        return "csv"
    with open(path, "rb") as f:
        if suffix == ".parquet" or f.read(4) == b"PAR1":
            return "parquet"
    return "json" if suffix == ".json" else "jsonl"


READERS = {
    "jsonl": _read_json,
    "json": _read_json,
    "csv": _read_csv,
    "parquet": _read_parquet,
    "hf": _read_hf,
}


def is_hub_id(path: Path) -> bool:
    """owner/name with no file suffix, and nothing of that name on disk."""
    return bool(re.fullmatch(r"[\w.-]+/[\w.-]+", str(path))) and not path.suffix and not path.exists()


def read(path: Path, source: str | None, max_bytes: int) -> tuple[str, list[int], list, list[Finding]]:
    """(source, lines, records, findings) of a file, a folder or a hub id, refused over max_bytes."""
    if source == "hub" or (source is None and is_hub_id(path)):
        return ("hub", *_read_hub(str(path), max_bytes))
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size
    if size > max_bytes:
        raise _over_limit(path.name, size, max_bytes)
    source = source or _sniff_source(path)
    try:
        return (source, *READERS[source](path))
    except DataError as e:
        raise DataError(f"{path.name}: {e}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{path.name}: cannot be read ({e})") from None
