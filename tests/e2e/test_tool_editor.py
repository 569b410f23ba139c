"""A curator edits a tool-calling file in a real browser: import, see the tool bubbles, toggle a weight, save.

Run: `.venv/bin/pytest tests/e2e/test_tool_editor.py -q`.
"""

import copy
import json
import uuid

from core.data import versions
from tests.e2e.conftest import assert_no_exception, open_page, wait_idle
from tests.shapes import OPENAI_TOOL_CALLING


def click(page, key: str) -> None:
    page.locator(f".st-key-{key} button").first.click()
    wait_idle(page)


def test_import_a_tool_calling_file_toggle_a_weight_and_save(page, server):
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
