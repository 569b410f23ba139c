"""The Data page's Edit view: find examples, fix them one at a time or in bulk.

`render(work, report, quality)` draws filters, a paged editable table (one row per example, its
last user and assistant turns), a chat view of one example, and bulk actions on the filtered
rows. Every change goes through `ui.data.state.update`, so it is a draft the moment it is made.
Test: `.venv/bin/pytest tests/app/test_data_edit.py -q -s`.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
from functools import partial
from operator import ne

import pandas as pd
import streamlit as st

from core import chat
from core.data import edits, table
from core.data.table import TEXT_COLUMNS
from ui.data import state

PAGE_SIZE = 50
ROLES = ("system", "user", "assistant")
NEXT_ROLE = {"system": "user", "user": "assistant", "assistant": "user"}
BLANK = {"messages": [{"role": "user", "content": ""}, {"role": "assistant", "content": ""}]}
FOCUS, NOTICE, TOKEN = "data_edit_focus", "data_edit_notice", "data_edit_msg_token"
CHECK_FOCUS = "data_focus_row"  # 0-based row the Check view asks us to open
COLUMNS = ("row", *TEXT_COLUMNS, "turns", "issues")
COLUMN_CONFIG = {
    "assistant": st.column_config.TextColumn(help="The last assistant message", width="large"),
    "user": st.column_config.TextColumn(help="The last user message"),
    "turns": st.column_config.NumberColumn(help="How many messages the example has"),
}


@st.cache_resource(max_entries=4, show_spinner=False)
def _index(sha: str, _examples: list) -> tuple[list[str], list[int]]:
    """The search index, built once per content hash."""
    return table.search_index(_examples)


# ---------- changes: button callbacks, which run before the script and so may reset widgets ----------


def _commit(work, make, notice: str, focus: int | None = None) -> None:
    """Apply `make()` to the working copy; `notice` may name {changed}, the rows that differ."""
    new = make()
    if new == work.examples:
        st.session_state[NOTICE] = ("info", "Nothing changed.")
        return
    changed = sum(map(ne, work.examples, new)) + abs(len(new) - len(work.examples))
    state.update(work, new)
    st.session_state[NOTICE] = ("success", notice.format(changed=changed))
    st.session_state.pop(TOKEN, None)  # the chat view reloads from the saved example
    if focus is not None:
        st.session_state[FOCUS] = focus + 1


def _bubbles(work, row: int) -> list:
    """The focused example's messages as the chat view now shows them."""
    ss = st.session_state
    return [
        table.from_bubble(m, ss.get(f"data_edit_msg_role_{i}", ""), ss.get(f"data_edit_msg_text_{i}", ""))
        for i, m in enumerate(chat.raw_messages(work.examples[row]))
    ]


def _edited(work, row: int, op: str = "save", i: int = 0) -> list:
    """The examples with the focused one as its bubbles show it, plus a message added or deleted."""
    msgs = _bubbles(work, row)
    if op == "add":
        msgs.append({"role": NEXT_ROLE.get(table.role(msgs[-1]) if msgs else None, "user"), "content": ""})
    elif op == "delete":
        del msgs[i]
    return table.with_messages(work.examples, row, msgs)


def _bulk_delete(work, rows: list[int]) -> None:
    if not st.session_state.get("data_edit_bulk_confirm"):
        st.session_state[NOTICE] = ("warning", "Tick the confirmation box first.")
        return
    st.session_state["data_edit_bulk_confirm"] = False  # one tick, one deletion
    _commit(work, lambda: edits.delete_rows(work.examples, rows), "Deleted {changed} examples.")


def _bulk_text(work, rows: list[int], what: str) -> None:
    """Set the system prompt, or strip an opener from the answers, on the filtered rows."""
    text = st.session_state.get(f"data_edit_bulk_{what}", "")
    if what == "prefix" and not text.strip():
        st.session_state[NOTICE] = ("warning", "Type the opening words to remove first.")
        return
    fix = edits.set_system_prompt if what == "system" else edits.strip_prefix
    done = "Changed the system prompt of" if what == "system" else f'Removed "{text.strip()}" from'
    _commit(work, lambda: fix(work.examples, text, rows), done + f" {{changed}} of {len(rows)} examples.")


