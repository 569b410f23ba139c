"""Jobs with real subprocesses: success, crash, stop, kill, lost supervisor, reattach."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from core import jobs
from core.jobs import procs, rundir
from tests.waiting import wait_for

FAKE = str(Path(__file__).with_name("fake_worker.py"))


def fake(*args: str) -> list[str]:
    return [sys.executable, FAKE, *args]


def test_a_run_succeeds_with_metrics_progress_and_log():
    rid = jobs.launch("fake", fake("--steps", "4"), title="four steps")
    st = wait_for(rid)
    assert st.state == "succeeded" and st.returncode == 0 and st.failure is None
    folder = rundir.run_dir(rid)
    assert [m["step"] for m in rundir.read_metrics(folder)] == [1, 2, 3, 4]
    assert st.progress["done"] == st.progress["total"] == 4
    assert "done" in rundir.log_tail(folder)
    assert [r.id for r in jobs.list_runs("fake")] == [rid]


@pytest.mark.parametrize(
    "code, message, failure",
    [
        (1, "Traceback: boom", "error"),
        (65, "line 3: bad data", "bad data"),
        (78, "lr must be > 0", "bad config"),
        (1, "torch.OutOfMemoryError: CUDA out of memory", "out of memory"),
    ],
)
def test_failures_are_named(code, message, failure):
    rid = jobs.launch("fake", fake("--fail-at", "2", "--exit-code", str(code), "--message", message))
    st = wait_for(rid)
    assert (st.state, st.failure, st.returncode) == ("failed", failure, code)


def test_stop_is_graceful():
    rid = jobs.launch("fake", fake("--steps", "1000", "--sleep", "0.02"))
    wait_for(rid, ("running",))
    while not rundir.read_metrics(rundir.run_dir(rid)):
        time.sleep(0.02)
    jobs.stop(rid)
    assert jobs.status(rid).state in ("stopping", "stopped")
    st = wait_for(rid)
    assert st.state == "stopped" and st.returncode == 0
    assert len(rundir.read_metrics(rundir.run_dir(rid))) < 1000


def test_kill_gives_a_final_status():
    rid = jobs.launch("fake", fake("--steps", "1000", "--sleep", "0.05"))
    wait_for(rid, ("running",))
    time.sleep(0.3)
    jobs.kill(rid)
    st = wait_for(rid)
    assert st.state == "failed" and st.failure == "killed"


def test_a_supervisor_killed_without_a_word_is_lost_with_the_log_tail():
    rid = jobs.launch("fake", fake("--steps", "1000", "--sleep", "0.05"))
    wait_for(rid, ("running",))
    while not rundir.read_metrics(rundir.run_dir(rid)):
        time.sleep(0.02)  # the worker has printed its first step
    raw = rundir.read_json(rundir.run_dir(rid) / rundir.STATUS)
    os.killpg(raw["supervisor_pid"], signal.SIGKILL)  # supervisor and worker die, no final status
    st = wait_for(rid, ("lost",))
    assert "step" in st.message and st.failure == "lost"


def running_folder(run_id: str, pid: int, start: float) -> None:
    """A run folder whose status.json says a supervisor with this pid and start time is at work."""
    folder = rundir.run_dir(run_id)
    folder.mkdir(parents=True)
    spec = {"id": run_id, "kind": "fake", "title": "fake", "argv": ["x"], "meta": {}, "created_at": time.time()}
    (folder / rundir.SPEC).write_text(yaml.safe_dump(spec))
    status = {"state": "running", "created_at": spec["created_at"], "supervisor_pid": pid, "supervisor_start": start}
    rundir.write_json(folder / rundir.STATUS, status)


def test_reused_pid_is_not_mistaken_for_the_run():
    me, started = procs.self_identity()
    assert procs.alive(me, started)
    assert not procs.alive(me, started + 1)  # same pid, another start time: another process
    assert not procs.alive(None, None)
    running_folder("20260101-000000-fake-live", me, started)
    running_folder("20260101-000000-fake-gone", me, started + 1)  # this pid is alive, but not that process
    assert jobs.status("20260101-000000-fake-live").state == "running"
    lost = jobs.status("20260101-000000-fake-gone")
    assert lost.state == "lost" and lost.failure == "lost"


def test_a_workers_note_shows_while_it_runs_and_status_json_stays_the_supervisors():
    note = (
        "import os, time; from pathlib import Path; from core.jobs import rundir; "
        "f = Path(os.environ['FT_RUN_DIR']); rundir.report_note(f, 'waiting for the provider'); "
        "exec('while not rundir.stop_requested(f): time.sleep(0.02)')"
    )
    rid = jobs.launch("fake", [sys.executable, "-c", note])
    folder = rundir.run_dir(rid)
    wait_for(rid, ("running",))
    deadline = time.time() + 30
    while jobs.status(rid).message != "waiting for the provider" and time.time() < deadline:
        time.sleep(0.05)
    assert jobs.status(rid).message == "waiting for the provider"
    assert "message" not in rundir.read_json(folder / rundir.STATUS)  # the worker never writes status.json
    jobs.stop(rid)
    st = wait_for(rid)
    assert st.state == "stopped" and st.message == "Stopped on request; the last state was saved."


def test_zombies_count_as_dead():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.time() + 10
    while procs.start_time(child.pid) is not None and time.time() < deadline:
        time.sleep(0.05)  # unreaped: a zombie
    assert procs.start_time(child.pid) is None
    child.wait()


def test_a_run_survives_its_launcher_and_is_seen_by_a_fresh_process(tmp_path):
    # Launch from a separate process that exits at once (like a Streamlit server being stopped),
    # then observe from this one (like the restarted server).
    code = (
        "import sys; from core import jobs; "
        f"print(jobs.launch('fake', [sys.executable, {FAKE!r}, '--steps', '40', '--sleep', '0.05']))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
        env=dict(os.environ),
    )
    rid = out.stdout.strip()
    assert jobs.status(rid).state in ("queued", "running")
    st = wait_for(rid)
    assert st.state == "succeeded" and len(rundir.read_metrics(rundir.run_dir(rid))) == 40


def test_delete_refuses_an_active_run():
    rid = jobs.launch("fake", fake("--steps", "1000", "--sleep", "0.05"))
    wait_for(rid, ("running",))
    with pytest.raises(RuntimeError, match="still active"):
        jobs.delete(rid)
    jobs.kill(rid)
    wait_for(rid)
    jobs.delete(rid)
    assert not rundir.run_dir(rid).exists()


def test_argv_gets_the_run_folder_and_the_spec_keeps_the_config():
    rid = jobs.launch("fake", fake("--steps", "1", "--message", "{run_dir}"), config={"lr": 0.1})
    wait_for(rid)
    spec = rundir.read_spec(rundir.run_dir(rid))
    assert spec["config"] == {"lr": 0.1}
    assert str(rundir.run_dir(rid)) in spec["argv"]


def test_a_secret_reaches_the_worker_through_its_environment_and_no_file():
    secret = "sk-test-" + "7" * 24
    probe = "import os; print('key ends', os.environ['FT_PROBE_KEY'][-4:])"
    rid = jobs.launch("fake", [sys.executable, "-c", probe], env={"FT_PROBE_KEY": secret})
    assert wait_for(rid).state == "succeeded"
    folder = rundir.run_dir(rid)
    assert "key ends 7777" in rundir.log_tail(folder)
    for path in folder.rglob("*"):
        if path.is_file():
            assert secret not in path.read_text(errors="replace"), path.name


def test_a_worker_that_explains_its_failure_is_shown_in_its_words():
    explain = (
        "import os, pathlib, sys; from core.jobs import rundir; "
        "rundir.explain_failure(pathlib.Path(os.environ['FT_RUN_DIR']), 'permission denied', 'No access.'); "
        "sys.exit(1)"
    )
    st = wait_for(jobs.launch("fake", [sys.executable, "-c", explain]))
    assert (st.state, st.failure, st.message) == ("failed", "permission denied", "No access.")
