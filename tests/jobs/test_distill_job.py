"""A candidate's answers for a whole version through the real local API: a failed run resumed, then trained on.

The API is core.server's app with the tiny model behind it, served by uvicorn in this process; in front of it a
gate counts every chat request by prompt and, while `allow` is set, refuses with 401 after that many (a key
revoked mid-run). The first job fails for real on the refusal; the retry must ask only the prompts whose answers
were never received, so no answer is paid for twice; the saved dataset then trains for a few steps.
Run: `.venv/bin/pytest tests/jobs/test_distill_job.py -q`.
"""

from __future__ import annotations

import json
import time

import pytest

from core.data import versions
from core.eval import candidates, distill, generate
from core.eval.generate import GenParams
from core.jobs import rundir
from core.server.app import create_app
from core.train import recipe
from core.train.config import preset
from tests import api_server
from tests.waiting import wait_for

TIMEOUT = 240  # a cold job imports the openai client on a busy two-core machine; the server's model is warm
KEY, KEY_VAR = "sk-local-distill", "WB_TEST_DISTILL_KEY"
N = 8


class Gate:
    """ASGI in front of the real app: counts chat requests (their last user message) and refuses past `allow`."""

    def __init__(self, app):
        self.app, self.allow, self.answered, self.refused = app, None, [], []

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope["path"].endswith("/chat/completions"):
            return await self.app(scope, receive, send)
        body, more = b"", True
        while more:
            message = await receive()
            body, more = body + message.get("body", b""), message.get("more_body", False)
        prompt = json.loads(body)["messages"][-1]["content"]
        if self.allow is not None and len(self.answered) >= self.allow:
            self.refused.append(prompt)
            data = json.dumps({"error": {"message": "key revoked", "type": "invalid_request_error"}}).encode()
            await send(
                {"type": "http.response.start", "status": 401, "headers": [(b"content-type", b"application/json")]}
            )
            return await send({"type": "http.response.body", "body": data})
        self.answered.append(prompt)
        sent = False

        async def replay():
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        return await self.app(scope, replay, send)


@pytest.fixture(scope="module")
def served(tiny_model_dir):
    gate = Gate(create_app(KEY, base_model=str(tiny_model_dir)))
    with api_server.serving(gate) as url:
        yield gate, url


def make_version():
    rows = [
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": f"question {i}"},
                {"role": "assistant", "content": f"old answer {i}"},
            ]
        }
        for i in range(N)
    ]
    splits = {"train": list(range(6)), "validation": [6], "test": [7]}
    return versions.create(f"distill-{time.time_ns()}", rows, splits=splits)


def test_a_failed_run_resumes_asking_only_the_missing_prompts_and_its_answers_train(
    served, tiny_model_dir, monkeypatch, tmp_path
):
    gate, url = served
    monkeypatch.setenv(KEY_VAR, KEY)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    cand = candidates.openai("gpt-4o-mini-2024-07-18", base_url=url, api_key_env=KEY_VAR)
    version, params = make_version(), GenParams(max_new_tokens=6, temperature=1.0, batch_size=2)
    key = distill.key(cand, version, params)
    gate.allow = 3
    first = wait_for(distill.launch(cand, version, params), timeout=TIMEOUT)
    assert (first.state, first.failure) == ("failed", "bad config"), rundir.log_tail(rundir.run_dir(first.id))
    assert "HTTP 401" in rundir.log_tail(rundir.run_dir(first.id))
    kept = generate.received(key)
    assert len(gate.answered) == len(kept) == 3  # every answer the server sent was written down
    assert {f"question {i}" for i in kept} == set(gate.answered)

    gate.allow, before = None, len(gate.answered)
    second = wait_for(distill.launch(cand, version, params), timeout=TIMEOUT)
    assert second.state == "succeeded", rundir.log_tail(rundir.run_dir(second.id))
    asked_again = gate.answered[before:]
    assert sorted(asked_again) == sorted(f"question {i}" for i in range(N) if i not in kept)
    assert sorted(gate.answered) == sorted(f"question {i}" for i in range(N))  # each prompt answered once
    assert second.progress["done"] == second.progress["total"] == N
    assert distill.launch(cand, version, params) is None  # all cached: nothing is asked again

    saved, built = distill.save(cand, version, params, distill.default_name(cand, version))
    assert saved.n_examples + len(built.failed) == N
    assert all(f["reason"] == "the answer came back empty" for f in built.failed)
    failed_lines = {f["line"] for f in built.failed}
    sources = [e for i, e in enumerate(versions.examples(version)) if i + 1 not in failed_lines]
    for made, source in zip(versions.examples(saved), sources, strict=True):
        assert made["messages"][:2] == source["messages"][:2]  # the system and user turns kept
        assert made["messages"][2]["role"] == "assistant" and made["messages"][2]["content"].strip()
        assert made["messages"][2]["content"] != source["messages"][2]["content"]

    cfg = preset(
        "lora",
        model=str(tiny_model_dir),
        dataset_version=saved.id,
        max_steps=2,
        per_device_train_batch_size=2,
        sample_generations=0,
        bf16=False,
    )
    summary = recipe.train(cfg, tmp_path / "run")
    losses = [m["loss"] for m in rundir.read_metrics(tmp_path / "run") if m.get("loss") is not None]
    assert losses and all(loss > 0 for loss in losses) and summary
