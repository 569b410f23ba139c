"""A summary of what the workspace holds, for the home page and `python -m core.workspace`; its start-up tidy.

`start_up()` runs once per process and workspace (the app's page boot, the API server's create_app):
it removes the temp files that interrupted writers left behind (core.tempfiles).
Test: `pytest tests/app/test_every_page.py tests/jobs/test_server_recovery.py`.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
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


@functools.cache
def _started(home: str) -> list[Path]:
    removed = tempfiles.sweep_workspace()
    if removed:
        log.warning("removed %d temp file(s) of interrupted writes under %s", len(removed), home)
    return removed


def start_up() -> list[Path]:
    """Once per process and workspace: remove what interrupted writes left (the stale temps it removed)."""
    return _started(str(paths.home()))


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(prog="python -m core.workspace", description=__doc__).parse_args(argv)
    print(json.dumps(asdict(summary()), indent=2))
    return 0


if __name__ == "__main__":
    main()
