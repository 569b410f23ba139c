"""Import and export chat datasets: JSONL, ShareGPT, Alpaca, CSV, Parquet, JSON (gzipped too) and HF datasets.

`load(path)` reads a file (or a `save_to_disk` folder), detects its layout and converts every
record to the internal chat form `{"messages": [{"role", "content"}, ...]}`, keeping the source
line (or row) of each example, a Finding for each record it could not read or convert, and notes on
what it changed. `summary(loaded)` is what `python -m core.data import` prints; `nothing_read` says why
an import gave no example.
A file that cannot be read at all raises DataError with a message naming what and where.
The parts live beside it: core.data.readers (containers), core.data.layouts (chat, ShareGPT,
Alpaca, tables) and core.data.writers (`to_jsonl`, `to_jsonl_bytes`, `to_parquet`, `to_hf_dataset`);
their public names are importable from here too.
Test: `pytest tests/unit/test_data_io.py tests/unit/test_data_shapes.py tests/unit/test_data_cli.py`.
"""

from __future__ import annotations

import contextlib
import functools
import re
from dataclasses import dataclass, field
from pathlib import Path

from core import paths, store
from core.data import ERROR, DataError, Finding, layouts, readers
from core.data.layouts import LAYOUTS, is_conversation, suggest_mapping
from core.data.readers import DEFAULT_MAX_BYTES, SOURCES, gc_paused
from core.data.writers import replace, to_hf_dataset, to_jsonl, to_jsonl_bytes, to_parquet

MB = 1024 * 1024
LIMIT_KEY = "data.upload_limit_mb"

__all__ = [
    "DEFAULT_MAX_BYTES",
    "LAYOUTS",
    "SOURCES",
    "DataError",
    "Loaded",
    "columns",
    "columns_cached",
    "gc_paused",
    "is_conversation",
    "keep_upload",
    "limit_mb",
    "load",
    "load_cached",
    "nothing_read",
    "set_limit_mb",
    "suggest_mapping",
    "summary",
    "to_hf_dataset",
    "to_jsonl",
    "to_jsonl_bytes",
    "to_parquet",
]


@dataclass
class Loaded:
    """A dataset as read: examples in chat form plus what went wrong reading it.

    fmt is the layout (chat, sharegpt, alpaca, table), source the container (jsonl, json, csv,
    parquet, hf, hub). kind is what the examples are: "chat" (OpenAI chat records) or "preference"
    (OpenAI DPO records: input.messages, preferred_output, non_preferred_output). notes say, in a
    line each, what the import changed on the way (a mapped column, a field moved or dropped).
    lines[i] is the source line (or 1-based row) of examples[i]. raw holds
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
    kind: str = "chat"
    notes: list[str] = field(default_factory=list)


def split_fmt(fmt: str | None) -> tuple[str | None, str | None]:
    fmt = (fmt or "").lower()
    if fmt and fmt not in SOURCES + LAYOUTS:
        raise DataError(f"unknown format {fmt!r}; use one of {', '.join(SOURCES + LAYOUTS)}")
    return (fmt if fmt in SOURCES else None), (fmt if fmt in LAYOUTS else None)


def load(
    path: str | Path, fmt: str | None = None, mapping: dict | None = None, max_bytes: int = DEFAULT_MAX_BYTES
) -> Loaded:
    """Read a dataset in any supported layout; raise DataError when nothing can be read.

    fmt names a container (jsonl, json, csv, parquet, hf, hub) or a layout (chat, sharegpt,
    alpaca, table, text); None detects both. mapping picks table columns: {"system", "user", "assistant"}
    (for the text layout, {"text": column}).
    """
    path = Path(path)
    source, layout = split_fmt(fmt)
    with gc_paused(), reading(path):
        return _load(path, source, layout, mapping, max_bytes)


@contextlib.contextmanager
def reading(path: Path):
    """The promise of every reader: bad input raises DataError naming the file, never a traceback."""
    try:
        yield
    except DataError:
        raise
    except Exception as e:  # noqa: BLE001 - whatever a reader or a check let escape
        raise DataError(f"{path.name}: could not be read ({type(e).__name__}: {e})") from e


def _load(path: Path, source: str | None, layout: str | None, mapping: dict | None, max_bytes: int) -> Loaded:
    source, lines, objs, findings = readers.read(path, source, max_bytes)
    if not objs:
        first = next((f for f in findings if f.severity == ERROR), None)
        why = "the file is empty or blank" if first is None else first.message
        where = f"line {first.line}: " if first and first.line else ""
        raise DataError(f"{path.name}: no readable record; {where}{why}")
    if layout is None:
        layout = "table" if mapping else layouts.detect(objs, "table" if source == "csv" else "chat")
    try:
        chosen = layouts.resolve_mapping(objs, mapping) if layout == "table" else mapping
    except DataError as e:
        raise DataError(f"{path.name}: {e}") from None
    examples, kept, left, notes = layouts.convert(layout, objs, lines, chosen)
    kind = "preference" if layout == "preference" else "chat"
    return Loaded(examples, kept, findings + left, layout, objs, lines, source, chosen, kind, notes)


def nothing_read(loaded: Loaded, name: str) -> str | None:
    """Why no record became an example, naming the first record left out and what to do; None when some did."""
    if loaded.examples:
        return None
    first = next((f for f in loaded.findings if f.severity == ERROR), None)
    where = f"line {first.line}: " if first is not None and first.line else ""
    why = first.message if first is not None else "no record in it"
    todo = first.hint if first is not None and first.hint else "choose the format (and columns) the file is in"
    return f"{name}: no record could be imported as a {loaded.fmt} example; {where}{why} ({todo})"


def summary(loaded: Loaded) -> dict:
    """What an import did, as the CLI prints it: kind, layout, examples, each record left out and why, notes."""
    return {
        "kind": loaded.kind,
        "format": loaded.fmt,
        "examples": len(loaded.examples),
        "left_out": [{"line": f.line, "reason": f.message} for f in loaded.findings if f.severity == ERROR],
        "notes": [f.message for f in loaded.findings if f.severity != ERROR] + loaded.notes,
    }


def columns(path: str | Path, fmt: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES) -> list[str]:
    """The column (key) names of a table-like file's first records, for a mapping form."""
    source, _ = split_fmt(fmt)
    with gc_paused():
        _, _, objs, _ = readers.read(Path(path), source, max_bytes)
    names: dict = {}
    for obj in objs[:200]:
        if isinstance(obj, dict):
            names.update(dict.fromkeys(map(str, obj)))
    return list(names)


