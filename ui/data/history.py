"""The Data page's History view: every version of a dataset, what changed between two, and restore.

History only grows: restoring an old version saves its content as the newest one, and the draft
of unsaved edits stays in the workspace until it is saved or discarded here.
Test: `.venv/bin/pytest tests/app/test_data_views.py -q`.
"""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from core.data import dedup, versions
from ui.data import state
from ui.data.dupes import clip, row_label

SHOWN = 20  # examples of each kind of change
DRAFT = 0  # stands for the unsaved draft among version ids
DONE = "data_hist_done"
PICKS = ("data_hist_old", "data_hist_new")


def version_table(history: list[versions.Version]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "version": f"v{v.number}",
                "examples": v.n_examples,
                "split": "yes" if v.splits else "no",
                "note": v.note,
                "created": v.created_at,
            }
            for v in history
        ]
    )


def conversation_text(example: dict, limit: int = 400) -> str:
    """One line per message, "role: content" (its tool calls as name(arguments), a weight-0 turn marked), each cut
    to `limit` characters."""
    messages = example.get("messages") if isinstance(example, dict) else None
    if not isinstance(messages, list):
        return clip(json.dumps(example, ensure_ascii=False), limit)
    lines = []
    for m in messages:
        if not isinstance(m, dict):
            lines.append(f"?: {clip(json.dumps(m, ensure_ascii=False), limit)}")
            continue
        role = f"{m.get('role', '?')}{' (not learned)' if m.get('weight') == 0 else ''}"
        lines.append(f"{role}: {clip(dedup.message_text(m), limit)}")
    return "\n".join(lines)


def _size_chart(history: list[versions.Version]) -> None:
    data = pd.DataFrame({"version": [v.number for v in history], "examples": [v.n_examples for v in history]})
    spec = {
        "mark": "bar",
        "height": 160,
        "encoding": {
            "x": {"field": "version", "type": "ordinal", "title": "version"},
            "y": {"field": "examples", "type": "quantitative"},
            "tooltip": [{"field": "version"}, {"field": "examples"}],
        },
    }
    st.vega_lite_chart(data, spec)  # a spec, not altair: the Data page never imports altair


def _label(history: list[versions.Version]):
    notes = {v.id: f"v{v.number} · {clip(v.note, 40)}" for v in history}
    return lambda vid: "unsaved draft" if vid == DRAFT else notes[vid]


def _defaults(history: list[versions.Version], work: state.Work) -> tuple[int, int]:
    """The draft against the version it started from; else the latest against its parent."""
    if work.dirty:
        return work.base.id, DRAFT
    latest = history[0]
    return latest.parent_id if latest.parent_id is not None else latest.id, latest.id


def _pick(history: list[versions.Version], work: state.Work) -> tuple[int, int]:
    options = ([DRAFT] if work.dirty else []) + [v.id for v in history]
    old, new = _defaults(history, work)
    left, right = st.columns(2)
    label = _label(history)
    old = left.selectbox("From", options, index=options.index(old), format_func=label, key=PICKS[0])
    new = right.selectbox("To", options, index=options.index(new), format_func=label, key=PICKS[1])
    return old, new


def _content(vid: int, history: list[versions.Version], work: state.Work) -> list[dict]:
    if vid == DRAFT:
        return work.examples
    return state.examples_of(next(v.sha256 for v in history if v.id == vid))


def _examples(title: str, rows: list[int], content: list[dict]) -> None:
    with st.expander(f"{title} ({len(rows)})", expanded=bool(rows) and len(rows) <= 3):
        for row in rows[:SHOWN]:
            st.caption(row_label(row))
            st.text(conversation_text(content[row]))
        if len(rows) > SHOWN:
            st.caption(f"Showing {SHOWN} of {len(rows)}.")


def _changed(rows: list[int], old: list[dict], new: list[dict]) -> None:
    with st.expander(f"Changed ({len(rows)})", expanded=bool(rows) and len(rows) <= 3):
        for row in rows[:SHOWN]:
            st.caption(row_label(row))
            before, after = st.columns(2)
            before.text("Before\n" + conversation_text(old[row]))
            after.text("After\n" + conversation_text(new[row]))
        if len(rows) > SHOWN:
            st.caption(f"Showing {SHOWN} of {len(rows)}.")


def _diff(history: list[versions.Version], work: state.Work) -> None:
    st.subheader("What changed")
    old_id, new_id = _pick(history, work)
    old, new = _content(old_id, history, work), _content(new_id, history, work)
    d = versions.diff(old, new)
    for col, kind in zip(st.columns(3), ("added", "removed", "changed"), strict=True):
        col.metric(kind.capitalize(), len(d[kind]))
    _examples("Added", d["added"], new)
    _examples("Removed", d["removed"], old)
    _changed(d["changed"], old, new)


def _restore(history: list[versions.Version], work: state.Work) -> None:
    st.subheader("Restore")
    older = history[1:]
    if not older:
        st.caption("There is only one version so far.")
        return
    pick = st.selectbox("Version", [v.id for v in older], format_func=_label(history), key="data_hist_pick")
    allowed = True
    if work.dirty:
        st.warning("Restoring makes the chosen version the newest and drops your unsaved edits.")
        allowed = st.checkbox("Drop my unsaved edits", key="data_hist_confirm")
    st.caption("Nothing is lost: the restored content becomes a new version; the versions after it stay.")
    if st.button("Restore this version", key="data_hist_restore", disabled=not allowed):
        old = versions.get(pick)
        new = versions.restore(old)
        state.forget()
        for key in PICKS:  # compare the new latest with its parent again
            st.session_state.pop(key, None)
        st.session_state[DONE] = f"Restored v{old.number} as v{new.number}."
        st.rerun()


def _draft(work: state.Work) -> None:
    st.warning(
        f"Unsaved edits: a draft based on v{work.base.number}, last changed {work.draft_at}. "
        "It is kept in the workspace until you save or discard it."
    )
    if st.button("Discard draft", key="data_hist_discard"):
        state.discard(work)
        for key in PICKS:  # the draft is no longer there to compare
            st.session_state.pop(key, None)
        st.session_state[DONE] = "Discarded the draft."
        st.rerun()


def render(work: state.Work) -> None:
    """The version table, a diff between two versions (or the draft), restore and the draft."""
    if done := st.session_state.pop(DONE, None):
        st.success(done)
    if work.dirty:
        _draft(work)
    history = versions.history(work.dataset.id)
    st.dataframe(version_table(history), hide_index=True)
    if len(history) > 1:
        _size_chart(history)
    _diff(history, work)
    _restore(history, work)
