"""The candidates the Evaluate page offers, each under a stable slot id (no widgets here).

Slot ids are what the candidate multiselect holds and the URL keeps: "base", "fewshot" (its k
and seed come from the page, so its answers' cache key changes but the slot does not), a
training run's id, or "custom-<key>" for a candidate added on the page (an OpenAI or
OpenAI-compatible model, or another local model), which the workspace settings remember.
Test: `pytest tests/app/test_evaluate_page.py`.
"""

from __future__ import annotations

import os
import re

from core import models, store
from core.eval import candidates
from core.eval.candidates import Candidate
from core.jobs import rundir
from core.models import DEFAULT_MODEL_ID

CUSTOM_SETTING = "eval.custom_candidates"
CUSTOM_PREFIX = "custom-"
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def custom() -> list[Candidate]:
    """Candidates added on the page, oldest first; an unreadable entry is skipped, not fatal."""
    found = []
    for data in store.get_setting(CUSTOM_SETTING, []) or []:
        try:
            found.append(Candidate.from_dict(data))
        except (TypeError, ValueError):
            continue
    return found


def add_custom(candidate: Candidate) -> None:
    kept = [c for c in custom() if c.key != candidate.key]
    store.set_setting(CUSTOM_SETTING, [c.to_dict() for c in [*kept, candidate]])


def remove_custom(key: str) -> None:
    store.set_setting(CUSTOM_SETTING, [c.to_dict() for c in custom() if c.key != key])


def slot_of(candidate: Candidate) -> str:
    if candidate.kind == "run":
        return str(candidate.run_id)
    return candidate.kind if candidate.model == DEFAULT_MODEL_ID else CUSTOM_PREFIX + candidate.key


def pool(k: int = 3, seed: int = 0) -> dict[str, Candidate]:
    """Slot id -> candidate: the base model, few-shot (k, seed), finished runs newest first, added ones."""
    found: dict[str, Candidate] = {}
    for cand in candidates.available():
        if cand.kind == "fewshot" and cand.model == DEFAULT_MODEL_ID:
            cand = candidates.fewshot(DEFAULT_MODEL_ID, k=k, seed=seed)
        found[slot_of(cand)] = cand
    for cand in custom():
        found.setdefault(CUSTOM_PREFIX + cand.key, cand)
    return found


def newest_run(slots: dict[str, Candidate]) -> str | None:
    """The newest run's slot (run ids start with their launch time)."""
    runs = [s for s, c in slots.items() if c.kind == "run"]
    return max(runs) if runs else None


def key_is_set(env_name: str) -> bool:
    return bool(os.environ.get(env_name))


def problem(candidate: Candidate) -> str | None:
    """Why the candidate cannot generate from here, in words; None when it can."""
    if candidate.kind == "openai" and not key_is_set(candidate.api_key_env):
        return (
            f"the API key is not set: start the app with {candidate.api_key_env} in its environment "
            "(the key is never stored or shown)"
        )
    if candidate.kind == "run" and not (rundir.run_dir(candidate.run_id or "") / rundir.FINAL).is_dir():
        return f"run {candidate.run_id} was deleted, so there is no model to answer with"
    return None


def api_candidate(model: str, base_url: str, env_name: str) -> Candidate:
    """An API candidate from the form's text; ValueError naming the field that is wrong."""
    base_url, env_name = base_url.strip(), env_name.strip() or candidates.DEFAULT_KEY_ENV
    if base_url and not base_url.startswith(("http://", "https://")):
        raise ValueError(f"the base URL must start with http:// or https://, not {base_url!r}")
    if not ENV_NAME.fullmatch(env_name):
        raise ValueError(f"{env_name!r} is not an environment variable name (letters, digits, _)")
    return candidates.openai(model, base_url or None, env_name)


def local_candidate(model: str) -> Candidate:
    """Another local model (a hub id or a folder) as a base candidate; ValueError if empty or missing."""
    model = model.strip()
    if not model:
        raise ValueError("enter a hub id or a local model folder")
    if models.model_problem(model):
        raise ValueError(models.model_problem(model))
    return candidates.base(model)
