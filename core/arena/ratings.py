"""Ratings from arena votes: Bradley-Terry with bootstrap intervals, win rates, rater position bias.

Model, as Chatbot Arena fits it: P(a beats b) = 1 / (1 + 10^((R_b - R_a) / 400)), R = 400 * beta + 1000.
A "tie" and a "both_bad" vote each count as half a win each way (Chatbot Arena folds "tie (bothbad)"
into ties). The fit minimises the summed log loss plus l2 * sum(beta^2) with L-BFGS and the analytic
gradient. The likelihood ignores a common shift of all strengths, so the L2 term is smallest with
the strengths summing to zero: ratings are anchored with their mean at 1000.
Votes are first counted per (pair, outcome) cell, so a fit costs the same for 100 or 100,000 votes;
a bootstrap round is one multinomial draw over those cells, and all rounds are fitted in one call.

Votes: a list of dicts or a DataFrame with model_a, model_b, winner (one of core.arena.WINNERS).
Tests: `.venv/bin/pytest tests/unit/test_arena_ratings.py`; speed: `.venv/bin/python bench/arena.py`.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from core.arena import WINNERS

LN10 = math.log(10.0)
SCALE, ANCHOR = 400.0, 1000.0
# A weak Gaussian prior (sd about 2.2 in beta, ~900 rating points): keeps a model that wins every
# vote finite, and shifts ratings by well under a point once there are a few hundred votes.
DEFAULT_L2 = 0.1
Z95 = 1.959963984540054  # the standard normal's 97.5th percentile
# Score of model_a for each winner value; both_bad is a tie.
SCORE = {"model_a": 1.0, "model_b": 0.0, "tie": 0.5, "both_bad": 0.5}
CHOICE_OF_WINNER = {"model_a": "left", "model_b": "right", "tie": "tie", "both_bad": "both_bad"}
CHOICES = ("left", "right", "tie", "both_bad")


@dataclass
class Cells:
    """Votes counted per (pair, outcome): pair p is models[i[p]] vs models[j[p]] with i < j."""

    models: list[str]
    i: np.ndarray  # per pair
    j: np.ndarray  # per pair
    cell_pair: np.ndarray  # per cell: its pair
    cell_score: np.ndarray  # per cell: score of models[i] (1, 0.5 or 0)
    counts: np.ndarray  # per cell: number of votes


def votes_frame(votes) -> pd.DataFrame:
    """Votes as a checked DataFrame; a ValueError names the first bad vote (0-based)."""
    df = votes.copy() if isinstance(votes, pd.DataFrame) else pd.DataFrame(list(votes))
    if df.empty:
        return pd.DataFrame(columns=["model_a", "model_b", "winner"])
    missing = [c for c in ("model_a", "model_b", "winner") if c not in df.columns]
    if missing:
        raise ValueError(f"votes lack the column(s) {', '.join(missing)}")
    for col in ("model_a", "model_b"):
        bad = df[col].isna() | (df[col].astype(str).str.strip() == "")
        if bad.any():
            raise ValueError(f"vote {_first(bad)}: {col} is empty")
        df[col] = df[col].astype(str)
    bad = ~df["winner"].isin(WINNERS)
    if bad.any():
        value = df["winner"][bad].iloc[0]
        raise ValueError(f"vote {_first(bad)}: winner {value!r} is not one of {', '.join(WINNERS)}")
    same = df["model_a"] == df["model_b"]
    if same.any():
        raise ValueError(f"vote {_first(same)}: model_a and model_b are both {df['model_a'][same].iloc[0]!r}")
    return df


def _first(mask: pd.Series) -> int:
    return int(np.flatnonzero(mask.to_numpy())[0])


def cells(votes) -> Cells:
    """Count votes per unordered pair and outcome (a vote b-vs-a is stored as a-vs-b flipped)."""
    df = votes_frame(votes)
    models = sorted(set(df["model_a"]) | set(df["model_b"]))
    index = {m: k for k, m in enumerate(models)}
    a = df["model_a"].map(index).to_numpy(np.int64)
    b = df["model_b"].map(index).to_numpy(np.int64)
    score = df["winner"].map(SCORE).to_numpy(float)
    flip = a > b
    lo, hi = np.where(flip, b, a), np.where(flip, a, b)
    score = np.where(flip, 1.0 - score, score)
    # Outcome code 0/1/2 for score 1/0.5/0 keeps the key an integer.
    key = (lo * len(models) + hi) * 3 + np.rint(2 - 2 * score).astype(np.int64)
    uniq, counts = np.unique(key, return_counts=True)
    pair_key, cell_pair = np.unique(uniq // 3, return_inverse=True)
    return Cells(
        models=models,
        i=pair_key // len(models),
        j=pair_key % len(models),
        cell_pair=cell_pair,
        cell_score=1.0 - (uniq % 3) / 2.0,
        counts=counts.astype(float),
    )


def fit_pairs(n, i, j, w, s, l2, x0=None) -> np.ndarray:
    """Strengths beta (log10 units, mean 0) maximising the penalised likelihood of s wins in w games.

    Pair p is model i[p] against model j[p]. w and s are (pairs,) for one fit, or (rounds, pairs)
    for independent fits solved in one L-BFGS call: the objective is a sum of separate blocks, so
    its minimum is each round's own minimum (this avoids scipy's per-call overhead in a bootstrap).
    """
    # Imported here: reading votes, win rates and the CLI's error paths need not pay scipy's import time.
    from scipy import optimize

    w2, s2 = np.atleast_2d(w), np.atleast_2d(s)
    rounds, pairs = w2.shape
    incidence = np.zeros((pairs, n))
    incidence[np.arange(pairs), i] += 1.0
    incidence[np.arange(pairs), j] -= 1.0
    # Divided by one round's vote count so L-BFGS tolerances mean the same for any data size.
    total = max(float(w2.sum()) / rounds, 1.0)

    def loss_grad(flat):
        beta = flat.reshape(rounds, n)
        d = LN10 * beta @ incidence.T
        # -log p = logaddexp(0, -d) and -log(1 - p) = logaddexp(0, d): stable for large |d|.
        loss = np.sum(s2 * np.logaddexp(0.0, -d) + (w2 - s2) * np.logaddexp(0.0, d)) + l2 * np.sum(beta * beta)
        g = LN10 * (w2 * np.exp(-np.logaddexp(0.0, -d)) - s2)  # w * sigmoid(d) - s
        return loss / total, (g @ incidence + 2.0 * l2 * beta).ravel() / total

    start = np.zeros(rounds * n) if x0 is None else np.tile(x0, rounds)
    options = {"gtol": 1e-9, "ftol": 1e-12}
    beta = optimize.minimize(loss_grad, start, jac=True, method="L-BFGS-B", options=options).x.reshape(rounds, n)
    beta -= beta.mean(axis=1, keepdims=True)
    return beta if np.ndim(w) == 2 else beta[0]


def _fit_counts(c: Cells, counts: np.ndarray, l2: float, x0=None) -> np.ndarray:
    """Fit from cell counts: (cells,) for one fit, (rounds, cells) for one per round."""
    to_pair = np.zeros((len(c.counts), len(c.i)))
    to_pair[np.arange(len(c.counts)), c.cell_pair] = 1.0
    w = counts @ to_pair
    s = (counts * c.cell_score) @ to_pair
    return fit_pairs(len(c.models), c.i, c.j, w, s, l2, x0)


def to_rating(beta: np.ndarray) -> np.ndarray:
    return SCALE * beta + ANCHOR


def fit(votes, l2: float = DEFAULT_L2) -> dict[str, float]:
    """Bradley-Terry ratings {model: rating}, mean 1000; {} for no votes."""
    c = cells(votes)
    if not c.models:
        return {}
    beta = _fit_counts(c, c.counts, l2)
    return dict(zip(c.models, to_rating(beta).tolist(), strict=True))


def bootstrap(c: Cells, rounds: int, seed: int, l2: float, x0: np.ndarray) -> np.ndarray:
    """Ratings (rounds x models) refitted on multinomial resamples of the vote cells."""
    rng = np.random.default_rng(seed)
    n = int(c.counts.sum())
    draws = rng.multinomial(n, c.counts / n, size=rounds).astype(float)
    return to_rating(_fit_counts(c, draws, l2, x0))


def rank_ub(intervals: dict[str, tuple[float, float]]) -> dict[str, int]:
    """Rank (UB): 1 + number of models whose lower bound is above this model's upper bound."""
    lows = np.array([lo for lo, _ in intervals.values()])
    return {m: 1 + int(np.sum(lows > hi)) for m, (_, hi) in intervals.items()}


