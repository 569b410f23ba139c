"""Readers: a file (JSON Lines, JSON, CSV/TSV, Parquet; gzip-compressed too), a `save_to_disk` folder or a hub
dataset, as raw records.

Each reader returns (source lines, records, findings): every record as read, the 1-based line (or row) it came from,
and a Finding for each line it could not read (the first PER_KIND of a kind; the rest counted, core.data.Findings).
`stream` hands a JSON Lines file over in chunks instead. A file that cannot be read at all raises DataError, and so
does one with no JSON object in its first REFUSE_AFTER lines. core.data.layouts turns the records into chat
examples; core.data.io.load joins the two.
A JSON array's records carry the line each starts on; a CSV's delimiter is read from its first lines.
Test: `pytest tests/unit/test_data_io.py tests/unit/test_data_shapes.py tests/unit/test_bad_inputs.py
tests/unit/test_validate_bounds.py`.
"""

from __future__ import annotations

import contextlib
import csv
import gc
import gzip
import itertools
import json
import re
import reprlib
import tempfile
import zlib
from collections.abc import Iterator
from io import StringIO
from pathlib import Path

from core import jsonl
from core.data import WARNING, DataError, Finding, Findings
from core.data.writers import JSON_COLUMNS_KEY

DEFAULT_MAX_BYTES = 200 * 1024 * 1024
SOURCES = ("jsonl", "json", "csv", "parquet", "hf", "hub")
SNIPPET = 80
CHUNK = 5000  # records a streaming reader hands over at a time
REFUSE_AFTER = 200  # non-blank lines read before a file with no JSON object in them is refused
_BOM8, _BOM16 = b"\xef\xbb\xbf", (b"\xff\xfe", b"\xfe\xff")
_COUNTED = Finding("unreadable_line", "")  # a bad line past the cap: counted, never built
_JSON_STARTS = frozenset('{["-0123456789tfn')
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


_SHOWN = reprlib.Repr()
_SHOWN.maxstring = _SHOWN.maxother = SNIPPET
shown = _SHOWN.repr  # repr() of a value from the data, cut short: a finding never carries a whole field


def type_name(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "a string", type(None): "null", bool: "a boolean"}
    return names.get(type(value), "a number" if isinstance(value, (int, float)) else f"a {type(value).__name__}")


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
    """Where each listed line stops being UTF-8, as a byte offset into the file (read line by line)."""
    wanted, offset, out = set(numbers), 0, []
    with open(path, "rb") as f:
        for number, chunk in enumerate(f, 1):
            if number > max(wanted, default=0):
                break
            if number in wanted:
                try:
                    chunk.decode("utf-8")
                except UnicodeDecodeError as e:
                    msg = f"invalid UTF-8 at byte offset {offset + e.start} (byte 0x{chunk[e.start]:02x})"
                    out.append(Finding("encoding", msg, line=number, hint="save the file as UTF-8"))
            offset += len(chunk)
    return out


HEADER_WORDS = 4  # a spreadsheet's column names are a few words ("first name"); prose with commas is not a header


def _is_column_name(cell: str) -> bool:
    return 0 < len(cell) <= 64 and len(cell.split()) <= HEADER_WORDS and not cell.endswith(".")


def _looks_tabular(line: str) -> bool:
    """A header row of CSV/TSV: two or more column names split by a tab, comma or semicolon."""
    for sep in ("\t", ",", ";"):
        cells = [c.strip().strip('"') for c in line.split(sep)]
        if len(cells) >= 2 and all(map(_is_column_name, cells)):
            return True
    return False


def _not_json_lines(path: Path, first: Finding | None, first_text: str) -> DataError:
    """The early refusal of a file none of whose first lines is a JSON object, with what to do."""
    if first is not None and not first.message:  # a bad byte: its offset is found now, for this one line
        first = _byte_findings(path, [first.line])[0]
    if _looks_tabular(first_text):
        todo = "this looks like CSV/TSV: save it as JSON Lines, or import it on the Data page, which reads CSV"
    else:
        todo = 'save it as JSON Lines: one JSON object per line, such as {"messages": [...]}'
    return DataError(
        f"is not JSON Lines: none of its first {REFUSE_AFTER} non-blank lines is a JSON object "
        f"(line {first.line}: {first.message}); {todo}"
    )


