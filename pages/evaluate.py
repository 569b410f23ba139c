"""Evaluate page: did fine-tuning help? Metrics on the held-out test split, base versus tuned, a playground.

Thin: a dataset version with a test split (ui.pickers) -> the candidates and generation
settings (ui.eval.choose) -> each candidate's answers, generated as a job and cached
(ui.eval.status) -> scores of every cached candidate (ui.eval.scores) -> base versus tuned
(ui.eval.compare), a side-by-side playground (ui.eval.playground), and a candidate's answers to every
prompt saved as a new dataset (ui.eval.distill).
Run: `streamlit run app.py` (Evaluate).
Test: `pytest tests/app/test_evaluate_page.py tests/e2e/test_evaluate_browser.py`.
"""

from __future__ import annotations

import streamlit as st

from core.eval import pool
from ui import pickers
from ui.eval import choose, compare, distill, playground, scores, status
from ui.shell import boot

boot()  # before anything is drawn, so a deep link on a fresh server goes through app.py

st.title("Evaluate")
st.caption(
    "Training loss going down does not mean the model got better. Score each candidate's answers "
    "against the held-out test split, compare base and tuned example by example, then read them."
)

version = pickers.pick_version("eval", need="test")
if version is None:
    st.stop()

st.subheader("Candidates")
slots = pool.pool(*choose.fewshot_settings())
chosen = choose.choose(slots)
params = choose.settings()
choose.add_form()
status.render({s: slots[s] for s in chosen}, version, params)

tab_scores, tab_compare, tab_play = st.tabs(["Scores", "Base versus tuned", "Playground"])
with tab_scores:
    found = scores.render(version)
with tab_compare:
    compare.render(found, version)
with tab_play:
    playground.render(slots, version, params)

distill.render(slots, version, params)
