"""Pieces of the Evaluate page: candidates, generation status, scores, comparison, playground.

Its dataset-version picker is the shared one, ui.pickers (a version with a test split).

Every module here draws; what they show comes from core.eval (candidates, pool, scores, generate).
Everything slow (loading a model, generating) runs as a "generate" job; these modules only
launch jobs and read their files back. Every widget key starts with "eval_".
Test: `.venv/bin/pytest tests/app/test_evaluate_page.py tests/e2e/test_evaluate_browser.py -q`.
"""

REFRESH_S = 2  # live panels reread the run folders this often while a job is active
