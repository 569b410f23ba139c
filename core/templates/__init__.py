"""Chat templates: the ones the workbench ships, and what a chat template is given and must keep.

A run renders its examples with the model's own template ("model") or with the shipped tool
template ("tools", `tools_chatml.jinja`: SmolLM2's ChatML plus the Hermes/Qwen2.5 tool convention,
see README's Train section). `template_inputs(messages, tools)` turns an OpenAI chat example into
what Hugging Face templates read (arguments as objects, tool results as role "tool", text for
content parts); `lost(text, messages, tools)` names the first tool call, tool result or tool
definition a render dropped. No torch and no transformers here: the Train page checks with these.
Test: `.venv/bin/pytest tests/unit/test_train_tools.py -q`.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from core import chat

MODEL, TOOLS = "model", "tools"
CHOICES = (MODEL, TOOLS)
TOOLS_FILE = Path(__file__).with_name("tools_chatml.jinja")
# The tokens the shipped template writes: a tokenizer needs each as one token (SmolLM2's, Qwen2.5's).
CHATML_TOKENS = ("<|im_start|>", "<|im_end|>")
# SmolLM2's own ChatML template (default system turn included), for a tokenizer that lacks one.
CHATML_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face"
    "<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
    "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}"
    "{% endif %}"
)


class TemplateInputError(ValueError):
    """A message a chat template cannot be given, with its number and what to do."""


@lru_cache(maxsize=1)
def tools_template() -> str:
    """The shipped tool template's text."""
    return TOOLS_FILE.read_text(encoding="utf-8")


def chosen(choice: str, own: str | None) -> str | None:
    """The template a run renders with: the shipped one for "tools", else the model's own (`own`)."""
    return tools_template() if choice == TOOLS else own


def apply(tok, choice: str) -> None:
    """Give the tokenizer the chosen template, so training, the saved tokenizer and serving all use it."""
    if choice == TOOLS:
        tok.chat_template = tools_template()


# ---- what a template is given -------------------------------------------------------------------


def tools_of(example: Any) -> list[dict] | None:
    """The example's tool definitions (OpenAI `tools`, or the legacy `functions` as tools); None for none."""
    if not isinstance(example, dict):
        return None
    if isinstance(example.get("tools"), list) and example["tools"]:
        return [t for t in example["tools"] if isinstance(t, dict)]
    if isinstance(example.get("functions"), list) and example["functions"]:
        return [{"type": "function", "function": f} for f in example["functions"] if isinstance(f, dict)]
    return None


def uses_tools(example: Any) -> bool:
    """Whether the example defines tools, calls one, or carries a tool result."""
    msgs = chat.messages(example)
    return bool(tools_of(example)) or any(chat.tool_calls(m) or m.get("role") in ("tool", "function") for m in msgs)


def _text(m: dict, n: int) -> str:
    content = m.get("content")
    parts = content if isinstance(content, list) else []
    other = next((p.get("type") for p in parts if isinstance(p, dict) and p.get("type") not in (None, "text")), None)
    if other:
        raise TemplateInputError(
            f"message {n} ({m.get('role')}) has a {other} part; training reads text only: "
            "remove the part or describe it in text"
        )
    found = chat.content_text(content)
    if found is None:
        raise TemplateInputError(
            f"message {n} ({m.get('role')}): 'content' must be text, a list of text parts or null"
        )
    return found


def _arguments(call: dict, n: int) -> Any:
    """A call's arguments as the object HF templates render (OpenAI writes them as a JSON string)."""
    fn = call.get("function") if isinstance(call.get("function"), dict) else {}
    args = fn.get("arguments", {})
    if not isinstance(args, str):
        return args
    try:
        return json.loads(args) if args.strip() else {}
    except ValueError as exc:
        raise TemplateInputError(
            f"message {n}: the arguments of the call to {fn.get('name')!r} are not valid JSON ({exc}); "
            "write them as a JSON object"
        ) from None


def _call(call: dict, n: int) -> dict:
    fn = call.get("function") if isinstance(call.get("function"), dict) else {}
    if not isinstance(fn.get("name"), str) or not fn["name"]:
        raise TemplateInputError(f"message {n}: a tool call without a function name; name the function it calls")
    out = {"type": "function", "function": {"name": fn["name"], "arguments": _arguments(call, n)}}
    return {"id": call["id"], **out} if isinstance(call.get("id"), str) else out


def template_inputs(messages: list, tools: list[dict] | None = None) -> tuple[list[dict], list[dict] | None]:
    """(messages, tools) as Hugging Face chat templates read them; TemplateInputError names a bad message.

    Content becomes text ("" for null), calls carry their arguments as objects, a legacy
    `function_call` becomes a call and role `function` a `tool` result named after its function.
    """
    out, names = [], {}
    for n, m in enumerate(messages, 1):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise TemplateInputError(f"message {n}: needs a 'role' (system, user, assistant or tool)")
        role, calls = m["role"], chat.tool_calls(m)
        if role != "assistant" and m.get("content") is None:
            raise TemplateInputError(f"message {n} ({role}): needs a 'content'")
        item = {"role": "tool" if role == "function" else role, "content": _text(m, n)}
        if role == "assistant" and calls:
            item["tool_calls"] = [_call(c, n) for c in calls]
            names.update((c["id"], c["function"]["name"]) for c in item["tool_calls"] if "id" in c)
        if item["role"] == "tool":
            name = m.get("name") or names.get(m.get("tool_call_id"))
            item.update({k: v for k, v in (("tool_call_id", m.get("tool_call_id")), ("name", name)) if v})
        out.append(item)
    return out, tools or None


# ---- what a render must keep --------------------------------------------------------------------


def _forms(args: Any) -> list[str]:
    """The ways a template may write a call's arguments: tojson (transformers'), ASCII, compact, as written."""
    return [json.dumps(args, ensure_ascii=False), json.dumps(args), json.dumps(args, separators=(",", ":"))]


def lost(text: str, rendered: list[dict], tools: list[dict] | None = None) -> str | None:
    """The first tool definition, call or result (of `template_inputs`' output) the render lacks; None if all kept."""
    for tool in tools or []:
        name = (tool.get("function") or tool).get("name")
        if isinstance(name, str) and name not in text:
            return f"the definition of the tool {name!r} (tools)"
    for n, m in enumerate(rendered, 1):
        for call in m.get("tool_calls", []):
            fn = call["function"]
            if fn["name"] not in text or not any(f in text for f in _forms(fn["arguments"])):
                return f"the call to {fn['name']!r} in message {n} (assistant)"
        if m["role"] == "tool" and m["content"] not in text:
            return f"the tool result in message {n}"
    return None
