"""Import and export chat datasets: JSONL, ShareGPT, Alpaca, CSV, Parquet, JSON and HF datasets.

`load(path)` reads a file (or a `save_to_disk` folder), detects its layout and converts every
record to the internal chat form `{"messages": [{"role", "content"}, ...]}`, keeping the source
line (or row) of each example and a Finding for each record it could not read or convert.
A file that cannot be read at all raises DataError with a message naming what and where.
The parts live beside it: core.data.readers (containers), core.data.layouts (chat, ShareGPT,
Alpaca, tables) and core.data.writers (`to_jsonl`, `to_jsonl_bytes`, `to_parquet`, `to_hf_dataset`);
their public names are importable from here too.
Test: `pytest tests/unit/test_data_io.py tests/unit/test_bad_inputs.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from core.data import ERROR, DataError, Finding, layouts, readers
from core.data.layouts import LAYOUTS, is_conversation, suggest_mapping
from core.data.readers import DEFAULT_MAX_BYTES, SOURCES, gc_paused
from core.data.writers import to_hf_dataset, to_jsonl, to_jsonl_bytes, to_parquet

__all__ = [
    "DEFAULT_MAX_BYTES",
    "LAYOUTS",
    "SOURCES",
    "DataError",
    "Loaded",
    "columns",
    "gc_paused",
    "is_conversation",
    "load",
    "suggest_mapping",
    "to_hf_dataset",
    "to_jsonl",
    "to_jsonl_bytes",
    "to_parquet",
]


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


def _split_fmt(fmt: str | None) -> tuple[str | None, str | None]:
    fmt = (fmt or "").lower()
    if fmt and fmt not in SOURCES + LAYOUTS:
        raise DataError(f"unknown format {fmt!r}; use one of {', '.join(SOURCES + LAYOUTS)}")
    return (fmt if fmt in SOURCES else None), (fmt if fmt in LAYOUTS else None)


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
    source, lines, objs, findings = readers.read(path, source, max_bytes)
    if not objs:
        first = next((f for f in findings if f.severity == ERROR), None)
        why = "the file is empty or blank" if first is None else first.message
        where = f"line {first.line}: " if first and first.line else ""
        raise DataError(f"{path.name}: no readable record; {where}{why}")
    if layout is None:
        layout = "table" if mapping else layouts.detect(objs, "table" if source == "csv" else "chat")
    try:
        chosen = layouts.resolve_mapping(objs, mapping) if layout == "table" else None
    except DataError as e:
        raise DataError(f"{path.name}: {e}") from None
    examples, kept, left = layouts.convert(layout, objs, lines, chosen)
    return Loaded(examples, kept, findings + left, layout, objs, lines, source, chosen)


def columns(path: str | Path, fmt: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES) -> list[str]:
    """The column (key) names of a table-like file's first records, for a mapping form."""
    source, _ = _split_fmt(fmt)
    with gc_paused():
        _, _, objs, _ = readers.read(Path(path), source, max_bytes)
    names: dict = {}
    for obj in objs[:200]:
        if isinstance(obj, dict):
            names.update(dict.fromkeys(map(str, obj)))
    return list(names)
