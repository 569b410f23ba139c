"""Layouts: chat (OpenAI messages), ShareGPT, Alpaca, tables and pre-templated text, detected and converted to chat.

Preference pairs (OpenAI DPO, TRL's prompt/chosen/rejected) are one more layout, converted by core.data.preference.

`detect(records, default)` names the layout most records share; `convert(layout, records, lines, mapping)` turns
records into OpenAI chat examples with their source lines, a Finding for each record left out, and the notes
(one line each) saying what the import changed: a mapped column, a field moved into a turn or not imported.
ShareGPT's function_call/observation turns (LLaMA-Factory) become tool_calls and tool messages, its tools string
OpenAI's tools list; a `text` column rendered with a known template (guanaco, ChatML, Llama-2) is split into turns.
Test: `pytest tests/unit/test_data_shapes.py tests/unit/test_data_io.py`.
"""

from __future__ import annotations

import json
import re
from collections import Counter

from core.data import DataError, Finding, Findings, preference
from core.data.readers import shown, snippet

LAYOUTS = ("chat", "sharegpt", "alpaca", "table", "text", "preference")
# ShareGPT speakers seen in the wild, mapped to chat roles (LLaMA-Factory's function_call/observation included).
SPEAKERS = {
    **dict.fromkeys(("human", "user"), "user"),
    **dict.fromkeys(("gpt", "assistant", "chatgpt", "bard", "bing", "model"), "assistant"),
    "system": "system",
    "function_call": "tool_call",
    **dict.fromkeys(("observation", "tool", "function"), "tool"),
}
TOOL_SPEAKERS = frozenset(("function_call", "observation"))  # in a `messages` list they mark LLaMA-Factory's tags
# Column names people use for each role, most specific first (matched on their words, case-insensitively).
COLUMN_NAMES = {
    "system": ("system", "system_prompt", "system_message"),
    "user": (
        *("prompt", "question", "user", "input", "instruction", "query", "human", "request"),
        *("inputs", "prompts", "questions", "instructions"),
    ),
    "assistant": (
        *("response", "answer", "assistant", "output", "completion", "reply", "gpt", "target"),
        *("targets", "outputs", "responses", "answers", "completions"),
    ),
}
TEXT_COLUMN = "text"


def is_conversation(obj: object) -> bool:
    """A record that can stand as an example: an object with a list of messages."""
    return isinstance(obj, dict) and isinstance(obj.get("messages"), list)


def _words(name: object) -> str:
    """A column name as its lower-case words joined by "_": "Model Answer " -> "model_answer"."""
    return "_".join(re.findall(r"[a-z0-9]+", str(name).lower()))


def suggest_mapping(columns, taken: tuple = ()) -> dict:
    """{"system", "user", "assistant"} -> the column that looks like it (common names), or None.

    A name matches whole ("system prompt") or by its last word, as spreadsheets write it ("Model Answer");
    a column goes to one role at most, and never to one of `taken`.
    """
    by_words: dict = {}
    for c in columns:
        by_words.setdefault(_words(c), c)
    by_last: dict = {}
    for words, c in by_words.items():
        by_last.setdefault(words.rsplit("_", 1)[-1], c)
    found: dict = {}
    for role, names in COLUMN_NAMES.items():
        used = {*found.values(), *taken}
        exact = (by_words[n] for n in names if n in by_words and by_words[n] not in used)
        last = (by_last[n] for n in names if n in by_last and by_last[n] not in used)
        found[role] = next(exact, None) or next(last, None)
    return found


def _tags_of(messages: list) -> bool:
    """Whether a `messages` list is ShareGPT under another key: from/value turns, or LLaMA-Factory's tool roles."""
    return any(isinstance(m, dict) and ("from" in m or m.get("role") in TOOL_SPEAKERS) for m in messages)


def _is_text(obj: dict) -> bool:
    return (
        isinstance(obj.get(TEXT_COLUMN), str)
        and not (found := suggest_mapping(obj))["user"]
        and not found["assistant"]
    )


