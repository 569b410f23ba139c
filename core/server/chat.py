"""Chat completions and the model list for the local OpenAI-compatible API.

A request names a base model (the embedded id, a model folder, or an OpenAI name, which is
served by the configured local base) or a fine-tuned model ("ft:..." of a succeeded job, loaded
with core.train.export.load_run). Loaded models stay in a small LRU cache (2 models). Replies go
through the model's chat template: greedy when temperature is 0 or absent, sampling otherwise;
max_tokens / max_completion_tokens and stop are honoured. A prompt that leaves no room for
max_tokens in the model's context is refused (400 context_length_exceeded) before generating.
stream=True sends OpenAI's SSE chunks (chat.completion.chunk, then "data: [DONE]"); both forms read
one core.generation.Stream, which generates in a background thread and stops when the client goes
away or the reply's time limit (FT_API_MAX_REQUEST_S) passes; a reply cut by the limit ends with
finish_reason "length", as one cut by max_tokens. Tools (checked in chat_tools.py): OpenAI's `tools`,
`tool_choice` "auto" or "none", and assistant `tool_calls` and `tool` turns go to the model's chat template
(its `tools` argument, through core.templates.template_inputs); a template that drops them is refused (400
naming them) rather than answered blind. A reply holding the template's call blocks
(`<tool_call>\n{"name", "arguments"}\n</tool_call>`) comes back as OpenAI tool_calls with finish_reason
"tool_calls", streamed as a tool_calls delta after any text before the first block. torch is imported only
when a model is loaded.
Test: `.venv/bin/pytest tests/jobs/test_server_chat_limits.py tests/jobs/test_server_chat_tools.py -q`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core import generation, models, templates
from core.server import OWNER, ApiError, bad_request, chat_tools, ft_jobs, new_id, now

ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant", "tool": "tool"}
DEFAULT_MAX_TOKENS = 256  # OpenAI's default is "up to the context"; on a CPU that can take minutes
MOST_TOKENS = 32_768
CACHE_SIZE = 2
MAX_REQUEST_S = 300.0  # one reply's generation; a CPU makes ~60 tokens/s of SmolLM2, so 256 fit many times
POLL_S = 0.25  # how often a non-streamed reply checks that its client is still there

log = logging.getLogger("core.server.chat")


def max_request_seconds() -> float:
    """The server's limit on one reply's generation: FT_API_MAX_REQUEST_S, else MAX_REQUEST_S."""
    value = os.environ.get("FT_API_MAX_REQUEST_S")
    try:
        seconds = float(value) if value else MAX_REQUEST_S
    except ValueError:
        raise ValueError(f"FT_API_MAX_REQUEST_S must be a number of seconds, not {value!r}") from None
    if not seconds > 0:
        raise ValueError(f"FT_API_MAX_REQUEST_S must be more than 0 seconds, not {value!r}")
    return seconds


# ---- the request ------------------------------------------------------------------------------


@dataclass
class ChatRequest:
    model: str
    messages: list[dict]  # as the chat template takes them (core.templates.template_inputs)
    max_tokens: int = DEFAULT_MAX_TOKENS
    temperature: float | None = None
    top_p: float | None = None
    stop: list[str] | None = None
    seed: int | None = None
    stream: bool = False
    include_usage: bool = False
    tools: list[dict] | None = None
    tool_choice: str = "auto"

    @property
    def sampling(self) -> bool:
        return bool(self.temperature)

    @property
    def offers_tools(self) -> bool:
        """Tools go to the template and calls are read from the reply (tool_choice "none": neither)."""
        return bool(self.tools) and self.tool_choice != "none"


def _text(content: Any, where: str) -> str:
    """A message's text: a string, or the text parts of a list of content parts."""
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, list) and all(isinstance(p, dict) and p.get("type") == "text" for p in content):
        return "".join(str(p.get("text", "")) for p in content)
    raise bad_request(f"{where}.content must be a string or a list of text parts", f"{where}.content")


def _message(m: Any, where: str, called: set[str]) -> dict:
    """One message, checked, in OpenAI's form with text content; `called` gathers the call ids a later tool
    message may answer."""
    role = m.get("role") if isinstance(m, dict) else None
    if role not in ROLES:
        instead = " (send function results as role 'tool' with the call's tool_call_id)" if role == "function" else ""
        raise bad_request(
            f"{where}.role must be system, developer, user, assistant or tool, not {role!r}{instead}", f"{where}.role"
        )
    out = {"role": ROLES[role], "content": _text(m.get("content"), where)}
    if role == "assistant" and m.get("function_call") is not None:
        raise bad_request(
            f"{where}.function_call is the deprecated form of tool_calls: send tool_calls", f"{where}.function_call"
        )
    if role == "assistant" and m.get("tool_calls") is not None:
        out["tool_calls"] = chat_tools.calls(m["tool_calls"], f"{where}.tool_calls")
        called.update(c["id"] for c in out["tool_calls"])
    if role == "tool":
        answers = m.get("tool_call_id")
        if answers not in called:
            raise bad_request(
                f"{where} has role 'tool', so it must answer a call made earlier in the conversation: its "
                f"tool_call_id {answers!r} is no earlier assistant message's tool_calls id (set it to the id of "
                "the call it answers)",
                f"{where}.tool_call_id",
            )
        out["tool_call_id"] = answers
    return out


