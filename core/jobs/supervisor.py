"""The detached process that runs one job's worker and always writes its final status.

`python -m core.jobs.supervisor RUN_DIR` (started by core.jobs.launch). It records its own pid
and start time (so the app can tell it from a reused pid), runs spec.yaml's argv with output to
train.log, forwards SIGTERM, and names the failure in human words when the worker fails.
Test: `pytest tests/jobs/test_jobs.py`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from core import paths
from core.jobs import procs, rundir

EXIT_BAD_DATA = 65  # sysexits EX_DATAERR: workers exit with it when the dataset is unusable
EXIT_BAD_CONFIG = 78  # sysexits EX_CONFIG: the configuration cannot run

OOM_MARKS = ("out of memory", "outofmemoryerror", "memoryerror", "cannot allocate memory")


def classify(returncode: int, stopped: bool, tail: str) -> tuple[str, str | None, str]:
    """(state, failure kind, message) from how the worker ended."""
    low = tail.lower()
    if returncode == 0:
        return (
            ("stopped", None, "Stopped on request; the last state was saved.") if stopped else ("succeeded", None, "")
        )
    if any(mark in low for mark in OOM_MARKS):
        return (
            "failed",
            "out of memory",
            (
                "The worker ran out of memory (or was killed by the system). Lower the batch size or "
                "sequence length, use LoRA/QLoRA, or turn on gradient checkpointing."
            ),
        )
    if returncode == EXIT_BAD_DATA:
        return "failed", "bad data", "The dataset could not be used; see the log for the line and reason."
    if returncode == EXIT_BAD_CONFIG:
        return "failed", "bad config", "The configuration cannot run; see the log for the reason."
    if returncode == -signal.SIGKILL:
        return (
            "failed",
            "killed",
            (
                "The worker was killed (SIGKILL). If nobody killed it, the system's out-of-memory killer "
                "did: lower the batch size or sequence length."
            ),
        )
    if returncode < 0:
        return "failed", "killed", f"The worker was killed by signal {-returncode}."
    return "failed", "error", f"The worker exited with code {returncode}; see the log."


def main(folder: Path) -> int:
    spec = rundir.read_spec(folder)
    pid, start = procs.self_identity()
    rundir.update_status(folder, state="running", supervisor_pid=pid, supervisor_start=start, started_at=time.time())
    env = dict(os.environ, FT_RUN_DIR=str(folder), PYTHONUNBUFFERED="1")
    with open(folder / rundir.LOG, "ab") as log:
        worker = subprocess.Popen(
            spec["argv"],
            cwd=paths.REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        rundir.update_status(folder, worker_pid=worker.pid, worker_start=procs.start_time(worker.pid))

        def forward(signum, _frame):
            worker.send_signal(signal.SIGTERM)

        signal.signal(signal.SIGTERM, forward)
        signal.signal(signal.SIGINT, forward)
        returncode = worker.wait()
    state, failure, message = classify(returncode, rundir.stop_requested(folder), rundir.log_tail(folder))
    explained = rundir.read_json(folder / rundir.FAILURE) if returncode != 0 else None
    if explained:  # the worker knew what went wrong (a remote API's refusal, say): its words win
        failure, message = explained.get("failure") or failure, explained.get("message") or message
    rundir.update_status(
        folder, state=state, failure=failure, message=message, returncode=returncode, ended_at=time.time()
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
