"""Page boot: make sure the router in app.py is in charge, even on a fresh server's first request.

Streamlit 1.67 starts in its legacy multipage mode when a `pages/` folder sits beside the main
script, until app.py has called `st.navigation` once. A deep link opened first on a fresh server
would run the page alone: no router, no page config, and every file of pages/ listed in the
sidebar (which must never happen on a rater's link). Each page calls `boot()` first; it switches
the legacy mode off and reruns, so app.py routes the same URL. The first boot of a process tidies the
workspace (core.workspace.start_up); every boot makes sure the job queue's scheduler runs when jobs wait.
Then, on a hosted Space with FT_ADMIN_TOKEN set, every page but the rater's asks for that token (ui.admin).
Test: `pytest tests/e2e/test_deep_link.py`.
"""

from __future__ import annotations

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from core import workspace
from core.jobs import scheduler
from ui import admin


def boot(public: bool = False) -> None:
    """Route through app.py; then, unless the page is public (the rater's), the admin gate."""
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()
    workspace.start_up()  # once per process: leftovers of writes a crash or a kill interrupted
    scheduler.ensure()  # queued jobs go on after a restart (or a killed scheduler), with nobody starting it by hand
    if not public and not admin.allowed():
        st.stop()
