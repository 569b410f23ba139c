"""The scheduler: one detached process per workspace that starts queued jobs when their needs fit.

Nobody starts it by hand: `ensure()` (called by core.jobs.launch and at app start), when no copy holds the
workspace's lock (fcntl.flock on FT_HOME/scheduler.lock), takes one pass itself under the lock and starts
`python -m core.jobs.scheduler` detached, in its own session; a second copy exits at once.
Each pass frees the slots of runs that ended (core.jobs.status reconciles a dead supervisor, zombie-aware,
as "lost"), then starts waiting jobs in order, through the run's supervisor, while the head of the queue
fits (first in, first out: a big job is never overtaken).
Everything it knows is in SQLite, so a scheduler killed at any point is replaced by the next launch or app
start and carries on; a job is claimed before it is started, so none starts twice. It sleeps between
passes until a launch or a supervisor's end wakes it (SIGUSR1), and exits after IDLE_S with nothing
queued (a running job's slot is then freed by the next pass, the next launch's).
Test: `pytest tests/jobs/test_queue.py`.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from core import paths
from core.jobs import procs, queue, rundir

LOCK, LOG = "scheduler.lock", "scheduler.log"  # in the workspace folder
POLL_S = 1.0  # a pass at least this often: a run whose processes died frees its slot within it
IDLE_S = float(os.environ.get("FT_SCHEDULER_IDLE_S", "20"))


def _lock_path() -> Path:
    return paths.home() / LOCK


def _try_lock(path: Path) -> int | None:
    """An fd holding the exclusive lock, or None when another process holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def holder() -> tuple[int, int] | None:
    """(pid, start time) of the scheduler holding the lock, as it wrote them; None when none is alive."""
    try:
        pid, start = (int(x) for x in _lock_path().read_text().split())
    except (OSError, ValueError):
        return None
    return (pid, start) if procs.alive(pid, start) else None


def nudge() -> bool:
    """Wake the running scheduler for a pass now; False when there is none to wake."""
    found = holder()
    if not found:
        return False
    try:
        os.kill(found[0], signal.SIGUSR1)
    except ProcessLookupError:
        return False
    return True


def ensure(secrets: tuple[str, ...] = ()) -> None:
    """Make sure queued jobs get started: wake the scheduler holding the lock, or take a pass here and start one.

    The pass here (holding the lock, so slots are counted by one process at a time) starts a job that fits
    at once, without waiting for a new process to boot. `secrets` names the secrets of this environment that
    queued jobs may need (the scheduler hands them on).
    """
    fd = _try_lock(_lock_path())
    if fd is None:
        nudge()  # held: a scheduler is at work (or rechecking the queue before it exits, and will see ours)
        return
    try:
        left = tick()
    finally:
        os.close(fd)
    if left:  # jobs wait for a slot to free: a scheduler watches for it (a second one started exits at once)
        _spawn(secrets)


def _spawn(secrets: tuple[str, ...]) -> None:
    from core.jobs import HUB_SECRETS, job_env

    with open(paths.home() / LOG, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "core.jobs.scheduler"],
            cwd=paths.REPO_ROOT,
            env=job_env(tuple(HUB_SECRETS) + tuple(secrets)),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,  # outlives the app and the launcher
        )
    threading.Thread(target=proc.wait, daemon=True).start()  # reaped, never a zombie of a long-lived app


def _ended(run_id: str) -> bool:
    from core import jobs

    try:
        return not jobs.status(run_id).active
    except (OSError, ValueError, KeyError, TypeError):
        return True  # its folder went away: nothing holds the slot


def _start(entry: queue.Entry, ids: list[str]) -> None:
    from core import jobs

    env = dict(entry.env)
    env.update({k: os.environ[k] for k in entry.secrets if k in os.environ})
    if entry.needs.device == "gpu":
        env["CUDA_VISIBLE_DEVICES"] = ",".join(ids)  # the GPUs this job was given, and no others
    jobs._supervise(rundir.run_dir(entry.run_id), env)


def tick() -> bool:
    """One pass: free the slots of ended runs, start what fits; True when jobs are left waiting.

    With none waiting nobody needs to watch the running ones: the next pass, whoever takes it, frees their slots.
    """
    for entry in queue.started():
        if _ended(entry.run_id):
            queue.release(entry.run_id)
    running, cap = queue.started(), queue.capacity()
    waiting = queue.waiting()
    for entry in waiting:
        ids, _why = queue.fit(entry.needs, running, cap)
        if ids is None:
            break  # first in, first out: nothing overtakes the head of the queue
        if queue.claim(entry.run_id, ids):
            _start(entry, ids)
            running.append(queue.get(entry.run_id))
    return _refresh_positions()


def _refresh_positions() -> int:
    """Rewrite the waiting runs' status.json positions that changed (the table stays the truth); how many wait."""
    left = queue.waiting()
    for n, entry in enumerate(left, 1):
        path = rundir.run_dir(entry.run_id) / rundir.STATUS
        raw = rundir.read_json(path) or {}
        if raw.get("state") == "queued" and raw.get("position") != n and not raw.get("supervisor_pid"):
            rundir.write_json(path, dict(raw, position=n))
    return len(left)


def main() -> int:
    db, lock_path = paths.db_path(), _lock_path()
    fd = _try_lock(lock_path)
    if fd is None:
        return 0  # another copy is at work
    # Blocked before the pid is written for nudge() to find: SIGUSR1's default action would end this process;
    # a handler too, so one delivered to a thread that does not block it is harmless.
    signal.signal(signal.SIGUSR1, lambda _signum, _frame: None)
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR1])  # taken by sigtimedwait, never interrupting a pass
    pid, start = procs.self_identity()
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{pid} {start}".encode(), 0)
    idle_since = None
    while db.exists():  # a workspace removed (a test's) ends it
        if tick():
            idle_since = None
        elif idle_since is None:
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since > IDLE_S:
            os.close(fd)  # let go first, then look again: a launch after this starts a new scheduler
            if not queue.waiting():
                return 0
            fd = _try_lock(lock_path)
            if fd is None:
                return 0
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{pid} {start}".encode(), 0)
            idle_since = None
        signal.sigtimedwait([signal.SIGUSR1], POLL_S)
    return 0


if __name__ == "__main__":
    sys.exit(main())
