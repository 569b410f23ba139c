"""A job's progress bar for the Data page (the embedding analysis, a dataset fetch), redrawn every second.

When the job ends the whole page reruns, so what the job wrote (or why it failed) shows at once.
Test: `pytest tests/app/test_data_import.py`.
"""

from __future__ import annotations

import streamlit as st

from core import jobs


@st.fragment(run_every=1.0)
def bar(run_id: str, what: str) -> None:
    run = jobs.status(run_id)
    p = run.progress or {}
    done, total = p.get("done", 0), max(p.get("total", 1), 1)
    st.progress(min(done / total, 1.0), text=f"{p.get('message', run.state)}: {done}/{total}")
    if not run.active:
        if run.state != "succeeded":
            st.error(f"{what} {run.state}: {run.message}")
        st.rerun(scope="app")
