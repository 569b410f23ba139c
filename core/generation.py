"""Local generation, written once: load, chat template, generate, stop at the end token, decode.

Evaluate's batches (core.eval.local), the export check (core.train.export), the API's replies
(core.server.chat) and the command line (`python -m core models chat`) all go through here.
`generate` answers prompts greedily or sampled, in left-padded batches, each answer cut at its first
end token (`core.models.stop_ids`); `reply` is one answer; `Stream` is one answer generated in a
background thread whose text arrives piece by piece, refused (ContextExceeded) before it starts when
prompt and reply would not fit the model's context (`context_length`), and ended at the next token
when cancelled or past its time limit. A `threading.Event` given as `cancel` ends a generation at
the next token. `prompt_text` renders a prompt with OpenAI's tools through the template's `tools` argument,
and `tool_calls_in` reads the calls back out of a reply written in the Hermes/Qwen2.5 convention.
torch is imported inside the functions: pages import modules that import this one.
Test: `.venv/bin/pytest tests/unit/test_generation.py tests/jobs/test_server_chat_tools.py -q`.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from core import models, templates

OnBatch = Callable[[int, int], None]  # (prompts done so far, new tokens in this batch)


@dataclass(frozen=True)
class Reply:
    text: str
    ids: list[int]  # the new tokens, up to and including the end token
    stopped_on_eos: bool
    seconds: float  # the whole batch's generate call

    @property
    def new_tokens(self) -> int:
        return len(self.ids)

    @property
    def tokens_per_s(self) -> float:
        return self.new_tokens / self.seconds if self.seconds > 0 else 0.0


class GenerationFailed(Exception):
    """The model raised while generating in the background; the message names the error."""


class ToolsNotShown(ValueError):
    """The model's chat template dropped a tool, a call or a tool result it was given: it has no place for tools."""

    def __init__(self, what: str) -> None:
        self.what = what  # core.templates.lost's words: "the definition of the tool 'f' (tools)", ...
        self.param = "tools" if what.endswith("(tools)") else "messages"
        super().__init__(f"the chat template drops {what}")


class ContextExceeded(Exception):
    """The prompt and the reply asked for would not fit the model's context; nothing was generated."""

    def __init__(self, limit: int, prompt_tokens: int, new_tokens: int) -> None:
        self.limit, self.prompt_tokens, self.new_tokens = limit, prompt_tokens, new_tokens
        super().__init__(f"{prompt_tokens} prompt + {new_tokens} new tokens exceed the context of {limit} tokens")


# ---- loading ------------------------------------------------------------------------------------


def device_and_dtype():
    """("cuda", bf16 where supported) on a GPU, else ("cpu", float32)."""
    import torch

    if torch.cuda.is_available():
        return "cuda", torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
    # float32 on CPU: bf16 (AMX) was no faster here and changed 17 of 32 batched greedy answers.
    return "cpu", torch.float32


def place(model, keep_dtype: bool = False):
    """The model on the generation device (and dtype, unless keep_dtype), in eval mode."""
    device, dtype = device_and_dtype()
    return model.to(device=device, dtype=None if keep_dtype else dtype).eval()


def load(model: str | Path):
    """(model, tokenizer) of a model id, hub id or folder, on the generation device and dtype."""
    device, dtype = device_and_dtype()
    return models.load_model(model, dtype=dtype, device=device), models.load_tokenizer(model)


# ---- encoding and settings ------------------------------------------------------------------------


def context_length(model, tok) -> int | None:
    """The most tokens (prompt and reply) the model takes: the smaller of its position embeddings and the
    tokenizer's model_max_length, of those that are set; None when neither is."""
    known = [getattr(model.config, "max_position_embeddings", None), getattr(tok, "model_max_length", None)]
    known = [int(n) for n in known if isinstance(n, (int, float)) and 0 < n < models.NO_LIMIT]
    return min(known, default=None)


def prompt_text(tok, messages: list[dict], tools: list[dict] | None = None) -> str:
    """The prompt through the model's chat template (its `tools` argument given the tools), ready for the
    assistant's turn. `messages` in OpenAI's form (calls' arguments as JSON strings) go through
    core.templates.template_inputs first; ToolsNotShown when the render drops a tool, a call or a result
    (core.templates.lost: the template has no place for them)."""
    if tools or templates.uses_tools({"messages": messages}):
        messages, tools = templates.template_inputs(messages, tools)
    text = tok.apply_chat_template(messages, tools=tools or None, add_generation_prompt=True, tokenize=False)
    if tools or any(m.get("tool_calls") or m.get("role") == "tool" for m in messages):
        missing = templates.lost(text, messages, tools)
        if missing:
            raise ToolsNotShown(missing)
    return text


