"""Import a dataset: an upload, a shipped sample, or a Hugging Face dataset folder (or hub id).

Everything becomes the internal chat form and a first immutable version. Lines that cannot be
read are listed with their line numbers before anything is saved.
Test: `pytest tests/e2e/test_data_journey.py`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import streamlit as st

from core import paths, store
from core.data import Finding, io, samples, versions

FORMATS = {
    "Detect automatically": None,
    "OpenAI chat (messages)": "chat",
    "ShareGPT": "sharegpt",
    "Alpaca": "alpaca",
    "Table (choose columns)": "table",
}
LIMIT_KEY = "data.upload_limit_mb"


def upload_limit_mb() -> int:
    return int(store.get_setting(LIMIT_KEY, io.DEFAULT_MAX_BYTES // (1024 * 1024)))


def _keep_upload(upload) -> Path:
    folder = paths.cache_dir() / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / re.sub(r"[^\w.-]", "_", upload.name)
    target.write_bytes(upload.getbuffer())
    return target


def _source() -> tuple[Path | None, str]:
    how = st.radio(
        "Source",
        ["Upload a file", "Use a sample", "Hugging Face dataset"],
        horizontal=True,
        key="data_import_how",
    )
    if how == "Use a sample":
        name = st.selectbox(
            "Sample",
            samples.NAMES,
            key="data_import_sample",
            format_func=lambda n: {
                "demo": "demo: 200 clean examples",
                "messy": "messy: the demo with planted problems",
            }[n],
        )
        return samples.sample_path(name), f"sample-{name}"
    if how == "Hugging Face dataset":
        text = st.text_input(
            "Folder saved with `save_to_disk`, or a hub id (needs network)", key="data_import_hf"
        ).strip()
        return (Path(text), Path(text).name or text) if text else (None, "")
    limit = upload_limit_mb()
    upload = st.file_uploader(
        f"JSONL, JSON, CSV or Parquet (up to {limit} MB)",
        key="data_import_file",
        type=["jsonl", "json", "csv", "tsv", "parquet"],
    )
    if upload is None:
        return None, ""
    if upload.size > limit * 1024 * 1024:
        st.error(
            f"{upload.name} is {upload.size / 2**20:.1f} MB, over the {limit} MB upload limit. "
            "Split the file, or raise the limit below."
        )
        return None, ""
    return _keep_upload(upload), Path(upload.name).stem


def _mapping(path: Path, fmt: str | None) -> dict | None:
    if fmt != "table":
        return None
    try:
        columns = io.columns(path)
    except io.DataError as e:
        st.error(f"Cannot read the columns: {e}")
        return None
    if not columns:
        st.error("No columns found: the file's records are not objects with named fields.")
        return None
    guess = io.suggest_mapping(columns)
    chosen = {}
    for col, role in zip(st.columns(3), ("system", "user", "assistant"), strict=True):
        options = ["(none)", *columns] if role == "system" else columns
        default = guess.get(role) or ("(none)" if role == "system" else columns[min(len(columns) - 1, 1)])
        with col:
            pick = st.selectbox(f"{role} column", options, index=options.index(default), key=f"data_import_col_{role}")
        chosen[role] = None if pick == "(none)" else pick
    return chosen


def _left_out(findings: list[Finding]) -> None:
    errors = [f for f in findings if f.severity == "error"]
    if errors:
        st.warning(f"{len(errors)} record(s) cannot be imported and will be left out:")
        rows = [{"line": f.line, "problem": f.message} for f in errors[:200]]
        st.dataframe(pd.DataFrame(rows), hide_index=True, key="data_import_left_out")
    for f in findings:
        if f.severity != "error":
            st.info(f.message)


def render() -> None:
    """The import form; on success the new dataset becomes the page's dataset."""
    path, default_name = _source()
    fmt = FORMATS[st.selectbox("Format", list(FORMATS), key="data_import_fmt")]
    if path is None:
        return
    mapping = _mapping(path, fmt)
    try:
        loaded = io.load(path, fmt=fmt, mapping=mapping, max_bytes=upload_limit_mb() * 1024 * 1024)
    except io.DataError as e:
        st.error(f"Cannot import: {e}")
        return
    st.success(f"Read {len(loaded.examples)} examples ({loaded.fmt} layout from {loaded.source}).")
    _left_out(loaded.findings)
    if not loaded.examples:
        return
    with st.expander("Preview the first examples"):
        st.json(loaded.examples[:3], expanded=2)
    # Keyed by the source, so choosing another file or sample proposes its own name.
    name = st.text_input("Dataset name", value=default_name, key=f"data_import_name_{default_name}")
    if st.button("Import as a new dataset", type="primary", key="data_import_go"):
        left = [{"line": f.line, "message": f.message} for f in loaded.findings if f.severity == "error"]
        source = json.dumps({"file": path.name, "format": loaded.fmt, "left_out": left[:500]})
        try:
            version = versions.create(name, loaded.examples, note=f"imported from {path.name}", source=source)
        except ValueError as e:
            st.error(str(e))
            return
        st.query_params["dataset"] = str(version.dataset_id)
        st.session_state.pop("data_view", None)
        st.rerun()


def limit_setting() -> None:
    value = st.number_input("Upload limit (MB)", 1, 10_000, upload_limit_mb(), key="data_import_limit")
    if value != upload_limit_mb():
        store.set_setting(LIMIT_KEY, int(value))
        st.caption("Saved. Streamlit's own server limit is `server.maxUploadSize` in .streamlit/config.toml.")
