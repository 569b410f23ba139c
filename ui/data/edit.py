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

from core.data import edits, preference, table
from core.data.table import TEXT_COLUMNS
from ui.data import state
from ui.untrusted import code, inline

PAGE_SIZE = 50
ROLES = ("system", "user", "assistant", "tool")
NEXT_ROLE = {"system": "user", "user": "assistant", "assistant": "user", "tool": "assistant"}
BLANK = {"messages": [{"role": "user", "content": ""}, {"role": "assistant", "content": ""}]}
FOCUS, NOTICE, TOKEN = "data_edit_focus", "data_edit_notice", "data_edit_msg_token"
PAIR_TITLES = ("**Chosen** (`preferred_output`)", "**Rejected** (`non_preferred_output`)")
WEIGHT_HELP = "OpenAI's weight: 1 trains on this answer; 0 keeps it as context the model sees but does not learn."
CHECK_FOCUS = "data_focus_row"  # 0-based row the Check view asks us to open
COLUMNS = ("row", *TEXT_COLUMNS, "turns", "issues")
COLUMN_CONFIG = {
    "assistant": st.column_config.TextColumn(help="The last assistant message", width="large"),
    "user": st.column_config.TextColumn(help="The last user message"),
    "turns": st.column_config.NumberColumn(help="How many messages the example has"),
}


@st.cache_resource(max_entries=4, show_spinner=False)
def _index(sha: str, _examples: list) -> tuple[list[str], list[int]]:
    """The search index, built once per content hash; a pair's prompt and both answers are searched."""
    return table.search_index([_as_chat(e, "chosen", "rejected") for e in _examples])


def _as_chat(example, *answers: str):
    """A chat example as it is; a pair as one chat of its prompt and the named answers, to read (never to save)."""
    if not preference.is_pair(example, lenient=True):
        return example
    found = edits.sections(example)
    return {"messages": [*found["msg"], *(m for name in answers for m in found[name])]}


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


def _key(section: str, what: str, i: int, *more: int) -> str:
    """A bubble widget's key: data_edit_<section>_<what>_<message>[_<part or call>]."""
    return "_".join(map(str, ("data_edit", section, what, i, *more)))


def _keys(section: str, i: int, shown: dict) -> dict[str, object]:
    """The widget keys of one bubble and the values `edits.fields` gives them."""
    out = {_key(section, "role", i): shown["role"]}
    if shown["parts"] is None:
        out[_key(section, "text", i)] = shown["text"]
    out |= {_key(section, "part", i, j): v for j, v in enumerate(shown["parts"] or []) if v is not None}
    for k, call in enumerate(shown["calls"]):
        out[_key(section, "fn", i, k)], out[_key(section, "args", i, k)] = call["name"], call["arguments"]
    if shown["weight"] is not None:
        out[_key(section, "weight", i)] = shown["weight"]
    return out


def _seeds(example) -> dict[str, object]:
    """Every chat-view widget key of the example with its value as saved."""
    out = {"data_edit_tools": edits.tools_text(example)}
    for section, msgs in edits.sections(example).items():
        for i, m in enumerate(msgs):
            out |= _keys(section, i, edits.fields(m))
    return out


def _shown(section: str, i: int, message) -> dict:
    """One message's fields as its bubble now shows them (the saved value where a widget is not drawn)."""
    ss, saved = st.session_state, edits.fields(message)
    now = {k: ss.get(k, v) for k, v in _keys(section, i, saved).items()}
    parts = saved["parts"] and [
        None if v is None else now[_key(section, "part", i, j)] for j, v in enumerate(saved["parts"])
    ]
    calls = [
        {"name": now[_key(section, "fn", i, k)], "arguments": now[_key(section, "args", i, k)]}
        for k in range(len(saved["calls"]))
    ]
    return {
        "role": now[_key(section, "role", i)],
        "text": now.get(_key(section, "text", i)),
        "parts": parts,
        "calls": calls,
        "weight": now.get(_key(section, "weight", i)),
    }


