"""A deep link opened first on a fresh server is routed by app.py (not Streamlit's legacy mode)."""

import subprocess

from tests.e2e.conftest import assert_no_exception, free_port, start_streamlit, wait_idle


def test_first_request_to_a_deep_link_gets_the_router(page, tmp_path):
    port = free_port()
    proc = start_streamlit(tmp_path, port)
    try:
        page.goto(f"http://127.0.0.1:{port}/decide")
        wait_idle(page)
        page.locator("h1").get_by_text("Decide").wait_for()
        nav = page.locator('[data-testid="stSidebarNav"]')
        nav.get_by_text("Workflow", exact=True).wait_for()  # app.py's section header
        assert nav.get_by_text("app", exact=True).count() == 0  # legacy mode would list app.py
        assert page.title() != "app"
        assert_no_exception(page)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
