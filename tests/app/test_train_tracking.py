"""The Train page's "Experiment tracking" settings and the Runs page's line, under AppTest.

Choosing trackers shows where the files go and the command that opens them; the launched run's config carries
them and its Runs page shows the same line with its own folder; a tracker whose library cannot be imported is
labelled with its package and refused before Launch. Launch runs the fake worker (launch.command patched).
Run: `.venv/bin/pytest tests/app/test_train_tracking.py -q`.
"""

from __future__ import annotations

import sys
import time

import pytest
import streamlit as st

from core import jobs, paths
from core.jobs import rundir
from core.train import config, launch
from tests.app import harness
from tests.app.harness import FAKE
from tests.app.test_train_page import model_dir, split_version, use_model  # noqa: F401 (model_dir: a fixture)
from ui.untrusted import inline


@pytest.fixture(autouse=True)
def fresh_caches():
    st.cache_data.clear()


def codes(at) -> str:
    return "\n".join(c.value for c in at.code)


def test_chosen_trackers_show_where_the_files_go_and_reach_the_run_and_its_runs_page(model_dir, monkeypatch):  # noqa: F811
    monkeypatch.setattr(launch, "command", lambda cfg, run_dir: [sys.executable, FAKE, "--steps", "2"])
    split_version()
    at = use_model(harness.start("train"), model_dir)
    assert "tensorboard --logdir" not in codes(at)  # nothing tracked by default
    at.multiselect(key="train_report_to").set_value(["tensorboard", "trackio"]).run()
    at.text_input(key="train_run_name").input("toy tracked").run()
    assert not at.exception, at.exception
    before = paths.runs_dir() / "RUN_ID" / rundir.TRACKING
    assert f"tensorboard --logdir {before}" in codes(at)
    assert f"TRACKIO_DIR={before}/trackio trackio show" in codes(at)
    assert at.button(key="train_launch").disabled is False
    at.button(key="train_launch").click().run()
    assert not at.exception, at.exception
    run = jobs.list_runs("train")[0]
    cfg = config.from_dict(rundir.read_spec(rundir.run_dir(run.id))["config"])
    assert (cfg.report_to, cfg.tracking_uri, cfg.run_name) == (["tensorboard", "trackio"], "", "toy tracked")
    assert at.title[0].value == "Runs"
    assert f"tensorboard --logdir {rundir.run_dir(run.id) / rundir.TRACKING}" in codes(at)
    deadline = time.time() + 30
    while jobs.status(run.id).active and time.time() < deadline:
        time.sleep(0.05)


def test_a_server_url_replaces_the_local_store_in_the_line(model_dir):  # noqa: F811
    split_version()
    at = use_model(harness.start("train"), model_dir)
    at.multiselect(key="train_report_to").set_value(["trackio"]).run()
    at.text_input(key="train_tracking_uri").input("http://127.0.0.1:7860/?write_token=t").run()
    captions = " ".join(c.value for c in at.caption)
    assert inline("trackio: the server http://127.0.0.1:7860/, project fine-tuning-workbench") in captions
    assert "write" not in captions  # the write token stays off the page
    assert "trackio show" not in codes(at)
    at.text_input(key="train_tracking_uri").input("localhost:7860").run()
    assert "trackio needs a server URL starting with http://" in " ".join(e.value for e in at.error)
    assert at.button(key="train_launch").disabled is True


def test_a_tracker_that_cannot_be_imported_names_its_package_and_blocks_launch(model_dir, monkeypatch):  # noqa: F811
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # this process cannot import it, as if not installed
    split_version()
    at = use_model(harness.start("train"), model_dir)
    picker = at.multiselect(key="train_report_to")
    assert "tensorboard (not installed: pip install tensorboard)" in picker.options
    picker.set_value(["tensorboard"]).run()
    assert "needs the tensorboard package, which is not installed: pip install tensorboard" in " ".join(
        e.value for e in at.error
    )
    assert at.button(key="train_launch").disabled is True