# ---------- widgets ----------


def render(work, report, quality) -> None:
    """The Edit view for `work`, with the Check view's findings in `report` and `quality`."""
    if note := st.session_state.pop(NOTICE, None):
        getattr(st, note[0])(note[1])
    if work.dirty:
        st.caption("Your edits are kept as a draft (a refresh loses nothing) until you press **Save as version**.")
    issues = table.issues_by_row([*report.errors, *report.warnings, *quality.flags])
    rows = _filters(work, issues)
    _bulk(work, rows)
    _table(work, rows, issues)
    _chat(work)


def _filters(work, issues: dict) -> list[int]:
    index = _index(work.sha, work.examples)
    kinds = sorted({k for ks in issues.values() for k in ks})
    left, right = st.columns(2)
    query = left.text_input("Search", key="data_edit_search", placeholder="words in any message")
    chosen = right.multiselect("Issue kind", kinds, key="data_edit_kinds", format_func=table.plain, placeholder="any")
    left, right = st.columns([3, 1])
    top = max(10, math.ceil(max(index[1], default=0) / 10) * 10)  # rounded, so one edit rarely moves it
    lo, hi = st.session_state.get("data_edit_words") or (0, top)
    st.session_state["data_edit_words"] = (min(lo, top), min(hi, top))  # a range kept from longer data
    words = left.slider("Answer length (words, all assistant turns)", 0, top, key="data_edit_words")
    only = right.checkbox("Only rows with issues", key="data_edit_only_issues")
    rows = table.matching_rows(index, issues, query, chosen, words, only)
    st.markdown(f"**{len(rows):,} of {len(work.examples):,} examples match**")
    return rows


def _bulk(work, rows: list[int]) -> None:
    n, off = len(rows), not rows
    with st.expander(f"Bulk actions on the {n:,} filtered rows", key="data_edit_bulk"):
        st.checkbox(f"Yes, delete these {n:,} examples", key="data_edit_bulk_confirm", disabled=off)
        kw = {"disabled": off, "args": (work, rows)}
        st.button("Delete the filtered rows", key="data_edit_bulk_delete", on_click=_bulk_delete, **kw)
        st.text_area("System prompt (leave empty to remove it)", key="data_edit_bulk_system")
        kw["args"] = (work, rows, "system")
        apply = "Set this system prompt on the filtered rows"
        st.button(apply, key="data_edit_bulk_system_apply", on_click=_bulk_text, **kw)
        st.text_input("Opening words to remove from answers", "Here is the answer:", key="data_edit_bulk_prefix")
        kw["args"] = (work, rows, "prefix")
        st.button(
            "Remove them from the filtered rows' answers",
            key="data_edit_bulk_strip",
            on_click=_bulk_text,
            **kw,
        )


def table_frame(examples: list, rows: list[int], issues: dict, tag: str) -> pd.DataFrame:
    """One row per example; the index carries the content hash, so after any change the editor is
    a new widget and edits already applied are never replayed onto changed rows."""
    records = [
        {"row": i + 1, **table.cells(examples[i]), "issues": ", ".join(map(table.plain, issues.get(i, [])))}
        for i in rows
    ]
    return pd.DataFrame(records, columns=list(COLUMNS), index=[f"{tag}:{i}" for i in rows])


