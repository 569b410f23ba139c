"""Datasets as chains of immutable versions, so nothing a curator does is ever lost.

A version is a content-addressed JSONL file (`datasets/blobs/<sha256>.jsonl`) plus a row in the
index (number, parent, counts, note, optional split assignment). A dataset has a kind, chat or preference
(core.data.preference), and each of its versions reports it. Every save makes a new version;
restoring an old one makes a new version with its content, so history only grows. Edits in
progress live in a draft (one per dataset) that survives a browser refresh.
Test: `pytest tests/unit/test_versions.py`.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from core import paths, store, tempfiles

SPLITS = ("train", "validation", "test")
KINDS = ("chat", "preference")  # OpenAI chat records, or OpenAI DPO pairs (core.data.preference)


@dataclass(frozen=True)
class Version:
    id: int
    dataset_id: int
    dataset: str
    number: int
    parent_id: int | None
    sha256: str
    n_examples: int
    splits: dict | None
    note: str
    created_at: str
    kind: str = "chat"  # the dataset's: every version of a dataset holds the same kind of examples

    @property
    def label(self) -> str:
        return f"{self.dataset} v{self.number}"


@dataclass(frozen=True)
class Dataset:
    id: int
    name: str
    source: str
    latest: Version


def _blob_dir() -> Path:
    folder = paths.datasets_dir() / "blobs"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _serialize(examples: list[dict]) -> bytes:
    # One serializer for stored versions and exports, so a version's blob is its JSONL download.
    from core.data import io

    return io.to_jsonl_bytes(examples)


def _write_blob(examples: list[dict]) -> str:
    data = _serialize(examples)
    sha = hashlib.sha256(data).hexdigest()
    target = _blob_dir() / f"{sha}.jsonl"
    if not target.exists():
        tmp = tempfiles.temp_path(target)
        tmp.write_bytes(data)
        os.replace(tmp, target)
    return sha


def read_blob(sha: str) -> list[dict]:
    text = (_blob_dir() / f"{sha}.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line]


_SELECT = (
    "SELECT v.*, d.name AS dataset, d.kind AS kind FROM dataset_versions v JOIN datasets d ON d.id = v.dataset_id"
)


def _version(row) -> Version:
    return Version(
        id=row["id"],
        dataset_id=row["dataset_id"],
        dataset=row["dataset"],
        number=row["number"],
        parent_id=row["parent_id"],
        sha256=row["sha256"],
        n_examples=row["n_examples"],
        splits=json.loads(row["splits"]) if row["splits"] else None,
        note=row["note"],
        created_at=row["created_at"],
        kind=row["kind"],
    )


def _insert(db, dataset_id: int, examples: list[dict], parent_id: int | None, note: str, splits) -> int:
    sha = _write_blob(examples)
    number = db.execute(
        "SELECT COALESCE(MAX(number), 0) + 1 FROM dataset_versions WHERE dataset_id=?", (dataset_id,)
    ).fetchone()[0]
    cur = db.execute(
        "INSERT INTO dataset_versions (dataset_id, number, parent_id, sha256, n_examples, splits, note)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (dataset_id, number, parent_id, sha, len(examples), json.dumps(splits) if splits else None, note),
    )
    return cur.lastrowid


def create(
    name: str, examples: list[dict], note: str = "imported", source: str = "", kind: str = "chat", splits=None
) -> Version:
    """A new dataset of `kind` (chat or preference) with its first version; the name must be new."""
    name = name.strip()
    if not name:
        raise ValueError("a dataset needs a name")
    if kind not in KINDS:
        raise ValueError(f"a dataset's kind is one of {', '.join(KINDS)}, not {kind!r}")
    with store.connect() as db, store.transaction(db):
        if db.execute("SELECT 1 FROM datasets WHERE name=?", (name,)).fetchone():
            raise ValueError(f"a dataset named {name!r} already exists; choose another name")
        insert = "INSERT INTO datasets (name, source, kind) VALUES (?, ?, ?)"
        dataset_id = db.execute(insert, (name, source, kind)).lastrowid
        version_id = _insert(db, dataset_id, examples, None, note, splits)
    return get(version_id)


ANY_DRAFT = "*"  # for `draft=`: whatever draft there is


def save(
    parent: Version, examples: list[dict], note: str, splits: dict | None = None, draft: str | None = ANY_DRAFT
) -> Version:
    """A new version after `parent`; the draft it came from is cleared.

    `draft` is the content hash of that draft (None: it came from no draft): a newer draft written
    by another tab since then is kept, so saving one tab's copy never drops another's."""
    with store.connect() as db, store.transaction(db):
        version_id = _insert(db, parent.dataset_id, examples, parent.id, note.strip() or "edited", splits)
        if draft == ANY_DRAFT:
            db.execute("DELETE FROM dataset_drafts WHERE dataset_id=?", (parent.dataset_id,))
        elif draft is not None:
            db.execute("DELETE FROM dataset_drafts WHERE dataset_id=? AND sha256=?", (parent.dataset_id, draft))
    return get(version_id)


def restore(old: Version) -> Version:
    """Make `old`'s content the newest version (history keeps everything in between)."""
    current = latest(old.dataset_id)
    return save(current, read_blob(old.sha256), f"restored v{old.number}", old.splits)


