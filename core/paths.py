"""Where the workspace lives: FT_HOME holds the SQLite index, datasets, runs and models.

Every folder of the workspace is named here: datasets/, runs/, models/, cache/, api/ (the local
API server's files and jobs) and eval/generations/ (cached generations).

FT_HOME comes from the environment; otherwise /data/workspace on a Hugging Face Space with
persistent storage (/data exists), otherwise ./workspace beside the code (git-ignored).
`python -m core.paths` prints the folder in use.
Test: `pytest tests/unit/test_store.py`.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def home() -> Path:
    """The workspace folder, created on first use."""
    env = os.environ.get("FT_HOME")
    if env:
        root = Path(env).expanduser()
    elif Path("/data").is_dir() and os.access("/data", os.W_OK):
        root = Path("/data/workspace")
    else:
        root = REPO_ROOT / "workspace"
    root.mkdir(parents=True, exist_ok=True)
    return root


def _sub(name: str) -> Path:
    path = home() / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def db_path() -> Path:
    return home() / "workbench.sqlite3"


def datasets_dir() -> Path:
    return _sub("datasets")


def runs_dir() -> Path:
    return _sub("runs")


def models_dir() -> Path:
    return _sub("models")


def cache_dir() -> Path:
    return _sub("cache")


def api_dir() -> Path:
    return _sub("api")


def generations_dir() -> Path:
    return _sub("eval/generations")


if __name__ == "__main__":
    print(home())
