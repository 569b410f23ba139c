"""The run index: launch records a row, lookups read rows, old folders are indexed, delete removes the row."""

import sys
import time
from pathlib import Path

import yaml

from core import jobs, store
from core.jobs import rundir
from tests.waiting import wait_for

FAKE = str(Path(__file__).with_name("fake_worker.py"))


def folder_by_hand(run_id: str, kind: str, state: str = "succeeded", meta: dict | None = None) -> Path:
    """A run folder as a workspace from before the index holds it: spec.yaml and status.json only."""
    folder = rundir.run_dir(run_id)
    folder.mkdir(parents=True)
    spec = {"id": run_id, "kind": kind, "title": kind, "argv": ["x"], "meta": meta or {}, "created_at": time.time()}
    (folder / rundir.SPEC).write_text(yaml.safe_dump(spec))
    rundir.write_json(folder / rundir.STATUS, {"state": state, "created_at": spec["created_at"]})
    return folder


def rows() -> dict[str, tuple]:
    with store.connect() as db:
        return {r["id"]: (r["kind"], r["key"], r["parent"]) for r in db.execute("SELECT * FROM runs")}


def test_launch_records_the_run_and_lookups_by_key_and_parent_find_only_theirs():
    a = jobs.launch("fake", [sys.executable, FAKE, "--steps", "1"], key="sha-a")
    b = jobs.launch("fake", [sys.executable, FAKE, "--steps", "1"], key="sha-b", parent=a)
    assert rows() == {a: ("fake", "sha-a", None), b: ("fake", "sha-b", a)}
    wait_for(a), wait_for(b)
    assert [r.id for r in jobs.list_runs("fake")] == sorted([a, b], reverse=True)  # by id: newest first
    assert [r.id for r in jobs.list_runs("fake", key="sha-a")] == [a]
    assert [r.id for r in jobs.list_runs(parent=a)] == [b]
    assert jobs.list_runs("other") == [] and jobs.list_runs("fake", key="sha-c") == []


def test_folders_from_before_the_index_are_indexed_on_first_use_with_their_old_meta_keys():
    folder_by_hand("20240101-000000-analyze-aaaa", "analyze", meta={"sha256": "abc"})
    folder_by_hand("20240101-000001-export-bbbb", "export", meta={"run": "20240101-000002-train-cccc"})
    folder_by_hand("20240101-000002-train-cccc", "train")
    assert [r.id for r in jobs.list_runs("analyze", key="abc")] == ["20240101-000000-analyze-aaaa"]
    assert [r.id for r in jobs.list_runs("export", parent="20240101-000002-train-cccc")] == [
        "20240101-000001-export-bbbb"
    ]
    folder_by_hand("20240101-000003-train-dddd", "train")  # copied in later: the folder changed, so it is found
    assert [r.id for r in jobs.list_runs("train")] == ["20240101-000003-train-dddd", "20240101-000002-train-cccc"]


def test_a_listing_reads_only_the_runs_it_returns():
    folder_by_hand("20240101-000000-train-aaaa", "train")
    broken = folder_by_hand("20240101-000001-generate-bbbb", "generate")
    assert len(jobs.list_runs()) == 2
    (broken / rundir.SPEC).write_text("{not yaml")  # listing every folder would trip over it
    (broken / rundir.STATUS).write_text("{")
    assert [r.id for r in jobs.list_runs("train")] == ["20240101-000000-train-aaaa"]


def test_active_lookups_skip_runs_once_seen_ended_and_deleting_a_run_removes_its_row():
    done = folder_by_hand("20240101-000000-generate-aaaa", "generate", "succeeded", meta={"cache_key": "k"})
    assert jobs.list_runs("generate", key="k", active=True) == []
    with store.connect() as db:
        assert db.execute("SELECT ended_at FROM runs WHERE id=?", (done.name,)).fetchone()[0] is not None
    live = jobs.launch("fake", [sys.executable, FAKE, "--steps", "200", "--sleep", "0.02"], key="k2")
    assert [r.id for r in jobs.list_runs("fake", key="k2", active=True)] == [live]
    jobs.stop(live)
    wait_for(live)
    assert jobs.list_runs("fake", active=True) == []
    jobs.delete(live)
    assert live not in rows() and not rundir.run_dir(live).exists()


def test_a_folder_removed_by_hand_leaves_the_index():
    gone = folder_by_hand("20240101-000000-train-aaaa", "train")
    assert len(jobs.list_runs("train")) == 1
    for f in gone.iterdir():
        f.unlink()
    gone.rmdir()
    assert jobs.list_runs("train") == [] and rows() == {}
