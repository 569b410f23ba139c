"""A curator's whole journey in a real browser: messy sample in, clean split dataset out."""

import json

from core.data import versions
from tests.e2e.conftest import assert_no_exception, open_page, wait_idle

FORMAT_KINDS = {"unrecognized role", "empty content", "last not assistant", "system not first"}


def click(page, key: str) -> None:
    page.locator(f".st-key-{key} button").first.click()
    wait_idle(page)


def view(page, name: str) -> None:
    page.locator(".st-key-data_view").get_by_text(name, exact=True).click()
    wait_idle(page)


def bulk(page) -> None:
    """Open the bulk-actions expander if a rerun closed it."""
    if not page.locator(".st-key-data_edit_bulk_system").is_visible():
        page.get_by_text("Bulk actions on").click()
        page.locator(".st-key-data_edit_bulk_system").wait_for()


def metric(page, label: str) -> str:
    box = page.locator('[data-testid="stMetric"]').filter(has_text=label).first
    return box.locator('[data-testid="stMetricValue"]').inner_text().strip()


def test_messy_sample_to_clean_split_export(page, server):
    open_page(page, server, "data")
    if not page.get_by_text("Use a sample", exact=True).is_visible():  # another test's dataset is open
        page.get_by_text("Import a dataset").click()
    page.get_by_text("Use a sample", exact=True).click()
    wait_idle(page)
    page.locator(".st-key-data_import_sample input").click()
    page.get_by_role("option").filter(has_text="messy").click()
    wait_idle(page)
    page.get_by_text("record(s) cannot be imported").wait_for()  # the invalid JSON line, before saving
    click(page, "data_import_go")

    # Check: every planted kind of problem is flagged.
    main = page.locator('[data-testid="stMain"]')
    main.get_by_text("were left out").wait_for()
    assert "line 61" in main.inner_text()
    assert int(metric(page, "Errors")) > 0
    text = main.inner_text()
    assert all(kind in text for kind in FORMAT_KINDS), text[:3000]
    for title in ("Consistency:", "Completeness:", "Diversity:", "Length calibration:"):
        assert title in text
    assert "placeholder" in text.lower() and "Here is the answer" in text

    # Near-duplicates: a background job with a progress bar.
    click(page, "data_check_analyze")
    main.get_by_text("near-duplicate cluster(s) at cosine").wait_for(timeout=180_000)

    view(page, "Duplicates")
    click(page, "data_dupes_near_remove")
    main.get_by_text("Removed").first.wait_for()
    # Exact copies are near-duplicates too (cosine 1.0), so they went with the near clusters.
    main.get_by_text("No exact duplicates.").wait_for()

    # Edit: give every example the same system prompt, strip the boilerplate opener,
    # then delete the rows that still have format errors.
    view(page, "Edit")
    bulk(page)
    page.locator(".st-key-data_edit_bulk_system textarea").fill("You are a concise technical writer.")
    click(page, "data_edit_bulk_system_apply")
    bulk(page)
    click(page, "data_edit_bulk_strip")
    kinds = page.locator(".st-key-data_edit_kinds input")
    for kind in sorted(FORMAT_KINDS | {"roles not alternating", "example missing assistant message"}):
        kinds.click()
        kinds.fill(kind)
        page.get_by_role("option", name=kind, exact=True).click()
        wait_idle(page)
    page.keyboard.press("Escape")
    bulk(page)
    page.locator(".st-key-data_edit_bulk_confirm label").click()
    wait_idle(page)
    click(page, "data_edit_bulk_delete")
    page.locator(".st-key-data_save_note input").fill("cleaned")
    click(page, "data_save")

    view(page, "Check")
    assert metric(page, "Errors") == "0"

    view(page, "Split & export")
    click(page, "data_split_make")
    click(page, "data_split_save")
    main.get_by_text("with its split").wait_for()
    with page.expect_download() as download:
        click(page, "data_split_dl_train")
    lines = open(download.value.path(), encoding="utf-8").read().splitlines()
    latest = versions.datasets()[-1].latest
    assert len(lines) == len(latest.splits["train"]) > 0
    assert all(json.loads(line)["messages"][0]["role"] == "system" for line in lines)
    assert_no_exception(page)
