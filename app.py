"""The Fine-Tuning Workbench: a router, nothing else. Run: `make run` (or `streamlit run app.py`)."""

import streamlit as st

st.set_page_config(page_title="Fine-Tuning Workbench", page_icon=":material/tune:", layout="wide")

pages = {
    "Workbench": [
        st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    ],
    "Workflow": [
        st.Page("pages/decide.py", title="Decide", icon=":material/alt_route:", url_path="decide"),
        st.Page("pages/data.py", title="Data", icon=":material/dataset:", url_path="data"),
        st.Page("pages/train.py", title="Train", icon=":material/model_training:", url_path="train"),
        st.Page("pages/runs.py", title="Runs", icon=":material/monitoring:", url_path="runs"),
        st.Page("pages/costs.py", title="Costs", icon=":material/payments:", url_path="costs"),
    ],
}
st.navigation(pages).run()
