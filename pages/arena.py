"""Arena page (owner): create blind ranking sessions, share the rater link, read the verdict.

Thin: (ui.shell.boot asks for FT_ADMIN_TOKEN when one is set) -> the "New session" form
(ui.arena.create_form -> core.arena.build -> core.arena.sessions.create) -> the session list and
the chosen session (?session=<id>, ui.arena.manage) -> its results (ui.arena.report).
Run: `streamlit run app.py` (Arena). Test: `pytest tests/app/test_arena_page.py tests/e2e/test_arena_browser.py`.
Test: `pytest tests/app/test_arena_page.py`.
"""

from __future__ import annotations

import streamlit as st

from core.arena import sessions
from ui.arena import create_form, manage, report
from ui.shell import boot

boot()  # before anything is drawn, so a deep link on a fresh server goes through app.py

st.title("Arena")
st.caption(
    "A blind human verdict: raters see two anonymous answers to the same prompt, pick the better "
    "one, and only then learn which model wrote which. Ratings are Bradley-Terry with intervals."
)

create_form.render(expanded=not sessions.list_sessions())

found = sessions.list_sessions()
if not found:
    st.stop()
base = manage.app_base()
st.subheader("Sessions")
manage.table(found, base)
session = manage.pick(found)
manage.panel(session, base)
report.render(session)