def encode(tok, messages: list[dict], tools: list[dict] | None = None) -> list[int]:
    """The prompt's token ids (`prompt_text` tokenized as transformers' apply_chat_template does)."""
    return tok(prompt_text(tok, messages, tools), add_special_tokens=False)["input_ids"]


# ---- tool calls in a reply --------------------------------------------------------------------------

# The Hermes/Qwen2.5 convention the workbench's tool template writes: one JSON object per block. A block the
# reply never closed (it stopped on its end token right after the JSON) still counts.
CALL_BLOCK = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|\Z)", re.DOTALL)
CALL_OPEN = "<tool_call>"


def tool_calls_in(text: str) -> tuple[str, list[dict]]:
    """(the reply's text outside its call blocks, stripped; the calls as {"name", "arguments": object}).

    When any block is not a JSON object with a string name and object arguments, no call is read and the
    whole text comes back: a half-written call is shown as the model wrote it, not dropped.
    """
    calls = []
    for block in CALL_BLOCK.finditer(text):
        try:
            call = json.loads(block.group(1))
        except ValueError:
            return text, []
        args = call.get("arguments", {}) if isinstance(call, dict) else None
        if not isinstance(call, dict) or not isinstance(call.get("name"), str) or not isinstance(args, dict):
            return text, []
        calls.append({"name": call["name"], "arguments": args})
    return (CALL_BLOCK.sub("", text).strip() if calls else text), calls


def _pad_id(tok) -> int | None:
    return tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id


def cancel_on(event: threading.Event | Callable[[], bool]):
    """A StoppingCriteriaList that ends generation once the event is set (or the callable says so)."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    done = event.is_set if isinstance(event, threading.Event) else event

    class Cancelled(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            return torch.full((input_ids.shape[0],), done(), dtype=torch.bool, device=input_ids.device)

    return StoppingCriteriaList([Cancelled()])


def settings(
    tok,
    stop: list[int],
    max_new_tokens: int,
    temperature: float = 0.0,
    top_p: float = 1.0,
    cancel: threading.Event | Callable[[], bool] | None = None,
) -> dict:
    """model.generate's keyword arguments: greedy at temperature 0, else sampled."""
    kwargs = {"max_new_tokens": max_new_tokens, "pad_token_id": _pad_id(tok)}
    if stop:  # none known: the model's generation config decides (max_new_tokens alone, if it has none)
        kwargs["eos_token_id"] = stop
    if temperature:
        kwargs.update(do_sample=True, temperature=temperature, top_p=top_p or 1.0)
    else:  # greedy; the model's own sampling defaults are switched off, not just ignored
        kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    if cancel is not None:
        kwargs["stopping_criteria"] = cancel_on(cancel)
    return kwargs


def _until_stop(row: list[int], stop: list[int]) -> list[int]:
    """The new tokens up to and including the first end token (the rest is padding)."""
    for j, token in enumerate(row):
        if token in stop:
            return row[: j + 1]
    return row


# ---- generating ---------------------------------------------------------------------------------


def generate(
    model,
    tok,
    prompts: list[list[dict]],
    max_new_tokens: int = 64,
    temperature: float = 0.0,
    top_p: float = 1.0,
    batch_size: int = 1,
    stop: list[int] | None = None,
    cancel: threading.Event | None = None,
    on_batch: OnBatch | None = None,
    tools: list[list[dict] | None] | None = None,
) -> list[Reply]:
    """One Reply per prompt, in prompt order; prompts run shortest first, batch_size at a time.

    `stop` defaults to the model's and the tokenizer's end tokens (`models.stop_ids(model, tok)`);
    `tools[i]` are prompt i's tool definitions (OpenAI's `tools`), given to the chat template.
    """
    import torch

    tok.padding_side = "left"  # every row's new tokens then start at the same column
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    ids = [encode(tok, p, t) for p, t in zip(prompts, tools or [None] * len(prompts), strict=True)]
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))  # similar lengths together: less padding
    stop = models.stop_ids(model, tok) if stop is None else stop
    kwargs = settings(tok, stop, max_new_tokens, temperature, top_p, cancel)
    results: list[Reply | None] = [None] * len(prompts)
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        enc = tok.pad({"input_ids": [ids[i] for i in chunk]}, return_tensors="pt").to(model.device)
        began = time.perf_counter()
        with torch.inference_mode():
            out = model.generate(**enc, **kwargs)
        seconds = time.perf_counter() - began
        for i, row in zip(chunk, out[:, enc["input_ids"].shape[1] :].tolist(), strict=True):
            new = _until_stop(row, stop)
            text = tok.decode(new, skip_special_tokens=True).strip()
            results[i] = Reply(text, new, bool(new) and new[-1] in stop, seconds)
        if on_batch:
            on_batch(start + len(chunk), sum(results[i].new_tokens for i in chunk))
    return results


