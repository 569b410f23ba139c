"""The Decide page in a real browser: answer the questions, read the verdict, see the break-even chart.

Run: `pytest tests/e2e/test_decide_browser.py` (starts `streamlit run app.py`, drives /usr/bin/chromium).
"""

from __future__ import annotations

from tests.e2e.conftest import assert_no_exception, open_page, wait_idle


def open_decide(page, server) -> None:
    # On a fresh server Streamlit runs pages/ scripts directly (its old multipage mode) until one
    # session has run app.py's st.navigation; visiting the root first gives the real router.
    open_page(page, server)
    open_page(page, server, "decide")
    page.get_by_text("Decide: prompt engineering, RAG or fine-tuning?").wait_for()


def choose(page, key: str, label: str) -> None:
    page.locator(f".st-key-{key}").get_by_text(label, exact=True).click()
    wait_idle(page)


def type_number(page, key: str, value: int) -> None:
    box = page.locator(f".st-key-{key} input")
    box.fill(str(value))
    box.press("Enter")
    wait_idle(page)


def test_answers_lead_to_fine_tuning_then_rag(page, server):
    open_decide(page, server)
    page.get_by_text("Recommendation: Prompt engineering").wait_for()

    choose(page, "decide_prompt", "Less than 90% of the time")
    type_number(page, "decide_examples", 300)
    choose(
        page,
        "decide_measure",
        "We can measure quality reliably (a held-out test set with a score, or blind review)",
    )
    page.get_by_text("Recommendation: Fine-tuning").wait_for()
    assert page.get_by_text("Cost: high upfront, lower per-inference.").is_visible()
    assert page.get_by_text("Compare memory, time and dollars for every training method").is_visible()

    choose(page, "decide_gap", "It lacks knowledge (internal specs, recent events, proprietary data)")
    page.get_by_text("Recommendation: RAG (retrieval-augmented generation)").wait_for()
    assert page.get_by_text("Cost: moderate (embedding + vector DB).").is_visible()
    assert_no_exception(page)


def test_economics_show_break_even_and_chart(page, server):
    open_decide(page, server)
    # Defaults on gpt-4o-mini: $2.25 training / $0.00018 saved per call = 12,500 calls (see the unit tests).
    page.get_by_text("Break-even after 12,500 calls").wait_for()
    chart = page.locator('[data-testid="stVegaLiteChart"]')
    chart.locator("canvas, svg").first.wait_for()
    assert chart.bounding_box()["height"] > 100

    type_number(page, "decide_removed", 100)
    page.get_by_text("Never pays back").wait_for()
    assert page.get_by_text("at least 301 prompt tokens", exact=False).is_visible()
    chart.locator("canvas, svg").first.wait_for()
    assert_no_exception(page)
