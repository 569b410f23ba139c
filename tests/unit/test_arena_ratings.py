"""Bradley-Terry ratings, bootstrap intervals, win rates and rater statistics (core.arena.ratings)."""

import math

import numpy as np
import pandas as pd
import pytest

from core.arena import ratings

TRUE = {"a": 1000, "b": 1050, "c": 1100, "d": 1150, "e": 1200, "f": 1300}


def generate(true: dict[str, float], n: int, seed: int, tie: float = 0.1) -> list[dict]:
    """Votes from the Bradley-Terry formula; ties are drawn so that P(win) + P(tie)/2 = P(a beats b)."""
    rng = np.random.default_rng(seed)
    names = np.array(list(true))
    r = np.array(list(true.values()), dtype=float)
    i = rng.integers(len(names), size=n)
    j = (i + rng.integers(1, len(names), size=n)) % len(names)  # a different opponent, uniformly
    p = 1 / (1 + 10 ** ((r[j] - r[i]) / 400))
    tied = rng.random(n) < tie
    a_wins = rng.random(n) < (p - tie / 2) / (1 - tie)
    winner = np.where(tied, np.where(rng.random(n) < 0.5, "tie", "both_bad"), np.where(a_wins, "model_a", "model_b"))
    return [{"model_a": a, "model_b": b, "winner": w} for a, b, w in zip(names[i], names[j], winner, strict=True)]


def repeat(model_a: str, model_b: str, winner: str, times: int) -> list[dict]:
    return [{"model_a": model_a, "model_b": model_b, "winner": winner}] * times


def test_recovers_known_ratings_within_their_intervals():
    board = ratings.leaderboard(generate(TRUE, 6000, seed=7), rounds=100, seed=1)
    # Ratings are anchored at mean 1000; the truth has mean 1133.33, so shift it to the same anchor.
    truth = {m: r - np.mean(list(TRUE.values())) + 1000 for m, r in TRUE.items()}
    inside = [row["ci_low"] <= truth[row["model"]] <= row["ci_high"] for row in board]
    assert sum(inside) >= 5
    for row in board:
        half = (row["ci_high"] - row["ci_low"]) / 2
        assert abs(row["rating"] - truth[row["model"]]) <= 2 * half
    assert [row["model"] for row in board] == ["f", "e", "d", "c", "b", "a"]
    assert np.mean([row["rating"] for row in board]) == pytest.approx(1000, abs=1e-6)


def test_two_candidates_closed_form():
    # a wins 30 of 40: the MLE has P = 0.75, so R_a - R_b = 400 * log10(0.75 / 0.25) = 190.85,
    # split evenly around the 1000 anchor.
    votes = repeat("a", "b", "model_a", 15) + repeat("b", "a", "model_b", 15) + repeat("a", "b", "model_b", 10)
    fitted = ratings.fit(votes, l2=1e-9)
    gap = 400 * math.log10(3)
    assert fitted["a"] == pytest.approx(1000 + gap / 2, abs=0.01)
    assert fitted["b"] == pytest.approx(1000 - gap / 2, abs=0.01)


def test_fifty_fifty_and_all_ties_give_equal_ratings():
    even = repeat("x", "y", "model_a", 20) + repeat("x", "y", "model_b", 20)
    ties = repeat("x", "y", "tie", 5) + repeat("y", "x", "both_bad", 5)
    for votes in (even, ties):
        fitted = ratings.fit(votes)
        assert fitted["x"] == pytest.approx(1000, abs=1e-6) and fitted["y"] == pytest.approx(1000, abs=1e-6)


def test_a_candidate_that_wins_every_vote_stays_finite_at_the_stationary_point():
    n, l2 = 10, 0.1
    fitted = ratings.fit(repeat("champ", "other", "model_a", n), l2=l2)
    assert math.isfinite(fitted["champ"]) and fitted["champ"] > fitted["other"]
    # With beta_champ = -beta_other = b, the penalised loss is minimal where
    # n * ln10 * (1 - sigmoid(2 * ln10 * b)) = 2 * l2 * b (its derivative in beta_champ is zero).
    b = (fitted["champ"] - 1000) / 400
    lhs = n * math.log(10) / (1 + math.exp(2 * math.log(10) * b))
    assert lhs == pytest.approx(2 * l2 * b, rel=1e-4)
    # Without the penalty the same log runs far away: the L2 term is what keeps it in range.
    free = ratings.fit(repeat("champ", "other", "model_a", n), l2=0.0)
    assert free["champ"] - free["other"] > 2 * (fitted["champ"] - fitted["other"])


