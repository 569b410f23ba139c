"""Preference datasets: pairs of a preferred and a non-preferred answer to one prompt, in OpenAI's DPO form.

The internal form of a preference dataset version is OpenAI's DPO record:
`{"input": {"messages": [...], "tools"?, "parallel_tool_calls"?}, "preferred_output": [assistant message],
"non_preferred_output": [assistant message]}`. `convert(record)` reads that form and TRL's preference formats:
`prompt`/`chosen`/`rejected` as strings (standard) or as message lists (conversational), the prompt repeated at
the start of each answer, and the implicit-prompt form (only `chosen`/`rejected`; what they share at the start is
the prompt). `validate(...)` checks each pair (both answers there, one assistant message each, different, the
prompt ending where an answer starts) and runs the chat validator on prompt + each answer, mapping its findings
back to the pair's line and side. `export_bytes` writes OpenAI DPO or TRL conversational JSON Lines; `to_chat`
and `derive_chat` make SFT examples of the chosen answers.
Test: `pytest tests/unit/test_preference.py`.
"""

from __future__ import annotations

import itertools
import json
import os

from core.data import ERROR, PER_KIND, Finding, Findings, writers

SIDES = {"preferred_output": "chosen", "non_preferred_output": "rejected"}
_LABELS = {"preferred_output": "preferred (chosen)", "non_preferred_output": "non-preferred (rejected)"}
_INPUT_EXTRAS = ("tools", "parallel_tool_calls")  # what the input carries beside the prompt's messages
EXPORTS = {
    "openai": "OpenAI DPO JSONL (input, preferred_output, non_preferred_output)",
    "trl": "TRL preference JSONL (prompt, chosen, rejected as messages)",
}
HINTS = {
    "preference_not_pair": "give each line input.messages, preferred_output and non_preferred_output, "
    "or TRL's prompt, chosen and rejected",
    "preference_empty_prompt": "put the conversation before the answers in input.messages, ending with the user",
    "preference_prompt_ends_with_assistant": "end the prompt with the user's turn (or a tool result): "
    "both answers start where it ends",
    "preference_missing_answer": "give both a preferred and a non-preferred answer",
    "preference_answer_not_one_assistant": "make each answer a list of exactly one assistant message "
    "(OpenAI's DPO rule); move earlier turns into input.messages",
    "preference_same_answers": "make the non-preferred answer the worse one; a pair of equal answers teaches nothing",
}


# ---- reading the shapes --------------------------------------------------------------------------------------------


def is_record(obj: object) -> bool:
    """A record in one of the preference shapes convert() reads (for layout detection)."""
    if not isinstance(obj, dict):
        return False
    return "preferred_output" in obj or "non_preferred_output" in obj or ("chosen" in obj and "rejected" in obj)


def is_pair(obj: object, lenient: bool = False) -> bool:
    """A record in the internal form: an input with a messages list and both sides as lists.

    lenient: only shaped like one (an `input` and a `preferred_output`, whatever they hold), as the editor needs
    to tell a malformed pair from a chat example."""
    if lenient:  # no generator: the editor calls it per row
        return isinstance(obj, dict) and "input" in obj and "preferred_output" in obj
    return (
        isinstance(obj, dict)
        and isinstance(obj.get("input"), dict)
        and isinstance(obj["input"].get("messages"), list)
        and all(isinstance(obj.get(side), list) for side in SIDES)
    )


def plural(n: int, one: str, many: str) -> str:
    """A count with its noun in the right number: "1 pair", "2 pairs" (thousands separated)."""
    return f"{n:,} {one if n == 1 else many}"


def counted(n: int, kind: str = "preference") -> str:
    """How many examples a dataset of `kind` holds, in words: "1 preference pair", "20 examples"."""
    if kind == "preference":
        return plural(n, "preference pair", "preference pairs")
    return plural(n, "example", "examples")


