"""Command-line twin of the arena's results.

python -m core.arena ratings VOTES.csv [--json] [--rounds 100] [--seed 0]
    Bradley-Terry ratings with 95% bootstrap intervals from a CSV with model_a, model_b, winner.
    Exit 0 on success, 2 when the file cannot be used (the message names file, line and column).
python -m core.arena preferences (SESSION_ID... | --votes VOTES.csv --items ITEMS.jsonl) --out PREFS.jsonl [--json]
    The human votes' "A better"/"B better" verdicts as OpenAI preference JSONL, one pair per item and candidate
    pair (core.arena.preferences has the rules), and their counts. Exit 2, nothing written, when a file or
    session cannot be used or the votes give no pair.
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


def _preferences(args) -> int:
    from core.arena import preferences
    from core.data import preference, writers

    if bool(args.sessions) == bool(args.votes or args.items):
        return fail(2, "usage", "give session ids, or --votes VOTES.csv with --items ITEMS.jsonl (not both)")
    if not args.sessions and not (args.votes and args.items):
        return fail(2, "usage", "--votes and --items go together: the votes CSV and its ITEMS.jsonl download")
    try:
        prefs = (
            preferences.from_sessions(args.sessions)
            if args.sessions
            else preferences.from_files(args.votes, args.items)
        )
    except (ValueError, KeyError) as e:  # a KeyError's text is its argument, not its repr
        return fail(2, "error", str(e.args[0]) if e.args else str(e))
    if prefs.problem:
        return fail(2, "error", prefs.problem)
    writers.replace(args.out, lambda tmp: tmp.write_bytes(preference.export_bytes(prefs.pairs)))
    if args.json:
        print(
            json.dumps(
                {**prefs.counts(), "sessions": list(prefs.sessions), "sentence": prefs.sentence, "out": args.out}
            )
        )
    else:
        print(prefs.sentence)
        print(f"wrote {preference.counted(len(prefs.pairs))} to {args.out} (OpenAI preference JSONL)")
    return 0


def _preferences_arguments(r) -> None:
    r.add_argument("sessions", nargs="*", type=int, metavar="SESSION_ID", help="arena sessions in this workspace")
    r.add_argument("--votes", help="the Arena page's votes CSV (model_a, model_b, winner, rater, item, ...)")
    r.add_argument("--items", help="the Arena page's ITEMS.jsonl download beside it")
    r.add_argument("--out", required=True, help="where to write the pairs (OpenAI preference JSONL)")
    r.add_argument("--json", action="store_true", help="print only a JSON object on stdout")


COMMANDS = {
    "ratings": Command(
        "Bradley-Terry ratings with bootstrap intervals from a votes CSV", _ratings, _ratings_arguments
    ),
    "preferences": Command(
        "preference pairs (OpenAI DPO JSONL) from arena votes", _preferences, _preferences_arguments
    ),
}


def main(argv: list[str] | None = None) -> int:
    return dispatch("python -m core.arena", __doc__, COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
