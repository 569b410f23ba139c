"""What a killed API server leaves behind, and what the next one does with it; repeated creates get one job.

Each test builds the on-disk state a crash leaves (a job record that never named its run, a run whose
record is missing, half-written temp files) with the real functions, then starts `python -m core.server`
as a real subprocess (tests/api_server.py) and talks to it with the official `openai` client.
Run: .venv/bin/pytest tests/jobs/test_server_recovery.py -q
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import openai
import pytest
from openai import OpenAI

from core import jobs, paths, tempfiles
from core.data.samples import sample_path
from core.server import api_dir, files
from core.server import ft_jobs as api_jobs
from tests import api_server
from tests.jobs.test_server import fake_job
from tests.waiting import wait_for

KEY = "sk-local-recovery-key"
FAKE_WORKER = str(Path(__file__).with_name("fake_worker.py"))
DAY = 24 * 3600


@pytest.fixture
def serve(tiny_model_dir, ft_home, tmp_path):
    """Start a server on this test's workspace (call it once the crash's leftovers are in place)."""
    started = []

    def start() -> OpenAI:
        proc, url = api_server.start(ft_home, tiny_model_dir, KEY, tmp_path / "server.log")
        started.append(proc)
        return OpenAI(base_url=url, api_key=KEY, max_retries=0)

    yield start
    for proc in started:
        api_server.stop(proc)


def dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def pending_record(job_id: str) -> None:
    """The record create() writes before it starts the run, by a server that was then killed."""
    fake_job(None, job_id, creator=[dead_pid(), None], request="0" * 64)


def long_run(key: str) -> str:
    """A training run started for the API's job `key` (the fake worker stands in for the trainer)."""
    return jobs.launch("train", [sys.executable, FAKE_WORKER, "--steps", "3000", "--sleep", "0.05"], key=key)


def upload(client: OpenAI, tmp_path: Path):
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(sample_path("demo").read_text().splitlines()[:12]) + "\n")
    with open(path, "rb") as f:
        return client.files.create(file=f, purpose="fine-tune")


# ---- the crash window between a job's record and its run ---------------------------------------


def test_a_run_started_for_a_job_whose_record_never_named_it_is_adopted_at_start(serve):
    job_id = "ftjob-" + "a1" * 12
    pending_record(job_id)
    run_id = long_run(job_id)  # launched; the server died before writing the run id into the record
    client = serve()
    job = client.fine_tuning.jobs.retrieve(job_id)
    assert job.status in ("queued", "running") and job.error is None
    assert api_jobs.get(job_id)["run_id"] == run_id
    assert [j.id for j in client.fine_tuning.jobs.list().data] == [job_id]
    events = [e.message for e in client.fine_tuning.jobs.list_events(job_id).data]
    assert any("adopted" in m and run_id in m for m in events)
    assert client.fine_tuning.jobs.cancel(job_id).status == "cancelled"
    assert wait_for(run_id, timeout=60).state == "stopped"


def test_a_job_whose_run_never_started_fails_saying_so_instead_of_waiting_forever(serve):
    job_id = "ftjob-" + "b2" * 12
    pending_record(job_id)
    client = serve()
    job = client.fine_tuning.jobs.retrieve(job_id)
    assert job.status == "failed" and job.finished_at
    assert job.error.code == "server_interrupted"
    assert "before this job's training run started" in job.error.message
    assert "create the job again" in job.error.message
    with pytest.raises(openai.BadRequestError):
        client.fine_tuning.jobs.cancel(job_id)


def test_a_run_started_for_the_api_with_no_job_record_is_stopped_at_start(serve, tmp_path):
    run_id = long_run("ftjob-" + "c3" * 12)  # nothing lists, retrieves or cancels it through the API
    wait_for(run_id, ("running",))
    serve()
    assert wait_for(run_id, timeout=60).state == "stopped"
    assert "has no record" in (tmp_path / "server.log").read_text()


# ---- repeated creates ---------------------------------------------------------------------------


def test_a_create_repeated_with_its_idempotency_key_returns_the_same_job_and_starts_one_run(serve, tmp_path):
    client = serve()
    train = upload(client, tmp_path)
    create = dict(training_file=train.id, model="gpt-4o-mini", hyperparameters={"n_epochs": 1})
    first = client.fine_tuning.jobs.create(**create, extra_headers={"Idempotency-Key": "order-17"})
    again = client.fine_tuning.jobs.create(**create, extra_headers={"Idempotency-Key": "order-17"})
    assert again.id == first.id
    assert len(jobs.list_runs(kind="train")) == 1 and len(client.fine_tuning.jobs.list().data) == 1
    events = [e.message for e in client.fine_tuning.jobs.list_events(first.id).data]
    assert any("same Idempotency-Key" in m and "no second job" in m for m in events)
    with pytest.raises(openai.BadRequestError) as reused:
        client.fine_tuning.jobs.create(**{**create, "seed": 5}, extra_headers={"Idempotency-Key": "order-17"})
    assert reused.value.code == "idempotency_key_reused"
    client.fine_tuning.jobs.cancel(first.id)


def test_the_clients_automatic_retry_of_a_create_gets_the_job_its_first_try_made(serve, tmp_path):
    client = serve()
    train = upload(client, tmp_path)
    create = dict(training_file=train.id, model="gpt-4o-mini", hyperparameters={"n_epochs": 1})
    first = client.fine_tuning.jobs.create(**create)
    # The openai client sends this header on its own retries; the first try's answer never arrived.
    retried = client.fine_tuning.jobs.create(**create, extra_headers={"x-stainless-retry-count": "1"})
    assert retried.id == first.id and len(jobs.list_runs(kind="train")) == 1
    second = client.fine_tuning.jobs.create(**create)  # a new request (not a retry) is a new job
    assert second.id != first.id and len(jobs.list_runs(kind="train")) == 2
    for job in (first, second):
        client.fine_tuning.jobs.cancel(job.id)


# ---- temp files of interrupted writes -------------------------------------------------------------


def test_temp_files_of_interrupted_uploads_are_removed_at_start_but_not_one_being_written(serve):
    folder = api_dir(files.KIND)
    old = time.time() - 2 * DAY
    legacy = folder / ".file-0123456789abcdef01234567.jsonl.tmp"  # the name uploads had before
    dead = folder / f".file-1123456789abcdef01234567.jsonl.{dead_pid()}.abcdef.tmp"  # its writer was killed
    live = tempfiles.temp_path(folder / "file-2123456789abcdef01234567.jsonl")  # this process is writing it
    checkpoint = tempfiles.temp_path(paths.runs_dir() / "r1" / "checkpoints" / "step-4")  # idle 2 days: gone
    checkpoint.mkdir(parents=True)
    kept = folder / "notes.txt"
    for path in (legacy, dead, live, kept, checkpoint / "optimizer.pt"):
        path.write_bytes(b"x" * 1000)
    for path in (legacy, dead, kept, checkpoint / "optimizer.pt", checkpoint):
        os.utime(path, (old, old))
    os.utime(live, (time.time() - 3600, time.time() - 3600))  # idle an hour, but its writer lives
    serve()
    deadline = time.time() + 60  # the server sweeps in the background; the run folders come last
    while checkpoint.exists() and time.time() < deadline:
        time.sleep(0.1)
    assert not legacy.exists() and not dead.exists() and not checkpoint.exists()
    assert live.exists() and kept.exists()