def _table(work, rows: list[int], issues: dict) -> None:
    if not rows:
        st.info("No example matches these filters.")
        return
    pages = math.ceil(len(rows) / PAGE_SIZE)
    if st.session_state.get("data_edit_page", 1) > pages:
        st.session_state["data_edit_page"] = pages
    page = int(st.number_input(f"Page (of {pages:,}, {PAGE_SIZE} rows each)", 1, pages, key="data_edit_page"))
    shown = rows[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    before = table_frame(work.examples, shown, issues, work.sha[:12])
    st.caption(
        "For a conversation with several turns, the table shows and edits its **last** user and assistant "
        "messages; open it in the chat view below to edit the others."
    )
    key = f"data_edit_table_{page}"
    fixed = ["row", "turns", "issues"]
    after = st.data_editor(before, key=key, hide_index=True, disabled=fixed, column_config=COLUMN_CONFIG)
    changes = table.table_changes(before, after, shown)
    if changes:
        new = table.apply_table_edits(work.examples, changes)
        st.session_state.pop(key, None)
        if new != work.examples:
            state.update(work, new)
            n = len({row for row, _, _ in changes})
            st.session_state[NOTICE] = ("success", f"Saved your table edits to {n} example(s).")
            st.rerun()


def _focus_input(n: int) -> int:
    asked = st.session_state.pop(CHECK_FOCUS, None)
    if asked is not None and 0 <= int(asked) < n:
        st.session_state[FOCUS] = int(asked) + 1
    elif not 1 <= st.session_state.get(FOCUS, 1) <= n:
        st.session_state[FOCUS] = n
    return int(st.number_input("Example", 1, n, key=FOCUS, help="The number in the table's row column")) - 1


def _seed(work, row: int, msgs: list) -> None:
    """Load the example into the bubbles when the focus or the example's content changed."""
    digest = hashlib.sha1(json.dumps(work.examples[row], sort_keys=True).encode()).hexdigest()
    token = f"{work.dataset.id}:{row}:{digest}"
    have = all(f"data_edit_msg_text_{i}" in st.session_state for i in range(len(msgs)))
    if st.session_state.get(TOKEN) == token and have:
        return
    st.session_state[TOKEN] = token
    for i, m in enumerate(msgs):
        st.session_state[f"data_edit_msg_role_{i}"], st.session_state[f"data_edit_msg_text_{i}"] = table.bubble_value(
            m
        )


def _bubble(work, row: int, i: int) -> None:
    role = st.session_state[f"data_edit_msg_role_{i}"]
    options = [*ROLES, *([role] if role not in ROLES else [])]  # keep an unusual role choosable
    with st.chat_message(role or "message"):
        left, right = st.columns([4, 1])
        show = {"format_func": lambda r: r or "(no role)", "label_visibility": "collapsed"}
        left.selectbox(f"Role of message {i + 1}", options, key=f"data_edit_msg_role_{i}", **show)
        gone = (
            work,
            partial(_edited, work, row, "delete", i),
            f"Deleted message {i + 1} of example {row + 1}.",
        )
        right.button("Delete message", key=f"data_edit_msg_del_{i}", on_click=_commit, args=gone)
        st.text_area(f"Message {i + 1}", key=f"data_edit_msg_text_{i}", label_visibility="collapsed")


def _chat(work) -> None:
    st.subheader("One example")
    n = len(work.examples)
    add = (work, lambda: [*work.examples, copy.deepcopy(BLANK)], f"Added example {n + 1} at the end.", n)
    if not n:
        st.info("This dataset has no examples yet.")
        st.button("Add a new empty example", key="data_edit_row_add", on_click=_commit, args=add)
        return
    row = _focus_input(n)
    msgs = chat.raw_messages(work.examples[row])
    _seed(work, row, msgs)
    if not msgs:
        st.warning(f"Example {row + 1} has no messages; add one to start the conversation.")
    for i in range(len(msgs)):
        _bubble(work, row, i)
    st.caption("Adding or deleting a message also keeps your unsaved edits to the others.")
    left, right = st.columns(2)
    grow = (work, partial(_edited, work, row, "add"), f"Added a message to example {row + 1}.")
    left.button("Add message", key="data_edit_msg_add", on_click=_commit, args=grow)
    save = (work, partial(_edited, work, row), f"Saved example {row + 1}.")
    right.button("Save changes to this example", key="data_edit_msg_save", type="primary", on_click=_commit, args=save)
    dup = (
        work,
        partial(edits.duplicate_row, work.examples, row),
        f"Copied example {row + 1} to {row + 2}.",
        row + 1,
    )
    drop = (
        work,
        partial(edits.delete_rows, work.examples, [row]),
        f"Deleted example {row + 1}.",
        max(0, min(row, n - 2)),
    )
    cols = st.columns(3)
    cols[0].button("Duplicate this example", key="data_edit_row_duplicate", on_click=_commit, args=dup)
    cols[1].button("Delete this example", key="data_edit_row_delete", on_click=_commit, args=drop)
    cols[2].button("Add a new empty example", key="data_edit_row_add", on_click=_commit, args=add)
