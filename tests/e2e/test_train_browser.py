"""Training from the browser, for real: the tiny random Llama, a few demo examples, the real worker.

Launch a LoRA run from the Train page, watch the Runs page's step counter and curve grow, press
Stop and see "stopped". Then the same with a server restart in the middle: the run keeps going
without Streamlit, and a new server on the same workspace shows it still updating.
Run: `.venv/bin/pytest tests/e2e/test_train_browser.py -q` (about two minutes on two cores).
"""

from __future__ import annotations

import re
import subprocess
import time

from core import jobs
from core.data import samples, versions
from core.jobs import rundir
from core.jsonl import read_records
from tests.e2e.conftest import assert_no_exception, free_port, open_page, start_streamlit, wait_idle
from tests.tiny import tiny_model

STEP = re.compile(r"(\d+)\s*/\s*(\d+)")
OTHER_MODEL = "Another model: a hub id or a local folder"


def tiny_split_version() -> versions.Version:
    """24 demo examples: 20 to train on, 4 for validation (made once per workspace)."""
    found = next((d for d in versions.datasets() if d.name == "tiny-train"), None)
    if found and found.latest.splits:
        return found.latest
    rows = [obj for _, obj in read_records(samples.sample_path("demo"))][:24]
    first = versions.create("tiny-train", rows)
    return versions.save(first, rows, "split", {"train": list(range(20)), "validation": [20, 21, 22, 23]})


def fill_number(page, name: str, value: int) -> None:
    box = page.get_by_role("spinbutton", name=name, exact=True)
    box.fill(str(value))
    box.press("Enter")
    wait_idle(page)


def open_train_on(page, base: str, dataset: str, model) -> None:
    """The Train page with this dataset chosen and the model typed as a local folder."""
    open_page(page, base, "train")
    page.get_by_role("combobox", name="Dataset").click()
    page.get_by_role("option", name=dataset).click()
    wait_idle(page)
    page.get_by_role("combobox", name="Model").click()
    page.get_by_role("option", name=OTHER_MODEL).click()
    wait_idle(page)
    path = page.get_by_role("textbox", name="Hub id or local folder")
    path.fill(str(model))
    path.press("Enter")
    wait_idle(page)


def launch_tiny_run(page, base: str, tiny) -> str:
    """Fill in the Train page (typed model path, long run, no early stop), Launch; returns the run id."""
    open_train_on(page, base, "tiny-train", tiny)
    page.get_by_text("Advanced: schedule").click()
    fill_number(page, "max_steps", 300)  # far more than the test watches; Stop ends it
    fill_number(page, "early_stopping_patience", 0)
    train_examples = page.locator('[data-testid="stMetric"]', has_text="Train examples")
    assert "20" in train_examples.inner_text()
    assert_no_exception(page)
    page.get_by_role("button", name="Launch").click()
    page.wait_for_url(re.compile(r".*/runs\?run=.+"), timeout=60_000)
    return page.url.split("run=")[1].split("&")[0]


def shown_step(page) -> int:
    """The done count of the Runs page's Step tile ("12 / 300"); 0 before the first step."""
    text = page.locator('[data-testid="stMetric"]', has_text="Step").first.inner_text()
    match = STEP.search(text)
    return int(match.group(1)) if match else 0


def wait_for_step(page, above: int, timeout: float = 150) -> int:
    """Poll the live page (it refreshes itself) until the shown step passes `above`."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        step = shown_step(page)
        if step > above:
            return step
        page.wait_for_timeout(1000)
    raise AssertionError(f"the step shown stayed at {shown_step(page)} (wanted more than {above})")


def chart_points(page) -> int:
    """Points drawn on the loss chart (vega-lite marks), a second witness that the curve grows."""
    chart = page.locator('[data-testid="stVegaLiteChart"]').first
    return chart.locator("path[aria-roledescription='point']").count()


def wait_for_points(page, above: int, timeout: float = 30) -> int:
    deadline = time.time() + timeout
    while time.time() < deadline and chart_points(page) <= above:
        page.wait_for_timeout(500)  # the chart redraws just after the numbers
    return chart_points(page)


def stop_and_see_stopped(page, run_id: str) -> None:
    page.get_by_role("button", name="Stop").click()
    page.get_by_text("Stopped on request", exact=False).first.wait_for(timeout=120_000)
    assert jobs.status(run_id).state == "stopped"
    assert (rundir.run_dir(run_id) / "final").is_dir()
    assert_no_exception(page)


def test_launch_watch_and_stop_a_tiny_lora_run(page, server, e2e_home):
    tiny = tiny_model(e2e_home / "test-models")
    tiny_split_version()
    run_id = launch_tiny_run(page, server, tiny)
    page.get_by_text(re.compile(rf"^{run_id} · ")).wait_for()  # the run view's caption
    first = wait_for_step(page, 0)
    points = wait_for_points(page, 0)
    later = wait_for_step(page, first)
    assert later > first
    assert wait_for_points(page, points) > points  # a new training point on the curve
    assert len(rundir.read_metrics(rundir.run_dir(run_id))) >= later  # one training row per step at least
    stop_and_see_stopped(page, run_id)


def test_a_run_outlives_a_killed_server_and_shows_up_live_on_a_new_one(page, e2e_home):
    tiny = tiny_model(e2e_home / "test-models")
    tiny_split_version()
    port = free_port()
    first_server = start_streamlit(e2e_home, port)
    try:
        run_id = launch_tiny_run(page, f"http://127.0.0.1:{port}", tiny)
        before = wait_for_step(page, 0)
    finally:
        first_server.kill()  # no goodbye: the server process simply dies
        first_server.wait(10)
    assert jobs.status(run_id).state == "running"
    port = free_port()
    second_server = start_streamlit(e2e_home, port)
    try:
        open_page(page, f"http://127.0.0.1:{port}", f"runs?run={run_id}")
        page.get_by_text(re.compile(rf"^{run_id} · ")).wait_for()  # the run view's caption
        assert wait_for_step(page, before) > before  # the same run, still updating
        stop_and_see_stopped(page, run_id)
    finally:
        if jobs.status(run_id).active:
            jobs.stop(run_id)
        second_server.terminate()
        try:
            second_server.wait(10)
        except subprocess.TimeoutExpired:
            second_server.kill()
