"""The Decide page driven through its widgets with Streamlit's AppTest.

Run from the repository root: `pytest tests/app/test_decide_page.py`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core import prices

# A relative path would resolve against this test file, not the repository root.
APP = Path(__file__).resolve().parents[2] / "app.py"


@pytest.fixture
def at() -> AppTest:
    app = AppTest.from_file(APP, default_timeout=30)
    app.switch_page("pages/decide.py")
    app.run()
    assert not app.exception
    return app


def recommendation(app: AppTest) -> str:
    return next(h.value for h in app.subheader if h.value.startswith("Recommendation:"))


def answer_for_fine_tuning(app: AppTest) -> None:
    app.radio(key="decide_gap").set_value("style")
    app.radio(key="decide_prompt").set_value("below_90")
    app.number_input(key="decide_examples").set_value(300)
    app.checkbox(key="decide_measure").check()
    app.run()


def test_defaults_say_try_the_prompt_first(at):
    assert at.title[0].value == "Decide: prompt engineering, RAG or fine-tuning?"
    assert recommendation(at) == "Recommendation: Prompt engineering"
    assert any("Try few-shot examples first" in m.value for m in at.markdown)
    assert at.get("vega_lite_chart"), "the cumulative cost chart is missing"


def test_answers_lead_to_fine_tuning_with_a_costs_link(at):
    answer_for_fine_tuning(at)
    assert not at.exception
    assert recommendation(at) == "Recommendation: Fine-tuning"
    assert any("Cost: high upfront, lower per-inference." in m.value for m in at.markdown)
    assert [link.value for link in at.get("page_link")] == [
        "Compare memory, time and dollars for every training method"
    ]
    assert [link.proto.page for link in at.get("page_link")] == ["costs"]  # the Costs page's url_path


def test_knowledge_gap_leads_to_rag(at):
    answer_for_fine_tuning(at)
    at.radio(key="decide_gap").set_value("knowledge").run()
    assert recommendation(at) == "Recommendation: RAG (retrieval-augmented generation)"
    assert any("Cost: moderate (embedding + vector DB)." in m.value for m in at.markdown)
    assert not at.get("page_link")


def test_too_few_examples_says_not_yet(at):
    answer_for_fine_tuning(at)
    at.number_input(key="decide_examples").set_value(20).run()
    assert recommendation(at) == "Recommendation: Not yet: get data or an eval first"


def test_default_economics_show_the_break_even(at):
    # Defaults: 1,500 tokens removed, 100 kept in, 50 out, 500 x 500 tokens x 3 epochs on gpt-4o-mini:
    # training 750,000 x $3/1M = $2.25; saving (1,600 x 0.15 + 50 x 0.60) - (100 x 0.30 + 50 x 1.20)
    # = 270 - 90 = 180 micro-$ per call; 2.25 / 0.00018 = 12,500 calls; / 50,000 a month = 0.25 months.
    assert at.selectbox(key="decide_model").value == "gpt-4o-mini-2024-07-18"
    assert at.success[0].value.startswith("Break-even after 12,500 calls, about 0.25 months")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Training cost"] == "$2.25"
    assert metrics["Saving per call"] == "$0.00018"


def test_too_few_removed_tokens_never_pays_back(at):
    at.number_input(key="decide_removed").set_value(100).run()
    # 100 kept x 0.15 + 50 out x 0.60 = 45 micro-$ extra at fine-tuned prices; 45 / 0.15 = 300, so 301.
    warning = " ".join(w.value for w in at.warning)
    assert "Never pays back" in warning and "at least 301 prompt tokens" in warning
    assert at.get("vega_lite_chart")
    assert not at.exception


def test_a_broken_saved_price_row_is_an_error_not_a_traceback(at):
    rows = prices.table("openai")
    rows[0]["ft_input"] = "n/a"
    prices.save("openai", rows)
    at.run()
    assert not at.exception
    assert "ft_input" in at.error[0].value


def test_worked_example_is_shown_with_dates(at):
    text = " ".join(m.value for m in at.markdown)
    assert "$1.00 per 1M removed tokens" in text and "10,000 calls" in text
    table = at.dataframe[0].value
    assert "2026-10" in table.to_string()
