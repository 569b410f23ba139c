"""Pieces of the Decide page: the guide's three questions with their recommendation, then the break-even.

Every module here draws; the decision tree and the arithmetic live in core.decide. Every widget key
starts with "decide_". Test: `pytest tests/app/test_decide_page.py tests/e2e/test_decide_browser.py`.
"""
