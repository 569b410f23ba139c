"""Train page: a dataset version, a model, a method with the guide's preset, a pre-flight, Launch.

Thin: widgets (ui.runs.form) -> a TrainConfig -> the pre-flight (core.train.preflight) -> Launch
(core.train.launch.start, a detached job) -> the Runs page on the new run.
Run: `streamlit run app.py` (Train). Test: `pytest tests/app/test_train_page.py tests/e2e/test_train_browser.py`.
"""

from __future__ import annotations

import streamlit as st

from ui.runs import form, launch_panel, preflight_view
from ui.shell import boot

boot()  # before anything is drawn, so a deep link on a fresh server goes through app.py

st.title("Train")
st.caption("Full fine-tuning, LoRA or QLoRA on a dataset version, run as a job that outlives this page. "
           "The pre-flight says whether it fits before you launch.")  # fmt: skip

version = form.pick_version()
if version is None:
    st.stop()
left, right = st.columns(2)
with left:
    model = form.pick_model()
with right:
    method = form.pick_method()
    profile = form.pick_profile()
form.hyperparameters(method)
cfg = form.collect(method, model, version.id, profile)

pf = preflight_view.compute(cfg, version)
preflight_view.render(pf)
launch_panel.render(cfg, pf)