def _messages(value: Any) -> list[dict]:
    if not isinstance(value, list) or not value:
        raise bad_request("messages must be a non-empty array of {role, content} objects", "messages")
    called: set[str] = set()
    checked = [_message(m, f"messages[{i}]", called) for i, m in enumerate(value)]
    try:  # what the chat template reads (arguments as objects, each result named after its call): one home for it
        return templates.template_inputs(checked)[0]
    except templates.TemplateInputError as exc:
        raise bad_request(str(exc), "messages") from None


def _bounded(body: dict, key: str, kind: type, low: float, high: float) -> Any:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int):
        raise bad_request(f"{key} must be {'a number' if kind is float else 'an integer'}, not {value!r}", key)
    if not low <= value <= high:
        span = f"{low:g} to {high:g}" if kind is float else f"{low} to {high}"
        raise bad_request(f"{key} must be from {span}, not {value!r}", key)
    return value


def _stop(value: Any) -> list[str] | None:
    stops = [value] if isinstance(value, str) else value
    if stops is None:
        return None
    if not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops) or len(stops) > 4:
        raise bad_request("stop must be a string or up to 4 non-empty strings", "stop")
    return stops or None


def parse_request(body: dict[str, Any]) -> ChatRequest:
    """The request's fields, checked; 400 naming the parameter for anything unusable."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise bad_request("Missing required parameter: 'model'.", "model", "missing_required_parameter")
    tools, tool_choice = chat_tools.tools(body)
    if body.get("n") not in (None, 1):
        raise bad_request("n must be 1: the local server returns one choice.", "n")
    longest = _bounded(body, "max_completion_tokens", int, 1, MOST_TOKENS)
    longest = longest or _bounded(body, "max_tokens", int, 1, MOST_TOKENS) or DEFAULT_MAX_TOKENS
    seed = _bounded(body, "seed", int, -(2**63), 2**64 - 1)  # what torch.manual_seed takes
    options = body.get("stream_options") or {}
    return ChatRequest(
        model=model,
        messages=_messages(body.get("messages")),
        max_tokens=longest,
        temperature=_bounded(body, "temperature", float, 0, 2),
        top_p=_bounded(body, "top_p", float, 0, 1),
        stop=_stop(body.get("stop")),
        seed=seed,
        stream=bool(body.get("stream")),
        include_usage=bool(isinstance(options, dict) and options.get("include_usage")),
        tools=tools,
        tool_choice=tool_choice,
    )


# ---- which model, loaded once -----------------------------------------------------------------


class ModelCache:
    """The last few (model, tokenizer) pairs used; a load holds its model's own lock, so no model
    loads twice and requests for a model already loaded (or another one) never wait for it."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size, self.items, self.lock = size, OrderedDict(), threading.Lock()
        self.loading: dict[str, threading.Lock] = {}  # one per key; self.lock only guards the dicts

    def _cached(self, key: str) -> tuple | None:
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
            return None

    def get(self, key: str, load: Callable[[], tuple]) -> tuple:
        found = self._cached(key)
        if found is not None:
            return found
        with self.lock:
            key_lock = self.loading.setdefault(key, threading.Lock())
        with key_lock:
            found = self._cached(key)  # another request may have loaded it while this one waited
            if found is not None:
                return found
            value = load()
            with self.lock:
                self.items[key] = value
                while len(self.items) > self.size:
                    self.items.popitem(last=False)
            return value

    def keys(self) -> list[str]:
        return list(self.items)


def _model_not_found(name: str, why: str = "") -> ApiError:
    detail = f" {why}" if why else ""
    return ApiError(
        404, f"The model `{name}` does not exist or you do not have access to it.{detail}", "model", "model_not_found"
    )