def get(version_id: int) -> Version:
    with store.connect() as db:
        row = db.execute(_SELECT + " WHERE v.id=?", (version_id,)).fetchone()
    if row is None:
        raise KeyError(f"no dataset version {version_id}")
    return _version(row)


def latest(dataset_id: int) -> Version:
    with store.connect() as db:
        row = db.execute(_SELECT + " WHERE v.dataset_id=? ORDER BY v.number DESC LIMIT 1", (dataset_id,)).fetchone()
    return _version(row)


def history(dataset_id: int) -> list[Version]:
    with store.connect() as db:
        rows = db.execute(_SELECT + " WHERE v.dataset_id=? ORDER BY v.number DESC", (dataset_id,)).fetchall()
    return [_version(r) for r in rows]


def split_size(version: Version, name: str) -> int:
    """How many examples the version's split `name` holds (0 without a split)."""
    return len((version.splits or {}).get(name) or [])


def with_split(dataset_id: int, name: str) -> list[Version]:
    """The dataset's versions whose split `name` has examples, newest first."""
    return [v for v in history(dataset_id) if split_size(v, name)]


def datasets() -> list[Dataset]:
    with store.connect() as db:
        rows = db.execute("SELECT * FROM datasets ORDER BY id").fetchall()
    return [Dataset(r["id"], r["name"], r["source"], latest(r["id"])) for r in rows]


def examples(version: Version) -> list[dict]:
    return read_blob(version.sha256)


def split_examples(version: Version) -> dict[str, list[dict]]:
    """The version's examples per split; raises if the version has no split yet."""
    if not version.splits:
        raise ValueError(f"{version.label} has no train/validation/test split yet; make one on the Data page")
    rows = examples(version)
    return {name: [rows[i] for i in version.splits.get(name, [])] for name in SPLITS}


@dataclass(frozen=True)
class Draft:
    base_version_id: int
    examples: list[dict]
    sha256: str
    updated_at: str


class DraftConflict(Exception):
    """The draft changed since the writer read it (another tab wrote, saved or discarded it)."""

    def __init__(self, current: str | None, mine: str) -> None:
        super().__init__("the dataset's draft was changed elsewhere since this copy was read")
        self.current = current  # the draft's content hash now; None when there is no draft
        self.mine = mine  # the content hash of the copy that was not written (its blob is stored)


def save_draft(base: Version, examples_: list[dict], seen: str | None = ANY_DRAFT) -> str:
    """Keep edits in progress (one draft per dataset), so a refresh or a closed tab loses nothing.

    `seen` is the draft's content hash when the writer read it (None: there was no draft); the
    content hash is the draft's revision, so if the draft is another by now, DraftConflict is
    raised and nothing is written. Returns the content hash of the draft."""
    sha = _write_blob(examples_)
    with store.connect() as db, store.transaction(db):
        if seen != ANY_DRAFT:
            row = db.execute("SELECT sha256 FROM dataset_drafts WHERE dataset_id=?", (base.dataset_id,)).fetchone()
            if (row["sha256"] if row else None) != seen:
                raise DraftConflict(row["sha256"] if row else None, sha)
        db.execute(
            "INSERT INTO dataset_drafts (dataset_id, base_version_id, sha256) VALUES (?, ?, ?)"
            " ON CONFLICT(dataset_id) DO UPDATE SET base_version_id=excluded.base_version_id,"
            " sha256=excluded.sha256, updated_at=datetime('now')",
            (base.dataset_id, base.id, sha),
        )
    return sha


def load_draft(dataset_id: int) -> Draft | None:
    """The draft in progress for a dataset, if any."""
    with store.connect() as db:
        row = db.execute("SELECT * FROM dataset_drafts WHERE dataset_id=?", (dataset_id,)).fetchone()
    if row is None:
        return None
    return Draft(row["base_version_id"], read_blob(row["sha256"]), row["sha256"], row["updated_at"])


def draft_head(dataset_id: int) -> tuple[str, str] | None:
    """(content hash, updated_at) of the dataset's draft without reading its examples; None if none."""
    with store.connect() as db:
        row = db.execute("SELECT sha256, updated_at FROM dataset_drafts WHERE dataset_id=?", (dataset_id,)).fetchone()
    return (row["sha256"], row["updated_at"]) if row else None


def discard_draft(dataset_id: int) -> None:
    with store.connect() as db, store.transaction(db):
        db.execute("DELETE FROM dataset_drafts WHERE dataset_id=?", (dataset_id,))


def _key(example: dict) -> str:
    return json.dumps(example, sort_keys=True, ensure_ascii=False)


def diff(old: list[dict], new: list[dict]) -> dict[str, list[int]]:
    """Rows added (indices in new), removed (indices in old), and changed in place (same index)."""
    old_keys, new_keys = [_key(e) for e in old], [_key(e) for e in new]
    old_set, new_set = set(old_keys), set(new_keys)
    changed = [
        i
        for i in range(min(len(old), len(new)))
        if old_keys[i] != new_keys[i] and old_keys[i] not in new_set and new_keys[i] not in old_set
    ]
    changed_set = set(changed)
    added = [i for i, k in enumerate(new_keys) if k not in old_set and i not in changed_set]
    removed = [i for i, k in enumerate(old_keys) if k not in new_set and i not in changed_set]
    return {"added": added, "removed": removed, "changed": changed}
