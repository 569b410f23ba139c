"""The Runs page's list of training runs and the picker that keeps the chosen run in the URL (?run=<id>).

Test: `pytest tests/app/test_runs_page.py`.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core import jobs
from core.train import summary
from ui.untrusted import inline

PICK = "runs_pick"
TABLE = "runs_table"


def render(runs: list[jobs.RunStatus]) -> None:
    """The list; clicking a row opens that run."""
    ids = [r.id for r in runs]

    def opened() -> None:
        chosen = st.session_state[TABLE]["selection"]["rows"]
        if chosen:
            st.session_state[PICK] = ids[chosen[0]]
            st.query_params["run"] = ids[chosen[0]]

    rows = pd.DataFrame([summary.run_row(r) for r in runs])
    st.dataframe(
        rows,
        hide_index=True,
        width="stretch",
        key=TABLE,
        on_select=opened,
        selection_mode="single-row",
        height=min(400, 38 + 35 * len(runs)),
        column_config={"best validation loss": st.column_config.NumberColumn(format="%.4f")},
    )


def _to_url() -> None:
    st.query_params["run"] = st.session_state[PICK]


def pick(runs: list[jobs.RunStatus]) -> str:
    """The run in ?run=<id> (a link or a refresh keeps it), else the newest; the choice goes to the URL."""
    by_id = {r.id: r for r in runs}
    wanted = st.query_params.get("run")
    if wanted and wanted not in by_id:
        st.warning(f"No training run {inline(repr(wanted))} in this workspace; showing the newest.")
        wanted = None
    if wanted or st.session_state.get(PICK) not in by_id:
        st.session_state[PICK] = wanted or runs[0].id
    chosen = st.selectbox(
        "Run",
        list(by_id),
        key=PICK,
        on_change=_to_url,
        format_func=lambda i: f"{by_id[i].title} · {by_id[i].state} · {i}",
    )
    st.query_params["run"] = chosen
    return chosen