def test_rounds_fitted_together_match_separate_fits():
    # Three models, pairs (0,1), (0,2), (1,2); each row of w/s is its own data set.
    i, j = np.array([0, 0, 1]), np.array([1, 2, 2])
    w = np.array([[10.0, 8.0, 6.0], [20.0, 5.0, 9.0], [4.0, 4.0, 4.0]])
    s = np.array([[7.0, 6.0, 2.5], [9.0, 1.0, 6.0], [2.0, 2.0, 2.0]])
    together = ratings.fit_pairs(3, i, j, w, s, l2=0.1)
    for k in range(3):
        assert together[k] == pytest.approx(ratings.fit_pairs(3, i, j, w[k], s[k], l2=0.1), abs=1e-5)
    # The last row is even everywhere, so its strengths are all zero.
    assert together[2] == pytest.approx(np.zeros(3), abs=1e-6)


def test_unbeaten_candidate_in_a_bigger_field_ranks_first():
    votes = generate({"x": 1000, "y": 1100}, 200, seed=3)
    votes += repeat("champ", "x", "model_a", 30) + repeat("y", "champ", "model_b", 30)
    board = ratings.leaderboard(votes, rounds=20)
    assert board[0]["model"] == "champ" and all(math.isfinite(row["ci_high"]) for row in board)


def test_rank_ub_on_hand_made_intervals():
    intervals = {"A": (1100, 1200), "B": (1050, 1150), "C": (900, 1000), "D": (950, 1060)}
    # A, B: no lower bound above 1200 / 1150 -> 1. C: A (1100) and B (1050) are above 1000 -> 3.
    # D: only A's 1100 is above 1060 (B's 1050 is not) -> 2.
    assert ratings.rank_ub(intervals) == {"A": 1, "B": 1, "C": 3, "D": 2}


def test_leaderboard_counts_votes_from_both_sides():
    votes = (
        repeat("p", "q", "model_a", 3)
        + repeat("q", "p", "model_a", 1)
        + repeat("q", "p", "both_bad", 2)
        + repeat("r", "p", "tie", 1)
    )
    rows = {row["model"]: row for row in ratings.leaderboard(votes, rounds=10)}
    # p: 7 votes; wins 3 (left); losses 1 (q won on the left); ties 2 both_bad + 1 tie.
    assert {k: rows["p"][k] for k in ("votes", "wins", "losses", "ties", "both_bad")} == {
        "votes": 7,
        "wins": 3,
        "losses": 1,
        "ties": 3,
        "both_bad": 2,
    }
    assert rows["r"]["votes"] == 1 and rows["r"]["ties"] == 1
    assert all(row["ci_low"] <= row["ci_high"] for row in rows.values())


def test_leaderboard_accepts_a_dataframe_and_is_seeded():
    df = pd.DataFrame(generate(TRUE, 500, seed=2))
    assert ratings.leaderboard(df, rounds=30, seed=4) == ratings.leaderboard(df.to_dict("records"), rounds=30, seed=4)


def test_win_rate_counts_ties_half_with_a_wilson_interval():
    votes = (
        repeat("base", "tuned", "model_b", 15)
        + repeat("tuned", "base", "model_a", 15)
        + repeat("tuned", "base", "model_b", 10)
        + repeat("base", "tuned", "tie", 6)
        + repeat("tuned", "base", "both_bad", 4)
        + repeat("base", "other", "model_a", 5)
    )
    out = ratings.win_rate(votes, "tuned", "base")
    # 30 wins, 10 losses, 10 ties: (30 + 5) / 50 = 0.7. Wilson with z = 1.96, n = 50:
    # centre = (0.7 + 1.9208/50) / (1 + 3.8415/50) = 0.68572,
    # half = 1.96 / 1.07683 * sqrt(0.7 * 0.3 / 50 + 3.8415 / 10000) = 0.12323.
    assert (out["n"], out["wins"], out["losses"], out["ties"]) == (50, 30, 10, 10)
    assert out["win_rate"] == pytest.approx(0.7)
    assert out["ci_low"] == pytest.approx(0.5625, abs=1e-3) and out["ci_high"] == pytest.approx(0.8090, abs=1e-3)
    boot = ratings.win_rate(votes, "tuned", "base", rounds=1000, method="bootstrap")
    assert 0 <= boot["ci_low"] < 0.7 < boot["ci_high"] <= 1
    assert ratings.win_rate(votes, "tuned", "other")["win_rate"] is None


