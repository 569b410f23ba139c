"""The SQLite index of the workspace: WAL, foreign keys, numbered migrations, small functions.

Every write is one transaction; a transaction that reads then writes takes the write lock up
front (`BEGIN IMMEDIATE`) so concurrent writers queue instead of losing updates.
Test: `pytest tests/unit/test_store.py`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from core import paths

BUSY_TIMEOUT_MS = 30_000


def _m001_settings(db: sqlite3.Connection) -> None:
    db.execute(
        "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL,"
        " updated_at TEXT NOT NULL DEFAULT (datetime('now')))"
    )


def _script(db: sqlite3.Connection, sql: str) -> None:
    # executescript() would commit the migration's open transaction; run statement by statement.
    for statement in sql.split(";"):
        if statement.strip():
            db.execute(statement)


def _m002_datasets(db: sqlite3.Connection) -> None:
    _script(
        db,
        """
        CREATE TABLE datasets (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            source TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL DEFAULT (datetime('now'))
        );
        CREATE TABLE dataset_versions (
            id INTEGER PRIMARY KEY,
            dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
            number INTEGER NOT NULL,
            parent_id INTEGER REFERENCES dataset_versions(id),
            sha256 TEXT NOT NULL,
            n_examples INTEGER NOT NULL,
            splits TEXT,
            note TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL DEFAULT (datetime('now')),
            UNIQUE (dataset_id, number)
        );
        CREATE TABLE dataset_drafts (
            dataset_id INTEGER PRIMARY KEY REFERENCES datasets(id) ON DELETE CASCADE,
            base_version_id INTEGER NOT NULL REFERENCES dataset_versions(id),
            sha256 TEXT NOT NULL,
            updated_at TEXT NOT NULL DEFAULT (datetime('now'))
        );
        """,
    )


# Ordered, append-only: a migration that has shipped is never edited, only followed.
MIGRATIONS: list[tuple[str, Callable[[sqlite3.Connection], None]]] = [
    ("001_settings", _m001_settings),
    ("002_datasets", _m002_datasets),
]


def _open(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    db.execute("PRAGMA foreign_keys=ON")
    db.execute("PRAGMA synchronous=NORMAL")
    return db


def migrate(db: sqlite3.Connection) -> list[str]:
    """Apply the migrations not yet recorded; returns the names applied."""
    db.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    applied = []
    for name, fn in MIGRATIONS:
        db.execute("BEGIN IMMEDIATE")
        try:
            if db.execute("SELECT 1 FROM migrations WHERE name=?", (name,)).fetchone():
                db.execute("COMMIT")
                continue
            fn(db)
            db.execute("INSERT INTO migrations VALUES (?, datetime('now'))", (name,))
            db.execute("COMMIT")
            applied.append(name)
        except BaseException:
            db.execute("ROLLBACK")
            raise
    return applied


@contextmanager
def connect(path: Path | None = None) -> Iterator[sqlite3.Connection]:
    """A migrated connection to the workspace index, closed on exit."""
    db = _open(path or paths.db_path())
    try:
        migrate(db)
        yield db
    finally:
        db.close()


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction holding the write lock from its first statement."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def get_setting(key: str, default: Any = None) -> Any:
    with connect() as db:
        row = db.execute("SELECT value FROM settings WHERE key=?", (key,)).fetchone()
    return json.loads(row["value"]) if row else default


def set_setting(key: str, value: Any) -> None:
    with connect() as db, transaction(db):
        db.execute(
            "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE"
            " SET value=excluded.value, updated_at=datetime('now')",
            (key, json.dumps(value)),
        )


def delete_setting(key: str) -> None:
    with connect() as db, transaction(db):
        db.execute("DELETE FROM settings WHERE key=?", (key,))


def table_counts() -> dict[str, int]:
    """Rows per user table, for the home page's picture of the workspace."""
    with connect() as db:
        names = [
            r["name"]
            for r in db.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
                " AND name != 'migrations' ORDER BY name"
            )
        ]
        return {n: db.execute(f'SELECT COUNT(*) FROM "{n}"').fetchone()[0] for n in names}
