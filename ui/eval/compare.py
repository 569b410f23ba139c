"""Base versus tuned on the Evaluate page: per-example answers and scores, wins, and the difference chart.

A is the baseline (by default the base model), B the candidate under test (by default the newest
run). The table lists the examples where B did worst first, which is where to read answers.
Test: `pytest tests/app/test_evaluate_page.py`.
"""

from __future__ import annotations

import streamlit as st

from core.data import versions
from core.eval import scores
from core.eval.scores import Scored
from ui.eval import charts
from ui.untrusted import inline

A, B = "eval_compare_a", "eval_compare_b"
COLUMNS = {
    "example": st.column_config.NumberColumn("#", help="Position in the test split (0-based)."),
    "prompt": st.column_config.TextColumn(help="The prompt's last user message, shortened."),
    "ROUGE-L A": st.column_config.NumberColumn(format="%.3f"),
    "ROUGE-L B": st.column_config.NumberColumn(format="%.3f"),
    "B - A": st.column_config.NumberColumn(format="%+.3f"),
}


def _defaults(scored: list[Scored]) -> tuple[str, str]:
    """A: the base model (else the first); B: the newest run that is not A (else the next one)."""
    names = [s.name for s in scored]
    base = next((s.name for s in scored if s.candidate.kind == "base"), names[0])
    runs = sorted(
        (s for s in scored if s.candidate.kind == "run" and s.name != base), key=lambda s: s.candidate.run_id or ""
    )
    return base, runs[-1].name if runs else next(n for n in names if n != base)


def _pick(scored: list[Scored]) -> tuple[Scored, Scored]:
    by_name = {s.name: s for s in scored}
    base, tuned = _defaults(scored)
    for key, default in ((A, base), (B, tuned)):
        if st.session_state.get(key) not in by_name:
            st.session_state[key] = default
    c = st.columns(2)
    a = c[0].selectbox("A: baseline", list(by_name), key=A)
    b = c[1].selectbox("B: the candidate under test (the tuned model)", list(by_name), key=B)
    return by_name[a], by_name[b]


def _tiles(frame, a: Scored, b: Scored) -> None:
    n = scores.counts(frame)
    c = st.columns(4)
    c[0].metric(
        "B wins", n["wins"], help=f"Examples where {inline(b.name)} scored higher ROUGE-L than {inline(a.name)}."
    )
    c[1].metric(
        "A wins", n["losses"], help=f"Examples where {inline(a.name)} scored higher ROUGE-L than {inline(b.name)}."
    )
    c[2].metric("Ties", n["ties"], help="Examples where both scored the same ROUGE-L.")
    c[3].metric("Mean ROUGE-L gain (B - A)", f"{scores.mean_gain(frame):+.3f}")


def render(scored: list[Scored], version: versions.Version) -> None:
    if len(scored) < 2:
        st.info("Generate answers for at least two candidates (say the base model and a run) to compare them.")
        return
    a, b = _pick(scored)
    if a.name == b.name:
        st.warning("A and B are the same candidate: choose two different ones.")
        return
    prompts, refs = scores.test_set(version)
    frame = scores.comparison(a, b, prompts, refs)
    st.caption(
        f"A = {inline(a.name)} · B = {inline(b.name)} · ROUGE-L per test example, the examples B did worst on first."
    )
    _tiles(frame, a, b)
    with st.container(key="eval_comparison"):
        st.dataframe(frame, hide_index=True, column_config=COLUMNS, width="stretch")
        st.altair_chart(charts.difference_chart(frame), width="stretch")
    csv = frame.assign(A=a.name, B=b.name).to_csv(index=False).encode("utf-8")  # the file names both sides
    st.download_button(
        "Download per-example CSV",
        csv,
        file_name=f"compare-{version.dataset}-v{version.number}.csv",
        mime="text/csv",
        key="eval_download_csv",
        on_click="ignore",
        icon=":material/download:",
    )
