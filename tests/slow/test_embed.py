"""The real embedding model (all-MiniLM-L6-v2 from its PyPI package): similarity, the vector
cache, bf16 against fp32, long texts, and near-duplicates found in a file.

Run: `.venv/bin/pytest tests/slow/test_embed.py -q -s`.
"""

from __future__ import annotations

import json

import numpy as np

from core.data import dedup, embed

RESET = "How do I reset my password?"
RESET_PARA = "What are the steps to change my password?"
FRANCE = "The capital of France is Paris."
FRANCE_PARA = "Paris is the capital city of France."
BANANAS = "Bananas are rich in potassium."


def chat(user: str, assistant: str) -> dict:
    return {"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]}


def test_paraphrases_score_higher_than_unrelated_sentences():
    v = embed.embed_texts([RESET, RESET_PARA, FRANCE, FRANCE_PARA, BANANAS])
    assert v.shape == (5, embed.DIM) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)
    sims = v @ v.T
    unrelated = max(sims[0, 2], sims[0, 4], sims[1, 3], sims[2, 4], sims[3, 4])
    assert sims[0, 1] > unrelated + 0.3
    assert sims[2, 3] > unrelated + 0.3


def test_bf16_matches_fp32():
    texts = [RESET, FRANCE, BANANAS, " ".join([FRANCE_PARA] * 60)]
    fp32 = embed.embed_texts(texts, precision="fp32")
    bf16 = embed.embed_texts(texts, precision="bf16")
    assert np.min(np.sum(fp32 * bf16, axis=1)) >= 0.999


def test_long_text_counts_beyond_the_first_256_pieces():
    head = " ".join(f"Step {k}: tighten bolt number {k} on the left wheel." for k in range(25))
    a = head + " " + " ".join([BANANAS] * 15)
    b = head + " " + " ".join([FRANCE] * 15)
    pieces = [
        len(embed.model().tokenizer(t, add_special_tokens=False, verbose=False)["input_ids"]) for t in (head, a, b)
    ]
    assert pieces[0] > 256  # the shared head alone fills the model's window
    windows = [-(-n // embed.CHUNK_TOKENS) for n in pieces[1:]]  # ceil(pieces / 254)
    assert [len(c) for c in embed.chunks([a, b, RESET])] == windows + [1]
    va, vb = embed.embed_texts([a, b])
    assert np.isclose(np.linalg.norm(va), 1, atol=1e-5)
    # Truncated at 256 pieces the two would get the same vector; their tails set them apart.
    assert va @ vb < 0.99


def test_cache_computes_only_new_or_edited_texts():
    texts = [RESET, FRANCE, BANANAS, RESET]  # a repeated text is embedded once
    first, computed = embed.embed_cached(texts)
    assert computed == 3
    assert embed.cache_path().is_file()
    again, computed = embed.embed_cached(texts)
    assert computed == 0
    assert np.array_equal(first, again)
    edited = [RESET, FRANCE_PARA, BANANAS, RESET]
    vectors, computed = embed.embed_cached(edited)
    assert computed == 1
    assert np.array_equal(vectors[[0, 2, 3]], first[[0, 2, 3]])
    assert np.allclose(vectors[1], embed.embed_texts([FRANCE_PARA])[0], atol=1e-6)


def test_find_in_file_reports_near_and_exact_duplicates_by_line(tmp_path):
    rows = [
        chat(
            "Can you explain how to reset a forgotten password?",
            "Sure: open Settings, choose Security, click 'Reset password' and follow the email link.",
        ),
        chat(
            "How do I bake bread at home?",
            "Mix flour, water, salt and yeast, knead, let it rise, then bake at 230 C for 35 minutes.",
        ),
        chat("What is the boiling point of water at sea level?", "100 degrees Celsius."),
        chat(
            "Can you explain how to reset a forgotten password?",
            "Sure: open Settings, pick Security, click 'Reset password' and follow the link in the email.",
        ),
        chat("How do I bake bread at home?", "I can't help with that."),
        chat("WHAT is the boiling point of water at sea level?  ", "100 degrees celsius."),
    ]
    lines = [json.dumps(r) for r in rows]
    lines.insert(2, "")  # a blank line: rows 2.. sit one line lower
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(lines) + "\n")
    # Lines: reset 1, bread 2, blank 3, water 4, reset-edit 5, bread-refusal 6, WATER 7.
    assert dedup.find_in_file(path, threshold=0.95) == {"exact": [[4, 7]], "near": [[1, 5]]}
