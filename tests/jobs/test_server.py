"""The local OpenAI-compatible API over real HTTP, driven by the official `openai` client.

A uvicorn server runs core.server.app.create_app in a thread on a free port, with the tiny random
Llama as its base model; every test has its own FT_HOME (the server reads it per request).
Jobs are real training runs (subprocesses), so this file takes about a minute on 2 cores.
Run: .venv/bin/pytest tests/jobs/test_server.py -q
"""

from __future__ import annotations

import copy
import json
import sys
import time
from pathlib import Path

import httpx
import openai
import pytest
from openai import OpenAI

from core import jobs, models
from core.data.samples import sample_path
from core.jobs import rundir
from core.server import ApiError, api_dir, chat, files, write_record
from core.server import ft_jobs as api_jobs
from core.server.app import _parser, create_app, settings
from core.train import launch
from tests import api_server
from tests.shapes import OPENAI_DPO, OPENAI_DPO_TOOLS, OPENAI_TOOL_CALLING, OPENAI_VISION
from tests.waiting import wait_for

KEY = "sk-local-test-key"
OPENAI_MODEL = "gpt-4o-mini-2024-07-18"
FINAL = ("succeeded", "failed", "cancelled")
FAKE_WORKER = str(Path(__file__).with_name("fake_worker.py"))


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    return tiny_model_dir


@pytest.fixture(scope="module")
def base_url(tiny):
    with api_server.serving(create_app(KEY, base_model=str(tiny))) as url:
        yield url


@pytest.fixture
def client(base_url):
    return OpenAI(base_url=base_url, api_key=KEY, max_retries=0)


def demo_rows() -> list[str]:
    return sample_path("demo").read_text().splitlines()


def upload(client, tmp_path, name: str, lines: list[str]):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    with open(path, "rb") as f:
        return client.files.create(file=f, purpose="fine-tune")


def wait_status(client, job_id: str, states, timeout: float = 120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = client.fine_tuning.jobs.retrieve(job_id)
        if job.status in states:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} stayed {job.status} for {timeout} s")


# ---- auth and errors ----------------------------------------------------------------------------


def test_requests_without_or_with_a_wrong_key_are_refused_in_openais_shape(base_url):
    bare = httpx.get(f"{base_url}/models")
    assert bare.status_code == 401
    assert set(bare.json()["error"]) == {"message", "type", "param", "code"}
    assert bare.json()["error"]["code"] == "invalid_api_key"
    with pytest.raises(openai.AuthenticationError) as refused:
        OpenAI(base_url=base_url, api_key="sk-wrong", max_retries=0).models.list()
    assert refused.value.status_code == 401 and refused.value.code == "invalid_api_key"
    assert "sk-wrong" not in refused.value.message and KEY not in refused.value.message


def test_an_unknown_route_is_a_404_in_openais_shape(base_url):
    response = httpx.get(f"{base_url}/nothing-here", headers={"Authorization": f"Bearer {KEY}"})
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "Invalid URL (GET /v1/nothing-here)"


# ---- files --------------------------------------------------------------------------------------


def test_a_file_uploads_lists_retrieves_downloads_and_deletes(client, tmp_path):
    lines = demo_rows()[:3]
    created = upload(client, tmp_path, "train.jsonl", lines)
    body = ("\n".join(lines) + "\n").encode()
    assert created.id.startswith("file-") and created.object == "file"
    assert (created.bytes, created.filename, created.purpose, created.status) == (
        len(body),
        "train.jsonl",
        "fine-tune",
        "processed",
    )
    assert [f.id for f in client.files.list().data] == [created.id]
    assert client.files.retrieve(created.id).bytes == len(body)
    assert client.files.content(created.id).content == body
    deleted = client.files.delete(created.id)
    assert deleted.deleted and deleted.id == created.id
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(created.id)
    assert client.files.list().data == []


