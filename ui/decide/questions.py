"""The Decide page's first half: the guide's questions as widgets, and the recommendation with its reasons.

A next step that core names (core.decide.NextStep.page) becomes a link to that page (ui.PAGE_OF).
Test: `pytest tests/app/test_decide_page.py`.
"""

from __future__ import annotations

import streamlit as st

from core import decide
from ui import PAGE_OF


def ask() -> decide.Answers:
    """The guide's questions, one widget each."""
    gap = st.radio(
        "Why does the model fail today?",
        list(decide.GAP_OPTIONS),
        format_func=decide.GAP_OPTIONS.get,
        key="decide_gap",
    )
    prompt = st.radio(
        "With a better prompt and 3-5 few-shot examples, how often does the base model get it right?",
        list(decide.PROMPT_OPTIONS),
        format_func=decide.PROMPT_OPTIONS.get,
        key="decide_prompt",
    )
    examples = st.number_input(
        "High-quality examples you have (or can curate)", min_value=0, value=0, step=10, key="decide_examples"
    )
    complex_task = st.checkbox("The task is complex (many cases, long or structured output)", key="decide_complex")
    changes = st.checkbox("The task changes often", key="decide_changes")
    measure = st.checkbox(
        "We can measure quality reliably (a held-out test set with a score, or blind review)",
        key="decide_measure",
    )
    return decide.Answers(gap, prompt, int(examples), complex_task, changes, measure)


def show_recommendation(rec: decide.Recommendation) -> None:
    st.subheader(f"Recommendation: {rec.approach}")
    st.markdown(f"**{rec.cost_line}**")
    st.markdown("**Why, in the guide's words**")
    for reason in rec.reasons:
        mark = "passed" if reason.passed else "decided"
        st.markdown(f"*{reason.check}* ({mark})\n\n> {reason.quote}")
    st.markdown("**Next steps**")
    for step in rec.next_steps:
        if step.page:
            st.page_link(PAGE_OF[step.page], label=step.text, icon=":material/arrow_forward:")
        else:
            st.markdown(f"- {step.text}")


def render() -> None:
    """The questions on the left, the recommendation they lead to on the right."""
    left, right = st.columns([1, 1], gap="large")
    with left:
        answers = ask()
    with right:
        show_recommendation(decide.recommend(answers))
