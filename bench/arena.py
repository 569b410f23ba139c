"""Benchmark the arena leaderboard: cell-count bootstrap against a per-row pandas bootstrap.

Run: `.venv/bin/python bench/arena.py [--votes 10000] [--rounds 100]`.
Synthetic votes among 6 candidates with known ratings (10% ties). Measured in the same run:
(1) core.arena.ratings.leaderboard: votes counted per (pair, outcome) cell, one multinomial draw
    per bootstrap round, each refit on at most 3 cells per pair;
(2) the baseline, the way the Chatbot Arena notebook bootstraps: `df.sample(frac=1, replace=True)`
    on the full vote frame each round, then a refit over one row per vote (a tie as two half rows),
    with the same L-BFGS objective so only the data handling differs.
Test: `pytest tests/unit/test_arena_ratings.py`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.arena import ratings  # noqa: E402

TRUE = {"a": 1000, "b": 1050, "c": 1100, "d": 1150, "e": 1200, "f": 1300}
TIE = 0.1


def synthetic(n: int, seed: int = 0) -> pd.DataFrame:
    """Votes whose expected score (win + tie/2) equals the Bradley-Terry probability."""
    rng = np.random.default_rng(seed)
    names = np.array(list(TRUE))
    r = np.array(list(TRUE.values()), dtype=float)
    first = rng.integers(len(names), size=n)
    # A uniformly chosen different opponent.
    pick = np.stack([first, (first + rng.integers(1, len(names), size=n)) % len(names)], axis=1)
    p = 1.0 / (1.0 + 10.0 ** ((r[pick[:, 1]] - r[pick[:, 0]]) / 400.0))
    tie = rng.random(n) < TIE
    # Win chance among decisive votes, so that P(win) + P(tie)/2 = p.
    a_wins = rng.random(n) < (p - TIE / 2) / (1 - TIE)
    winner = np.where(tie, "tie", np.where(a_wins, "model_a", "model_b"))
    return pd.DataFrame({"model_a": names[pick[:, 0]], "model_b": names[pick[:, 1]], "winner": winner})


def naive_fit(df: pd.DataFrame, l2: float) -> np.ndarray:
    """One row per vote (ties as two half-weight rows, as the notebook duplicates them), no counting."""
    models = sorted(set(df["model_a"]) | set(df["model_b"]))
    a = df["model_a"].map({m: k for k, m in enumerate(models)}).to_numpy()
    b = df["model_b"].map({m: k for k, m in enumerate(models)}).to_numpy()
    score = df["winner"].map(ratings.SCORE).to_numpy(float)
    tie = score == 0.5
    i = np.concatenate([a, a[tie]])
    j = np.concatenate([b, b[tie]])
    w = np.concatenate([np.where(tie, 0.5, 1.0), np.full(tie.sum(), 0.5)])
    s = np.concatenate([np.where(tie, 0.5, score), np.full(tie.sum(), 0.0)])
    return ratings.to_rating(ratings.fit_pairs(len(models), i, j, w, s, l2))


def naive_leaderboard(df: pd.DataFrame, rounds: int, seed: int, l2: float) -> np.ndarray:
    boots = [naive_fit(df.sample(frac=1.0, replace=True, random_state=seed + k), l2) for k in range(rounds)]
    return np.percentile(np.array(boots), [2.5, 97.5], axis=0)


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--votes", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=100)
    args = parser.parse_args()
    df = synthetic(args.votes)
    ratings.fit(df.head(50))  # scipy is imported on first fit; keep that out of both timings
    board, fast = timed(lambda: ratings.leaderboard(df, rounds=args.rounds, seed=0))
    (low, high), slow = timed(lambda: naive_leaderboard(df, args.rounds, 0, ratings.DEFAULT_L2))
    shift = np.mean(list(TRUE.values())) - ratings.ANCHOR
    print(f"{args.votes} votes, {len(TRUE)} candidates, {args.rounds} bootstrap rounds")
    print(f"{'model':<6} {'true':>6} {'fitted':>8} {'cell 95% CI':>19} {'naive 95% CI':>19}")
    order = sorted(TRUE)
    for row in board:
        k = order.index(row["model"])
        print(
            f"{row['model']:<6} {TRUE[row['model']]:>6} {row['rating'] + shift:>8.1f} "
            f"{row['ci_low'] + shift:>8.1f} {row['ci_high'] + shift:>8.1f}  "
            f"{low[k] + shift:>8.1f} {high[k] + shift:>8.1f}"
        )
    print(f"leaderboard (cells + multinomial): {fast:.3f} s")
    print(f"baseline (pd.sample + per-row refit): {slow:.3f} s")
    print(f"speedup: {slow / fast:.1f}x")


if __name__ == "__main__":
    main()
