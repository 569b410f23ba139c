"""Evaluate in a real browser: choose a candidate, Generate, watch the progress bar (it survives a
refresh), then read the scores.

The workspace holds a demo version with a test split and the tiny random Llama (SmolLM2's
tokenizer) added as a local candidate, both made before the page is opened; the generate job
is the real worker, so this takes about as long as importing torch twice.
Run: `.venv/bin/pytest tests/e2e/test_evaluate_browser.py -q`.
"""

from __future__ import annotations

import pytest

from core import jobs
from core.data import samples, split, versions
from core.eval import candidates, pool
from core.jsonl import read_records
from tests.e2e.conftest import assert_no_exception, open_page, wait_idle
from tests.tiny import tiny_model

JOB_WAIT_MS = 90_000  # the worker starts cold: torch and transformers import before the first batch


@pytest.fixture
def workspace(e2e_home):
    """A 20-row demo version split 16/2/2 and the tiny model as an added candidate."""
    tiny = candidates.base(str(tiny_model(e2e_home / "test-models")))
    pool.add_custom(tiny)
    found = next((d for d in versions.datasets() if d.name == "eval-e2e"), None)
    if found is None:
        rows = [obj for _, obj in read_records(samples.sample_path("demo"))][:20]
        first = versions.create("eval-e2e", rows)
        found = versions.save(first, rows, "split 80/10/10", split.split(rows))
    else:
        found = found.latest
    return found, tiny


def choose_candidate(page, label: str) -> None:
    page.locator(".st-key-eval_candidates input").click()
    page.keyboard.type(label)
    page.get_by_role("option", name=label).click()
    page.keyboard.press("Escape")
    wait_idle(page)


def test_generate_shows_progress_then_the_scores(page, server, workspace):
    version, tiny = workspace
    open_page(page, server, f"evaluate?version={version.id}")
    page.get_by_role("heading", name="Evaluate").wait_for()
    choose_candidate(page, tiny.label)
    box = page.locator(".st-key-eval_max_new_tokens input")
    box.fill("8")
    box.press("Enter")
    wait_idle(page)
    before = len(jobs.list_runs("generate"))
    page.locator(f".st-key-eval_gen_custom-{tiny.key} button").click()
    progress = page.locator('[data-testid="stProgress"]').first
    progress.wait_for(timeout=30_000)
    runs = jobs.list_runs("generate")
    assert len(runs) == before + 1
    page.reload()  # a refresh finds the running job again by its cache key
    wait_idle(page)
    if jobs.status(runs[0].id).active:
        assert progress.is_visible()
    table = page.locator('.st-key-eval_scores [data-testid="stDataFrame"]')
    table.wait_for(timeout=JOB_WAIT_MS)
    wait_idle(page)
    assert page.get_by_text("ready").count() >= 1
    assert page.get_by_text(f"On the 2 test examples of {version.label}").count() == 1
    assert_no_exception(page)
