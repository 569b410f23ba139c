"""Evaluation: batch generation for candidates (a job), and metrics against held-out references.

The guide's convention, used everywhere here: an example's prompt is every message before the
last one, and its reference is the last message's content (core.chat.prompt_and_reference).
Modules: metrics (ROUGE-L and friends), candidates (what can answer), generate (the job).
CLI: `python -m core.eval rouge REFS.jsonl PREDS.jsonl --json`.
Test: `pytest tests/unit/test_eval_metrics.py`.
"""

from __future__ import annotations

SPLIT = "test"  # the guide's held-out set: every score, comparison and arena item is on it
