"""The one rule for temp names, and which leftovers the start-up sweep removes (core.tempfiles)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from core import paths, tempfiles
from core.data import versions
from core.jobs import rundir
from core.server import files

DAY = 24 * 3600


def age(path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def gone_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_temp_name_sits_beside_its_target_and_names_the_writer(tmp_path):
    a, b = tempfiles.temp_path(tmp_path / "status.json"), tempfiles.temp_path(tmp_path / "status.json")
    assert a != b and a.parent == tmp_path
    assert a.name.startswith(".status.json.") and a.name.endswith(".tmp") and f".{os.getpid()}." in a.name


def test_a_dead_writers_temp_goes_at_once_and_a_live_ones_only_after_a_day(tmp_path):
    dead = tmp_path / f".x.jsonl.{gone_pid()}.abc123.tmp"  # killed a moment ago
    live = tempfiles.temp_path(tmp_path / "z.jsonl")
    live_old = tempfiles.temp_path(tmp_path / "w.jsonl")  # a pid reused by a process that is not its writer
    for path in (dead, live, live_old):
        path.write_text("x")
    age(live, DAY - 60)
    age(live_old, DAY + 60)
    assert sorted(p.name for p in tempfiles.sweep(tmp_path)) == sorted([dead.name, live_old.name])
    assert live.exists()


def test_old_style_names_go_after_an_hour_and_other_files_stay(tmp_path):
    names = (".file-abc.jsonl.tmp", "3f2a.tmp", ".step-13.tmp", ".model.tmp-123", "x.jsonl.tmp")
    for name in names:
        (tmp_path / name).write_text("x")
        age(tmp_path / name, 2 * 3600)
    (tmp_path / "recent.tmp").write_text("x")
    for name in ("data.jsonl", "tmp", ".hidden", "notes.tmp.txt"):
        (tmp_path / name).write_text("x")
        age(tmp_path / name, 30 * DAY)
    assert sorted(p.name for p in tempfiles.sweep(tmp_path)) == sorted(names)
    kept = [".hidden", "data.jsonl", "notes.tmp.txt", "recent.tmp", "tmp"]
    assert sorted(p.name for p in tmp_path.iterdir()) == kept


def test_a_temp_folder_still_being_filled_stays(tmp_path):
    folder = tempfiles.temp_path(tmp_path / "step-8")
    folder.mkdir()
    (folder / "optimizer.pt").write_text("being written")
    age(folder, 2 * DAY)  # the folder itself is old; its newest file is not
    assert tempfiles.sweep(tmp_path) == [] and folder.exists()
    age(folder / "optimizer.pt", 2 * DAY)
    assert tempfiles.sweep(tmp_path) == [folder] and not folder.exists()


def test_the_workspace_sweep_reaches_every_folder_writers_use(ft_home):
    run = paths.runs_dir() / "20260101-000000-train-aaaa"
    targets = [
        files._data_path("file-" + "1" * 24, files.FINE_TUNE),
        run / rundir.STATUS,
        run / rundir.CHECKPOINTS / "step-4",
        run / rundir.EXPORT / "merged",
        versions._blob_dir() / ("0" * 64 + ".jsonl"),
        paths.generations_dir() / "key.jsonl",
        paths.models_dir() / "smollm2",
        paths.cache_dir() / "tiktoken" / "o200k",
        paths.cache_dir() / "uploads" / "key" / "train.jsonl",
    ]
    temps = []
    for target in targets:
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.with_name(f".{target.name}.{gone_pid()}.abc123.tmp")
        temp.write_text("x")
        age(temp, 2 * DAY)
        temps.append(temp)
    assert sorted(tempfiles.sweep_all(list(tempfiles.workspace_folders()))) == sorted(temps)
