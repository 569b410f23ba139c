"""The blind arena: sessions of anonymous pairwise votes, and ratings fitted from the votes.

Modules: sessions (the SQLite side: sessions, raters, assignments, votes), ratings
(Bradley-Terry with bootstrap intervals, win rates), agreement (inter-rater statistics),
preferences (the votes as preference pairs for DPO).
CLI: `python -m core.arena ratings VOTES.csv --json`, `python -m core.arena preferences ...`.
Test: `pytest tests/unit/test_arena_sessions.py`.
"""

from __future__ import annotations

# A vote's outcome in the votes CSV and everywhere in code: model_a is the left answer as shown.
WINNERS = ("model_a", "model_b", "tie", "both_bad")