def _bad_line(number: int, text: str, scan, found: Findings) -> tuple[object, Finding | None]:
    """The slow path of a line the scanner refused: its value (leading spaces are fine) or its Finding.

    Once a kind is past the cap its lines are only counted, without building a message (json.loads'
    error text): a file of junk then costs a scan per line.
    """
    if not text.isascii() and _BAD_BYTE.search(text):  # the offset is worked out once the cap is known
        return None, Finding("encoding", "", line=number, hint="save the file as UTF-8")
    if "\x00" not in text and found.full("unreadable_line"):
        value = text.lstrip()
        try:  # a JSON value starts with one of _JSON_STARTS; anything else needs no parsing to be refused
            if value[:1] in _JSON_STARTS:
                obj, end = scan(value, 0)
                if end == len(value) or value[end:].isspace():
                    return obj, None
        except (StopIteration, ValueError, RecursionError):
            pass
        return None, _COUNTED
    obj, problem = _parse(text.rstrip("\r\n"))
    if problem is None:
        return obj, None
    return None, Finding("encoding" if "NUL" in problem else "unreadable_line", problem, line=number)


def _scan(path: Path, stream, found: Findings) -> Iterator[tuple[int, object]]:
    """(line, value) of each JSON Lines line, parsed with json's C scanner; bad lines go to `found`, capped per kind.

    Skipping json.loads' per-call work (encoding sniffing, two regex passes) and reading with
    surrogateescape (a bad byte costs its line, not the file) keeps pace with the guide's loop.
    A file none of whose first REFUSE_AFTER non-blank lines is an object is refused without reading the rest.
    """
    scan = json.JSONDecoder().scan_once
    nonblank, first, first_text, seen_object = 0, None, "", False
    for number, text in enumerate(stream, 1):
        finding, read = None, False
        if text[:1] in _JSON_STARTS:  # anything else is refused without the cost of the scanner's exception
            try:
                obj, end = scan(text, 0)
                read = (end == len(text) or text[end:].isspace()) and (text.isascii() or not _BAD_BYTE.search(text))
            except (StopIteration, ValueError, RecursionError):
                pass
        if not read:
            if not text.strip():
                continue
            obj, finding = _bad_line(number, text, scan, found)
        nonblank += 1
        first_text = first_text or text[:SNIPPET]
        if finding is _COUNTED:
            found.count("unreadable_line", number)
        elif finding is not None:
            found.add(finding)
            first = first or finding
        else:
            seen_object = seen_object or isinstance(obj, dict)
            first = first or Finding("data_type", f"the entry is {type_name(obj)}, not an object", line=number)
            yield number, obj
        if not seen_object and nonblank >= REFUSE_AFTER:
            raise _not_json_lines(path, first, first_text)


def _finish(path: Path, found: Findings, notes: list[Finding]) -> list[Finding]:
    """The file's notes, then its line findings in line order, bad bytes located."""
    findings = found.items()
    bad_bytes = [f.line for f in findings if f.kind == "encoding" and not f.message]
    if bad_bytes:
        located = {f.line: f for f in _byte_findings(path, bad_bytes)}
        findings = [located.get(f.line, f) if not f.message else f for f in findings]
    return notes + sorted(findings, key=lambda f: f.line)


def _array_items(text: str) -> tuple[list[int], list] | None:
    """The items of one JSON array and the file line each starts on (json's raw_decode, item by item); else None."""
    decode, ws = json.JSONDecoder().raw_decode, re.compile(r"[ \t\r\n]*")
    pos = ws.match(text, text.index("[") + 1).end()
    lines, items, line, counted = [], [], 1, 0
    while pos < len(text) and text[pos] != "]":
        item, end = decode(text, pos)
        line += text.count("\n", counted, pos)
        counted = pos
        lines.append(line)
        items.append(item)
        pos = ws.match(text, end).end()
        if text[pos : pos + 1] == ",":
            pos = ws.match(text, pos + 1).end()
        elif text[pos : pos + 1] != "]":
            return None
    closed = text[pos : pos + 1] == "]" and not text[pos + 1 :].strip()
    return (lines, items) if closed else None


def _read_array(path: Path, encoding: str) -> tuple[list[int], list, list[Finding]] | None:
    """A file that is one JSON array (pretty-printed), item by item with its start line; None when it is not one."""
    try:
        found = _array_items(path.read_text(encoding=encoding))
    except (ValueError, RecursionError, IndexError):
        return None
    if found is None:
        return None
    note = Finding("file", "file is one JSON array, not JSON Lines; read it as an array", WARNING)
    return found[0], found[1], [note]


