"""Splits: ratios, determinism, stratification, non-empty splits; leakage across splits and its fix.

Run: `.venv/bin/pytest tests/unit/test_split.py -q`.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from core.data import split as sp


def unit_rows(n: int, seed: int = 0, dim: int = 32) -> np.ndarray:
    """Random unit vectors: in 32 dimensions two of them have |cosine| well under 0.95."""
    x = np.random.default_rng(seed).normal(size=(n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def near_copy(v: np.ndarray, seed: int = 1) -> np.ndarray:
    w = v + 0.05 * np.random.default_rng(seed).normal(size=v.shape)
    return w / np.linalg.norm(w)


def sizes(splits: dict[str, list[int]]) -> tuple[int, ...]:
    return tuple(len(splits[name]) for name in sp.SPLITS)


# Largest remainder, by hand: n=7 -> 5.6 / 0.7 / 0.7 -> floors 5/0/0 and the two leftover rows go
# to the larger fractions (0.7, 0.7); n=10 -> 8/1/1 exactly; n=3 -> 2.4 / 0.3 / 0.3 -> the leftover
# row goes to train (0.4), then validation and test each take one from train: 1/1/1.
@pytest.mark.parametrize("n, expected", [(100, (80, 10, 10)), (10, (8, 1, 1)), (7, (5, 1, 1)), (3, (1, 1, 1))])
def test_sizes_follow_the_ratios(n, expected):
    assert sizes(sp.split(list(range(n)))) == expected


def test_split_is_a_partition_and_deterministic():
    data = list(range(50))
    a, b, c = sp.split(data, seed=3), sp.split(data, seed=3), sp.split(data, seed=4)
    assert a == b and a != c
    rows = [r for name in sp.SPLITS for r in a[name]]
    assert sorted(rows) == list(range(50))


@pytest.mark.parametrize("n", range(3, 25))
def test_every_split_is_non_empty_from_three_rows(n):
    assert min(sizes(sp.split(list(range(n)), seed=n))) >= 1


def test_custom_ratios_and_a_zero_split():
    assert sizes(sp.split(list(range(20)), ratios=(0.5, 0.5, 0))) == (10, 10, 0)
    with pytest.raises(ValueError, match="three non-negative numbers"):
        sp.split([1, 2, 3], ratios=(0.8, -0.1, 0.3))
    with pytest.raises(ValueError, match="2 labels for 3 examples"):
        sp.split([1, 2, 3], strata=["a", "b"])


def test_stratified_split_gives_each_stratum_its_share():
    strata = ["a"] * 50 + ["b"] * 50
    out = sp.split(list(range(100)), seed=7, strata=strata)
    # Half of the evenly spread slots fall in each stratum: 40 train, 5 validation, 5 test.
    for name, share in (("train", 40), ("validation", 5), ("test", 5)):
        assert Counter(strata[r] for r in out[name]) == {"a": share, "b": share}


def test_stratified_split_with_uneven_strata():
    strata = ["big"] * 60 + ["mid"] * 30 + ["small"] * 10
    out = sp.split(list(range(100)), seed=2, strata=strata)
    got = Counter(strata[r] for r in out["validation"])
    # Expected validation rows: 10% of each stratum, i.e. 6 / 3 / 1, give or take one.
    for label, expected in (("big", 6), ("mid", 3), ("small", 1)):
        assert abs(got[label] - expected) <= 1


def planted_leak(n: int = 40) -> tuple[np.ndarray, dict[str, list[int]], int, int]:
    vectors = unit_rows(n)
    splits = sp.split(list(range(n)), seed=0)
    a, b = splits["train"][0], splits["test"][0]
    vectors[b] = near_copy(vectors[a])
    return vectors, splits, a, b


def test_leakage_finds_the_planted_straddling_pair():
    vectors, splits, a, b = planted_leak()
    pairs = sp.leakage(vectors, splits)
    assert [(p[0], p[1], p[2], p[3]) for p in pairs] == [(a, "train", b, "test")]
    assert pairs[0][4] == pytest.approx(float(vectors[a] @ vectors[b]))
    assert pairs[0][4] >= 0.95


def test_search_matches_a_naive_cross_split_scan():
    vectors, splits, _, _ = planted_leak()
    naive = set()
    order = list(splits)
    for ia, a in enumerate(order):
        for b in order[ia + 1 :]:
            for ra in splits[a]:
                for rb in splits[b]:
                    if float(vectors[ra] @ vectors[rb]) >= 0.3:
                        naive.add((ra, a, rb, b))
    found = sp.leakage(vectors, splits, threshold=0.3)
    assert {p[:4] for p in found} == naive
    assert len(naive) > 1  # a low threshold finds chance pairs too


def test_exact_keys_leak_with_cosine_one():
    splits = {"train": [0, 1], "validation": [2], "test": [3]}
    keys = ["x", "y", "z", "y"]
    assert sp.leakage(None, splits, exact_keys=keys) == [(1, "train", 3, "test", 1.0)]


def test_fix_leakage_moves_or_drops_the_held_out_member():
    vectors, splits, a, b = planted_leak()
    pairs = sp.leakage(vectors, splits)
    moved = sp.fix_leakage(splits, pairs)
    assert b in moved["train"] and b not in moved["test"]
    assert sizes(moved) == (sizes(splits)[0] + 1, sizes(splits)[1], sizes(splits)[2] - 1)
    assert sp.leakage(vectors, moved) == []
    dropped = sp.fix_leakage(splits, pairs, mode="drop")
    assert all(b not in rows for rows in dropped.values()) and sum(sizes(dropped)) == 39
    assert sp.leakage(vectors, dropped) == []


def test_fix_leakage_follows_chains_to_the_earliest_split():
    splits = {"train": [0, 1], "validation": [2, 3], "test": [4, 5]}
    pairs = [(0, "train", 2, "validation", 0.97), (2, "validation", 4, "test", 0.96)]
    assert sp.fix_leakage(splits, pairs) == {"train": [0, 1, 2, 4], "validation": [3], "test": [5]}
    with pytest.raises(ValueError, match='"move" or "drop"'):
        sp.fix_leakage(splits, pairs, mode="swap")


def test_leakage_rejects_too_few_vectors():
    with pytest.raises(ValueError, match="row 3 but there are only 2 vectors"):
        sp.leakage(unit_rows(2), {"train": [0], "test": [3]})
