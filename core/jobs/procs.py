"""Is a process alive, and is it still the same process? (pids are reused; zombies are dead). Stopping a group.

A run's supervisor leads its own process group, and the worker and everything it starts (dataloader
workers, accelerate's ranks) stay in it, so `stop_group` ends all of them, not just one pid.
Test: `pytest tests/jobs/test_jobs.py tests/jobs/test_lifecycle.py`.
"""

from __future__ import annotations

import os
import signal
import time

GRACE_S = 5.0  # between SIGTERM and SIGKILL: long enough for a worker to flush its log, short enough to wait for


def _stat(pid: int | str) -> list[str] | None:
    """/proc/<pid>/stat's fields after the command name (state first), or None if it is gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name may contain spaces and parentheses: split after the last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    return None if fields[0] in ("Z", "X") else fields


def start_time(pid: int) -> int | None:
    """The kernel's start time of a pid (clock ticks since boot), or None if it is gone or a zombie."""
    fields = _stat(pid)
    return int(fields[19]) if fields else None


def group_members(pgid: int, spare: int | None = None) -> list[int]:
    """The live (non-zombie) pids in a process group, leaving out `spare`."""
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) != spare:
            fields = _stat(name)
            if fields and int(fields[2]) == pgid:
                found.append(int(name))
    return found


def _signal_group(pgid: int, signum: int, spare: int | None) -> None:
    for pid in group_members(pgid, spare):
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass


def stop_group(pgid: int, spare: int | None = None, grace: float = GRACE_S) -> bool:
    """SIGTERM every process of a group, SIGKILL what is left after `grace`; True once none is left.

    `spare` is the caller's own pid when it is a member (the supervisor's guard), so it lives to write the
    final status; each member is signalled by pid for that reason, rounds repeated for anything forked meanwhile.
    """
    _signal_group(pgid, signal.SIGTERM, spare)
    deadline = time.monotonic() + grace
    while group_members(pgid, spare) and time.monotonic() < deadline:
        time.sleep(0.05)
    for _ in range(50):
        if not group_members(pgid, spare):
            return True
        _signal_group(pgid, signal.SIGKILL, spare)
        time.sleep(0.05)
    return not group_members(pgid, spare)


def alive(pid: int | None, started: int | None) -> bool:
    if not pid:
        return False
    now = start_time(pid)
    return now is not None and (started is None or now == started)


def self_identity() -> tuple[int, int | None]:
    pid = os.getpid()
    return pid, start_time(pid)