def _head(path: Path) -> tuple[str, list[Finding], bool]:
    """(encoding, file-level notes, whether it may be one JSON array) from the first KB; refuses binary files."""
    with open(path, "rb") as f:
        head = f.read(1024)
    if head.startswith(b"PK\x03\x04"):
        raise DataError("is a zip file (a spreadsheet saved as .xlsx?): save it as CSV or JSON Lines")
    notes, encoding = [], "utf-8"
    if head.startswith(_BOM16):
        note = "file is UTF-16; save it as UTF-8 (it was read as UTF-16)"
        notes, encoding = [Finding("encoding", note, WARNING)], "utf-16"
    elif b"\x00" in head:
        raise DataError("line 1: contains NUL bytes: this looks like a binary file, not JSON Lines")
    elif head.startswith(_BOM8):
        note = "file starts with a UTF-8 byte-order mark (BOM); it was ignored"
        notes, encoding = [Finding("encoding", note, WARNING)], "utf-8-sig"
    stripped = head.lstrip(b" \t\r\n" + _BOM8)
    return encoding, notes, stripped[:1] == b"[" and b"\n" in stripped.strip()


@contextlib.contextmanager
def _text(path: Path, encoding: str):
    try:
        with open(path, encoding=encoding, errors="surrogateescape", newline="\n") as f:
            yield f
    except UnicodeDecodeError as e:  # only UTF-16 is read strictly
        raise DataError(f"starts like UTF-16 but is not valid UTF-16 ({e.reason})") from None


def _read_json(path: Path) -> tuple[list[int], list, list[Finding]]:
    encoding, notes, arrayish = _head(path)
    if arrayish and (array := _read_array(path, encoding)):
        lines, objs, findings = array[0], array[1], notes + array[2]
    else:
        lines, objs, found = [], [], Findings()
        with _text(path, encoding) as f:
            for number, obj in _scan(path, f, found):
                lines.append(number)
                objs.append(obj)
        findings = _finish(path, found, notes)
    if len(objs) == 1 and isinstance(objs[0], list):  # a JSON array on one line
        findings.append(Finding("file", "file is one JSON array on one line; read it as an array", WARNING))
        lines, objs = [1] * len(objs[0]), objs[0]
    return lines, objs, findings


# ---------------------------------------------------------------- tables


def _json_cells(objs: list, lines: list[int], columns) -> list[Finding]:
    """Decode JSON-text cells (messages, conversations, our Parquet columns) in place."""
    found = Findings()
    for row, line in zip(objs, lines, strict=True):
        for key in {*columns, "messages", "conversations"} & row.keys():
            value = row[key]
            if value is None and key in columns:
                del row[key]  # an example without that key when it was written
                continue
            if isinstance(value, str):
                value, problem = _parse(value)
                if problem:  # the cell stays text, and validation says so once more in context
                    found.add(Finding("unreadable_line", f"column {shown(key)}: {problem}", line=line))
                    continue
            if isinstance(value, list) and key in ("messages", "conversations"):
                # list-of-struct columns fill absent fields with None: drop them (content stays)
                value = [
                    {k: v for k, v in m.items() if v is not None or k == "content"} if isinstance(m, dict) else m
                    for m in value
                ]
            row[key] = value
    return found.items()


DELIMITERS = (",", ";", "\t", "|")  # comma first: it wins a tie
SNIFF_LINES = 20


def _delimiter(text: str, default: str) -> str:
    """The delimiter that splits the header into two or more columns and the most of the first rows alike.

    A spreadsheet in a European locale saves ';', a "TSV" download is often named .csv: the header says which.
    """
    sample = text[: 64 * 1024]
    best, best_score = default, (-1, 0)
    for sep in DELIMITERS:
        try:
            rows = list(itertools.islice(csv.reader(StringIO(sample, newline=""), delimiter=sep), SNIFF_LINES))
        except csv.Error:
            continue
        if not rows or len(rows[0]) < 2:
            continue
        score = (sum(len(r) == len(rows[0]) for r in rows[1:-1] or rows[1:]), sep == default)
        if score > best_score:
            best, best_score = sep, score
    return best


