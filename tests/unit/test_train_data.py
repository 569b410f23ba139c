"""Unit tests for core.train.tokenize: the loss mask on a hand-built chat (and on a template that rewrites
earlier turns), truncation counts, batching.

Run: .venv/bin/pytest tests/unit/test_train_data.py -q -s
"""

from __future__ import annotations

import json
import random

import pytest

from core import models
from core.data.samples import sample_path
from core.train import tokenize
from core.train.tokenize import IGNORE
from tests.shapes import OPENAI_TOOL_CALLING
from tests.tiny import tiny_model

CHAT = [
    {"role": "system", "content": "You answer in one short sentence."},
    {"role": "user", "content": "What is the capital of France?"},
    {"role": "assistant", "content": "Paris is the capital of France."},
    {"role": "user", "content": "And of Italy?"},
    {"role": "assistant", "content": "Rome is the capital of Italy."},
]


@pytest.fixture(scope="module")
def tok(tmp_path_factory):
    """SmolLM2's real tokenizer and chat template (from the tiny test model's folder)."""
    root = tmp_path_factory.mktemp("tok")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FT_HOME", str(root / "ft_home"))
        return models.load_tokenizer(tiny_model(root))


def labelled_runs(tok, ex: tokenize.Example) -> list[str]:
    """Decode each contiguous run of labelled tokens separately."""
    runs, current = [], []
    for label in ex.labels + [IGNORE]:
        if label != IGNORE:
            current.append(label)
        elif current:
            runs.append(tok.decode(current, skip_special_tokens=False))
            current = []
    return runs


def test_assistant_only_labels_are_exactly_the_two_answers_with_their_end_tokens(tok):
    ex = tokenize.tokenize_one(tok, CHAT, assistant_only=True)
    # Expected by hand: each assistant content followed by <|im_end|>; no role header, no newline.
    assert labelled_runs(tok, ex) == [
        "Paris is the capital of France.<|im_end|>",
        "Rome is the capital of Italy.<|im_end|>",
    ]
    # Labels, where set, are the token itself (shifting happens once, in collate).
    assert all(label in (IGNORE, tid) for tid, label in zip(ex.input_ids, ex.labels, strict=True))


def test_the_token_ids_are_the_chat_templates_own(tok):
    ex = tokenize.tokenize_one(tok, CHAT, assistant_only=True)
    assert ex.input_ids == list(tok.apply_chat_template(CHAT, tokenize=True)["input_ids"])


def test_all_tokens_mode_labels_every_token(tok):
    ex = tokenize.tokenize_one(tok, CHAT, assistant_only=False)
    assert ex.labels == ex.input_ids
    assert ex.n_targets == len(ex.input_ids) - 1  # every token but the first has a predecessor


def test_an_assistant_turn_with_weight_zero_is_shown_but_not_learned(tok):
    chat = [dict(m) for m in CHAT]
    chat[2]["weight"] = 0
    ex = tokenize.tokenize_one(tok, chat, assistant_only=True)
    assert labelled_runs(tok, ex) == ["Rome is the capital of Italy.<|im_end|>"]


