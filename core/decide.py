"""Prompt engineering, RAG or fine-tuning: the guide's decision tree as data, and the break-even.

`recommend(answers)` walks RULES in order; the first rule whose conditions hold names the
approach, and every rule on the way contributes the guide's own words. `break_even(econ, row)`
prices a call before (base model, long prompt) and after (fine-tuned model, short prompt)
with a row of `core.prices.table("openai")`, and says when, if ever, training pays back.
Test: `pytest tests/unit/test_decide.py`.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field, replace
from typing import Any

from core import prices
from core.money import usd

PROMPT = "Prompt engineering"
RAG = "RAG (retrieval-augmented generation)"
FINE_TUNE = "Fine-tuning"
NOT_YET = "Not yet: get data or an eval first"

# The guide's decision summary, word for word.
COST_LINES = {
    PROMPT: "Cost: near zero.",
    RAG: "Cost: moderate (embedding + vector DB).",
    FINE_TUNE: "Cost: high upfront, lower per-inference.",
    NOT_YET: "Meanwhile, prompt engineering. Cost: near zero.",
}

GAP_OPTIONS = {
    "style": "It knows the facts but gets the tone, structure or format wrong",
    "knowledge": "It lacks knowledge (internal specs, recent events, proprietary data)",
}
PROMPT_OPTIONS = {
    "not_tried": "Not tried yet",
    "90_plus": "90% or more of the time",
    "below_90": "Less than 90% of the time",
}


@dataclass(frozen=True)
class Answers:
    """The questionnaire: one field per question of the guide's tree and skip list."""

    gap: str = "style"
    prompt_success: str = "not_tried"
    examples: int = 0
    complex_task: bool = False
    changes_often: bool = False
    can_measure: bool = False


@dataclass(frozen=True)
class NextStep:
    text: str
    page: str | None = None  # a workbench step by name ("costs"); ui.PAGE_OF maps it to the page


@dataclass(frozen=True)
class Rule:
    """A branch of the tree: when every (field, op, value) holds, the approach is decided."""

    check: str
    when: tuple[tuple[str, str, Any], ...]
    approach: str
    quotes: tuple[str, ...]
    passed: str = ""  # the guide's words for this check when it lets the answers through
    steps: tuple[NextStep, ...] = ()


@dataclass(frozen=True)
class Reason:
    check: str
    quote: str
    passed: bool = False  # True: the check let the answers through; False: it decided


@dataclass(frozen=True)
class Recommendation:
    approach: str
    reasons: list[Reason]
    cost_line: str
    next_steps: list[NextStep]


OPS = {"==": operator.eq, "<": operator.lt}
COSTS = "costs"  # the step that compares methods; core names it, ui links it


def _steps(*texts: str) -> tuple[NextStep, ...]:
    return tuple(NextStep(t) for t in texts)


_MEASURE = "Build a held-out test set (10-20% of your data) and a score for it before any training."
_DATA = "Curate at least 50-100 high-quality examples (200-500+ for a complex task), one format per task type."
_STYLE = (
    "If the model knows the facts but produces output in the wrong tone, structure, or format, "
    "fine-tuning is a strong candidate."
)
_ECONOMIC = (
    "Fine-tuning only makes economic sense when you are burning tokens on long system prompts "
    "or few-shot examples at scale."
)
_RAG = (
    "If the model does not know something (e.g., your internal product specs, recent events, proprietary data), "
    "you need RAG — retrieval-augmented generation."
)
_NAILS = (
    "If the model nails the task 90%+ of the time with good examples, "
    "you do not need fine-tuning — you need a better prompt template."
)

