"""Exact and near-duplicate detection on hand-built examples and synthetic vectors (no model).

Run: `.venv/bin/pytest tests/unit/test_dedup.py -q`.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.data import dedup, embed


def chat(user: str, assistant: str, system: str | None = None) -> list[dict]:
    msgs = [{"role": "system", "content": system}] if system else []
    return msgs + [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]


# ---- exact ----------------------------------------------------------------------------------


def test_exact_collapses_case_and_whitespace_variants_only():
    examples = [
        chat("What is 2+2?", "Four."),
        chat("  what IS\t2+2?\n", "FOUR."),  # case and whitespace variant of row 0
        {"messages": chat("What  is 2+2?", "four.")},  # a record form of the same
        chat("What is 2+2?", "Five."),  # different answer
        chat("Four.", "What is 2+2?"),  # same words, roles swapped
        chat("What is 2+2?", "Fo ur."),  # a space inside a word is content, not whitespace
        chat("Hello", "Hi"),
        chat("hello", "hi"),
    ]
    assert dedup.find_exact(examples) == [[0, 1, 2], [6, 7]]


def test_exact_counts_the_system_prompt():
    assert dedup.find_exact([chat("q", "a", system="Be brief."), chat("q", "a")]) == []


def test_exact_and_near_text_see_tool_calls_and_tool_results():
    from tests.shapes import OPENAI_TOOL_CALLING

    def variant(arguments: str | None = None, result: str | None = None) -> dict:
        example = json.loads(json.dumps(OPENAI_TOOL_CALLING))
        if arguments is not None:
            example["messages"][1]["tool_calls"][0]["function"]["arguments"] = arguments
        if result is not None:
            example["messages"][2]["content"] = result
        return example

    base = variant()
    other_city = variant(arguments='{"location": "Paris, France", "format": "celsius"}')
    other_result = variant(result='{"temperature": 25, "sky": "clear"}')
    respaced = variant(arguments='{"format":"celsius","location":"San Francisco, USA"}')  # the same call
    assert dedup.find_exact([base, other_city, other_result, respaced]) == [[0, 3]]
    text = dedup.example_text(base)
    assert "get_current_weather" in text and "San Francisco, USA" in text and '"sky": "fog"' in text
    assert dedup.example_text({"messages": chat("q", "a")}) == embed.example_text(chat("q", "a"))


# ---- near: blocked search equals all pairs --------------------------------------------------


def planted(n: int, dim: int, copies: int, seed: int) -> tuple[np.ndarray, set[tuple[int, int]]]:
    """Random unit vectors; the last `copies` rows are noisy copies of random earlier rows."""
    rng = np.random.default_rng(seed)
    v = rng.standard_normal((n, dim)).astype(np.float32)
    sources = rng.choice(n - copies, size=copies, replace=False)
    for k, src in enumerate(sources):
        v[n - copies + k] = v[src] + 0.15 * rng.standard_normal(dim) / np.sqrt(dim) * np.linalg.norm(v[src])
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return v, {(int(s), n - copies + k) for k, s in enumerate(sources)}


def naive_pairs(v: np.ndarray, threshold: float) -> dict[tuple[int, int], float]:
    """All pairs, one dot product at a time in float64."""
    v64 = v.astype(np.float64)
    return {
        (i, j): float(v64[i] @ v64[j])
        for i in range(len(v))
        for j in range(i + 1, len(v))
        if v64[i] @ v64[j] >= threshold
    }


@pytest.mark.parametrize("block", [1, 7, 50, 64, 203, 500])
def test_blocked_search_equals_naive_all_pairs(block):
    v, plants = planted(n=203, dim=32, copies=12, seed=3)
    sims64 = v.astype(np.float64) @ v.astype(np.float64).T
    # float32 and float64 agree to ~1e-6; no pair sits that close to the threshold here.
    assert not np.any(np.abs(sims64 - 0.95) < 1e-4)
    expected = naive_pairs(v, 0.95)
    assert plants <= set(expected)  # noise 0.15 keeps a copy at cos ~0.99
    got = dedup.find_near(v, 0.95, block=block)
    assert [(i, j) for i, j, _ in got] == sorted(expected)
    assert np.allclose([s for *_, s in got], [expected[i, j] for i, j, _ in got], atol=1e-5)


def test_search_reports_progress_up_to_the_last_tile():
    v, _ = planted(n=100, dim=16, copies=3, seed=1)
    seen = []
    dedup.find_near(v, 0.95, block=30, progress=lambda done, total: seen.append((done, total)))
    # 4 row blocks; upper-triangle tiles 4 + 3 + 2 + 1 = 10.
    assert seen == [(4, 10), (7, 10), (9, 10), (10, 10)]


def test_search_rejects_bad_input_with_a_message():
    with pytest.raises(ValueError, match="row 1 has norm 2.0000"):
        dedup.find_near(np.array([[1.0, 0.0], [2.0, 0.0]]))
    with pytest.raises(ValueError, match="threshold"):
        dedup.find_near(np.eye(3), threshold=1.5)
    assert dedup.find_near(np.zeros((0, 384))) == []


# ---- clusters -------------------------------------------------------------------------------


def test_union_find_clusters_hand_built_pairs():
    pairs = [(0, 1, 0.97), (4, 5, 0.99), (1, 2, 0.96), (2, 6, 0.955), (3, 7, 0.98)]
    found = dedup.clusters(pairs, 9)
    assert [c.rows for c in found] == [[0, 1, 2, 6], [3, 7], [4, 5]]
    assert [(c.max_sim, c.min_sim) for c in found] == [(0.97, 0.955), (0.98, 0.98), (0.99, 0.99)]
    # One more pair bridges two clusters into one.
    merged = dedup.clusters(pairs + [(5, 7, 0.951)], 9)
    assert [c.rows for c in merged] == [[0, 1, 2, 6], [3, 4, 5, 7]]
    assert (merged[1].max_sim, merged[1].min_sim) == (0.99, 0.951)
    assert dedup.clusters([], 5) == []


# ---- keep rules -----------------------------------------------------------------------------


def drop_by_rule(groups, examples, rule: str = "first") -> list[int]:
    """Rows to drop so that each cluster keeps only the member the rule picks (the page's pre-selection)."""
    drop: set[int] = set()
    for group in groups:
        rows = dedup._rows(group)
        keep = dedup.keep_by_rule(rows, examples, rule)
        drop.update(r for r in rows if r != keep)
    return sorted(drop)


def test_keep_rules_and_manual_choice():
    # Assistant answers of 5, 12, 3 and 12 characters.
    examples = [chat("q", "abcde"), chat("q", "abcdefghijkl"), chat("q", "abc"), chat("q", "123456789012")]
    rows = [0, 1, 2, 3]
    assert dedup.keep_by_rule(rows, examples, "first") == 0
    assert dedup.keep_by_rule(rows, examples, "longest") == 1  # ties with row 3: earlier wins
    assert dedup.keep_by_rule(rows, examples, "shortest") == 2
    groups = [dedup.Cluster([0, 2], 0.97, 0.97), [1, 3]]
    assert drop_by_rule(groups, examples, "longest") == [2, 3]
    assert drop_by_rule(groups, examples, "shortest") == [0, 3]
    with pytest.raises(ValueError, match="unknown keep rule 'random'"):
        dedup.keep_by_rule(rows, examples, "random")


def test_manual_choice_drops_every_unchosen_member():
    groups = [[0, 1, 2], dedup.Cluster([5, 6], 0.96, 0.96), [8, 9]]
    # Keep row 1 of the first, nothing of the second, both of the third; row 4 is in no cluster.
    assert dedup.drop_for_choice(groups, keep=[1, 8, 9, 4]) == [0, 2, 5, 6]


# ---- leakage --------------------------------------------------------------------------------


def test_leakage_finds_pairs_across_two_sets():
    a = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float32)
    # b[2] is a[0] turned by an angle with cos 0.96 (0.96^2 + 0.28^2 = 1); b[3] equals a[2];
    # b[0] has cos 0.6 with a[1] and 0.8 with a[2], both below.
    b = np.array([[0, 0.6, 0.8], [-1, 0, 0], [0.96, 0.28, 0], [0, 0, 1]], dtype=np.float32)
    got = dedup.leakage(a, b, 0.95, block=2)
    assert [(i, j) for i, j, _ in got] == [(0, 2), (2, 3)]
    assert np.allclose([s for *_, s in got], [0.96, 1.0])
    assert [(i, j) for i, j, _ in dedup.leakage(a, b, 0.97)] == [(2, 3)]


