"""Import and export chat datasets: JSONL, ShareGPT, Alpaca, CSV, Parquet, JSON and HF datasets.

`load(path)` reads a file (or a `save_to_disk` folder), detects its layout and converts every
record to the internal chat form `{"messages": [{"role", "content"}, ...]}`, keeping the source
line (or row) of each example and a Finding for each record it could not read or convert.
A file that cannot be read at all raises DataError with a message naming what and where.
`to_jsonl`, `to_jsonl_bytes`, `to_parquet` and `to_hf_dataset` write datasets back out.
Test: `pytest tests/unit/test_data_io.py tests/unit/test_bad_inputs.py`.
"""

from __future__ import annotations

import contextlib
import csv
import gc
import json
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path

from core import jsonl
from core.data import ERROR, WARNING, Finding

DEFAULT_MAX_BYTES = 200 * 1024 * 1024
SOURCES = ("jsonl", "json", "csv", "parquet", "hf", "hub")
LAYOUTS = ("chat", "sharegpt", "alpaca", "table")
SNIPPET = 80
# Parquet files we write keep each top-level key as JSON text; this metadata key lists them.
JSON_COLUMNS_KEY = b"workbench.json_columns"
# ShareGPT speakers seen in the wild, mapped to chat roles.
SPEAKERS = {
    **dict.fromkeys(("human", "user"), "user"),
    **dict.fromkeys(("gpt", "assistant", "chatgpt", "bard", "bing", "model"), "assistant"),
    "system": "system",
}
# Column names people use for each role, most specific first (matched case-insensitively).
COLUMN_NAMES = {
    "system": ("system", "system_prompt", "system_message"),
    "user": ("prompt", "question", "user", "input", "instruction", "query", "human", "request"),
    "assistant": ("response", "answer", "assistant", "output", "completion", "reply", "gpt", "target"),
}
_BOM8, _BOM16 = b"\xef\xbb\xbf", (b"\xff\xfe", b"\xfe\xff")
_BAD_BYTE = re.compile("[\udc80-\udcff]")  # how errors="surrogateescape" shows bytes that are not UTF-8


class DataError(Exception):
    """The file cannot be read at all; the message names the file and, where known, the line."""


@dataclass
class Loaded:
    """A dataset as read: examples in chat form plus what went wrong reading it.

    fmt is the layout (chat, sharegpt, alpaca, table), source the container (jsonl, json, csv,
    parquet, hf, hub). lines[i] is the source line (or 1-based row) of examples[i]. raw holds
    every record as read, raw_lines their lines: validation of a chat file checks raw, so a
    record that could not become an example is still reported precisely.
    """

    examples: list[dict]
    lines: list[int]
    findings: list[Finding]
    fmt: str
    raw: list
    raw_lines: list[int] = field(default_factory=list)
    source: str = ""
    mapping: dict | None = None


def is_conversation(obj: object) -> bool:
    """A record that can stand as an example: an object with a list of messages."""
    return isinstance(obj, dict) and isinstance(obj.get("messages"), list)


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


def _snippet(text: str) -> str:
    return repr(text[:SNIPPET] + ("..." if len(text) > SNIPPET else ""))


# ---------------------------------------------------------------- JSON Lines and JSON


def _parse(text: str) -> tuple[object, str | None]:
    """One JSON value, or why not, in core.jsonl's words (it lets RecursionError escape)."""
    if "\x00" in text:
        return None, "contains NUL bytes (binary data?)"
    try:
        return json.loads(text), None
    except json.JSONDecodeError as e:
        return None, f"invalid JSON ({e.msg} at column {e.colno}): {_snippet(text)}"
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


def _read_hub(repo_id: str) -> tuple[list[int], list, list[Finding]]:
    import datasets

    try:
        ds = datasets.load_dataset(repo_id)
    except Exception as e:  # noqa: BLE001 - no network, no such dataset, gated, ...
        raise DataError(f"could not load the hub dataset {repo_id!r}: {e}") from None
    return _rows_of(ds, [])


# ---------------------------------------------------------------- layouts


def suggest_mapping(columns) -> dict:
    """{"system", "user", "assistant"} -> the column that looks like it (common names), or None."""
    by_lower = {str(c).strip().lower(): c for c in columns}
    found: dict = {}
    for role, names in COLUMN_NAMES.items():
        taken = found.values()
        found[role] = next((by_lower[n] for n in names if n in by_lower and by_lower[n] not in taken), None)
    return found


def _detect_layout(objs: list, default: str) -> str:
    """The layout most of the first records share; default when none is recognised."""
    votes: Counter[str] = Counter()
    for obj in objs[:200]:
        if not isinstance(obj, dict):
            continue
        if "messages" in obj:
            votes["chat"] += 1
        elif "conversations" in obj:
            votes["sharegpt"] += 1
        elif "instruction" in obj and "output" in obj:
            votes["alpaca"] += 1
        elif (found := suggest_mapping(obj))["user"] and found["assistant"]:
            votes["table"] += 1
    return votes.most_common(1)[0][0] if votes else default


