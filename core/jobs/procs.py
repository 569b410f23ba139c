"""Is a process alive, and is it still the same process? (pids are reused; zombies are dead).

Test: `pytest tests/jobs/test_jobs.py`.
"""

from __future__ import annotations

import os


def start_time(pid: int) -> int | None:
    """The kernel's start time of a pid (clock ticks since boot), or None if it is gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name may contain spaces and parentheses: split after the last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def alive(pid: int | None, started: int | None) -> bool:
    if not pid:
        return False
    now = start_time(pid)
    return now is not None and (started is None or now == started)


def self_identity() -> tuple[int, int | None]:
    pid = os.getpid()
    return pid, start_time(pid)
