"""The Costs page's "Estimates vs runs" tab: the estimator's error on this workspace's past runs.

Each finished local run keeps the pre-flight it launched with and measures its peak memory and
training time (core.train.summary.estimator_errors); the chart puts estimate / measured per run,
with 1 (exact) marked. Test: `pytest tests/app/test_costs_page.py`.
"""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from core import jobs
from core.train import summary

MEASURES = {"memory_ratio": "peak memory", "time_ratio": "training time"}


def error_chart(rows: list[dict]) -> alt.Chart:
    """estimate / measured per run, memory and time side by side; the dashed line is an exact estimate."""
    long = [
        {"run": r["run"], "method": r["method"], "measure": label, "ratio": r[key]}
        for r in rows
        for key, label in MEASURES.items()
        if r[key] is not None
    ]
    points = (
        alt.Chart(alt.Data(values=long))
        .mark_point(filled=True, size=80)
        .encode(
            x=alt.X("run:N", title=None, axis=alt.Axis(labelAngle=-30)),
            y=alt.Y("ratio:Q", title="estimate / measured", scale=alt.Scale(type="log")),
            color=alt.Color("measure:N"),
            shape=alt.Shape("method:N"),
            tooltip=["run:N", "method:N", "measure:N", "ratio:Q"],
        )
    )
    exact = alt.Chart(alt.Data(values=[{"ratio": 1.0}])).mark_rule(strokeDash=[4, 4], color="gray").encode(y="ratio:Q")
    return (points + exact).properties(height=320)


def render() -> None:
    rows = summary.estimator_errors(jobs.list_runs(kind="train"))
    if not rows:
        st.info(
            "No finished local run has both an estimate and a measurement yet. Every run launched from the "
            "Train page keeps its pre-flight and measures its peak memory and training time."
        )
        return
    st.altair_chart(error_chart(rows), width="stretch")
    st.dataframe(pd.DataFrame(rows), hide_index=True)
    st.caption(
        "Above 1 the estimate was high, below 1 low. Memory on CPU is the worker's peak resident memory "
        "less its start-up; on a GPU, CUDA's max reserved. Time is the training steps' seconds."
    )
