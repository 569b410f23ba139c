"""The Costs page in a real browser: upload a JSONL file, see dollars, switch to Local GPU, a bad file.

Run: `.venv/bin/pytest tests/e2e/test_costs_browser.py -q`.
"""

from __future__ import annotations

import json

from tests.e2e.conftest import assert_no_exception, open_page, wait_idle

GOOD = [
    {
        "messages": [
            {"role": "user", "content": "Capital of France?"},
            {"role": "assistant", "content": "Paris."},
        ]
    },
    {"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]},
]


def jsonl_file(name: str, text: str) -> dict:
    return {"name": name, "mimeType": "application/octet-stream", "buffer": text.encode()}


def upload(page, name: str, text: str) -> None:
    page.locator('[data-testid="stFileUploader"] input[type="file"]').first.set_input_files(jsonl_file(name, text))
    wait_idle(page)


def test_costs_page_upload_gpu_and_bad_file(page, server):
    open_page(page, server, "costs")
    page.get_by_text("Costs: dollars, memory and time before you launch").wait_for()
    assert_no_exception(page)

    upload(page, "train.jsonl", "".join(json.dumps(r) + "\n" for r in GOOD))
    cheapest = page.locator('[data-testid="stMetric"]', has_text="Cheapest training")
    cheapest.wait_for()
    assert "$" in cheapest.inner_text()
    epochs = page.locator('[data-testid="stMetric"]', has_text="Epochs").inner_text()
    assert "25" in epochs  # 2 examples -> min(25, 100 // 2) epochs
    assert page.locator('[data-testid="stDataFrame"]').first.is_visible()
    assert_no_exception(page)

    page.get_by_role("tab", name="Local GPU").click()
    total = page.locator('[data-testid="stMetric"]', has_text="Total GPU memory")
    total.wait_for()
    assert "GB" in total.inner_text()
    assert_no_exception(page)

    page.get_by_role("tab", name="OpenAI").click()
    upload(page, "bad.jsonl", json.dumps(GOOD[0]) + "\n{broken\n")
    error = page.locator('[data-testid="stAlertContentError"]').first
    error.wait_for()
    assert "line 2" in error.inner_text()
    assert_no_exception(page)
