"""The app's drawing code: every module under ui/ imports Streamlit; the engine it calls is core/.

Page scripts live in pages/; the paths below are for st.page_link and st.switch_page (absolute, so they
work under app.py and under a test router alike). Core names a workbench step ("costs"); PAGE_OF maps
the name to its page.
Test: `pytest tests/app/test_every_page.py tests/app/test_decide_page.py tests/unit/test_boundaries.py`.
"""

from pathlib import Path

PAGES_DIR = Path(__file__).resolve().parents[1] / "pages"
DECIDE_PAGE = str(PAGES_DIR / "decide.py")
DATA_PAGE = str(PAGES_DIR / "data.py")
TRAIN_PAGE = str(PAGES_DIR / "train.py")
RUNS_PAGE = str(PAGES_DIR / "runs.py")
EVALUATE_PAGE = str(PAGES_DIR / "evaluate.py")
ARENA_PAGE = str(PAGES_DIR / "arena.py")
COSTS_PAGE = str(PAGES_DIR / "costs.py")
# A step's name is its page's url_path in app.py, so a name core gives is also where the page lives.
PAGE_OF = {
    "decide": DECIDE_PAGE,
    "data": DATA_PAGE,
    "train": TRAIN_PAGE,
    "runs": RUNS_PAGE,
    "evaluate": EVALUATE_PAGE,
    "arena": ARENA_PAGE,
    "costs": COSTS_PAGE,
}