def detect(objs: list, default: str) -> str:
    """The layout most of the first records share; default when none is recognised."""
    votes: Counter[str] = Counter()
    for obj in objs[:200]:
        if not isinstance(obj, dict):
            continue
        if "messages" in obj:
            votes["sharegpt" if isinstance(obj["messages"], list) and _tags_of(obj["messages"]) else "chat"] += 1
        elif preference.is_record(obj):
            votes["preference"] += 1
        elif "conversations" in obj:
            votes["sharegpt"] += 1
        elif "instruction" in obj and ("output" in obj or "response" in obj):  # Alpaca; Dolly says "response"
            votes["alpaca"] += 1
        elif _is_text(obj):
            votes["text"] += 1
        elif (found := suggest_mapping(obj))["user"] and found["assistant"]:
            votes["table"] += 1
    return votes.most_common(1)[0][0] if votes else default


def _columns(objs: list) -> dict:
    columns: dict = {}
    for obj in objs[:200]:
        if isinstance(obj, dict):
            columns.update(dict.fromkeys(obj))
    return columns


def resolve_mapping(objs: list, mapping: dict | None) -> dict:
    """The table's role -> column: the mapping given, the rest suggested; one column never takes two roles."""
    columns = _columns(objs)
    given = {role: col for role, col in (mapping or {}).items() if col is not None}
    for col, uses in Counter(given.values()).items():
        if uses > 1:
            roles = " and the ".join(role for role in dict.fromkeys((*COLUMN_NAMES, *given)) if given.get(role) == col)
            raise DataError(
                f"column {col!r} is chosen for both the {roles} turn; choose a different column for one of them"
            )
    chosen = {**suggest_mapping(columns, tuple(given.values())), **(mapping or {})}
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


def _tools(value: object) -> tuple[list | None, str | None]:
    """ShareGPT's tools (a JSON string or a list of functions) as OpenAI's tools list; None when there are none."""
    if value is None or value == "" or value == []:
        return None, None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None, f"'tools' is not JSON: {snippet(value)}"
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
        return None, f"'tools' is not a list of function definitions: {shown(value)}"
    return [
        t if t.get("type") == "function" and "function" in t else {"type": "function", "function": t} for t in value
    ], None


def _calls(value: object, first: int) -> tuple[list | None, str | None]:
    """A function_call turn's value ({"name", "arguments"}, or a list of them) as OpenAI tool_calls, ids from first."""
    try:
        found = json.loads(value) if isinstance(value, str) else value
    except ValueError:
        found = None
    found = found if isinstance(found, list) else [found]
    calls = []
    for n, item in enumerate(found, first):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            return None, f"is not JSON with 'name' and 'arguments': {snippet(str(value))}"
        arguments = item.get("arguments", {})
        text = arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)
        calls.append({"id": f"call_{n}", "type": "function", "function": {"name": item["name"], "arguments": text}})
    return calls, None


def _turn(turn: object) -> tuple[object, object] | None:
    """(speaker, text) of a ShareGPT turn: from/value, or role/content (LLaMA-Factory's tags)."""
    if isinstance(turn, dict):
        if "from" in turn and "value" in turn:
            return turn["from"], turn["value"]
        if "role" in turn and "content" in turn:
            return turn["role"], turn["content"]
    return None


def _from_sharegpt(obj: object, _mapping: dict) -> tuple[dict | None, str | None]:
    turns = obj.get("conversations", obj.get("messages")) if isinstance(obj, dict) else None
    if not isinstance(turns, list):
        return None, "'conversations' is missing or not a list"
    messages, pending, made = _system(obj), [], 0  # pending: ids of calls no observation has answered yet
    for j, turn in enumerate(turns, 1):
        found = _turn(turn)
        if found is None:
            return None, f"turn {j} is not an object with 'from' and 'value'"
        speaker, text = found
        role = SPEAKERS.get(str(speaker).lower())
        if role is None:
            return None, f"turn {j}: unknown speaker {shown(speaker)} (known: {', '.join(SPEAKERS)})"
        if role == "tool_call":
            calls, problem = _calls(text, made + 1)
            if problem:
                return None, f"turn {j}: the function_call {problem}"
            made += len(calls)
            pending += [c["id"] for c in calls]
            messages.append({"role": "assistant", "content": None, "tool_calls": calls})
        elif role == "tool":
            if not pending:
                return None, f"turn {j}: an {speaker} answers no earlier function_call"
            messages.append({"role": "tool", "tool_call_id": pending.pop(0), "content": text})
        else:
            messages.append({"role": role, "content": text})
    tools, problem = _tools(obj.get("tools"))
    if problem:
        return None, problem
    return ({"messages": messages, "tools": tools} if tools else {"messages": messages}), None


