"""The run index: one `runs` row per run folder (id, kind, key, parent, created_at, ended_at) in SQLite.

`core.jobs.launch` adds the row; `core.jobs.list_runs` reads rows, never every folder, so finding a
run by kind, by what it is for (`key`: a dataset content sha, a generation cache key) or by its
`parent` (the run an export or a resume came from) costs the same with 10 or 10,000 runs.
`ended_at` is set once a listing has seen the run end, so "which runs are active" reads only the rest.
Folders the index does not know (a workspace from before it, a folder copied in) are indexed when
the runs folder changes: its mtime and link count (one stat) are compared with the last scan's.
Test: `pytest tests/jobs/test_run_index.py`.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass

import yaml

from core import paths, store
from core.jobs import rundir

SCANNED = "runs_index_scanned"  # settings key: the runs folder's signature at the last scan
# Runs launched before the index kept what they are for in their meta under these names.
LEGACY_KEYS, LEGACY_PARENTS = ("sha256", "cache_key", "source"), ("run", "parent_run")
SUPERVISOR_FINAL = ("succeeded", "failed", "stopped", "cancelled")  # the last word written: the run has ended


@dataclass(frozen=True)
class Entry:
    id: str
    kind: str
    key: str | None
    parent: str | None
    created_at: float
    ended_at: float | None = None


def _signature() -> list[int]:
    st = os.stat(paths.runs_dir())
    return [st.st_mtime_ns, st.st_nlink]  # nlink too: two folders made within one mtime tick still differ


def _insert(db: sqlite3.Connection, entries: Iterable[Entry]) -> None:
    db.executemany(
        "INSERT OR IGNORE INTO runs (id, kind, key, parent, created_at, ended_at) VALUES (?, ?, ?, ?, ?, ?)",
        [(e.id, e.kind, e.key, e.parent, e.created_at, e.ended_at) for e in entries],
    )


def add(entry: Entry, before: list[int]) -> None:
    """Index a run just made; `before` is the runs folder's signature from before its mkdir."""
    with store.connect() as db, store.transaction(db):
        _insert(db, [entry])
        # Nothing else changed the folder since the last scan: the new signature is known, no rescan needed.
        if store.get_setting(SCANNED, db=db) == before:
            store.set_setting(SCANNED, _signature(), db=db)


def _from_folder(name: str) -> Entry | None:
    try:
        spec = yaml.safe_load((paths.runs_dir() / name / rundir.SPEC).read_text())
    except (OSError, yaml.YAMLError):
        return None  # not a run (yet): launch writes spec.yaml right after the folder
    if not isinstance(spec, dict) or "kind" not in spec:
        return None
    meta = spec.get("meta") or {}
    key = spec.get("key") or next((meta[k] for k in LEGACY_KEYS if meta.get(k)), None)
    parent = spec.get("parent") or next((meta[k] for k in LEGACY_PARENTS if meta.get(k)), None)
    # An old run that ended is marked so now, once, so the lookups of active runs never read it.
    status = rundir.read_json(paths.runs_dir() / name / rundir.STATUS) or {}
    ended = None
    if status.get("state") in SUPERVISOR_FINAL:
        ended = status.get("ended_at") or status.get("updated_at") or 0.0
    return Entry(name, spec["kind"], key, parent, float(spec.get("created_at") or 0), ended)


def sync() -> None:
    """Index folders the index lacks and drop rows whose folder is gone, when the runs folder changed."""
    signature = _signature()
    if store.get_setting(SCANNED) == signature:
        return  # the usual case: one stat and one small query
    with store.connect() as db:
        known = {row[0] for row in db.execute("SELECT id FROM runs")}
    # Listed after the rows: launch makes the folder before its row, so a known row's folder is seen.
    folders = {f.name for f in os.scandir(paths.runs_dir()) if f.is_dir() and not f.name.startswith(".")}
    new = [e for e in map(_from_folder, sorted(folders - known)) if e is not None]
    with store.connect() as db, store.transaction(db):
        _insert(db, new)
        db.executemany("DELETE FROM runs WHERE id=?", [(i,) for i in known - folders])
        store.set_setting(SCANNED, signature, db=db)


def find(
    kind: str | None = None,
    key: str | None = None,
    parent: str | None = None,
    unended: bool = False,
    limit: int | None = None,
) -> list[Entry]:
    """Index rows, newest first (ids start with the time), matching every filter given."""
    sync()
    where, args = [], []
    for column, value in (("kind", kind), ("key", key), ("parent", parent)):
        if value is not None:
            where.append(f"{column}=?")
            args.append(value)
    if unended:
        where.append("ended_at IS NULL")
    sql = "SELECT id, kind, key, parent, created_at, ended_at FROM runs"
    sql += (f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY id DESC"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    with store.connect() as db:
        return [Entry(*row) for row in db.execute(sql, args)]


def mark_ended(ended: dict[str, float]) -> None:
    """Record that these runs ended (id -> when); an ended run never becomes active again."""
    if ended:
        with store.connect() as db, store.transaction(db):
            db.executemany(
                "UPDATE runs SET ended_at=? WHERE id=? AND ended_at IS NULL", [(t, i) for i, t in ended.items()]
            )


def remove(run_id: str) -> None:
    with store.connect() as db, store.transaction(db):
        db.execute("DELETE FROM runs WHERE id=?", (run_id,))
