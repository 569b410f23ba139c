"""Altair charts of a session's results: ratings with their 95% intervals, the win-rate matrix,
and votes per rater with each rater's left-side share.

Streamlit 1.67 sizes an Altair chart by st.altair_chart's own `height`, not the chart's, so each
chart comes with the height that fits its rows (height_for).

Test: `pytest tests/app/test_arena_page.py` (the page's charts carry these frames).
"""

from __future__ import annotations

import altair as alt
import pandas as pd


def height_for(rows: int, per_row: int = 40, axes: int = 80) -> int:
    """Pixels for a chart with one band per row plus its axis and title."""
    return axes + per_row * max(rows, 1)


def rating_chart(board: list[dict]) -> alt.LayerChart:
    """One row per candidate, best on top: the rating as a point, the interval as a bar through it."""
    df = pd.DataFrame(board, columns=["model", "rating", "ci_low", "ci_high", "votes"])
    order = df["model"].tolist()
    y = alt.Y("model:N", sort=order, title=None)
    tooltip = [
        "model:N",
        alt.Tooltip("rating:Q", format=".0f"),
        alt.Tooltip("ci_low:Q", format=".0f"),
        alt.Tooltip("ci_high:Q", format=".0f"),
        "votes:Q",
    ]
    bars = (
        alt.Chart(df)
        .mark_rule(strokeWidth=3)
        .encode(
            x=alt.X("ci_low:Q", title="rating (95% interval)", scale=alt.Scale(zero=False)),
            x2="ci_high:Q",
            y=y,
            tooltip=tooltip,
        )
    )
    points = alt.Chart(df).mark_point(filled=True, size=90).encode(x="rating:Q", y=y, tooltip=tooltip)
    return bars + points


def matrix_long(matrix: pd.DataFrame) -> pd.DataFrame:
    """The win matrix as (model, opponent, score) rows; pairs that never met are left out."""
    long = matrix.rename_axis(index="model", columns="opponent").stack().rename("score").reset_index()
    return long.dropna(subset=["score"])


def matrix_chart(matrix: pd.DataFrame) -> alt.LayerChart:
    """Row candidate's score against the column candidate (wins + half the ties), as a heatmap."""
    order = matrix.index.tolist()
    base = alt.Chart(matrix_long(matrix)).encode(
        x=alt.X("opponent:N", sort=order, title="against", axis=alt.Axis(labelAngle=0, labelLimit=200)),
        y=alt.Y("model:N", sort=order, title=None),
    )
    cells = base.mark_rect().encode(
        color=alt.Color("score:Q", scale=alt.Scale(domain=[0, 1], scheme="redblue"), title="win rate"),
        tooltip=["model:N", "opponent:N", alt.Tooltip("score:Q", format=".0%")],
    )
    labels = base.mark_text(fontSize=13).encode(text=alt.Text("score:Q", format=".0%"))
    return cells + labels


def raters_chart(raters: list[dict]) -> alt.LayerChart:
    """Votes per rater as bars, each labelled with the share of decisive votes that went left."""
    df = pd.DataFrame(raters, columns=["rater", "votes", "left_rate", "tie_rate"])
    df["left"] = [f"left {x:.0%}" if pd.notna(x) else "no decisive votes" for x in df["left_rate"]]
    tooltip = [
        "rater:N",
        "votes:Q",
        alt.Tooltip("left_rate:Q", format=".0%", title="left-side share"),
        alt.Tooltip("tie_rate:Q", format=".0%", title="tie share"),
    ]
    y = alt.Y("rater:N", sort="-x", title=None)
    bars = (
        alt.Chart(df)
        .mark_bar()
        .encode(x=alt.X("votes:Q", title="votes", axis=alt.Axis(tickMinStep=1, format="d")), y=y, tooltip=tooltip)
    )
    text = alt.Chart(df).mark_text(align="left", dx=4).encode(x="votes:Q", y=y, text="left:N")
    return bars + text
