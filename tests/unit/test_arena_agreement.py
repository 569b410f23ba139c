"""Inter-rater agreement: Fleiss' kappa, Krippendorff's alpha, and from_votes (core.arena.agreement)."""

import math

import pytest

from core.arena import agreement

# Fleiss (1971) as worked on Wikipedia: 10 items, 14 raters each, 5 categories.
FLEISS_TABLE = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]


def test_fleiss_kappa_worked_example():
    # Column sums 20, 28, 39, 21, 32 of 140 ratings: P_e = (400 + 784 + 1521 + 441 + 1024) / 140^2
    # = 4170 / 19600. Per item sum(n_ik^2) - 14 over 14 * 13 = 182: numerators 182, 46, 56, 80, 60,
    # 84, 44, 32, 52, 52 sum to 688, so P_bar = 688 / 1820. kappa = (P_bar - P_e) / (1 - P_e) = 0.2099.
    p_bar, p_e = 688 / 1820, 4170 / 19600
    assert agreement.fleiss_kappa(FLEISS_TABLE) == pytest.approx((p_bar - p_e) / (1 - p_e))
    assert agreement.fleiss_kappa(FLEISS_TABLE) == pytest.approx(0.210, abs=5e-4)


def test_fleiss_kappa_small_cases():
    # Two raters. Item 0 agrees (P = 1), item 1 splits (P = 0): P_bar = 0.5; category shares 3/4, 1/4:
    # P_e = 10/16. kappa = (0.5 - 0.625) / 0.375 = -1/3.
    assert agreement.fleiss_kappa([[2, 0], [1, 1]]) == pytest.approx(-1 / 3)
    assert agreement.fleiss_kappa([[3, 0, 0], [0, 3, 0], [0, 0, 3], [3, 0, 0]]) == pytest.approx(1.0)
    # Everyone always chose the same category: chance agreement is total, kappa is 0/0.
    assert math.isnan(agreement.fleiss_kappa([[2, 0], [2, 0]]))


def test_fleiss_kappa_rejects_uneven_rater_counts():
    with pytest.raises(ValueError, match="item 1 has 3 raters, item 0 has 2"):
        agreement.fleiss_kappa([[2, 0], [2, 1]])
    with pytest.raises(ValueError, match="at least two"):
        agreement.fleiss_kappa([[1, 0]])


def test_krippendorff_alpha_hand_case():
    # Pairable units (a,a), (a,b), (b,b); the single-rating unit is ignored. Coincidences: o_aa = 2,
    # o_ab = o_ba = 1, o_bb = 2; n_a = n_b = 3, n = 6. alpha = 1 - (n - 1) * sum_{c!=k} o_ck /
    # sum_{c!=k} n_c n_k = 1 - 5 * 2 / 18 = 4/9.
    units = [["a", "a"], ["a", "b"], ["b", "b"], ["a"], []]
    assert agreement.krippendorff_alpha_nominal(units) == pytest.approx(4 / 9)
    assert agreement.krippendorff_alpha_nominal([["a", "a", "a"], ["b", "b"]]) == pytest.approx(1.0)
    assert math.isnan(agreement.krippendorff_alpha_nominal([["a", "a"], ["a"]]))


def test_krippendorff_alpha_published_example():
    # Krippendorff, "Computing Krippendorff's Alpha-Reliability" (2011): 4 observers, 12 units,
    # missing values (the paper's own worked table), nominal alpha = 0.743.
    observers = [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
        [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
    ]
    units = [[v for v in unit if v is not None] for unit in zip(*observers, strict=True)]
    assert agreement.krippendorff_alpha_nominal(units) == pytest.approx(0.743, abs=5e-4)


def rows_for(ratings_by_item: dict[str, dict[str, str]]) -> list[dict]:
    return [
        {"item": item, "rater": rater, "outcome": outcome}
        for item, by_rater in ratings_by_item.items()
        for rater, outcome in by_rater.items()
    ]


def test_from_votes_on_overlap_items():
    rows = rows_for(
        {
            "i1": {"ann": "base", "bob": "base"},
            "i2": {"ann": "tuned", "bob": "base"},
            "i3": {"ann": "tie", "bob": "tie"},
            "solo": {"ann": "tuned"},
        }
    )
    out = agreement.from_votes(rows)
    assert (out["items"], out["raters"], out["fleiss_items"]) == (3, 2, 3)
    # Two of three overlap items agree.
    assert out["percent_agreement"] == pytest.approx(2 / 3)
    # Table over (base, tie, tuned): [2,0,0], [1,0,1], [0,2,0]. P_bar = (1 + 0 + 1) / 3; shares 3/6,
    # 2/6, 1/6: P_e = (9 + 4 + 1) / 36. kappa = (2/3 - 14/36) / (1 - 14/36) = 10/22.
    assert out["fleiss_kappa"] == pytest.approx(10 / 22)
    assert out["krippendorff_alpha"] == pytest.approx(
        agreement.krippendorff_alpha_nominal([["base", "base"], ["tuned", "base"], ["tie", "tie"]])
    )
    assert "note" not in out


def test_from_votes_uses_modal_rater_count_for_fleiss():
    rows = rows_for(
        {
            "i1": {"ann": "x", "bob": "x"},
            "i2": {"ann": "y", "bob": "y"},
            "i3": {"ann": "x", "bob": "y", "cat": "x"},
        }
    )
    out = agreement.from_votes(rows)
    assert (out["items"], out["raters"], out["fleiss_items"]) == (3, 3, 2)
    assert out["fleiss_kappa"] == pytest.approx(1.0)
    # i3 agrees on 1 of 3 rater pairs (ann-cat): (1 + 1 + 1/3) / 3.
    assert out["percent_agreement"] == pytest.approx(7 / 9)


def test_a_later_vote_replaces_the_earlier_one():
    rows = rows_for({"i1": {"ann": "x", "bob": "x"}, "i2": {"ann": "x", "bob": "y"}})
    rows.append({"item": "i2", "rater": "bob", "outcome": "x"})
    assert agreement.from_votes(rows)["percent_agreement"] == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("rows", "why"),
    [
        ([], "fewer than two raters"),
        (rows_for({"i1": {"ann": "x"}, "i2": {"ann": "y"}}), "fewer than two raters"),
        (rows_for({"i1": {"ann": "x"}, "i2": {"bob": "y"}}), "no item was voted by two"),
    ],
)
def test_too_little_data_gives_none_and_a_note(rows, why):
    out = agreement.from_votes(rows)
    assert out["fleiss_kappa"] is None and out["krippendorff_alpha"] is None and out["percent_agreement"] is None
    assert why in out["note"]


def test_one_outcome_everywhere_is_undefined_not_an_error():
    out = agreement.from_votes(rows_for({"i1": {"ann": "x", "bob": "x"}, "i2": {"ann": "x", "bob": "x"}}))
    assert out["fleiss_kappa"] is None and out["percent_agreement"] == 1.0
    assert "one outcome" in out["note"]


def test_rows_missing_a_field_are_named():
    with pytest.raises(ValueError, match="row 1: missing outcome"):
        agreement.from_votes([{"item": 1, "rater": "a", "outcome": "x"}, {"item": 1, "rater": "b"}])