def _read_csv(path: Path) -> tuple[list[int], list, list[Finding]]:
    try:
        text, notes = jsonl.read_text(path)
    except jsonl.JsonlError as e:
        raise DataError(str(e)) from None
    notes = [Finding("encoding", n.reason, WARNING) for n in notes]
    found = Findings()
    csv.field_size_limit(2**31 - 1)  # long answers are normal; the file-size limit guards memory
    dialect = "excel-tab" if path.suffix.lower() == ".tsv" else "excel"
    reader = csv.reader(
        StringIO(text, newline=""), dialect, delimiter=_delimiter(text, csv.get_dialect(dialect).delimiter)
    )
    lines, objs = [], []
    try:
        header = next(reader, None)
        if not header:
            raise DataError("has no header row")
        start = reader.line_num + 1
        for cells in reader:
            if len(cells) != len(header) and any(c.strip() for c in cells):
                msg = f"has {len(cells)} fields, the header has {len(header)}"
                found.add(Finding("unreadable_line", msg, line=start, hint="quote cells that hold commas"))
            elif cells:
                lines.append(start)
                objs.append(dict(zip(header, cells, strict=True)))
            start = reader.line_num + 1
    except csv.Error as e:
        raise DataError(f"is not readable as CSV (line {reader.line_num}: {e})") from None
    return lines, objs, notes + found.items() + _json_cells(objs, lines, ())


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


GZIP_MAGIC = b"\x1f\x8b"
GUNZIP_BLOCK = 1024 * 1024


def is_gzip(path: Path) -> bool:
    if not path.is_file():
        return False
    with open(path, "rb") as f:
        return f.read(2) == GZIP_MAGIC


@contextlib.contextmanager
def _gunzipped(path: Path, max_bytes: int):
    """A gzip file decompressed a block at a time into a temporary file named without ".gz", refused past max_bytes.

    The limit counts uncompressed bytes as they come, so a small file that inflates to gigabytes (a gzip bomb)
    stops at the limit, holding one block in memory.
    """
    name = path.name[:-3] if path.name.lower().endswith(".gz") else path.name
    with tempfile.TemporaryDirectory(prefix="ft-gunzip-") as tmp:
        target, total = Path(tmp) / (name or "data"), 0
        try:
            with gzip.open(path, "rb") as src, open(target, "wb") as dst:
                while block := src.read(GUNZIP_BLOCK):
                    total += len(block)
                    if total > max_bytes:
                        raise DataError(
                            f"uncompresses to more than the {max_bytes / 2**20:.1f} MB limit (max_bytes); "
                            "split the file or raise the limit"
                        )
                    dst.write(block)
        except (gzip.BadGzipFile, EOFError, zlib.error) as e:
            raise DataError(f"is a damaged gzip file ({e}); compress it again or import it uncompressed") from None
        yield target


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


def _checked(path: Path, source: str | None, max_bytes: int) -> str:
    """The source of a file or folder that exists and is within max_bytes."""
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size
    if size > max_bytes:
        raise _over_limit(path.name, size, max_bytes)
    return source or _sniff_source(path)


@contextlib.contextmanager
def _named(path: Path):
    """A reading problem as DataError, prefixed with the file's name."""
    try:
        yield
    except DataError as e:
        raise DataError(f"{path.name}: {e}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{path.name}: cannot be read ({e})") from None


def read(path: Path, source: str | None, max_bytes: int) -> tuple[str, list[int], list, list[Finding]]:
    """(source, lines, records, findings) of a file, a folder or a hub id, refused over max_bytes."""
    if source == "hub" or (source is None and is_hub_id(path)):
        return ("hub", *_read_hub(str(path), max_bytes))
    given, source = source, _checked(path, source, max_bytes)
    with _named(path):
        if is_gzip(path):  # the limit holds for what it uncompresses to, as well
            with _gunzipped(path, max_bytes) as inner:
                source = given or _sniff_source(inner)
                return (source, *READERS[source](inner))
        return (source, *READERS[source](path))


def stream(path: Path, source: str | None, max_bytes: int, size: int = CHUNK) -> Iterator | None:
    """A JSON Lines file as (lines, records) chunks of up to `size` records, then (None, findings).

    None for anything read whole (a table, a folder, a hub id, a JSON array): read() reads those. A caller that
    needs only what the records add up to (validation) holds one chunk at a time, whatever the file's size.
    """
    if source not in (None, "jsonl", "json") or (source is None and is_hub_id(path)) or path.is_dir():
        return None
    if _checked(path, source, max_bytes) not in ("jsonl", "json") or is_gzip(path):
        return None
    with _named(path):
        encoding, notes, arrayish = _head(path)
    return None if arrayish else _chunks(path, encoding, notes, size)


def _chunks(path: Path, encoding: str, notes: list[Finding], size: int) -> Iterator:
    found, lines, objs = Findings(), [], []
    with _named(path), _text(path, encoding) as f:
        for number, obj in _scan(path, f, found):
            lines.append(number)
            objs.append(obj)
            if len(objs) == size:
                yield lines, objs
                lines, objs = [], []
        yield lines, objs
        yield None, _finish(path, found, notes)
