"""Train page: a dataset version, then a backend: local (full / LoRA / QLoRA) or a hosted provider.

Thin: the backend choice, the shared dataset picker, then one form. Local: widgets (ui.train.form)
-> a TrainConfig -> the pre-flight (core.train.preflight) and one rendered example (core.train.preview)
-> Launch (core.train.launch.start, a detached job). Hosted: every provider in core.providers' registry
is a backend; OpenAI's form is ui.train.openai_form (an OpenAIJob -> its cost -> Launch), any other gets
ui.train.remote_form. Either way, the Runs page opens on the new run.
Run: `streamlit run app.py` (Train).
Test: `pytest tests/app/test_train_page.py tests/app/test_train_openai.py tests/e2e/test_train_browser.py`.
"""

from __future__ import annotations

import streamlit as st

from core import providers
from ui.shell import boot
from ui.train import form, launch_panel, openai_form, preflight_view, remote_form

boot()  # before anything is drawn, so a deep link on a fresh server goes through app.py

BACKENDS = {"local": "Local (full / LoRA / QLoRA)", **{p.name: p.label for p in providers.registered()}}
FORMS = {"openai": openai_form.render}  # a hosted provider without its own form gets remote_form

st.title("Train")
backend = st.radio(
    "Backend",
    list(BACKENDS),
    key="train_backend",
    horizontal=True,
    format_func=BACKENDS.get,
    help="Local trains on this machine as a job; a hosted backend uploads the split and fine-tunes on "
    "its service (OpenAI, or an OpenAI-compatible one), followed here like a local run.",
)
st.caption(
    "Full fine-tuning, LoRA or QLoRA on a dataset version, run as a job that outlives this page. "
    "The pre-flight says whether it fits before you launch."
    if backend == "local"
    else f"{providers.get(backend).service} fine-tunes on its servers; the run here follows it: status, events, "
    "loss, cost."
)

version = form.pick_version()
if version is None:
    st.stop()
if backend != "local":
    FORMS.get(backend, remote_form.render)(providers.get(backend), version)
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
preflight_view.calibration(cfg, pf)
preflight_view.example(cfg, version)
launch_panel.render(cfg, pf)
