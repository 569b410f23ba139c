"""Format checks, token limits and statistics for a chat fine-tuning dataset.

Every check of the guide's validation script and every format error type of OpenAI's data-prep
cookbook, plus the stricter checks other tools add (role order, system only first, blank
content). Findings carry the 1-based file line, the 0-based example row and a one-line fix.
Token counts follow the cookbook (tiktoken for OpenAI models, a local model's tokenizer.json
otherwise). The cookbook's role list is followed: system, user, assistant, function ("tool" is
reported as unrecognised, as the cookbook does).
CLI: `python -m core.data validate FILE [--model M] [--json]`.
A file's findings are capped per kind and a chat JSON Lines file is checked a chunk at a time, so validating
junk of any size holds little more than one chunk.
Test: `pytest tests/unit/test_validate.py tests/unit/test_bad_inputs.py tests/unit/test_validate_bounds.py`.
"""

from __future__ import annotations

import itertools
import json
from array import array
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core import chat, costs, models, prices, tokens
from core.data import ERROR, PER_KIND, WARNING, Finding, Findings, io, layouts, readers, total_of
from core.data.io import DEFAULT_MAX_BYTES, Loaded, gc_paused, load
from core.data.readers import shown, type_name

DEFAULT_MODEL = "gpt-4o-mini-2024-07-18"
_ABSENT = object()
ALLOWED_KEYS = frozenset({"role", "content", "name", "function_call", "weight"})
ROLES = frozenset({"system", "user", "assistant", "function"})
HINTS = {
    "data_type": "each line must be one JSON object",
    "missing_messages_list": 'give each example a non-empty "messages" list',
    "message_not_object": 'each message must be an object like {"role": "user", "content": "..."}',
    "message_missing_key": "each message needs both 'role' and 'content'",
    "message_unrecognized_key": "allowed keys: role, content, name, function_call, weight",
    "unrecognized_role": "use system, user, assistant or function",
    "missing_content": "content must be a string",
    "empty_content": "write the text, or drop the message",
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
    turns = [r for r in roles if r in ("user", "assistant")]
    for j, (before, now) in enumerate(zip(["assistant", *turns], turns, strict=False)):
        if before == now:
            where = "the first turn is the assistant's" if j == 0 else f"{now!r} follows {before!r}"
            out.append(("roles_not_alternating", f"roles do not alternate: {where}", WARNING))
            break
    return out


class _Checker:
    """Collects findings; the slow paths that name what is wrong live here."""

    def __init__(self, per_kind: int | None) -> None:
        self.findings = Findings(per_kind)
        self.order_cache: dict[tuple, list] = {}

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

    def messages(self, messages: list, line: int, row) -> list[str | None]:
        return [self.message(m, j, line, row) for j, m in enumerate(messages, 1)]

    def message(self, m: object, j: int, line: int, row) -> str | None:
        if not isinstance(m, dict):
            self.add("message_not_object", f"message {j} is {type_name(m)}, not an object", line, row)
            return None
        absent = [k for k in ("role", "content") if k not in m]
        if absent:
            self.add("message_missing_key", f"message {j} has no {' or '.join(absent)}", line, row)
        for key in m.keys() - ALLOWED_KEYS:
            self.add("message_unrecognized_key", f"message {j} has an unrecognized key {shown(key)}", line, row)
        role, content = m.get("role"), m.get("content", _ABSENT)
        if "role" in m and (not isinstance(role, str) or role not in ROLES):
            self.add("unrecognized_role", f"message {j} has role {shown(role)}", line, row)
        if isinstance(content, str):
            if not content.strip() and "function_call" not in m:
                self.add("empty_content", f"message {j} ({role}) has empty content", line, row)
        elif content is not _ABSENT and not (content is None and "function_call" in m):
            what = f"message {j} content is {type_name(content)}, not a string"
            self.add("missing_content", what, line, row)
        return role if isinstance(role, str) else None


def _fast_roles(messages: list) -> list[str] | None:
    """The roles when every message is a plain, well-formed {role, content}; None sends it to the slow path.

    This loop runs for every message of every file checked, so it is kept to the bare tests;
    anything unusual (not a dict, a key missing, an unhashable role) raises or fails one.
    """
    roles = []
    try:
        for m in messages:
            role, content = m["role"], m["content"]
            if len(m) != 2 or role not in ROLES or type(content) is not str or not content or content.isspace():
                return None
            roles.append(role)
    except (KeyError, TypeError):
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


def _count_chunk(convs: list[list], tok: _Tokenizer, role_cache: dict) -> tuple[list[int], list[int]]:
    """Cookbook accounting per conversation (3 per message, +1 per name, +3 primer) and assistant tokens."""
    texts, owners = [], []  # owner: (example index, is assistant content)
    totals = [tokens.REPLY_PRIMER] * len(convs)
    for i, messages in enumerate(convs):
        for m in messages:
            if not isinstance(m, dict):
                continue
            totals[i] += tokens.TOKENS_PER_MESSAGE
            for key, value in m.items():
                if not isinstance(value, str):
                    continue
                if key == "role":  # a handful of distinct roles: count each once
                    if value not in role_cache:
                        role_cache[value] = tok.count([value])[0]
                    totals[i] += role_cache[value]
                    continue
                totals[i] += tokens.TOKENS_PER_NAME if key == "name" else 0
                texts.append(value)
                owners.append((i, key == "content" and m.get("role") == "assistant"))
    assistant = [0] * len(convs)
    for (i, is_assistant), n in zip(owners, tok.count(texts), strict=True):
        totals[i] += n
        if is_assistant:
            assistant[i] += n
    return totals, assistant


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
        self.check, self.model = _Checker(per_kind), model
        self.tok = _Tokenizer(model) if count_tokens else None
        self.limit = _token_limit(model, token_limit, self.tok, self.check) if self.tok else None
        self.records = self.examples = self.answers = self.answer_words = self.over = 0
        self.lengths, self.totals, self.assistant = array("q"), array("q"), array("q")
        self.role_cache: dict = {}

    def feed(self, records: list, lines: list[int], rows_are_examples: bool) -> None:
        check, cache = self.check, self.check.order_cache
        convs, conv_lines, conv_rows = [], [], []
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
            if roles is None:
                roles = check.messages(messages, line, row)
            problems = cache.get(key := tuple(roles))  # the order checks, once per role sequence
            if problems is None:
                problems = cache[key] = _order_problems(key)
            for kind, message, severity in problems:
                check.add(kind, message, line, row, severity)
            convs.append(messages)
            conv_lines.append(line)
            conv_rows.append(row)
        self.records += len(records)
        self._add_numbers(convs, conv_lines, conv_rows)

    def _add_numbers(self, convs: list[list], lines: list[int], rows: list[int]) -> None:
        self.lengths.extend(len(m) for m in convs)
        answers = [t for t in map(_last_assistant_text, convs) if t is not None]
        self.answers += len(answers)
        self.answer_words += word_total(answers)
        for start in range(0, len(convs) if self.tok else 0, 5000):  # chunks bound the memory of the text lists
            totals, assistant = _count_chunk(convs[start : start + 5000], self.tok, self.role_cache)
            for i, n in enumerate(totals, start):
                if self.limit and n > self.limit:
                    msg = f"{n} tokens, over the {self.limit}-token limit for {self.model}"
                    self.check.add("over_token_limit", msg, lines[i], rows[i], WARNING)
                    self.over += 1
            self.totals.extend(totals)
            self.assistant.extend(assistant)

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
