"""Experiment tracking on the pages: the Train page's "Experiment tracking" settings and the Runs page's line.

`settings(key)` draws report_to (a tracker that is not installed says which package to install; the launch
panel's problems refuse it too), tracking_uri and run_name, keyed like every other TrainConfig widget so
ui.train.form's collect() reads them, then where the records will go and the command that opens them.
`opened(run)` shows the same for a run that tracked. The names and commands come from core.train.tracking.
Test: `pytest tests/app/test_train_tracking.py`.
"""

from __future__ import annotations

import streamlit as st

from core import jobs, paths
from core.config import help_of
from core.jobs import rundir
from core.train import launch, tracking
from core.train.config import TrainConfig
from ui.untrusted import inline

FIELDS = ("report_to", "tracking_uri", "run_name")
HELP = help_of(TrainConfig)
NOT_YET = "RUN_ID"  # the folder's name before launch gives it one


def tracker_label(name: str) -> str:
    package = tracking.missing_package(name)
    return f"{name} (not installed: pip install {package})" if package else name


def where(folder, report_to: list[str], uri: str) -> None:
    for place, command in tracking.where(folder, report_to, uri):
        st.caption(inline(place) + (", open it with:" if command else ""))
        if command:
            st.code(command, language="bash")


def settings(key) -> None:
    """The section inside the Train page's Advanced expander; `key(field)` is the form's widget key."""
    st.markdown("**Experiment tracking**")
    cols = st.columns([2, 2, 1])
    chosen = cols[0].multiselect(
        "report_to", list(tracking.TRACKERS), key=key("report_to"), format_func=tracker_label, help=HELP["report_to"]
    )
    uri = cols[1].text_input(
        "tracking_uri", key=key("tracking_uri"), placeholder="empty: local files", help=HELP["tracking_uri"]
    )
    cols[2].text_input("run_name", key=key("run_name"), placeholder="the run's title", help=HELP["run_name"])
    where(paths.runs_dir() / NOT_YET, chosen, uri)


def opened(run: jobs.RunStatus) -> None:
    """For a run that tracked: where its records are and how to open them."""
    try:
        cfg = launch.run_config(run.id)
    except (OSError, ValueError, TypeError):  # not a local training run, or a spec this version cannot read
        return
    if cfg.report_to:
        where(rundir.run_dir(run.id), cfg.report_to, cfg.tracking_uri)
