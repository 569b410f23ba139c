"""The owner's gate on a hosted Space: with FT_ADMIN_TOKEN set, every page but the rater's shows
nothing until the token is given (typed, or `?admin=<token>` in the URL). Locally (unset) it is open.

A rater who deletes `?s=` from the link must not reach the Evaluate page (answers by candidate)
or the Arena's results: both would undo the blinding. ui.shell.boot() calls allowed() on every
page except pages/rate.py. The comparison is core.auth.check_admin (constant time).
Test: `pytest tests/app/test_every_page.py tests/app/test_arena_page.py`.
"""

from __future__ import annotations

import streamlit as st

from core import auth

OK = "admin_ok"  # session_state: this browser session gave the right token


def allowed() -> bool:
    """True when this browser may see the workbench; otherwise draws the token prompt, False."""
    if auth.admin_token() is None or st.session_state.get(OK):
        return True
    if "admin" in st.query_params and auth.check_admin(st.query_params["admin"]):
        st.session_state[OK] = True
        return True
    st.title("Fine-Tuning Workbench")
    st.info(
        "This workbench is shared: its pages need the admin token (FT_ADMIN_TOKEN). Raters need "
        "none: the link they were sent opens their comparison directly."
    )
    given = st.text_input("Admin token", type="password", key="admin_token")
    if st.button("Unlock", key="admin_unlock") or given:
        if auth.check_admin(given):
            st.session_state[OK] = True
            st.rerun()
        st.error("That is not the admin token. Ask whoever set up this Space for it.")
    return False
