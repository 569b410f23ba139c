"""The Data page's table of examples, as plain data: one row per example, cells written back, search.

A row shows an example's leading system message and its last user and assistant turns; writing a
cell back changes that message (adding or removing it as needed) and nothing else, so untouched
messages keep their exact form and extra keys; a message of content parts shows its text, and its
images stay when the cell is written back. `search_index` and `matching_rows` filter rows by
text, finding kinds and answer length. ui/data/edit.py draws all of it.
Test: `.venv/bin/pytest tests/unit/test_data_table.py tests/app/test_data_edit.py -q`.
"""

from __future__ import annotations

import copy
import json
import math

import pandas as pd

from core import chat

TEXT_COLUMNS = ("system", "user", "assistant")


def _text(content) -> str:
    """Content as editable text: content parts as their text; anything else shows as JSON, so nothing is hidden."""
    if content is None:
        return ""
    if isinstance(content, list) and all(isinstance(p, dict) for p in content):
        return chat.content_text(content, "\n")
    return content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)


def _with_text(content, text: str):
    """Content parts with their text parts replaced by one holding `text` where the first was; images stay."""
    if not (isinstance(content, list) and all(isinstance(p, dict) for p in content)):
        return text
    texts = [i for i, p in enumerate(content) if isinstance(p.get("text"), str)]
    at = texts[0] if texts else 0
    kept = [p for i, p in enumerate(content) if i not in texts]
    return [*kept[:at], {"type": "text", "text": text}, *kept[at:]]


def role(message) -> str | None:
    return message.get("role") if isinstance(message, dict) else None


def _slot(msgs: list, column: str) -> int | None:
    """Where a table column lives: the leading system message, or the last user/assistant one."""
    if column == "system":
        return 0 if msgs and role(msgs[0]) == "system" else None
    return next((i for i in range(len(msgs) - 1, -1, -1) if role(msgs[i]) == column), None)


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
        msgs[i]["content"] = _with_text(msgs[i].get("content"), text)
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


def plain(kind: str) -> str:
    return kind.replace("_", " ")


def search_index(examples: list) -> tuple[list[str], list[int]]:
    """Lowercased text of all messages, and the word count of the assistant turns, per example."""
    texts, words = [], []
    for ex in examples:
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