# Order matters: the first rule that holds decides. The last one always holds.
RULES: tuple[Rule, ...] = (
    Rule(
        "Knowledge or style?",
        (("gap", "==", "knowledge"),),
        RAG,
        (
            _RAG,
            "Fine-tuning does not inject new factual knowledge reliably.",
            "You need the model to know new facts (use RAG).",
        ),
        passed=_STYLE,
        steps=_steps(
            "Embed your documents into a vector DB and put the best passages into the prompt.",
            "If the format is still wrong once the facts are there, answer 'style' and decide again.",
        ),
    ),
    Rule(
        "Can a better prompt fix it?",
        (("prompt_success", "==", "90_plus"),),
        PROMPT,
        (
            _NAILS,
            "The base model already performs at 90%+ with good prompts (the marginal gain is not worth the cost).",
        ),
        passed=_ECONOMIC,
        steps=_steps(
            "Keep the prompt template with its few-shot examples as your baseline.",
            "If that prompt is long and the volume high, check the economics below.",
        ),
    ),
    Rule(
        "Can a better prompt fix it?",
        (("prompt_success", "==", "not_tried"),),
        PROMPT,
        ("Try few-shot examples first. Add 3-5 examples of ideal input-output pairs directly in your prompt.",),
        steps=_steps("Add 3-5 ideal input-output pairs to the prompt, measure the success rate, and decide again."),
    ),
    Rule(
        "Does the task change often?",
        (("changes_often", "==", True),),
        PROMPT,
        ("Your task changes frequently (re-training is expensive and slow).",),
        steps=_steps("Keep the task in the prompt, where a change is an edit rather than a new training run."),
    ),
    Rule(
        "Can you measure quality?",
        (("can_measure", "==", False),),
        NOT_YET,
        ("You cannot measure quality reliably (you will not know if fine-tuning helped).",),
        steps=_steps(_MEASURE),
    ),
    Rule(
        "At least 50-100 good examples?",
        (("examples", "<", 50),),
        NOT_YET,
        (
            "Fine-tuning with fewer than 50 examples rarely produces meaningful improvement.",
            "If you cannot produce this volume of carefully curated data, stick with prompt engineering.",
        ),
        passed="Do you have at least 50-100 high-quality examples?",
        steps=_steps(_DATA),
    ),
    Rule(
        "Enough examples for a complex task?",
        (("complex_task", "==", True), ("examples", "<", 200)),
        NOT_YET,
        ("For complex tasks, you typically need 200-500+ examples.",),
        steps=_steps(_DATA),
    ),
    Rule(
        "Fine-tuning fits",
        (),
        FINE_TUNE,
        ("Fine-tuning — model needs to consistently adopt a specific behavior, style, or output format at scale.",),
        steps=_steps(
            "Check the break-even in the economics section below.",
            "Validate and deduplicate the dataset; hold out 10-20% as a test set.",
        )
        + (NextStep("Compare memory, time and dollars for every training method", page=COSTS),),
    ),
)


def _holds(rule: Rule, answers: Answers) -> bool:
    return all(OPS[op](getattr(answers, name), value) for name, op, value in rule.when)


def recommend(answers: Answers) -> Recommendation:
    """The first rule that holds decides; rules passed on the way and rules agreeing explain why."""
    if answers.examples < 0:
        raise ValueError(f"number of examples must be 0 or more, got {answers.examples}")
    fired = [r for r in RULES if _holds(r, answers)]  # never empty: the last rule always holds
    first = fired[0]
    fired_checks = {r.check for r in fired}  # a check passed only if none of its rules held
    reasons: list[Reason] = []
    for rule in RULES[: RULES.index(first)]:
        if rule.passed and rule.check not in fired_checks:
            reasons.append(Reason(rule.check, rule.passed, passed=True))
    steps: list[NextStep] = []
    for rule in (r for r in fired if r.approach == first.approach):
        reasons += [Reason(rule.check, q) for q in rule.quotes]
        steps += [s for s in rule.steps if s not in steps]
    return Recommendation(first.approach, reasons, COST_LINES[first.approach], steps)


@dataclass(frozen=True)
class Economics:
    """What a call looks like today and what fine-tuning would cost."""

    calls_per_month: int = 50_000
    removed_tokens: int = 1_500  # system prompt + few-shot examples the fine-tuned model no longer needs
    remaining_input_tokens: int = 100
    output_tokens: int = 50
    model: str = "gpt-4o-mini-2024-07-18"
    examples: int = 500
    tokens_per_example: int = 500
    epochs: int = 3


@dataclass(frozen=True)
class BreakEven:
    training_tokens: int
    training_usd: float
    before_per_call: float
    after_per_call: float
    saving_per_call: float
    break_even_calls: int | None
    break_even_months: float | None
    min_removed_tokens_to_pay_back: int | None

    @property
    def pays_back(self) -> bool:
        return self.break_even_calls is not None


_COUNTS = (
    "calls_per_month",
    "removed_tokens",
    "remaining_input_tokens",
    "output_tokens",
    "examples",
    "tokens_per_example",
)


def validate(econ: Economics, row: dict[str, Any] | None = None) -> list[str]:
    """Problems with the inputs, each naming the field; an empty list means go ahead."""
    problems = [
        f"{name.replace('_', ' ')} must be 0 or more (got {getattr(econ, name)})"
        for name in _COUNTS
        if getattr(econ, name) < 0
    ]
    if not 1 <= econ.epochs <= 50:
        problems.append(f"epochs must be between 1 and 50 (got {econ.epochs})")
    if 0 <= econ.examples < 10:
        problems.append(f"OpenAI needs at least 10 training examples (got {econ.examples})")
    limit = (row or {}).get("example_token_limit")
    if limit and econ.tokens_per_example > limit:
        problems.append(f"tokens per example {econ.tokens_per_example:,} is over {econ.model}'s limit of {limit:,}")
    return problems