def test_a_file_with_format_errors_is_refused_naming_their_lines(client, tmp_path):
    lines = demo_rows()[:6]
    lines[3] = '{"messages": [{"role": "user", "content": "unfinished"'  # line 4: broken JSON
    lines[5] = '{"messages": [{"role": "robot", "content": "x"}, {"role": "assistant", "content": "y"}]}'
    with pytest.raises(openai.BadRequestError) as refused:
        upload(client, tmp_path, "bad.jsonl", lines)
    assert refused.value.param == "file"
    message = refused.value.body["message"]
    assert message.startswith("Invalid file format.") and "Line 4:" in message and "Line 6:" in message
    assert "robot" in message
    assert client.files.list().data == []  # nothing of a refused upload is kept


def test_a_tool_calling_file_and_one_with_content_parts_upload_as_openai_accepts_them(client, tmp_path):
    # OpenAI's function-calling example and a vision example: valid files, whatever model trains on them later.
    lines = [json.dumps(OPENAI_TOOL_CALLING)] * 5 + [json.dumps(OPENAI_VISION)] * 5
    created = upload(client, tmp_path, "tools.jsonl", lines)
    assert created.status == "processed" and files.get(created.id)["examples"] == 10
    broken = copy.deepcopy(OPENAI_TOOL_CALLING)
    broken["messages"][1]["tool_calls"][0]["function"]["arguments"] = "{location: SF"
    with pytest.raises(openai.BadRequestError) as refused:
        upload(client, tmp_path, "broken.jsonl", [json.dumps(OPENAI_TOOL_CALLING), json.dumps(broken)])
    assert refused.value.param == "file" and refused.value.code == "invalid_file_format"
    message = refused.value.body["message"]
    assert "Line 2:" in message and "message 2" in message and "not valid JSON" in message


def test_a_dpo_file_uploads_as_preference_data_and_a_bad_pair_is_refused_by_line(client, tmp_path):
    lines = [json.dumps(OPENAI_DPO), json.dumps(OPENAI_DPO_TOOLS)] * 3
    created = upload(client, tmp_path, "dpo.jsonl", lines)
    assert created.status == "processed" and files.get(created.id)["examples"] == 6
    same = {**OPENAI_DPO, "non_preferred_output": OPENAI_DPO["preferred_output"]}
    with pytest.raises(openai.BadRequestError) as refused:
        upload(client, tmp_path, "same.jsonl", [json.dumps(OPENAI_DPO), json.dumps(same)])
    assert refused.value.code == "invalid_file_format"
    assert "Line 2: the preferred and non-preferred answers are the same" in refused.value.body["message"]


