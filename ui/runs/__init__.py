"""Pieces of the Train and Runs pages: the config form, the pre-flight, the run list and the run view.

Modules without Streamlit (device, preflight, charts, summary) are plain functions the tests call
directly; the others draw. Test: `pytest tests/app/test_train_page.py tests/app/test_runs_page.py`.
"""

from pathlib import Path

# Absolute page paths work for st.switch_page/st.page_link under app.py and under a test router alike.
PAGES_DIR = Path(__file__).resolve().parents[2] / "pages"
TRAIN_PAGE = str(PAGES_DIR / "train.py")
RUNS_PAGE = str(PAGES_DIR / "runs.py")
DATA_PAGE = str(PAGES_DIR / "data.py")
