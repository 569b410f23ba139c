"""The one AppTest harness for page tests that drive real pages: a router and the starter that runs it.

The router lists the workflow's page scripts by absolute path under the url_paths app.py gives them, so a
page's st.page_link and st.switch_page (ui.PAGE_OF, ui.RUNS_PAGE, ...) find their targets; the page asked
for is the default. Query parameters go in before the first run, as a link or a refresh brings them.
Test: `pytest tests/app/test_train_page.py tests/app/test_evaluate_page.py tests/app/test_pickers.py`.
"""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
FAKE = str(ROOT / "tests" / "jobs" / "fake_worker.py")  # the fake worker that speaks the run-folder contract
WORKFLOW = ("decide", "data", "train", "runs", "evaluate", "arena", "costs")


def router(default: str) -> str:
    """A router script over every workflow page, `default` ("train", "runs", ...) opening first."""
    return f"""
import streamlit as st
P = {str(ROOT / "pages")!r} + "/"
st.navigation([st.Page(P + n + ".py", url_path=n, default=n == {default!r}) for n in {WORKFLOW!r}]).run()
"""


def start(page: str, query: dict[str, str] | None = None) -> AppTest:
    """The page under the router, opened with these query parameters and run once."""
    at = AppTest.from_string(router(page), default_timeout=60)
    for name, value in (query or {}).items():
        at.query_params[name] = value
    return at.run()
