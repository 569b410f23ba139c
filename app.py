"""The Fine-Tuning Workbench: a router, nothing else. Run: `make run` (or `streamlit run app.py`).

A URL with `?s=<token>` is a rater's link to a blind ranking session: it routes to the voting
page alone, with no navigation, whatever the path.
Test: `pytest tests/app/test_every_page.py`.
"""

import streamlit as st

st.set_page_config(page_title="Fine-Tuning Workbench", page_icon=":material/tune:", layout="wide")

RATE = st.Page(
    "pages/rate.py", title="Blind comparison", icon=":material/how_to_vote:", url_path="rate", visibility="hidden"
)
pages = {
    "Workbench": [
        st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    ],
    "Workflow": [
        st.Page("pages/decide.py", title="Decide", icon=":material/alt_route:", url_path="decide"),
        st.Page("pages/data.py", title="Data", icon=":material/dataset:", url_path="data"),
        st.Page("pages/train.py", title="Train", icon=":material/model_training:", url_path="train"),
        st.Page("pages/runs.py", title="Runs", icon=":material/monitoring:", url_path="runs"),
        st.Page("pages/evaluate.py", title="Evaluate", icon=":material/fact_check:", url_path="evaluate"),
        st.Page("pages/arena.py", title="Arena", icon=":material/sports_kabaddi:", url_path="arena"),
        st.Page("pages/costs.py", title="Costs", icon=":material/payments:", url_path="costs"),
    ],
}
if "s" in st.query_params:
    # A rater sees the vote and nothing else, at /rate?s= or /?s= alike: a lone page would become the
    # default at "/", and /rate would then be "page not found", so the same script is listed twice.
    home = st.Page("pages/rate.py", title="Blind comparison", url_path="blind", default=True)
    st.navigation([home, RATE], position="hidden").run()
else:
    st.navigation({**pages, "Workflow": [*pages["Workflow"], RATE]}).run()