def _edited(work, row: int, op: str = "save", section: str = "msg", i: int = 0) -> list:
    """The examples with the focused one as its bubbles show it, plus a message added or deleted."""
    example = work.examples[row]
    shown = {s: [_shown(s, j, m) for j, m in enumerate(msgs)] for s, msgs in edits.sections(example).items()}
    new = edits.edited_example(example, shown, st.session_state.get("data_edit_tools", edits.tools_text(example)))
    if op in ("add", "delete"):
        msgs = list(edits.sections(new)[section])
        if op == "add":
            after = table.role(msgs[-1]) if msgs else None
            # a chat goes on with the next natural role; an emptied answer starts again with the assistant
            first = NEXT_ROLE.get(after, "user") if section == "msg" or msgs else "assistant"
            msgs.append({"role": first, "content": ""})
        else:
            del msgs[i]
        new = edits.with_sections(new, {section: msgs})
    return [*work.examples[:row], new, *work.examples[row + 1 :]]


def _change(work, row: int, op: str, done: str, section: str = "msg", i: int = 0) -> None:
    """Apply a chat-view change; an edit that cannot be saved says why and keeps every typed text."""
    try:
        new = _edited(work, row, op, section, i)
    except edits.EditError as e:
        st.session_state[NOTICE] = ("error", f"Example {row + 1} was not saved: {inline(e)}")  # names typed text
        return
    _commit(work, lambda: new, done)


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
        {
            "row": i + 1,
            **table.cells(_as_chat(examples[i], "chosen")),
            "issues": ", ".join(map(table.plain, issues.get(i, []))),
        }
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
    # A cell written back would make a pair a chat.
    if any(preference.is_pair(work.examples[i], lenient=True) for i in shown):
        fixed += TEXT_COLUMNS
        st.caption("Preference pairs show their prompt and chosen answer here; edit them in the view below.")
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


def _seed(work, row: int) -> None:
    """Load the example into the bubbles when the focus or the example's content changed."""
    digest = hashlib.sha1(json.dumps(work.examples[row], sort_keys=True).encode()).hexdigest()
    token = f"{work.dataset.id}:{row}:{digest}"
    values = _seeds(work.examples[row])
    if st.session_state.get(TOKEN) == token and all(k in st.session_state for k in values):
        return
    st.session_state[TOKEN] = token
    st.session_state.update(values)


def _avatar(role: str, shown: dict) -> str | None:
    if shown["weight"] is False:
        return ":material/visibility_off:"  # a turn the model sees but does not learn looks different
    if shown["calls"] or role in ("tool", "function"):
        return ":material/build:"
    return None


def _content(section: str, i: int, shown: dict, message) -> None:
    if shown["parts"] is None:
        st.text_area(f"Message {i + 1}", key=_key(section, "text", i), label_visibility="collapsed")
        return
    for j, (part, text) in enumerate(zip(message["content"], shown["parts"], strict=True)):
        kind = part.get("type") if isinstance(part, dict) else None
        if text is None:
            st.caption(f"Part {j + 1} ({inline(kind or type(part).__name__)}) is kept as it is.")
        elif isinstance(part.get("text"), str):
            st.text_area(f"Text (part {j + 1})", key=_key(section, "part", i, j))
        else:  # the URL is shown as text, never loaded
            st.text_input(f"Image URL (part {j + 1})", key=_key(section, "part", i, j))


def _calls(section: str, i: int, shown: dict) -> None:
    for k in range(len(shown["calls"])):
        st.caption(f"Tool call {k + 1}")
        st.text_input("Function name", key=_key(section, "fn", i, k))
        st.text_area("Arguments (JSON)", key=_key(section, "args", i, k), height=120)


