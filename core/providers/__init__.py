"""Remote fine-tuning providers: a plain registry of modules, one per hosted service.

Each provider module is a `RemoteProvider` (its module-level names below), so the Train and Runs
pages treat them alike and a second hosted service is one new module plus one line in PROVIDERS:
  - `name` (the run meta's "provider"), `label` (the Train page's backend), `service` (its name in
    the Runs page's sentences: "OpenAI status", "Cancels the job on OpenAI");
  - `job_cls`, the request in the provider's own vocabulary (a dataclass with help texts), and
    `problems(job) -> list[str]`, shown before Launch and checked again by the worker;
  - `estimate(job) -> dict`: tokens, epochs and dollars (`training_usd`) before Launch;
  - `launch(job, api_key, title="") -> run_id`: a "train" job whose meta names the provider, so
    the Runs page lists it with local runs; the key travels only in the worker's environment;
  - `worker`, the module run as `python -m <worker> RUN_DIR`: it uploads, creates the remote job,
    follows it into the run folder (progress, train.log, metrics.jsonl, summary.json, remote.json),
    and cancels it when the Runs page creates the STOP file (core.jobs.stop);
  - `owns(meta) -> bool`: whether a run (by its meta) is one of this provider's.
Test: `.venv/bin/pytest tests/jobs/test_openai_provider.py tests/app/test_runs_page.py -q`.
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol, runtime_checkable

# Module names, imported on first use: pages that only ask "is this run remote?" import just the
# providers, never a client library (each imports its own inside the functions that call it).
PROVIDERS: dict[str, str] = {"openai": "core.providers.openai_ft"}


@runtime_checkable
class RemoteProvider(Protocol):
    name: str
    label: str
    service: str
    job_cls: type
    worker: str

    def problems(self, job: Any) -> list[str]: ...

    def estimate(self, job: Any) -> dict[str, Any]: ...

    def launch(self, job: Any, api_key: str, title: str = "") -> str: ...

    def owns(self, meta: dict[str, Any]) -> bool: ...


def get(name: str) -> RemoteProvider:
    if name not in PROVIDERS:
        raise KeyError(f"no remote provider {name!r}; known: {', '.join(PROVIDERS)}")
    return importlib.import_module(PROVIDERS[name])


def registered() -> list[RemoteProvider]:
    """Every provider, in PROVIDERS' order (the Train page's backend list)."""
    return [get(name) for name in PROVIDERS]


def provider_of(meta: dict[str, Any] | None) -> RemoteProvider | None:
    """The provider of a run (from its meta), or None for a local run."""
    if not (meta or {}).get("provider"):  # every provider's launch names itself there; a local run has none
        return None
    return next((p for p in registered() if p.owns(meta)), None)