def _resolve_mapping(objs: list, mapping: dict | None) -> dict:
    columns: dict = {}
    for obj in objs[:200]:
        if isinstance(obj, dict):
            columns.update(dict.fromkeys(obj))
    chosen = {**suggest_mapping(columns), **(mapping or {})}
    shown = ", ".join(map(str, columns)) or "none"
    for role in ("system", "user", "assistant"):
        col = chosen.get(role)
        if col is not None and col not in columns:
            raise DataError(f"has no column {col!r} for the {role} turn (columns: {shown})")
        if col is None and role != "system":
            example = "{'user': 'question', 'assistant': 'answer'}"
            raise DataError(f"has no column for the {role} turn (columns: {shown}); pass a mapping such as {example}")
    return chosen


def _cell_text(value: object) -> str | None:
    """A table cell as message text; None when it is missing (empty, null, NaN) or not a scalar."""
    if isinstance(value, bool) or value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, (int, float)):
        return str(value)
    return value if isinstance(value, str) and value.strip() else None


def _from_table(obj: object, mapping: dict) -> tuple[dict | None, str | None]:
    if not isinstance(obj, dict):
        return None, f"the row is {type(obj).__name__}, not an object"
    messages = []
    for role in ("system", "user", "assistant"):
        col = mapping.get(role)
        text = None if col is None else _cell_text(obj.get(col))
        if text is None and col is not None and role != "system":
            return None, f"column {col!r} ({role}) is empty or not text: {_snippet(str(obj.get(col)))}"
        if text is not None:
            messages.append({"role": role, "content": text})
    return {"messages": messages}, None


def _system(obj: dict) -> list[dict]:
    return [{"role": "system", "content": obj["system"]}] if isinstance(obj.get("system"), str) else []


def _from_sharegpt(obj: object, _mapping: dict) -> tuple[dict | None, str | None]:
    turns = obj.get("conversations") if isinstance(obj, dict) else None
    if not isinstance(turns, list):
        return None, "'conversations' is missing or not a list"
    messages = _system(obj)
    for j, turn in enumerate(turns, 1):
        if not isinstance(turn, dict) or "from" not in turn or "value" not in turn:
            return None, f"turn {j} is not an object with 'from' and 'value'"
        role = SPEAKERS.get(str(turn["from"]).lower())
        if role is None:
            return None, f"turn {j}: unknown speaker {turn['from']!r} (known: {', '.join(SPEAKERS)})"
        messages.append({"role": role, "content": turn["value"]})
    return {"messages": messages}, None


def _from_alpaca(obj: object, _mapping: dict) -> tuple[dict | None, str | None]:
    if not isinstance(obj, dict) or "instruction" not in obj or "output" not in obj:
        return None, "an Alpaca record needs 'instruction' and 'output'"
    prompt, extra = obj["instruction"], obj.get("input")
    if isinstance(prompt, str) and isinstance(extra, str) and extra.strip():
        prompt = f"{prompt}\n\n{extra}"
    messages = _system(obj)
    for pair in obj.get("history") or []:  # LLaMA-Factory's Alpaca keeps earlier turns here
        if isinstance(pair, list) and len(pair) == 2:
            messages += [{"role": "user", "content": pair[0]}, {"role": "assistant", "content": pair[1]}]
    messages += [{"role": "user", "content": prompt}, {"role": "assistant", "content": obj["output"]}]
    return {"messages": messages}, None


CONVERTERS = {"sharegpt": _from_sharegpt, "alpaca": _from_alpaca, "table": _from_table}


def _convert(loaded: Loaded) -> None:
    """Fill loaded.examples/lines from loaded.raw in its layout; a Finding for each record left out."""
    if loaded.fmt == "chat":  # the common case, kept to one cheap pass
        keep = [i for i, obj in enumerate(loaded.raw) if is_conversation(obj)]
        loaded.examples = [loaded.raw[i] for i in keep]
        loaded.lines = [loaded.raw_lines[i] for i in keep]
        kept = set(keep) if len(keep) < len(loaded.raw) else None
        for i, line in enumerate(loaded.raw_lines if kept is not None else []):
            if i not in kept:
                loaded.findings.append(Finding("skipped", "not a conversation (no 'messages' list)", line=line))
        return
    for line, obj in zip(loaded.raw_lines, loaded.raw, strict=True):
        example, problem = CONVERTERS[loaded.fmt](obj, loaded.mapping)
        if example is None:
            loaded.findings.append(Finding("not_converted", problem, line=line, hint=f"fix the {loaded.fmt} record"))
        else:
            loaded.examples.append(example)
            loaded.lines.append(line)


# ---------------------------------------------------------------- load


