"""Two runs launched from the Train page with one slot: the second shows as queued with its position on the Runs
page, then starts when the first ends. A real `streamlit run`, the tiny model, the real worker.
Run: `.venv/bin/pytest tests/e2e/test_queue.py -q`.
"""

from __future__ import annotations

import re

from core import jobs
from core.jobs import rundir
from tests.e2e.conftest import assert_no_exception, free_port, open_page, start_streamlit
from tests.e2e.test_train_browser import launch_tiny_run, tiny_split_version
from tests.tiny import tiny_model


def test_the_second_run_waits_with_its_position_then_starts_when_the_first_ends(page, e2e_home, monkeypatch):
    monkeypatch.setenv("FT_SLOTS", "1")  # the server's jobs share one slot, whatever this machine's default
    tiny = tiny_model(e2e_home / "test-models")
    tiny_split_version()
    port = free_port()
    server = start_streamlit(e2e_home, port)
    base = f"http://127.0.0.1:{port}"
    first = second = None
    try:
        first = launch_tiny_run(page, base, tiny)
        second = launch_tiny_run(page, base, tiny)
        assert second != first
        page.get_by_text("Position 1 in the queue", exact=False).first.wait_for(timeout=60_000)
        page.get_by_text(f"waits for a CPU slot: {first} is running", exact=False).first.wait_for()
        assert page.get_by_text(re.compile(r"Job queue: 1 waiting")).count() == 1
        assert jobs.status(second).state == "queued"
        assert_no_exception(page)
        jobs.stop(first)  # the first ends (saved and stopped); its slot goes to the second
        page.get_by_text("Running.", exact=False).first.wait_for(timeout=120_000)  # the second run's live view
        assert jobs.status(first).state == "stopped"
        ended = rundir.read_json(rundir.run_dir(first) / rundir.STATUS)["ended_at"]
        started = rundir.read_json(rundir.run_dir(second) / rundir.STATUS)["started_at"]
        assert started >= ended
        open_page(page, base, f"runs?run={second}")
        page.get_by_text(re.compile(r"Job queue: 0 waiting")).first.wait_for()
        assert_no_exception(page)
    finally:
        for rid in (first, second):
            if rid and jobs.status(rid).active:
                jobs.stop(rid)
        server.terminate()
        server.wait(15)
