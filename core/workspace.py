"""A summary of what the workspace holds, for the home page and `python -m core.workspace`.

Test: `pytest tests/app/test_every_page.py`.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass

from core import paths, store


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


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(prog="python -m core.workspace", description=__doc__).parse_args(argv)
    print(json.dumps(asdict(summary()), indent=2))
    return 0


if __name__ == "__main__":
    main()
