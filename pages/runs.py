"""Runs page: every training run, and one run live (curves, speed, heartbeat, diagnosis, Stop, Resume).

Thin: core.jobs.list_runs("train") -> the list (ui.runs.table) -> the chosen run (?run=<id>)
-> its live view (ui.runs.view) and, for a local run, its artifacts (ui.runs.artifacts). Remote
runs (OpenAI) are listed alongside; their view shows the provider's status and Cancel. Runs are
jobs: they keep going when the browser closes or Streamlit restarts, and this page finds them again.
Run: `streamlit run app.py` (Runs). Test: `pytest tests/app/test_runs_page.py tests/e2e/test_train_browser.py`.
Test: `pytest tests/app/test_runs_page.py`.
"""

from __future__ import annotations

import streamlit as st

from core import jobs
from ui import TRAIN_PAGE
from ui.runs import artifacts, queue, table, view
from ui.shell import boot

boot()  # before anything is drawn, so a deep link on a fresh server goes through app.py

st.title("Runs")
queue.render()  # every job waiting for a slot, whatever its kind, and the slots setting
runs = jobs.list_runs("train")
if not runs:
    st.info("No training runs yet. Launch one from the Train page; it will show here, live.")
    st.page_link(TRAIN_PAGE, label="Open the Train page", icon=":material/model_training:")
    st.stop()

table.render(runs)
run = view.render(table.pick(runs))
if run is not None and not view.is_remote(run):  # a hosted job leaves no local model or checkpoints
    artifacts.render(run)