def _from_alpaca(obj: object, _mapping: dict) -> tuple[dict | None, str | None]:
    answer = obj.get("output", obj.get("response")) if isinstance(obj, dict) else None
    if answer is None or "instruction" not in obj:
        return None, "an Alpaca record needs 'instruction' and 'output' (Dolly's: 'response')"
    prompt, extra, context = obj["instruction"], obj.get("input"), obj.get("context")
    if isinstance(prompt, str) and isinstance(extra, str) and extra.strip():
        prompt = f"{prompt}\n\n{extra}"
    if isinstance(prompt, str) and isinstance(context, str) and context.strip():  # Dolly's reference passage
        prompt = f"{prompt}\n\nContext:\n{context}"
    messages = _system(obj)
    for pair in obj.get("history") or []:  # LLaMA-Factory's Alpaca keeps earlier turns here
        if isinstance(pair, list) and len(pair) == 2:
            messages += [{"role": "user", "content": pair[0]}, {"role": "assistant", "content": pair[1]}]
    messages += [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]
    return {"messages": messages}, None


# Conversation templates a `text` column is seen rendered with: name -> how one turn starts.
GUANACO = re.compile(r"###\s*(Human|Assistant|System)\s*:", re.IGNORECASE)
CHATML = re.compile(r"<\|im_start\|>(\w+)\n(.*?)(?:<\|im_end\|>|$)", re.DOTALL)
LLAMA2 = re.compile(r"\[INST\](.*?)\[/INST\](.*?)(?=\[INST\]|$)", re.DOTALL)
LLAMA2_SYSTEM = re.compile(r"<<SYS>>(.*?)<</SYS>>", re.DOTALL)
GUANACO_ROLES = {"human": "user", "assistant": "assistant", "system": "system"}
TEMPLATES = (
    "guanaco's '### Human: ... ### Assistant: ...', ChatML's '<|im_start|>user ...', Llama-2's '[INST] ... [/INST]'"
)


def _guanaco(text: str) -> list[tuple[str, str]]:
    parts = GUANACO.split(text)  # [before, speaker, words, speaker, words, ...]
    preamble = [("system", parts[0])] if parts[0].strip() else []  # Vicuna-style "A chat between ..." opener
    return preamble + [(GUANACO_ROLES[parts[i].lower()], parts[i + 1]) for i in range(1, len(parts) - 1, 2)]


def _llama2(text: str) -> list[tuple[str, str]]:
    turns = []
    for asked, answer in LLAMA2.findall(text):
        if system := LLAMA2_SYSTEM.search(asked):
            turns.append(("system", system.group(1)))
            asked = asked[system.end() :]
        turns += [("user", asked), ("assistant", answer.replace("</s>", "").replace("<s>", ""))]
    return turns


def split_text(text: str) -> list[dict] | None:
    """A conversation rendered with a known template, as messages; None when no known template is in it."""
    if "<|im_start|>" in text:
        turns = CHATML.findall(text)
    elif "[INST]" in text:
        turns = _llama2(text)
    elif GUANACO.search(text):
        turns = _guanaco(text)
    else:
        return None
    return [{"role": role, "content": words.strip()} for role, words in turns if words.strip() or role == "assistant"]


def _from_text(obj: object, mapping: dict | None) -> tuple[dict | None, str | None]:
    column = (mapping or {}).get(TEXT_COLUMN) or TEXT_COLUMN
    text = obj.get(column) if isinstance(obj, dict) else None
    if not isinstance(text, str):
        return None, f"column {column!r} is missing or not text"
    messages = split_text(text)
    if messages is None:
        return (
            None,
            f"column {column!r} holds no conversation template this import knows ({TEMPLATES}): {snippet(text)}",
        )
    if not any(m["role"] == "assistant" and m["content"] for m in messages):
        return None, f"column {column!r} has no assistant turn with text: {snippet(text)}"
    return {"messages": messages}, None


