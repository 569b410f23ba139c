"""Temporary files of writers that write aside and rename: one naming rule, and the sweep of leftovers.

Every such writer (status files and API records, uploads, checkpoints, exports, caches, dataset blobs)
names its temporary file or folder `temp_path(dest)`: `.<name>.<pid>.<random>.tmp` beside the target,
so a leftover says which process wrote it. `sweep(folder)` removes leftovers in one folder:
a temp whose writer is gone (pids are judged as core.jobs.procs judges a run's: one pid namespace),
or any temp untouched for STALE_S (a pid can be reused); names from before this rule (`x.tmp`,
`.x.tmp-123`) carry no reliable pid and go after LEGACY_S. A file a live process is writing is never
touched. `sweep_all(list(workspace_folders()))` sweeps every folder of the workspace that writers use;
the API server and the app start it once, in the background (core.workspace.start_up).
Test: `.venv/bin/pytest tests/jobs/test_server_recovery.py tests/unit/test_tempfiles.py -q`.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

from core import paths

SUFFIX = ".tmp"
STALE_S = 24 * 3600  # a temp nobody wrote to for a day is a leftover, whoever holds its pid now
LEGACY_S = 3600  # names from before the rule: no writer makes them any more
_OURS = re.compile(r"\A\..+\.(\d+)\.[0-9a-f]+\.tmp\Z")
_LEGACY = re.compile(r"(\.tmp|\.tmp-?\d+|\.old-\d+)\Z")


def temp_path(dest: Path) -> Path:
    """The temporary name to write `dest` under (then os.replace it into place); unique per process and call."""
    dest = Path(dest)
    return dest.with_name(f".{dest.name}.{os.getpid()}.{secrets.token_hex(3)}{SUFFIX}")


def _touched(path: Path) -> float:
    """When the temp was last written: a folder's newest entry counts (a checkpoint fills in over time)."""
    newest = path.lstat().st_mtime
    if path.is_dir() and not path.is_symlink():
        for root, dirs, files in os.walk(path):
            for name in dirs + files:
                try:
                    newest = max(newest, os.lstat(os.path.join(root, name)).st_mtime)
                except OSError:
                    pass
    return newest


def is_stale(path: Path, now: float | None = None) -> bool:
    """A temp left behind by a writer that is gone (see the module docstring); False for any other name."""
    ours, legacy = _OURS.match(path.name), _LEGACY.search(path.name)
    if not ours and not legacy:
        return False
    try:
        idle = (now or time.time()) - _touched(path)
    except OSError:
        return False  # renamed into place (or removed) while we looked
    if not ours:
        return idle >= LEGACY_S
    from core.jobs import procs  # here: importing core.jobs at the top would make rundir's import circular

    return idle >= STALE_S or not procs.alive(int(ours.group(1)), None)


def sweep(folder: Path, now: float | None = None) -> list[Path]:
    """Remove the stale temps directly in `folder`; returns what was removed."""
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        path = Path(entry.path)
        if not is_stale(path, now):
            continue
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def workspace_folders() -> Iterator[Path]:
    """Every workspace folder a writer puts temps in (the run folders' own and their checkpoints and exports)."""
    home = paths.home()
    yield from (home, paths.api_dir(), paths.models_dir(), paths.generations_dir(), paths.datasets_dir())
    for sub in ("api/files", "api/jobs", "datasets/blobs", "cache/tiktoken"):
        yield home / sub
    for parent in (home / "api" / "jobs", paths.cache_dir() / "uploads"):
        yield from _subfolders(parent)
    from core.jobs import rundir  # here, as procs above: core.jobs imports this module

    for run in _subfolders(paths.runs_dir()):
        yield from (run, run / rundir.CHECKPOINTS, run / rundir.EXPORT)


def _subfolders(folder: Path) -> Iterator[Path]:
    try:
        yield from (Path(e.path) for e in os.scandir(folder) if e.is_dir(follow_symlinks=False))
    except OSError:
        return


def sweep_all(folders: list[Path]) -> list[Path]:
    """Sweep each folder (workspace_folders(), listed by the caller: the workspace is its FT_HOME); what went."""
    now = time.time()
    return [path for folder in folders for path in sweep(folder, now)]
