"""The Arena pages' parts: the owner's session form, list and results, and the rater's voting view.

Every module here draws; links, results and the session builder live in core.arena.
Pages: pages/arena.py (owner), pages/rate.py (raters, reached by `?s=<token>`).
Test: `pytest tests/app/test_arena_page.py tests/app/test_rate_page.py tests/e2e/test_arena_browser.py`.
"""
