"""Command-line twin of the arena's results.

python -m core.arena ratings VOTES.csv [--json] [--rounds 100] [--seed 0]
    Bradley-Terry ratings with 95% bootstrap intervals from a CSV with model_a, model_b, winner.
    Exit 0 on success, 2 when the file cannot be used (the message names file, line and column).
(also `python -m core arena ratings ...`). Tests: `.venv/bin/pytest tests/unit/test_arena_cli.py`.
"""

from __future__ import annotations

import json
import sys

from core.cli import Command, dispatch, fail


def _ratings(args) -> int:
    if args.rounds < 1:
        return fail(2, "error", f"--rounds must be at least 1, got {args.rounds}")
    from core.arena import ratings

    try:
        votes = ratings.read_votes_csv(args.file)
        board = ratings.leaderboard(votes, rounds=args.rounds, seed=args.seed)
    except ValueError as e:
        return fail(2, "error", str(e))
    if args.json:
        keys = ("rating", "ci_low", "ci_high")
        out = {row["model"]: {**{k: round(row[k], 2) for k in keys}, "votes": row["votes"]} for row in board}
        print(json.dumps({"ratings": out}))
        return 0
    width = max(len("model"), *(len(row["model"]) for row in board))
    print(f"{'rank':>4}  {'model':<{width}}  {'rating':>7}  {'95% interval':>17}  {'votes':>6}")
    for row in board:
        interval = f"{row['ci_low']:.0f} to {row['ci_high']:.0f}"
        print(
            f"{row['rank_ub']:>4}  {row['model']:<{width}}  {row['rating']:>7.1f}  {interval:>17}  {row['votes']:>6}"
        )
    print(f"{len(votes)} votes, {args.rounds} bootstrap rounds; rank = 1 + models surely better (Rank UB)")
    return 0


def _ratings_arguments(r) -> None:
    r.add_argument("file")
    r.add_argument("--json", action="store_true", help="print only a JSON object on stdout")
    r.add_argument("--rounds", type=int, default=100, help="bootstrap resamples (default 100)")
    r.add_argument("--seed", type=int, default=0)


COMMANDS = {
    "ratings": Command(
        "Bradley-Terry ratings with bootstrap intervals from a votes CSV", _ratings, _ratings_arguments
    ),
}


def main(argv: list[str] | None = None) -> int:
    return dispatch("python -m core.arena", __doc__, COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
