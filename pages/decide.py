"""Decide: the guide's decision tree, then the break-even of fine-tuning with dated prices.

Thin page over `core.decide`: widgets (ui/decide/) -> Answers / Economics -> one core call -> render.
Run: `streamlit run app.py` (Decide). Test: `pytest tests/app/test_decide_page.py tests/e2e/test_decide_browser.py`.
"""

from __future__ import annotations

import streamlit as st

from ui.decide import economics, questions
from ui.shell import boot

boot()

st.title("Decide: prompt engineering, RAG or fine-tuning?")
st.caption("The guide's three questions and its 'skip fine-tuning if' list, then the arithmetic of paying back.")
st.header("1. Questions")
questions.render()
st.header("2. Economics")
economics.render()
