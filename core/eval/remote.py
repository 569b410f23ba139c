"""Remote generation: any OpenAI-compatible chat API, a few requests at a time, with back-off.

The key is read from the candidate's environment variable when the client is made, and never
stored or printed. Rate limits, timeouts and 5xx are retried with jittered exponential back-off;
a wrong key, model or request is not. Each answer is handed to `on_answer` as it arrives, so a job
that fails later keeps every answer it was sent (core.eval.generate resumes from them); with
`keep_refused` a prompt the API refuses (HTTP 400/413/422: too long, filtered) becomes that prompt's
error instead of ending the run.
Test: `.venv/bin/pytest tests/jobs/test_generate_job.py tests/jobs/test_distill_job.py -q`.
"""

from __future__ import annotations

import os
import random
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed

from core.eval.candidates import Candidate
from core.eval.params import BadConfig, GenParams, OnBatch, RemoteError

REMOTE_THREADS = 4
REMOTE_TRIES = 5
RETRY_BASE_S = 1.0  # the first back-off; it doubles per retry, up to 30 s
REFUSED = (400, 413, 422)  # the API refused this prompt (too long, filtered), not the key or the model
OnAnswer = Callable[..., None]  # (index, text, completion tokens, error=None)


class PromptRefused(BadConfig):
    """The API refused one prompt; the others may still be answered."""


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
            if exc.status_code in REFUSED:
                raise PromptRefused(f"{candidate.label}: HTTP {exc.status_code}: {exc.message}") from None
            if exc.status_code < 500 and exc.status_code not in (408, 409):
                raise BadConfig(f"{candidate.label}: HTTP {exc.status_code}: {exc.message}") from None
            reason = f"HTTP {exc.status_code}"
        jitter = 0.5 + random.random()  # threads that failed together do not retry together
        wait = min(30.0, RETRY_BASE_S * 2.0**attempt) * jitter
        print(f"{reason}; retrying in {wait:.1f} s", file=sys.stderr, flush=True)
        time.sleep(wait)
    raise RemoteError(f"{candidate.label}: the API kept failing ({reason}) after {REMOTE_TRIES} tries")


def _chunk(api, pool, candidate, prompts, params, start, keep_refused, on_answer):
    """One batch of requests; each answer is handed on as it arrives, then the first fatal error is raised."""
    end = min(start + params.batch_size, len(prompts))
    futures = {pool.submit(_ask, api, candidate, prompts[i], params): i for i in range(start, end)}
    answers, fatal = {}, None
    for future in as_completed(futures):
        i = futures[future]
        try:
            answers[i], error = future.result(), None
        except PromptRefused as exc:
            if not keep_refused:
                fatal = fatal or exc
                continue
            answers[i], error = ("", 0), str(exc)
        except Exception as exc:  # raised below, once the answers in flight are kept
            fatal = fatal or exc  # the others in flight still finish and are kept: they were paid for
            continue
        if on_answer:
            on_answer(i, *answers[i], error=error)
    if fatal:
        raise fatal
    return [answers[i] for i in sorted(answers)]


def remote_answers(
    candidate: Candidate,
    prompts: list[list[dict]],
    params: GenParams,
    on_batch: OnBatch | None = None,
    on_answer: OnAnswer | None = None,
    keep_refused: bool = False,
):
    """[(answer, completion tokens)] in prompt order, REMOTE_THREADS requests at a time."""
    api = client(candidate)
    results: list[tuple[str, int]] = []
    with ThreadPoolExecutor(REMOTE_THREADS) as pool:
        for start in range(0, len(prompts), params.batch_size):
            answers = _chunk(api, pool, candidate, prompts, params, start, keep_refused, on_answer)
            results.extend(answers)
            if on_batch:
                on_batch(len(results), sum(n for _, n in answers))
    return results
