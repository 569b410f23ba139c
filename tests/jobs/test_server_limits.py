"""The local API's HTTP layer under abuse: body limits, huge numbers, fixed 500s, and the no-auth mode's guard.

Two uvicorn servers run core.server.app.create_app in threads (tests/api_server.py): one with a key, one
without (loopback only). Bodies too large are sent raw (http.client), with a declared length or chunked;
the rest goes through the official `openai` client where it applies.
Run: .venv/bin/pytest tests/jobs/test_server_limits.py -q
"""

from __future__ import annotations

import http.client
import json
import logging
from urllib.parse import urlsplit

import httpx
import openai
import pytest
from openai import OpenAI

from core.data.samples import sample_path
from core.server import api_dir
from core.server.app import create_app
from tests import api_server

KEY = "sk-local-test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
HUGE = 10**400  # 401 digits: no float holds it
MB = 1 << 20


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


def connection(url: str) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)


def chunked_post(url: str, path: str, size: int) -> tuple[int, dict]:
    """POST `size` bytes of a JSON array in 256 KB chunks, with no Content-Length; (status, body)."""
    conn = connection(url)
    conn.putrequest("POST", path)
    for name, value in {**AUTH, "Content-Type": "application/json", "Transfer-Encoding": "chunked"}.items():
        conn.putheader(name, value)
    conn.endheaders()
    piece, sent = b"1," * (128 << 10), 0
    try:
        conn.send(b"1\r\n[\r\n")
        while sent < size:
            conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
            sent += len(piece)
        conn.send(b"1\r\n1\r\n1\r\n]\r\n0\r\n\r\n")
    except OSError:
        pass  # the server may stop reading once it has refused: its answer is what counts
    response = conn.getresponse()
    return response.status, json.loads(response.read())


# ---- body limits --------------------------------------------------------------------------------


def test_a_chat_request_over_its_limit_is_a_413_naming_the_limit_and_the_route(client):
    with pytest.raises(openai.APIStatusError) as refused:
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x" * 5 * MB}])
    assert refused.value.status_code == 413
    assert refused.value.type == "invalid_request_error"
    assert "4 MB limit of POST /v1/chat/completions" in refused.value.message


def test_a_chunked_body_is_counted_as_it_is_read_and_refused_past_the_limit(keyed):
    status, body = chunked_post(keyed, "/v1/chat/completions", 5 * MB)
    assert status == 413, body
    assert "4 MB limit of POST /v1/chat/completions" in body["error"]["message"]
    status, body = chunked_post(keyed, "/v1/fine_tuning/jobs", 2 * MB)
    assert status == 413 and "1 MB limit of POST /v1/fine_tuning/jobs" in body["error"]["message"]
    assert httpx.get(f"{keyed}/models", headers=AUTH).status_code == 200  # the server is none the worse


def test_a_declared_length_over_the_limit_is_refused_before_the_body_is_sent(keyed):
    for path, content_type, limit in [
        ("/v1/files", "multipart/form-data; boundary=x", "201 MB limit of POST /v1/files"),
        ("/v1/files", "application/x-www-form-urlencoded", "1 MB limit of POST /v1/files unless sent as multipart"),
        ("/v1/chat/completions", "application/json", "4 MB limit of POST /v1/chat/completions"),
    ]:
        conn = connection(keyed)
        conn.putrequest("POST", path)
        for name, value in {**AUTH, "Content-Type": content_type, "Content-Length": str(300 * MB)}.items():
            conn.putheader(name, value)
        conn.endheaders()  # not one byte of the body: the answer must come without it
        response = conn.getresponse()
        body = json.loads(response.read())
        assert response.status == 413 and limit in body["error"]["message"], body
        conn.close()
    assert list(api_dir("files").iterdir()) == []


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


@pytest.fixture(scope="module")
def open_url(tiny_model_dir):
    with api_server.serving(create_app(None, base_model=str(tiny_model_dir))) as url:
        yield url


# ---- docs, and the no-auth mode's guard ---------------------------------------------------------


def test_the_docs_and_the_schema_need_the_key(keyed):
    root = keyed.removesuffix("/v1")
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert httpx.get(root + path).status_code == 401, path
        assert httpx.get(root + path, headers=AUTH).status_code == 200, path
    assert "/v1/fine_tuning/jobs" in httpx.get(root + "/openapi.json", headers=AUTH).json()["paths"]


def test_without_a_key_only_loopback_names_with_the_served_port_are_answered(open_url):
    port = urlsplit(open_url).port
    assert [m.id for m in OpenAI(base_url=open_url, api_key="unused", max_retries=0).models.list().data]
    for host in (f"localhost:{port}", f"[::1]:{port}", f"127.0.0.1:{port}"):
        assert httpx.get(f"{open_url}/models", headers={"Host": host}).status_code == 200, host
    for host in (f"evil.example:{port}", "127.0.0.1", f"localhost:{port + 1}", f"127.0.0.1.evil.example:{port}"):
        refused = httpx.get(f"{open_url}/models", headers={"Host": host})
        assert refused.status_code == 421, host
        assert refused.json()["error"]["code"] == "invalid_host" and f"localhost:{port}" in refused.text
    root = open_url.removesuffix("/v1")
    assert httpx.get(root + "/docs").status_code == 200  # its own pages stay open on loopback


def test_without_a_key_cross_site_requests_and_uploads_are_refused(open_url):
    port = urlsplit(open_url).port
    data = sample_path("demo").read_bytes()
    for headers in ({"Origin": "https://evil.example"}, {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"}):
        refused = httpx.post(
            f"{open_url}/files", headers=headers, files={"file": ("t.jsonl", data)}, data={"purpose": "fine-tune"}
        )
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "cross_site_request", headers
        assert httpx.get(f"{open_url}/fine_tuning/jobs", headers=headers).status_code == 403
    assert list(api_dir("files").glob("file-*")) == []
    own = {"Origin": f"http://127.0.0.1:{port}", "Sec-Fetch-Site": "same-origin"}
    stored = httpx.post(
        f"{open_url}/files", headers=own, files={"file": ("t.jsonl", data)}, data={"purpose": "fine-tune"}
    )
    assert stored.status_code == 200, stored.text