def _messages(value: object, role: str) -> list | None:
    """Text (one message of `role`), one message, or a list of messages as a list; None for anything else."""
    if isinstance(value, str):
        return [{"role": role, "content": value}]
    if isinstance(value, dict) and "role" in value:
        return [value]
    return list(value) if isinstance(value, list) else None


def _from_openai(obj: dict) -> tuple[dict | None, str | None]:
    prompt = obj.get("input")
    if not isinstance(prompt, dict) or not isinstance(prompt.get("messages"), list):
        return None, "'input' must be an object with a 'messages' list (the prompt); fix the record"
    record = {"input": dict(prompt)}
    for side in SIDES:
        value = obj.get(side, [])
        if not isinstance(value, list):
            return None, f"'{side}' must be a list holding one assistant message, not {type(value).__name__}"
        record[side] = value
    return record, None


def _shared_text(chosen: str, rejected: str) -> tuple[str, str, str] | None:
    """(prompt, chosen answer, rejected answer) of implicit-prompt text, cut at the last space they share."""
    cut = chosen.rfind(" ", 0, len(os.path.commonprefix([chosen, rejected])))
    return (chosen[:cut], chosen[cut:], rejected[cut:]) if cut > 0 else None


def _shared_messages(chosen: list, rejected: list) -> int:
    """How many leading messages chosen and rejected share, leaving each at least its last message."""
    n = 0
    while n < min(len(chosen), len(rejected)) - 1 and chosen[n] == rejected[n]:
        n += 1
    return n


def _after(prompt: list, answer: list) -> list:
    """The answer without the prompt repeated at its start (as in sentiment-trl-style), else as it is."""
    return answer[len(prompt) :] if len(answer) > len(prompt) and answer[: len(prompt)] == prompt else answer


def _from_trl(obj: dict) -> tuple[dict | None, str | None]:
    chosen, rejected = _messages(obj.get("chosen"), "assistant"), _messages(obj.get("rejected"), "assistant")
    if chosen is None or rejected is None:
        return None, "'chosen' and 'rejected' must each be text or a list of messages; fix the record"
    if "prompt" in obj:
        prompt = _messages(obj["prompt"], "user")
        if prompt is None:
            return None, "'prompt' must be text or a list of messages; fix the record"
        chosen, rejected = _after(prompt, chosen), _after(prompt, rejected)
    elif obj["chosen"] == obj["rejected"]:
        return None, (
            "both answers are the same ('chosen' equals 'rejected'), so there is no preference and no way to tell "
            "the prompt from the answer: make 'rejected' the worse answer and add a 'prompt'"
        )
    elif isinstance(obj["chosen"], str) and isinstance(obj["rejected"], str):
        found = _shared_text(obj["chosen"], obj["rejected"])
        if found is None:
            return None, "'chosen' and 'rejected' share no leading words, so the prompt is unknown: add a 'prompt'"
        prompt = [{"role": "user", "content": found[0]}]
        chosen, rejected = [{"role": "assistant", "content": found[1]}], [{"role": "assistant", "content": found[2]}]
    else:
        n = _shared_messages(chosen, rejected)
        if n == 0:
            return None, "'chosen' and 'rejected' share no leading message, so the prompt is unknown: add a 'prompt'"
        prompt, chosen, rejected = chosen[:n], chosen[n:], rejected[n:]
    record = {"input": {"messages": prompt, **{k: obj[k] for k in _INPUT_EXTRAS if k in obj}}}
    return {**record, "preferred_output": chosen, "non_preferred_output": rejected}, None


def convert(obj: object, _mapping: dict | None = None) -> tuple[dict | None, str | None]:
    """(the OpenAI DPO record, None), or (None, what is wrong and what to do); the record read is not changed."""
    if not isinstance(obj, dict):
        return None, f"the record is {type(obj).__name__}, not an object with a prompt and two answers"
    if "input" in obj or any(side in obj for side in SIDES):
        return _from_openai(obj)
    if "chosen" in obj or "rejected" in obj:
        return _from_trl(obj)
    keys = ", ".join(map(str, list(obj)[:8])) or "none"
    return None, (
        "not a preference pair: expected input, preferred_output and non_preferred_output (OpenAI) or prompt, "
        f"chosen and rejected (TRL); keys found: {keys}"
    )


