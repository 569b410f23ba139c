"""Chat completions of the local API under abuse: a prompt past the model's context is refused before any
generation, a client that leaves stops its reply's generation, and a time limit ends a reply. A real uvicorn
server in this process (its log is read here), the tiny model, the real `openai` client.

Test: .venv/bin/pytest tests/jobs/test_server_chat_limits.py -q
"""

from __future__ import annotations

import logging
import threading
import time

import httpx
import openai
import pytest
from openai import OpenAI

from core import models
from core.server.app import create_app
from tests import api_server

KEY = "sk-local-test-key"
MODEL = "gpt-4o-mini-2024-07-18"  # served by the tiny base
LONG = 8000  # max_tokens that fit the tiny model's 8,192-token context with a short prompt; minutes of CPU
HELLO = [{"role": "user", "content": "Tell me a story"}]


@pytest.fixture(scope="module")
def served(tiny_model_dir):
    """(base URL, openai client) of one server for the module; the time-limit test starts its own."""
    with api_server.serving(create_app(KEY, base_model=str(tiny_model_dir))) as url:
        yield url, OpenAI(base_url=url, api_key=KEY, max_retries=0)


@pytest.fixture
def replies(caplog):
    """The server's one log line per reply, as they come (each has `ended` and `completion_tokens`)."""
    caplog.set_level(logging.INFO, logger="core.server.chat")

    def wait(count: int = 1, timeout: float = 120) -> list[logging.LogRecord]:
        deadline = time.time() + timeout
        while time.time() < deadline:
            found = [r for r in caplog.records if hasattr(r, "ended")]
            if len(found) >= count:
                return found
            time.sleep(0.1)
        raise AssertionError(f"the server logged {len(found)} of {count} replies in {timeout} s")

    return wait


def _generating() -> int:
    return sum(t.name == "generation" and t.is_alive() for t in threading.enumerate())


def test_a_prompt_past_the_models_context_is_refused_in_openais_words_before_generating(served, caplog):
    client = served[1]
    caplog.set_level(logging.INFO, logger="core.server.chat")
    client.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=1)  # the model is loaded
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "word " * 20_000}])
    error = caught.value.body
    assert caught.value.status_code == 400 and error["type"] == "invalid_request_error"
    assert error["code"] == "context_length_exceeded" and error["param"] == "messages"
    assert error["message"].startswith(f"This model's maximum context length is {models.CONTEXT_LENGTH} tokens.")
    assert "in the messages, 256 in the completion)" in error["message"]  # the server's default max_tokens
    assert "Please reduce the length of the messages or completion." in error["message"]

    # A short prompt with a max_tokens that leaves it no room is refused the same way, naming both parts.
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=MODEL, messages=HELLO, max_completion_tokens=models.CONTEXT_LENGTH)
    assert caught.value.body["code"] == "context_length_exceeded"
    assert f"in the messages, {models.CONTEXT_LENGTH} in the completion)" in caught.value.body["message"]
    assert _generating() == 0 and len([r for r in caplog.records if hasattr(r, "ended")]) == 1  # the first only


def test_a_client_that_leaves_a_non_streamed_reply_stops_its_generation(served, replies):
    client = served[1]
    with pytest.raises(openai.APITimeoutError):  # the client gives up and closes its connection
        client.with_options(timeout=2).chat.completions.create(model=MODEL, messages=HELLO, max_tokens=LONG)
    (record,) = replies()
    assert record.ended == "client gone" and record.completion_tokens < LONG
    assert _generating() == 0


def test_a_client_that_leaves_a_stream_stops_its_generation(served, replies):
    base_url = served[0]
    body = {"model": MODEL, "messages": HELLO, "max_tokens": LONG, "stream": True}
    with httpx.stream("POST", f"{base_url}/chat/completions", json=body, headers={"Authorization": f"Bearer {KEY}"}):
        pass  # the headers came: the reply is being generated; leaving the block closes the connection
    (record,) = replies()
    assert record.ended == "client gone" and record.completion_tokens < LONG


def test_the_servers_time_limit_ends_a_reply_with_what_it_generated(tiny_model_dir, replies):
    with api_server.serving(create_app(KEY, base_model=str(tiny_model_dir), max_request_s=1)) as url:
        client = OpenAI(base_url=url, api_key=KEY, max_retries=0)
        reply = client.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=LONG)
        assert reply.choices[0].finish_reason == "length"
        assert 0 < reply.usage.completion_tokens < LONG and reply.choices[0].message.content
        chunks = list(client.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=LONG, stream=True))
        assert chunks[-1].choices[0].finish_reason == "length"
        assert [r.ended for r in replies(2)] == ["time limit", "time limit"]
