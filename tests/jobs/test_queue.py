"""The job queue with real processes: one slot runs jobs one at a time in launch order; cancel, move, delete;
a killed scheduler and launcher are replaced and nothing starts twice; a light job never waits."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core import jobs
from core.jobs import queue, rundir, scheduler
from tests.waiting import wait_for

FAKE = str(Path(__file__).with_name("fake_worker.py"))
ROOT = Path(__file__).resolve().parents[2]


def fake(*args: str) -> list[str]:
    return [sys.executable, FAKE, *args]


def starter(log: Path, sleep: float) -> list[str]:
    """A worker that appends its run folder to `log` when it starts, then works for `sleep` seconds."""
    code = f"import os, time; open({str(log)!r}, 'a').write(os.environ['FT_RUN_DIR'] + '\\n'); time.sleep({sleep})"
    return [sys.executable, "-c", code]


@pytest.fixture
def one_slot(monkeypatch):
    monkeypatch.setenv("FT_SLOTS", "1")


def _apart(spans: list[tuple[float, float]]) -> bool:
    """Each span ends before the next one starts."""
    return all(spans[i][1] <= spans[i + 1][0] for i in range(len(spans) - 1))


def _times(run_id: str) -> tuple[float, float]:
    raw = rundir.read_json(rundir.run_dir(run_id) / rundir.STATUS)
    return raw["started_at"], raw["ended_at"]


def test_six_jobs_with_one_slot_run_one_at_a_time_in_launch_order(one_slot):
    ids = [jobs.launch("train", fake("--steps", "3", "--sleep", "0.05"), title=f"job {i}") for i in range(6)]
    assert jobs.status(ids[0]).state in ("queued", "running")
    assert [jobs.status(i).position for i in ids[1:]] == [1, 2, 3, 4, 5]  # the first took the slot at once
    assert "waits for a CPU slot" in jobs.status(ids[1]).message and ids[0] in jobs.status(ids[1]).message
    assert "waits behind 1 queued job" in jobs.status(ids[2]).message
    done = [wait_for(i, timeout=90) for i in ids]
    assert [d.state for d in done] == ["succeeded"] * 6
    spans = [_times(i) for i in ids]
    assert sorted(spans) == spans  # started in launch order
    assert _apart(spans)  # never overlapping
    assert all(queue.get(i).state == "ended" or not jobs.status(i).active for i in ids)


def test_a_cancelled_queued_job_never_starts_and_says_so(one_slot, tmp_path):
    first = jobs.launch("train", fake("--steps", "20", "--sleep", "0.05"))
    second = jobs.launch("train", starter(tmp_path / "starts.log", 0))
    assert jobs.status(second).state == "queued"
    jobs.stop(second)  # Stop on a job still waiting cancels it
    run = jobs.status(second)
    assert run.state == "cancelled" and "never started" in run.message and not run.active
    assert wait_for(first).state == "succeeded"
    third = jobs.launch("train", fake("--steps", "1"))  # the queue carries on past the cancelled one
    assert wait_for(third).state == "succeeded"
    assert not (tmp_path / "starts.log").exists() and not (rundir.run_dir(second) / rundir.LOG).exists()
    assert jobs.status(second).state == "cancelled" and queue.get(second).state == "cancelled"
    assert not queue.cancel(first)  # a job that started cannot be cancelled as a queued one


def test_move_to_front_and_delete(one_slot, tmp_path):
    log = tmp_path / "starts.log"
    running = jobs.launch("train", starter(log, 1.5))
    b, c, d = (jobs.launch("train", starter(log, 0)) for _ in range(3))
    assert queue.move_to_front(d)
    assert [jobs.status(i).position for i in (d, b, c)] == [1, 2, 3]
    jobs.delete(c)  # still waiting: cancelled, then removed
    assert not rundir.run_dir(c).exists() and queue.get(c) is None
    assert [r.id for r in jobs.list_runs("train")] == sorted([running, b, d], reverse=True)
    for rid in (running, d, b):
        assert wait_for(rid).state == "succeeded"
    assert [Path(p).name for p in log.read_text().split()] == [running, d, b]


def test_a_waiting_job_is_never_called_lost(one_slot, tmp_path):
    busy = jobs.launch("train", starter(tmp_path / "s.log", 3))
    waiting = jobs.launch("train", fake("--steps", "1"))
    status_file = rundir.run_dir(waiting) / rundir.STATUS
    raw = rundir.read_json(status_file)
    rundir.write_json(status_file, dict(raw, created_at=time.time() - 10 * jobs.QUEUED_GRACE_S))  # long queued
    assert jobs.status(waiting).state == "queued"
    assert wait_for(busy).state == "succeeded" and wait_for(waiting).state == "succeeded"


def test_a_light_job_starts_beside_a_running_heavy_one(one_slot, tmp_path):
    heavy = jobs.launch("train", starter(tmp_path / "s.log", 3))
    light = jobs.launch("import", fake("--steps", "1"))
    polling = jobs.launch("train", fake("--steps", "1"), meta={"provider": "openai"})  # a hosted run's polling
    assert wait_for(light).state == "succeeded" and wait_for(polling).state == "succeeded"
    assert jobs.status(heavy).state == "running"
    assert queue.get(light) is None and queue.get(polling) is None
    assert wait_for(heavy).state == "succeeded"


def test_slots_come_from_the_env_then_the_setting_then_the_device(monkeypatch):
    monkeypatch.delenv("FT_SLOTS", raising=False)
    assert queue.slots() == (queue.default_slots(), "this machine's default")
    queue.set_slots(3)
    assert queue.slots() == (3, "the workspace setting")
    monkeypatch.setenv("FT_SLOTS", "2")
    assert queue.slots() == (2, "the FT_SLOTS environment variable")
    with pytest.raises(ValueError, match="at least 1"):
        queue.set_slots(0)


def test_two_slots_run_two_jobs_at_once(monkeypatch, tmp_path):
    monkeypatch.setenv("FT_SLOTS", "2")
    a, b = (jobs.launch("train", starter(tmp_path / "s.log", 1.5)) for _ in range(2))
    assert wait_for(a).state == wait_for(b).state == "succeeded"
    (a_start, a_end), (b_start, b_end) = _times(a), _times(b)
    assert b_start < a_end and a_start < b_end


def test_a_second_scheduler_exits_at_once_while_the_first_holds_the_lock(one_slot, tmp_path):
    jobs.launch("train", starter(tmp_path / "s.log", 2))
    jobs.launch("train", fake("--steps", "1"))  # waiting: a scheduler was started to watch the slot
    deadline = time.time() + 30
    while scheduler.holder() is None and time.time() < deadline:
        time.sleep(0.05)
    assert scheduler.holder() is not None
    second = subprocess.run([sys.executable, "-m", "core.jobs.scheduler"], cwd=ROOT, timeout=30)
    assert second.returncode == 0 and scheduler.holder() is not None


def _launch_and_hang(log: Path, n: int) -> subprocess.Popen:
    """A separate launcher process (the app's role) that queues n jobs, then stays until killed."""
    code = (
        "import sys, time; from core import jobs; from tests.jobs.test_queue import starter; "
        f"[jobs.launch('train', starter(__import__('pathlib').Path({str(log)!r}), 0.6)) for _ in range({n})]; "
        "print('launched', flush=True); time.sleep(600)"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)


def test_killing_the_scheduler_and_the_launcher_mid_queue_loses_nothing_and_starts_nothing_twice(one_slot, tmp_path):
    log = tmp_path / "starts.log"
    app = _launch_and_hang(log, 5)
    assert app.stdout.readline().strip() == "launched"
    deadline = time.time() + 30
    while (scheduler.holder() is None or not log.exists()) and time.time() < deadline:
        time.sleep(0.05)
    holder = scheduler.holder()
    assert holder is not None
    os.kill(holder[0], signal.SIGKILL)  # the scheduler, mid-queue
    app.kill()  # and the process that launched the jobs
    app.wait()
    ids = sorted(e.id for e in jobs.index.find("train"))
    assert len(ids) == 5 and any(jobs.status(i).state == "queued" for i in ids)
    time.sleep(1.5)  # meanwhile the running job ends, and nobody starts the next
    scheduler.ensure()  # what the app's next start (or the next launch) does
    done = [wait_for(i, timeout=60) for i in ids]
    assert [d.state for d in done] == ["succeeded"] * 5
    assert sorted(Path(p).name for p in log.read_text().split()) == ids  # each started once, none twice
    spans = sorted(_times(i) for i in ids)
    assert _apart(spans)