def tallies(votes) -> dict[str, dict[str, int]]:
    """Per model: votes taken part in, wins, losses, ties (both_bad counted as a tie too)."""
    df = votes_frame(votes)
    out: dict[str, dict[str, int]] = {}
    # A model on side "model_a" won when winner == "model_a", and lost when the other side won.
    for won, lost in (("model_a", "model_b"), ("model_b", "model_a")):
        for model, w in df.groupby(won)["winner"]:
            t = out.setdefault(model, {"votes": 0, "wins": 0, "losses": 0, "ties": 0, "both_bad": 0})
            t["votes"] += len(w)
            t["wins"] += int((w == won).sum())
            t["losses"] += int((w == lost).sum())
            t["ties"] += int(w.isin(("tie", "both_bad")).sum())
            t["both_bad"] += int((w == "both_bad").sum())
    return out


def leaderboard(votes, rounds: int = 100, seed: int = 0, l2: float = DEFAULT_L2) -> list[dict]:
    """Rows best first: model, rating, ci_low, ci_high (2.5/97.5 bootstrap percentiles), votes,
    wins, losses, ties, both_bad, rank_ub."""
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds}")
    c = cells(votes)
    if not c.models:
        return []
    beta = _fit_counts(c, c.counts, l2)
    boot = bootstrap(c, rounds, seed, l2, beta)
    low, high = np.percentile(boot, [2.5, 97.5], axis=0)
    ranks = rank_ub({m: (low[k], high[k]) for k, m in enumerate(c.models)})
    counts = tallies(votes)
    rows = [
        {
            "model": m,
            "rating": float(r),
            "ci_low": float(lo),
            "ci_high": float(hi),
            **counts[m],
            "rank_ub": ranks[m],
        }
        for m, r, lo, hi in zip(c.models, to_rating(beta), low, high, strict=True)
    ]
    return sorted(rows, key=lambda row: (-row["rating"], row["model"]))


