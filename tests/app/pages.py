"""The page list as app.py declares it, read from its source so tests follow the router.

Each page once: app.py lists pages/rate.py twice (in the rater's navigation and in the owner's).
Test: `pytest tests/app/test_every_page.py tests/e2e/test_smoke.py`.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def app_pages() -> list[str]:
    tree = ast.parse((ROOT / "app.py").read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "Page" and node.args:
            found.append(node.args[0].value)
    return list(dict.fromkeys(found))


def page_title(page: str) -> str:
    """The text of the page script's own st.title(...), so a test can tell the page from Home."""
    for node in ast.walk(ast.parse((ROOT / page).read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "title" and node.args:
            return node.args[0].value
    raise AssertionError(f"{page} has no st.title")
