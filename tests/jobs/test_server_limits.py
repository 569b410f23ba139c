"""The local API's HTTP layer under abuse: huge numbers are a 400 and a 500 shows no exception's text.

A uvicorn server runs core.server.app.create_app in a thread (tests/api_server.py), driven by the
official `openai` client where it applies.
Run: .venv/bin/pytest tests/jobs/test_server_limits.py -q
"""

from __future__ import annotations

import logging

import httpx
import openai
import pytest
from openai import OpenAI

from core.data.samples import sample_path
from core.server.app import create_app
from tests import api_server

KEY = "sk-local-test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
HUGE = 10**400  # 401 digits: no float holds it


@pytest.fixture(scope="module")
def keyed(tiny_model_dir):
    app = create_app(KEY, base_model=str(tiny_model_dir))

    @app.get("/v1/broken", include_in_schema=False)
    def broken() -> dict:  # a route that fails the way a bug would
        raise RuntimeError("secret detail at /home/someone/workspace")

    with api_server.serving(app) as url:
        yield url


@pytest.fixture
def client(keyed):
    return OpenAI(base_url=keyed, api_key=KEY, max_retries=0)


# ---- huge numbers and server errors -------------------------------------------------------------


def test_huge_numbers_in_any_numeric_parameter_are_a_400_naming_it(client, tiny_model_dir):
    with open(sample_path("demo"), "rb") as f:
        train = client.files.create(file=f, purpose="fine-tune")
    for hyperparameters in ({"n_epochs": HUGE}, {"batch_size": HUGE}, {"learning_rate_multiplier": HUGE}):
        with pytest.raises(openai.BadRequestError) as refused:
            client.fine_tuning.jobs.create(
                model="gpt-4o-mini", training_file=train.id, hyperparameters=hyperparameters
            )
        assert refused.value.param == f"hyperparameters.{next(iter(hyperparameters))}"
    with pytest.raises(openai.BadRequestError) as refused:
        client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=train.id, seed=HUGE)
    assert refused.value.param == "seed"
    hello = [{"role": "user", "content": "hi"}]
    for numbers in ({"seed": HUGE, "temperature": 1.0}, {"max_tokens": HUGE}, {"temperature": HUGE}, {"top_p": -HUGE}):
        with pytest.raises(openai.BadRequestError) as refused:
            client.chat.completions.create(model=str(tiny_model_dir), messages=hello, **numbers)
        assert refused.value.param in numbers, refused.value.message
    with pytest.raises(openai.BadRequestError) as refused:
        client.fine_tuning.jobs.list(limit=HUGE)
    assert refused.value.param == "limit"


def test_a_500_shows_a_fixed_message_and_a_request_id_that_the_log_carries(client, keyed, tmp_path, caplog):
    caplog.set_level(logging.ERROR, logger="core.server")
    response = httpx.get(f"{keyed}/broken", headers=AUTH)
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["type"] == "server_error" and "secret detail" not in response.text
    assert "RuntimeError" not in response.text
    request_id = response.headers["x-request-id"]
    assert request_id in error["message"]
    logged = [r for r in caplog.records if request_id in r.getMessage()]
    assert logged and "secret detail" in logged[0].getMessage() and logged[0].exc_info  # with its traceback
    (tmp_path / "not-a-model").mkdir()  # a model folder that cannot load: an ApiError 500 of our own
    with pytest.raises(openai.InternalServerError) as failed:
        client.chat.completions.create(
            model=str(tmp_path / "not-a-model"), messages=[{"role": "user", "content": "x"}]
        )
    assert str(tmp_path) not in failed.value.message and failed.value.request_id in failed.value.message
    assert any(failed.value.request_id in r.getMessage() and "not-a-model" in r.getMessage() for r in caplog.records)