def _peak_mb(pid: int) -> float:
    """The process's peak resident memory so far (VmHWM), in MB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) / 1024


def test_junk_uploads_are_refused_clearly_and_the_servers_memory_stays_bounded(tmp_path, tiny):
    proc, url = api_server.start(tmp_path / "home", tiny, KEY, tmp_path / "server.log")
    try:
        client = OpenAI(base_url=url, api_key=KEY, max_retries=0)
        before = _peak_mb(proc.pid)
        # Lines that are not JSON from the start: refused as not JSON Lines, naming line 1 and what to do.
        with pytest.raises(openai.BadRequestError) as refused:
            upload(client, tmp_path, "people.jsonl", [f"name{i},age,city" for i in range(50_000)])
        message = refused.value.body["message"]
        assert refused.value.status_code == 400 and refused.value.param == "file"
        assert "is not JSON Lines" in message and "line 1:" in message and "CSV" in message
        # Junk after good lines is read to the end: a few lines named, the rest counted. It grew the server by
        # about 180 MB per MB of two-byte lines before findings were capped.
        junk = 1 << 20
        with pytest.raises(openai.BadRequestError) as refused:
            upload(client, tmp_path, "late-junk.jsonl", demo_rows()[:50] + ["x"] * junk)
        message = refused.value.body["message"]
        assert "Line 51: invalid JSON" in message and f"And {junk - 3:,} more error(s)" in message
        assert _peak_mb(proc.pid) - before < 40
        assert client.files.list().data == []
    finally:
        api_server.stop(proc)


# ---- jobs: requests -----------------------------------------------------------------------------


def test_a_job_on_an_unknown_file_or_too_few_examples_is_refused(client, tmp_path):
    with pytest.raises(openai.BadRequestError) as unknown:
        client.fine_tuning.jobs.create(training_file="file-000000000000000000000000", model=OPENAI_MODEL)
    assert unknown.value.status_code == 400 and unknown.value.param == "training_file"
    few = upload(client, tmp_path, "few.jsonl", demo_rows()[:4])
    with pytest.raises(openai.BadRequestError) as small:
        client.fine_tuning.jobs.create(training_file=few.id, model=OPENAI_MODEL)
    assert "has 4 example(s)" in small.value.body["message"] and small.value.param == "training_file"
    assert jobs.list_runs("train") == []  # nothing was launched


def test_auto_hyperparameters_follow_openais_rules():
    # n_epochs: 3 unless outside 100..25,000 example-passes. 12 x 3 = 36 < 100 -> 100 // 12 = 8;
    # 5,000 x 3 = 15,000 fits -> 3; 10,000 x 3 > 25,000 -> 25,000 // 10,000 = 2.
    # batch_size: n // 10, between 1 and 8. learning_rate_multiplier: 1.0.
    assert api_jobs.resolve_hyperparameters({}, 12, 2e-4) == {
        "n_epochs": 8,
        "batch_size": 1,
        "learning_rate_multiplier": 1.0,
    }
    assert api_jobs.resolve_hyperparameters({"n_epochs": "auto"}, 5_000, 2e-4)["n_epochs"] == 3
    assert api_jobs.resolve_hyperparameters({}, 10_000, 2e-4)["n_epochs"] == 2
    assert api_jobs.resolve_hyperparameters({}, 45, 2e-4)["batch_size"] == 4
    assert api_jobs.resolve_hyperparameters({}, 5_000, 2e-4)["batch_size"] == 8


def test_given_hyperparameters_map_onto_the_lora_preset(tmp_path):
    hp = api_jobs.resolve_hyperparameters(
        {"n_epochs": 2, "batch_size": 12, "learning_rate_multiplier": 0.5}, 100, 2e-4
    )
    cfg = api_jobs.train_config("m", tmp_path / "t.jsonl", None, hp, seed=7)
    # 12 = 6 per pass x 2 passes (the largest divisor up to 8); lr = 0.5 x the preset's 2e-4.
    assert (cfg.method, cfg.num_train_epochs, cfg.seed) == ("lora", 2.0, 7)
    assert (cfg.per_device_train_batch_size, cfg.gradient_accumulation_steps) == (6, 2)
    assert cfg.learning_rate == pytest.approx(1e-4)
    assert api_jobs.split_batch(7) == (7, 1) and api_jobs.split_batch(16) == (8, 2)


def test_the_method_form_wins_and_bad_values_name_their_parameter():
    body = {
        "hyperparameters": {"n_epochs": 3},
        "method": {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 5}}},
    }
    assert api_jobs.requested_hyperparameters(body) == {"n_epochs": 5}
    for hp, param in [
        ({"n_epochs": 0}, "hyperparameters.n_epochs"),
        ({"n_epochs": 2.5}, "hyperparameters.n_epochs"),
        ({"batch_size": "big"}, "hyperparameters.batch_size"),
        ({"learning_rate_multiplier": 100}, "hyperparameters.learning_rate_multiplier"),  # 100 x 2e-4 = 0.02
    ]:
        with pytest.raises(ApiError) as bad:
            api_jobs.resolve_hyperparameters(hp, 20, 2e-4)
        assert (bad.value.status, bad.value.param) == (400, param)
    with pytest.raises(ApiError) as dpo:
        api_jobs.requested_hyperparameters({"method": {"type": "reinforcement"}})
    assert dpo.value.param == "method.type"


def test_run_states_map_to_openais_job_statuses():
    cases = [
        (("queued", 0, False), "queued"),  # waiting in the job queue
        (("cancelled", 0, False), "cancelled"),  # cancelled while queued
        (("running", 0, False), "queued"),  # the worker is loading the model
        (("running", 3, False), "running"),
        (("stopping", 3, False), "running"),
        (("succeeded", 9, False), "succeeded"),
        (("failed", 2, False), "failed"),
        (("lost", 2, False), "failed"),
        (("stopped", 2, False), "cancelled"),
        (("running", 3, True), "cancelled"),  # OpenAI reports the cancel at once
        ((None, 0, False), "failed"),  # the run was deleted
    ]
    assert [api_jobs.status_of(*args) for args, _ in cases] == [want for _, want in cases]


def test_an_openai_model_name_trains_the_local_base_and_a_local_one_itself(tiny):
    assert api_jobs.local_base(OPENAI_MODEL, "base") == ("base", f"{OPENAI_MODEL} is served locally by base")
    assert api_jobs.local_base(str(tiny), "base") == (str(tiny), None)
    with pytest.raises(ApiError):
        api_jobs.local_base("ft:gpt-4o-mini:local::abcd1234", "base")


# ---- jobs: whole runs -----------------------------------------------------------------------------


def test_a_whole_job_trains_reports_and_its_model_chats(client, tmp_path, tiny):
    rows = demo_rows()
    train = upload(client, tmp_path, "train.jsonl", rows[:12])
    val = upload(client, tmp_path, "val.jsonl", rows[100:104])
    job = client.fine_tuning.jobs.create(
        training_file=train.id,
        validation_file=val.id,
        model=OPENAI_MODEL,
        hyperparameters={"n_epochs": 2},
        suffix="tiny",
    )
    assert job.status == "queued" and job.hyperparameters.batch_size == 1  # its run waits for a slot, or loads
    done = wait_status(client, job.id, FINAL)
    assert done.status == "succeeded", done.error
    assert done.fine_tuned_model == f"ft:{OPENAI_MODEL}:local:tiny:{job.id[6:14]}"

    # It is an ordinary run: on the Runs page, with the config the hyperparameters asked for.
    run = next(r for r in jobs.list_runs("train") if job.id in r.title)
    cfg = launch.run_config(run.id)
    assert (cfg.model, cfg.num_train_epochs, cfg.per_device_train_batch_size) == (str(tiny), 2.0, 1)
    summary = rundir.read_json(rundir.run_dir(run.id) / "summary.json") or {}
    assert done.trained_tokens == 2 * summary["train_tokens"]  # tokens per epoch x 2 epochs

    # 12 examples at batch 1 are 12 steps an epoch: 24 steps, validated at 12 and 24.
    events = client.fine_tuning.jobs.list_events(job.id, limit=100).data
    messages = [e.message for e in events]
    assert messages[0] == "Fine-tuning job successfully completed"
    assert messages[-1] == f"{OPENAI_MODEL} is served locally by {tiny}"
    assert any(m.startswith("Step 1/24: training loss=") for m in messages)
    assert any(m.startswith("Step 24/24: training loss=") and "validation loss=" in m for m in messages)
    times = [e.created_at for e in events]
    assert times == sorted(times, reverse=True)
    first = client.fine_tuning.jobs.list_events(job.id, limit=3)
    after = client.fine_tuning.jobs.list_events(job.id, limit=3, after=first.data[-1].id)
    assert [e.id for e in first.data + after.data] == [e.id for e in events[:6]] and first.has_more

    checkpoints = client.fine_tuning.jobs.checkpoints.list(job.id).data
    assert [c.step_number for c in checkpoints] == [24, 12]
    assert all(c.metrics.valid_loss is not None and c.metrics.train_loss is not None for c in checkpoints)
    assert checkpoints[0].fine_tuned_model_checkpoint == f"{done.fine_tuned_model}:ckpt-step-24"

    assert done.fine_tuned_model in [m.id for m in client.models.list().data]
    reply = client.chat.completions.create(
        model=done.fine_tuned_model, messages=[{"role": "user", "content": "Hello"}], max_tokens=6
    )
    choice = reply.choices[0]
    assert isinstance(choice.message.content, str) and choice.finish_reason in ("stop", "length")
    assert 1 <= reply.usage.completion_tokens <= 6 and reply.usage.prompt_tokens > 0
    streamed = client.chat.completions.create(
        model=done.fine_tuned_model,
        messages=[{"role": "user", "content": "Hello"}],
        max_tokens=6,
        stream=True,
    )
    pieces = [c.choices[0].delta.content or "" for c in streamed if c.choices]
    assert "".join(pieces) == choice.message.content  # greedy: the same text either way
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(
            model=checkpoints[0].fine_tuned_model_checkpoint, messages=[{"role": "user", "content": "Hi"}]
        )
    by_base = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}], max_completion_tokens=3
    )
    assert by_base.model == "gpt-4o-mini" and by_base.usage.completion_tokens <= 3


def test_cancelling_a_running_job_ends_cancelled(client, tmp_path):
    rows = demo_rows()
    train = upload(client, tmp_path, "train.jsonl", rows[:12])
    job = client.fine_tuning.jobs.create(
        training_file=train.id,
        model=OPENAI_MODEL,
        hyperparameters={"n_epochs": 50, "batch_size": 1, "learning_rate_multiplier": 0.5},
    )
    wait_status(client, job.id, ("running",) + FINAL)
    cancelled = client.fine_tuning.jobs.cancel(job.id)
    assert cancelled.status == "cancelled"
    run_id = api_jobs.get(job.id)["run_id"]
    run = jobs.status(run_id)
    deadline = time.time() + 60
    while run.active and time.time() < deadline:
        time.sleep(0.2)
        run = jobs.status(run_id)
    assert run.state == "stopped"
    assert launch.run_config(run_id).learning_rate == pytest.approx(1e-4)  # 0.5 x 2e-4
    final = client.fine_tuning.jobs.retrieve(job.id)
    assert final.status == "cancelled" and final.fine_tuned_model is None and final.finished_at
    assert client.fine_tuning.jobs.list_events(job.id).data[0].message == "Fine-tuning job cancelled"
    with pytest.raises(openai.BadRequestError):
        client.fine_tuning.jobs.cancel(job.id)
    assert [j.id for j in client.fine_tuning.jobs.list().data] == [job.id]


def test_files_module_refuses_an_unknown_purpose(tmp_path):
    path = tmp_path / "x.bin"
    path.write_bytes(b"abc")
    with open(path, "rb") as f, pytest.raises(ApiError) as bad:
        files.create(f, "x.bin", "training")
    assert (bad.value.status, bad.value.param) == (400, "purpose")


# ---- failures and the command line ------------------------------------------------------------


def fake_job(run_id: str | None, job_id: str = "ftjob-" + "ab" * 12, **fields) -> str:
    """A job record over an existing run, as create() writes it (the run here is a fake worker)."""
    record = {
        "id": job_id,
        "created_at": int(time.time()),
        "created": time.time(),
        "run_id": run_id,
        "model": OPENAI_MODEL,
        "base": "base",
        "mapping_note": None,
        "suffix": None,
        "seed": 1,
        "training_file": "file-" + "0" * 24,
        "validation_file": None,
        "metadata": None,
        "cancelled_at": None,
        "hyperparameters": {"n_epochs": 1, "batch_size": 1, "learning_rate_multiplier": 1.0},
        **fields,
    }
    write_record(api_dir("jobs") / f"{job_id}.json", record)
    return job_id


def test_a_failed_run_is_a_failed_job_with_the_workers_reason(client):
    reason = "bad data: train file t.jsonl: line 3: no assistant message"
    run_id = jobs.launch(
        "train", [sys.executable, FAKE_WORKER, "--fail-at", "3", "--exit-code", "65", "--message", reason]
    )
    wait_for(run_id)
    job = client.fine_tuning.jobs.retrieve(fake_job(run_id))
    assert job.status == "failed" and job.fine_tuned_model is None and job.trained_tokens is None
    assert (job.error.code, job.error.param) == ("bad_data", "training_file")
    assert job.error.message.endswith(reason)
    events = client.fine_tuning.jobs.list_events(job.id).data
    assert events[0].level == "error" and events[0].message == f"Fine-tuning job failed: {job.error.message}"
    # The fake worker logged steps 1 and 2 (losses 1/1 and 1/2) of 5 before failing at 3.
    steps = [e.message for e in events if e.type == "metrics"]
    assert steps == ["Step 2/5: training loss=0.5000", "Step 1/5: training loss=1.0000"]


def test_the_command_line_refuses_to_serve_without_a_key_except_on_loopback(monkeypatch, capsys):
    monkeypatch.delenv("FT_API_KEY", raising=False)
    for argv in ([], ["--no-auth", "--host", "0.0.0.0"], ["--no-auth", "--api-key", "k"]):
        with pytest.raises(SystemExit) as refused:
            settings(argv)
        assert refused.value.code == 2
    assert "--no-auth is allowed only on 127.0.0.1" in capsys.readouterr().err
    assert settings(["--no-auth"])[1] is None
    monkeypatch.setenv("FT_API_KEY", "from-env")
    monkeypatch.setenv("FT_API_BASE_MODEL", "smollm2-135m-instruct")
    args, key, base = settings(["--port", "9001"])
    assert (args.port, key, base) == (9001, "from-env", "smollm2-135m-instruct")
    help_text = _parser().format_help()
    assert "--no-auth" in help_text and "127.0.0.1" in help_text and "FT_API_KEY" in help_text


# ---- chat requests ------------------------------------------------------------------------------


def test_chat_requests_are_checked_and_name_the_bad_parameter():
    ok = chat.parse_request(
        {
            "model": "m",
            "messages": [
                {
                    "role": "developer",
                    "content": [{"type": "text", "text": "Be "}, {"type": "text", "text": "brief."}],
                },
                {"role": "user", "content": "Hi"},
            ],
            "max_tokens": 9,
            "stop": "END",
        }
    )
    assert ok.messages[0] == {"role": "system", "content": "Be brief."}
    assert (ok.max_tokens, ok.stop, ok.sampling) == (9, ["END"], False)
    assert chat.parse_request({"model": "m", "messages": [{"role": "user", "content": "x"}]}).max_tokens == 256
    for body, param in [
        ({"messages": [{"role": "user", "content": "x"}]}, "model"),
        ({"model": "m", "messages": []}, "messages"),
        ({"model": "m", "messages": [{"role": "function", "content": "x"}]}, "messages[0].role"),
        ({"model": "m", "messages": [{"role": "tool", "content": "x"}]}, "messages[0].tool_call_id"),  # no call
        ({"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": 0}, "max_tokens"),
        ({"model": "m", "messages": [{"role": "user", "content": "x"}], "temperature": 3}, "temperature"),
        ({"model": "m", "messages": [{"role": "user", "content": "x"}], "n": 2}, "n"),
    ]:
        with pytest.raises(ApiError) as bad:
            chat.parse_request(body)
        assert (bad.value.status, bad.value.param) == (400, param)


def test_replies_are_cut_before_a_stop_string_split_across_pieces():
    gen = chat.Generation.__new__(chat.Generation)  # the text path alone, fed by a list, not a model
    gen.req = chat.ChatRequest(model="m", messages=[], stop=["END"])
    gen.streamer, gen.error, gen.hit_stop = iter(["hel", "lo E", "N", "D and more"]), None, False
    assert "".join(gen.pieces()) == "hello " and gen.hit_stop
    gen.streamer, gen.hit_stop = iter(["no ", "stop ", "E"]), False
    assert "".join(gen.pieces()) == "no stop E" and not gen.hit_stop


def test_a_reply_nobody_reads_any_more_stops_generating(tiny):
    model, tok = models.load_model(str(tiny)), models.load_tokenizer(str(tiny))
    model.generation_config.eos_token_id = None  # no end token: only max_tokens or a cancel ends it
    req = chat.ChatRequest(model="m", messages=[{"role": "user", "content": "Hi"}], max_tokens=2000, stream=True)
    gen = chat.Generation(model, tok, req)
    events = chat.chunks(gen)
    next(events), next(events)  # the role, then the first piece of text
    events.close()  # what the server does when a streaming client disconnects
    gen.thread.join(60)
    assert not gen.thread.is_alive() and gen.completion_tokens < req.max_tokens