def target(name: str, base: str) -> tuple[str, Callable[[], tuple]]:
    """(cache key, loader) for a requested model name."""
    if not name.startswith("ft:"):
        local = name if ft_jobs.is_local(name) else base
        return f"model:{local}", lambda: generation.load(local)
    found = ft_jobs.by_model_name(name)
    if found is None:
        raise _model_not_found(name)
    record, step = found
    if step is not None:
        raise _model_not_found(name, f"Checkpoints are not served locally; use {ft_jobs.model_name(record)}.")
    if ft_jobs.job_object(record)["status"] != "succeeded":
        raise _model_not_found(name, f"Its job {record['id']} has not succeeded.")
    folder = ft_jobs.run_folder(record)

    def load() -> tuple:
        from core.train.export import load_run

        model, tok = load_run(folder)
        return generation.place(model), tok

    return f"run:{folder}", load


def load(name: str, base: str, cache: ModelCache) -> tuple:
    key, loader = target(name, base)
    try:
        return cache.get(key, loader)
    except (OSError, ValueError) as exc:  # a folder without weights, a broken config
        raise ApiError(500, f"Could not load the model `{name}`: {exc}", "model", type="server_error") from None


# ---- generation -------------------------------------------------------------------------------


class Generation:
    """One reply being generated (core.generation.Stream); iterate `pieces()` for its text."""

    def __init__(self, model, tok, req: ChatRequest, max_seconds: float | None = None) -> None:
        self.req, self.hit_stop, self.gone, self.began = req, False, False, time.monotonic()
        try:
            stream = generation.Stream(
                model,
                tok,
                req.messages,
                req.max_tokens,
                req.temperature or 0.0,
                req.top_p or 1.0,
                req.stop,
                req.seed,
                max_seconds,
                self.log_end,
                req.tools if req.offers_tools else None,
            )
        except generation.ContextExceeded as exc:
            raise context_exceeded(exc) from None
        except generation.ToolsNotShown as exc:
            raise chat_tools.not_shown(exc, req.model) from None
        except (ValueError, TypeError) as exc:  # no chat template, or one that refuses these roles
            raise bad_request(f"The model cannot format these messages: {exc}", "messages") from None
        self.streamer, self.thread, self.prompt_tokens = stream, stream.thread, stream.prompt_tokens

    def cancel(self) -> None:
        """Stop generating at the next token (the client left, or the reply is complete)."""
        self.streamer.cancel()

    def client_gone(self) -> None:
        """The client disconnected: stop generating, and say so in the log line."""
        self.gone = True
        self.cancel()

    def log_end(self, stream: generation.Stream) -> None:
        """One line per reply once its model stops, so the server's log shows what it cost and how it ended."""
        ended = "client gone" if self.gone else "time limit" if stream.timed_out else self._finish(stream)
        log.info(
            "reply to %s: %d prompt + %d completion tokens in %.1f s, ended: %s",
            *(self.req.model, stream.prompt_tokens, stream.new_tokens, time.monotonic() - self.began, ended),
            extra={"completion_tokens": stream.new_tokens, "ended": ended},
        )

    def pieces(self) -> Iterator[str]:
        """The reply's text as it comes, cut before the first stop string (held back until sure)."""
        stops, held = self.req.stop or [], ""
        keep = max((len(s) for s in stops), default=1) - 1
        try:
            for piece in self.streamer:
                held += piece
                hits = [held.find(s) for s in stops if s in held]
                if hits:
                    self.hit_stop = True
                    if held[: min(hits)]:
                        yield held[: min(hits)]
                    return
                if len(held) > keep:
                    yield held[: len(held) - keep]
                    held = held[len(held) - keep :]
        except generation.GenerationFailed as exc:
            raise ApiError(500, f"Generation failed: {exc}", type="server_error") from None
        if held:
            yield held

    @property
    def completion_tokens(self) -> int:
        return self.streamer.new_tokens

    def _finish(self, stream: generation.Stream) -> str:
        ended = self.hit_stop or stream.stopped_on_eos
        cut = stream.new_tokens >= self.req.max_tokens or stream.timed_out
        return "length" if not ended and cut else "stop"

    @property
    def finish_reason(self) -> str:
        return self._finish(self.streamer)

    def usage(self) -> dict[str, int]:
        n = self.completion_tokens
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": n,
            "total_tokens": self.prompt_tokens + n,
        }


def context_exceeded(exc: generation.ContextExceeded) -> ApiError:
    """OpenAI's refusal, in its words, of a prompt and max_tokens that do not fit the context."""
    asked = exc.prompt_tokens + exc.new_tokens
    return bad_request(
        f"This model's maximum context length is {exc.limit} tokens. However, you requested {asked} tokens "
        f"({exc.prompt_tokens} in the messages, {exc.new_tokens} in the completion). "
        "Please reduce the length of the messages or completion.",
        "messages",
        "context_length_exceeded",
    )


