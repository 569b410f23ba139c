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
from core.data import edits
from ui.data import state

PAGE_SIZE = 50
ROLES = ("system", "user", "assistant")
TEXT_COLUMNS = ("system", "user", "assistant")
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


# ---------- pure helpers ----------


def _text(content) -> str:
    """Content as editable text; non-strings show as JSON so nothing is hidden from the curator."""
    if content is None:
        return ""
    return content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)


def _role(message) -> str | None:
    return message.get("role") if isinstance(message, dict) else None


def _slot(msgs: list, column: str) -> int | None:
    """Where a table column lives: the leading system message, or the last user/assistant one."""
    if column == "system":
        return 0 if msgs and _role(msgs[0]) == "system" else None
    return next((i for i in range(len(msgs) - 1, -1, -1) if _role(msgs[i]) == column), None)


def cells(example) -> dict:
    """The table's text columns and turn count for one example."""
    msgs = chat.raw_messages(example)
    out = {c: "" if (i := _slot(msgs, c)) is None else _text(msgs[i].get("content")) for c in TEXT_COLUMNS}
    return {**out, "turns": len(msgs)}


def set_cell(example, column: str, text: str) -> dict:
    """The example with one table cell written back to its message, added or removed as needed."""
    ex = copy.deepcopy(example) if isinstance(example, dict) else {}
    msgs = ex["messages"] = chat.raw_messages(ex)
    i = _slot(msgs, column)
    if i is not None and column == "system" and not text.strip():
        del msgs[i]  # an emptied system cell drops the message, as edits.set_system_prompt does
    elif i is not None:
        msgs[i]["content"] = text
    elif column == "system":
        msgs.insert(0, {"role": "system", "content": text})
    else:  # a missing user turn goes before the answer; a missing answer goes last
        last = _slot(msgs, "assistant") if column == "user" else None
        msgs.insert(len(msgs) if last is None else last, {"role": column, "content": text})
    return ex


def table_changes(before: pd.DataFrame, after: pd.DataFrame, rows: list[int]) -> list[tuple[int, str, str]]:
    """(example index, column, new text) for each text cell the editor changed."""
    changes = []
    for pos, row in enumerate(rows):
        for column in TEXT_COLUMNS:
            new = after[column].iloc[pos]
            new = "" if pd.isna(new) else str(new)
            if new != before[column].iloc[pos]:
                changes.append((row, column, new))
    return changes


def apply_table_edits(examples: list, changes) -> list:
    out = list(examples)
    for row, column, text in changes:
        out[row] = set_cell(out[row], column, text)
    return out


def issues_by_row(findings) -> dict[int, list[str]]:
    """Distinct finding kinds per 0-based row, in the order found."""
    out: dict[int, list[str]] = {}
    for f in findings:
        if f.row is not None and f.kind not in (kinds := out.setdefault(f.row, [])):
            kinds.append(f.kind)
    return out


def _plain(kind: str) -> str:
    return kind.replace("_", " ")


@st.cache_resource(max_entries=4, show_spinner=False)
def _index(sha: str, _examples: list) -> tuple[list[str], list[int]]:
    """Lowercased text of all messages and words in the assistant turns, once per content hash."""
    texts, words = [], []
    for ex in _examples:
        msgs = chat.messages(ex)
        texts.append("\n".join(_text(m.get("content")) for m in msgs).lower())
        words.append(sum(len(_text(m.get("content")).split()) for m in msgs if m.get("role") == "assistant"))
    return texts, words


def matching_rows(index, issues: dict, query="", kinds=(), words=None, only_issues=False) -> list[int]:
    """Rows whose text holds `query` (any case), with any of `kinds`, answer words within `words`."""
    (texts, counts), query, wanted = index, query.strip().lower(), set(kinds)
    lo, hi = words or (0, math.inf)
    return [
        i
        for i, text in enumerate(texts)
        if (not query or query in text)
        and (not only_issues or i in issues)
        and (not wanted or not wanted.isdisjoint(issues.get(i, ())))
        and lo <= counts[i] <= hi
    ]


def _bubble_value(message) -> tuple[str, str]:
    if not isinstance(message, dict):
        return "", json.dumps(message, ensure_ascii=False)
    return str(message.get("role") or ""), _text(message.get("content"))


def _from_bubble(original, role: str, text: str):
    """The message as edited; untouched messages keep their exact original form and extra keys."""
    if (role, text) == _bubble_value(original):
        return original
    new = {**(original if isinstance(original, dict) else {}), "content": text}
    return {**new, "role": role} if role else new


def _with_messages(examples: list, row: int, msgs: list) -> list:
    ex = {**(examples[row] if isinstance(examples[row], dict) else {}), "messages": msgs}
    return [*examples[:row], ex, *examples[row + 1 :]]


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
        _from_bubble(m, ss.get(f"data_edit_msg_role_{i}", ""), ss.get(f"data_edit_msg_text_{i}", ""))
        for i, m in enumerate(chat.raw_messages(work.examples[row]))
    ]


def _edited(work, row: int, op: str = "save", i: int = 0) -> list:
    """The examples with the focused one as its bubbles show it, plus a message added or deleted."""
    msgs = _bubbles(work, row)
    if op == "add":
        msgs.append({"role": NEXT_ROLE.get(_role(msgs[-1]) if msgs else None, "user"), "content": ""})
    elif op == "delete":
        del msgs[i]
    return _with_messages(work.examples, row, msgs)


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
    issues = issues_by_row([*report.errors, *report.warnings, *quality.flags])
    rows = _filters(work, issues)
    _bulk(work, rows)
    _table(work, rows, issues)
    _chat(work)


def _filters(work, issues: dict) -> list[int]:
    index = _index(work.sha, work.examples)
    kinds = sorted({k for ks in issues.values() for k in ks})
    left, right = st.columns(2)
    query = left.text_input("Search", key="data_edit_search", placeholder="words in any message")
    chosen = right.multiselect("Issue kind", kinds, key="data_edit_kinds", format_func=_plain, placeholder="any")
    left, right = st.columns([3, 1])
    top = max(10, math.ceil(max(index[1], default=0) / 10) * 10)  # rounded, so one edit rarely moves it
    lo, hi = st.session_state.get("data_edit_words") or (0, top)
    st.session_state["data_edit_words"] = (min(lo, top), min(hi, top))  # a range kept from longer data
    words = left.slider("Answer length (words, all assistant turns)", 0, top, key="data_edit_words")
    only = right.checkbox("Only rows with issues", key="data_edit_only_issues")
    rows = matching_rows(index, issues, query, chosen, words, only)
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
    records = [{"row": i + 1, **cells(examples[i]), "issues": ", ".join(map(_plain, issues.get(i, [])))} for i in rows]
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
    changes = table_changes(before, after, shown)
    if changes:
        new = apply_table_edits(work.examples, changes)
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
        st.session_state[f"data_edit_msg_role_{i}"], st.session_state[f"data_edit_msg_text_{i}"] = _bubble_value(m)


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
