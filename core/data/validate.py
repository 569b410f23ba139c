"""Format checks, token limits and statistics for a chat fine-tuning dataset, in OpenAI's current chat format.

Every check of the guide's validation script and every format error type of OpenAI's data-prep
cookbook, plus the stricter checks other tools add (role order, system only first, blank
content). Findings carry the 1-based file line, the 0-based example row, the message number and a
one-line fix. Where the rules come from (OpenAI's docs, read 2026-12):
- the fine-tuning chat input reference (FineTuneChatRequestInput): an example is `messages` with
  optional `tools` (type "function", a function with name, description, JSON-schema parameters),
  `parallel_tool_calls` (a boolean) and the deprecated `functions`; roles system, user, assistant,
  tool and function; `name` on system, user, assistant and function messages; `weight` 0 or 1 on
  assistant messages only;
- the function-calling fine-tuning guide: an assistant turn's `tool_calls` (id, type "function",
  function name and `arguments` as a JSON string), with content null or absent; a `tool` message
  answers a call by `tool_call_id`; the legacy `function_call` and role `function` still work;
  function names match ^[a-zA-Z0-9_-]{1,64}$ (the chat completions reference);
- the vision fine-tuning guide: content may be a list of parts, `text` and `image_url`; images go
  in user messages only, and only models in core.prices.VISION_MODELS take them.
The checks this module adds to those rules: a tool result must answer a call made earlier in the
example, call ids are unique, a call names a function the example's tools define (when it gives
tools), and an example whose every assistant turn has weight 0 has nothing to learn.
Token counts follow the cookbooks (tiktoken for OpenAI models, a local model's tokenizer.json
otherwise); core.tokens says exactly how tool definitions, tool calls and content parts count, and
the `tool_tokens` statistic reports them apart (they are in total_tokens and billed_tokens, and
tool calls in the assistant's tokens).
CLI: `python -m core.data validate FILE [--model M] [--json]`.
A file's findings are capped per kind and a chat JSON Lines file is checked a chunk at a time, so validating
junk of any size holds little more than one chunk.
Test: `pytest tests/unit/test_validate.py tests/unit/test_validate_tools.py tests/unit/test_bad_inputs.py`.
"""

from __future__ import annotations

import itertools
import json
import json.scanner
import re
from array import array
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core import chat, costs, models, prices, templates, tokens
from core.data import ERROR, PER_KIND, WARNING, Finding, Findings, io, layouts, readers, total_of
from core.data.io import DEFAULT_MAX_BYTES, Loaded, gc_paused, load
from core.data.readers import shown, type_name

DEFAULT_MODEL = "gpt-4o-mini-2024-07-18"
_ABSENT = object()
# The keys each role's message takes in OpenAI's chat format ("weight" is checked on its own: assistant only).
KEYS_BY_ROLE = {
    "system": frozenset({"role", "content", "name"}),
    "user": frozenset({"role", "content", "name"}),
    "assistant": frozenset({"role", "content", "name", "weight", "tool_calls", "function_call"}),
    "tool": frozenset({"role", "content", "tool_call_id"}),
    "function": frozenset({"role", "content", "name"}),
}
ALLOWED_KEYS = frozenset().union(*KEYS_BY_ROLE.values())
ROLES = frozenset(KEYS_BY_ROLE)
PLAIN_ROLES = frozenset({"system", "user", "assistant"})  # the fast path's: a tool or function turn has more keys
FUNCTION_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")  # OpenAI's rule for function names
# Findings that depend on the model chosen, not on the file: an upload (core.server.files) has no model yet.
MODEL_KINDS = frozenset({"image_not_supported", "over_token_limit", "unknown_model"})
HINTS = {
    "data_type": "each line must be one JSON object",
    "missing_messages_list": 'give each example a non-empty "messages" list',
    "message_not_object": 'each message must be an object like {"role": "user", "content": "..."}',
    "message_missing_key": "each message needs a role and content (an assistant turn may have tool_calls instead); "
    "a tool message needs tool_call_id, a function message its name",
    "message_unrecognized_key": "keys OpenAI's chat format takes: role, content, name; assistant also weight, "
    "tool_calls, function_call; tool also tool_call_id; rename or move the others",
    "unrecognized_role": "use system, user, assistant, tool or function",
    "missing_content": 'content is a string or a list of parts like {"type": "text", "text": "..."}; '
    "null only beside tool_calls",
    "empty_content": "write the text, or drop the message",
    "assistant_without_output": "give the assistant turn its content or its tool_calls",
    "bad_weight": "weight is 0 (not learned) or 1 (learned), on assistant turns only",
    "nothing_to_learn": "set weight 1 on at least one assistant turn, or drop the example",
    "bad_tool_call": 'each call is {"id": "call_1", "type": "function", "function": {"name": ..., "arguments": ...}}',
    "bad_tool_arguments": 'arguments are a JSON object written as a string, like "{"city": "Paris"}"',
    "duplicate_tool_call_id": "give each call of an example its own id, and answer each id once",
    "tool_result_without_call": "put the tool message after the assistant turn that makes the call, with its id",
    "unknown_function": "add the function to the example's tools, or correct the call's name",
    "bad_function_name": "name functions with 1 to 64 letters, digits, '_' or '-'",
    "bad_tool_definition": 'each tool is {"type": "function", "function": {"name": ..., "parameters": {...}}}',
    "tool_parameters_not_object": 'write parameters as a JSON schema object: {"type": "object", "properties": {...}}',
    "image_not_supported": "choose a model that takes images, or keep images out of this dataset",
    "example_missing_assistant_message": "add the assistant's answer; it is what the model learns",
    "last_not_assistant": "end each example with the assistant's answer",
    "system_not_first": "put the system message first, once",
    "roles_not_alternating": "alternate user and assistant turns; many chat templates refuse otherwise",
    "no_system_message": "add the system prompt you will use in production to every example",
    "no_user_message": "add the user's turn",
    "over_token_limit": "shorten the example; the excess is truncated in training",
    "unknown_model": "pass token_limit, or choose a model from the price table",
}


