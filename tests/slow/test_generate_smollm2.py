"""Slow: batched greedy generation on the real embedded SmolLM2-135M-Instruct.

Left padding must not change what the model says: batched answers are compared with
one-at-a-time answers, and every answer must end at <|im_end|> rather than at the token limit.
Run: `.venv/bin/pytest tests/slow/test_generate_smollm2.py -q -s`.
"""

from __future__ import annotations

import pytest

from core import models
from core.eval.local import generate_batch
from core.eval.params import GenParams

MAX_NEW = 96
# Prompts of different lengths, so the batch really is padded; each has a short answer.
PROMPTS = [
    [{"role": "user", "content": "What is the capital of France?"}],
    [{"role": "user", "content": "Name three primary colors."}],
    [
        {"role": "system", "content": "You are a concise assistant. Reply with one short sentence."},
        {"role": "user", "content": "Which planet in our solar system is known as the Red Planet?"},
    ],
    [{"role": "user", "content": "Translate 'good morning' into Spanish."}],
]


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FT_HOME", str(tmp_path_factory.mktemp("smollm2_home")))
        path = models.resolve(models.DEFAULT_MODEL_ID)  # converts the embedded GGUF once
        return models.load_model(path), models.load_tokenizer(path)


def test_batched_answers_stop_at_the_end_token_and_match_one_at_a_time(loaded):
    model, tok = loaded
    batched = generate_batch(model, tok, PROMPTS, GenParams(max_new_tokens=MAX_NEW, batch_size=4))
    single = generate_batch(model, tok, PROMPTS, GenParams(max_new_tokens=MAX_NEW, batch_size=1))
    for (text, n), prompt in zip(batched, PROMPTS, strict=True):
        print(f"\n{prompt[-1]['content']!r} -> {text!r} ({n} tokens)")
        assert text and "<|im_end|>" not in text
        # Fewer tokens than the limit means generation ended on the end token (it is counted).
        assert n < MAX_NEW
    same = sum(b[0] == s[0] for b, s in zip(batched, single, strict=True))
    print(f"batched == one-at-a-time on {same}/4")
    assert same >= 3