def test_win_matrix_on_a_hand_log():
    votes = repeat("x", "y", "model_a", 2) + repeat("y", "x", "model_a", 1) + repeat("x", "y", "tie", 1)
    votes += repeat("y", "z", "model_a", 1)
    m = ratings.win_matrix(votes)
    # x vs y: 2 wins + half of 1 tie over 4 votes = 0.625; y vs x the rest; y beat z once.
    assert m.loc["x", "y"] == pytest.approx(0.625) and m.loc["y", "x"] == pytest.approx(0.375)
    assert m.loc["y", "z"] == 1.0 and m.loc["z", "y"] == 0.0
    assert np.isnan(m.loc["x", "z"]) and np.isnan(m.loc["x", "x"])
    assert list(ratings.win_matrix(votes, order=["z", "y", "x"]).index) == ["z", "y", "x"]


def test_rater_stats_left_rate_and_tie_rates():
    rows = [{"rater": "r1", "choice": c} for c in ("left", "left", "left", "right", "tie")]
    rows += [{"rater": "r2", "choice": "both_bad"}, {"rater": "r2", "winner": "tie"}]
    stats = {s["rater"]: s for s in ratings.rater_stats(rows)}
    # r1: 3 of 4 decisive votes went left; 1 tie in 5 votes.
    assert stats["r1"] == {
        "rater": "r1",
        "votes": 5,
        "left_rate": 0.75,
        "tie_rate": 0.2,
        "both_bad_rate": 0.0,
    }
    assert stats["r2"]["left_rate"] is None and stats["r2"]["both_bad_rate"] == 0.5
    with pytest.raises(ValueError, match="row 0"):
        ratings.rater_stats([{"rater": "r1", "choice": "middle"}])


def test_order_agreement():
    same = ratings.order_agreement(["a", "b", "c"], ["a", "b", "c"])
    assert same["kendall_tau"] == pytest.approx(1) and same["same_winner"] and same["same_order"]
    # Last two swapped among 4: 1 discordant pair of 6 -> tau = 1 - 2/6 = 2/3;
    # rank differences (0, 0, 1, 1) -> rho = 1 - 6 * 2 / (4 * 15) = 0.8.
    swapped = ratings.order_agreement(["a", "b", "c", "d"], ["a", "b", "d", "c"])
    assert swapped["kendall_tau"] == pytest.approx(2 / 3) and swapped["spearman_rho"] == pytest.approx(0.8)
    assert swapped["same_winner"] and not swapped["same_order"]
    reverse = ratings.order_agreement(["a", "b", "c"], ["c", "b", "a"])
    assert reverse["spearman_rho"] == pytest.approx(-1) and not reverse["same_winner"]
    with pytest.raises(ValueError, match="e"):
        ratings.order_agreement(["a", "b"], ["a", "e"])


def test_bad_votes_name_the_vote():
    with pytest.raises(ValueError, match="vote 1: winner 'left'"):
        ratings.fit(repeat("a", "b", "model_a", 1) + repeat("a", "b", "left", 1))
    with pytest.raises(ValueError, match="vote 0: model_a and model_b"):
        ratings.fit(repeat("a", "a", "tie", 1))
    with pytest.raises(ValueError, match="winner"):
        ratings.fit([{"model_a": "a", "model_b": "b"}])
    assert ratings.fit([]) == {} and ratings.leaderboard([]) == []


def test_read_votes_csv_keeps_extra_columns(tmp_path):
    f = tmp_path / "votes.csv"
    f.write_text("\ufeffmodel_a,model_b,winner,rater\nx,y,model_a,ann\n\ny,x,both_bad,bob\n", encoding="utf-8")
    assert ratings.read_votes_csv(f) == [
        {"model_a": "x", "model_b": "y", "winner": "model_a", "rater": "ann"},
        {"model_a": "y", "model_b": "x", "winner": "both_bad", "rater": "bob"},
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("model_a,model_b,winner\n", "no votes"),
        ("model_a,winner\nx,model_a\n", "line 1: missing column.*model_b"),
        ("model_a,model_b,winner\nx,y,model_a\nx,y,A\n", "line 3, column winner: 'A'"),
        ("model_a,model_b,winner\nx,,tie\n", "line 2, column model_b: empty"),
        ("model_a,model_b,winner\nx,x,tie\n", "line 2, column model_b: same model"),
    ],
)
def test_read_votes_csv_errors_name_file_line_and_column(tmp_path, text, message):
    f = tmp_path / "votes.csv"
    f.write_text(text)
    with pytest.raises(ValueError, match=message) as err:
        ratings.read_votes_csv(f)
    assert "votes.csv" in str(err.value)
