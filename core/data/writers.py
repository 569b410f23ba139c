"""Writers: datasets out as JSON Lines, Parquet (each top-level key a JSON-text column) or a `save_to_disk` folder.

Files are written through a temporary name and renamed, so a reader never sees half a file; core.data.readers reads
each back.
Test: `pytest tests/unit/test_data_io.py`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from core import tempfiles

# Parquet files we write keep each top-level key as JSON text; this metadata key lists them.
JSON_COLUMNS_KEY = b"workbench.json_columns"


def _dumps(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False)
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:  # lone surrogates: keep them as \u escapes so the output stays UTF-8
        return json.dumps(value)


def to_jsonl_bytes(examples: list[dict]) -> bytes:
    return "".join(_dumps(ex) + "\n" for ex in examples).encode("utf-8")


def replace(path: str | Path, write) -> Path:
    """Write through a temporary name and rename, so a reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tempfiles.temp_path(path)
    write(tmp)
    os.replace(tmp, path)
    return path


def to_jsonl(examples: list[dict], path: str | Path) -> Path:
    data = to_jsonl_bytes(examples)
    return replace(path, lambda tmp: tmp.write_bytes(data))


def to_parquet(examples: list[dict], path: str | Path) -> Path:
    """One row per example; each top-level key a column of JSON text, listed in the metadata."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    keys = list(dict.fromkeys(k for ex in examples for k in ex)) or ["messages"]
    table = pa.table({k: pa.array([_dumps(ex[k]) if k in ex else None for ex in examples], pa.string()) for k in keys})
    table = table.replace_schema_metadata({JSON_COLUMNS_KEY: ",".join(keys).encode()})
    return replace(path, lambda tmp: pq.write_table(table, tmp))


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
