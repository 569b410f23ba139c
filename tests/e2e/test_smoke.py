"""Every page in a real browser: it renders its own title (not Home's, where an unknown path falls back) and
no Streamlit exception; the navigation lists every workflow page.
"""

import pytest

from tests.app.pages import app_pages, page_title
from tests.e2e.conftest import assert_no_exception, open_page

URLS = {"pages/home.py": ""}


def url_of(page: str) -> str:
    return URLS.get(page, page.removeprefix("pages/").removesuffix(".py"))


@pytest.mark.parametrize("page_file", app_pages())
def test_page_opens_in_a_browser(page, server, page_file):
    open_page(page, server, url_of(page_file))
    title = page.locator("h1").first
    title.wait_for()
    assert title.inner_text().strip() == page_title(page_file)
    assert_no_exception(page)


def test_navigation_lists_every_page(page, server):
    open_page(page, server)
    nav = page.locator('[data-testid="stSidebarNav"]')
    for name in ("Home", "Decide", "Data", "Train", "Runs", "Evaluate", "Arena", "Costs"):
        assert nav.get_by_text(name, exact=True).count() == 1