@dataclass
class Report:
    """The outcome of validation; `errors` block training, `warnings` deserve a look."""

    examples: int
    errors: list[Finding]
    warnings: list[Finding]
    stats: dict
    counts_by_kind: dict

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def n_errors(self) -> int:
        """Every error found, those counted past the per-kind cap included."""
        return total_of(self.errors)

    @property
    def n_warnings(self) -> int:
        return total_of(self.warnings)


def _turns(roles: tuple) -> list[str]:
    """User and assistant turns in order; a run of tool results stands where the user's turn would."""
    out, before = [], None
    for role in roles:
        if role in ("tool", "function"):
            if before not in ("tool", "function"):
                out.append("user")
        elif role in ("user", "assistant"):
            out.append(role)
        before = role
    return out


def _order_problems(roles: tuple) -> list[tuple[str, str, str]]:
    """Role-order findings for one sequence of roles; validate caches them per sequence."""
    out = []
    if "assistant" not in roles:
        out.append(("example_missing_assistant_message", "no assistant message", ERROR))
    elif roles[-1] != "assistant":
        out.append(("last_not_assistant", f"the last message is {shown(roles[-1])}, not 'assistant'", ERROR))
    if "system" not in roles:
        out.append(("no_system_message", "no system message", WARNING))
    elif roles.index("system") > 0 or roles.count("system") > 1:
        out.append(("system_not_first", "a system message is not the first message", WARNING))
    if "user" not in roles:
        out.append(("no_user_message", "no user message", WARNING))
    turns = _turns(roles)
    for j, (before, now) in enumerate(zip(["assistant", *turns], turns, strict=False)):
        if before == now:
            where = "the first turn is the assistant's" if j == 0 else f"{now!r} follows {before!r}"
            out.append(("roles_not_alternating", f"roles do not alternate: {where}", WARNING))
            break
    return out


def _arguments_problem(arguments: object) -> str | None:
    """Why a call's arguments are not a JSON object written as a string, or None."""
    if not isinstance(arguments, str):
        return f"are {type_name(arguments)}, not a string of JSON"
    try:
        parsed = json.loads(arguments)
    except (ValueError, RecursionError) as exc:
        return f"are not valid JSON ({str(exc).split(':')[0]})"
    return None if isinstance(parsed, dict) else f"are JSON {type_name(parsed)}, not an object"


class _Example:
    """What one example's messages have said so far: call ids made and answered, weights, its function names."""

    def __init__(self, functions: set | None) -> None:
        self.functions = functions  # None: the example gives no tools, so any function name may be called
        self.called: set = set()
        self.answered: set = set()
        self.legacy_calls = 0
        self.assistants = self.learned = 0  # assistant turns, and those whose weight is not 0


