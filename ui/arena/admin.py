"""The owner's gate on a hosted Space: with FT_ADMIN_TOKEN set, the Arena page shows nothing else
until the token is given (typed, or `?admin=<token>` in the URL). Locally (unset) it is open.

The comparison is core.arena.sessions.check_admin (constant time). Test: `pytest tests/app/test_arena_page.py`.
"""

from __future__ import annotations

import streamlit as st

from core.arena import sessions

OK = "arena_admin_ok"  # session_state: this browser session gave the right token


def allowed() -> bool:
    """True when the owner may see the page; otherwise draws the token prompt and returns False."""
    if sessions.admin_token() is None or st.session_state.get(OK):
        return True
    if "admin" in st.query_params and sessions.check_admin(st.query_params["admin"]):
        st.session_state[OK] = True
        return True
    st.info("This workbench is shared: the Arena's owner view needs the admin token (FT_ADMIN_TOKEN).")
    given = st.text_input("Admin token", type="password", key="arena_admin_token")
    if st.button("Unlock", key="arena_unlock") or given:
        if sessions.check_admin(given):
            st.session_state[OK] = True
            st.rerun()
        st.error("That is not the admin token. Ask whoever set up this Space for it.")
    return False