# A template that rewrites earlier turns (it marks the last message, as some templates strip an earlier
# turn's reasoning): a shorter conversation's render is no prefix of the longer one's, so spans are searched.
REWRITING = (
    "{% if tools %}{{ '<|im_start|>system\\n' }}{% for t in tools %}{{ t | tojson }}{% endfor %}"
    "{{ '<|im_end|>\\n' }}{% endif %}"
    "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' }}"
    "{% if m['tool_calls'] %}{% for c in m['tool_calls'] %}"
    "{{ '<tool_call>\\n' + ({'name': c['function']['name'], 'arguments': c['function']['arguments']} | tojson) }}"
    "{{ '\\n</tool_call>' }}{% endfor %}{% else %}{{ m['content'] }}{% endif %}"
    "{% if loop.last %}{{ ' (last)' }}{% endif %}{{ '<|im_end|>\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def test_a_template_that_rewrites_earlier_turns_still_gets_calls_with_no_content_and_answers(tiny_model_dir):
    rewriting = models.load_tokenizer(tiny_model_dir)
    rewriting.chat_template = REWRITING
    example = OPENAI_TOOL_CALLING
    ex = tokenize.tokenize_one(rewriting, example["messages"], True, example["tools"])
    call = example["messages"][1]["tool_calls"][0]["function"]
    line = json.dumps({"name": call["name"], "arguments": json.loads(call["arguments"])})
    # The call's span starts at its turn's text, not at the tool's name in the system turn's tool list.
    assert labelled_runs(rewriting, ex) == [
        f"<tool_call>\n{line}\n</tool_call><|im_end|>",
        f"{example['messages'][3]['content']} (last)<|im_end|>",
    ]
    assert labelled_runs(rewriting, tokenize.tokenize_one(rewriting, CHAT)) == [
        "Paris is the capital of France.<|im_end|>",
        "Rome is the capital of Italy. (last)<|im_end|>",
    ]


def test_truncation_and_drops_are_counted_never_silent(tok):
    short = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}]}
    long_answer = {"messages": [{"role": "user", "content": "Count"}, {"role": "assistant", "content": "one " * 80}]}
    # A system prompt of ~100 tokens pushes the answer past max_length: nothing left to learn.
    long_prompt = {
        "messages": [
            {"role": "system", "content": "rule " * 100},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello."},
        ]
    }
    out = tokenize.tokenize(tok, [short, long_answer, long_prompt], max_length=64)
    assert (out.truncated, out.dropped, out.dropped_at) == (2, 1, [2])
    assert len(out.examples) == 2
    assert all(len(e.input_ids) <= 64 for e in out.examples)
    assert out.examples[1].n_targets > 0  # the truncated answer keeps its first part


def test_a_malformed_example_names_where_it_is(tok):
    with pytest.raises(tokenize.TrainDataError, match="train example 2"):
        tokenize.tokenize(tok, [{"messages": CHAT}, {"text": "no messages"}], 128, name="train example")
    with pytest.raises(tokenize.TrainDataError, match="message 1"):
        tokenize.tokenize(tok, [{"messages": [{"role": "user"}]}], 128)


def test_padding_efficiency_by_hand():
    # Lengths 1 and 3 in one batch: 4 real tokens of 2 x 3 = 6 computed; alone each: 4 of 4.
    assert tokenize.padding_efficiency([1, 3], [[0, 1]]) == pytest.approx(4 / 6)
    assert tokenize.padding_efficiency([1, 3], [[0], [1]]) == 1.0


def test_collate_pads_right_and_shifts_targets_once():
    a = tokenize.Example([5, 6, 7], [IGNORE, 6, 7])
    b = tokenize.Example([8, 9], [8, 9])
    batch = tokenize.collate([a, b], pad_id=0)
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 9, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]
    # Position t predicts token t+1; the last real position and padding predict nothing.
    assert batch["targets"].tolist() == [[6, 7, IGNORE], [9, IGNORE, IGNORE]]


def random_batches(n: int, batch_size: int, seed: int) -> list[list[int]]:
    """Plain shuffled batches (the baseline that length grouping is measured against)."""
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


def test_length_grouping_wastes_less_padding_than_random_batches_on_the_demo_data(tok):
    rows = [json.loads(line) for line in sample_path("demo").read_text().splitlines()]
    lengths = [len(e.input_ids) for e in tokenize.tokenize(tok, rows, max_length=1024).examples]
    grouped = tokenize.length_grouped_batches(lengths, batch_size=4, seed=1)
    shuffled = random_batches(len(lengths), batch_size=4, seed=1)
    eff_grouped = tokenize.padding_efficiency(lengths, grouped)
    eff_random = tokenize.padding_efficiency(lengths, shuffled)
    print(f"\npadding efficiency on demo (batch 4): grouped {eff_grouped:.3f}, random {eff_random:.3f}")
    assert eff_grouped > eff_random
    assert eff_grouped > 0.95  # 200 examples of 77-136 tokens: neighbours in sorted order differ by ~1
    # Every example exactly once, in batches of 4 (200 = 50 x 4).
    assert sorted(i for b in grouped for i in b) == list(range(len(lengths)))
    assert {len(b) for b in grouped} == {4}
    # Seeded: the same seed gives the same plan; another seed another order.
    assert tokenize.length_grouped_batches(lengths, 4, seed=1) == grouped
    assert tokenize.length_grouped_batches(lengths, 4, seed=2) != grouped
