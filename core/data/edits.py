"""Edits for the Data page: pure functions over examples that return new ones, never changing their input.

Bulk edits fix what the quality checks (core.data.quality) flag: one system prompt for chosen rows, a
boilerplate opener stripped from the answers, rows deleted or duplicated. The editor's bubbles go
through `fields` (what a bubble shows of one message: role, text or content parts, tool calls with
pretty-printed arguments, weight) and `edited` (the message as the bubble now shows it, in OpenAI's
form: arguments a JSON string, null content kept null, untouched messages kept as they were).
An example is a chat (`messages`) or an OpenAI DPO pair (`input.messages`, `preferred_output`,
`non_preferred_output`), told apart by its shape; `sections` and `with_sections` reach both.
Test: `pytest tests/unit/test_edits.py tests/app/test_data_edit.py`.
"""

from __future__ import annotations

import copy
import json
import re

from core import chat
from core.data import preference

SECTIONS = {"msg": "the prompt", "chosen": "the chosen answer", "rejected": "the rejected answer"}


class EditError(ValueError):
    """An edit that cannot be saved as typed (the message says where and what to do)."""


# ---------- one example's messages, for either kind ----------


def sections(example) -> dict[str, list]:
    """The example's message lists by editor section: "msg" for a chat; "msg", "chosen", "rejected" for a pair."""
    if not preference.is_pair(example, lenient=True):
        return {"msg": chat.raw_messages(example)}
    prompt = example["input"] if isinstance(example["input"], dict) else {}
    return {
        "msg": chat.raw_messages(prompt),
        "chosen": chat.raw_messages(example.get("preferred_output")),
        "rejected": chat.raw_messages(example.get("non_preferred_output")),
    }


def _holder(example) -> dict:
    """The object that holds `messages` and `tools`: the record, or a pair's `input` (a new one if it is no object)."""
    if not preference.is_pair(example, lenient=True):
        return example if isinstance(example, dict) else {}
    return example["input"] if isinstance(example["input"], dict) else {}


def with_sections(example, found: dict[str, list]) -> dict:
    """A copy of the example with these sections' message lists, in the example's own form."""
    ex = {**example} if isinstance(example, dict) else {}
    if preference.is_pair(ex, lenient=True):
        if "msg" in found:
            ex["input"] = {**_holder(ex), "messages": found["msg"]}
        for name, key in (("chosen", "preferred_output"), ("rejected", "non_preferred_output")):
            if name in found:
                ex[key] = found[name]
        return ex
    return {**ex, "messages": found["msg"]}


def tools_text(example) -> str:
    """The example's `tools` as indented JSON ("" when it has none)."""
    tools = _holder(example).get("tools") if isinstance(example, dict) else None
    return "" if tools is None else json.dumps(tools, indent=2, ensure_ascii=False)


def with_tools(example, text: str) -> dict:
    """The example with its `tools` as edited (an emptied text removes them); EditError when not a JSON list."""
    if text == tools_text(example):
        return example
    holder = {**_holder(example)}
    if not text.strip():
        holder.pop("tools", None)
    else:
        holder["tools"] = _json(text, "its tools")
        if not isinstance(holder["tools"], list):
            raise EditError(
                'its tools must be a JSON list of {"type": "function", "function": {...}}; fix them and save again.'
            )
    return {**example, "input": holder} if preference.is_pair(example, lenient=True) else holder


def call_names(msgs: list) -> dict[str, str]:
    """Function name per tool-call id, for every call the messages make."""
    return {
        c["id"]: str((c.get("function") or {}).get("name") or "")
        for m in msgs
        for c in chat.tool_calls(m)
        if isinstance(c.get("id"), str) and isinstance(c.get("function"), dict)
    }


# ---------- one message as a bubble shows it ----------


def pretty(value) -> str:
    """A JSON object or array (or its JSON text) indented for reading; any other text as it is."""
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return value
        if not isinstance(parsed, dict | list):
            return value
        value = parsed
    return json.dumps(value, indent=2, ensure_ascii=False)


def _part_text(part) -> str | None:
    """The editable text of a content part: a text part's text, an image part's URL; None for others."""
    if not isinstance(part, dict):
        return None
    if isinstance(part.get("text"), str):
        return part["text"]
    image = part.get("image_url")
    return image.get("url") if isinstance(image, dict) and isinstance(image.get("url"), str) else None


def fields(message) -> dict:
    """What a bubble shows of one message: role, text (or parts), calls (name, pretty arguments), weight.

    `text` is None when the content is a list of parts (`parts` then holds each part's text or URL, None
    for a part kept as it is); a tool result that is JSON reads indented; `weight` is None off assistant turns."""
    if not isinstance(message, dict):
        return {
            "role": "",
            "text": json.dumps(message, ensure_ascii=False),
            "parts": None,
            "calls": [],
            "weight": None,
        }
    content, role = message.get("content"), str(message.get("role") or "")
    parts = [_part_text(p) for p in content] if isinstance(content, list) else None
    if parts is not None:
        text = None
    elif content is None or isinstance(content, str):
        text = pretty(content) if role in ("tool", "function") and content else (content or "")
    else:
        text = json.dumps(content, ensure_ascii=False)
    calls = [
        {"name": str(f.get("name") or ""), "arguments": pretty(f.get("arguments") or "")}
        for f in ((c.get("function") if isinstance(c.get("function"), dict) else {}) for c in chat.tool_calls(message))
    ]
    weight = message.get("weight") != 0 if role == "assistant" else None
    return {"role": role, "text": text, "parts": parts, "calls": calls, "weight": weight}


