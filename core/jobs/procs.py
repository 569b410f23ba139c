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


def _table() -> dict[int, tuple[int, int, int]]:
    """{pid: (ppid, pgrp, start time)} of every live process."""
    table = {}
    for name in os.listdir("/proc"):
        fields = _stat(name) if name.isdigit() else None
        if fields:
            table[int(name)] = (int(fields[1]), int(fields[2]), int(fields[19]))
    return table


def _with_descendants(table: dict, found: dict[int, int], spare: int | None) -> dict[int, int]:
    grew = True
    while grew:
        grew = False
        for pid, (ppid, _, start) in table.items():
            if ppid in found and pid not in found and pid != spare:
                found[pid] = start
                grew = True
    return found


def family(pgid: int, spare: int | None = None) -> dict[int, int]:
    """{pid: start time} of a group's live members and of every live descendant of them, leaving out `spare`.

    Descendants count wherever they are: torch's elastic agent (under `accelerate launch`) starts each rank in
    a session of its own, so a rank is a child of the group's worker but not a member of its group."""
    table = _table()
    members = {pid: start for pid, (_, pgrp, start) in table.items() if pgrp == pgid and pid != spare}
    return _with_descendants(table, members, spare)


def kill_tree(pid: int) -> None:
    """SIGKILL a process and every descendant of it (taken before the first signal, so none is missed)."""
    table = _table()
    if pid in table:
        _signal(_with_descendants(table, {pid: table[pid][2]}, None), signal.SIGKILL)


def _signal(known: dict[int, int], signum: int) -> None:
    for pid, start in list(known.items()):
        if start_time(pid) != start:  # gone (or its pid reused): never signal a stranger
            del known[pid]
            continue
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            del known[pid]


def stop_group(pgid: int, spare: int | None = None, grace: float = GRACE_S) -> bool:
    """SIGTERM every process of a group and their descendants, SIGKILL what is left after `grace`; True once none is.

    `spare` is the caller's own pid when it is a member (the supervisor's guard), so it lives to write the
    final status; each member is signalled by pid for that reason, rounds repeated for anything forked meanwhile.
    """
    known = family(pgid, spare)  # taken before any signal: an orphaned descendant's parent is init, not ours
    _signal(known, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while _left(known, pgid, spare) and time.monotonic() < deadline:
        time.sleep(0.05)
    for _ in range(50):
        if not _left(known, pgid, spare):
            return True
        _signal(known, signal.SIGKILL)
        time.sleep(0.05)
    return not _left(known, pgid, spare)


def _left(known: dict[int, int], pgid: int, spare: int | None) -> bool:
    """Whether any of the run's processes lives; what was forked since the last look joins `known`."""
    known.update(family(pgid, spare))
    return any(start_time(pid) == start for pid, start in known.items())


def alive(pid: int | None, started: int | None) -> bool:
    if not pid:
        return False
    now = start_time(pid)
    return now is not None and (started is None or now == started)


def self_identity() -> tuple[int, int | None]:
    pid = os.getpid()
    return pid, start_time(pid)