CONVERTERS = {
    "sharegpt": _from_sharegpt,
    "alpaca": _from_alpaca,
    "table": _from_table,
    "text": _from_text,
    "preference": preference.convert,
}
HINTS = {"text": "split the conversation into user and assistant columns, or choose the table format to pick columns"}
# The fields each layout reads; any other field of a record is not imported, and the notes say so.
READS = {
    "sharegpt": {"conversations", "messages", "system", "tools"},
    "alpaca": {"instruction", "input", "output", "response", "context", "system", "history"},
    "preference": {"input", "preferred_output", "non_preferred_output", "prompt", "chosen", "rejected"},
}


def _records(n: int) -> str:
    return f"{n:,} record{'s' if n != 1 else ''}"


def _not_imported(raw: list, read: set) -> list[str]:
    """A note per field the layout does not read, with how many records held it."""
    held: Counter = Counter()
    for obj in raw:
        if isinstance(obj, dict):
            held.update(k for k, v in obj.items() if k not in read and v not in (None, ""))
    return [f"field {shown(k)} is not imported ({_records(n)} held it)" for k, n in held.items()]


def notes(layout: str, raw: list, examples: list, mapping: dict | None) -> list[str]:
    """What the import changed on the way to chat form, one line each (core.data.io.Loaded.notes).

    raw: the records that became the examples (a record left out has its own finding).
    """
    if layout == "table":
        mapped = ", ".join(f"{shown(col)} -> {role}" for role, col in (mapping or {}).items() if col is not None)
        return [f"columns mapped to turns: {mapped}", *_not_imported(raw, set((mapping or {}).values()))]
    if layout == "text":
        column = (mapping or {}).get(TEXT_COLUMN) or TEXT_COLUMN
        found = [f"column {shown(column)} was split into turns by its conversation template"]
        return found + _not_imported(raw, {column})
    found = []
    if layout == "sharegpt":
        calls = sum(len(m.get("tool_calls", ())) for e in examples for m in e["messages"])
        if calls:
            found.append(
                f"{calls:,} function_call turn(s) became assistant tool calls (ids call_1, call_2, ... in each"
                " example) and their observations tool messages answering them"
            )
        if tools := sum("tools" in e for e in examples):
            found.append(f"the 'tools' string was read as OpenAI's tools list ({_records(tools)})")
    if layout == "alpaca":
        context = sum(
            isinstance(o, dict) and isinstance(o.get("context"), str) and bool(o["context"].strip()) for o in raw
        )
        if context:
            found.append(
                f"field 'context' was added to the user turn after the instruction, as 'Context:'"
                f" ({_records(context)})"
            )
    return found + (_not_imported(raw, READS[layout]) if layout in READS else [])  # a layout not listed keeps all


def convert(
    layout: str, raw: list, raw_lines: list[int], mapping: dict | None
) -> tuple[list, list, list[Finding], list[str]]:
    """(examples, their lines, a Finding for each record left out, notes) from the records in this layout."""
    if layout == "chat":  # the common case, kept to one cheap pass
        keep = [i for i, obj in enumerate(raw) if is_conversation(obj)]
        kept = set(keep) if len(keep) < len(raw) else None
        skipped = [line for i, line in enumerate(raw_lines) if i not in kept] if kept is not None else []
        left = Findings()
        left.extend(Finding("skipped", "not a conversation (no 'messages' list)", line=line) for line in skipped)
        return [raw[i] for i in keep], [raw_lines[i] for i in keep], left.items(), []
    examples, lines, used, left = [], [], [], Findings()
    hint = HINTS.get(layout, f"fix the {layout} record")
    for line, obj in zip(raw_lines, raw, strict=True):
        example, problem = CONVERTERS[layout](obj, mapping)
        if example is None:
            left.add(Finding("not_converted", problem, line=line, hint=hint))
        else:
            examples.append(example)
            lines.append(line)
            used.append(obj)
    return examples, lines, left.items(), notes(layout, used, examples, mapping)
