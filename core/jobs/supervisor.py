"""The detached process that runs one job's worker and always writes its final status.

`python -m core.jobs.supervisor RUN_DIR` (started by core.jobs.launch). It records its own pid
and start time (so the app can tell it from a reused pid), runs spec.yaml's argv with output to
train.log, forwards SIGTERM (SIGKILL to the worker after procs.GRACE_S), and names the failure in
human words when the worker fails.
The run's process group (the supervisor leads it; the worker and its children are in it) also holds
a guard (`--guard FD RUN_DIR`) that waits on a pipe only the supervisor holds: when the supervisor is
gone, however it ended (kill -9 included), the guard stops what is left of the group and, if no
final status was written, writes one. `--stop RUN_DIR` does the same for a run whose supervisor and
guard are both gone but whose worker lives (core.jobs.stop starts it; `--kill` for core.jobs.kill).
Test: `pytest tests/jobs/test_jobs.py tests/jobs/test_lifecycle.py`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from core import paths
from core.jobs import procs, rundir, scheduler

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


def end_orphan(folder: Path, pgid: int, final: dict, spare: int | None = None) -> None:
    """Stop a run's process group whose supervisor is gone; then write `final` unless a final status exists."""
    procs.stop_group(pgid, spare)
    status = rundir.read_json(folder / rundir.STATUS) or {}
    if status.get("state") not in rundir.FINAL_STATES:
        rundir.update_status(folder, **final, ended_at=time.time())


def guard(fd: int, folder: Path) -> int:
    # jobs.kill signals the whole group: the guard must outlive that to clean up after the supervisor.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while os.read(fd, 1):
        pass  # end of file: the supervisor's end of the pipe closed, so the supervisor is gone
    why = f"The run's supervisor was killed, so its worker was stopped with it (SIGKILL after {procs.GRACE_S:g} s)."
    end_orphan(folder, os.getpgrp(), rundir.lost({}, folder, why), spare=os.getpid())
    return 0


def stop_orphan(folder: Path, polite: bool) -> int:
    """Stop a worker whose supervisor is gone: after STOP's grace when `polite`, else at once."""
    status = rundir.read_json(folder / rundir.STATUS) or {}
    if not procs.alive(status.get("worker_pid"), status.get("worker_start")):
        return 0
    pgid = os.getpgid(status["worker_pid"])
    pid, start = procs.self_identity()
    rundir.update_status(folder, stopper_pid=pid, stopper_start=start)  # the run stays active until it is done
    deadline = time.monotonic() + (procs.GRACE_S if polite else 0)
    while polite and procs.group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)  # it may honour STOP and save
    if polite and not procs.group_members(pgid):
        final = {"state": "stopped", "message": "Stopped on request (its supervisor was gone: exit code unknown)."}
    else:
        why = "Killed on request; its supervisor was gone, so the worker and its children were stopped directly."
        final = {"state": "failed", "failure": "killed", "message": why}
    end_orphan(folder, pgid, final)
    return 0


def _start_guard(folder: Path) -> None:
    """Start the group's guard, with a pipe whose other end this process keeps open for as long as it lives."""
    read_end, _write_end = os.pipe()  # never closed: the kernel closes it when this process ends, however it ends
    guard = subprocess.Popen(
        [sys.executable, "-m", "core.jobs.supervisor", "--guard", str(read_end), str(folder)],
        cwd=paths.REPO_ROOT,
        pass_fds=(read_end,),
        stdin=subprocess.DEVNULL,
    )
    os.close(read_end)
    rundir.update_status(folder, guard_pid=guard.pid, guard_start=procs.start_time(guard.pid))


def main(folder: Path) -> int:
    spec = rundir.read_spec(folder)
    pid, start = procs.self_identity()
    rundir.update_status(folder, state="running", supervisor_pid=pid, supervisor_start=start, started_at=time.time())
    _start_guard(folder)
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
            signal.alarm(int(procs.GRACE_S))  # a worker that ignores SIGTERM is killed after the grace

        signal.signal(signal.SIGTERM, forward)
        signal.signal(signal.SIGINT, forward)
        signal.signal(signal.SIGALRM, lambda _signum, _frame: procs.kill_tree(worker.pid))  # ranks included
        returncode = worker.wait()
    state, failure, message = classify(returncode, rundir.stop_requested(folder), rundir.log_tail(folder))
    explained = rundir.read_json(folder / rundir.FAILURE) if returncode != 0 else None
    if explained:  # the worker knew what went wrong (a remote API's refusal, say): its words win
        failure, message = explained.get("failure") or failure, explained.get("message") or message
    rundir.update_status(
        folder, state=state, failure=failure, message=message, returncode=returncode, ended_at=time.time()
    )
    scheduler.nudge()  # its slot is free: the next queued job need not wait for the scheduler's next pass
    return 0


if __name__ == "__main__":
    if sys.argv[1] == "--guard":
        sys.exit(guard(int(sys.argv[2]), Path(sys.argv[3])))
    if sys.argv[1] in ("--stop", "--kill"):
        sys.exit(stop_orphan(Path(sys.argv[2]), polite=sys.argv[1] == "--stop"))
    sys.exit(main(Path(sys.argv[1])))
