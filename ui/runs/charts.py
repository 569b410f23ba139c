"""Altair charts of a run's metrics.jsonl: training and validation loss, and the learning rate,
gradient norm and tokens/s, all against the optimizer step; a DPO run adds its rewards and reward accuracy.

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
# DPO runs (core.train.dpo): the rewards of each side and their margin; how often chosen out-scores rejected.
REWARDS = {"rewards_chosen": "chosen", "rewards_rejected": "rejected", "rewards_margins": "margin"}
SPLITS = {"": "training", "eval_": "validation"}


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


def rewards_long(rows: list[dict], names: dict[str, str]) -> list[dict]:
    """One point per (step, series, split) of a DPO run's reward columns, training and validation."""
    return [
        {"step": r["step"], "value": r[prefix + name], "series": label, "split": split}
        for r in rows
        for prefix, split in SPLITS.items()
        for name, label in names.items()
        if finite(r.get(prefix + name)) and finite(r.get("step"))
    ]


def _split_lines(points: list[dict], title: str, fmt: str) -> alt.Chart:
    return (
        alt.Chart(pd.DataFrame(points))
        .mark_line(point=alt.OverlayMarkDef(size=20))
        .encode(
            x=alt.X("step:Q", title="optimizer step", axis=alt.Axis(tickMinStep=1, format="d")),
            y=alt.Y("value:Q", title=title),
            color=alt.Color("series:N", title=None),
            strokeDash=alt.StrokeDash("split:N", sort=list(SPLITS.values()), title=None),
            detail="split:N",
            tooltip=["step:Q", "series:N", "split:N", alt.Tooltip("value:Q", format=fmt)],
        )
        .properties(height=220)
    )


def rewards_chart(rows: list[dict]) -> alt.Chart | None:
    """DPO: the chosen and rejected rewards, beta x (log pi - log pi_ref), and their margin; None for other runs."""
    points = rewards_long(rows, REWARDS)
    return _split_lines(points, "reward", ".3f") if points else None


def reward_accuracy_chart(rows: list[dict]) -> alt.Chart | None:
    """DPO: the share of pairs whose chosen answer out-scores the rejected one; None for other runs."""
    points = rewards_long(rows, {"rewards_accuracies": "reward accuracy"})
    if not points:
        return None
    return _split_lines(points, "reward accuracy", ".2f").encode(
        y=alt.Y("value:Q", title="reward accuracy", scale=alt.Scale(domain=[0, 1]))
    )