class _Checker:
    """Collects findings; the slow paths that name what is wrong live here."""

    def __init__(self, per_kind: int | None, model: str = DEFAULT_MODEL) -> None:
        self.findings = Findings(per_kind)
        self.order_cache: dict[tuple, list] = {}
        self.model = model
        self.images = prices.takes_images(model)

    def add(self, kind: str, message: str, line, row, severity: str = ERROR) -> None:
        self.findings.add(Finding(kind, message, severity, line, row, HINTS.get(kind, "")))

    def not_conversation(self, obj: object, line: int, row) -> None:
        if not isinstance(obj, dict):
            return self.add("data_type", f"the entry is {type_name(obj)}, not an object", line, row)
        messages = obj.get("messages")
        if "messages" not in obj:
            what = f"no 'messages' key (keys: {', '.join(map(shown, list(obj)[:8])) or 'none'})"
        elif messages == []:
            what = "'messages' is empty"
        else:
            what = f"'messages' is {type_name(messages)}, not a list"
        self.add("missing_messages_list", what, line, row)

    # ---- the example's tools

    def tools(self, obj: dict, line: int, row) -> set | None:
        """Check `tools`, legacy `functions` and `parallel_tool_calls`; the function names given (None: no tools)."""
        names = None
        for key in ("tools", "functions"):
            if obj.get(key) is None:  # null reads as absent, as in the fast path
                continue
            entries, names = obj[key], names or set()
            if not isinstance(entries, list):
                self.add("bad_tool_definition", f"{key} is {type_name(entries)}, not a list", line, row)
                continue
            for k, entry in enumerate(entries, 1):
                if key == "tools":
                    entry = self._tool_function(entry, k, line, row)
                if entry is not None:
                    names.add(self._function(entry, f"{key[:-1]} {k}", line, row))
        flag = obj.get("parallel_tool_calls", False)
        if not isinstance(flag, bool):
            self.add("bad_tool_definition", f"parallel_tool_calls is {type_name(flag)}, not true or false", line, row)
        return names

    def _tool_function(self, tool: object, k: int, line: int, row) -> dict | None:
        if not isinstance(tool, dict) or tool.get("type") != "function":
            what = f"has type {shown(tool.get('type'))}" if isinstance(tool, dict) else f"is {type_name(tool)}"
            self.add("bad_tool_definition", f"tool {k} {what}, not 'function'", line, row)
            return None
        function = tool.get("function")
        if not isinstance(function, dict):
            self.add("bad_tool_definition", f"tool {k} has no 'function' object", line, row)
            return None
        return function

    def _function(self, function: object, where: str, line: int, row) -> str | None:
        if not isinstance(function, dict) or "name" not in function:
            self.add("bad_tool_definition", f"{where} has no name", line, row)
            return None
        name = function["name"]
        if not (isinstance(name, str) and FUNCTION_NAME.fullmatch(name)):
            self.add("bad_function_name", f"{where} is named {shown(name)}", line, row)
        params = function.get("parameters")
        if params is not None and not (
            isinstance(params, dict)
            and params.get("type") == "object"
            and isinstance(params.get("properties", {}), dict)
        ):
            what = f"type {shown(params.get('type'))}" if isinstance(params, dict) else type_name(params)
            self.add("tool_parameters_not_object", f"{where}'s parameters are {what}, not an object schema", line, row)
        return name if isinstance(name, str) else None

    # ---- messages

    def messages(self, messages: list, line: int, row, functions: set | None = None) -> list[str | None]:
        state = _Example(functions)
        roles = [self.message(m, j, line, row, state) for j, m in enumerate(messages, 1)]
        if state.assistants and not state.learned:
            self.add("nothing_to_learn", "every assistant turn has weight 0: nothing is learned", line, row)
        return roles

    def message(self, m: object, j: int, line: int, row, state: _Example | None = None) -> str | None:
        state = state or _Example(None)
        if not isinstance(m, dict):
            self.add("message_not_object", f"message {j} is {type_name(m)}, not an object", line, row)
            return None
        role, content = m.get("role"), m.get("content", _ABSENT)
        known = isinstance(role, str) and role in ROLES
        calls = known and role == "assistant" and ("tool_calls" in m or "function_call" in m)
        absent = [k for k in ("role", "content") if k not in m and not (k == "content" and calls)]
        if absent and not (role == "assistant" and absent == ["content"]):
            self.add("message_missing_key", f"message {j} has no {' or '.join(absent)}", line, row)
        allowed = KEYS_BY_ROLE[role] if known else ALLOWED_KEYS
        for key in m.keys() - allowed - {"weight"}:
            where = f", which {role} messages do not take" if key in ALLOWED_KEYS else ""
            self.add("message_unrecognized_key", f"message {j} has an unrecognized key {shown(key)}{where}", line, row)
        if "role" in m and not known:
            self.add("unrecognized_role", f"message {j} has role {shown(role)}", line, row)
        if "weight" in m:
            self._weight(m["weight"], role, j, line, row)
        if role == "assistant":
            state.assistants += 1
            state.learned += m.get("weight") != 0
        self._content(content, role, calls, j, line, row)
        if known and role != "assistant":
            self._answer(m, role, j, line, row, state)
        elif calls:
            self._calls(m, j, line, row, state)
        return role if isinstance(role, str) else None

    def _weight(self, weight: object, role, j: int, line: int, row) -> None:
        if role != "assistant":
            self.add(
                "bad_weight", f"message {j} ({shown(role)}) has a weight; only assistant turns take one", line, row
            )
        elif type(weight) is not int or weight not in (0, 1):
            self.add("bad_weight", f"message {j} has weight {shown(weight)}, not 0 or 1", line, row)

    def _content(self, content: object, role, calls: bool, j: int, line: int, row) -> None:
        if isinstance(content, str):
            if not content.strip() and not calls:
                self.add("empty_content", f"message {j} ({role}) has empty content", line, row)
        elif content is _ABSENT or content is None:
            if role == "assistant" and not calls:
                self.add(
                    "assistant_without_output",
                    f"message {j} (assistant) has neither content nor tool_calls",
                    line,
                    row,
                )
            elif content is None and not calls:
                self.add("missing_content", f"message {j} content is null, not a string", line, row)
        elif isinstance(content, list):
            self._parts(content, role, j, line, row)
        else:
            self.add("missing_content", f"message {j} content is {type_name(content)}, not a string", line, row)

    def _parts(self, parts: list, role, j: int, line: int, row) -> None:
        text = images = 0
        for k, part in enumerate(parts, 1):
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text" and isinstance(part.get("text"), str):
                text += bool(part["text"].strip())
            elif kind == "image_url" and isinstance(part.get("image_url"), dict) and "url" in part["image_url"]:
                images += 1
            else:
                what = (
                    f"{type_name(part)}" if not isinstance(part, dict) else f"a {shown(kind)} part without its value"
                )
                msg = f'message {j} content is a list, but part {k} is {what}, not {{"type": "text", "text": ...}}'
                return self.add("missing_content", msg, line, row)
        if images and role != "user":
            self.add(
                "image_not_supported", f"message {j} ({role}) has an image; images go in user messages only", line, row
            )
        elif images and not self.images:
            which = ", ".join(prices.VISION_MODELS)
            msg = (
                f"message {j} has an image, but {self.model} takes no images in fine-tuning (models that do: {which})"
            )
            self.add("image_not_supported", msg, line, row)
        if not text and not images:
            self.add("empty_content", f"message {j} ({role}) has no text in its content parts", line, row)

    def _calls(self, m: dict, j: int, line: int, row, state: _Example) -> None:
        if "function_call" in m:  # legacy: one call, no id
            state.legacy_calls += 1
            self._call_function(m["function_call"], f"message {j}'s function_call", line, row, state)
        if "tool_calls" not in m:
            return
        calls = m["tool_calls"]
        if not isinstance(calls, list) or not calls:
            what = "empty" if calls == [] else type_name(calls)
            return self.add("bad_tool_call", f"message {j} tool_calls is {what}, not a list of calls", line, row)
        for k, call in enumerate(calls, 1):
            where = f"message {j} call {k}"
            if not isinstance(call, dict) or not isinstance(call.get("id"), str) or not call["id"]:
                what = "has no id" if isinstance(call, dict) else f"is {type_name(call)}"
                self.add("bad_tool_call", f"{where} {what}", line, row)
                continue
            if call["id"] in state.called:
                self.add("duplicate_tool_call_id", f"{where} reuses the id {shown(call['id'])}", line, row)
            state.called.add(call["id"])
            if call.get("type") != "function":
                self.add("bad_tool_call", f"{where} has type {shown(call.get('type'))}, not 'function'", line, row)
            self._call_function(call.get("function"), where, line, row, state)

    def _call_function(self, function: object, where: str, line: int, row, state: _Example) -> None:
        if not isinstance(function, dict) or "name" not in function:
            return self.add("bad_tool_call", f"{where} names no function", line, row)
        name = function["name"]
        if not (isinstance(name, str) and FUNCTION_NAME.fullmatch(name)):
            self.add("bad_function_name", f"{where} calls a function named {shown(name)}", line, row)
        elif state.functions is not None and name not in state.functions:
            given = ", ".join(sorted(map(str, state.functions - {None}))) or "none"
            self.add(
                "unknown_function", f"{where} calls {shown(name)}, not among the example's tools ({given})", line, row
            )
        if problem := _arguments_problem(function.get("arguments")):
            self.add("bad_tool_arguments", f"{where}'s arguments {problem}", line, row)

    def _answer(self, m: dict, role: str, j: int, line: int, row, state: _Example) -> None:
        """A tool (or legacy function) result must answer a call made earlier in the example."""
        if role == "function":
            if "name" not in m:
                self.add("message_missing_key", f"message {j} (function) has no name", line, row)
            if not state.legacy_calls:
                self.add(
                    "tool_result_without_call", f"message {j} (function) answers no earlier function_call", line, row
                )
            return
        if role != "tool":
            return
        call_id = m.get("tool_call_id", _ABSENT)
        if call_id is _ABSENT:
            return self.add("message_missing_key", f"message {j} (tool) has no tool_call_id", line, row)
        if not isinstance(call_id, str) or call_id not in state.called:
            msg = f"message {j} (tool) answers call id {shown(call_id)}, which no earlier assistant turn made"
            self.add("tool_result_without_call", msg, line, row)
        elif call_id in state.answered:
            self.add("duplicate_tool_call_id", f"message {j} (tool) answers call id {shown(call_id)} again", line, row)
        state.answered.add(call_id)


