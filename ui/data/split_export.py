"""The Data page's Split & export view: train/validation/test split, leakage check, save, download.

A split is made on the working copy (core.data.split), checked for duplicates that straddle two
splits (exact ones always, near ones when the embedding analysis is there), optionally fixed, and
saved with the content as a new version (pairs of a preference dataset are split by prompt). Downloads are of
the latest saved version, per split, as OpenAI JSONL, Parquet or a zipped Hugging Face dataset folder (a
preference dataset: OpenAI DPO or TRL JSONL); files are built only on click. A preference dataset also makes
a chat dataset of its chosen answers here.
Test: `.venv/bin/pytest tests/app/test_data_views.py -q`.
"""

from __future__ import annotations

import functools
import io as stdio
import re
import tempfile
import zipfile
from pathlib import Path

import pandas as pd
import streamlit as st

from core.data import dedup, embed, preference, split, versions
from core.data import io as data_io
from ui.data import state
from ui.data.dupes import clip, row_label
from ui.untrusted import inline

DEFAULT_PERCENT = {"train": 80, "validation": 10, "test": 10}
PENDING = "data_split_pending"
DONE = "data_split_done"
LEAKS_SHOWN = 200
FORMATS = {  # label -> (file extension, MIME type)
    "OpenAI JSONL": ("jsonl", "application/jsonl"),
    "Parquet": ("parquet", "application/vnd.apache.parquet"),
    "Hugging Face dataset folder (.zip)": ("zip", "application/zip"),
}
PREFERENCE_FORMATS = {  # label -> core.data.preference's export
    "OpenAI DPO JSONL": "openai",
    "TRL preference JSONL (prompt, chosen, rejected)": "trl",
}
FIX_MODES = {
    "move": "Move the copy into the earlier split (train before validation before test)",
    "drop": "Leave the later copy out of every split (it stays in the data)",
}


# ---- small pure pieces ----------------------------------------------------------------------


def ratio_problem(percents: list[int]) -> str | None:
    total = sum(percents)
    if total != 100:
        return f"Train, validation and test add up to {total}%; they must add up to 100%."
    if percents[0] <= 0:
        return "Train needs a share above 0%."
    return None


def sizes_table(splits: dict, n: int) -> pd.DataFrame:
    rows = [{"split": name, "examples": len(splits.get(name, []))} for name in split.SPLITS]
    left = n - sum(r["examples"] for r in rows)
    if left:
        rows.append({"split": "in no split (left out for leakage)", "examples": left})
    return pd.DataFrame(rows)


def zip_folder(folder: Path) -> bytes:
    buffer = stdio.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder.parent).as_posix())
    return buffer.getvalue()


def export_bytes(examples: list[dict], fmt: str, stem: str = "dataset") -> bytes:
    """The file a download button hands over: JSONL text, a Parquet file, or a zipped HF folder."""
    if fmt in PREFERENCE_FORMATS:
        return preference.export_bytes(examples, PREFERENCE_FORMATS[fmt])
    ext = FORMATS[fmt][0]
    if ext == "jsonl":
        return data_io.to_jsonl_bytes(examples)
    with tempfile.TemporaryDirectory() as tmp:
        if ext == "parquet":
            return data_io.to_parquet(examples, Path(tmp) / f"{stem}.parquet").read_bytes()
        return zip_folder(data_io.to_hf_dataset(examples, Path(tmp) / stem))


def file_stem(version: versions.Version, part: str) -> str:
    return f"{re.sub(r'[^A-Za-z0-9._-]+', '_', version.dataset)}-v{version.number}-{part}"


# ---- what the analysis offers this content ---------------------------------------------------


def _per_row(work: state.Work, analysis: dict | None, value):
    """`value` when the analysis ran on rows like these (one entry per row), else None."""
    same = analysis is not None and analysis.get("n") == len(work.examples)
    return value if same and value is not None and len(value) == len(work.examples) else None


