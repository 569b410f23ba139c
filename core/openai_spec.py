"""OpenAI's published fine-tuning limits and the one check of a job's hyperparameters, suffix and seed.

The hosted provider (core.providers.openai_ft: the Train page and its worker) and the local
OpenAI-compatible server (core.server.ft_jobs) both read these, so a value one of them accepts the
other accepts too; the local server adds only its own rule about the learning rate it trains at,
and says so in its error. Each check returns the parameter's name with the message, so the page
lists it and the server answers 400 naming it.
Test: `.venv/bin/pytest tests/unit/test_api_rules.py -q`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

AUTO = "auto"
MIN_EXAMPLES = 10  # OpenAI refuses a training file with fewer; gains usually start at 50-100
SUFFIX = re.compile(r"[A-Za-z0-9._-]{1,64}")
SEED_MAX = 2**31 - 1
# (whole number?, lowest, highest) for each hyperparameter that may be "auto"
HYPERPARAMETERS = {
    "n_epochs": (True, 1, 50),
    "batch_size": (True, 1, 256),
    "learning_rate_multiplier": (False, 1e-6, 100.0),
}


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_auto(value: Any) -> bool:
    """ "auto", or left out (None): OpenAI decides."""
    return value is None or (isinstance(value, str) and value == AUTO)


def hyperparameter_problem(name: str, value: Any) -> str | None:
    """Why one hyperparameter's value is refused, or None (a name outside HYPERPARAMETERS is a KeyError)."""
    whole, low, high = HYPERPARAMETERS[name]
    if is_auto(value):
        return None
    # int(x) is never converted to float: a 400-digit integer would overflow
    ok = _number(value) and (not whole or isinstance(value, int) or value.is_integer())
    if ok and low <= value <= high:
        return None
    kind = "a whole number" if whole else "a number"
    return f"{name} must be 'auto' or {kind} from {low:g} to {high:g}, not {value!r}"


def hyperparameter_problems(values: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(parameter, message) for each known hyperparameter whose value is refused, in OpenAI's order."""
    found = [(name, hyperparameter_problem(name, values.get(name))) for name in HYPERPARAMETERS]
    return [(name, message) for name, message in found if message]


def suffix_problem(suffix: Any) -> str | None:
    if suffix in (None, "") or (isinstance(suffix, str) and SUFFIX.fullmatch(suffix)):
        return None
    where = "it becomes part of the model name"
    return f"suffix must be 1 to 64 letters, digits, '.', '_' or '-' ({where}), not {suffix!r}"


def seed_problem(seed: Any) -> str | None:
    if seed is None or (isinstance(seed, int) and not isinstance(seed, bool) and 0 <= seed <= SEED_MAX):
        return None
    return f"seed must be empty or a whole number from 0 to {SEED_MAX}, not {seed!r}"
