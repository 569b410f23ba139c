"""Waiting for a job to reach a state, shared by the tiers that launch real jobs."""

import time

from core import jobs


def wait_for(run_id: str, states=jobs.FINAL, timeout: float = 30) -> jobs.RunStatus:
    deadline = time.time() + timeout
    while time.time() < deadline:
        run = jobs.status(run_id)
        if run.state in states:
            return run
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} stayed {jobs.status(run_id).state} for {timeout} s")