def topic_labels(work: state.Work, analysis: dict | None) -> list | None:
    return _per_row(work, analysis, ((analysis or {}).get("diversity") or {}).get("labels")) or None


def vectors_of(work: state.Work, analysis: dict | None):
    return _per_row(work, analysis, (analysis or {}).get("vectors"))


@st.cache_data(max_entries=4, show_spinner=False)
def exact_keys(sha: str, _examples: list) -> list[str]:
    return [dedup.exact_key(e) for e in _examples]


# ---- make, check, fix and save a split -------------------------------------------------------


def pending(work: state.Work) -> dict | None:
    """The split for this content: made here, or the one saved with this (unedited) version."""
    made = st.session_state.get(PENDING)
    if made and made["sha"] == work.sha:
        return made
    saved = work.base.splits if not work.dirty else None
    if not saved:
        return None
    parts = {name: list(saved.get(name, [])) for name in split.SPLITS}
    return {
        "sha": work.sha,
        "saved": True,
        "splits": parts,
        "seed": saved.get("seed"),
        "ratios": saved.get("ratios"),
    }


def _controls(work: state.Work, analysis: dict | None) -> None:
    cols = st.columns(4)
    percents = [
        int(col.number_input(f"{name.capitalize()} %", 0, 100, value, step=1, key=f"data_split_{name}"))
        for col, (name, value) in zip(cols, DEFAULT_PERCENT.items(), strict=False)
    ]
    seed = cols[3].number_input(
        "Seed", min_value=0, value=0, step=1, key="data_split_seed", help="Same seed and ratios, same split."
    )
    labels = topic_labels(work, analysis)
    stratify = st.checkbox(
        "Stratify by topic",
        key="data_split_stratify",
        disabled=labels is None,
        help="Give every split its share of each topic. Needs the embedding analysis from Check.",
    )
    problem = ratio_problem(percents)
    if problem:
        st.error(problem)
    if st.button("Make split", key="data_split_make", disabled=bool(problem) or not work.examples):
        ratios = [p / 100 for p in percents]
        rows = split.split(work.examples, ratios, int(seed), labels if stratify and labels else None)
        made = {"sha": work.sha, "saved": False, "splits": rows, "seed": int(seed), "ratios": ratios}
        st.session_state[PENDING] = made


def leak_table(pairs: list, examples: list[dict]) -> pd.DataFrame:
    def user(row: int) -> str:
        example = examples[row]
        return clip(
            embed.user_text(preference.prompt(example) if preference.is_pair(example) else example.get("messages")), 80
        )

    columns = ["row", "split", "copy", "copy's split", "similarity", "user turn"]
    shown = pairs[:LEAKS_SHOWN]
    rows = [(row_label(a), sa, row_label(b), sb, round(sim, 3), user(a)) for a, sa, b, sb, sim in shown]
    return pd.DataFrame(rows, columns=columns)


def _leakage(work: state.Work, made: dict, analysis: dict | None) -> int:
    vectors = vectors_of(work, analysis)
    threshold = analysis.get("threshold", dedup.THRESHOLD) if vectors is not None else dedup.THRESHOLD
    pairs = split.leakage(vectors, made["splits"], threshold, exact_keys(work.sha, work.examples))
    st.markdown("**Leakage check**")
    if vectors is None:
        st.caption('Exact copies only; run "Find near-duplicates and topics" in Check to catch rewordings too.')
    if not pairs:
        st.success("No example has a copy in another split.")
        return 0
    st.warning(f"{len(pairs)} pairs sit in two splits: the model would be tested on what it trained on.")
    st.dataframe(leak_table(pairs, work.examples), hide_index=True)
    if len(pairs) > LEAKS_SHOWN:
        st.caption(f"Showing the first {LEAKS_SHOWN} of {len(pairs)} pairs.")
    mode = st.radio("How to fix", list(FIX_MODES), format_func=FIX_MODES.get, key="data_split_fix_mode")
    if st.button("Fix leakage", key="data_split_fix"):
        fixed = split.fix_leakage(made["splits"], pairs, mode)
        st.session_state[PENDING] = {**made, "splits": fixed, "saved": False}
        st.rerun()
    return len(pairs)


