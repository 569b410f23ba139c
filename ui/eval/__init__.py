"""Pieces of the Evaluate page: version picker, candidates, generation status, scores, comparison, playground.

`pool`, `results` and `charts` have no widgets (plain functions the tests call directly); the
others draw.
Everything slow (loading a model, generating) runs as a "generate" job; these modules only
launch jobs and read their files back. Every widget key starts with "eval_".
Test: `.venv/bin/pytest tests/app/test_evaluate_page.py tests/e2e/test_evaluate_browser.py -q`.
"""

from pathlib import Path

# Absolute page paths work for st.page_link under app.py and under a test router alike.
PAGES_DIR = Path(__file__).resolve().parents[2] / "pages"
DATA_PAGE = str(PAGES_DIR / "data.py")
TRAIN_PAGE = str(PAGES_DIR / "train.py")
SPLIT = "test"  # the guide's held-out set; every score on the page is on it
REFRESH_S = 2  # live panels reread the run folders this often while a job is active
