"""Pure rules of the local OpenAI-compatible API and the OpenAI backend, without a server or a model.

The model cache's locking, job statuses, request-body checks, typed hyperparameters and where a
dollar cost applies. Run: .venv/bin/pytest tests/unit/test_api_rules.py -q
"""

from __future__ import annotations

import io
import json
import threading

import pytest

from core import jobs as runs
from core import openai_spec
from core.data import versions
from core.data.samples import sample_path
from core.providers import openai_ft
from core.providers.openai_ft import OpenAIJob
from core.providers.openai_worker import is_openai, request
from core.server import ApiError, chat, valid_id
from core.server import files as stored
from core.server import ft_jobs as api_jobs


def test_a_model_loading_does_not_block_requests_for_other_models():
    cache, loading, release = chat.ModelCache(), threading.Event(), threading.Event()
    calls = []

    def slow_load():
        calls.append("a")
        loading.set()
        assert release.wait(10)
        return ("model a", "tok a")

    first = threading.Thread(target=cache.get, args=("a", slow_load))
    first.start()
    assert loading.wait(10)
    got = {}
    other = threading.Thread(target=lambda: got.update(b=cache.get("b", lambda: ("model b", "tok b"))))
    other.start()
    other.join(5)  # with one lock for every load, "b" would wait for "a" to finish
    assert not other.is_alive() and got["b"] == ("model b", "tok b")
    same = threading.Thread(target=lambda: got.update(a=cache.get("a", lambda: calls.append("again"))))
    same.start()
    release.set()
    first.join(10)
    same.join(10)
    assert got["a"] == ("model a", "tok a") and calls == ["a"]  # "a" loaded once, the waiter reused it
    cache.get("c", lambda: ("model c", "tok c"))
    assert cache.keys() == ["a", "c"]  # least recently used ("b") dropped: two kept


def test_a_run_that_succeeded_stays_succeeded_after_a_late_cancel():
    assert api_jobs.status_of("succeeded", 9, True) == "succeeded"
    assert api_jobs.status_of("running", 3, True) == "cancelled"
    assert api_jobs.status_of("stopped", 3, True) == "cancelled"


def twelve_examples() -> bytes:
    return ("\n".join(sample_path("demo").read_text().splitlines()[:12]) + "\n").encode()


def test_bad_request_bodies_are_a_400_naming_the_parameter():
    assert not valid_id(123, "file") and not valid_id(None, "ftjob")
    train = stored.create(io.BytesIO(twelve_examples()), "train.jsonl", stored.FINE_TUNE)
    body = {"model": "gpt-4o-mini", "training_file": train["id"]}
    for extra, param in [
        ({"validation_file": 123}, "validation_file"),
        ({"hyperparameters": [3]}, "hyperparameters"),
        (
            {"method": {"type": "supervised", "supervised": {"hyperparameters": [3]}}},
            "method.supervised.hyperparameters",
        ),
        ({"method": {"type": "supervised", "supervised": "yes"}}, "method.supervised"),
    ]:
        with pytest.raises(ApiError) as bad:
            api_jobs.create({**body, **extra}, "base")
        assert (bad.value.status, bad.value.type, bad.value.param) == (400, "invalid_request_error", param)


def test_whole_numbers_typed_as_decimals_are_integers():
    assert [openai_ft.auto_or_number(t) for t in ("3.0", "16.0", "2.5", "1e2")] == [3, 16, 2.5, 100]
    assert isinstance(openai_ft.auto_or_number("3.0"), int)
    hp = openai_ft.hyperparameters(OpenAIJob(n_epochs=3.0, batch_size=4.0, learning_rate_multiplier=2))
    assert hp == {"n_epochs": 3, "batch_size": 4, "learning_rate_multiplier": 2.0}
    assert [type(v) for v in hp.values()] == [int, int, float]
    assert openai_ft.hyperparameters(OpenAIJob())["n_epochs"] == "auto"
    sent = request(OpenAIJob(n_epochs=3.0, batch_size=8.0), {"training_file": "file-x"})
    assert sent["method"]["supervised"]["hyperparameters"] == {
        "n_epochs": 3,
        "batch_size": 8,
        "learning_rate_multiplier": "auto",
    }
    assert isinstance(sent["method"]["supervised"]["hyperparameters"]["n_epochs"], int)


