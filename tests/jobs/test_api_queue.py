"""Ten fine-tuning jobs created at once through the `openai` client wait in the job queue with one slot: each is
first reported as `queued` (with its position in the events), then all succeed, one at a time.

A uvicorn server in a thread (tests/api_server.py) with the tiny model as its base; each job is a real one-epoch
LoRA run on 10 examples in a batch of 10 (one step).
Run: .venv/bin/pytest tests/jobs/test_api_queue.py -q
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from openai import OpenAI

from core.data.samples import sample_path
from core.jobs import rundir
from core.server import ft_jobs as api_jobs
from core.server.app import create_app
from tests import api_server

KEY = "sk-local-test-key"
FINAL = ("succeeded", "failed", "cancelled")


def test_ten_jobs_created_at_once_queue_then_succeed_one_at_a_time(tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("FT_SLOTS", "1")
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(sample_path("demo").read_text().splitlines()[:10]) + "\n")
    with api_server.serving(create_app(KEY, base_model=str(tiny_model_dir))) as url:
        client = OpenAI(base_url=url, api_key=KEY, max_retries=0)
        with open(path, "rb") as f:
            train = client.files.create(file=f, purpose="fine-tune")

        def create(i: int):
            hp = {"n_epochs": 1, "batch_size": 10}
            return client.fine_tuning.jobs.create(training_file=train.id, model="gpt-4o-mini", hyperparameters=hp)

        with ThreadPoolExecutor(10) as pool:
            ids = [job.id for job in pool.map(create, range(10))]
        seen: dict[str, list[str]] = {i: [] for i in ids}
        positions: set[str] = set()
        deadline = time.time() + 900  # ten real trainings, one after another, on a busy 2-core machine
        while time.time() < deadline:
            for job in client.fine_tuning.jobs.list(limit=100).data:
                if job.id in seen and (not seen[job.id] or seen[job.id][-1] != job.status):
                    seen[job.id].append(job.status)
            waiting = [i for i in ids if seen[i][-1] == "queued"]
            if waiting and len(positions) < 3:  # the events of a waiting job say where it stands
                events = client.fine_tuning.jobs.list_events(waiting[-1], limit=5).data
                positions |= {e.message for e in events if e.message.startswith("Queued: position ")}
            if all(s[-1] in FINAL for s in seen.values()):
                break
            time.sleep(0.3)
    assert {i: s[-1] for i, s in seen.items()} == {i: "succeeded" for i in ids}
    for i in ids:  # each first reported as queued (validating_files only while its run is being made)
        assert [s for s in seen[i] if s != "validating_files"][0] == "queued", seen[i]
    assert positions and all(int(m.rsplit(" ", 1)[1]) >= 1 for m in positions)
    spans = sorted(
        (raw["started_at"], raw["ended_at"])
        for raw in (rundir.read_json(rundir.run_dir(api_jobs.get(i)["run_id"]) / rundir.STATUS) for i in ids)
    )
    assert all(spans[k][1] <= spans[k + 1][0] for k in range(len(spans) - 1))  # one at a time