def _fast_roles(messages: list) -> list[str] | None:
    """The roles when every message is a plain, well-formed {role, content}; None sends it to the slow path.

    This loop runs for every message of every file checked, so it is kept to the bare tests;
    anything unusual (not a dict, a key missing, an unhashable role) raises or fails one.
    """
    roles = []
    try:
        for m in messages:
            role, content = m["role"], m["content"]
            if len(m) != 2 or role not in PLAIN_ROLES or type(content) is not str or not content or content.isspace():
                return None
            roles.append(role)
    except (KeyError, TypeError):
        return None
    return roles


_SCAN = json.scanner.make_scanner(json.JSONDecoder())
_GOOD_NAMES: set = set()  # function names already matched against FUNCTION_NAME (a bounded cache)


def _good_name(name: object) -> bool:
    if name in _GOOD_NAMES:
        return True
    if type(name) is not str or not FUNCTION_NAME.fullmatch(name):
        return False
    if len(_GOOD_NAMES) < 10_000:
        _GOOD_NAMES.add(name)
    return True


def _fast_functions(obj: dict) -> set | None | bool:
    """The function names of a well-formed `tools` list (None: no tools, any call goes); False sends it to the
    checker, which names what is wrong. Like _fast_roles, kept to the bare tests for every example of a file."""
    names = None
    try:
        for key in ("tools", "functions"):
            entries = obj.get(key)
            if entries is None:
                continue
            names = set() if names is None else names
            for entry in entries:
                if key == "tools":
                    if entry["type"] != "function":
                        return False
                    entry = entry["function"]
                name, params = entry["name"], entry.get("parameters")
                if (
                    not _good_name(name)
                    or params is not None
                    and (params["type"] != "object" or type(params.get("properties", {})) is not dict)
                ):
                    return False
                names.add(name)
    except (KeyError, TypeError):
        return False
    if type(obj.get("parallel_tool_calls", False)) is not bool:
        return False
    return names