def reply(model, tok, messages: list[dict], max_new_tokens: int = 64, tools: list[dict] | None = None) -> Reply:
    """One greedy reply, stopping where the model's own generation config says.

    Only the model's end tokens, not the tokenizer's: the export check and a run's samples report
    whether the saved model stops by itself.
    """
    return generate(model, tok, [messages], max_new_tokens, stop=models.stop_ids(model), tools=[tools])[0]


@lru_cache(maxsize=1)
def _loaded(model: str):
    # One model kept in memory: repeated chat() calls on it skip the reload.
    return load(model)


def chat(model: str | Path, messages: list[dict] | str, max_new_tokens: int = 64) -> Reply:
    """One greedy reply from a model id or folder; a plain string is taken as a single user message."""
    if isinstance(messages, str):
        messages = [{"role": "user", "content": messages}]
    loaded, tok = _loaded(str(models.resolve(model)))
    return reply(loaded, tok, messages, max_new_tokens)


def _counting_streamer(tok):
    """TextIteratorStreamer that also counts the generated tokens and keeps the last one."""
    from transformers import TextIteratorStreamer

    class Counting(TextIteratorStreamer):
        generated, last = 0, None

        def put(self, value):
            if not (self.skip_prompt and self.next_tokens_are_prompt):
                ids = value.reshape(-1).tolist()
                self.generated, self.last = self.generated + len(ids), ids[-1] if ids else self.last
            super().put(value)

    return Counting(tok, skip_prompt=True, skip_special_tokens=True, timeout=600)


class Stream:
    """One reply generated in a background thread; iterate it for the text as it comes.

    The prompt is encoded here (with `tools`, OpenAI's function definitions, when given), so a template that
    refuses the messages raises (ValueError or TypeError; ToolsNotShown when it drops the tools), and a
    prompt that leaves no room for max_new_tokens in the model's context raises
    ContextExceeded, before any thread starts. `cancel()` ends generation at the next token, and so
    does passing `max_seconds` (then `timed_out` is true); `on_end(stream)` runs once the model stops.
    """

    def __init__(
        self,
        model,
        tok,
        messages: list[dict],
        max_new_tokens: int,
        temperature: float = 0.0,
        top_p: float = 1.0,
        stop_strings: list[str] | None = None,
        seed: int | None = None,
        max_seconds: float | None = None,
        on_end: Callable[[Stream], None] | None = None,
        tools: list[dict] | None = None,
    ) -> None:
        import torch

        ids = encode(tok, messages, tools)
        limit = context_length(model, tok)
        if limit is not None and len(ids) + max_new_tokens > limit:
            raise ContextExceeded(limit, len(ids), max_new_tokens)
        self.prompt_tokens, self.seed, self.error = len(ids), seed if temperature else None, None
        self.deadline = None if max_seconds is None else time.monotonic() + max_seconds
        self.timed_out, self.on_end = False, on_end
        self.stop = models.stop_ids(model, tok)  # a reply that ends on any of these ended by itself
        self.cancelled = threading.Event()  # set when nobody reads the reply any more
        self.streamer = _counting_streamer(tok)
        own = models.stop_ids(model)  # as `reply`: the model stops where its generation config says
        kwargs = settings(tok, own, max_new_tokens, temperature, top_p, self._should_stop)
        kwargs.update(input_ids=torch.tensor([ids], device=model.device), streamer=self.streamer)
        kwargs["attention_mask"] = torch.ones_like(kwargs["input_ids"])
        if stop_strings:
            kwargs.update(stop_strings=stop_strings, tokenizer=tok)
        self.thread = threading.Thread(target=self._run, args=(model, kwargs), name="generation", daemon=True)
        self.thread.start()

    def cancel(self) -> None:
        self.cancelled.set()

    def _should_stop(self) -> bool:
        if self.deadline is not None and not self.cancelled.is_set() and time.monotonic() >= self.deadline:
            self.timed_out = True
        return self.timed_out or self.cancelled.is_set()

    def _run(self, model, kwargs: dict) -> None:
        import torch

        from core.train.recipe import set_threads

        try:
            if model.device.type == "cpu":
                set_threads(1)  # spinning threads on cores a training run keeps busy cost 10x here
            if self.seed is not None:
                torch.manual_seed(self.seed)  # best effort: the generator is shared by the process
            with torch.inference_mode():
                model.generate(**kwargs)
        except Exception as exc:  # noqa: BLE001 - handed to the reader as GenerationFailed
            self.error = exc
            self.streamer.end()
        finally:
            if self.on_end is not None:  # when the model stops, however the reply ended and whoever reads it
                self.on_end(self)

    def __iter__(self) -> Iterator[str]:
        yield from self.streamer
        if self.error is not None:
            raise GenerationFailed(f"{type(self.error).__name__}: {self.error}")

    @property
    def new_tokens(self) -> int:
        return self.streamer.generated

    @property
    def stopped_on_eos(self) -> bool:
        return self.streamer.last in self.stop
