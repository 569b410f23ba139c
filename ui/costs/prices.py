"""The Costs page's editable price tables (OpenAI per 1M tokens, GPUs per hour), saved to the workspace.

Test: `pytest tests/app/test_costs_page.py`.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core import costs, prices


def _reset(kind: str) -> None:
    prices.reset(kind)
    for key in (f"costs_{kind}_base", f"costs_{kind}_prices"):
        st.session_state.pop(key, None)


def price_editor(kind: str) -> list[dict]:
    """The editable price table, saved to the workspace on every valid edit; returns the rows in force."""
    base_key = f"costs_{kind}_base"
    if base_key not in st.session_state:  # edits apply to this snapshot, so deleted rows stay deleted
        st.session_state[base_key] = prices.table(kind)
    edited = st.data_editor(
        pd.DataFrame(st.session_state[base_key]),
        key=f"costs_{kind}_prices",
        num_rows="dynamic",
        hide_index=True,
        width="stretch",
    )
    rows, problems = costs.clean_price_rows(kind, edited.to_dict("records"))
    if problems:
        st.warning("Edits not saved: " + "; ".join(problems))
    elif rows != prices.table(kind):
        prices.save(kind, rows)
    current = prices.table(kind)
    dates = ", ".join(sorted({str(r.get("as_of")) for r in current}))
    sources = "; ".join(sorted({str(r.get("source")) for r in current}))
    mine = " Your edits are saved in this workspace." if prices.is_customised(kind) else ""
    st.caption(f"As of {dates}. Source: {sources}.{mine}")
    st.button("Reset to defaults", key=f"costs_{kind}_reset", on_click=_reset, args=(kind,))
    return current
