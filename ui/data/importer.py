"""Import a dataset: an upload, a shipped sample, or a Hugging Face dataset folder (or hub id).

Everything becomes the internal chat form and a first immutable version. Records that cannot be
read are listed by record and line with the reason, and what the import changed (io.Loaded.notes), before
anything is saved; a file that gives no example is an error naming its first record, never a green "Read 0".
The form runs on every rerun of the Data page (its expander's body runs even when collapsed), so the file
is read through `io.load_cached`, an upload is written once, and a Hugging Face dataset is fetched by a job
(core.data.fetch) whose records file is then read like an upload.
Test: `pytest tests/app/test_data_import.py tests/e2e/test_data_journey.py`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import streamlit as st

from core.data import Finding, fetch, io, preference, samples, total_of, versions
from ui.data import progress
from ui.untrusted import inline, long_text

FORMATS = {
    "Detect automatically": None,
    "OpenAI chat (messages)": "chat",
    "ShareGPT": "sharegpt",
    "Alpaca": "alpaca",
    "Table (choose columns)": "table",
    "Text column (a rendered template)": "text",
    "Preference pairs (OpenAI DPO, TRL prompt/chosen/rejected)": "preference",
}
UPLOAD_TYPES = ["jsonl", "json", "csv", "tsv", "parquet", "jsonl.gz", "json.gz", "csv.gz", "tsv.gz"]


def _fetched(source: str) -> fetch.Fetched | None:
    """The newest finished fetch of this source; else its progress, or why it failed and a Fetch button."""
    run = fetch.latest(source)
    if run is not None and run.active:
        progress.bar(run.id, f"Fetching {source}")
        return None
    if run is not None and run.state == "succeeded":
        if st.button("Fetch again", key="data_import_refetch"):
            fetch.launch(source, io.limit_mb() * io.MB)
            st.rerun()
        return fetch.result(run.id)
    if run is not None:
        long_text(f"Fetching {source} {run.state}: {run.message}", draw=st.error)
    st.caption(f"Read by a background job (a download, for a hub id), up to the {io.limit_mb()} MB limit.")
    if st.button("Fetch", type="primary", key="data_import_fetch"):
        fetch.launch(source, io.limit_mb() * io.MB)
        st.rerun()
    return None


def _source() -> tuple[Path | None, str, fetch.Fetched | None]:
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
        return samples.sample_path(name), f"sample-{name}", None
    if how == "Hugging Face dataset":
        text = st.text_input(
            "Folder saved with `save_to_disk`, or a hub id (needs network)", key="data_import_hf"
        ).strip()
        fetched = _fetched(text) if text else None
        return (fetched.path if fetched else None), Path(text).name or text, fetched
    limit = io.limit_mb()
    upload = st.file_uploader(
        f"JSONL, JSON, CSV or Parquet, gzipped or not (up to {limit} MB)",
        key="data_import_file",
        type=UPLOAD_TYPES,
    )
    if upload is None:
        return None, "", None
    if upload.size > limit * 1024 * 1024:
        long_text(
            f"{inline(upload.name)} is {upload.size / 2**20:.1f} MB, over the {limit} MB upload limit. "
            "Split the file, or raise the limit below.",
            draw=st.error,
        )
        return None, "", None
    return io.keep_upload(upload.name, upload.getbuffer(), upload.file_id), Path(upload.name).stem, None


def _mapping(path: Path, fmt: str | None) -> dict | None:
    """The columns a table's turns (or a text layout's rendered conversation) come from, chosen in the form."""
    if fmt not in ("table", "text"):
        return None
    try:
        columns = io.columns_cached(path)
    except io.DataError as e:
        long_text(f"Cannot read the columns: {e}", draw=st.error)
        return None
    if not columns:
        st.error("No columns found: the file's records are not objects with named fields.")
        return None
    if fmt == "text":
        default = columns.index("text") if "text" in columns else 0
        return {"text": st.selectbox("Text column", columns, index=default, key="data_import_col_text")}
    guess = io.suggest_mapping(columns)
    free = [c for c in columns if c not in guess.values()]  # a fallback never repeats another role's column
    fallback = {"system": "(none)", "user": free[0] if free else columns[0]}
    fallback["assistant"] = next((c for c in free if c != fallback["user"]), columns[-1])
    chosen = {}
    for col, role in zip(st.columns(3), ("system", "user", "assistant"), strict=True):
        options = ["(none)", *columns] if role == "system" else columns
        default = guess.get(role) or fallback[role]
        with col:
            pick = st.selectbox(f"{role} column", options, index=options.index(default), key=f"data_import_col_{role}")
        chosen[role] = None if pick == "(none)" else pick
    return chosen


def _left_out(findings: list[Finding], raw_lines: list[int]) -> None:
    """What cannot be imported, by record (its place in the file) and line, and why; then the file's notes."""
    errors = [f for f in findings if f.severity == "error"]
    if errors:
        st.warning(f"{total_of(errors):,} record(s) cannot be imported and will be left out:")
        shown = errors[:200] + [f for f in errors[200:] if f.extra.get("more")]  # "and N more lines like this"
        record = {}
        for i, line in enumerate(raw_lines, 1):
            record.setdefault(line, i)
        rows = [{"record": record.get(f.line), "line": f.line, "problem": f.message} for f in shown]
        st.dataframe(pd.DataFrame(rows), hide_index=True, key="data_import_left_out")
    for f in findings:
        if f.severity != "error":
            long_text(f.message, draw=st.info)


