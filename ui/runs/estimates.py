"""The Runs page's "Estimate against measured" table: the pre-flight kept at launch beside the run's own numbers.

Rows come from core.train.summary.estimate_vs_measured (the run's meta and summary.json).
Test: `pytest tests/app/test_runs_page.py`.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core import jobs
from core.train import summary


def render(run: jobs.RunStatus) -> None:
    rows = summary.estimate_vs_measured(run)
    if all(r["estimate"] is None for r in rows):
        error = (run.meta.get("estimate") or {}).get("error")
        st.caption(error or "No pre-flight estimate was kept for this run (launched before estimates were recorded).")
        return
    st.markdown("**Estimate against measured**")
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        column_config={
            "estimate": st.column_config.NumberColumn(format="%.3f"),
            "measured": st.column_config.NumberColumn(format="%.3f"),
            "estimate / measured": st.column_config.NumberColumn(format="%.2f", help="Above 1: the estimate was high"),
        },
    )
