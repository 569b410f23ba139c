"""GGUF export from the browser: the Runs page's Export tab starts the real export job and shows its parity report.

The run is a finished fake-worker run whose final/ holds the tiny model nudged to end its turn
(tests/unit/test_export.py's `nudged`), so the report has a stop to check.
Run: `.venv/bin/pytest tests/e2e/test_gguf_export.py -q`.
"""

from __future__ import annotations

import shutil
import sys

from core import jobs
from core.jobs import rundir
from core.train.config import preset
from tests.app.harness import FAKE
from tests.e2e.conftest import assert_no_exception, open_page, wait_idle
from tests.tiny import tiny_model
from tests.unit.test_export import IM_END, nudged
from tests.waiting import wait_for


def test_export_gguf_from_the_runs_page_and_see_the_report(page, server, e2e_home, tmp_path):
    tiny = tiny_model(e2e_home / "test-models")
    cfg = preset("full", model=str(tiny), max_length=320)
    run_id = jobs.launch("train", [sys.executable, FAKE, "--steps", "0"], "gguf export", config=cfg.to_dict())
    wait_for(run_id)
    shutil.copytree(nudged(tiny, tmp_path / "nudged", IM_END) / rundir.FINAL, rundir.run_dir(run_id) / rundir.FINAL)
    open_page(page, server, f"runs?run={run_id}")
    page.get_by_role("tab", name="Export").click()
    page.get_by_text("Q8_0 (8-bit").click()
    wait_idle(page)
    page.get_by_role("button", name="Export GGUF").click()
    page.get_by_text("Parity passed", exact=False).wait_for(timeout=300_000)
    assert_no_exception(page)
    body = page.locator('[data-testid="stMain"]').inner_text()
    assert "GGUF Q8_0 written to" in body and "ollama create" in body
    assert page.get_by_role("button", name="Download .gguf").is_visible()
    assert page.get_by_role("button", name="Download Modelfile").is_visible()
    [job] = jobs.list_runs("export", parent=run_id)
    assert job.state == "succeeded" and job.meta["gguf"] == "q8_0"
    folder = rundir.run_dir(run_id) / rundir.EXPORT / "gguf-q8_0"
    assert "PARAMETER num_ctx 320" in (folder / rundir.MODELFILE).read_text()
    assert (folder / rundir.PARITY).is_file() and (folder / rundir.CARD).is_file()
