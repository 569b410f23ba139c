"""A session's results as plain data: ratings, win rates, rater bias, agreement and ROUGE-L beside them.

Everything here is computed from core.arena (votes, Bradley-Terry, agreement) and core.eval
(ROUGE-L of the cached answers the raters saw); report.py draws it. No Streamlit here.
Test: `pytest tests/app/test_arena_page.py`.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import pandas as pd

from core.arena import agreement, ratings, sessions
from core.eval import metrics

BOOTSTRAP_ROUNDS = 100
BIAS_MIN_VOTES = 10
# 75% or more of decisive votes on one side: a fair coin does that under 6% of the time at 10 votes.
BIAS_DISTANCE = 0.25
# Landis & Koch (1977): below 0 is "poor"; from 0, the upper bound of each band.
LANDIS_KOCH = (
    (0.2, "slight"),
    (0.4, "fair"),
    (0.6, "moderate"),
    (0.8, "substantial"),
    (1.0, "almost perfect"),
)
CSV_FIELDS = (
    "model",
    "rating",
    "ci_low",
    "ci_high",
    "rank_ub",
    "votes",
    "wins",
    "losses",
    "ties",
    "both_bad",
    "rouge_l",
)


@dataclass(frozen=True)
class Results:
    votes: list[dict]
    leaderboard: list[dict]
    win: dict | None  # two candidates only: the leader's win rate over the other
    matrix: pd.DataFrame | None
    raters: list[dict]
    agreement: dict
    rouge: dict[str, float]
    order: dict | None  # do ROUGE-L and the raters rank the candidates the same way?


def landis_koch(kappa: float | None) -> str:
    """The band's name for a kappa (or alpha) value; '' when there is none."""
    if kappa is None:
        return ""
    if kappa < 0:
        return "poor"
    return next((name for bound, name in LANDIS_KOCH if kappa <= bound), LANDIS_KOCH[-1][1])


def biased(row: dict) -> bool:
    """A rater who picks one side far more often than 0.5, on enough votes to say so."""
    left = row.get("left_rate")
    return left is not None and row["votes"] >= BIAS_MIN_VOTES and abs(left - 0.5) >= BIAS_DISTANCE


def rouge_by_label(session: sessions.Session) -> dict[str, float]:
    """Mean ROUGE-L F of each candidate's answers, as stored in the session, against the references."""
    references, answers = sessions.item_texts(session.id)
    labels = {c.key: c.label for c in session.candidates}
    out = {}
    for key, texts in answers.items():
        if key in labels and texts and len(texts) == len(references):
            scores = metrics.rouge_l(references, texts)
            out[labels[key]] = sum(scores) / len(scores)
    return out


def _order(board: list[dict], rouge: dict[str, float]) -> dict | None:
    human = [row["model"] for row in board if row["model"] in rouge]
    if len(human) < 2:
        return None
    by_metric = sorted(human, key=lambda m: (-rouge[m], m))
    return ratings.order_agreement(human, by_metric) | {"human": human, "metric": by_metric}


def _win(board: list[dict], votes: list[dict], n_candidates: int) -> dict | None:
    if n_candidates != 2 or len(board) != 2:
        return None
    return ratings.win_rate(votes, board[0]["model"], board[1]["model"])


def compute(session: sessions.Session, rouge: dict[str, float] | None = None) -> Results:
    votes = sessions.vote_rows(session.id)
    board = ratings.leaderboard(votes, rounds=BOOTSTRAP_ROUNDS) if votes else []
    order = [row["model"] for row in board]
    rouge = rouge or {}
    return Results(
        votes=votes,
        leaderboard=board,
        win=_win(board, votes, len(session.candidates)),
        matrix=ratings.win_matrix(votes, order=order) if votes else None,
        raters=[r | {"biased": biased(r)} for r in ratings.rater_stats(votes)],
        agreement=agreement.from_votes([v for v in votes if v["overlap"]]),
        rouge=rouge,
        order=_order(board, rouge),
    )


def leaderboard_table(res: Results) -> pd.DataFrame:
    """The leaderboard as people read it: whole ratings, the interval as text, the tallies."""
    rows = [
        {
            "Rank (UB)": r["rank_ub"],
            "Candidate": r["model"],
            "Rating": f"{r['rating']:.0f}",
            "95% interval": f"{r['ci_low']:.0f} to {r['ci_high']:.0f}",
            "Votes": r["votes"],
            "Wins": r["wins"],
            "Losses": r["losses"],
            "Ties": r["ties"],
        }
        for r in res.leaderboard
    ]
    return pd.DataFrame(rows).set_index("Rank (UB)") if rows else pd.DataFrame()


def rouge_table(res: Results) -> pd.DataFrame:
    """ROUGE-L per candidate, best first, with the human rank for the same candidate."""
    human = {r["model"]: k + 1 for k, r in enumerate(res.leaderboard)}
    rows = [
        {"Candidate": m, "ROUGE-L": f"{s:.3f}", "Human rank": human.get(m, "-")}
        for m, s in sorted(res.rouge.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    return pd.DataFrame(rows)


def results_csv(res: Results) -> str:
    """One line per candidate: rating, interval, Rank (UB), tallies, and its ROUGE-L."""
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_FIELDS, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in res.leaderboard:
        score = res.rouge.get(row["model"])
        writer.writerow(row | {"rouge_l": "" if score is None else round(score, 4)})
    return out.getvalue()
