"""Costs page: OpenAI dollars for a JSONL file, GPU memory/time/dollars per method, the guide's table.

Thin: one tab per question, each drawn by ui/costs/ (widgets -> core.costs / core.estimate -> render).
Price tables are editable and persist. Run: `streamlit run app.py` (Costs).
Test: `pytest tests/app/test_costs_page.py tests/e2e/test_costs_browser.py`.
"""

from __future__ import annotations

import streamlit as st

from ui.costs import accuracy, gpu, guide, openai
from ui.shell import boot

boot()  # before anything is drawn, so a deep link on a fresh server goes through app.py

st.title("Costs: dollars, memory and time before you launch")
openai_tab, gpu_tab, guide_tab, runs_tab = st.tabs(["OpenAI", "Local GPU", "Guide vs estimate", "Estimates vs runs"])
with openai_tab:
    openai.render()
with gpu_tab:
    gpu.render()
with guide_tab:
    guide.render()
with runs_tab:
    accuracy.render()