def _per_token(row: dict[str, Any], key: str) -> float:
    value = row.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"price row {row.get('model', '?')!r}: {key} is {value!r}, not a price in USD per 1M tokens")
    return value / 1_000_000


def break_even(econ: Economics, row: dict[str, Any]) -> BreakEven:
    """Training cost, cost per call before and after, and when the saving covers the training."""
    train, b_in, b_out, f_in, f_out = (
        _per_token(row, k) for k in ("training", "base_input", "base_output", "ft_input", "ft_output")
    )
    tokens = econ.examples * econ.tokens_per_example * econ.epochs
    training = tokens * train
    before = (econ.removed_tokens + econ.remaining_input_tokens) * b_in + econ.output_tokens * b_out
    after = econ.remaining_input_tokens * f_in + econ.output_tokens * f_out
    saving = round(before - after, 12)  # float noise must not turn "exactly even" into a tiny saving
    calls = months = None
    if saving > 0:
        calls = math.ceil(round(training / saving, 6))
        months = calls / econ.calls_per_month if econ.calls_per_month else None
    # It pays back only if removed x base_in beats what the kept tokens cost extra at fine-tuned prices.
    extra = econ.remaining_input_tokens * (f_in - b_in) + econ.output_tokens * (f_out - b_out)
    min_removed = max(0, math.floor(round(extra / b_in, 9)) + 1) if b_in > 0 else None
    return BreakEven(tokens, training, before, after, saving, calls, months, min_removed)


def chart_calls(be: BreakEven, econ: Economics) -> int:
    """The x range for the chart: twice the break-even, or a year of calls when it never pays back."""
    if be.break_even_calls:
        return max(10, 2 * be.break_even_calls)
    return max(10, 12 * econ.calls_per_month) if econ.calls_per_month else 10_000


def cumulative_costs(be: BreakEven, max_calls: int, points: int = 21) -> list[dict[str, Any]]:
    """Cumulative USD of both options at evenly spaced call counts, long format for a chart."""
    rows = []
    for i in range(points):
        n = round(max_calls * i / (points - 1))
        rows.append({"calls": n, "option": "Base model, long prompt", "usd": n * be.before_per_call})
        rows.append({"calls": n, "option": "Fine-tuned, short prompt", "usd": be.training_usd + n * be.after_per_call})
    return rows


GUIDE_EXAMPLE = {
    "examples": 500,
    "tokens_per_example": 500,
    "removed_tokens": 500,
    "stated_training_usd": 0.75,
    "stated_calls": 1_500,
}


def guide_price_row() -> dict[str, Any]:
    """The guide's per-1K figures as a per-1M price row; base = half the fine-tuned price ("roughly 2x base")."""
    g = prices.GUIDE_OPENAI
    ft_in, ft_out = g["ft_input_per_1k"] * 1000, g["ft_output_per_1k"] * 1000
    return {
        "model": g["model"],
        "training": g["training_per_1k"] * 1000,
        "ft_input": ft_in,
        "ft_output": ft_out,
        "base_input": ft_in / 2,
        "base_output": ft_out / 2,
        "as_of": "early 2026 (the guide's words)",
        "source": "the guide, 'OpenAI Cost Analysis'",
    }


@dataclass(frozen=True)
class WorkedExample:
    guide_row: dict[str, Any]
    table_row: dict[str, Any]
    guide: BreakEven  # the guide's example priced with the guide's own figures
    table: BreakEven  # the same example with the dated table, one epoch as the guide counts it
    table_default_epochs: BreakEven  # and with OpenAI's default 3 epochs
    calls_at_guide_ft_input: int  # if the removed tokens were valued at the guide's fine-tuned input price
    price_for_stated_calls: float  # USD per 1M removed tokens that makes the guide's 1,500 calls come out
    comparison: list[dict[str, str]] = field(default_factory=list)
    explanation: list[str] = field(default_factory=list)


