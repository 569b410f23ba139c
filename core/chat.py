"""One way to read a chat example: its messages, its prompt, its reference answer, its turns' text.

An example is a record `{"messages": [...]}` (OpenAI's chat format) or a bare messages list. Every
reader here is defensive, because the validator (core.data.validate) is what reports malformed
examples; these return empty values instead of raising.
Two meanings of "the prompt" are kept apart on purpose:
- `prompt_and_reference(example)`: the guide's evaluation convention, every message before the last
  one (system and earlier turns included) and the last message's content. Evaluate, Arena and
  few-shot prompts use it.
- `first_user(example)`: the text of the first user turn, what the example asks. The quality
  checks use it to sort examples into task types and to see whether an answer covers its question,
  where a shared system prompt or the earlier answers would blur the reading.
Test: `pytest tests/unit/test_chat.py`.
"""

from __future__ import annotations

import json
from typing import Any


def raw_messages(example: Any) -> list:
    """The messages list itself (items unchecked), or []: for editors, which must show malformed items too."""
    if isinstance(example, dict):
        example = example.get("messages")
    return example if isinstance(example, list) else []


def messages(example: Any) -> list[dict]:
    """The example's messages that are objects, in order; [] when it has none."""
    return [m for m in raw_messages(example) if isinstance(m, dict)]


def problem(record: Any) -> str | None:
    """Why a record is not a chat example, in words (None when it is one): a file reader raises it with the line."""
    if not isinstance(record, dict):
        return f"expected a JSON object with a 'messages' list, got {type(record).__name__}"
    found = record.get("messages")
    if found is None:
        return f"no 'messages' list (keys found: {', '.join(map(str, record)) or 'none'})"
    if not isinstance(found, list) or not found:
        return f"'messages' must be a non-empty list, got {json.dumps(found)[:40]}"
    bad = next((i for i, m in enumerate(found) if not isinstance(m, dict)), None)
    return None if bad is None else f"message {bad + 1} is not an object with 'role' and 'content'"


def content_text(content: Any, sep: str = "") -> str | None:
    """A message's text: a string, None (""), or the text of OpenAI content parts joined by `sep`;
    None for anything else, so a strict caller can say what it found."""
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, list):
        return sep.join(text_parts(content))
    return None


def text_parts(content: Any) -> list[str]:
    """The texts of a list of OpenAI content parts, in order (image parts carry none); [] for anything else."""
    if not isinstance(content, list):
        return []
    return [p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)]


def tool_calls(message: Any) -> list[dict]:
    """An assistant message's calls in OpenAI's tool_calls form ({"id", "type", "function": {"name", "arguments"}}).

    The legacy `function_call` reads as one call without an id; items that are not objects are left out;
    [] for a message that calls nothing. Arguments stay as written (OpenAI sends a JSON string).
    """
    if not isinstance(message, dict):
        return []
    calls = message.get("tool_calls")
    if isinstance(calls, list):
        return [c for c in calls if isinstance(c, dict)]
    legacy = message.get("function_call")
    if isinstance(legacy, dict):
        return [{"type": "function", "function": legacy}]
    return []


def texts(example: Any, role: str, calls: bool = True) -> list[str]:
    """The text of the messages with this role, in order: a string, or its content parts' text on separate lines.

    A message with no text (null content, as a tool call's) is left out; `calls=False` also leaves out the
    turns that call tools, whose text only leads into the call."""
    # One plain loop over the raw list: the quality checks call this for every example, twice.
    out = []
    for m in raw_messages(example):
        if (
            isinstance(m, dict)
            and m.get("role") == role
            and (calls or not (m.get("tool_calls") or m.get("function_call")))
        ):
            content = m.get("content")
            if isinstance(content, str):
                out.append(content)
            elif isinstance(content, list):
                out.append(content_text(content, "\n"))
    return out


def first_user(example: Any) -> str:
    """The first user turn's text ("" when there is none): what the example asks."""
    users = texts(example, "user")
    return users[0] if users else ""


def last_answer(example: Any) -> str:
    """The last assistant turn's text that calls no tool ("" when there is none): the answer the checks read."""
    answers = texts(example, "assistant", calls=False)
    return answers[-1] if answers else ""


def last_assistant_at(example: Any) -> int | None:
    """The index (in `raw_messages`) of the last message whose role is assistant; None when there is none."""
    msgs = raw_messages(example)
    for i in range(len(msgs) - 1, -1, -1):  # a plain loop: the validator calls this once per example
        if isinstance(msgs[i], dict) and msgs[i].get("role") == "assistant":
            return i
    return None


def last_assistant(example: Any) -> dict | None:
    """The last message whose role is assistant, whatever its content; None when there is none."""
    i = last_assistant_at(example)
    return None if i is None else raw_messages(example)[i]


def prompt_and_reference(example: Any) -> tuple[list[dict], str]:
    """(every message before the last, the last message's content): the guide's evaluate_model convention."""
    msgs = messages(example)
    if not msgs:
        return [], ""
    return msgs[:-1], str(msgs[-1].get("content") or "")
