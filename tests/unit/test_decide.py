"""The decision tree's branches, the break-even arithmetic and the guide's worked example.

Run: `pytest tests/unit/test_decide.py`. Expected numbers are worked by hand in the comments,
with gpt-4o-mini's prices per 1M tokens: training 3.00, base in/out 0.15/0.60, fine-tuned in/out 0.30/1.20.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from core import decide, prices

ROOT = Path(__file__).resolve().parents[2]
GUIDE_CANDIDATES = (ROOT / "docs" / "seed-guide.txt", ROOT.parent / "shared" / "seed-guide.txt")
MINI = {
    "model": "mini",
    "training": 3.00,
    "base_input": 0.15,
    "base_output": 0.60,
    "ft_input": 0.30,
    "ft_output": 1.20,
}
# Everything points to fine-tuning; each branch test changes one answer.
READY = decide.Answers(gap="style", prompt_success="below_90", examples=300, can_measure=True)


def guide_text() -> str:
    found = [p for p in GUIDE_CANDIDATES if p.exists()]
    assert found, f"the guide is not at any of {[str(p) for p in GUIDE_CANDIDATES]}"
    return " ".join(found[0].read_text(encoding="utf-8").split())


def decided_by(rec: decide.Recommendation) -> set[str]:
    return {r.check for r in rec.reasons if not r.passed}


@pytest.mark.parametrize(
    ("change", "approach", "check"),
    [
        ({}, decide.FINE_TUNE, "Fine-tuning fits"),
        ({"gap": "knowledge"}, decide.RAG, "Knowledge or style?"),
        ({"prompt_success": "90_plus"}, decide.PROMPT, "Can a better prompt fix it?"),
        ({"prompt_success": "not_tried"}, decide.PROMPT, "Can a better prompt fix it?"),
        ({"changes_often": True}, decide.PROMPT, "Does the task change often?"),
        ({"can_measure": False}, decide.NOT_YET, "Can you measure quality?"),
        ({"examples": 49}, decide.NOT_YET, "At least 50-100 good examples?"),
        ({"examples": 50}, decide.FINE_TUNE, "Fine-tuning fits"),
        ({"complex_task": True, "examples": 199}, decide.NOT_YET, "Enough examples for a complex task?"),
        ({"complex_task": True, "examples": 200}, decide.FINE_TUNE, "Fine-tuning fits"),
    ],
)
def test_each_branch_names_its_approach_and_cost(change, approach, check):
    rec = decide.recommend(replace(READY, **change))
    assert rec.approach == approach
    assert decided_by(rec) == {check}
    assert rec.cost_line == decide.COST_LINES[approach]
    assert rec.next_steps


def test_knowledge_gap_wins_over_everything_after_it():
    rec = decide.recommend(replace(READY, gap="knowledge", prompt_success="90_plus", examples=0))
    assert rec.approach == decide.RAG
    assert any("use RAG" in r.quote for r in rec.reasons)


def test_not_yet_collects_every_missing_prerequisite():
    rec = decide.recommend(replace(READY, can_measure=False, examples=10, complex_task=True))
    assert decided_by(rec) == {
        "Can you measure quality?",
        "At least 50-100 good examples?",
        "Enough examples for a complex task?",
    }
    texts = [s.text for s in rec.next_steps]
    assert any("held-out test set" in t for t in texts) and any("50-100" in t for t in texts)
    assert len(texts) == len(set(texts)), "the data step is shared by two rules and must appear once"


def test_passed_checks_explain_fine_tuning_but_not_an_untried_prompt():
    tuned = decide.recommend(READY)
    passed = {r.check for r in tuned.reasons if r.passed}
    assert passed == {"Knowledge or style?", "Can a better prompt fix it?", "At least 50-100 good examples?"}
    untried = decide.recommend(replace(READY, prompt_success="not_tried"))
    assert {r.check for r in untried.reasons if r.passed} == {"Knowledge or style?"}


def test_only_fine_tuning_links_to_the_costs_page_and_it_is_routed():
    app = (ROOT / "app.py").read_text()
    for answers in (READY, replace(READY, gap="knowledge"), replace(READY, examples=0)):
        for step in decide.recommend(answers).next_steps:
            assert step.page is None or f'url_path="{step.page}"' in app  # core names a step; app routes it
    assert [s.page for s in decide.recommend(READY).next_steps if s.page] == ["costs"]


def test_every_quote_and_cost_line_is_the_guides_own_words():
    text = guide_text()
    quotes = {q for rule in decide.RULES for q in (*rule.quotes, rule.passed) if q}
    for quote in quotes:
        assert quote in text, quote
    for approach in (decide.PROMPT, decide.RAG, decide.FINE_TUNE):
        assert decide.COST_LINES[approach].rstrip(".") in text


def test_negative_examples_are_refused_with_a_message():
    with pytest.raises(ValueError, match="examples"):
        decide.recommend(replace(READY, examples=-1))


def test_break_even_against_hand_arithmetic():
    econ = decide.Economics(
        calls_per_month=50_000,
        removed_tokens=1_500,
        remaining_input_tokens=100,
        output_tokens=50,
        examples=500,
        tokens_per_example=500,
        epochs=3,
    )
    be = decide.break_even(econ, MINI)
    assert be.training_tokens == 750_000  # 500 x 500 x 3
    assert be.training_usd == pytest.approx(2.25)  # 750,000 x 3.00 / 1M
    assert be.before_per_call == pytest.approx(270e-6)  # (1,500 + 100) x 0.15/1M + 50 x 0.60/1M = 240 + 30 micro-$
    assert be.after_per_call == pytest.approx(90e-6)  # 100 x 0.30/1M + 50 x 1.20/1M = 30 + 60 micro-$
    assert be.saving_per_call == pytest.approx(180e-6)
    assert be.break_even_calls == 12_500  # 2.25 / 0.00018
    assert be.break_even_months == pytest.approx(0.25)  # 12,500 / 50,000
    # Kept tokens cost 100 x (0.30 - 0.15) + 50 x (1.20 - 0.60) = 45 micro-$ extra; 45 / 0.15 = 300 removed
    # tokens only break even, so paying back needs 301.
    assert be.min_removed_tokens_to_pay_back == 301


def test_break_even_rounds_up_to_a_whole_call():
    # 10 x 100 x 1 = 1,000 tokens -> $0.003; saving 700 x 0.15/1M = $0.000105; 0.003 / 0.000105 = 28.57 -> 29.
    econ = decide.Economics(
        calls_per_month=0,
        removed_tokens=700,
        remaining_input_tokens=0,
        output_tokens=0,
        examples=10,
        tokens_per_example=100,
        epochs=1,
    )
    be = decide.break_even(econ, MINI)
    assert be.break_even_calls == 29
    assert be.break_even_months is None  # no calls a month: no date to give


def test_never_pays_back_and_the_threshold_is_exact():
    base = decide.Economics(removed_tokens=100, remaining_input_tokens=100, output_tokens=50)
    # before 200 x 0.15 + 50 x 0.60 = 60 micro-$; after 90 micro-$: the fine-tuned call costs more.
    never = decide.break_even(base, MINI)
    assert never.saving_per_call == pytest.approx(-30e-6)
    assert never.break_even_calls is None and never.break_even_months is None and not never.pays_back
    assert never.min_removed_tokens_to_pay_back == 301
    even = decide.break_even(replace(base, removed_tokens=300), MINI)  # 300 x 0.15 = 45: exactly even
    assert even.saving_per_call == 0 and not even.pays_back
    just = decide.break_even(replace(base, removed_tokens=301), MINI)  # saves 0.15 micro-$ per call
    assert just.break_even_calls == 15_000_000  # 2.25 / 0.00000015


def test_free_base_input_means_no_prompt_length_pays_back():
    be = decide.break_even(decide.Economics(), {**MINI, "base_input": 0.0})
    assert be.min_removed_tokens_to_pay_back is None


@pytest.mark.parametrize("bad", [None, "abc", -1.0, True])
def test_a_broken_price_row_names_the_field(bad):
    with pytest.raises(ValueError, match="'mini': ft_input"):
        decide.break_even(decide.Economics(), {**MINI, "ft_input": bad})


def test_validate_names_each_bad_field():
    econ = decide.Economics(calls_per_month=-1, epochs=0, examples=5, tokens_per_example=70_000)
    problems = decide.validate(econ, {"example_token_limit": 65_536})
    joined = "\n".join(problems)
    assert len(problems) == 4
    for word in ("calls per month", "epochs", "at least 10", "65,536"):
        assert word in joined
    assert decide.validate(decide.Economics(), {"example_token_limit": 65_536}) == []


def test_cumulative_costs_cross_at_break_even():
    econ = decide.Economics()
    be = decide.break_even(econ, MINI)  # 12,500 calls, as above
    top = decide.chart_calls(be, econ)
    assert top == 25_000
    rows = decide.cumulative_costs(be, top, points=3)  # 0, 12,500, 25,000
    base = {r["calls"]: r["usd"] for r in rows if r["option"].startswith("Base")}
    tuned = {r["calls"]: r["usd"] for r in rows if r["option"].startswith("Fine")}
    assert base[0] == 0 and tuned[0] == pytest.approx(2.25)
    assert base[12_500] == pytest.approx(tuned[12_500]) == pytest.approx(3.375)  # 12,500 x 270e-6
    assert base[25_000] > tuned[25_000]


def test_chart_range_when_it_never_pays_back():
    econ = decide.Economics(calls_per_month=1_000, removed_tokens=0)
    be = decide.break_even(econ, MINI)
    assert decide.chart_calls(be, econ) == 12_000  # a year of calls
    assert decide.chart_calls(be, replace(econ, calls_per_month=0)) == 10_000


def test_guide_worked_example_recomputed():
    w = decide.guide_worked_example(prices.openai_row("gpt-4o-mini"))
    assert w.guide.training_tokens == 250_000  # 500 x 500, one pass as the guide counts
    assert w.guide.training_usd == pytest.approx(0.75)  # 250 x $0.003
    assert w.calls_at_guide_ft_input == 3_750  # 0.75 / (500 x 0.0004 / 1000) = 0.75 / 0.0002
    assert w.guide.break_even_calls == 7_500  # implied base 0.0002/1K: 0.75 / 0.0001
    assert w.price_for_stated_calls == pytest.approx(1.00)  # 0.75 / (1,500 x 500) x 1M
    assert w.table.training_usd == pytest.approx(0.75)  # 250,000 x 3.00 / 1M
    assert w.table.break_even_calls == 10_000  # 0.75 / (500 x 0.15 / 1M) = 0.75 / 0.000075
    assert w.table_default_epochs.training_usd == pytest.approx(2.25)
    assert w.table_default_epochs.break_even_calls == 30_000
    text = " ".join(w.explanation)
    for fact in (
        "$1.00 per 1M",
        "3,750 calls",
        "7,500 calls",
        "10,000 calls",
        "the same rate",
        "2.0x base",
        "100 input and 100 output",
    ):  # 500 x 0.15 / (0.15 + 0.60) = 100
        assert fact in text, fact
    as_of = {row["figure"]: row for row in w.comparison}["As of"]
    assert "2026-10" in as_of.values() and any("early 2026" in v for v in as_of.values())


def test_worked_example_follows_an_edited_table():
    row = {**prices.openai_row("gpt-4o-mini"), "training": 6.00}
    w = decide.guide_worked_example(row)
    assert w.table.training_usd == pytest.approx(1.50)  # 250,000 x 6.00 / 1M
    assert w.table.break_even_calls == 20_000  # 1.50 / 0.000075
    assert re.search(r"\$6\.00/1M is a different rate", " ".join(w.explanation))