def guide_worked_example(table_row: dict[str, Any] | None = None) -> WorkedExample:
    """The guide's example (500 x 500 tokens, a 500-token prompt removed) against the formulas."""
    g, t = guide_price_row(), table_row or prices.openai_row("gpt-4o-mini")
    ex = GUIDE_EXAMPLE
    econ = Economics(
        calls_per_month=0,
        removed_tokens=ex["removed_tokens"],
        remaining_input_tokens=0,
        output_tokens=0,
        model=t["model"],
        examples=ex["examples"],
        tokens_per_example=ex["tokens_per_example"],
        epochs=1,
    )
    guide, table = break_even(econ, g), break_even(econ, t)
    three = break_even(replace(econ, epochs=3), t)
    at_ft = math.ceil(round(guide.training_usd / (ex["removed_tokens"] * g["ft_input"] / 1e6), 6))
    needed = ex["stated_training_usd"] / (ex["stated_calls"] * ex["removed_tokens"]) * 1e6
    w = WorkedExample(g, t, guide, table, three, at_ft, needed)
    w.comparison.extend(_comparison(w))
    w.explanation.extend(_explain(w))
    return w


def _calls(be: BreakEven) -> str:
    return f"{be.break_even_calls:,} calls" if be.pays_back else "never"


def _comparison(w: WorkedExample) -> list[dict[str, str]]:
    g, t = w.guide_row, w.table_row
    ex = GUIDE_EXAMPLE

    def line(name: str, guide: str, table: str) -> dict[str, str]:
        return {"figure": name, "the guide": guide, f"dated table ({t['model']})": table}

    return [
        line("Training, per 1M tokens", usd(g["training"]), usd(t["training"])),
        line("Fine-tuned input, per 1M", usd(g["ft_input"]), usd(t["ft_input"])),
        line("Base input, per 1M", f"{usd(g['base_input'])} (implied: 'roughly 2x base')", usd(t["base_input"])),
        line("Training cost, 1 epoch", f"{usd(ex['stated_training_usd'])} (stated)", usd(w.table.training_usd)),
        line("Saving per call", usd(w.guide.saving_per_call), usd(w.table.saving_per_call)),
        line("Break-even", f"{ex['stated_calls']:,} calls stated; formula: {_calls(w.guide)}", _calls(w.table)),
        line("As of", str(g["as_of"]), str(t.get("as_of", "?"))),
        line("Source", str(g["source"]), str(t.get("source", "?"))),
    ]


def _explain(w: WorkedExample) -> list[str]:
    g, t, ex = w.guide_row, w.table_row, GUIDE_EXAMPLE
    same = math.isclose(g["training"], t["training"])
    lines = [
        f"Training: {ex['examples']:,} x {ex['tokens_per_example']:,} = {w.table.training_tokens:,} tokens. At the "
        f"guide's {usd(g['training'] / 1000)}/1K that is {usd(w.guide.training_usd)}; the table's "
        f"{usd(t['training'])}/1M is {'the same rate' if same else 'a different rate'}, giving "
        f"{usd(w.table.training_usd)}. Both count one pass; OpenAI bills every epoch, so its default 3 epochs cost "
        f"{usd(w.table_default_epochs.training_usd)}.",
        f"The guide's {ex['stated_calls']:,} calls needs a saving of {usd(ex['stated_training_usd'])} / "
        f"{ex['stated_calls']:,} = {usd(ex['stated_training_usd'] / ex['stated_calls'])} per call, i.e. "
        f"{usd(w.price_for_stated_calls)} per 1M removed tokens. None of the guide's prices is that: valued at its "
        f"fine-tuned input price ({usd(g['ft_input'])}/1M) the break-even is {w.calls_at_guide_ft_input:,} calls, "
        f"and at the base price it implies ({usd(g['base_input'])}/1M) it is {_calls(w.guide)}.",
    ]
    if t["base_input"] > 0:
        ratio = t["ft_input"] / t["base_input"]
        lines.append(
            f"Removed tokens are saved at the base price, since the long prompt went to the base model; every token "
            f"still sent costs the fine-tuned price, {ratio:.1f}x base in the table ({usd(t['ft_input'])} vs "
            f"{usd(t['base_input'])} per 1M). With nothing else in the call, {ex['removed_tokens']} x "
            f"{usd(t['base_input'])}/1M = {usd(w.table.saving_per_call)} per call, so training pays back after "
            f"{_calls(w.table)} ({_calls(w.table_default_epochs)} at 3 epochs)."
        )
        extra = (t["ft_input"] - t["base_input"]) + (t["ft_output"] - t["base_output"])
        if extra > 0:
            n = ex["removed_tokens"] * t["base_input"] / extra
            lines.append(
                f"Each kept input token costs {usd(t['ft_input'] - t['base_input'])}/1M more after fine-tuning and "
                f"each output token {usd(t['ft_output'] - t['base_output'])}/1M more, so a call that keeps {n:,.0f} "
                f"input and {n:,.0f} output tokens cancels the whole saving of removing {ex['removed_tokens']} tokens."
            )
    return lines