# ---- views of a pair -----------------------------------------------------------------------------------------------


def prompt(record: dict) -> list:
    """The prompt's messages of a pair in the internal form."""
    return record["input"]["messages"]


def as_chat(record: dict, side: str = "preferred_output") -> dict:
    """One side of a pair as an OpenAI chat example: the prompt then that answer, with the input's tools."""
    extras = {k: record["input"][k] for k in _INPUT_EXTRAS if k in record["input"]}
    return {"messages": [*prompt(record), *record[side]], **extras}


def to_chat(records: list[dict]) -> list[dict]:
    """SFT examples of the chosen answers: prompt + preferred_output, one per pair, in order."""
    return [as_chat(r) for r in records]


def both_sides(records: list) -> list[dict]:
    """Each pair as the two chat examples DPO reads: prompt + chosen, then prompt + rejected."""
    return [as_chat(r, side) for r in records if is_pair(r) for side in SIDES]


def to_trl(record: dict) -> dict:
    """A pair in TRL's conversational preference form (prompt, chosen, rejected as message lists)."""
    extras = {k: record["input"][k] for k in _INPUT_EXTRAS if k in record["input"]}
    sides = {"chosen": record["preferred_output"], "rejected": record["non_preferred_output"]}
    return {"prompt": prompt(record), **sides, **extras}


def export_bytes(records: list[dict], fmt: str = "openai") -> bytes:
    """JSON Lines of the pairs: "openai" (the DPO records as they are) or "trl" (prompt/chosen/rejected)."""
    if fmt not in EXPORTS:
        raise ValueError(f"unknown preference export {fmt!r}; use one of {', '.join(EXPORTS)}")
    return writers.to_jsonl_bytes(records if fmt == "openai" else [to_trl(r) for r in records])


def prompt_groups(examples: list) -> list[str] | None:
    """One key per pair naming its prompt (up to whitespace and case); None unless every example is a pair."""
    if not examples or not all(map(is_pair, examples)):
        return None
    from core.data import dedup

    return [dedup.exact_key({"messages": prompt(e)}) for e in examples]


# ---- validation ----------------------------------------------------------------------------------------------------


def _pair_problems(record: dict) -> list[tuple[str, str]]:
    out = []
    messages = prompt(record)
    if not messages:
        out.append(("preference_empty_prompt", "the prompt (input.messages) is empty"))
    elif isinstance(messages[-1], dict) and messages[-1].get("role") == "assistant":
        out.append(("preference_prompt_ends_with_assistant", "the prompt's last message is the assistant's"))
    for side, label in _LABELS.items():
        answer = record[side]
        if not answer:
            out.append(("preference_missing_answer", f"the {label} answer is missing: '{side}' is empty"))
        elif len(answer) != 1 or not isinstance(answer[0], dict) or answer[0].get("role") != "assistant":
            role = answer[0].get("role") if isinstance(answer[0], dict) else type(answer[0]).__name__
            what = f"has {len(answer)} messages" if len(answer) != 1 else f"is a {role!r} message"
            out.append(
                ("preference_answer_not_one_assistant", f"the {label} answer {what}, not one assistant message")
            )
    if all(record[side] for side in SIDES) and record["preferred_output"] == record["non_preferred_output"]:
        out.append(("preference_same_answers", "the preferred and non-preferred answers are the same"))
    return out


