"""The app's drawing code: every module under ui/ imports Streamlit; the engine it calls is core/.

Page scripts live in pages/; the paths below are for st.page_link and st.switch_page (absolute, so they
work under app.py and under a test router alike). Test: `pytest tests/app/test_every_page.py`.
Test: `pytest tests/unit/test_boundaries.py`.
"""

from pathlib import Path

PAGES_DIR = Path(__file__).resolve().parents[1] / "pages"
DATA_PAGE = str(PAGES_DIR / "data.py")
TRAIN_PAGE = str(PAGES_DIR / "train.py")
RUNS_PAGE = str(PAGES_DIR / "runs.py")
EVALUATE_PAGE = str(PAGES_DIR / "evaluate.py")