def _fast_tool_roles(messages: list, functions: set | None) -> list[str] | None:
    """The roles when every message is plain, an assistant turn of well-formed tool_calls, or a tool result
    answering one of them; None sends the example to the checker, which names what is wrong."""
    roles, called, answered = [], set(), set()
    scan = _SCAN  # the C scanner: an object from the first character to the last, or the checker decides
    try:
        for m in messages:
            role, n = m["role"], len(m)
            content = m.get("content")
            if role == "assistant" and "tool_calls" in m:
                if n != 3 - ("content" not in m) or content is not None and type(content) is not str:
                    return None
                for c in m["tool_calls"]:
                    f, call_id = c["function"], c["id"]
                    if c["type"] != "function" or type(call_id) is not str or not call_id or call_id in called:
                        return None
                    if not _good_name(f["name"]) or functions is not None and f["name"] not in functions:
                        return None
                    arguments = f["arguments"]
                    if type(arguments) is not str or arguments[:1] != "{" or scan(arguments, 0)[1] != len(arguments):
                        return None
                    called.add(call_id)
                if not m["tool_calls"]:
                    return None
            elif role == "tool":
                call_id = m["tool_call_id"]
                if n != 3 or type(content) is not str or content.isspace() or not content or call_id not in called:
                    return None
                if call_id in answered:
                    return None
                answered.add(call_id)
            elif n != 2 or role not in PLAIN_ROLES or type(content) is not str or not content or content.isspace():
                return None
            roles.append(role)
    except (KeyError, TypeError, ValueError, RecursionError, StopIteration):
        return None
    return roles


# ---------------------------------------------------------------- statistics


def distribution(values: list[float]) -> dict:
    """min, max, mean, median, p10, p90 (numpy's linear percentiles, as the cookbook uses)."""
    if not values:
        return dict.fromkeys(("min", "max", "mean", "median", "p10", "p90"))
    a = np.asarray(values, dtype=float)
    p10, median, p90 = np.percentile(a, [10, 50, 90])
    return {
        "min": int(a.min()),
        "max": int(a.max()),
        "mean": round(float(a.mean()), 2),
        "median": float(median),
        "p10": float(p10),
        "p90": float(p90),
    }


def default_epochs(n: int) -> int:
    """OpenAI's default n_epochs for n examples (core.costs has the rule); 3 for an empty file."""
    return costs.default_epochs(n) if n else costs.TARGET_EPOCHS


# str.split()'s whitespace among ASCII bytes (\t \n \v \f \r, 0x1c-0x1f, space) become " ", the rest "w".
_WORD_TABLE = bytes(0x20 if b in (9, 10, 11, 12, 13, 28, 29, 30, 31, 32) else 0x77 for b in range(256))


def word_total(texts: list[str]) -> int:
    """sum(len(t.split()) for t in texts), without building every word.

    ASCII texts are joined (a newline before each), mapped to spaces and "w"s with one
    bytes.translate, and their word starts (a space then a "w") counted in numpy; splitting
    100k answers into words took as long as parsing them. Other texts are split as usual.
    """
    total = sum(len(t.split()) for t in texts if not t.isascii())
    ascii_texts = [t for t in texts if t.isascii()]
    for start in range(0, len(ascii_texts), 20_000):  # chunks bound the temporary copies
        joined = ("\n" + "\n".join(ascii_texts[start : start + 20_000])).encode("ascii")
        marks = np.frombuffer(joined.translate(_WORD_TABLE), dtype=np.uint8)
        total += int(np.count_nonzero(marks[:-1] < marks[1:]))  # " " (0x20) then "w" (0x77)
    return total