def _answers(message, names: dict[str, str]) -> None:
    """Which call a tool result answers, by the function name of the call with its tool_call_id."""
    if not isinstance(message, dict):
        return
    if message.get("role") == "function":  # legacy: the result names its function itself
        st.caption(f"Result of {code(message.get('name') or '?')}")
    elif message.get("role") == "tool":
        cid = message.get("tool_call_id")
        name = names.get(cid) if isinstance(cid, str) else None
        if name is not None:
            st.caption(f"Result of {code(name)} (call {code(cid)})")
        else:
            st.caption(f"Answers call {code(cid)}, which no earlier message makes.")


def _bubble(work, row: int, section: str, i: int, names: dict[str, str]) -> None:
    message = edits.sections(work.examples[row])[section][i]
    shown = edits.fields(message)
    role = st.session_state[_key(section, "role", i)]
    options = [*ROLES, *([role] if role not in ROLES else [])]  # keep an unusual role choosable
    with st.chat_message(role or "message", avatar=_avatar(role, shown)):
        left, right = st.columns([4, 1])
        show = {"format_func": lambda r: r or "(no role)", "label_visibility": "collapsed"}
        left.selectbox(f"Role of message {i + 1}", options, key=_key(section, "role", i), **show)
        gone = (work, row, "delete", f"Deleted message {i + 1} of example {row + 1}.", section, i)
        right.button("Delete message", key=_key(section, "del", i), on_click=_change, args=gone)
        _answers(message, names)
        _content(section, i, shown, message)
        _calls(section, i, shown)
        if shown["weight"] is not None:
            st.toggle("Learned (weight 1)", key=_key(section, "weight", i), help=WEIGHT_HELP)
            if not st.session_state[_key(section, "weight", i)]:
                st.caption("Shown to the model as context, not learned (weight 0).")


def _section(work, row: int, section: str, names: dict[str, str]) -> None:
    for i in range(len(edits.sections(work.examples[row])[section])):
        _bubble(work, row, section, i, names)
    if section != "msg":
        grow = (work, row, "add", f"Added a message to {edits.SECTIONS[section]} of example {row + 1}.", section)
        st.button("Add message", key=f"data_edit_{section}_add", on_click=_change, args=grow)


def _messages(work, row: int) -> None:
    """The example's bubbles: a chat's messages, or a pair's prompt then chosen and rejected side by side."""
    found = edits.sections(work.examples[row])
    names = edits.call_names([m for msgs in found.values() for m in msgs])
    if not found["msg"]:
        st.warning(f"Example {row + 1} has no messages; add one to start the conversation.")
    if "chosen" in found:
        st.markdown("**Prompt**")
    _section(work, row, "msg", names)
    if "chosen" in found:
        for column, section, title in zip(st.columns(2), ("chosen", "rejected"), PAIR_TITLES, strict=True):
            with column:
                st.markdown(title)
                _section(work, row, section, names)
    tools = edits.tools_text(work.examples[row])
    with st.expander("Tools the example offers" + ("" if tools else " (none)"), icon=":material/build:"):
        st.text_area("Tools (a JSON list of function definitions; empty for none)", key="data_edit_tools", height=240)


def _chat(work) -> None:
    st.subheader("One example")
    n = len(work.examples)
    add = (work, lambda: [*work.examples, copy.deepcopy(BLANK)], f"Added example {n + 1} at the end.", n)
    if not n:
        st.info("This dataset has no examples yet.")
        st.button("Add a new empty example", key="data_edit_row_add", on_click=_commit, args=add)
        return
    row = _focus_input(n)
    _seed(work, row)
    _messages(work, row)
    st.caption("Adding or deleting a message also keeps your unsaved edits to the others.")
    left, right = st.columns(2)
    grow = (work, row, "add", f"Added a message to example {row + 1}.")
    left.button("Add message", key="data_edit_msg_add", on_click=_change, args=grow)
    save = (work, row, "save", f"Saved example {row + 1}.")
    right.button("Save changes to this example", key="data_edit_msg_save", type="primary", on_click=_change, args=save)
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
