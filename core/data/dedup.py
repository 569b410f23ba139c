"""Exact and near-duplicate examples, clusters of them, and which member of each to keep.

Exact: the whole conversation (roles and contents, system included, tool calls and tool results too)
after collapsing whitespace and case, hashed. Near: cosine >= threshold (0.95 by default, the guide's number)
between embedding vectors (core.data.embed), found by an exact blocked matrix product over
the upper triangle: tiles of `block` x `block` float32, so memory stays bounded (16 MB a tile
at the default) whatever the dataset size. Clusters are connected components of the pairs.
Test: `pytest tests/unit/test_dedup.py -q`; benchmark: `python bench/dedup.py`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core import chat
from core.data import embed, preference

THRESHOLD = 0.95
BLOCK = 2048
MAX_PAIRS = 5_000_000  # beyond this the pair list alone would use gigabytes
RULES = ("first", "longest", "shortest")

Pair = tuple[int, int, float]


@dataclass
class Cluster:
    """Rows (0-based, ascending) joined by near-duplicate pairs, with the strongest and the
    weakest pair similarity that joined them."""

    rows: list[int]
    max_sim: float
    min_sim: float


# ---- exact duplicates -----------------------------------------------------------------------


def normalize(text: str) -> str:
    return " ".join(text.split()).casefold()


def _arguments(arguments) -> str:
    """A call's arguments as canonical JSON, so key order and spacing do not make two calls differ."""
    try:
        value = json.loads(arguments) if isinstance(arguments, str) else arguments
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(arguments)


def message_text(message: dict) -> str:
    """A message's text and, after it, each tool call it makes as `name(arguments)`, one a line."""
    text = embed.content_text(message.get("content"))
    if "tool_calls" not in message and "function_call" not in message:  # most messages: skip the calls' work
        return text
    parts = [text]
    for call in chat.tool_calls(message):
        function = call.get("function") if isinstance(call.get("function"), dict) else {}
        parts.append(f"{function.get('name', '')}({_arguments(function.get('arguments'))})")
    return "\n".join(p for p in parts if p)


def example_text(example) -> str:
    """The text near-duplicates are found by: user, assistant and tool turns with their calls (the system
    prompt, usually shared by all, is left out); a preference pair's is its prompt's."""
    if preference.is_pair(example):
        example = preference.prompt(example)
    parts = [message_text(m).strip() for m in chat.messages(example) if m.get("role") in ("user", "assistant", "tool")]
    return "\n".join(p for p in parts if p)