def _json(text: str, what: str):
    try:
        return json.loads(text)
    except ValueError as e:
        raise EditError(f"{what} are not valid JSON ({e}); fix them and save again.") from None


def _content(message: dict, old: dict, new: dict):
    if new["parts"] is not None:
        out = []
        for part, was, now in zip(message["content"], old["parts"], new["parts"], strict=True):
            if now is None or now == was:
                out.append(part)
            elif isinstance(part.get("text"), str):
                out.append({**part, "text": now})
            else:
                out.append({**part, "image_url": {**part["image_url"], "url": now}})
        return out
    if new["text"] == old["text"]:
        return message.get("content")
    was = message.get("content")
    if old["role"] in ("tool", "function") and isinstance(was, str) and old["text"] != was:
        try:  # a JSON result was shown indented: save it compact again, as it came
            return json.dumps(json.loads(new["text"]), ensure_ascii=False)
        except ValueError:
            return new["text"]
    return new["text"]


def _calls(message: dict, old: list, new: list, where: str) -> dict:
    """The message with its calls' names and arguments as edited; arguments saved as a JSON string."""
    out = copy.deepcopy(message)
    for k, (call, was, now) in enumerate(zip(chat.tool_calls(out), old, new, strict=True)):
        # chat.tool_calls wraps a legacy function_call around the message's own dict, so writes land in it
        target = call["function"] if isinstance(call.get("function"), dict) else call.setdefault("function", {})
        name = f"{where}, call {k + 1} ({now['name'] or 'no name'})"
        if now["name"] != was["name"]:
            if not now["name"].strip():
                raise EditError(f"{name}: the function name is empty; type the function's name and save again.")
            target["name"] = now["name"].strip()
        if now["arguments"] != was["arguments"]:
            args = _json(now["arguments"], f"{name}: the arguments")
            if not isinstance(args, dict):
                raise EditError(f'{name}: the arguments must be a JSON object, such as {{"city": "Paris"}}; fix them.')
            target["arguments"] = json.dumps(args, ensure_ascii=False)
    return out


def edited(message, new: dict, where: str = "message"):
    """The message as its bubble now shows it (`new`, shaped as `fields` returns); the original when unchanged.

    Raises EditError naming `where` when the arguments are not a JSON object or a function name is emptied."""
    old = fields(message)
    if new == old:
        return message
    if not isinstance(message, dict):
        return {"role": new["role"], "content": new["text"]} if new["role"] else {"content": new["text"]}
    out = _calls(message, old["calls"], new["calls"], where) if new["calls"] != old["calls"] else {**message}
    content = _content(message, old, new)
    if content is not None or "content" in message:
        out["content"] = content
    if new["role"]:
        out["role"] = new["role"]
    if new["role"] == "assistant" and new["weight"] is not None and new["weight"] != old["weight"]:
        out["weight"] = 1 if new["weight"] else 0
    return out


def _selected(examples, rows) -> set[int]:
    chosen = set(range(len(examples))) if rows is None else set(rows)
    bad = sorted(r for r in chosen if not 0 <= r < len(examples))
    if bad:
        raise ValueError(f"rows {bad} are out of range: the dataset has {len(examples)} rows")
    return chosen


def set_system_prompt(examples, text: str, rows=None) -> list[dict]:
    """Set (or add) the system message on the chosen rows (a pair's prompt); an empty text removes it."""
    chosen, out = _selected(examples, rows), []
    for i, ex in enumerate(examples):
        if i in chosen:
            msgs = list(copy.deepcopy(sections(ex)["msg"]))
            if msgs and isinstance(msgs[0], dict) and msgs[0].get("role") == "system":
                msgs = msgs[1:]
            ex = with_sections(
                copy.deepcopy(ex), {"msg": ([{"role": "system", "content": text}] if text.strip() else []) + msgs}
            )
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
            for m in (m for msgs in sections(ex).values() for m in chat.messages(msgs)):  # a pair's answers too
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


def edited_example(example, shown: dict[str, list[dict]], tools: str) -> dict:
    """The example as the editor now shows it: per section, each message's `fields` as edited, and its tools.

    Raises EditError naming the message (and the call) whose edit cannot be saved; the original when unchanged."""
    pair, found = preference.is_pair(example, lenient=True), {}
    for name, msgs in sections(example).items():
        where = f"message {{}} of {SECTIONS[name]}" if pair else "message {}"
        new = [edited(m, shown[name][i], where.format(i + 1)) for i, m in enumerate(msgs)]
        if new != msgs:  # untouched sections stay exactly as they were, malformed or not
            found[name] = new
    return with_tools(with_sections(example, found) if found else example, tools)
