"""Generation as a real job: the tiny model end to end, the cache, bad data, replies, an API stand-in.

The local jobs use tests.tiny.tiny_model (a 3.2M-parameter random Llama with SmolLM2's tokenizer),
so a job takes seconds, most of it importing torch. The API jobs talk to a small HTTP server in
this process that answers like OpenAI's chat.completions.
Run: `.venv/bin/pytest tests/jobs/test_generate_job.py -q`.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from core import jobs, paths
from core.data import versions
from core.eval import candidates, generate, metrics, remote, scores
from core.eval.generate import GenParams
from core.jobs import rundir
from tests.waiting import wait_for

TIMEOUT = 240  # seconds: a cold start imports torch and transformers on a busy two-core machine
KEY_VAR = "WB_TEST_API_KEY"


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    return tiny_model_dir


def example(n: int) -> dict:
    return {"messages": [{"role": "user", "content": f"question {n}"}, {"role": "assistant", "content": f"a{n}"}]}


def make_version(n: int = 10, test: int = 6, split: bool = True):
    rows = [example(i) for i in range(n)]
    first = versions.create(f"gen-{time.time_ns()}", rows)
    if not split:
        return first
    splits = {"train": list(range(n - test)), "validation": [], "test": list(range(n - test, n))}
    return versions.save(first, rows, "split", splits=splits)


# ---- local models --------------------------------------------------------------------------------


def test_a_generate_job_fills_the_cache_once(tiny):
    version = make_version()
    cand, params = candidates.base(str(tiny)), GenParams(max_new_tokens=8, batch_size=4)
    rid = generate.launch(cand, version, "test", params)
    assert generate.launch(cand, version, "test", params) == rid  # the running job, not a second one
    st = wait_for(rid, timeout=TIMEOUT)
    assert st.state == "succeeded", rundir.log_tail(rundir.run_dir(rid))
    assert st.progress["done"] == st.progress["total"] == 6
    predictions = generate.load(cand, version, "test", params)
    assert predictions is not None and len(predictions) == 6
    folder = rundir.run_dir(rid)
    rows = [json.loads(line) for line in (folder / rundir.PREDICTIONS).read_text().splitlines()]
    assert [r["index"] for r in rows] == list(range(6))
    assert [r["prediction"] for r in rows] == predictions
    assert all(1 <= r["n_tokens"] <= 8 for r in rows)
    # Six prompts in batches of four: two batches, one metrics row each.
    assert [m["step"] for m in rundir.read_metrics(folder)] == [1, 2]
    assert generate.meta(cand, version, "test", params)["run_id"] == rid
    assert generate.launch(cand, version, "test", params) is None  # cached: nothing runs again
    # The job scored its answers: the same numbers the page would compute in-process, read back as they are.
    refs = [e["messages"][-1]["content"] for e in versions.split_examples(version)["test"]]
    stored = rundir.read_json(folder / rundir.SCORES)
    for name, unicode in (("plain", False), ("unicode", True)):
        expected = metrics.evaluate(refs, predictions, unicode=unicode)
        assert (stored[name]["rows"], stored[name]["summary"]) == (expected.rows, expected.summary)
    (scored,) = scores.score_all(version)
    assert (scored.rows, scored.summary) == (stored["plain"]["rows"], stored["plain"]["summary"])


def test_a_version_without_a_test_split_is_bad_data(tiny):
    version = make_version(split=False)
    rid = generate.launch(candidates.base(str(tiny)), version, "test", GenParams(max_new_tokens=4))
    st = wait_for(rid, timeout=TIMEOUT)
    assert (st.state, st.failure) == ("failed", "bad data")
    assert "has no train/validation/test split" in rundir.log_tail(rundir.run_dir(rid))
    assert generate.load(candidates.base(str(tiny)), version, "test", GenParams(max_new_tokens=4)) is None


def test_a_missing_model_is_bad_config(tmp_path):
    version = make_version()
    rid = generate.launch(candidates.base(str(tmp_path / "nowhere")), version, "test", GenParams(max_new_tokens=4))
    st = wait_for(rid, timeout=TIMEOUT)
    assert (st.state, st.failure) == ("failed", "bad config")
    assert "model folder not found" in rundir.log_tail(rundir.run_dir(rid))


def test_a_reply_job_answers_one_conversation(tiny):
    # A random model's greedy pick is often whitespace; sampling gives visible tokens.
    params = GenParams(max_new_tokens=6, temperature=1.0)
    rid = generate.reply_job(candidates.base(str(tiny)), [{"role": "user", "content": "Hello?"}], params)
    st = wait_for(rid, timeout=TIMEOUT)
    assert st.state == "succeeded", rundir.log_tail(rundir.run_dir(rid))
    reply = generate.reply_result(rid)
    assert reply["text"].strip() and 1 <= reply["n_tokens"] <= 6 and reply["seconds"] > 0


# ---- an OpenAI-compatible API ----------------------------------------------------------------------


class FakeAPI(BaseHTTPRequestHandler):
    """POST /v1/chat/completions: answers "echo: <last user message>", like OpenAI's JSON."""

    seen: list[dict] = []
    delay = 0.0
    failures: list[int] = []  # HTTP statuses to answer first, one request each

    def do_POST(self):  # noqa: N802 (the name http.server calls)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeAPI.seen.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        time.sleep(FakeAPI.delay)
        if FakeAPI.failures:
            return self.answer(FakeAPI.failures.pop(0), {"error": {"message": "try later", "type": "x"}})
        text = "echo: " + body["messages"][-1]["content"]
        reply = {
            "id": "c1",
            "object": "chat.completion",
            "created": 0,
            "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
        }
        self.answer(200, reply)

    def answer(self, status: int, reply: dict) -> None:
        data = json.dumps(reply).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def api(monkeypatch):
    FakeAPI.seen, FakeAPI.delay, FakeAPI.failures = [], 0.0, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeAPI)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # a proxy setting must not catch the local server
    yield candidates.openai("test-model", base_url=f"http://127.0.0.1:{server.server_port}/v1", api_key_env=KEY_VAR)
    server.shutdown()


