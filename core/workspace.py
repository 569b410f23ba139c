"""A summary of what the workspace holds, for the home page and `python -m core.workspace`; its start-up tidy.

`start_up()` runs once per process and workspace (the app's page boot, the API server's create_app):
a background thread removes the temp files that interrupted writers left behind (core.tempfiles).
Test: `pytest tests/app/test_every_page.py tests/jobs/test_server_recovery.py`.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

from core import paths, store, tempfiles

log = logging.getLogger("core.workspace")


@dataclass
class Summary:
    home: str
    db_bytes: int
    tables: dict[str, int]
    models: list[str]
    runs: int


def _size(path) -> int:
    return path.stat().st_size if path.exists() else 0


def summary() -> Summary:
    tables = store.table_counts()
    models = sorted(p.name for p in paths.models_dir().iterdir() if p.is_dir() and not p.name.startswith("."))
    runs = sum(1 for p in paths.runs_dir().iterdir() if p.is_dir())
    return Summary(str(paths.home()), _size(paths.db_path()), tables, models, runs)


def _sweep(home: str, folders: list[Path]) -> None:
    removed = tempfiles.sweep_all(folders)
    if removed:
        log.warning("removed %d temp file(s) of interrupted writes under %s", len(removed), home)


@functools.cache
def _started(home: str) -> threading.Thread:
    # In the background: with thousands of run folders the sweep takes seconds, and nothing waits for it.
    thread = threading.Thread(target=_sweep, args=(home, list(tempfiles.workspace_folders())), daemon=True)
    thread.start()
    return thread


def start_up() -> threading.Thread:
    """Once per process and workspace: start removing what interrupted writes left (the thread doing it)."""
    return _started(str(paths.home()))


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(prog="python -m core.workspace", description=__doc__).parse_args(argv)
    print(json.dumps(asdict(summary()), indent=2))
    return 0


if __name__ == "__main__":
    main()
