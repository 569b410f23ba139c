"""OpenAI's chat format for fine-tuning, message by message: the keys each role takes, the tool-calling rules,
the fix hints, and the checks that name what breaks them (line, message number, a one-line fix).

core.data.validate runs these on every example and adds token counts and statistics; its docstring says
which rule comes from which of OpenAI's documents. Two fast paths (`fast_roles` for plain {role, content}
turns, `fast_tool_roles` for well-formed tool calls and results) accept the common shapes in a tight loop;
anything else goes to `Checker`, which finds and names every problem.
Test: `pytest tests/unit/test_validate_tools.py tests/unit/test_validate.py`.
"""

from __future__ import annotations

import json
import json.scanner
import re

from core import prices
from core.data import ERROR, WARNING, Finding, Findings
from core.data.readers import shown, type_name

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
    "bad_tool_arguments": 'write arguments as a string holding a JSON object, e.g. json.dumps({"city": "Paris"})',
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


def order_problems(roles: tuple) -> list[tuple[str, str, str]]:
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


class Checker:
    """Collects findings; the slow paths that name what is wrong live here."""

    def __init__(self, per_kind: int | None, model: str) -> None:
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


def fast_roles(messages: list) -> list[str] | None:
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


def fast_functions(obj: dict) -> set | None | bool:
    """The function names of a well-formed `tools` list (None: no tools, any call goes); False sends it to the
    checker, which names what is wrong. Like fast_roles, kept to the bare tests for every example of a file."""
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


def fast_tool_roles(messages: list, functions: set | None) -> list[str] | None:
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
