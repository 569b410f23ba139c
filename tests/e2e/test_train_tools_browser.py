"""Training on tool calls from the browser: the Train page refuses SmolLM2's own template for a tool-calling
split, offers the workbench's tool template, and a run launched with it on the tiny model finishes with that
template saved beside its weights.

Run: `.venv/bin/pytest tests/e2e/test_train_tools_browser.py -q`.
"""

from __future__ import annotations

import re
import time

from core import jobs, templates
from core.data import versions
from core.jobs import rundir
from tests.e2e.conftest import assert_no_exception, wait_idle
from tests.e2e.test_train_browser import fill_number, open_train_on
from tests.shapes import OPENAI_PARALLEL_TOOL_CALLS, OPENAI_TOOL_CALLING
from tests.tiny import tiny_model


def tool_split_version() -> versions.Version:
    rows = [OPENAI_TOOL_CALLING, OPENAI_PARALLEL_TOOL_CALLS, OPENAI_TOOL_CALLING, OPENAI_PARALLEL_TOOL_CALLS]
    first = versions.create("weather-train", rows)
    return versions.save(first, rows, "split", {"train": [0, 1, 2], "validation": [3], "test": []})


def test_a_tool_calling_split_trains_with_the_offered_tool_template(page, server, e2e_home):
    tiny = tiny_model(e2e_home / "test-models")
    tool_split_version()
    open_train_on(page, server, "weather-train", tiny)
    page.get_by_text("the model's chat template drops").wait_for()
    assert page.get_by_role("button", name="Launch").is_disabled()

    page.get_by_role("button", name="Use the workbench's tool template").click()
    wait_idle(page)
    assert page.get_by_text("the model's chat template drops").count() == 0
    page.get_by_text("Advanced: schedule").click()
    fill_number(page, "max_steps", 2)
    assert_no_exception(page)
    page.get_by_role("button", name="Launch").click()
    page.wait_for_url(re.compile(r".*/runs\?run=.+"), timeout=60_000)
    run_id = page.url.split("run=")[1].split("&")[0]

    deadline = time.time() + 300  # torch's import and two steps on a busy two-core machine
    while jobs.status(run_id).active and time.time() < deadline:
        time.sleep(1)
    state = jobs.status(run_id)
    assert state.state == "succeeded", state
    final = rundir.run_dir(run_id) / rundir.FINAL
    assert (final / "chat_template.jinja").read_text() == templates.tools_template()
    assert rundir.read_spec(rundir.run_dir(run_id))["config"]["chat_template"] == "tools"