def test_an_api_candidate_answers_every_example_and_leaves_no_key(api, monkeypatch):
    secret = f"sk-test-{time.time_ns()}"
    monkeypatch.setenv(KEY_VAR, secret)
    version = make_version()
    rid = generate.launch(api, version, "test", GenParams(max_new_tokens=16, batch_size=4))
    st = wait_for(rid, timeout=TIMEOUT)
    assert st.state == "succeeded", rundir.log_tail(rundir.run_dir(rid))
    # The test split is examples 4..9; each answer must be its own prompt's echo, in order.
    assert generate.load(api, version, "test", GenParams(max_new_tokens=16, batch_size=4)) == [
        f"echo: question {n}" for n in range(4, 10)
    ]
    assert len(FakeAPI.seen) == 6
    assert {s["path"] for s in FakeAPI.seen} == {"/v1/chat/completions"}
    assert {s["auth"] for s in FakeAPI.seen} == {f"Bearer {secret}"}
    assert {s["body"]["max_tokens"] for s in FakeAPI.seen} == {16}
    for path in [*rundir.run_dir(rid).rglob("*"), *paths.generations_dir().rglob("*")]:
        if path.is_file():
            assert secret not in path.read_text(errors="replace"), path


def test_an_api_candidate_without_its_key_is_bad_config(api, monkeypatch):
    monkeypatch.delenv(KEY_VAR, raising=False)
    rid = generate.launch(api, make_version(), "test", GenParams())
    st = wait_for(rid, timeout=TIMEOUT)
    assert (st.state, st.failure) == ("failed", "bad config")
    assert f"set {KEY_VAR}" in rundir.log_tail(rundir.run_dir(rid))
    assert FakeAPI.seen == []


def test_stop_ends_the_job_and_caches_nothing(api, monkeypatch):
    monkeypatch.setenv(KEY_VAR, "sk-test")
    FakeAPI.delay = 1.0  # slow enough to stop within the second batch of two
    version, params = make_version(), GenParams(batch_size=2)
    rid = generate.launch(api, version, "test", params)
    folder = rundir.run_dir(rid)
    deadline = time.time() + TIMEOUT
    while not rundir.read_metrics(folder) and time.time() < deadline:
        time.sleep(0.05)
    jobs.stop(rid)
    st = wait_for(rid, timeout=TIMEOUT)
    assert st.state == "stopped"
    assert len(rundir.read_metrics(folder)) < 3 and len(FakeAPI.seen) < 6
    assert generate.load(api, version, "test", params) is None
    assert not (folder / rundir.PREDICTIONS).exists()


def test_rate_limits_and_server_errors_are_retried_and_a_bad_request_is_not(api, monkeypatch):
    monkeypatch.setenv(KEY_VAR, "sk-test")
    monkeypatch.setattr(remote, "RETRY_BASE_S", 0.01)
    FakeAPI.failures = [429, 503]
    prompt = [{"role": "user", "content": "hi"}]
    assert remote.remote_answers(api, [prompt], GenParams()) == [("echo: hi", 3)]
    assert len(FakeAPI.seen) == 3  # two failures, then the answer
    FakeAPI.failures = [401]
    with pytest.raises(generate.BadConfig, match="HTTP 401"):
        remote.remote_answers(api, [prompt], GenParams())
    assert len(FakeAPI.seen) == 4  # no retry on a refused key