def _changed(notes: list[str]) -> None:
    """What the import changed on the way (a mapped column, a field moved into a turn or not imported)."""
    if notes:
        long_text("What the import changed:\n" + "\n".join(f"- {note}" for note in notes), draw=st.info)


def render() -> None:
    """The import form; on success the new dataset becomes the page's dataset."""
    path, default_name, fetched = _source()
    fmt = FORMATS[st.selectbox("Format", list(FORMATS), key="data_import_fmt")]
    if path is None:
        return
    mapping = _mapping(path, fmt)
    # A fetch was held to the limit as a table; its JSON text may be larger, and is not refused again.
    limit = io.limit_mb() * io.MB if fetched is None else max(io.limit_mb() * io.MB, path.stat().st_size)
    try:
        loaded = io.load_cached(path, fmt=fmt, mapping=mapping, max_bytes=limit)
    except io.DataError as e:
        long_text(f"Cannot import: {e}", draw=st.error)
        return
    container = fetched.source if fetched else loaded.source
    findings = (fetched.findings if fetched else []) + loaded.findings
    if problem := io.nothing_read(loaded, Path(fetched.origin).name if fetched else path.name):
        long_text(f"Cannot import: {problem}", draw=st.error)
        return
    st.success(
        f"Read {preference.counted(len(loaded.examples), loaded.kind)} ({loaded.fmt} layout from {inline(container)})."
    )
    _left_out(findings, loaded.raw_lines)
    _changed(loaded.notes)
    with st.expander("Preview the first examples"):
        st.json(loaded.examples[:3], expanded=2)
    # Keyed by the source, so choosing another file or sample proposes its own name.
    name = st.text_input("Dataset name", value=default_name, key=f"data_import_name_{default_name}")
    if st.button("Import as a new dataset", type="primary", key="data_import_go"):
        left = [{"line": f.line, "message": f.message} for f in findings if f.severity == "error"]
        file = Path(fetched.origin).name if fetched else path.name
        source = json.dumps({"file": file, "format": loaded.fmt, "left_out": left[:500], "notes": loaded.notes})
        try:
            version = versions.create(
                name, loaded.examples, note=f"imported from {file}", source=source, kind=loaded.kind
            )
        except ValueError as e:
            long_text(e, draw=st.error)
            return
        st.query_params["dataset"] = str(version.dataset_id)
        st.session_state.pop("data_view", None)
        st.rerun()


def limit_setting() -> None:
    value = st.number_input("Upload limit (MB)", 1, 10_000, io.limit_mb(), key="data_import_limit")
    if value != io.limit_mb():
        io.set_limit_mb(value)
        st.caption("Saved. Streamlit's own server limit is `server.maxUploadSize` in .streamlit/config.toml.")
