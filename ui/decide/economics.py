"""The Decide page's second half: the break-even inputs, its metrics and cumulative-cost chart, the worked example.

Test: `pytest tests/app/test_decide_page.py`.
"""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from core import decide, prices


def inputs(models: list[str]) -> decide.Economics:
    d = decide.Economics()
    c1, c2, c3 = st.columns(3)
    with c1:
        model = st.selectbox("OpenAI model", models, key="decide_model")
        calls = st.number_input("Calls per month", min_value=0, value=d.calls_per_month, step=1000, key="decide_calls")
    with c2:
        removed = st.number_input(
            "Prompt tokens fine-tuning removes (system prompt + few-shot)",
            min_value=0,
            value=d.removed_tokens,
            step=50,
            key="decide_removed",
        )
        remaining = st.number_input(
            "Input tokens still sent per call",
            min_value=0,
            value=d.remaining_input_tokens,
            step=50,
            key="decide_remaining",
        )
        output = st.number_input(
            "Output tokens per call", min_value=0, value=d.output_tokens, step=50, key="decide_output"
        )
    with c3:
        examples = st.number_input(
            "Training examples", min_value=0, value=d.examples, step=50, key="decide_train_examples"
        )
        per_example = st.number_input(
            "Average tokens per example",
            min_value=1,
            value=d.tokens_per_example,
            step=50,
            key="decide_tokens_per_example",
        )
        epochs = st.number_input("Epochs", min_value=1, max_value=50, value=d.epochs, key="decide_epochs")
    return decide.Economics(
        int(calls),
        int(removed),
        int(remaining),
        int(output),
        model,
        int(examples),
        int(per_example),
        int(epochs),
    )


def cost_chart(be: decide.BreakEven, econ: decide.Economics) -> alt.LayerChart:
    data = pd.DataFrame(decide.cumulative_costs(be, decide.chart_calls(be, econ)))
    lines = (
        alt.Chart(data)
        .mark_line()
        .encode(
            x=alt.X("calls:Q", title="API calls"),
            y=alt.Y("usd:Q", title="Cumulative cost (USD)"),
            color=alt.Color("option:N", title=None, legend=alt.Legend(orient="bottom")),
            tooltip=["option", alt.Tooltip("calls:Q", format=","), alt.Tooltip("usd:Q", format="$,.4f")],
        )
    )
    if not be.pays_back:
        return alt.layer(lines)
    n = be.break_even_calls
    cross = pd.DataFrame(
        [{"calls": n, "usd": be.training_usd + n * be.after_per_call, "label": f"break-even: {n:,} calls"}]
    )
    rule = alt.Chart(cross).mark_rule(strokeDash=[4, 4], color="gray").encode(x="calls:Q")
    point = alt.Chart(cross).mark_point(filled=True, size=80, color="black").encode(x="calls:Q", y="usd:Q")
    label = point.mark_text(align="left", dx=8, dy=-8).encode(text="label:N")
    return alt.layer(lines, rule, point, label)


def show_break_even(be: decide.BreakEven, econ: decide.Economics, row: dict) -> None:
    m = st.columns(4)
    m[0].metric("Training cost", decide.usd(be.training_usd), help=f"{be.training_tokens:,} billed tokens")
    m[1].metric("Per call before", decide.usd(be.before_per_call), help="Base model, long prompt")
    m[2].metric("Per call after", decide.usd(be.after_per_call), help="Fine-tuned model, short prompt")
    m[3].metric("Saving per call", decide.usd(be.saving_per_call))
    if be.pays_back:
        months = (
            f", about {be.break_even_months:,.{1 if be.break_even_months >= 1 else 2}f} months "
            f"at {econ.calls_per_month:,} calls a month"
            if be.break_even_months
            else ""
        )
        st.success(f"Break-even after {be.break_even_calls:,} calls{months}.")
    else:
        need = be.min_removed_tokens_to_pay_back
        floor = f"removing at least {need:,} prompt tokens per call" if need is not None else "no prompt length"
        st.warning(
            f"Never pays back: a fine-tuned call costs {decide.usd(be.after_per_call)}, no less than the base call's "
            f"{decide.usd(be.before_per_call)}. Fine-tuned tokens cost more than base ones, so removing "
            f"{econ.removed_tokens:,} tokens is not enough; it pays back only with {floor}."
        )
    st.altair_chart(cost_chart(be, econ), key="decide_chart")
    st.caption(f"Prices for {row['model']}: as of {row.get('as_of', '?')}, {row.get('source', '?')}.")


def show_worked_example() -> None:
    st.subheader("The guide's worked example, recomputed")
    try:
        w = decide.guide_worked_example()
    except (KeyError, ValueError) as err:
        st.info(f"Cannot recompute the guide's example: {err}")
        return
    st.dataframe(pd.DataFrame(w.comparison), hide_index=True, key="decide_worked_table")
    for line in w.explanation:
        st.markdown(f"- {line}")


def render() -> None:
    """The inputs, their problems, the break-even (or why it cannot be computed), then the worked example."""
    rows = {r["model"]: r for r in prices.table("openai")}
    economics = inputs(list(rows))
    for problem in decide.validate(economics, rows[economics.model]):
        st.warning(problem)
    try:
        result = decide.break_even(economics, rows[economics.model])
    except ValueError as err:
        st.error(f"Cannot compute the break-even: {err}. Check the OpenAI price table.")
    else:
        show_break_even(result, economics, rows[economics.model])
    show_worked_example()
