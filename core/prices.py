"""Dated, sourced price tables (OpenAI fine-tuning, GPU hours) that users can override.

The defaults live here as data; a user's edits are stored in the workspace (settings table)
and win over the defaults until reset. Every row carries the date it was read and its source,
so the app can show both next to each number.
Test: `pytest tests/unit/test_prices.py`.
"""

from __future__ import annotations

import copy
from typing import Any

from core import store

OPENAI_SOURCE = "OpenAI pricing page (fine-tuning section), as read in 2026"
OPENAI_AS_OF = "2026-10"

# USD per 1M tokens. ft_* are the fine-tuned model's prices; base_* the same model untuned.
OPENAI_DEFAULT: list[dict[str, Any]] = [
    {
        "model": "gpt-4o-mini-2024-07-18",
        "training": 3.00,
        "ft_input": 0.30,
        "ft_cached_input": 0.15,
        "ft_output": 1.20,
        "base_input": 0.15,
        "base_output": 0.60,
        "example_token_limit": 65536,
    },
    {
        "model": "gpt-4o-2024-08-06",
        "training": 25.00,
        "ft_input": 3.75,
        "ft_cached_input": 1.875,
        "ft_output": 15.00,
        "base_input": 2.50,
        "base_output": 10.00,
        "example_token_limit": 65536,
    },
    {
        "model": "gpt-4.1-2025-04-14",
        "training": 25.00,
        "ft_input": 3.00,
        "ft_cached_input": 0.75,
        "ft_output": 12.00,
        "base_input": 2.00,
        "base_output": 8.00,
        "example_token_limit": 65536,
    },
    {
        "model": "gpt-4.1-mini-2025-04-14",
        "training": 5.00,
        "ft_input": 0.80,
        "ft_cached_input": 0.20,
        "ft_output": 3.20,
        "base_input": 0.40,
        "base_output": 1.60,
        "example_token_limit": 65536,
    },
    {
        "model": "gpt-4.1-nano-2025-04-14",
        "training": 1.50,
        "ft_input": 0.20,
        "ft_cached_input": 0.05,
        "ft_output": 0.80,
        "base_input": 0.10,
        "base_output": 0.40,
        "example_token_limit": 65536,
    },
]
for _row in OPENAI_DEFAULT:
    _row.update(as_of=OPENAI_AS_OF, source=OPENAI_SOURCE)

# Fine-tunable models that take images (content parts of type image_url) in training files, from OpenAI's
# vision fine-tuning guide (developers.openai.com/api/docs/guides/vision-fine-tuning, "Use with", read 2026-12).
# A capability, not a price: kept beside the table so a user's edited prices never drop it.
VISION_MODELS = ("gpt-4o-2024-08-06",)


def takes_images(model: str) -> bool:
    """Whether a model (a dated id, a prefix of one, or a fine-tuned "ft:<base>:..." id) fine-tunes on images."""
    base = model.removeprefix("ft:").split(":")[0]
    return bool(base) and any(m == base or m.startswith(base) for m in VISION_MODELS)


# The guide's own figures for gpt-4o-mini ("early 2026"), per 1K tokens: older than the table.
GUIDE_OPENAI = {
    "model": "gpt-4o-mini (the guide's figures)",
    "training_per_1k": 0.003,
    "ft_input_per_1k": 0.0004,
    "ft_output_per_1k": 0.0016,
    "note": "The guide's 'early 2026' figures, 'roughly 2x base price'; the dated table above is newer.",
}

GPU_SOURCE = (
    "Indicative on-demand rates: Hugging Face Spaces hardware list for T4/L4/A10G/A100 80 GB,"
    " common GPU clouds for A100 40 GB and H100; check your provider and edit"
)
GPU_AS_OF = "2026-10"
GPU_DEFAULT: list[dict[str, Any]] = [
    {"gpu": "T4 16 GB", "memory_gb": 16, "usd_per_hour": 0.40, "bf16_tflops": 65.0},
    {"gpu": "L4 24 GB", "memory_gb": 24, "usd_per_hour": 0.80, "bf16_tflops": 121.0},
    {"gpu": "A10G 24 GB", "memory_gb": 24, "usd_per_hour": 1.00, "bf16_tflops": 70.0},
    {"gpu": "A100 40 GB", "memory_gb": 40, "usd_per_hour": 1.30, "bf16_tflops": 312.0},
    {"gpu": "A100 80 GB", "memory_gb": 80, "usd_per_hour": 2.50, "bf16_tflops": 312.0},
    {"gpu": "H100 80 GB", "memory_gb": 80, "usd_per_hour": 2.99, "bf16_tflops": 989.0},
]
for _row in GPU_DEFAULT:
    _row.update(as_of=GPU_AS_OF, source=GPU_SOURCE)

_KEYS = {"openai": ("prices.openai", OPENAI_DEFAULT), "gpu": ("prices.gpu", GPU_DEFAULT)}


def table(kind: str) -> list[dict[str, Any]]:
    """The price rows in force: the user's saved edits, or the defaults."""
    key, default = _KEYS[kind]
    saved = store.get_setting(key)
    return copy.deepcopy(saved if saved else default)


def save(kind: str, rows: list[dict[str, Any]]) -> None:
    """Persist an edited table in the workspace; it replaces the defaults until reset."""
    key, _ = _KEYS[kind]
    store.set_setting(key, rows)


def reset(kind: str) -> None:
    store.delete_setting(_KEYS[kind][0])


def is_customised(kind: str) -> bool:
    return store.get_setting(_KEYS[kind][0]) is not None


def openai_row(model: str) -> dict[str, Any]:
    """The price row for a model id (exact, or the dated row it is a prefix of)."""
    rows = table("openai")
    for row in rows:
        if row["model"] == model:
            return row
    for row in rows:
        if row["model"].startswith(model):
            return row
    known = ", ".join(r["model"] for r in rows)
    raise KeyError(f"no price row for model {model!r}; known: {known}")
