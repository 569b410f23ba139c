"""The Check view: format findings, the guide's quality checklist, and the embedding analysis job.

Charts are Vega-Lite specs given to st.vega_lite_chart: importing altair cost the page's first render about a
third of a second in a fresh interpreter.

Test: `pytest tests/app/test_data_views.py`.
"""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from core.data import analyze, preference, quality, validate, versions
from ui.data import progress, state
from ui.untrusted import block, inline, long_text

ICONS = {"ok": ":material/check_circle:", "warn": ":material/warning:", "fail": ":material/error:"}
TITLES = {
    "consistency": "Consistency",
    "completeness": "Completeness",
    "diversity": "Diversity",
    "length": "Length calibration",
    "count": "Count",
}


# cache_resource: reports are never mutated, and copying 10k findings on every rerun costs more
# than computing the view. The key is the content hash; `_examples` (unhashed, Streamlit skips a
# leading underscore) are the examples the page already holds, so a first render reads the blob once.
@st.cache_resource(max_entries=4, show_spinner="Checking the format and counting tokens...")
def validation(sha: str, model: str, _examples: list[dict], kind: str = "chat") -> validate.Report:
    if kind == "preference":
        return preference.validate(_examples, model=model)
    return validate.validate(_examples, model=model)


@st.cache_resource(max_entries=4, show_spinner="Running the quality checklist...")
def checklist(sha: str, analysis_run: str | None, _examples: list[dict], kind: str = "chat") -> quality.QualityReport:
    vectors = None
    if analysis_run:
        vectors = analyze.user_vectors(analysis_run)
    # A preference set's checklist reads what SFT on it would learn: each prompt with its chosen answer.
    examples = preference.to_chat(_examples) if kind == "preference" else _examples
    return quality.run_checks(examples, vectors)


def _open_row(row: int) -> None:
    st.session_state["data_view"] = "Edit"
    st.session_state["data_focus_row"] = row


def _import_notes(dataset: versions.Dataset) -> None:
    try:
        source = json.loads(dataset.source) if dataset.source else {}
    except ValueError:
        return
    left = source.get("left_out") or []
    if left:
        lines = "; ".join(f"line {x['line']}: {x['message']}" for x in left[:5])
        long_text(
            f"At import, {len(left)} record(s) of {inline(source.get('file'))} could not be read and "
            f"were left out ({lines}). Fix them in the source file and import again if you need them.",
            draw=st.warning,
        )


def _findings_table(findings, prefix: str) -> None:
    kinds = sorted({f.kind for f in findings})
    chosen = st.selectbox("Show", ["every kind", *kinds], key=f"{prefix}_kind")
    shown = [f for f in findings if chosen == "every kind" or f.kind == chosen]
    rows = [
        {
            "example": (f.row + 1) if f.row is not None else None,
            "severity": f.severity,
            "kind": f.kind,
            "problem": f.message,
            "fix": f.hint,
        }
        for f in shown[:1000]
    ]
    st.dataframe(pd.DataFrame(rows), hide_index=True, key=f"{prefix}_table")
    targets = sorted({f.row for f in shown if f.row is not None})
    if targets:
        c1, c2 = st.columns([1, 3], vertical_alignment="bottom")
        row = c1.selectbox("Example", targets, format_func=lambda r: f"#{r + 1}", key=f"{prefix}_jump")
        c2.button("Open it in the editor", key=f"{prefix}_open", on_click=_open_row, args=(row,))


def _counts_line(report: validate.Report) -> str:
    def part(findings) -> str:
        counts: dict[str, int] = {}
        for f in findings:
            counts[f.kind] = counts.get(f.kind, 0) + 1
        return ", ".join(f"{k.replace('_', ' ')} ×{n}" for k, n in sorted(counts.items(), key=lambda kv: -kv[1]))

    return f"**Errors:** {part(report.errors) or 'none'}. **Warnings:** {part(report.warnings) or 'none'}."


