"""The Costs page's OpenAI tab: billed tokens and training dollars per model for an uploaded JSONL file.

Test: `pytest tests/app/test_costs_page.py`.
"""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from core import costs, prices
from core.jsonl import JsonlError
from core.money import usd
from ui.costs.prices import price_editor
from ui.untrusted import inline, long_text


def render() -> None:
    """The OpenAI tab: the upload, its billed tokens and dollars per model, and the price table."""
    results = st.container()
    with st.expander("OpenAI training prices (USD per 1M tokens), editable"):
        rows = price_editor("openai")
        g = prices.GUIDE_OPENAI
        st.caption(f"The guide's figures: ${g['training_per_1k']}/1K training tokens. {g['note']}")
    with results:
        upload = st.file_uploader("Training data (JSONL, chat)", type=["jsonl", "json"], key="costs_openai_file")
        epochs = st.number_input("Epochs (0 = cookbook default)", 0, 50, 0, key="costs_openai_epochs")
        if upload is None:
            st.info("Upload JSONL records of {'messages': [...]} to see billed tokens and dollars per model.")
            return
        try:
            est = costs.openai_costs(upload.getvalue(), int(epochs) or None, rows)
        except JsonlError as e:
            long_text(f"{inline(upload.name)}: {e}", draw=st.error)
            return
        st.session_state["costs_upload_tokens"] = est.tokens * est.epochs
        c = st.columns(4)
        cheapest = min(est.rows, key=lambda r: r["training_usd"])
        c[3].metric("Cheapest training", usd(cheapest["training_usd"]), help=cheapest["model"])
        c[0].metric("Examples", f"{est.examples:,}")
        c[1].metric("Tokens per epoch", f"{est.tokens:,}")
        c[2].metric("Epochs", est.epochs, help=est.epochs_rule)
        table = pd.DataFrame(est.rows)[
            ["model", "epochs", "billed_tokens", "usd_per_1m", "training_usd", "over_limit"]
        ]
        st.dataframe(
            table,
            hide_index=True,
            column_config={
                "training_usd": st.column_config.NumberColumn("training $", format="$%.4f"),
                "usd_per_1m": st.column_config.NumberColumn("$ / 1M tokens", format="$%.2f"),
                "over_limit": st.column_config.NumberColumn("examples over the limit (truncated)"),
            },
        )
        bars = (
            alt.Chart(table)
            .mark_bar()
            .encode(x=alt.X("training_usd:Q", title="training dollars"), y=alt.Y("model:N", sort="-x", title=None))
        )
        st.altair_chart(bars, width="stretch")