def _side_findings(reports: dict, rows: dict, lines: list[int]) -> list[Finding]:
    """The chat findings of both sides on the pairs' lines, each naming the side it came from; one both sides
    share (the prompt's) is kept once, unnamed."""
    seen: dict[tuple, list] = {}
    for name, report in reports.items():
        for f in report.errors + report.warnings:
            row = None if f.row is None else rows[name][f.row]
            seen.setdefault((row, f.kind, f.message), []).append((name, f))
    out = []
    for (row, _, message), found in seen.items():
        name, f = found[0]
        shared = len({n for n, _ in found}) > 1 or row is None
        text = message if shared else f"prompt + {name} answer: {message}"
        out.append(Finding(f.kind, text, f.severity, None if row is None else lines[row], row, f.hint, f.extra))
    return out


def _inputs(data) -> tuple[list, list[int], list[Finding], int | None]:
    from core.data.io import Loaded

    if isinstance(data, Loaded):
        return data.examples, data.lines, list(data.findings), PER_KIND
    records = list(data)
    return records, list(range(1, len(records) + 1)), [], None


def validate(data, model: str | None = None, token_limit: int | None = None, count_tokens: bool = True):
    """A core.data.validate.Report of a Loaded preference dataset or a list of pairs (rows: pair indices).

    A file's findings are capped per kind as chat's are; stats carry each side's chat statistics (tokens of
    prompt + that answer per pair) under "chosen" and "rejected"."""
    from core.data import validate as chat

    records, lines, carried, per_kind = _inputs(data)
    findings = Findings(per_kind)
    findings.extend(carried)
    sides: dict[str, list] = {name: [] for name in SIDES.values()}
    rows: dict[str, list[int]] = {name: [] for name in SIDES.values()}
    for row, (obj, line) in enumerate(zip(records, lines, strict=True)):
        record, problem = (obj, None) if is_pair(obj) else convert(obj)
        if record is None:
            findings.add(Finding("preference_not_pair", problem, ERROR, line, row, HINTS["preference_not_pair"]))
            continue
        for kind, message in _pair_problems(record):
            findings.add(Finding(kind, message, ERROR, line, row, HINTS[kind]))
        for side, name in SIDES.items():
            if record[side]:  # a missing answer is reported above, not as a chat example without its answer
                sides[name].append(as_chat(record, side))
                rows[name].append(row)
    model = model or chat.DEFAULT_MODEL
    reports = {n: chat.validate(convs, model, token_limit, count_tokens) for n, convs in sides.items()}
    findings.extend(_side_findings(reports, rows, lines))
    kept = sorted(findings.items(), key=lambda f: (f.line or 0, f.row or 0))
    stats = {
        "examples": len(records),
        "pairs": len(set(rows["chosen"]) & set(rows["rejected"])),
        "avg_assistant_words": reports["chosen"].stats.get("avg_assistant_words"),
        **{name: report.stats for name, report in reports.items()},
    }
    errors = [f for f in kept if f.severity == ERROR]
    warnings = [f for f in kept if f.severity != ERROR]
    return chat.Report(len(records), errors, warnings, stats, dict(findings.counts.most_common()))


# ---- derivation ----------------------------------------------------------------------------------------------------


def free_name(base: str) -> str:
    """`base`, or `base 2`, `base 3`, ...: the first dataset name not taken yet."""
    from core.data import versions

    taken = {d.name for d in versions.datasets()}
    return next(n for n in itertools.chain([base], (f"{base} {i}" for i in itertools.count(2))) if n not in taken)


def derive_chat(version):
    """A new chat dataset of SFT examples on the chosen answers of a preference version (its split kept)."""
    from core.data import versions

    if version.kind != "preference":
        raise ValueError(f"{version.label} is a {version.kind} dataset; chat examples come from a preference one")
    name = free_name(f"{version.dataset} (chosen answers)")
    source = json.dumps({"derived_from": version.id, "from": version.label})
    note = f"SFT on the chosen answers of {version.label}"
    return versions.create(name, to_chat(versions.examples(version)), note, source, "chat", version.splits)