def _save(work: state.Work, made: dict, leaks: int) -> None:
    if made.get("saved"):
        st.caption(f"This is the split saved with v{work.base.number}.")
        return
    if leaks:
        st.caption(f"Saving now keeps the {leaks} leaking pairs; fix them first unless you mean to.")
    if work.dirty:
        st.caption("Your unsaved edits are saved together with the split.")
    note = st.text_input("Note for the new version", key="data_split_note", placeholder="made a split")
    if st.button("Save split as a new version", key="data_split_save", type="primary"):
        splits = {**made["splits"], "seed": made["seed"], "ratios": made["ratios"]}
        version = state.save(work, note or "made a split", splits=splits)
        st.session_state.pop(PENDING, None)
        st.session_state[DONE] = f"Saved v{version.number} with its split."
        st.rerun()


# ---- download ----------------------------------------------------------------------------------


def _download(label: str, rows: list[dict], fmt: str, stem: str, key: str) -> None:
    ext, mime = FORMATS.get(fmt, FORMATS["OpenAI JSONL"])  # a preference export is JSON Lines too
    st.download_button(
        f"{label} ({len(rows)})",
        data=functools.partial(export_bytes, rows, fmt, stem),  # built on click, not on every rerun
        file_name=f"{stem}.{ext}",
        mime=mime,
        key=key,
        on_click="ignore",
        disabled=not rows,
    )


def _export(work: state.Work) -> None:
    latest = versions.latest(work.dataset.id)
    st.subheader(f"Export v{latest.number}")
    if work.dirty:
        st.caption("Downloads are of the saved version; unsaved edits are not included.")
    rows = work.examples if work.sha == latest.sha256 else versions.examples(latest)
    if latest.kind == "preference":
        fmt = st.selectbox("Format", list(PREFERENCE_FORMATS), key="data_split_format_pairs")
    else:
        fmt = st.selectbox("Format", list(FORMATS), key="data_split_format")
    parts = {}
    if latest.splits:
        parts = {name: [rows[i] for i in latest.splits.get(name, [])] for name in split.SPLITS}
        st.table(sizes_table(latest.splits, latest.n_examples))
    else:
        st.info(f"v{latest.number} has no split yet: make one above and save it to download train/validation/test.")
    cols = st.columns(len(parts) + 1)
    for col, (name, part) in zip(cols, parts.items(), strict=False):
        with col:
            _download(name.capitalize(), part, fmt, file_stem(latest, name), f"data_split_dl_{name}")
    with cols[-1]:
        _download("All examples", rows, fmt, file_stem(latest, "all"), "data_split_dl_all")
    if latest.kind == "preference":
        _derive(latest)


def _derive(latest: versions.Version) -> None:
    st.subheader("A chat dataset of the chosen answers")
    st.caption(
        "Each prompt with its preferred answer becomes a chat example (SFT on the chosen answers), in a new "
        "dataset that keeps this version's split. Train, Evaluate and the Arena read chat datasets."
    )
    if st.button("Make a chat dataset of the chosen answers", key="data_split_derive"):
        made = preference.derive_chat(latest)
        st.query_params["dataset"] = str(made.dataset_id)
        state.forget()
        done = f"Made {inline(made.label)}: {made.n_examples} chat examples from {inline(latest.label)}."
        st.session_state[DONE] = done
        st.rerun()


def render(work: state.Work, analysis: dict | None) -> None:
    """Split controls, the split in progress with its leakage check and save, then the downloads."""
    if done := st.session_state.pop(DONE, None):
        st.success(done)
    st.subheader("Split")
    _controls(work, analysis)
    made = pending(work)
    if made:
        if not made["saved"]:  # a saved split's sizes are in the export table below
            st.table(sizes_table(made["splits"], len(work.examples)))
        _save(work, made, _leakage(work, made, analysis))
    _export(work)
