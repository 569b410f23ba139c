"""The Costs page's third tab: the guide's own cost table beside this workbench's estimate, with its notes.

Test: `pytest tests/app/test_costs_page.py`.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core import costs


def render() -> None:
    table = pd.DataFrame(costs.guide_comparison())
    st.dataframe(table.rename(columns=lambda c: c.replace("_", " ")), hide_index=True)
    st.markdown("\n".join(f"- {note}" for note in costs.guide_notes()))