def _last_assistant_text(messages: list) -> str | None:
    """The final message's text when it is the assistant's (the guide's statistic skips other endings)."""
    content = messages[-1].get("content") if chat.last_assistant_at(messages) == len(messages) - 1 else None
    return content if isinstance(content, str) else None


# ---------------------------------------------------------------- tokens


class _Tokenizer:
    """Counts tokens of many strings: tiktoken for OpenAI models, tokenizer.json for local ones."""

    def __init__(self, model: str) -> None:
        local = Path(model)
        file = local / "tokenizer.json" if local.is_dir() else local
        self.limit = None
        if file.suffix == ".json" and file.is_file():
            from tokenizers import Tokenizer

            self.local, self.name = Tokenizer.from_file(str(file)), str(file)
            self.limit = _model_max_length(file.parent)
        else:
            self.local, self.name = None, tokens.encoding_name_for(model)
            self.enc = tokens.encoding(self.name)

    def count(self, texts: list[str]) -> list[int]:
        # System prompts and boilerplate repeat across a dataset: count each distinct string once.
        unique = list(dict.fromkeys(texts))
        if len(unique) < len(texts):
            counted = dict(zip(unique, self._count(unique), strict=True))
            return [counted[t] for t in texts]
        return self._count(texts)

    def _count(self, texts: list[str]) -> list[int]:
        if self.local is not None:
            try:
                encoded = self.local.encode_batch(texts, add_special_tokens=False)
            except TypeError:  # lone surrogates: count them as tiktoken does, as replacement characters
                clean = [t.encode("utf-16", "surrogatepass").decode("utf-16", "replace") for t in texts]
                encoded = self.local.encode_batch(clean, add_special_tokens=False)
            return [len(e.ids) for e in encoded]
        encode = self.enc.encode_ordinary  # sequential beats encode_ordinary_batch on 2 cores
        return [len(encode(t)) for t in texts]


def _model_max_length(folder: Path) -> int | None:
    try:
        value = json.loads((folder / "tokenizer_config.json").read_text()).get("model_max_length")
    except (OSError, ValueError, AttributeError):
        return None
    return int(value) if isinstance(value, (int, float)) and value < models.NO_LIMIT else None


_OTHER, _ANSWER, _CALL, _DEFINITION = range(4)  # whose tokens a counted text is
TOOL_TOKENS_HOW = (
    "definitions: OpenAI's cookbook framing per function, property and enum plus 'name:description' and each "
    "'property:type:description'; calls: each function name and arguments string, counted as assistant output; "
    "both are in total_tokens and billed_tokens"
)
LOCAL_TOOL_TOKENS_HOW = (
    "definitions: each function's JSON text with this tokenizer; calls: each function name and arguments string, "
    "counted as assistant output; both are in total_tokens"
)


def _count_chunk(convs: list[list], functions: list, tok: _Tokenizer, role_cache: dict) -> tuple[list, list, list]:
    """Per conversation: its tokens (core.tokens' accounting), its assistant output's (content and tool calls);
    and the chunk's tool tokens [definitions, calls]. Each distinct text is counted once."""
    texts, owners = [], []  # owner: (example index, whose text)
    totals = [tokens.REPLY_PRIMER] * len(convs)
    tool = [0, 0]
    for i, messages in enumerate(convs):
        if functions[i]:
            fixed, found = tokens.definition_texts(functions[i], tok.name)
            totals[i] += fixed
            tool[0] += fixed
            texts += found
            owners += [(i, _DEFINITION)] * len(found)
        for m in messages:
            if not isinstance(m, dict):
                continue
            totals[i] += tokens.TOKENS_PER_MESSAGE
            for key, value in m.items():
                if not isinstance(value, str):  # content parts and tool calls; plain messages never come here
                    extra = tokens.part_texts(value) if key == "content" else None
                    if key in ("tool_calls", "function_call") and m.get("role") == "assistant":
                        extra = tokens.call_texts({key: value})
                    if extra:
                        texts += extra
                        whose = _CALL if key != "content" else _ANSWER if m.get("role") == "assistant" else _OTHER
                        owners += [(i, whose)] * len(extra)
                    continue
                if key == "role":  # a handful of distinct roles: count each once
                    if value not in role_cache:
                        role_cache[value] = tok.count([value])[0]
                    totals[i] += role_cache[value]
                    continue
                totals[i] += tokens.TOKENS_PER_NAME if key == "name" else 0
                texts.append(value)
                owners.append((i, _ANSWER if key == "content" and m.get("role") == "assistant" else _OTHER))
    assistant = [0] * len(convs)
    for (i, whose), n in zip(owners, tok.count(texts), strict=True):
        totals[i] += n
        if whose in (_ANSWER, _CALL):
            assistant[i] += n
        if whose in (_CALL, _DEFINITION):
            tool[whose == _CALL] += n
    return totals, assistant, tool


