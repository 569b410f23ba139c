"""A run's processes live and die together, and a job sees only the secrets it names: real subprocesses."""

import json
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
SECRETS = {
    "FT_API_KEY": "k-api",
    "FT_ADMIN_TOKEN": "k-admin",
    "OPENAI_API_KEY": "sk-openai",
    "HF_TOKEN": "hf-token",
    "WANDB_API_KEY": "k-wandb",
    "SOME_SERVICE_SECRET": "k-other",
}


def fake(*args: str) -> list[str]:
    return [sys.executable, FAKE, *args]


def gone(*pids: int, timeout: float = 60) -> float:
    """Seconds until none of these pids is a live process (zombies count as gone); fails past the timeout."""
    start = time.monotonic()
    while any(procs.start_time(p) is not None for p in pids):
        assert time.monotonic() - start < timeout, f"still alive after {timeout} s: {pids}"
        time.sleep(0.05)
    return time.monotonic() - start


def started(run_id: str) -> tuple[dict, int]:
    """status.json once the worker has done a step and started its child, and the child's pid."""
    folder = rundir.run_dir(run_id)
    wait_for(run_id, ("running",))
    deadline = time.monotonic() + 60
    while not (rundir.read_metrics(folder) and (folder / "child.pid").exists()):
        assert time.monotonic() < deadline, rundir.log_tail(folder)
        time.sleep(0.02)
    return rundir.read_json(folder / rundir.STATUS), int((folder / "child.pid").read_text())


@pytest.mark.parametrize("deaf", [False, True], ids=["worker", "worker-ignoring-sigterm"])
def test_a_supervisor_killed_with_sigkill_takes_its_worker_and_the_workers_children(deaf):
    rid = jobs.launch("fake", fake("--steps", "100000", "--sleep", "0.05", "--child", *(["--deaf"] if deaf else [])))
    raw, child = started(rid)
    os.kill(raw["supervisor_pid"], signal.SIGKILL)  # the supervisor alone: no cleanup of its own can run
    gone(raw["worker_pid"], child)
    st = wait_for(rid, jobs.FINAL)
    assert (st.state, st.failure) == ("lost", "lost")
    assert "supervisor was killed" in st.message and "step" in st.message  # why, and the log's last lines


@pytest.mark.parametrize("end", ["kill", "supervisor-sigkill"])
def test_a_child_in_a_session_of_its_own_ends_with_its_run(end):
    """torch's elastic agent starts each rank with start_new_session: outside the run's process group."""
    rid = jobs.launch("fake", fake("--steps", "100000", "--sleep", "0.05", "--session-child", "--deaf"))
    raw, child = started(rid)
    assert os.getsid(child) == child and os.getpgid(child) != os.getpgid(raw["worker_pid"])
    if end == "kill":
        jobs.kill(rid)  # SIGTERM is ignored: the supervisor's SIGKILL after the grace must reach the child too
    else:
        os.kill(raw["supervisor_pid"], signal.SIGKILL)  # the guard cleans up
    gone(raw["worker_pid"], child)
    assert wait_for(rid, jobs.FINAL).state in ("failed", "lost")


def orphan_folder(run_id: str, worker: subprocess.Popen) -> Path:
    """A run whose supervisor is gone (no guard either) while its worker, started here, is still at work."""
    folder = rundir.run_dir(run_id)
    me, my_start = procs.self_identity()
    status = {
        "state": "running",
        "created_at": time.time(),
        "supervisor_pid": me,
        "supervisor_start": my_start + 1,  # this pid, another start time: a supervisor that is gone
        "worker_pid": worker.pid,
        "worker_start": procs.start_time(worker.pid),
    }
    rundir.write_json(folder / rundir.STATUS, status)
    return folder


@pytest.mark.parametrize("end", [jobs.stop, jobs.kill], ids=["stop", "kill"])
def test_a_worker_that_outlived_its_supervisor_is_running_and_stop_or_kill_ends_it_and_its_children(end):
    run_id = "20260101-000000-fake-orphan"
    folder = rundir.run_dir(run_id)
    folder.mkdir(parents=True)
    spec = {"id": run_id, "kind": "fake", "title": "fake", "argv": ["x"], "meta": {}, "created_at": time.time()}
    (folder / rundir.SPEC).write_text(yaml.safe_dump(spec))
    env = dict(os.environ, FT_RUN_DIR=str(folder))
    argv = fake("--steps", "100000", "--sleep", "0.05", "--child", "--deaf")
    worker = subprocess.Popen(argv, env=env, start_new_session=True, stdout=subprocess.DEVNULL)
    try:
        while not (folder / "child.pid").exists():
            time.sleep(0.02)
        child = int((folder / "child.pid").read_text())
        orphan_folder(run_id, worker)
        st = jobs.status(run_id)
        assert st.state == "running" and "supervisor is gone" in st.message  # not "lost": it is at work
        end(run_id)
        gone(worker.pid, child)
        st = wait_for(run_id, jobs.FINAL)
        assert (st.state, st.failure) == ("failed", "killed")  # deaf to STOP and SIGTERM: killed after the grace
        assert "supervisor was gone" in st.message
    finally:
        worker.kill()
        worker.wait()


def environment_names(monkeypatch, **launch) -> tuple[set[str], set[str]]:
    """The names in a job's worker's and supervisor's environments, launched with SECRETS set here."""
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")  # not a secret: it passes
    rid = jobs.launch("fake", fake("--steps", "1000", "--sleep", "0.05", "--env-names"), **launch)
    folder = rundir.run_dir(rid)
    wait_for(rid, ("running",))
    while not (folder / "env.json").exists():
        time.sleep(0.02)
    supervisor = rundir.read_json(folder / rundir.STATUS)["supervisor_pid"]
    with open(f"/proc/{supervisor}/environ", "rb") as f:
        supervisor_names = {item.split(b"=", 1)[0].decode() for item in f.read().split(b"\0") if item}
    jobs.stop(rid)
    assert wait_for(rid).state == "stopped"
    return set(json.loads((folder / "env.json").read_text())), supervisor_names


def test_a_job_gets_none_of_the_launching_environments_secrets(monkeypatch):
    for names in environment_names(monkeypatch):
        assert not names & SECRETS.keys()
        assert {"OPENAI_BASE_URL", "FT_HOME", "PATH"} <= names


def test_a_job_gets_the_secrets_it_names_and_no_other(monkeypatch):
    for names in environment_names(monkeypatch, secrets=jobs.HUB_SECRETS):
        assert names & SECRETS.keys() == {"HF_TOKEN"}


def test_a_value_passed_for_the_job_reaches_it_whatever_its_name(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-of-the-app")
    probe = "import os; print('key is', os.environ['OPENAI_API_KEY'])"
    rid = jobs.launch("fake", [sys.executable, "-c", probe], env={"OPENAI_API_KEY": "sk-for-this-job"})
    assert wait_for(rid).state == "succeeded"
    assert "key is sk-for-this-job" in rundir.log_tail(rundir.run_dir(rid))


@pytest.mark.parametrize(
    "name, secret",
    [
        ("FT_API_KEY", True),
        ("FT_ADMIN_TOKEN", True),
        ("HF_TOKEN", True),
        ("AWS_SECRET_ACCESS_KEY", True),
        ("db_password", True),
        ("TOKENIZERS_PARALLELISM", False),
        ("OPENAI_BASE_URL", False),
        ("HF_HOME", False),
    ],
)
def test_which_names_are_secrets(name, secret):
    assert jobs.is_secret(name) is secret