def _split_fmt(fmt: str | None) -> tuple[str | None, str | None]:
    fmt = (fmt or "").lower()
    if fmt and fmt not in SOURCES + LAYOUTS:
        raise DataError(f"unknown format {fmt!r}; use one of {', '.join(SOURCES + LAYOUTS)}")
    return (fmt if fmt in SOURCES else None), (fmt if fmt in LAYOUTS else None)


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


def _read(path: Path, source: str | None, max_bytes: int) -> tuple[str, list[int], list, list[Finding]]:
    hub_id = re.fullmatch(r"[\w.-]+/[\w.-]+", str(path)) and not path.suffix
    if source == "hub" or (source is None and not path.exists() and hub_id):
        return ("hub", *_read_hub(str(path)))
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size
    if size > max_bytes:
        mb = 1024 * 1024
        raise DataError(
            f"{path.name} is {size / mb:.1f} MB, over the {max_bytes / mb:.1f} MB limit (max_bytes); "
            "split the file or raise the limit"
        )
    source = source or _sniff_source(path)
    try:
        return (source, *READERS[source](path))
    except DataError as e:
        raise DataError(f"{path.name}: {e}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{path.name}: cannot be read ({e})") from None


def load(
    path: str | Path, fmt: str | None = None, mapping: dict | None = None, max_bytes: int = DEFAULT_MAX_BYTES
) -> Loaded:
    """Read a dataset in any supported layout; raise DataError when nothing can be read.

    fmt names a container (jsonl, json, csv, parquet, hf, hub) or a layout (chat, sharegpt,
    alpaca, table); None detects both. mapping picks table columns: {"system", "user", "assistant"}.
    """
    path = Path(path)
    source, layout = _split_fmt(fmt)
    with gc_paused():
        try:
            return _load(path, source, layout, mapping, max_bytes)
        except DataError:
            raise
        except Exception as e:  # noqa: BLE001 - the promise: bad input never escapes as a traceback
            raise DataError(f"{path.name}: could not be read ({type(e).__name__}: {e})") from e


def _load(path: Path, source: str | None, layout: str | None, mapping: dict | None, max_bytes: int) -> Loaded:
    source, lines, objs, findings = _read(path, source, max_bytes)
    if not objs:
        first = next((f for f in findings if f.severity == ERROR), None)
        why = "the file is empty or blank" if first is None else first.message
        where = f"line {first.line}: " if first and first.line else ""
        raise DataError(f"{path.name}: no readable record; {where}{why}")
    if layout is None:
        layout = "table" if mapping else _detect_layout(objs, "table" if source == "csv" else "chat")
    try:
        chosen = _resolve_mapping(objs, mapping) if layout == "table" else None
    except DataError as e:
        raise DataError(f"{path.name}: {e}") from None
    loaded = Loaded([], [], findings, layout, objs, lines, source, chosen)
    _convert(loaded)
    return loaded


def columns(path: str | Path, fmt: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES) -> list[str]:
    """The column (key) names of a table-like file's first records, for a mapping form."""
    source, _ = _split_fmt(fmt)
    with gc_paused():
        _, _, objs, _ = _read(Path(path), source, max_bytes)
    names: dict = {}
    for obj in objs[:200]:
        if isinstance(obj, dict):
            names.update(dict.fromkeys(map(str, obj)))
    return list(names)


# ---------------------------------------------------------------- export


def _dumps(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False)
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:  # lone surrogates: keep them as \u escapes so the output stays UTF-8
        return json.dumps(value)


def to_jsonl_bytes(examples: list[dict]) -> bytes:
    return "".join(_dumps(ex) + "\n" for ex in examples).encode("utf-8")


def _replace(path: str | Path, write) -> Path:
    """Write through a temporary name and rename, so a reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)
    return path


def to_jsonl(examples: list[dict], path: str | Path) -> Path:
    data = to_jsonl_bytes(examples)
    return _replace(path, lambda tmp: tmp.write_bytes(data))


def to_parquet(examples: list[dict], path: str | Path) -> Path:
    """One row per example; each top-level key a column of JSON text, listed in the metadata."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    keys = list(dict.fromkeys(k for ex in examples for k in ex)) or ["messages"]
    table = pa.table({k: pa.array([_dumps(ex[k]) if k in ex else None for ex in examples], pa.string()) for k in keys})
    table = table.replace_schema_metadata({JSON_COLUMNS_KEY: ",".join(keys).encode()})
    return _replace(path, lambda tmp: pq.write_table(table, tmp))


def to_hf_dataset(examples: list[dict], folder: str | Path) -> Path:
    """save_to_disk with messages as a list of structs (what TRL reads).

    When the messages cannot share one Arrow type (content a string here, a list there), the
    column is JSON text instead and other top-level keys are left out; load() reads both.
    """
    import datasets
    import pyarrow as pa

    try:
        ds = datasets.Dataset.from_list(examples)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
        ds = datasets.Dataset.from_dict({"messages": [_dumps(ex.get("messages")) for ex in examples]})
    ds.save_to_disk(str(folder))
    return Path(folder)