def start(body: dict[str, Any], base: str, cache: ModelCache, max_seconds: float | None = None) -> Generation:
    req = parse_request(body)
    model, tok = load(req.model, base, cache)
    return Generation(model, tok, req, max_seconds)


def completion(gen: Generation) -> dict[str, Any]:
    """The whole reply as OpenAI's chat.completion object."""
    try:
        text = "".join(gen.pieces())
    finally:  # a stop string ends the reply early: the model need not run on to max_tokens
        gen.cancel()
    message, finish = {"role": "assistant", "content": text, "refusal": None}, gen.finish_reason
    content, calls = generation.tool_calls_in(text) if gen.req.offers_tools else (text, [])
    if calls:
        message.update(content=content or None, tool_calls=[chat_tools.openai_call(c) for c in calls])
        finish = "tool_calls"
    return {
        "id": new_id("chatcmpl"),
        "object": "chat.completion",
        "created": now(),
        "model": gen.req.model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": gen.usage(),
        "system_fingerprint": None,
        "service_tier": "default",
    }


async def completion_while_connected(gen: Generation, disconnected: Callable[[], Awaitable[bool]]) -> dict[str, Any]:
    """`completion` in a worker thread, stopped when `disconnected()` (Starlette's request.is_disconnected)
    says the client went away: a plain endpoint never learns that, and would generate to max_tokens."""
    from starlette.concurrency import run_in_threadpool

    task = asyncio.ensure_future(run_in_threadpool(completion, gen))
    while not task.done():
        await asyncio.wait([task], timeout=POLL_S)
        if not task.done() and not gen.gone and await disconnected():
            gen.client_gone()
    return task.result()


async def stream_while_connected(gen: Generation) -> AsyncIterator[str]:
    """`chunks` read in a worker thread. Starlette cancels this at its await when the client leaves, and the
    generation stops then, not when the garbage collector gets round to closing `chunks`."""
    from starlette.concurrency import run_in_threadpool

    events = chunks(gen)
    try:
        while (event := await run_in_threadpool(next, events, None)) is not None:
            yield event
    except (asyncio.CancelledError, GeneratorExit):
        gen.client_gone()
        raise


def chunks(gen: Generation) -> Iterator[str]:
    """The reply as server-sent events of chat.completion.chunk, ending with data: [DONE]."""
    head = {
        "id": new_id("chatcmpl"),
        "object": "chat.completion.chunk",
        "created": now(),
        "model": gen.req.model,
        "system_fingerprint": None,
    }

    def event(delta: dict, finish: str | None = None, **extra: Any) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        return f"data: {json.dumps({**head, 'choices': [choice], **extra})}\n\n"

    yield event({"role": "assistant", "content": ""})
    rest: list[str] = []  # the reply from its first call block on, when tools were offered
    try:
        for piece in chat_tools.before_calls(gen.pieces(), rest) if gen.req.offers_tools else gen.pieces():
            yield event({"content": piece})
    except ApiError as exc:
        yield f"data: {json.dumps(exc.body())}\n\n"
        return
    except GeneratorExit:  # the client disconnected and the server closed this generator
        gen.client_gone()
        raise
    finally:
        gen.cancel()
    content, calls = generation.tool_calls_in("".join(rest))
    if content:  # text after the calls, or a block that is no call: shown as the model wrote it
        yield event({"content": content})
    for k, call in enumerate(calls):
        yield event({"tool_calls": [{"index": k, **chat_tools.openai_call(call)}]})
    yield event({}, "tool_calls" if calls else gen.finish_reason)
    if gen.req.include_usage:
        yield f"data: {json.dumps({**head, 'choices': [], 'usage': gen.usage()})}\n\n"
    yield "data: [DONE]\n\n"


# ---- the model list ---------------------------------------------------------------------------


def _model(model_id: str, created: int) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": created, "owned_by": OWNER}


def model_list(base: str) -> dict[str, Any]:
    """The local base(s) and every succeeded job's fine-tuned model."""
    bases = list(dict.fromkeys([base, models.DEFAULT_MODEL_ID]))
    found = [_model(b, int(Path(b).stat().st_mtime) if Path(b).exists() else 0) for b in bases]
    for record in ft_jobs.succeeded():
        found.append(_model(ft_jobs.model_name(record), record["created_at"]))
    return {"object": "list", "data": found}


def model_info(name: str, base: str) -> dict[str, Any]:
    """A listed model, or any other base name (the local base serves it); unknown ft: names are 404."""
    for item in model_list(base)["data"]:
        if item["id"] == name:
            return item
    if name.startswith("ft:"):
        raise _model_not_found(name)
    return _model(name, 0)
