"""Pieces of the Runs page: the run list, one run's live view, its charts and artifacts.

Every module here draws; what they read comes from core.jobs and core.train.summary.
Test: `pytest tests/app/test_runs_page.py`.
"""