def _token_limit(model: str, token_limit: int | None, tok: _Tokenizer, check: _Checker) -> int | None:
    if token_limit or tok.local is not None:
        return token_limit or tok.limit
    try:  # a fine-tuned id "ft:gpt-4o-mini-2024-07-18:org::abc" has its base model's limit
        return int(prices.openai_row(model.removeprefix("ft:").split(":")[0])["example_token_limit"])
    except (KeyError, TypeError, ValueError):
        check.add("unknown_model", f"no per-example token limit known for {model!r}", None, None, WARNING)
        return None


# ---------------------------------------------------------------- entry points


def _inputs(data) -> tuple[list, list[int], list[Finding], bool]:
    """Records to check, their lines, reading problems to carry over, and whether rows count examples."""
    if not isinstance(data, Loaded):
        records = list(data)
        return records, list(range(1, len(records) + 1)), [], False
    if data.fmt != "chat":  # converted layouts: check what the conversion produced
        return data.examples, data.lines, list(data.findings), True
    carried = [f for f in data.findings if f.kind != "skipped"]  # the checks report those precisely
    return data.raw, data.raw_lines or list(range(1, len(data.raw) + 1)), carried, True


def validate(data, model: str = DEFAULT_MODEL, token_limit: int | None = None, count_tokens: bool = True) -> Report:
    """Check a Loaded dataset or a list of records; count tokens unless count_tokens is False.

    Finding.row is the example's index in loaded.examples (a list of records: its index there).
    A file's findings are capped per kind (core.data.Findings); a list's are all kept, since the Data
    page's editor filters its rows by them and they cost no more than the examples already in memory.
    """
    with gc_paused():
        return _validate(data, model, token_limit, count_tokens)


class _Run:
    """One validation, fed records a chunk at a time: the checks, and the per-example numbers the statistics need.

    Only those numbers outlive a chunk, so validate_file holds one chunk of a file's records at a time.
    """

    def __init__(self, model: str, token_limit: int | None, count_tokens: bool, per_kind: int | None) -> None:
        self.check, self.model = _Checker(per_kind, model), model
        self.tok = _Tokenizer(model) if count_tokens else None
        self.limit = _token_limit(model, token_limit, self.tok, self.check) if self.tok else None
        self.records = self.examples = self.answers = self.answer_words = self.over = 0
        self.lengths, self.totals, self.assistant = array("q"), array("q"), array("q")
        self.role_cache: dict = {}
        self.tool_tokens = [0, 0]  # definitions, calls
        self.last_tools, self.last_names = None, None  # the last well-formed tools seen, and their function names

    def feed(self, records: list, lines: list[int], rows_are_examples: bool) -> None:
        check, cache = self.check, self.check.order_cache
        convs, conv_lines, conv_rows, functions = [], [], [], []
        for i, (obj, line) in enumerate(zip(records, lines, strict=True), self.records):
            messages = obj.get("messages") if isinstance(obj, dict) else None
            if not isinstance(messages, list):
                check.not_conversation(obj, line, None if rows_are_examples else i)
                continue
            row = self.examples if rows_are_examples else i
            self.examples += 1
            if not messages:
                check.not_conversation(obj, line, row)
                continue
            roles = _fast_roles(messages)
            given = None
            if len(obj) > 1:  # tools, functions, parallel_tool_calls: checked where they are well-formed, else named
                tools = (obj.get("tools"), obj.get("functions"), obj.get("parallel_tool_calls"))
                if tools == self.last_tools:  # files repeat one tools list: compared in C, checked once
                    given = self.last_names
                else:
                    given = _fast_functions(obj)
                    if given is False:
                        given = check.tools(obj, line, row)
                    else:
                        self.last_tools, self.last_names = tools, given
            if roles is None:
                roles = _fast_tool_roles(messages, given)
            if roles is None:
                roles = check.messages(messages, line, row, given)
            problems = cache.get(key := tuple(roles))  # the order checks, once per role sequence
            if problems is None:
                problems = cache[key] = _order_problems(key)
            for kind, message, severity in problems:
                check.add(kind, message, line, row, severity)
            convs.append(messages)
            conv_lines.append(line)
            conv_rows.append(row)
            functions.append(templates.tools_of(obj) if given is not None and self.tok else None)
        self.records += len(records)
        self._add_numbers(convs, conv_lines, conv_rows, functions)

    def _add_numbers(self, convs: list[list], lines: list[int], rows: list[int], functions: list) -> None:
        self.lengths.extend(len(m) for m in convs)
        answers = [t for t in map(_last_assistant_text, convs) if t is not None]
        self.answers += len(answers)
        self.answer_words += word_total(answers)
        for start in range(0, len(convs) if self.tok else 0, 5000):  # chunks bound the memory of the text lists
            end = start + 5000
            totals, assistant, tool = _count_chunk(convs[start:end], functions[start:end], self.tok, self.role_cache)
            for i, n in enumerate(totals, start):
                if self.limit and n > self.limit:
                    msg = f"{n} tokens, over the {self.limit}-token limit for {self.model}"
                    self.check.add("over_token_limit", msg, lines[i], rows[i], WARNING)
                    self.over += 1
            self.totals.extend(totals)
            self.assistant.extend(assistant)
            self.tool_tokens = [a + b for a, b in zip(self.tool_tokens, tool, strict=True)]

    def report(self) -> Report:
        stats = {
            "examples": self.records,
            "conversations": len(self.lengths),
            # The guide's statistic: words of the final assistant message, averaged.
            "avg_assistant_words": round(self.answer_words / self.answers, 2) if self.answers else None,
            "messages_per_example": distribution(self.lengths),
        }
        if self.tok:
            stats.update(self._token_stats())
        findings = sorted(self.check.findings.items(), key=lambda f: f.line or 0)
        errors = [f for f in findings if f.severity == ERROR]
        warnings = [f for f in findings if f.severity != ERROR]
        return Report(self.records, errors, warnings, stats, dict(self.check.findings.counts.most_common()))

    def _token_stats(self) -> dict:
        totals, assistant, limit = self.totals, self.assistant, self.limit
        epochs = default_epochs(len(totals))
        return {
            "tokenizer": self.tok.name,
            "token_limit": limit,
            "avg_assistant_tokens": round(sum(assistant) / len(assistant), 2) if assistant else None,
            "tokens_per_example": distribution(totals),
            "assistant_tokens_per_example": distribution(assistant),
            "total_tokens": sum(totals),
            "tool_tokens": {
                "definitions": self.tool_tokens[0],
                "calls": self.tool_tokens[1],
                "how": TOOL_TOKENS_HOW if self.tok.local is None else LOCAL_TOOL_TOKENS_HOW,
            },
            "examples_over_limit": self.over,
            "n_epochs": epochs,
            # What a training run is billed: every epoch, each example capped at the limit.
            "billed_tokens": epochs * sum(min(limit, n) if limit else n for n in totals),
        }