def test_the_estimate_honours_epochs_typed_as_a_decimal():
    examples = [json.loads(line) for line in twelve_examples().decode().splitlines()]
    first = versions.create("twelve", examples)
    version = versions.save(first, examples, "split", {"train": list(range(12)), "validation": [], "test": []})
    # 12 examples: OpenAI's default would be 100 // 12 = 8 epochs; 3.0 typed means 3.
    est = openai_ft.estimate(OpenAIJob(dataset_version=version.id, n_epochs=3.0))
    assert (est["epochs"], est["billed_tokens"]) == (3, 3 * est["tokens"])


def test_only_openai_itself_is_charged_at_openais_price():
    assert is_openai(None) and is_openai("") and is_openai("https://api.openai.com/v1")
    assert not is_openai("http://127.0.0.1:8000/v1")
    assert not is_openai("https://myres.openai.azure.com/openai/v1/")
    assert not is_openai("https://api.openai.com.example.net/v1")


def test_an_api_job_on_a_folder_that_is_no_model_is_refused_before_a_run_starts(tmp_path):
    (tmp_path / "weights").mkdir()  # no config.json: core.train.launch.problems refuses it for the API too
    train = stored.create(io.BytesIO(twelve_examples()), "train.jsonl", stored.FINE_TUNE)
    with pytest.raises(ApiError) as bad:
        api_jobs.create({"model": str(tmp_path / "weights"), "training_file": train["id"]}, "base")
    assert bad.value.status == 400 and "has no config.json" in str(bad.value)
    assert runs.list_runs() == []


HUGE = [10**400, -(10**400), float("inf"), float("nan")]  # a 401-digit integer has no float
AGREEMENT = [
    ("n_epochs", [1, 3.0, 50, 0, 51, 2.5, -3, "auto", None, "big", True, *HUGE]),
    ("batch_size", [1, 256, 0, 257, 8.0, 1.5, "auto", [3], *HUGE]),
    ("learning_rate_multiplier", [1e-6, 0.5, 2, 49, 60, 100, 100.5, 0, -1, "auto", "2x", *HUGE]),
]


@pytest.mark.parametrize("name, values", AGREEMENT)
def test_the_provider_and_the_local_server_apply_the_same_openai_limits(name, values):
    lora_lr = 2e-4  # the LoRA preset's learning rate, which the local server scales
    for value in values:
        job = OpenAIJob(dataset_version=None, **{name: value})
        client = [p for p in openai_ft.problems(job) if p.startswith(name)]
        try:
            resolved = api_jobs.resolve_hyperparameters({name: value}, 20, lora_lr)
        except ApiError as exc:
            server = exc
        else:
            server = None
        if client:  # refused by both, in the same words, naming the parameter
            assert server is not None, (name, value)
            assert (server.param, str(server)) == (f"hyperparameters.{name}", f"hyperparameters.{client[0]}")
        elif server is not None:  # only the local server's own rule may refuse more, and it says so
            assert (name, server.param) == ("learning_rate_multiplier", f"hyperparameters.{name}"), value
            assert "within OpenAI's limits, but this local server trains LoRA at 0.0002" in str(server)
            assert value * lora_lr >= 1e-2
        elif not openai_spec.is_auto(value):  # accepted by both, as the same number
            assert resolved[name] == openai_ft.hyperparameters(job)[name] == value, (name, value)
    assert openai_spec.hyperparameter_problem("learning_rate_multiplier", 60) is None  # OpenAI's limit is 100


def test_suffix_and_seed_rules_are_the_same_for_the_provider_and_the_server():
    train = stored.create(io.BytesIO(twelve_examples()), "train.jsonl", stored.FINE_TUNE)
    for field, value in [("suffix", "has space"), ("suffix", "x" * 65), ("seed", -1), ("seed", 2**31), ("seed", "7")]:
        client = [p for p in openai_ft.problems(OpenAIJob(dataset_version=None, **{field: value})) if field in p]
        with pytest.raises(ApiError) as bad:
            api_jobs.create({"model": "gpt-4o-mini", "training_file": train["id"], field: value}, "base")
        assert client == [str(bad.value)] and bad.value.param == field
