"""One training example as the run will see it: the rendered text with its learned tokens, and the end-of-turn check.

`pick(train)` chooses the example the Train page shows: the first with the most assistant turns, among those
with tool calls when the split has any. `build(tok, example, assistant_only)` renders it through
core.train.tokenize (the worker's own path: chat template, the example's tools, loss mask) and cuts the text
into runs of learned (labels != IGNORE) and plain tokens. `Preview.end_of_turn()` says whether every learned
assistant turn ends with a learned end-of-turn token (the tokenizer's eos_token, `<|im_end|>` for SmolLM2): a
model that never learns it never stops, while its loss looks healthy. The page passes core.tokens.ChatTokenizer
(tokenizer.json and the run's chat template, no torch); the worker's transformers tokenizer gives the same preview.
Test: `.venv/bin/pytest tests/unit/test_train_preview.py -q`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from core import chat, templates, tokens
from core.train import tokenize


@dataclass(frozen=True)
class Preview:
    index: int | None  # 0-based position in the train split; None when the split is empty
    segments: list[tuple[str, bool]] = field(default_factory=list)  # (text, learned) runs, the whole render
    eos: str | None = None  # the end-of-turn token the check looks for
    turns: int = 0  # assistant turns with something to learn (weight 0 turns are shown, not learned)
    unstopped: list[int] = field(default_factory=list)  # 1-based message numbers whose end-of-turn is not learned
    tokens: int = 0
    learned: int = 0
    problem: str | None = None  # why nothing could be rendered, naming the example and message

    def end_of_turn(self) -> tuple[bool, str]:
        """(does every assistant turn learn to stop, the sentence that says so)."""
        if not self.turns:
            return False, "This example has no assistant turn to learn from (all are weight 0 or missing)."
        if not self.eos:
            return False, (
                "The tokenizer names no end-of-turn token (eos_token in tokenizer_config.json): "
                "the model will not learn to stop. Set eos_token to the token its template ends turns with."
            )
        if not self.unstopped:
            return (
                True,
                f"Every assistant turn ({self.turns}) ends with a learned {self.eos}: the model learns to stop.",
            )
        many = len(self.unstopped) > 1
        where = f"message{'s' if many else ''} {', '.join(map(str, self.unstopped))}"
        return False, (
            f"The assistant turn{'s' if many else ''} in {where} {'do' if many else 'does'} not learn the end-of-turn "
            f"token {self.eos}: the model will not learn to stop (its loss still looks healthy). Use a chat template "
            f"that ends every assistant turn with {self.eos}, or set the tokenizer's eos_token to the token the "
            "template ends turns with."
        )


def _assistant_turns(example: dict) -> int:
    return sum(m.get("role") == "assistant" for m in chat.messages(example))


def pick(train: list) -> int | None:
    """The example to show: the first with the most assistant turns, among those with tool calls if any have them."""
    calling = [i for i, e in enumerate(train) if any(chat.tool_calls(m) for m in chat.messages(e))]
    pool = calling or range(len(train))
    return max(pool, key=lambda i: (_assistant_turns(train[i]), -i), default=None)


def _texts(text: str, offsets: list, labels: list[int]) -> list[tuple[str, bool]]:
    """The whole text cut where a token's learned flag changes; each run begins where its first token does."""
    cuts, flags = [0], [labels[0] != tokenize.IGNORE] if labels else []
    for (s, _e), label in zip(offsets[1:], labels[1:], strict=True):
        learned = label != tokenize.IGNORE
        if learned != flags[-1]:
            cuts.append(max(s, cuts[-1]))
            flags.append(learned)
    cuts.append(len(text))
    return [(text[a:b], f) for a, b, f in zip(cuts, cuts[1:], flags, strict=False)]


def build(tok, example: dict, assistant_only: bool = True, index: int = 0, name: str = "train example") -> Preview:
    """The example rendered and masked as the worker does it; `tok` is a transformers tokenizer or a ChatTokenizer."""
    messages, tools = tokenize.messages_of(example, f"{name} {index + 1}"), templates.tools_of(example)
    ex = tokenize.tokenize_one(tok, messages, assistant_only, tools)
    text, spans = tokenize.assistant_spans(tok, messages, tools)
    offsets = tok(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    numbers = [i + 1 for i, m in enumerate(messages) if m.get("role") == "assistant" and m.get("weight", 1) != 0]
    eos = getattr(tok, "eos_token", None) or None
    unstopped = []
    for number, (start, end) in zip(numbers, spans, strict=True):
        learned = [
            (s, e)
            for (s, e), label in zip(offsets, ex.labels, strict=True)
            if start <= s < end and label != tokenize.IGNORE
        ]
        if not eos or not learned or text[learned[-1][0] : learned[-1][1]] != eos:
            unstopped.append(number)
    learned_count = sum(label != tokenize.IGNORE for label in ex.labels)
    segments = _texts(text, offsets, ex.labels)
    return Preview(index, segments, eos, len(spans), unstopped, len(ex.input_ids), learned_count)


def of_split(train: list, tok, assistant_only: bool = True) -> Preview:
    """The preview of the example `pick` chooses; a template or example that fails is a problem, not an exception."""
    index = pick(train)
    if index is None:
        return Preview(None, problem="The train split is empty: there is no example to render.")
    try:
        return build(tok, train[index], assistant_only, index)
    except Exception as exc:  # noqa: BLE001 - a broken template or example must not break the page
        where = f"train example {index + 1}"
        said = str(exc) if isinstance(exc, tokenize.TrainDataError) else f"{type(exc).__name__}: {exc}"
        message = said if said.startswith(where) else f"{where}: {said}"
        return Preview(index, problem=message)


def of_folder(train: list, folder: Path, assistant_only: bool = True, template: str | None = None) -> Preview:
    """The preview with a local model's tokenizer.json and its chat template, or the run's `template` (no torch:
    the Train page's path)."""
    try:
        tok = tokens.ChatTokenizer(folder, template)
    except Exception as exc:  # noqa: BLE001 - as count_tokens: the page says why and goes on
        return Preview(pick(train), problem=f"The model's tokenizer could not be read: {str(exc)[:200]}")
    return of_split(train, tok, assistant_only)