def _format(report: validate.Report, kind: str = "chat") -> None:
    st.subheader("Format")
    if kind == "preference":
        st.caption(
            "A preference dataset: each example is a prompt with a preferred and a non-preferred answer (OpenAI's "
            "DPO format). Each side is also checked as a chat example (prompt + that answer)."
        )
    c = st.columns(4)
    c[0].metric("Pairs" if kind == "preference" else "Examples", report.examples)
    c[1].metric("Errors", len(report.errors))
    c[2].metric("Warnings", len(report.warnings))
    c[3].metric("Avg assistant words", report.stats.get("avg_assistant_words") or 0)
    tool = report.stats.get("tool_tokens") or {}
    if tool.get("definitions") or tool.get("calls"):  # the data has tools: say what they cost and how it is counted
        st.caption(f"Tool tokens: {tool['definitions']:,} in definitions, {tool['calls']:,} in calls. {tool['how']}.")
    if report.counts_by_kind:
        sev = {f.kind: f.severity for f in report.errors + report.warnings}
        df = pd.DataFrame(
            [{"kind": k, "count": n, "severity": sev.get(k, "warning")} for k, n in report.counts_by_kind.items()]
        )
        spec = {
            "mark": "bar",
            "encoding": {
                "x": {"field": "count", "type": "quantitative", "title": "findings"},
                "y": {"field": "kind", "type": "nominal", "sort": "-x", "title": None},
                "color": {
                    "field": "severity",
                    "type": "nominal",
                    "scale": {"domain": ["error", "warning"], "range": ["#d62728", "#ff9f1c"]},
                },
                "tooltip": [{"field": f} for f in ("kind", "count", "severity")],
            },
        }
        st.vega_lite_chart(df, spec, key="data_check_kinds_chart")
        st.caption(_counts_line(report))
        _findings_table(report.errors + report.warnings, "data_check_fmt")
    elif kind == "preference":
        st.success("No format problems: every pair has a prompt and two different one-message assistant answers.")
    else:
        st.success("No format problems: every example is a well-formed conversation ending with the assistant.")
    with st.expander("Statistics (as OpenAI's data-prep notebook gives them)"):
        st.json(report.stats, expanded=1)


def _length_chart(check: quality.CheckResult) -> None:
    hist = pd.DataFrame(check.data.get("histogram", []))
    if hist.empty:
        return
    spec = {
        "mark": "bar",
        "encoding": {
            "x": {
                "field": "start",
                "type": "quantitative",
                "bin": "binned",
                "title": "assistant answer length (words)",
            },
            "x2": {"field": "end"},
            "y": {"field": "count", "type": "quantitative", "title": "examples"},
            "tooltip": [{"field": f} for f in ("start", "end", "count")],
        },
    }
    st.vega_lite_chart(hist, spec, key="data_check_length_chart")


def _checklist(report: quality.QualityReport) -> None:
    st.subheader("The guide's quality checklist")
    for check in report.checks:
        flagged = len({f.row for f in check.flags if f.row is not None})
        with st.expander(
            f"{ICONS[check.verdict]} **{TITLES.get(check.name, check.name)}**: {block(check.message)}",
            expanded=check.verdict != "ok",
        ):
            if check.name == "length":
                _length_chart(check)
            if check.name == "diversity" and check.data.get("clusters"):
                st.dataframe(pd.DataFrame(check.data["clusters"]), hide_index=True, key="data_check_topics")
                st.caption(f"Topics found with {check.data.get('method')}.")
            if check.flags:
                st.caption(f"{flagged} example(s) flagged.")
                _findings_table(check.flags, f"data_check_{check.name}")


def _analysis_panel(work: state.Work, analysis: dict | None) -> None:
    st.subheader("Near-duplicates and topics (embeddings)")
    run = analyze.active_for(work.sha)
    if run is not None:
        progress.bar(run.id, "The analysis")
        return
    if analysis is None:
        st.caption(
            "Embeds every example with all-MiniLM-L6-v2 (shipped with the app, no download) in a "
            "background job; vectors are cached, so after an edit only changed examples are embedded."
        )
        threshold = st.slider("Near-duplicate threshold (cosine)", 0.80, 0.99, 0.95, 0.01, key="data_check_thr")
        if st.button("Find near-duplicates and topics", key="data_check_analyze", type="primary"):
            analyze.launch_for(work.sha, len(work.examples), work.dataset.name, threshold)
            st.rerun()
        return
    st.success(
        f"{len(analysis['near'])} near-duplicate cluster(s) at cosine >= {analysis['threshold']}, "
        f"{len(analysis['exact'])} exact duplicate cluster(s). Resolve them in the Duplicates view."
    )


def render(
    work: state.Work, report: validate.Report, quality_report: quality.QualityReport, analysis: dict | None
) -> None:
    _import_notes(work.dataset)
    _format(report, work.base.kind)
    _checklist(quality_report)
    _analysis_panel(work, analysis)
