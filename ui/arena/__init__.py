"""The Arena pages' parts: the owner's session form, list and results, and the rater's voting view.

Modules without Streamlit (links, results; the session builder is core.arena.build) are plain
functions the tests call directly; the others draw.
Pages: pages/arena.py (owner), pages/rate.py (raters, reached by `?s=<token>`).
Test: `pytest tests/app/test_arena_page.py tests/app/test_rate_page.py tests/e2e/test_arena_browser.py`.
"""

from pathlib import Path

# Absolute page paths work for st.page_link under app.py and under a test router alike.
PAGES_DIR = Path(__file__).resolve().parents[2] / "pages"
EVALUATE_PAGE = str(PAGES_DIR / "evaluate.py")
ARENA_PATH = "arena"  # the owner page's url_path in app.py
RATE_PATH = "rate"  # the rater page's url_path in app.py
