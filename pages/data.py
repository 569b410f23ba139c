"""Data studio: import, validate, edit, clean, deduplicate, split and export chat datasets.

Thin page: the dataset (ui.pickers, kept in `?dataset=`), the working copy in ui.data.state (a draft
persisted on every change), each view one render function in ui/data/.
CLI twin: `python -m core.data validate|dedup FILE`.
Test: `pytest tests/app/test_data_views.py tests/app/test_data_edit.py tests/app/test_pickers.py
tests/e2e/test_data_journey.py`.
"""

import streamlit as st

from core.data import analyze
from ui import pickers
from ui.data import checks, dupes, edit, history, importer, split_export, state
from ui.shell import boot
from ui.untrusted import inline

boot()

VIEWS = ["Check", "Edit", "Duplicates", "Split & export", "History"]
MODEL = "gpt-4o-mini-2024-07-18"  # token limits and counts as OpenAI would bill them

st.title("Data studio")
st.caption(
    "Data quality decides 80% of the outcome. Every change is kept: saves make new versions, "
    "and edits in progress survive a refresh."
)

dataset = pickers.pick_dataset("data")
with st.expander("Import a dataset", expanded=dataset is None, icon=":material/upload:"):
    importer.render()
    importer.limit_setting()
if dataset is None:
    st.info("Start by importing a file, or load the **messy** sample to see every check at work.")
    st.stop()

work = state.load(dataset)
if work.dirty:
    c1, c2, c3 = st.columns([3, 2, 1], vertical_alignment="bottom")
    c1.warning(f"Unsaved edits on top of v{work.base.number} (kept as a draft).")
    note = c2.text_input("Note for the new version", key="data_save_note", placeholder="what changed")
    if c3.button("Save as version", type="primary", key="data_save"):
        saved = state.save(work, note or "edited")
        st.toast(f"Saved {inline(saved.label)}")
        st.rerun()

report = checks.validation(work.sha, MODEL, work.examples, work.base.kind)
analysis = analyze.result_for(work.sha)
quality = checks.checklist(work.sha, analysis["run_id"] if analysis else None, work.examples, work.base.kind)

view = st.segmented_control("View", VIEWS, default="Check", required=True, key="data_view")
if view == "Check":
    checks.render(work, report, quality, analysis)
elif view == "Edit":
    edit.render(work, report, quality)
elif view == "Duplicates":
    dupes.render(work, analysis)
elif view == "Split & export":
    split_export.render(work, analysis)
else:
    history.render(work)
