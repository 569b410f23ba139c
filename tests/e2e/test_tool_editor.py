"""A tool-calling file from import to a trained run, in a real browser: import, see the tool bubbles, toggle a
weight, save; then the Train page refuses SmolLM2's own template for the tool calls, offers the workbench's tool
template, and a run launched with it on the tiny model finishes with that template saved beside its weights.

Run: `.venv/bin/pytest tests/e2e/test_tool_editor.py -q`.
"""

import copy
import json
import re
import time
import uuid

from core import jobs, templates
from core.data import versions
from core.jobs import rundir
from tests.e2e.conftest import assert_no_exception, open_page, wait_idle
from tests.e2e.test_train_browser import fill_number, open_train_on
from tests.shapes import OPENAI_TOOL_CALLING
from tests.tiny import tiny_model


def click(page, key: str) -> None:
    page.locator(f".st-key-{key} button").first.click()
    wait_idle(page)


def launch_with_the_tool_template(page, server: str, dataset: str, tiny) -> str:
    """On the Train page: SmolLM2's own template is refused for the dataset's tool calls, the offered tool
    template is taken, a two-step run launches and finishes with that template saved; returns the run id."""
    open_train_on(page, server, dataset, tiny)
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
    return run_id


def test_import_a_tool_calling_file_toggle_a_weight_save_and_train_with_the_tool_template(page, server, e2e_home):
    name = f"weather-tools-{uuid.uuid4().hex[:8]}"
    text = "".join(json.dumps(OPENAI_TOOL_CALLING) + "\n" for _ in range(3))
    open_page(page, server, "data")
    uploader = page.locator('[data-testid="stFileUploader"] input[type="file"]').first
    if not page.locator('[data-testid="stFileUploader"]').first.is_visible():  # another test's dataset is open
        page.get_by_text("Import a dataset").click()
    upload = {"name": f"{name}.jsonl", "mimeType": "application/octet-stream", "buffer": text.encode()}
    uploader.set_input_files(upload)
    wait_idle(page)
    page.get_by_text("Read 3 examples").wait_for()
    click(page, "data_import_go")

    page.locator(".st-key-data_view").get_by_text("Edit", exact=True).click()
    wait_idle(page)
    main = page.locator('[data-testid="stMain"]')
    assert page.locator(".st-key-data_edit_msg_fn_1_0 input").input_value() == "get_current_weather"
    assert '"location": "San Francisco, USA"' in page.locator(".st-key-data_edit_msg_args_1_0 textarea").input_value()
    main.get_by_text("Result of get_current_weather").wait_for()  # the tool turn names the call it answers

    page.locator(".st-key-data_edit_msg_weight_3 label").click()  # the final answer: shown, not learned
    wait_idle(page)
    main.get_by_text("not learned (weight 0)").wait_for()
    click(page, "data_edit_msg_save")
    main.get_by_text("Saved example 1.").wait_for()
    page.locator(".st-key-data_save_note input").fill("answer 1 not learned")
    click(page, "data_save")

    dataset = next(d for d in versions.datasets() if d.name == name)
    saved = versions.examples(versions.latest(dataset.id))
    expected = copy.deepcopy(OPENAI_TOOL_CALLING)
    expected["messages"][3]["weight"] = 0
    assert saved == [expected, OPENAI_TOOL_CALLING, OPENAI_TOOL_CALLING]
    assert_no_exception(page)

    # The split is made here, not in the browser: the Data page's split view has its own browser test.
    rows = versions.examples(versions.latest(dataset.id))
    versions.save(versions.latest(dataset.id), rows, "split", {"train": [0, 1], "validation": [2], "test": []})
    run_id = launch_with_the_tool_template(page, server, name, tiny_model(e2e_home / "test-models"))
    assert rundir.read_spec(rundir.run_dir(run_id))["config"]["dataset_version"] == versions.latest(dataset.id).id
