"""Tools in the local API's chat completions: what a request may offer and what a reply's calls become.

`tools(body)` checks OpenAI's `tools` and `tool_choice` (only "auto" and "none": a local model cannot be
made to call a tool), and refuses the deprecated `functions`; `calls(value, where)` checks an assistant
turn's `tool_calls`. Each refusal is OpenAI's error shape naming the parameter. `not_shown` refuses a
template that drops what it was given (core.generation.ToolsNotShown). `openai_call` turns a call read from
the reply (core.generation.tool_calls_in) into OpenAI's form; `before_calls` streams the text before the
first call block and keeps the rest for the end. core.server.chat uses these.
Test: `.venv/bin/pytest tests/jobs/test_server_chat_tools.py tests/unit/test_generation.py -q`.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Iterator
from typing import Any

from core import generation
from core.data import chat_format
from core.server import ApiError, bad_request

CHOICES = ("auto", "none")  # "required" and a named function would need constrained decoding


def _arguments(value: Any, where: str) -> str:
    """A call's arguments: OpenAI's JSON string, which must hold an object (the template writes it as one)."""
    try:
        parsed = json.loads(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        raise bad_request(f"{where} must be a JSON object written as a string, not {str(value)[:60]!r}", where)
    return value


def calls(value: Any, where: str) -> list[dict]:
    if not isinstance(value, list):
        raise bad_request(f"{where} must be an array of tool calls", where)
    out = []
    for j, call in enumerate(value):
        at = f"{where}[{j}]"
        fn = call.get("function") if isinstance(call, dict) else None
        if (
            not isinstance(fn, dict)
            or not isinstance(call.get("id"), str)
            or call.get("type", "function") != "function"
        ):
            raise bad_request(f"{at} must be {{id, type: 'function', function: {{name, arguments}}}}", at)
        if not isinstance(fn.get("name"), str) or not chat_format.FUNCTION_NAME.fullmatch(fn["name"]):
            raise bad_request(f"{at}.function.name must be 1 to 64 letters, digits, '_' or '-'", f"{at}.function.name")
        args = _arguments(fn.get("arguments", "{}"), f"{at}.function.arguments")
        out.append({"id": call["id"], "type": "function", "function": {"name": fn["name"], "arguments": args}})
    return out


def _definition(tool: Any, where: str) -> dict:
    if not isinstance(tool, dict) or tool.get("type") != "function":
        found = tool.get("type") if isinstance(tool, dict) else tool
        raise bad_request(
            f"{where}.type must be 'function' (the only tool local models take), not {found!r}", f"{where}.type"
        )
    fn = tool.get("function")
    if not isinstance(fn, dict):
        raise bad_request(f"{where}.function must be an object with a name", f"{where}.function")
    name = fn.get("name")
    if not isinstance(name, str) or not chat_format.FUNCTION_NAME.fullmatch(name):
        raise bad_request(
            f"Invalid '{where}.function.name': {name!r} does not match the pattern '^[a-zA-Z0-9_-]{{1,64}}$'.",
            f"{where}.function.name",
        )
    if not isinstance(fn.get("parameters", {}), dict):
        raise bad_request(f"{where}.function.parameters must be a JSON Schema object", f"{where}.function.parameters")
    return tool


def tools(body: dict) -> tuple[list[dict] | None, str]:
    """(the tools, the tool_choice) of a request, checked; only what a local model can honour is accepted."""
    if body.get("functions") is not None or body.get("function_call") is not None:
        raise bad_request(
            "functions and function_call are the deprecated form of tools: send "
            "tools=[{'type': 'function', 'function': {...}}] (and tool_choice) instead",
            "functions",
        )
    tools, choice = body.get("tools"), body.get("tool_choice")
    if tools is not None and not isinstance(tools, list):
        raise bad_request("tools must be an array of {type: 'function', function: {name, ...}} objects", "tools")
    if choice is not None and not tools:
        raise bad_request(
            "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.", "tool_choice"
        )
    if choice is not None and choice not in CHOICES:
        raise bad_request(
            f"tool_choice must be 'auto' or 'none' here, not {json.dumps(choice)[:80]}: a local model cannot be made "
            "to call a tool ('required' or a named function)",
            "tool_choice",
        )
    return [_definition(t, f"tools[{i}]") for i, t in enumerate(tools or [])] or None, choice or "auto"


def not_shown(exc: generation.ToolsNotShown, model: str) -> ApiError:
    """A template that would drop a tool, a call or a result: refused, since the model would answer without it."""
    return bad_request(
        f"The chat template of `{model}` drops {exc.what}, so the model would answer without it: the template "
        "has no place for tools (SmolLM2's own has none). Serve a model whose chat template takes tools, such as "
        'one fine-tuned with chat_template "tools" (the workbench\'s tool template, which its runs save), or send '
        "the request without them.",
        exc.param,
    )


def openai_call(call: dict) -> dict[str, Any]:
    """A call read from the reply in OpenAI's tool_calls form: a fresh id, the arguments as a JSON string."""
    arguments = json.dumps(call["arguments"], ensure_ascii=False)
    return {
        "id": f"call_{secrets.token_hex(12)}",
        "type": "function",
        "function": {"name": call["name"], "arguments": arguments},
    }


def before_calls(pieces: Iterable[str], rest: list[str]) -> Iterator[str]:
    """The reply's text up to its first call block, as it comes; the block and everything after go into `rest`.

    A tail that could be the start of the block's opening tag is held back until the next piece says.
    """
    held, opening = "", generation.CALL_OPEN
    for piece in pieces:
        if rest:
            rest.append(piece)
            continue
        held += piece
        if opening in held:
            at = held.index(opening)
            if at:
                yield held[:at]
            rest.append(held[at:])
            continue
        keep = next((n for n in range(min(len(held), len(opening) - 1), 0, -1) if opening.startswith(held[-n:])), 0)
        if len(held) > keep:
            yield held[: len(held) - keep]
            held = held[len(held) - keep :]
    if held and not rest:
        yield held