def exact_key(example) -> str:
    """Hash of the normalized conversation: roles, contents and tool calls in order; a preference pair's is
    its prompt's, its chosen and its rejected answer's together."""
    if preference.is_pair(example):
        sides = [preference.prompt(example), *(example[side] for side in preference.SIDES)]
        return hashlib.sha256("\x1d".join(exact_key(s) for s in sides).encode()).hexdigest()
    parts = [f"{normalize(str(m.get('role', '')))}\x1f{normalize(message_text(m))}" for m in chat.messages(example)]
    return hashlib.sha256("\x1e".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


def find_exact(examples: Sequence) -> list[list[int]]:
    """Groups (two or more rows, ascending) of examples equal up to whitespace and case."""
    groups: dict[str, list[int]] = {}
    for row, example in enumerate(examples):
        groups.setdefault(exact_key(example), []).append(row)
    return sorted((rows for rows in groups.values() if len(rows) > 1), key=lambda r: r[0])


# ---- near duplicates ------------------------------------------------------------------------


def _as_unit_rows(vectors, name: str) -> np.ndarray:
    v = np.asarray(vectors, dtype=np.float32)
    if v.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D array of vectors, got shape {v.shape}")
    norms = np.linalg.norm(v, axis=1)
    if len(v) and np.abs(norms - 1).max() > 1e-3:
        bad = int(np.argmax(np.abs(norms - 1)))
        raise ValueError(f"{name}: row {bad} has norm {norms[bad]:.4f}; vectors must be L2-normalized")
    return v


def _check_threshold(threshold: float) -> None:
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")


def _tile(a: np.ndarray, b: np.ndarray, a0: int, b0: int, threshold: float, diagonal: bool):
    """Pairs above threshold in one tile, in global indices; a diagonal tile keeps i < j."""
    sims = a @ b.T
    ii, jj = np.nonzero(sims >= threshold)
    if diagonal:
        upper = ii < jj
        ii, jj = ii[upper], jj[upper]
    return ii + a0, jj + b0, sims[ii, jj]


def _search(a, b, threshold, block, same, progress) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Blocked search of a against b (the upper triangle only when they are the same set).

    progress(done, total) counts tiles, so it tracks time even though upper-triangle rows
    shrink."""
    hits, count, tiles = [], 0, 0
    na, nb = -(-len(a) // block), -(-len(b) // block)
    total = na * (na + 1) // 2 if same else na * nb
    for a0 in range(0, len(a), block):
        for b0 in range(a0 if same else 0, len(b), block):
            found = _tile(a[a0 : a0 + block], b[b0 : b0 + block], a0, b0, threshold, same and a0 == b0)
            count += len(found[0])
            if count > MAX_PAIRS:
                raise ValueError(f"more than {MAX_PAIRS:,} pairs at cosine >= {threshold}; raise the threshold")
            hits.append(found)
            tiles += 1
        if progress:
            progress(tiles, total)
    if not hits:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
    i, j, s = (np.concatenate(x) for x in zip(*hits, strict=True))
    order = np.lexsort((j, i))
    return i[order], j[order], s[order]


def _pairs(arrays) -> list[Pair]:
    i, j, s = arrays
    return list(zip(i.tolist(), j.tolist(), s.tolist(), strict=True))


def find_near(
    vectors,
    threshold: float = THRESHOLD,
    block: int = BLOCK,
    progress: Callable[[int, int], None] | None = None,
) -> list[Pair]:
    """All pairs (i, j, cos) with i < j and cos >= threshold, sorted; exact, not approximate."""
    _check_threshold(threshold)
    v = _as_unit_rows(vectors, "vectors")
    return _pairs(_search(v, v, threshold, block, True, progress))


def leakage(vectors_a, vectors_b, threshold: float = THRESHOLD, block: int = BLOCK) -> list[Pair]:
    """Pairs (i in a, j in b, cos) at cosine >= threshold: near-duplicates straddling two splits."""
    _check_threshold(threshold)
    a = _as_unit_rows(vectors_a, "first set")
    b = _as_unit_rows(vectors_b, "second set")
    return _pairs(_search(a, b, threshold, block, False, None))


# ---- clusters -------------------------------------------------------------------------------


def _find(parent: list[int], x: int) -> int:
    while parent[x] != x:
        parent[x] = parent[parent[x]]  # path halving keeps the trees shallow
        x = parent[x]
    return x


def _union_all(pairs: Iterable[Pair], n: int) -> list[int]:
    parent, size = list(range(n)), [1] * n
    for i, j, _ in pairs:
        ri, rj = _find(parent, i), _find(parent, j)
        if ri != rj:
            if size[ri] < size[rj]:
                ri, rj = rj, ri
            parent[rj] = ri
            size[ri] += size[rj]
    return parent


def clusters(pairs: Sequence[Pair], n: int) -> list[Cluster]:
    """Connected components (two or more rows) of the pair graph over rows 0..n-1."""
    parent = _union_all(pairs, n)
    members: dict[int, list[int]] = {}
    sims: dict[int, list[float]] = {}
    for i, _, s in pairs:
        sims.setdefault(_find(parent, i), []).append(s)
    for row in range(n):
        members.setdefault(_find(parent, row), []).append(row)
    found = [Cluster(rows, max(sims[r]), min(sims[r])) for r, rows in members.items() if len(rows) > 1]
    return sorted(found, key=lambda c: c.rows[0])


# ---- what to keep ---------------------------------------------------------------------------


def _rows(cluster) -> list[int]:
    return list(cluster.rows if isinstance(cluster, Cluster) else cluster)


def keep_by_rule(rows: Sequence[int], examples: Sequence, rule: str = "first") -> int:
    """The row to keep: the first, or the longest / shortest assistant answer (ties: first)."""
    if rule not in RULES:
        raise ValueError(f"unknown keep rule {rule!r}; choose one of {', '.join(RULES)}")
    if rule == "first":
        return min(rows)
    length = {r: len(embed.assistant_text(examples[r])) for r in rows}
    sign = -1 if rule == "longest" else 1
    return min(rows, key=lambda r: (sign * length[r], r))


def drop_for_choice(groups: Iterable, keep: Iterable[int]) -> list[int]:
    """Rows to drop given the curator's choice of rows to keep: every cluster member not chosen.

    A cluster with no member chosen is dropped whole; the page pre-selects a rule's choice so
    that only happens on purpose. Rows outside every cluster are never dropped.
    """
    keep = set(keep)
    return sorted({r for group in groups for r in _rows(group) if r not in keep})


# ---- a file ---------------------------------------------------------------------------------


def load_conversations(path: str | Path) -> tuple[list[int], list[dict]]:
    """(1-based file lines, examples) of the records the importer can read: chat records or preference pairs.

    Any layout the data studio imports works (chat JSONL, ShareGPT, Alpaca, tables, preference pairs); unreadable
    lines are left to validation. Raises core.data.io.DataError when nothing can be read.
    """
    from core.data import io

    loaded = io.load(path)
    return loaded.lines, loaded.examples


def find_in_file(
    path: str | Path, threshold: float = THRESHOLD, progress: Callable[[int, int], None] | None = None
) -> dict[str, list[list[int]]]:
    """Exact and near-duplicate clusters of a JSONL chat or preference file, as lists of 1-based file lines.

    Exact copies are collapsed to their first occurrence before the near search, so a "near"
    cluster lists only first occurrences and never repeats an exact group.
    """
    lines, convs = load_conversations(path)
    exact = find_exact(convs)
    repeats = {r for group in exact for r in group[1:]}
    unique = [r for r in range(len(convs)) if r not in repeats]
    vectors, _ = embed.embed_cached([example_text(convs[r]) for r in unique], progress=progress)
    near = clusters(find_near(vectors, threshold), len(unique))
    return {
        "exact": [[lines[r] for r in group] for group in exact],
        "near": [[lines[unique[r]] for r in c.rows] for c in near],
    }
