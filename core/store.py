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


def _m003_arena(db: sqlite3.Connection) -> None:
    _script(
        db,
        """
        CREATE TABLE arena_sessions (
            id INTEGER PRIMARY KEY,
            token TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            version_id INTEGER REFERENCES dataset_versions(id) ON DELETE SET NULL,
            split TEXT NOT NULL DEFAULT 'test',
            prompts_per_rater INTEGER NOT NULL CHECK (prompts_per_rater >= 1),
            overlap INTEGER NOT NULL CHECK (overlap >= 0),
            instructions TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
            closed INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE arena_candidates (
            session_id INTEGER NOT NULL REFERENCES arena_sessions(id) ON DELETE CASCADE,
            key TEXT NOT NULL,
            label TEXT NOT NULL,
            position INTEGER NOT NULL,
            UNIQUE (session_id, key)
        );
        CREATE TABLE arena_items (
            id INTEGER PRIMARY KEY,
            session_id INTEGER NOT NULL REFERENCES arena_sessions(id) ON DELETE CASCADE,
            idx INTEGER NOT NULL,
            prompt TEXT NOT NULL,
            reference TEXT NOT NULL DEFAULT '',
            draw INTEGER NOT NULL,
            pair_a TEXT,
            pair_b TEXT,
            UNIQUE (session_id, idx)
        );
        CREATE TABLE arena_answers (
            item_id INTEGER NOT NULL REFERENCES arena_items(id) ON DELETE CASCADE,
            candidate_key TEXT NOT NULL,
            text TEXT NOT NULL,
            PRIMARY KEY (item_id, candidate_key)
        );
        CREATE TABLE arena_raters (
            id INTEGER PRIMARY KEY,
            session_id INTEGER NOT NULL REFERENCES arena_sessions(id) ON DELETE CASCADE,
            name TEXT NOT NULL COLLATE NOCASE,
            rater_key TEXT NOT NULL UNIQUE,
            created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
            UNIQUE (session_id, name)
        );
        CREATE TABLE arena_assignments (
            id INTEGER PRIMARY KEY,
            ticket TEXT NOT NULL UNIQUE,
            session_id INTEGER NOT NULL REFERENCES arena_sessions(id) ON DELETE CASCADE,
            rater_id INTEGER NOT NULL REFERENCES arena_raters(id) ON DELETE CASCADE,
            item_id INTEGER NOT NULL REFERENCES arena_items(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            left_key TEXT NOT NULL,
            right_key TEXT NOT NULL,
            overlap INTEGER NOT NULL DEFAULT 0,
            UNIQUE (rater_id, item_id)
        );
        CREATE INDEX arena_assignments_by_session ON arena_assignments (session_id, item_id);
        CREATE INDEX arena_assignments_by_rater ON arena_assignments (rater_id, position);
        CREATE TABLE arena_votes (
            assignment_id INTEGER PRIMARY KEY REFERENCES arena_assignments(id) ON DELETE CASCADE,
            choice TEXT NOT NULL CHECK (choice IN ('left', 'right', 'tie', 'both_bad', 'skip')),
            created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
            ms_to_vote INTEGER
        )
        """,
    )


def _m004_runs(db: sqlite3.Connection) -> None:
    # The run index (core.jobs.index); the run folders stay the truth for status.
    _script(
        db,
        """
        CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            key TEXT,
            parent TEXT,
            created_at REAL NOT NULL,
            ended_at REAL
        );
        CREATE INDEX runs_by_kind ON runs (kind, id);
        CREATE INDEX runs_by_key ON runs (key, id);
        CREATE INDEX runs_by_parent ON runs (parent, id);
        CREATE INDEX runs_not_ended ON runs (kind, id) WHERE ended_at IS NULL
        """,
    )


def _m005_dataset_kind(db: sqlite3.Connection) -> None:
    # What a dataset's examples are: chat (OpenAI chat records) or preference (OpenAI DPO pairs); old ones are chat.
    db.execute(
        "ALTER TABLE datasets ADD COLUMN kind TEXT NOT NULL DEFAULT 'chat' CHECK (kind IN ('chat', 'preference'))"
    )


def _m006_job_queue(db: sqlite3.Connection) -> None:
    # The job queue (core.jobs.queue): FIFO by seq; a row goes waiting -> started (once) -> ended, or -> cancelled.
    _script(
        db,
        """
        CREATE TABLE job_queue (
            run_id TEXT PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            state TEXT NOT NULL DEFAULT 'waiting' CHECK (state IN ('waiting', 'started', 'ended', 'cancelled')),
            device TEXT NOT NULL CHECK (device IN ('cpu', 'gpu')),
            gpus INTEGER NOT NULL DEFAULT 1,
            memory_gb REAL,
            env TEXT NOT NULL,
            secrets TEXT NOT NULL DEFAULT '[]',
            queued_at REAL NOT NULL,
            started_at REAL,
            gpu_ids TEXT
        );
        CREATE INDEX job_queue_by_state ON job_queue (state, seq)
        """,
    )


# Ordered, append-only: a migration that has shipped is never edited, only followed.
MIGRATIONS: list[tuple[str, Callable[[sqlite3.Connection], None]]] = [
    ("001_settings", _m001_settings),
    ("002_datasets", _m002_datasets),
    ("003_arena", _m003_arena),
    ("004_runs", _m004_runs),
    ("005_dataset_kind", _m005_dataset_kind),
    ("006_job_queue", _m006_job_queue),
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
    recorded = {row[0] for row in db.execute("SELECT name FROM migrations")}
    if recorded >= {name for name, _ in MIGRATIONS}:
        return []  # the usual case: no write lock taken, so concurrent voters never queue here
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


def get_setting(key: str, default: Any = None, db: sqlite3.Connection | None = None) -> Any:
    """A setting; pass `db` to read it inside a transaction already open on that connection."""
    if db is None:
        with connect() as db:
            return get_setting(key, default, db)
    row = db.execute("SELECT value FROM settings WHERE key=?", (key,)).fetchone()
    return json.loads(row["value"]) if row else default


def set_setting(key: str, value: Any, db: sqlite3.Connection | None = None) -> None:
    """Write a setting in its own transaction, or in the caller's open one on `db`."""
    if db is None:
        with connect() as db, transaction(db):
            return set_setting(key, value, db)
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
