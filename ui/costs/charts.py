"""The GPU memory chart: stacked bars of the estimate's terms per method, a dashed line per GPU size.

Drawn on the Costs page (Local GPU) and in the Train page's pre-flight.
Test: `pytest tests/app/test_costs_page.py tests/app/test_train_page.py`.
"""

from __future__ import annotations

from typing import Any

import altair as alt

from core import estimate


def terms_long(memory: dict[str, dict[str, float]]) -> list[dict[str, Any]]:
    """One row per (method, term) for a stacked bar chart."""
    return [
        {"method": m, "term": t, "order": i, "gb": round(terms[t], 3)}
        for m, terms in memory.items()
        for i, t in enumerate(estimate.TERMS)
    ]


def memory_chart(memory: dict[str, dict[str, float]], gpus: list[dict]):
    """Stacked bars of the terms per method, with a dashed line at each GPU size."""
    bars = (
        alt.Chart(alt.Data(values=terms_long(memory)))
        .mark_bar()
        .encode(
            x=alt.X("method:N", sort=list(estimate.METHODS), title=None, axis=alt.Axis(labelAngle=0)),
            y=alt.Y("sum(gb):Q", title="GPU memory (GB)"),
            color=alt.Color("term:N", sort=list(estimate.TERMS)),
            order=alt.Order("order:Q"),  # weights at the bottom, overhead on top
            tooltip=["method:N", "term:N", "gb:Q"],
        )
    )
    sizes = sorted({float(g["memory_gb"]) for g in gpus})
    names = [{"gb": gb, "label": " / ".join(g["gpu"] for g in gpus if float(g["memory_gb"]) == gb)} for gb in sizes]
    lines = alt.Chart(alt.Data(values=names)).mark_rule(strokeDash=[4, 4], color="gray").encode(y="gb:Q")
    labels = lines.mark_text(align="left", dx=4, dy=-6, color="gray").encode(text="label:N", x=alt.value(0))
    return (bars + lines + labels).properties(height=360)
