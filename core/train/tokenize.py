"""Chat examples to training tensors: the run's chat template, loss masks, truncation, batching.

`tokenize(tok, examples, max_length, assistant_only)` renders each conversation with the run's chat
template (the model's own, or the shipped tool template of core.templates) and the example's tool
definitions, and labels either the assistant turns (their content and tool calls, each with its
end-of-turn token, so the model learns to stop) or every token. A render that drops a tool call, a
tool result or a tool definition, and a learned assistant turn with nothing in it, are TrainDataErrors
naming the example. The mask is built here from character spans, because
SmolLM2's template has no `{% generation %}` markers (TRL's assistant_only_loss refuses it and
`return_assistant_tokens_mask` comes back all zeros). Truncation and dropped examples are counted.
`length_grouped_batches` keeps padding low without packing: on CPU, sdpa does not isolate packed
examples from each other, so packing would leak attention across examples.
Test: `.venv/bin/pytest tests/unit/test_train_data.py -q`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from core import templates

IGNORE = -100  # the label cross-entropy skips


class TrainDataError(Exception):
    """Examples that cannot be trained on, with what and where in plain words."""


@dataclass(frozen=True)
class Example:
    input_ids: list[int]
    labels: list[int]  # aligned with input_ids (not shifted); IGNORE where nothing is learned

    @property
    def length(self) -> int:
        return len(self.input_ids)

    @property
    def n_targets(self) -> int:
        # Position 0 is never a target: nothing comes before it to predict it from.
        return sum(1 for x in self.labels[1:] if x != IGNORE)


@dataclass
class Tokenized:
    examples: list[Example] = field(default_factory=list)
    truncated: int = 0  # examples longer than max_length, cut to it
    dropped: int = 0  # examples left with nothing to learn (no assistant token within max_length)
    dropped_at: list[int] = field(default_factory=list)  # their 0-based positions in the input

    @property
    def tokens(self) -> int:
        return sum(len(e.input_ids) for e in self.examples)


def messages_of(example: object, where: str) -> list[dict]:
    """The `messages` list of a chat example, or a TrainDataError that says what is wrong and where."""
    messages = example.get("messages") if isinstance(example, dict) else None
    if not isinstance(messages, list) or not messages:
        raise TrainDataError(f"{where}: expected an object with a non-empty 'messages' list")
    return messages


def _render(tok, messages: list[dict], tools: list[dict] | None, generation_prompt: bool) -> str:
    from jinja2 import TemplateError

    try:
        return tok.apply_chat_template(messages, tools=tools, tokenize=False, add_generation_prompt=generation_prompt)
    except TemplateError as exc:  # a template's own raise_exception ("roles must alternate") or a key it lacks
        raise TrainDataError(f"the chat template refuses this conversation: {exc}") from None


def _end_of_turn(text: str, start: int, end: int, eos: str | None) -> int:
    """Cut a rendered assistant turn just after its end-of-turn token.

    The template's newline after it is not the answer.
    """
    cut = text.rfind(eos, start, end) if eos else -1
    return cut + len(eos) if cut >= 0 else end


def _header(tok, rendered: list[dict], tools: list[dict] | None) -> str:
    """What the generation prompt adds (e.g. "<|im_start|>assistant\\n"): where an assistant turn's text starts."""
    base = _render(tok, rendered[:1], tools, False)
    prompted = _render(tok, rendered[:1], tools, True)
    return prompted[len(base) :] if prompted.startswith(base) else ""


def _searched(full: str, rendered: list[dict], span: tuple[int, int, int], eos: str | None, header: str):
    """An assistant turn's span found by its text, for templates that rewrite earlier turns.

    span: (the turn's index, the first message after the last span, where that span ended). The messages
    in between are passed over first, so a tool's name in the system turn's tool list is not taken for
    its call; a turn of calls alone starts after the template's assistant header before its first call.
    """
    i, since, cursor = span
    for m in rendered[since:i]:
        found = full.find(m["content"], cursor) if m["content"] else -1
        cursor = found + len(m["content"]) if found >= 0 else cursor
    m = rendered[i]
    anchor = m["content"] or m["tool_calls"][0]["function"]["name"]
    at = full.find(anchor, cursor)
    if at < 0:
        raise TrainDataError(f"assistant message {i + 1} is not in the chat template's output")
    head = full.rfind(header, cursor, at) if header and not m["content"] else -1
    start = head + len(header) if head >= 0 else at
    end = full.find(eos, at + len(anchor)) if eos else -1
    return start, end + len(eos) if end >= 0 else at + len(anchor)