# ---------------------------------------------------------------- the import form's helpers


def limit_mb() -> int:
    """The import size limit in MB: the workspace's setting, else DEFAULT_MAX_BYTES."""
    return int(store.get_setting(LIMIT_KEY, DEFAULT_MAX_BYTES // MB))


def set_limit_mb(mb: int) -> None:
    if int(mb) < 1:
        raise ValueError(f"the import size limit must be at least 1 MB, not {mb}")
    store.set_setting(LIMIT_KEY, int(mb))


def keep_upload(name: str, data, key: str) -> Path:
    """An uploaded file's bytes under the cache, written once per upload (key: its id), so a rerun only reads."""
    target = paths.cache_dir() / "uploads" / re.sub(r"[^\w.-]", "_", key) / re.sub(r"[^\w.-]", "_", name)
    if not target.is_file():
        replace(target, lambda tmp: tmp.write_bytes(data))
    return target


def _stamp(path: Path) -> tuple:
    """What tells a changed file (or save_to_disk folder) from the one read before: mtime and size."""
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return tuple((str(f), f.stat().st_mtime_ns, f.stat().st_size) for f in files)


@functools.lru_cache(maxsize=4)  # the form shows one source at a time; a loaded dataset can be large
def _remembered(what: str, path: str, stamp: tuple, fmt, mapping: tuple | None, max_bytes: int):
    try:
        if what == "columns":
            return columns(path, fmt, max_bytes), None
        return load(path, fmt, dict(mapping) if mapping is not None else None, max_bytes), None
    except DataError as e:  # remembered too: a bad file is not read again on every rerun
        return None, e


def _cached(what: str, path, fmt, mapping: dict | None, max_bytes: int):
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    key = tuple(sorted(mapping.items(), key=str)) if mapping is not None else None
    value, error = _remembered(what, str(path), _stamp(path), fmt, key, max_bytes)
    if error is not None:
        raise error
    return value


def load_cached(
    path: str | Path, fmt: str | None = None, mapping: dict | None = None, max_bytes: int = DEFAULT_MAX_BYTES
) -> Loaded:
    """load(), remembered by (path, mtime, size, fmt, mapping, max_bytes) for a page that asks on every rerun.

    The Loaded is shared between callers: read it, never change it.
    """
    return _cached("load", path, fmt, mapping, max_bytes)


def columns_cached(path: str | Path, fmt: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES) -> list[str]:
    """columns(), remembered the same way as load_cached."""
    return list(_cached("columns", path, fmt, None, max_bytes))
