"""The Evaluate page's Altair charts: per-example ROUGE-L per candidate, and B minus A per example.

Plain functions of the frames in core.eval.scores (no widgets).
Test: `pytest tests/app/test_evaluate_page.py`.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from core.eval.scores import Scored, rouge_long

WINNER_COLOURS = {"A": "#d62728", "B": "#2ca02c", "tie": "#999999"}


def rouge_chart(scored: list[Scored]) -> alt.Chart:
    """Per-example ROUGE-L per candidate: a box plot (min-max whiskers) over each candidate's examples."""
    return (
        alt.Chart(rouge_long(scored))
        .mark_boxplot(extent="min-max", size=24)
        .encode(
            x=alt.X("ROUGE-L:Q", scale=alt.Scale(domain=[0, 1])),
            y=alt.Y("candidate:N", title=None, sort=None),
            color=alt.Color("candidate:N", legend=None),
        )
        .properties(title="ROUGE-L per test example", height=alt.Step(40))
    )


def difference_chart(frame: pd.DataFrame) -> alt.Chart:
    """ROUGE-L of B minus A per example, in example order; colour says who won."""
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("example:O", title="test example"),
            y=alt.Y("B - A:Q", title="ROUGE-L, B minus A"),
            color=alt.Color(
                "winner:N", scale=alt.Scale(domain=list(WINNER_COLOURS), range=list(WINNER_COLOURS.values()))
            ),
            tooltip=["example", "prompt", "ROUGE-L A", "ROUGE-L B"],
        )
        .properties(title="Per-example difference (above zero: B did better)")
    )
