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
The rules and the checks that name what breaks them live in core.data.chat_format. Its checks beyond
OpenAI's stated rules: a tool result must answer a call made earlier in the example, call ids are
unique, a call names a function the example's tools define (when it gives tools), and an example
whose every assistant turn has weight 0 has nothing to learn.
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
from array import array
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core import chat, costs, models, prices, templates, tokens
from core.data import ERROR, PER_KIND, WARNING, Finding, io, layouts, readers, total_of
from core.data.chat_format import (  # noqa: F401 - HINTS, ROLES, ALLOWED_KEYS, MODEL_KINDS: read from here too
    ALLOWED_KEYS,
    HINTS,
    MODEL_KINDS,
    ROLES,
    Checker,
    fast_functions,
    fast_roles,
    fast_tool_roles,
    order_problems,
)
from core.data.io import DEFAULT_MAX_BYTES, Loaded, gc_paused, load

DEFAULT_MODEL = "gpt-4o-mini-2024-07-18"


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
                    extra = chat.text_parts(value) if key == "content" else None
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


def _token_limit(model: str, token_limit: int | None, tok: _Tokenizer, check: Checker) -> int | None:
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
    if isinstance(data, Loaded) and data.kind == "preference":  # pairs have their own checks, chat's inside them
        from core.data import preference

        return preference.validate(data, model, token_limit, count_tokens)
    with gc_paused():
        return _validate(data, model, token_limit, count_tokens)


class _Run:
    """One validation, fed records a chunk at a time: the checks, and the per-example numbers the statistics need.

    Only those numbers outlive a chunk, so validate_file holds one chunk of a file's records at a time.
    """

    def __init__(self, model: str, token_limit: int | None, count_tokens: bool, per_kind: int | None) -> None:
        self.check, self.model = Checker(per_kind, model), model
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
            roles = fast_roles(messages) if len(obj) == 1 else None  # a record with tools goes to fast_tool_roles
            given = None
            if len(obj) > 1:  # tools, functions, parallel_tool_calls: checked where they are well-formed, else named
                tools = (obj.get("tools"), obj.get("functions"), obj.get("parallel_tool_calls"))
                if tools == self.last_tools:  # files repeat one tools list: compared in C, checked once
                    given = self.last_names
                else:
                    given = fast_functions(obj)
                    if given is False:
                        given = check.tools(obj, line, row)
                    else:
                        self.last_tools, self.last_names = tools, given
            if roles is None:
                roles = fast_tool_roles(messages, given)
            if roles is None:
                roles = check.messages(messages, line, row, given)
            problems = cache.get(key := tuple(roles))  # the order checks, once per role sequence
            if problems is None:
                problems = cache[key] = order_problems(key)
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
