"""Remote generation: any OpenAI-compatible chat API, a few requests at a time, with back-off.

The key is read from the candidate's environment variable when the client is made, and never
stored or printed. Rate limits, timeouts and 5xx are retried with jittered exponential back-off;
a wrong key, model or request is not. Test: `.venv/bin/pytest tests/jobs/test_generate_job.py -q`.
Test: `pytest tests/jobs/test_generate_job.py`.
"""

from __future__ import annotations

import os
import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from core.eval.candidates import Candidate
from core.eval.params import BadConfig, GenParams, OnBatch, RemoteError

REMOTE_THREADS = 4
REMOTE_TRIES = 5
RETRY_BASE_S = 1.0  # the first back-off; it doubles per retry, up to 30 s


def client(candidate: Candidate):
    key = os.environ.get(candidate.api_key_env)
    if not key:
        raise BadConfig(f"no API key: set {candidate.api_key_env} in the environment that starts the app")
    from openai import OpenAI

    # Retries are ours (below), so a rate limit backs off across the whole run the same way.
    return OpenAI(base_url=candidate.base_url or None, api_key=key, max_retries=0, timeout=120)


def _ask(client, candidate: Candidate, messages: list[dict], params: GenParams) -> tuple[str, int]:
    from openai import APIConnectionError, APIStatusError, RateLimitError

    for attempt in range(REMOTE_TRIES):
        try:
            resp = client.chat.completions.create(
                model=candidate.model,
                messages=messages,
                max_tokens=params.max_new_tokens,
                temperature=params.temperature,
                top_p=params.top_p,
            )
            usage = resp.usage.completion_tokens if resp.usage else 0
            return (resp.choices[0].message.content or "").strip(), usage
        except (RateLimitError, APIConnectionError) as exc:
            reason = type(exc).__name__
        except APIStatusError as exc:
            # A wrong key, model or request: retrying will not help (408/409 are worth another try).
            if exc.status_code < 500 and exc.status_code not in (408, 409):
                raise BadConfig(f"{candidate.label}: HTTP {exc.status_code}: {exc.message}") from None
            reason = f"HTTP {exc.status_code}"
        jitter = 0.5 + random.random()  # threads that failed together do not retry together
        wait = min(30.0, RETRY_BASE_S * 2.0**attempt) * jitter
        print(f"{reason}; retrying in {wait:.1f} s", file=sys.stderr, flush=True)
        time.sleep(wait)
    raise RemoteError(f"{candidate.label}: the API kept failing ({reason}) after {REMOTE_TRIES} tries")


def remote_answers(
    candidate: Candidate, prompts: list[list[dict]], params: GenParams, on_batch: OnBatch | None = None
):
    """[(answer, completion tokens)] in prompt order, REMOTE_THREADS requests at a time."""
    api = client(candidate)
    results: list[tuple[str, int]] = []
    with ThreadPoolExecutor(REMOTE_THREADS) as pool:
        for start in range(0, len(prompts), params.batch_size):
            chunk = prompts[start : start + params.batch_size]
            answers = list(pool.map(lambda m: _ask(api, candidate, m, params), chunk))
            results.extend(answers)
            if on_batch:
                on_batch(len(results), sum(n for _, n in answers))
    return results
