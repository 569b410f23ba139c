"""Remote fine-tuning providers: a plain registry of modules, one per hosted service.

A provider module offers the same small interface, so the Train and Runs pages treat them alike:
  - a job dataclass (the request in the provider's own vocabulary, with help texts) and
    `problems(job) -> list[str]`, shown before Launch and checked again by the worker;
  - `estimate(job) -> dict`: tokens, epochs and dollars from a dated price row, before Launch;
  - `launch(job, api_key, title="") -> run_id`: a "train" job whose meta names the provider, so
    the Runs page lists it with local runs; the key travels only in the worker's environment;
  - the worker, `python -m core.providers.<module> RUN_DIR`: uploads, creates the remote job,
    follows it into the run folder (progress, train.log, metrics.jsonl, summary.json), and
    cancels it when the Runs page creates the STOP file (core.jobs.stop).
Test: `.venv/bin/pytest tests/jobs/test_openai_provider.py -q`.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

# Module names, imported on first use: `python -m core.providers.openai_ft` then runs the module
# once (importing it here would load it twice) and pages that only ask "is this run remote?"
# never import a client library.
PROVIDERS: dict[str, str] = {"openai": "core.providers.openai_ft"}


def get(name: str) -> ModuleType:
    if name not in PROVIDERS:
        raise KeyError(f"no remote provider {name!r}; known: {', '.join(PROVIDERS)}")
    return importlib.import_module(PROVIDERS[name])


def provider_of(meta: dict[str, Any] | None) -> ModuleType | None:
    """The provider module of a run (from its meta), or None for a local run."""
    name = str((meta or {}).get("provider") or "")
    return get(name) if name in PROVIDERS else None