def assistant_spans(tok, messages: list[dict], tools: list[dict] | None = None) -> tuple[str, list[tuple[int, int]]]:
    """The rendered conversation and the character spans of its learned assistant turns (end-of-turn included).

    A turn's span covers its content and its tool calls. It lies between the render of the messages
    before the turn (with the generation prompt) and the render up to and including it. Templates that
    rewrite earlier turns break that prefix property; for those, the turn is searched for in the full text.
    Raises TrainDataError when a message cannot be rendered, when the render drops a tool call, result or
    definition, or when a learned assistant turn is empty.
    """
    try:
        rendered, tools = templates.template_inputs(messages, tools)
    except templates.TemplateInputError as exc:
        raise TrainDataError(str(exc)) from None
    full = _render(tok, rendered, tools, False)
    missing = templates.lost(full, rendered, tools)
    if missing:
        raise TrainDataError(
            f"the chat template drops {missing}, so the model would never see it: "
            f'choose the workbench\'s tool template (chat_template: "{templates.TOOLS}")'
        )
    spans, cursor, since, header = [], 0, 0, None
    for i, m in enumerate(rendered):
        if m["role"] != "assistant" or messages[i].get("weight", 1) == 0:  # OpenAI's weight 0: shown, not learned
            continue
        if not m["content"].strip() and not m.get("tool_calls"):
            raise TrainDataError(
                f"message {i + 1} (assistant) is empty: no content and no tool calls, so only its end token "
                "would be learned; write the answer, set its weight to 0, or delete the turn"
            )
        before = _render(tok, rendered[:i], tools, True) if i else ""
        upto = _render(tok, rendered[: i + 1], tools, False)
        if i and full.startswith(upto) and upto.startswith(before) and len(before) >= cursor:
            start, end = len(before), len(upto)
        else:
            header = _header(tok, rendered, tools) if header is None else header
            start, end = _searched(full, rendered, (i, since, cursor), tok.eos_token, header)
        end = _end_of_turn(full, start, end, tok.eos_token)
        spans.append((start, end))
        cursor, since = end, i + 1
    return full, spans


def tokenize_one(tok, messages: list[dict], assistant_only: bool = True, tools: list[dict] | None = None) -> Example:
    """One conversation (with its tool definitions), untruncated: token ids and labels (assistant turns only,
    or every token)."""
    text, spans = assistant_spans(tok, messages, tools)
    enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
    ids = list(enc["input_ids"])
    if not assistant_only:
        return Example(ids, list(ids))
    # A token is learned when it starts inside an assistant span.
    labels, k = [], 0
    for tid, (s, _e) in zip(ids, enc["offset_mapping"], strict=True):
        while k < len(spans) and s >= spans[k][1]:
            k += 1
        inside = k < len(spans) and spans[k][0] <= s < spans[k][1]
        labels.append(tid if inside else IGNORE)
    return Example(ids, labels)


def tokenize(tok, examples: list, max_length: int, assistant_only: bool = True, name: str = "example") -> Tokenized:
    """Every example, truncated to max_length (counted); those left with nothing to learn are dropped (counted)."""
    out = Tokenized()
    for i, example in enumerate(examples):
        where = f"{name} {i + 1}"
        try:
            ex = tokenize_one(tok, messages_of(example, where), assistant_only, templates.tools_of(example))
        except TrainDataError as exc:
            raise TrainDataError(str(exc) if str(exc).startswith(where) else f"{where}: {exc}") from None
        if len(ex.input_ids) > max_length:
            out.truncated += 1
            ex = Example(ex.input_ids[:max_length], ex.labels[:max_length])
        if ex.n_targets == 0:
            out.dropped += 1
            out.dropped_at.append(i)
            continue
        out.examples.append(ex)
    return out


# ---- batching ---------------------------------------------------------------------------------


def length_grouped_batches(lengths: list[int], batch_size: int, seed: int, mega: int = 50) -> list[list[int]]:
    """Shuffled batches of similar lengths: sort within shuffled mega-batches, then shuffle the batches.

    Sorting only inside a mega-batch of `mega` batches keeps the order random enough to train on
    (as transformers' LengthGroupedSampler does); shuffling the batches avoids a long-to-short drift.
    """
    rng = random.Random(seed)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    size = batch_size * mega
    batches = []
    for s in range(0, len(order), size):
        chunk = sorted(order[s : s + size], key=lambda i: -lengths[i])
        batches += [chunk[j : j + batch_size] for j in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def padding_efficiency(lengths: list[int], batches: list[list[int]]) -> float:
    """Real tokens over all tokens computed when each batch is padded to its longest member."""
    real = sum(lengths[i] for b in batches for i in b)
    padded = sum(len(b) * max(lengths[i] for i in b) for b in batches if b)
    return real / padded if padded else 1.0


def collate(examples: list[Example], pad_id: int) -> dict:
    """Right-padded tensors; `targets[t]` is the token position t must predict (IGNORE for none or padding)."""
    import torch  # here: the Train page's preview (core.train.preview) imports this module without torch

    width = max(len(e.input_ids) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    targets = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    for row, e in enumerate(examples):
        n = len(e.input_ids)
        ids[row, :n] = torch.tensor(e.input_ids)
        mask[row, :n] = 1
        targets[row, : n - 1] = torch.tensor(e.labels[1:])  # shift once here, not in every forward
    return {"input_ids": ids, "attention_mask": mask, "targets": targets}