def wilson(score: float, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a proportion score/n (score may be fractional: ties count half)."""
    p, z2 = score / n, z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def win_rate(votes, a: str, b: str, rounds: int = 1000, seed: int = 0, method: str = "wilson") -> dict:
    """a's win rate over b in their head-to-head votes (either side), ties and both_bad count half.

    method "wilson": Wilson score interval on (wins + ties/2) / n. A half-scored tie varies less
    than a coin flip, so with many ties the interval is conservative. method "bootstrap":
    2.5/97.5 percentiles of `rounds` multinomial resamples of (wins, losses, ties), seeded.
    """
    df = votes_frame(votes)
    as_a = df[(df["model_a"] == a) & (df["model_b"] == b)]["winner"]
    as_b = df[(df["model_a"] == b) & (df["model_b"] == a)]["winner"]
    wins = int((as_a == "model_a").sum() + (as_b == "model_b").sum())
    losses = int((as_a == "model_b").sum() + (as_b == "model_a").sum())
    n = len(as_a) + len(as_b)
    ties = n - wins - losses
    out = {"a": a, "b": b, "n": n, "wins": wins, "losses": losses, "ties": ties, "method": method}
    if n == 0:
        return out | {"win_rate": None, "ci_low": None, "ci_high": None}
    score = wins + 0.5 * ties
    if method == "wilson":
        low, high = wilson(score, n)
    elif method == "bootstrap":
        draws = np.random.default_rng(seed).multinomial(n, np.array([wins, losses, ties]) / n, size=rounds)
        low, high = np.percentile((draws[:, 0] + 0.5 * draws[:, 2]) / n, [2.5, 97.5])
    else:
        raise ValueError(f"method must be 'wilson' or 'bootstrap', got {method!r}")
    return out | {"win_rate": score / n, "ci_low": float(low), "ci_high": float(high)}


def win_matrix(votes, order: list[str] | None = None) -> pd.DataFrame:
    """Row model's score against the column model (wins + ties/2 over their votes); NaN if never met."""
    df = votes_frame(votes)
    score = df["winner"].map(SCORE)
    both = pd.DataFrame(
        {
            "model": pd.concat([df["model_a"], df["model_b"]], ignore_index=True),
            "opponent": pd.concat([df["model_b"], df["model_a"]], ignore_index=True),
            "score": pd.concat([score, 1.0 - score], ignore_index=True),
        }
    )
    models = order or sorted(set(both["model"]))
    table = both.pivot_table(index="model", columns="opponent", values="score", aggfunc="mean")
    return table.reindex(index=models, columns=models).astype(float)


def rater_stats(rows) -> list[dict]:
    """Per rater: votes, left_rate (left share of decisive votes: position bias; None if none),
    tie_rate, both_bad_rate. Rows carry rater and choice (left/right/tie/both_bad) or a winner."""
    tally: dict[str, dict[str, int]] = {}
    for k, row in enumerate(rows.to_dict("records") if isinstance(rows, pd.DataFrame) else rows):
        choice = row.get("choice") or CHOICE_OF_WINNER.get(row.get("winner"))
        if choice not in CHOICES:
            raise ValueError(f"row {k}: choice {row.get('choice')!r} is not one of {', '.join(CHOICES)}")
        counts = tally.setdefault(str(row.get("rater")), dict.fromkeys(CHOICES, 0))
        counts[choice] += 1
    return [_rater_row(rater, t) for rater, t in sorted(tally.items())]


def _rater_row(rater: str, t: dict[str, int]) -> dict:
    n, decisive = sum(t.values()), t["left"] + t["right"]
    return {
        "rater": rater,
        "votes": n,
        "left_rate": t["left"] / decisive if decisive else None,
        "tie_rate": t["tie"] / n,
        "both_bad_rate": t["both_bad"] / n,
    }


def order_agreement(human: list[str], metric: list[str]) -> dict:
    """Do two orderings (best first) of the same candidates agree? Kendall tau, Spearman rho, same winner."""
    if len(set(human)) != len(human) or len(set(metric)) != len(metric):
        raise ValueError("an ordering names a candidate twice")
    if set(human) != set(metric):
        only = sorted(set(human) ^ set(metric))
        raise ValueError(f"the orderings rank different candidates: {', '.join(only)} in only one")
    n = len(human)
    out = {"n": n, "same_winner": bool(n) and human[0] == metric[0], "same_order": human == metric}
    if n < 2:
        return out | {"kendall_tau": None, "spearman_rho": None}
    # Position in the metric ordering of each candidate, taken in human order: a permutation, no ties.
    y = np.array([metric.index(m) for m in human])
    d = y - np.arange(n)
    rho = 1.0 - 6.0 * float(d @ d) / (n * (n * n - 1))
    sign = np.sign(y[None, :] - y[:, None])[np.triu_indices(n, 1)]
    tau = float(sign.sum()) / (n * (n - 1) / 2)  # (concordant - discordant) / pairs
    return out | {"kendall_tau": tau, "spearman_rho": rho}


def read_votes_csv(path) -> list[dict]:
    """Votes from a CSV with model_a, model_b, winner (other columns kept).

    ValueError naming the file, line and column: unreadable or empty file, a missing column, an
    empty model name, the same model on both sides, or an unknown winner value.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not UTF-8 text (byte {e.start})") from None
    except OSError as e:
        raise ValueError(f"{path}: cannot read ({e.strerror})") from None
    reader = csv.DictReader(text.splitlines(keepends=True))
    header = [h.strip() for h in (reader.fieldnames or [])]
    if not header:
        raise ValueError(f"{path}: the file is empty (expected a header line model_a,model_b,winner)")
    missing = [c for c in ("model_a", "model_b", "winner") if c not in header]
    if missing:
        raise ValueError(f"{path} line 1: missing column(s) {', '.join(missing)} (found {', '.join(header)})")
    reader.fieldnames = header
    votes = [_csv_vote(path, reader.line_num, row) for row in reader]
    if not votes:
        raise ValueError(f"{path}: a header but no votes")
    return votes


def _csv_vote(path: Path, line: int, row: dict) -> dict:
    row = {k: (v.strip() if isinstance(v, str) else v) for k, v in row.items() if k is not None}
    for col in ("model_a", "model_b"):
        if not row.get(col):
            raise ValueError(f"{path} line {line}, column {col}: empty model name")
    if row["winner"] not in WINNERS:
        raise ValueError(f"{path} line {line}, column winner: {row['winner']!r} is not one of {', '.join(WINNERS)}")
    if row["model_a"] == row["model_b"]:
        raise ValueError(f"{path} line {line}, column model_b: same model as model_a ({row['model_a']!r})")
    return row
