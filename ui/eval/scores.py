"""The Evaluate page's scores: a table (one row per cached candidate) and the ROUGE-L distributions.

ROUGE-L is the guide's scorer; the "Unicode-aware tokenizer" toggle swaps in one that keeps
every script (metrics.NOTE says why). Scores are cached per workspace, version, set of cached
answers and tokenizer, so a rerun does not score again. Test: `pytest tests/app/test_evaluate_page.py`.
Test: `pytest tests/app/test_evaluate_page.py`.
"""

from __future__ import annotations

import json

import streamlit as st

from core import paths
from core.data import versions
from core.eval import SPLIT, generate, metrics
from core.eval import scores as scoring
from core.eval.scores import Scored
from ui.eval import charts
from ui.untrusted import inline

UNICODE = "eval_unicode"
COLUMNS = {
    "ROUGE-L": st.column_config.NumberColumn(format="%.3f", help="Mean ROUGE-L F-measure (the guide's metric)."),
    "exact match": st.column_config.NumberColumn(
        format="%.3f", help="Share of answers equal to the reference (whitespace collapsed, case kept)."
    ),
    "length ratio": st.column_config.NumberColumn(format="%.2f", help="Mean words in the answer / in the reference."),
    "format adherence": st.column_config.NumberColumn(
        format="%.3f",
        help="Share of answers in the reference's format (JSON, code, bullets, numbered, table, paragraphs).",
    ),
    "JSON valid": st.column_config.NumberColumn(
        format="%.3f",
        help="Share of answers that parse as JSON, over "
        "the examples whose reference is JSON; None when no reference is.",
    ),
    "tokens/s": st.column_config.NumberColumn(format="%.1f", help="Generation speed of the cached run."),
}


@st.cache_data(show_spinner="Scoring the answers…", max_entries=32)
def _score(home: str, version_id: int, records: str, unicode: bool) -> list[Scored]:
    # `home` and `records` are part of the cache key only: new answers or another workspace score anew.
    return scoring.score_all(versions.get(version_id), unicode=unicode)


def scored(version: versions.Version, unicode: bool) -> list[Scored]:
    records = json.dumps(generate.cached_for(version, SPLIT), sort_keys=True, default=str)
    return _score(str(paths.home()), version.id, records, unicode)


def render(version: versions.Version) -> list[Scored]:
    """The scores of every candidate with cached answers; returns them for the comparison below."""
    unicode = st.toggle("Unicode-aware tokenizer", key=UNICODE, help=metrics.NOTE)
    found = scored(version, unicode)
    if not found:
        st.info("No answers yet for this version: generate them above, and their scores appear here.")
        return []
    n = found[0].summary["n"]
    with st.container(key="eval_scores"):
        st.dataframe(scoring.scores_table(found), hide_index=True, column_config=COLUMNS, width="stretch")
        st.altair_chart(charts.rouge_chart(found), width="stretch")
    tokenizer = "a Unicode-aware tokenizer" if unicode else "the guide's settings (rouge_score, Porter stemmer)"
    st.caption(
        f"On the {n} test examples of {inline(version.label)}; ROUGE-L with {tokenizer}. The standard scorer "
        "gives non-Latin text 0.0: see the toggle's help."
    )
    return found
