"""Rater page: a blind comparison reached by a share link, `<app>/rate?s=<token>`, with no navigation.

Thin: the session from ?s= -> the rater from ?r= (their own link; else a new name and Start,
core.arena.sessions.join, which refuses a taken name) -> one anonymous pair at a time with its vote
and reveal (ui.arena.rater). app.py shows this page alone whenever the URL has `s`.
Run: `streamlit run app.py`, then open a session's rater link. Test: `pytest tests/app/test_rate_page.py`.
"""

from __future__ import annotations

import streamlit as st

from ui.arena import rater
from ui.shell import boot

boot(public=True)  # through app.py first; a rater never needs the admin token

st.title("Blind comparison")
session = rater.session_from_url()
if session is None:
    st.stop()
who = rater.current_rater(session)
if who is None:
    rater.join_form(session)
else:
    rater.vote_view(session, who)
