"""OpenAI as a training backend, end to end: the real `openai` client against `python -m core.server`.

The server is a real subprocess on a free port, with the tiny random Llama as its base model and
its own workspace (the "remote" side); each test's runs live in the test's FT_HOME, as the app's
would. Jobs are real: the worker uploads, creates, polls and cancels over HTTP. Errors are real
openai exceptions built on real responses of the client's HTTP library (httpx2 in openai 3.x).
About 40 s on 2 cores. Run: .venv/bin/pytest tests/jobs/test_openai_provider.py -q
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import httpx2
import openai
import pytest
from openai import OpenAI

from core import jobs, paths, prices, providers
from core.data import versions
from core.data.samples import sample_path
from core.jobs import rundir
from core.providers import openai_ft, openai_worker, provider_of
from core.providers.openai_ft import OpenAIJob, explain, scrub, transient
from core.providers.openai_worker import Ctx, Fatal, call, optional
from tests import api_server
from tests.e2e.conftest import free_port
from tests.tiny import tiny_model
from tests.waiting import wait_for

KEY = "sk-provider-test-key-0123456789"
MODEL = "gpt-4o-mini-2024-07-18"
POLL_S = 0.3


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("remote")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FT_HOME", str(root / "home"))
        tiny = tiny_model(root)
    proc, url = api_server.start(root / "home", tiny, KEY, root / "server.log")
    yield url
    with pytest.MonkeyPatch.context() as mp:  # no training run of the server outlives the tests
        mp.setenv("FT_HOME", str(root / "home"))
        for run in jobs.list_runs():
            if run.active:
                jobs.kill(run.id)
    api_server.stop(proc)


@pytest.fixture
def client(server):
    return OpenAI(base_url=server, api_key=KEY, max_retries=0)


def tiny_version(n_train: int = 10, n_val: int = 2) -> versions.Version:
    lines = sample_path("demo").read_text().splitlines()[: n_train + n_val]
    examples = [json.loads(line) for line in lines]
    first = versions.create("tiny", examples)
    split = {"train": list(range(n_train)), "validation": list(range(n_train, n_train + n_val)), "test": []}
    return versions.save(first, examples, "split", split)


def job_on(url: str, **overrides) -> OpenAIJob:
    fields = {
        "model": MODEL,
        "dataset_version": tiny_version().id,
        "n_epochs": 1,
        "suffix": "tiny",
        "seed": 7,
        "base_url": url,
        "poll_interval_s": POLL_S,
    }
    return OpenAIJob(**{**fields, **overrides})


def wait_until(check, timeout: float = 60, what: str = "condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"{what}: not seen within {timeout} s")


def files_holding(folder: Path, secret: str) -> list[str]:
    return [str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


# ---- whole runs against the local server ----------------------------------------------------------


def test_a_job_succeeds_with_metrics_events_model_and_cost(server, client):
    run_id = openai_ft.launch(job_on(server), KEY)
    run = wait_for(run_id, timeout=180)
    folder = rundir.run_dir(run_id)
    assert run.state == "succeeded", rundir.log_tail(folder, 40)
    assert run.kind == "train" and provider_of(run.meta) is openai_ft is providers.get("openai")
    assert run.meta["method"] == "openai" and run.meta["base_url"] == server
    assert rundir.read_spec(folder)["argv"][1:3] == ["-m", "core.providers.openai_worker"]  # no trampoline
    assert provider_of({"method": "lora"}) is None and provider_of(None) is None

    # 10 examples at the server's auto batch (10 // 10 = 1) for 1 epoch: 10 steps, one checkpoint
    # at the epoch's validation point, step 10, with both losses.
    rows = rundir.read_metrics(folder)
    assert [r["step"] for r in rows] == [10]
    assert rows[0]["loss"] > 0 and rows[0]["eval_loss"] > 0 and rows[0]["epoch"] == pytest.approx(1.0)
    assert run.progress["done"] == run.progress["total"] == 10

    log = (folder / rundir.LOG).read_text()
    assert "Created fine-tuning job ftjob-" in log
    assert "Step 10/10: training loss=" in log and "tokens trained; no charge: not api.openai.com)" in log
    assert log.index("Fine-tuning job started") < log.index("Fine-tuning job successfully completed")

    summary = rundir.read_json(folder / "summary.json")
    remote = client.fine_tuning.jobs.retrieve(summary["remote_job_id"])
    assert remote.status == "succeeded" and summary["fine_tuned_model"] == remote.fine_tuned_model
    assert remote.fine_tuned_model.startswith(f"ft:{MODEL}:local:tiny:")
    assert summary["trained_tokens"] == remote.trained_tokens > 0
    # A local server charges nothing: OpenAI's $3.00 per 1M tokens is kept for reference only.
    assert summary["actual_usd"] is None and summary["cost_note"] == "no charge: not api.openai.com"
    assert (summary["training_usd_per_1m"], summary["price_as_of"]) == (3.00, prices.OPENAI_AS_OF)
    remote_ids = rundir.read_json(folder / rundir.REMOTE)
    assert remote_ids["job_id"] == remote.id and remote_ids["training_file"] == remote.training_file
    assert remote_ids["validation_file"] == remote.validation_file

    assert files_holding(folder, KEY) == []
    assert "OPENAI_API_KEY" not in (folder / rundir.SPEC).read_text()


def test_a_wrong_key_fails_the_run_with_the_invalid_key_message(server):
    wrong = "sk-wrong-key-abcdef012345"
    run = wait_for(openai_ft.launch(job_on(server), wrong), timeout=60)
    assert (run.state, run.failure) == ("failed", "invalid key")
    assert run.message.startswith("OpenAI did not accept the API key while uploading train.jsonl (401")
    assert files_holding(rundir.run_dir(run.id), wrong) == []


def test_cancel_through_stop_cancels_the_remote_job_and_the_run_ends_stopped(server, client):
    run_id = openai_ft.launch(job_on(server, n_epochs=50), KEY)  # 500 steps: far from done when cancelled
    folder = rundir.run_dir(run_id)
    remote = wait_until(
        lambda: (r := rundir.read_json(folder / rundir.REMOTE) or {}).get("status") == "running" and r,
        what="the remote job running",
    )
    jobs.stop(run_id)
    run = wait_for(run_id, timeout=60)
    assert run.state == "stopped", rundir.log_tail(folder, 30)
    assert client.fine_tuning.jobs.retrieve(remote["job_id"]).status == "cancelled"
    log = (folder / rundir.LOG).read_text()
    assert "Cancel requested" in log and "was cancelled on OpenAI" in log
    assert not (folder / "summary.json").exists()


def test_an_unreachable_server_keeps_the_run_waiting_until_stopped():
    run_id = openai_ft.launch(job_on(f"http://127.0.0.1:{free_port()}/v1"), KEY)  # nothing listens there
    run = wait_until(
        lambda: (r := jobs.status(run_id)).message.startswith("network unreachable") and r,
        timeout=30,
        what="the retry message",
    )
    assert run.state == "running" and "retrying in" in run.message
    assert run.progress["message"] == run.message
    jobs.stop(run_id)
    run = wait_for(run_id, timeout=30)
    assert run.state == "stopped"
    assert "nothing to cancel" in rundir.log_tail(rundir.run_dir(run_id))


def test_stop_while_creating_still_cancels_a_job_the_timed_out_request_made(server, client, tmp_path, capsys):
    ctx = ctx_in(tmp_path)
    ctx.job = job_on(server, n_epochs=50)
    train = tmp_path / "train.jsonl"
    train.write_text("\n".join(sample_path("demo").read_text().splitlines()[:10]) + "\n")
    with open(train, "rb") as f:
        ctx.remote = {"training_file": client.files.create(file=f, purpose="fine-tune").id}
    jobs_api, made = client.fine_tuning.jobs, []
    real_create = jobs_api.create

    def create_then_time_out(**body):  # the job is made, the answer is lost, and Stop is pressed
        made.append(real_create(**body))
        (ctx.folder / rundir.STOP).touch()
        raise openai.APITimeoutError(request=httpx2.Request("POST", f"{server}/fine_tuning/jobs"))

    jobs_api.create = create_then_time_out
    found = openai_worker.create(ctx, client)  # the retry finds the job the lost answer made
    assert [found.id] == [m.id for m in made]
    ctx.remote["job_id"] = found.id
    assert openai_worker.follow(ctx, client) == 0
    assert client.fine_tuning.jobs.retrieve(found.id).status == "cancelled"
    assert "was cancelled on OpenAI" in capsys.readouterr().out


class Down:
    """A client whose every request fails to connect, as when the service went away."""

    def __init__(self) -> None:
        self.calls = 0
        self.fine_tuning = self
        self.jobs = self

    def fail(self, *args, **kwargs):
        self.calls += 1
        if self.calls > 500:  # far past the test's budget: the run would retry for ever
            raise RuntimeError("still retrying")
        raise openai.APIConnectionError(request=httpx2.Request("POST", "https://api.openai.com/v1/x"))

    cancel = retrieve = fail


def test_stop_ends_the_run_when_the_service_stays_unreachable(tmp_path, monkeypatch):
    monkeypatch.setattr(openai_worker, "CANCEL_BUDGET_S", 0.3)
    monkeypatch.setattr(openai_worker, "MAX_WAIT_S", 0.01)  # fast retries: 0.3 s is ~30 of them
    ctx = ctx_in(tmp_path)
    ctx.remote = {"job_id": "ftjob-abc"}
    (ctx.folder / rundir.STOP).touch()
    with pytest.raises(Fatal) as gave_up:
        openai_worker.follow(ctx, Down())
    assert gave_up.value.failure == "unreachable"
    assert gave_up.value.message.startswith("could not cancel job ftjob-abc: the service is unreachable")
    assert gave_up.value.message.endswith("it may still be running, check the provider's dashboard.")


# ---- errors in plain words -------------------------------------------------------------------------


def response(status: int) -> httpx2.Response:
    return httpx2.Response(status, request=httpx2.Request("POST", "https://api.openai.com/v1/fine_tuning/jobs"))


def error(cls, status: int, message: str, code: str | None = None, param: str | None = None):
    body = {"message": message, "type": "invalid_request_error", "param": param, "code": code}
    return cls(f"Error code: {status}", response=response(status), body=body)


def test_a_permission_error_explains_the_wind_down_and_the_local_paths():
    exc = error(openai.PermissionDeniedError, 403, "You are not allowed to create fine-tuning jobs.")
    failure, message = explain(exc, "creating the job")
    assert failure == "refused by OpenAI" and message.startswith("OpenAI refused to create the job (403: ")
    assert "You are not allowed to create fine-tuning jobs." in message
    for words in ("2026-05-07", "2026-07-02", "2027-01-06", "LoRA", "QLoRA", "python -m core.server"):
        assert words in message
    assert transient(exc) is None


def test_each_error_kind_gets_its_words_and_only_passing_ones_are_retried():
    request = httpx2.Request("GET", "https://api.openai.com/v1/fine_tuning/jobs/x")
    cases = [
        (error(openai.AuthenticationError, 401, "Incorrect API key provided."), "invalid key", None),
        (error(openai.RateLimitError, 429, "Rate limit reached."), "rate limited", "rate limited"),
        (error(openai.RateLimitError, 429, "You exceeded your quota.", "insufficient_quota"), "no quota", None),
        (
            error(openai.BadRequestError, 400, "Invalid file format. Line 3: no assistant message.", param="file"),
            "bad data",
            None,
        ),
        (
            error(openai.InternalServerError, 503, "The server is overloaded."),
            "OpenAI server error",
            "OpenAI server error (HTTP 503)",
        ),
        (openai.APIConnectionError(request=request), "network", "network unreachable"),
        (openai.APITimeoutError(request=request), "network", "network unreachable"),
    ]
    for exc, failure, retry in cases:
        assert explain(exc)[0] == failure, exc
        assert transient(exc) == retry, exc
    assert "did not accept the API key" in explain(cases[0][0])[1]
    assert explain(cases[3][0], "uploading train.jsonl")[1] == (
        "OpenAI refused the request while uploading train.jsonl: Invalid file format. Line 3: no assistant message."
    )
    assert "keeps retrying" in explain(cases[5][0])[1]


def ctx_in(tmp_path) -> Ctx:
    folder = tmp_path / "run"
    folder.mkdir()
    return Ctx(folder, OpenAIJob(), KEY)


def flaky(errors: list[Exception]):
    """A call that raises the given errors in turn, then answers "ok"."""
    left = list(errors)

    def fn():
        if left:
            raise left.pop(0)
        return "ok"

    return fn


def test_rate_limits_are_retried_with_backoff_and_fail_only_after_the_budget(tmp_path):
    ctx = ctx_in(tmp_path)
    limited = [error(openai.RateLimitError, 429, "Rate limit reached.") for _ in range(2)]
    assert call(ctx, flaky(limited), "checking the job", first_wait_s=0.01) == "ok"
    # waits 0.01 then 0.02 s: the second message shows the doubled pause
    assert rundir.read_json(ctx.folder / rundir.PROGRESS)["message"] == (
        "rate limited, retrying in 0.02 s (checking the job)"
    )
    forever = flaky([error(openai.RateLimitError, 429, "Rate limit reached.") for _ in range(1000)])
    with pytest.raises(Fatal) as gave_up:
        call(ctx, forever, "checking the job", first_wait_s=0.01, budget_s=0.1)
    assert gave_up.value.failure == "rate limited"
    quota = error(openai.RateLimitError, 429, "You exceeded your quota.", "insufficient_quota")
    with pytest.raises(Fatal) as no_quota:
        call(ctx, flaky([quota]), "creating the job", first_wait_s=0.01)
    assert no_quota.value.failure == "no quota"


def test_network_failures_never_use_up_the_budget(tmp_path):
    request = httpx2.Request("GET", "https://api.openai.com/v1/files")
    down = [openai.APIConnectionError(request=request) for _ in range(6)]
    assert call(ctx_in(tmp_path), flaky(down), "uploading", first_wait_s=0.001, budget_s=0) == "ok"


def test_a_listing_the_service_refuses_is_skipped_with_one_line_not_a_failure(tmp_path, capsys):
    ctx = ctx_in(tmp_path)
    missing = error(openai.NotFoundError, 404, "Checkpoints are not available here.")
    assert optional(ctx, flaky([missing]), "reading the job's checkpoints") == []
    assert optional(ctx, flaky([missing]), "reading the job's checkpoints") == []
    assert capsys.readouterr().out.count("Skipped reading the job's checkpoints") == 1


def test_the_key_is_scrubbed_from_text():
    text = f"failed with {KEY} and sk-someoneelses1234567 in it"
    assert scrub(text, KEY) == "failed with [API key hidden] and sk-[hidden] in it"


# ---- the job's checks -------------------------------------------------------------------------------


def test_problems_name_each_bad_field_and_a_small_split():
    job = OpenAIJob(
        model="",
        dataset_version=tiny_version(9, 1).id,
        suffix="has space",
        seed=-1,
        n_epochs=0,
        batch_size="big",
        learning_rate_multiplier=0,
        base_url="api.openai.com",
    )
    found = "\n".join(openai_ft.problems(job))
    for words in (
        "model:",
        "suffix",
        "seed",
        "base_url must start with http",
        "n_epochs",
        "batch_size",
        "learning_rate_multiplier",
        "the train split has 9 example(s); OpenAI requires at least 10",
    ):
        assert words in found, words
    assert openai_ft.problems(OpenAIJob(dataset_version=None)) == [
        "dataset_version: pick a dataset version with a train/validation split"
    ]
    with pytest.raises(ValueError, match="no OpenAI API key"):
        openai_ft.launch(OpenAIJob(dataset_version=None), "")
    assert jobs.list_runs() == []


def test_typed_hyperparameters_read_as_auto_or_numbers():
    assert [openai_ft.auto_or_number(t) for t in ("", " auto ", "AUTO", "3", "0.5", "3x")] == [
        "auto",
        "auto",
        "auto",
        3,
        0.5,
        "3x",
    ]


def test_examples_keep_only_what_openai_accepts():
    example = {
        "messages": [{"role": "user", "content": "hi", "note": "ours"}, {"role": "assistant", "content": "yo"}],
        "id": 17,
        "source": "import",
    }
    assert openai_ft.openai_records([example]) == [
        {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}
    ]


@pytest.mark.parametrize(
    "base_url, billed", [(None, True), ("https://api.openai.com/v1", True), ("http://127.0.0.1:8000/v1", False)]
)
def test_the_actual_cost_is_trained_tokens_at_the_dated_training_price(tmp_path, base_url, billed):
    from types import SimpleNamespace

    ctx = Ctx(tmp_path, OpenAIJob(model="gpt-4o-mini-2024-07-18", base_url=base_url), KEY)
    remote = SimpleNamespace(
        id="ftjob-1",
        model=ctx.job.model,
        fine_tuned_model="ft:x",
        trained_tokens=879,
        hyperparameters=None,
        method=None,
        result_files=[],
        finished_at=1,
    )
    summary = openai_worker.summarize(ctx, remote)
    # 879 trained tokens x $3.00 per 1M (gpt-4o-mini's training price) = $0.002637, on OpenAI only.
    assert summary["actual_usd"] == (pytest.approx(0.002637) if billed else None)
    assert summary["training_usd_per_1m"] == 3.00 and summary["trained_tokens"] == 879


def test_the_provider_and_its_worker_import_no_circle():
    probe = (
        "import sys; from core.providers import openai_ft; assert 'core.providers.openai_worker' not in sys.modules; "
        "from core.providers import openai_worker; assert openai_worker.openai_ft is openai_ft"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=paths.REPO_ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_a_dpo_job_sends_its_method_and_pairs_and_the_service_trains_dpo(server, client):
    from tests.jobs.test_dpo_run import pairs

    rows = pairs(12, 5)
    first = versions.create("prefs", rows, kind="preference")
    version = versions.save(first, rows, "split", {"train": list(range(10)), "validation": [10, 11], "test": []})
    chat_job = job_on(server, method_type="dpo")  # job_on's own version holds chat examples
    assert any("method_type dpo trains on a preference version" in p for p in openai_ft.problems(chat_job))
    job = replace(chat_job, dataset_version=version.id, beta=0.3, batch_size=5)
    assert openai_ft.problems(job) == []
    body = openai_worker.request(job, {"training_file": "file-t", "validation_file": "file-v"})
    assert body["method"] == {
        "type": "dpo",
        "dpo": {"hyperparameters": {"n_epochs": 1, "batch_size": 5, "learning_rate_multiplier": "auto", "beta": 0.3}},
    }
    run_id = openai_ft.launch(job, KEY)
    run = wait_for(run_id, timeout=240)
    assert run.state == "succeeded", rundir.log_tail(rundir.run_dir(run_id), 40)
    remote = client.fine_tuning.jobs.retrieve(
        rundir.read_json(rundir.run_dir(run_id) / "summary.json")["remote_job_id"]
    )
    assert remote.method.type == "dpo" and remote.method.dpo.hyperparameters.beta == 0.3
