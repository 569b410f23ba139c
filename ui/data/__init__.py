"""The Data page's parts: working copy, import, checks, editor, duplicates, split/export, history.

Test: `pytest tests/app/test_data_views.py`.
"""
