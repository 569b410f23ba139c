"""Bulk edits for the Data page: pure functions over a list of chat examples that return a new list.

They fix what the quality checks (core.data.quality) flag: one system prompt for chosen rows, a
boilerplate opener stripped from the answers, rows deleted or duplicated. Inputs are never
changed, so the page can compare before and after and save the result as a new version.
Test: `pytest tests/unit/test_edits.py`.
"""

from __future__ import annotations

import copy
import re

from core import chat


def _selected(examples, rows) -> set[int]:
    chosen = set(range(len(examples))) if rows is None else set(rows)
    bad = sorted(r for r in chosen if not 0 <= r < len(examples))
    if bad:
        raise ValueError(f"rows {bad} are out of range: the dataset has {len(examples)} rows")
    return chosen


def set_system_prompt(examples, text: str, rows=None) -> list[dict]:
    """Set (or add) the system message on the chosen rows; an empty text removes it."""
    chosen, out = _selected(examples, rows), []
    for i, ex in enumerate(examples):
        if i in chosen:
            ex = copy.deepcopy(ex)
            msgs = list(ex.get("messages") or [])
            if msgs and isinstance(msgs[0], dict) and msgs[0].get("role") == "system":
                msgs = msgs[1:]
            ex["messages"] = ([{"role": "system", "content": text}] if text.strip() else []) + msgs
        out.append(ex)
    return out


def strip_prefix(examples, prefix: str, rows=None) -> list[dict]:
    """Remove a boilerplate opener from assistant turns (case-insensitive) and tidy what follows."""
    chosen, out, prefix = _selected(examples, rows), [], prefix.strip()
    edge = r"(?!\w)" if prefix[-1:].isalnum() else ""  # "Sure" must not eat the start of "Surely"
    pattern = re.compile(r"^\s*" + re.escape(prefix) + edge + r"[\s:;,.!\-\u2013\u2014]*", re.I)
    for i, ex in enumerate(examples):
        if i in chosen and prefix:
            ex = copy.deepcopy(ex)
            for m in chat.messages(ex):
                if m.get("role") == "assistant" and isinstance(m.get("content"), str) and pattern.match(m["content"]):
                    rest = pattern.sub("", m["content"], count=1)
                    m["content"] = rest[:1].upper() + rest[1:]
        out.append(ex)
    return out


def delete_rows(examples, rows) -> list[dict]:
    gone = _selected(examples, rows)
    return [ex for i, ex in enumerate(examples) if i not in gone]


def duplicate_row(examples, row: int) -> list[dict]:
    """A copy of the row inserted right after it (to edit into a variant)."""
    _selected(examples, [row])
    return examples[: row + 1] + [copy.deepcopy(examples[row])] + examples[row + 1 :]
