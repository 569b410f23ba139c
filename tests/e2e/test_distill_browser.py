"""Answers as training data in a real browser: a hosted fine-tune's answers saved as a dataset, its retirement
shown, and the link that opens the Train page on the new version.

The workspace holds a demo version split 16/2/2 and an `ft:` candidate whose answers to all 20 prompts are
cached (one came back empty), written before the page is opened; nothing leaves the machine.
Run: `.venv/bin/pytest tests/e2e/test_distill_browser.py -q`.
"""

from __future__ import annotations

from core.data import samples, split, versions
from core.eval import candidates, distill, generate, pool
from core.eval.generate import GenParams
from core.jsonl import read_records
from tests.e2e.conftest import assert_no_exception, open_page, wait_idle

HOSTED = "ft:gpt-4o-mini-2024-07-18:acme:keep:e2e"


def test_a_hosted_fine_tunes_answers_are_saved_and_open_on_the_train_page(page, server):
    rows = [obj for _, obj in read_records(samples.sample_path("demo"))][:20]
    source = versions.save(versions.create("distill-e2e", rows), rows, "split", split.split(rows))
    cand = candidates.openai(HOSTED, base_url="http://127.0.0.1:9/v1")
    pool.add_custom(cand)
    answers = [{"index": i, "prediction": "" if i == 3 else f"kept {i}", "n_tokens": 2} for i in range(20)]
    generate.save_outputs(cand, source, distill.SPLIT, GenParams(), answers, {"run_id": "e2e"})

    open_page(page, server, f"evaluate?dataset={source.dataset_id}&version={source.id}")
    page.get_by_text("Answers as training data").first.wait_for()
    page.locator(".st-key-eval_distill_candidate input").click()
    page.keyboard.type(HOSTED)
    page.get_by_role("option", name=cand.label).click()
    wait_idle(page)
    page.get_by_text("gpt-4o-mini-2024-07-18 retires on 2027-01-14").wait_for()
    page.get_by_text("1 answer(s) failed or came back empty").wait_for()
    page.locator(".st-key-eval_distill_save button").click()
    wait_idle(page)
    page.get_by_text("Saved distill-e2e").first.wait_for()
    saved = next(d.latest for d in versions.datasets() if d.name.startswith("distill-e2e ·"))
    assert saved.n_examples == 19
    page.get_by_role("link", name="Train an open model on them").click()
    page.get_by_role("heading", name="Train").first.wait_for()
    wait_idle(page)
    assert page.url.endswith(f"train?dataset={saved.dataset_id}&version={saved.id}")
    shown = page.locator(".st-key-train_dataset input").input_value()
    assert shown == f"{saved.dataset} (v1, 19 examples)"
    assert_no_exception(page)
