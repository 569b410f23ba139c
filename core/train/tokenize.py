"""Chat examples to training tensors: the model's chat template, loss masks, truncation, batching.

`tokenize(tok, examples, max_length, assistant_only)` renders each conversation with the model's
own chat template and labels either the assistant turns (each with its end-of-turn token, so the
model learns to stop) or every token. The mask is built here from character spans, because
SmolLM2's template has no `{% generation %}` markers (TRL's assistant_only_loss refuses it and
`return_assistant_tokens_mask` comes back all zeros). Truncation and dropped examples are counted.
`length_grouped_batches` keeps padding low without packing: on CPU, sdpa does not isolate packed
examples from each other, so packing would leak attention across examples.
Test: `.venv/bin/pytest tests/unit/test_train_data.py -q`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import torch

IGNORE = -100  # the label cross-entropy skips


class TrainDataError(Exception):
    """Examples that cannot be trained on, with what and where in plain words."""


@dataclass(frozen=True)
class Example:
    input_ids: list[int]
    labels: list[int]  # aligned with input_ids (not shifted); IGNORE where nothing is learned

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
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
            raise TrainDataError(f"{where}, message {i + 1}: needs a 'role' and a string 'content'")
    return messages


def _render(tok, messages: list[dict], generation_prompt: bool) -> str:
    return tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)


def _end_of_turn(text: str, start: int, end: int, eos: str | None) -> int:
    """Cut a rendered assistant turn just after its end-of-turn token.

    The template's newline after it is not the answer.
    """
    cut = text.rfind(eos, start, end) if eos else -1
    return cut + len(eos) if cut >= 0 else end


def assistant_spans(tok, messages: list[dict]) -> tuple[str, list[tuple[int, int]]]:
    """The rendered conversation and the character spans of its assistant turns (end-of-turn included).

    Each span lies between the render of the messages before the turn (with the generation prompt)
    and the render up to and including it. Templates that rewrite earlier turns break that prefix
    property; for those, the turn's content is searched for in the full text instead.
    """
    full = _render(tok, messages, False)
    spans, cursor = [], 0
    for i, m in enumerate(messages):
        if m["role"] != "assistant" or m.get("weight", 1) == 0:  # OpenAI's weight 0: shown, not learned
            continue
        before = _render(tok, messages[:i], True) if i else ""
        upto = _render(tok, messages[: i + 1], False)
        if i and full.startswith(upto) and upto.startswith(before) and len(before) >= cursor:
            start, end = len(before), len(upto)
        else:
            start = full.find(m["content"], cursor)
            if start < 0:
                raise TrainDataError(f"assistant message {i + 1} is not in the chat template's output")
            end = full.find(tok.eos_token, start + len(m["content"])) if tok.eos_token else -1
            end = end + len(tok.eos_token) if end >= 0 else start + len(m["content"])
        end = _end_of_turn(full, start, end, tok.eos_token)
        spans.append((start, end))
        cursor = end
    return full, spans


def tokenize_one(tok, messages: list[dict], assistant_only: bool = True) -> Example:
    """One conversation, untruncated: token ids and labels (assistant turns only, or every token)."""
    text, spans = assistant_spans(tok, messages)
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
        ex = tokenize_one(tok, messages_of(example, f"{name} {i + 1}"), assistant_only)
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


def collate(examples: list[Example], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded tensors; `targets[t]` is the token position t must predict (IGNORE for none or padding)."""
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
