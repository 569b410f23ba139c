"""Layouts: chat (OpenAI messages), ShareGPT, Alpaca and tables, detected and converted to the chat form.

Preference pairs (OpenAI DPO, TRL's prompt/chosen/rejected) are one more layout, converted by core.data.preference.

`detect(records, default)` names the layout most records share; `convert(layout, records, lines, mapping)` turns
records into `{"messages": [...]}` examples with their source lines, and a Finding for each record left out.
Test: `pytest tests/unit/test_data_io.py`.
"""

from __future__ import annotations

from collections import Counter

from core.data import DataError, Finding, Findings, preference
from core.data.readers import shown, snippet

LAYOUTS = ("chat", "sharegpt", "alpaca", "table", "preference")
# ShareGPT speakers seen in the wild, mapped to chat roles.
SPEAKERS = {
    **dict.fromkeys(("human", "user"), "user"),
    **dict.fromkeys(("gpt", "assistant", "chatgpt", "bard", "bing", "model"), "assistant"),
    "system": "system",
}
# Column names people use for each role, most specific first (matched case-insensitively).
COLUMN_NAMES = {
    "system": ("system", "system_prompt", "system_message"),
    "user": ("prompt", "question", "user", "input", "instruction", "query", "human", "request"),
    "assistant": ("response", "answer", "assistant", "output", "completion", "reply", "gpt", "target"),
}


def is_conversation(obj: object) -> bool:
    """A record that can stand as an example: an object with a list of messages."""
    return isinstance(obj, dict) and isinstance(obj.get("messages"), list)


def suggest_mapping(columns) -> dict:
    """{"system", "user", "assistant"} -> the column that looks like it (common names), or None."""
    by_lower = {str(c).strip().lower(): c for c in columns}
    found: dict = {}
    for role, names in COLUMN_NAMES.items():
        taken = found.values()
        found[role] = next((by_lower[n] for n in names if n in by_lower and by_lower[n] not in taken), None)
    return found


def detect(objs: list, default: str) -> str:
    """The layout most of the first records share; default when none is recognised."""
    votes: Counter[str] = Counter()
    for obj in objs[:200]:
        if not isinstance(obj, dict):
            continue
        if "messages" in obj:
            votes["chat"] += 1
        elif preference.is_record(obj):
            votes["preference"] += 1
        elif "conversations" in obj:
            votes["sharegpt"] += 1
        elif "instruction" in obj and "output" in obj:
            votes["alpaca"] += 1
        elif (found := suggest_mapping(obj))["user"] and found["assistant"]:
            votes["table"] += 1
    return votes.most_common(1)[0][0] if votes else default


def resolve_mapping(objs: list, mapping: dict | None) -> dict:
    columns: dict = {}
    for obj in objs[:200]:
        if isinstance(obj, dict):
            columns.update(dict.fromkeys(obj))
    chosen = {**suggest_mapping(columns), **(mapping or {})}
    shown = ", ".join(map(str, columns)) or "none"
    for role in ("system", "user", "assistant"):
        col = chosen.get(role)
        if col is not None and col not in columns:
            raise DataError(f"has no column {col!r} for the {role} turn (columns: {shown})")
        if col is None and role != "system":
            example = "{'user': 'question', 'assistant': 'answer'}"
            raise DataError(f"has no column for the {role} turn (columns: {shown}); pass a mapping such as {example}")
    return chosen


def _cell_text(value: object) -> str | None:
    """A table cell as message text; None when it is missing (empty, null, NaN) or not a scalar."""
    if isinstance(value, bool) or value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, (int, float)):
        return str(value)
    return value if isinstance(value, str) and value.strip() else None


def _from_table(obj: object, mapping: dict) -> tuple[dict | None, str | None]:
    if not isinstance(obj, dict):
        return None, f"the row is {type(obj).__name__}, not an object"
    messages = []
    for role in ("system", "user", "assistant"):
        col = mapping.get(role)
        text = None if col is None else _cell_text(obj.get(col))
        if text is None and col is not None and role != "system":
            return None, f"column {col!r} ({role}) is empty or not text: {snippet(str(obj.get(col)))}"
        if text is not None:
            messages.append({"role": role, "content": text})
    return {"messages": messages}, None


def _system(obj: dict) -> list[dict]:
    return [{"role": "system", "content": obj["system"]}] if isinstance(obj.get("system"), str) else []


def _from_sharegpt(obj: object, _mapping: dict) -> tuple[dict | None, str | None]:
    turns = obj.get("conversations") if isinstance(obj, dict) else None
    if not isinstance(turns, list):
        return None, "'conversations' is missing or not a list"
    messages = _system(obj)
    for j, turn in enumerate(turns, 1):
        if not isinstance(turn, dict) or "from" not in turn or "value" not in turn:
            return None, f"turn {j} is not an object with 'from' and 'value'"
        role = SPEAKERS.get(str(turn["from"]).lower())
        if role is None:
            return None, f"turn {j}: unknown speaker {shown(turn['from'])} (known: {', '.join(SPEAKERS)})"
        messages.append({"role": role, "content": turn["value"]})
    return {"messages": messages}, None


def _from_alpaca(obj: object, _mapping: dict) -> tuple[dict | None, str | None]:
    if not isinstance(obj, dict) or "instruction" not in obj or "output" not in obj:
        return None, "an Alpaca record needs 'instruction' and 'output'"
    prompt, extra = obj["instruction"], obj.get("input")
    if isinstance(prompt, str) and isinstance(extra, str) and extra.strip():
        prompt = f"{prompt}\n\n{extra}"
    messages = _system(obj)
    for pair in obj.get("history") or []:  # LLaMA-Factory's Alpaca keeps earlier turns here
        if isinstance(pair, list) and len(pair) == 2:
            messages += [{"role": "user", "content": pair[0]}, {"role": "assistant", "content": pair[1]}]
    messages += [{"role": "user", "content": prompt}, {"role": "assistant", "content": obj["output"]}]
    return {"messages": messages}, None


CONVERTERS = {
    "sharegpt": _from_sharegpt,
    "alpaca": _from_alpaca,
    "table": _from_table,
    "preference": preference.convert,
}


def convert(layout: str, raw: list, raw_lines: list[int], mapping: dict | None) -> tuple[list, list, list[Finding]]:
    """(examples, their lines, a Finding for each record left out) from the records in this layout."""
    if layout == "chat":  # the common case, kept to one cheap pass
        keep = [i for i, obj in enumerate(raw) if is_conversation(obj)]
        kept = set(keep) if len(keep) < len(raw) else None
        skipped = [line for i, line in enumerate(raw_lines) if i not in kept] if kept is not None else []
        left = Findings()
        left.extend(Finding("skipped", "not a conversation (no 'messages' list)", line=line) for line in skipped)
        return [raw[i] for i in keep], [raw_lines[i] for i in keep], left.items()
    examples, lines, left = [], [], Findings()
    for line, obj in zip(raw_lines, raw, strict=True):
        example, problem = CONVERTERS[layout](obj, mapping)
        if example is None:
            left.add(Finding("not_converted", problem, line=line, hint=f"fix the {layout} record"))
        else:
            examples.append(example)
            lines.append(line)
    return examples, lines, left.items()
