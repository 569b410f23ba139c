"""Home: the workflow at a glance and what the workspace holds.

Test: `pytest tests/app/test_every_page.py`.
"""

import streamlit as st

from core import workspace
from ui import PAGE_OF
from ui.shell import boot

boot()

st.title("Fine-Tuning Workbench")
st.caption(
    "From *should we fine-tune at all?* to a tuned model and a blind human verdict, "
    "following *A Practical Guide to Fine-Tuning LLMs: When, Why, and How*."
)

# (step, label, what it does): in the order of the guide, the cost count last.
STEPS = [
    ("decide", "Decide", "Prompt engineering, RAG or fine-tuning? The guide's decision tree and break-even."),
    ("data", "Data", "Import, validate, edit, clean, deduplicate, split and export chat datasets."),
    (
        "train",
        "Train",
        "OpenAI (hosted), full, LoRA or QLoRA, as jobs that outlive the browser, after a pre-flight.",
    ),
    ("runs", "Runs", "Live curves, the guide's common failures diagnosed, stop, resume and export."),
    (
        "evaluate",
        "Evaluate",
        "ROUGE-L and friends on the held-out split: base, few-shot and tuned, side by side.",
    ),
    (
        "arena",
        "Arena",
        "Blind ranking sessions: raters vote between anonymous answers; ratings with intervals.",
    ),
    ("costs", "Costs", "Dollars, GPU memory and time for OpenAI, full, LoRA and QLoRA before you launch."),
]

st.subheader("The workflow")
cols = st.columns(3)
for i, (step, label, text) in enumerate(STEPS):
    with cols[i % 3].container(border=True):
        st.page_link(PAGE_OF[step], label=f"{i + 1}. {label}")
        st.write(text)

st.subheader("Your workspace")
info = workspace.summary()
c0, c1, c2, c3 = st.columns(4)
c0.metric("Datasets", info.tables.get("datasets", 0))
c1.metric("Models prepared", len(info.models))
c2.metric("Runs", info.runs)
c3.metric("Index size", f"{info.db_bytes / 1024:.0f} KB")
st.caption(f"Workspace folder: `{info.home}` (set `FT_HOME` to move it).")
if info.models:
    st.write("Prepared models: " + ", ".join(f"`{m}`" for m in info.models))
else:
    st.info(
        "No local model prepared yet. "
        "`python -m core.models prepare` converts the embedded SmolLM2-135M-Instruct once."
    )
