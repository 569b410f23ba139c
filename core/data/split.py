"""Train / validation / test splits, and the near-duplicates that leak across them.

`split(examples, ratios, seed, strata)` returns row indices per split: seeded, deterministic,
optionally stratified by one label per row (e.g. the topic clusters from core.data.quality), and
every split with a positive ratio non-empty once there are rows for it; preference pairs are split by prompt, so
pairs sharing a prompt share a split. `leakage(vectors, splits)`
lists pairs at or above a cosine threshold (and exact duplicates by key) that sit in two different
splits, found with dedup's exact blocked search; `fix_leakage` moves the held-out member of each such
pair into its partner's split, or drops it.
Test: `.venv/bin/pytest tests/unit/test_split.py -q`.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from core.data import preference

SPLITS = ("train", "validation", "test")

Pair = tuple[int, str, int, str, float]  # (row_a, split_a, row_b, split_b, cosine), split_a first


def _counts(n: int, ratios) -> list[int]:
    """Rows per split by largest remainder; a split with a positive ratio gets a row while rows last."""
    r = np.asarray(ratios, dtype=float)
    if r.shape != (3,) or not np.isfinite(r).all() or (r < 0).any() or r.sum() <= 0:
        raise ValueError(f"ratios must be three non-negative numbers (train, validation, test); got {ratios!r}")
    raw = r / r.sum() * n
    counts = np.floor(raw).astype(int)
    for i in np.argsort(-(raw - counts), kind="stable")[: n - counts.sum()]:
        counts[i] += 1
    for i in np.flatnonzero((counts == 0) & (r > 0)):
        donor = int(counts.argmax())
        if counts[donor] > 1:
            counts[donor] -= 1
            counts[i] += 1
    return counts.tolist()


def _slots(counts: list[int]) -> list[int]:
    """Split ids spread evenly over n positions, so any run of rows gets its share of each split."""
    keyed = [((k + 0.5) / c, s) for s, c in enumerate(counts) for k in range(c)]
    return [s for _, s in sorted(keyed)]


def split(examples, ratios=(0.8, 0.1, 0.1), seed: int = 0, strata=None, groups=None) -> dict[str, list[int]]:
    """Row indices for train, validation and test (sorted lists); same inputs, same split.

    groups: one hashable per row; rows sharing one land in one split (the ratios then count groups). None groups
    preference pairs by prompt, so no prompt is in two splits, and leaves chat rows on their own; False: no groups."""
    groups = preference.prompt_groups(examples) if groups is None else groups
    if groups:  # False (or None from a chat set): each row stands alone
        return _by_group(groups, ratios, seed, strata)
    n = len(examples)
    labels = [0] * n if strata is None else list(strata)
    if len(labels) != n:
        raise ValueError(f"strata has {len(labels)} labels for {n} examples")
    counts = _counts(n, ratios)
    rng = np.random.default_rng(seed)
    distinct = list(dict.fromkeys(labels))  # first-seen order keeps this deterministic
    rank = dict(zip(distinct, rng.permutation(len(distinct)).tolist(), strict=True))
    jitter = rng.random(n)
    # Rows grouped by stratum (strata in random order, rows shuffled within); evenly spread slots
    # then give each stratum its proportional share of every split.
    order = sorted(range(n), key=lambda i: (rank[labels[i]], jitter[i]))
    out: dict[str, list[int]] = {name: [] for name in SPLITS}
    for row, s in zip(order, _slots(counts), strict=True):
        out[SPLITS[s]].append(row)
    return {name: sorted(rows) for name, rows in out.items()}


def _by_group(groups: list, ratios, seed: int, strata) -> dict[str, list[int]]:
    first: dict = {}
    for row, group in enumerate(groups):
        first.setdefault(group, row)
    keys = list(first)
    row_labels = None if strata is None else list(strata)
    labels = None if row_labels is None else [row_labels[first[g]] for g in keys]  # a group takes its first row's
    parts = split(range(len(keys)), ratios, seed, labels, groups=False)
    where = {keys[i]: name for name, members in parts.items() for i in members}
    out: dict[str, list[int]] = {name: [] for name in SPLITS}
    for row, group in enumerate(groups):
        out[where[group]].append(row)
    return out


def _ordered(splits: dict[str, list[int]]) -> list[str]:
    return [s for s in SPLITS if s in splits] + [s for s in splits if s not in SPLITS]


def _exact_pairs(splits, names, keys) -> dict[tuple[int, int], Pair]:
    by_key = defaultdict(list)
    for name in names:
        for row in splits[name]:
            by_key[keys[row]].append((row, name))
    found = {}
    for members in by_key.values():
        for ra, sa in members:
            for rb, sb in members:
                if names.index(sa) < names.index(sb):
                    found[(ra, rb)] = (ra, sa, rb, sb, 1.0)
    return found


def _near_pairs(vectors, splits, names, threshold) -> dict[tuple[int, int], Pair]:
    # The same exact blocked search as near-duplicate detection, between two splits' matrices.
    from core.data import dedup

    found = {}
    for ia, a in enumerate(names):
        rows_a = np.asarray(splits[a], dtype=int)
        for b in names[ia + 1 :]:
            rows_b = np.asarray(splits[b], dtype=int)
            if not len(rows_a) or not len(rows_b):
                continue
            for i, j, cos in dedup.leakage(vectors[rows_a], vectors[rows_b], threshold):
                ra, rb = int(rows_a[i]), int(rows_b[j])
                found[(ra, rb)] = (ra, a, rb, b, float(cos))
    return found


def leakage(vectors, splits: dict[str, list[int]], threshold: float = 0.95, exact_keys=None) -> list[Pair]:
    """Pairs that straddle two splits: cosine >= threshold, or equal exact_keys (cosine 1.0).

    vectors: normalized embeddings, one per row (None to check exact keys only).
    exact_keys: one hashable per row, e.g. the normalized text, or None.
    """
    names = _ordered(splits)
    used = [r for rows in splits.values() for r in rows]
    found = {} if exact_keys is None else _exact_pairs(splits, names, exact_keys)
    if vectors is not None:
        vectors = np.asarray(vectors, dtype=np.float32)
        if used and max(used) >= len(vectors):
            raise ValueError(f"splits refer to row {max(used)} but there are only {len(vectors)} vectors")
        found = {**_near_pairs(vectors, splits, names, threshold), **found}
    return sorted(found.values(), key=lambda p: (-p[4], p[0], p[2]))


def _groups(pairs) -> list[set[int]]:
    """Rows linked by pairs, transitively (a~b and b~c put a, b, c together)."""
    parent: dict[int, int] = {}

    def root(x: int) -> int:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, _, b, _, _ in pairs:
        parent[root(a)] = root(b)
    groups = defaultdict(set)
    for x in list(parent):
        groups[root(x)].add(x)
    return list(groups.values())


def fix_leakage(splits: dict[str, list[int]], pairs, mode: str = "move") -> dict[str, list[int]]:
    """Each linked group ends up in its earliest split (train before validation before test).

    mode "move": the held-out members join that split; "drop": they leave every split.
    """
    if mode not in ("move", "drop"):
        raise ValueError(f'mode must be "move" or "drop", not {mode!r}')
    names = _ordered(splits)
    where = {row: name for name in names for row in splits[name]}
    out = {name: set(rows) for name, rows in splits.items()}
    for group in _groups(pairs):
        members = [r for r in group if r in where]
        if not members:
            continue
        target = min((where[r] for r in members), key=names.index)
        for r in members:
            if where[r] != target:
                out[where[r]].discard(r)
                if mode == "move":
                    out[target].add(r)
    return {name: sorted(rows) for name, rows in out.items()}
