"""Altair charts of a run's metrics.jsonl: training and validation loss, and the learning rate,
gradient norm and tokens/s, all against the optimizer step.

The chart and the tests read the same rows. A resumed run draws its parent's curve up to the
resume step, dashed. Non-finite values (a NaN loss) are left out here; the diagnosis names them.
Test: `pytest tests/app/test_runs_page.py`.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from core.train.summary import finite

LOSSES = {"loss": "training loss", "eval_loss": "validation loss"}
SCALARS = {"lr": "learning rate", "grad_norm": "gradient norm", "tokens_per_s": "tokens/s"}
# Hosted runs (OpenAI) report token accuracy per checkpoint.
ACCURACY = {"train_mean_token_accuracy": "training", "valid_mean_token_accuracy": "validation"}


def loss_long(rows: list[dict], parent: list[dict] | None = None) -> list[dict]:
    """One point per (step, series): training and validation loss, this run and its parent."""
    out = []
    for part, source in (("before resume", parent or []), ("this run", rows)):
        for r in source:
            for name, label in LOSSES.items():
                if finite(r.get(name)) and finite(r.get("step")):
                    out.append({"step": r["step"], "loss": r[name], "series": label, "part": part})
    return out


def loss_chart(rows: list[dict], parent: list[dict] | None = None) -> alt.Chart:
    df = pd.DataFrame(loss_long(rows, parent), columns=["step", "loss", "series", "part"])
    dash_legend = alt.Legend(title=None) if parent else None  # only a resumed run has two parts
    return (
        alt.Chart(df)
        .mark_line(point=alt.OverlayMarkDef(size=30))
        .encode(
            x=alt.X("step:Q", title="optimizer step", axis=alt.Axis(tickMinStep=1, format="d")),
            y=alt.Y("loss:Q", title="loss", scale=alt.Scale(zero=False)),
            color=alt.Color("series:N", sort=list(LOSSES.values()), title=None),
            strokeDash=alt.StrokeDash("part:N", sort=["this run", "before resume"], legend=dash_legend),
            detail="part:N",
            tooltip=["step:Q", "series:N", alt.Tooltip("loss:Q", format=".4f"), "part:N"],
        )
        .properties(height=300)
    )


def scalars_long(rows: list[dict]) -> list[dict]:
    return [
        {"step": r["step"], "value": r[name], "metric": label}
        for r in rows
        for name, label in SCALARS.items()
        if finite(r.get(name)) and finite(r.get("step"))
    ]


def scalars_chart(rows: list[dict]) -> alt.FacetChart:
    """Learning rate, gradient norm and tokens/s side by side, each on its own scale."""
    df = pd.DataFrame(scalars_long(rows), columns=["step", "value", "metric"])
    return (
        alt.Chart(df)
        .mark_line()
        .encode(
            x=alt.X("step:Q", title="step", axis=alt.Axis(tickMinStep=1, format="d")),
            y=alt.Y("value:Q", title=None, axis=alt.Axis(format=".3~g")),
            tooltip=["step:Q", alt.Tooltip("value:Q", format=".4~g")],
        )
        .properties(width=260, height=140)
        .facet(column=alt.Column("metric:N", sort=list(SCALARS.values()), title=None))
        .resolve_scale(y="independent")
    )


def accuracy_chart(rows: list[dict]) -> alt.Chart | None:
    """Training and validation mean token accuracy per checkpoint; None when the service reports none."""
    points = [
        {"step": r["step"], "accuracy": r[name], "series": label}
        for r in rows
        for name, label in ACCURACY.items()
        if finite(r.get(name)) and finite(r.get("step"))
    ]
    if not points:
        return None
    return (
        alt.Chart(pd.DataFrame(points))
        .mark_line(point=True)
        .encode(
            x=alt.X("step:Q", title="step", axis=alt.Axis(tickMinStep=1, format="d")),
            y=alt.Y("accuracy:Q", title="mean token accuracy", scale=alt.Scale(zero=False)),
            color=alt.Color("series:N", title=None),
            tooltip=["step:Q", "series:N", alt.Tooltip("accuracy:Q", format=".3f")],
        )
        .properties(height=200)
    )