# ---- a file, with hand-made vectors in place of the model ------------------------------------


def test_find_in_file_reports_file_lines(tmp_path, monkeypatch):
    records = [
        {"messages": chat("alpha question", "alpha answer")},
        {"messages": chat("beta question", "beta answer")},
        {"not_messages": 1},
        {"messages": chat("ALPHA  question", "alpha answer")},  # exact copy of the first
        {"messages": chat("gamma question", "gamma answer")},
        {"messages": chat("beta question!", "beta answer")},  # near copy of beta
    ]
    path = tmp_path / "d.jsonl"
    # A blank line after the first record shifts every later line by one.
    lines = [json.dumps(records[0]), ""] + [json.dumps(r) for r in records[1:]]
    path.write_text("\n".join(lines) + "\n")
    axis = {"alpha": 0, "beta": 1, "gamma": 2}

    def fake_cached(texts, progress=None):
        vecs = np.zeros((len(texts), 3), dtype=np.float32)
        for k, t in enumerate(texts):
            vecs[k, axis[t.split()[0].lower()]] = 1.0
        return vecs, len(texts)

    monkeypatch.setattr(embed, "embed_cached", fake_cached)
    # Lines: alpha 1, (blank 2), beta 3, no messages 4, ALPHA 5, gamma 6, beta! 7.
    assert dedup.find_in_file(path) == {"exact": [[1, 5]], "near": [[3, 7]]}
