"""Generation settings and the generation worker's errors, shared by generate, local and remote.

Test: `.venv/bin/pytest tests/unit/test_candidates.py tests/jobs/test_generate_job.py -q`.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.config import option
from core.generation import OnBatch  # noqa: F401 - remote answers report progress the same way


@dataclass(frozen=True)
class GenParams:
    max_new_tokens: int = option(256, "Most tokens to generate per answer.")
    temperature: float = option(0.0, "0 = greedy (repeatable); above 0 samples, more varied as it grows.")
    batch_size: int = option(8, "Prompts generated together (local models); lower it if memory runs out.")
    top_p: float = option(1.0, "Nucleus sampling: keep this much probability mass.")


def param_problems(params: GenParams) -> list[str]:
    found = []
    if params.max_new_tokens < 1:
        found.append(f"max_new_tokens must be at least 1, not {params.max_new_tokens}")
    if params.batch_size < 1:
        found.append(f"batch_size must be at least 1, not {params.batch_size}")
    if params.temperature < 0:
        found.append(f"temperature must be 0 (greedy) or more, not {params.temperature}")
    if not 0 < params.top_p <= 1:
        found.append(f"top_p must be above 0 and at most 1, not {params.top_p}")
    return found


class BadData(Exception):
    """The dataset version cannot be generated for (no such split, no examples)."""


class BadConfig(Exception):
    """The candidate cannot run here (missing model or run, no API key)."""


class RemoteError(Exception):
    """A remote API kept failing (rate limits, 5xx, no connection) after every retry (the client's side)."""