def _validate(data, model: str, token_limit: int | None, count_tokens: bool) -> Report:
    records, lines, carried, rows_are_examples = _inputs(data)
    run = _Run(model, token_limit, count_tokens, PER_KIND if isinstance(data, Loaded) else None)
    run.check.findings.extend(carried)
    run.feed(records, lines, rows_are_examples)
    return run.report()


def _chat_chunks(path: Path, fmt: str | None, mapping: dict | None, max_bytes: int):
    """A chat JSON Lines file's chunks (core.data.readers.stream), or None where load() reads it whole.

    load() keeps every record (a layout to convert, a table to map, an array, a file with one record or none).
    """
    source, layout = io.split_fmt(fmt)
    if mapping is not None or layout not in (None, "chat"):
        return None
    chunks = readers.stream(path, source, max_bytes)
    lines, records = next(chunks) if chunks is not None else (None, None)
    if not records or (len(records) == 1 and isinstance(records[0], list)):
        return None
    if layout is None and layouts.detect(records, "chat") != "chat":
        return None
    return itertools.chain([(lines, records)], chunks)


def validate_file(
    path,
    model: str = DEFAULT_MODEL,
    fmt: str | None = None,
    token_limit: int | None = None,
    mapping: dict | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    count_tokens: bool = True,
) -> Report:
    """load + validate, a chat JSON Lines file a chunk at a time; raises DataError when it cannot be read at all."""
    path = Path(path)
    with gc_paused(), io.reading(path):  # one pause for both steps, and the records freed before the GC returns
        chunks = _chat_chunks(path, fmt, mapping, max_bytes)
        if chunks is None:
            loaded = load(path, fmt=fmt, mapping=mapping, max_bytes=max_bytes)
            return validate(loaded, model=model, token_limit=token_limit, count_tokens=count_tokens)
        run = _Run(model, token_limit, count_tokens, PER_KIND)
        for lines, records in chunks:
            if lines is None:  # the last: the reader's findings
                run.check.findings.extend(records)
            else:
                run.feed(records, lines, True)
        return run.report()


def report_json(report: Report) -> dict:
    """The CLI's --json shape; line is null for findings about the whole file."""

    def brief(findings: list[Finding]) -> list[dict]:
        return [{"line": f.line, "kind": f.kind, "message": f.message} for f in findings]

    return {
        "examples": report.examples,
        "error_count": report.n_errors,
        "warning_count": report.n_warnings,
        "errors": brief(report.errors),
        "warnings": brief(report.warnings),
        "stats": report.stats,
    }
