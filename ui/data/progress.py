"""A job's progress bar for the Data page (the embedding analysis, a dataset fetch), redrawn every second.

When the job ends the whole page reruns, so what the job wrote (or why it failed) shows at once.
Test: `pytest tests/app/test_data_import.py`.
"""

from __future__ import annotations

import streamlit as st

from core import jobs
from ui.untrusted import long_text


@st.fragment(run_every=1.0)
def bar(run_id: str, what: str) -> None:
    run = jobs.status(run_id)
    p = run.progress or {}
    done, total = p.get("done", 0), max(p.get("total", 1), 1)
    st.progress(min(done / total, 1.0), text=f"{p.get('message', run.state)}: {done}/{total}")
    if not run.active:
        if run.state != "succeeded":
            long_text(f"{what} {run.state}: {run.message}", draw=st.error)
        st.rerun(scope="app")
