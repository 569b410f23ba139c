"""Slow test: DPO on the real SmolLM2-135M-Instruct learns a visible preference (shorter answers).

A synthetic preference set where the chosen answer is always one short sentence and the rejected one a
long paragraph on the same topic. A short DPO LoRA run must raise held-out reward accuracy well above
0.5 (core.train.dpo.preference_accuracy: the implicit reward against the adapter-disabled model), and the
recipe's own validation must agree. The mean length of the greedy answers to the held-out prompts before
and after is printed, not asserted: in the 7-step run measured here both stayed at the 48-token cap.
Prints the numbers; never passes or fails on time.
Run: .venv/bin/pytest tests/slow/test_dpo_learns.py -q -s
"""

from __future__ import annotations

import json
import random
import time

import pytest

from core import generation, models
from core.jobs import rundir
from core.train import dpo, export, recipe
from core.train.config import preset
from tests.shapes import dpo_pair

TOPICS = (
    "the moon, rain, coffee, bicycles, libraries, volcanoes, honey, trains, chess, snow, bridges, tea, owls, "
    "maps, clocks, gardens, rivers, deserts, pianos, kites, lighthouses, bread, glaciers, bees, candles, "
    "forests, harbors, comets, violins, deserts at night, salt, wool, ink, ladders, mirrors, tides"
).split(", ")
ASK = ("Tell me about {}.", "What do you know about {}?", "Describe {}.", "Explain {} to me.")


def pair(topic: str, rng: random.Random) -> dict:
    short = f"{topic.capitalize()} is interesting."
    long = (
        f"{topic.capitalize()} is a fascinating subject with a long history. Many people have studied it for "
        f"centuries, and there are countless books, stories and opinions about it. To understand {topic} fully, "
        "one has to consider its origins, its many forms, and the ways it affects everyday life around the world."
    )
    return dpo_pair(rng.choice(ASK).format(topic), short, long)


@pytest.fixture(scope="module")
def smollm2(tmp_path_factory):
    root = tmp_path_factory.mktemp("smollm2_dpo")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FT_HOME", str(root))
        return str(models.resolve(models.DEFAULT_MODEL_ID))


def mean_answer_tokens(model, tok, prompts: list[list[dict]]) -> float:
    replies = generation.generate(model, tok, prompts, 48, 0.0, 1.0, 8)
    return sum(r.new_tokens for r in replies) / len(replies)


def test_a_short_dpo_run_ranks_the_short_answers_above_the_long_ones(smollm2, tmp_path):
    rng = random.Random(0)
    topics = TOPICS[:]
    rng.shuffle(topics)
    held_out, train_topics = topics[:8], topics[8:]
    train = [pair(t, rng) for t in train_topics for _ in range(2)]
    val = [pair(t, rng) for t in held_out]
    for name, rows in (("train.jsonl", train), ("val.jsonl", val)):
        (tmp_path / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
    prompts = [v["input"]["messages"] for v in val]

    base, tok = generation.load(smollm2)
    before = mean_answer_tokens(base, tok, prompts)
    del base

    cfg = preset(
        "lora",
        model=smollm2,
        objective="dpo",
        train_file=str(tmp_path / "train.jsonl"),
        validation_file=str(tmp_path / "val.jsonl"),
        learning_rate=5e-4,
        warmup_steps=0,
        num_train_epochs=1,
        per_device_train_batch_size=4,
        gradient_accumulation_steps=2,
        eval_strategy="epoch",
        sample_generations=0,
    )
    run = tmp_path / "run"
    t0 = time.perf_counter()
    summary = recipe.train(cfg, run)
    seconds = time.perf_counter() - t0
    model, tok = export.load_run(run)
    scores = dpo.preference_accuracy(model, tok, val, beta=cfg.beta)
    after = mean_answer_tokens(model, tok, prompts)
    rows = rundir.read_metrics(run)
    print(
        f"\nDPO on SmolLM2: {len(train)} pairs, {summary['final_step']} steps in {seconds:.0f} s "
        f"({summary['tokens_per_s']} tokens/s); held-out reward accuracy {scores['rewards_accuracies']:.2f} "
        f"(margin {scores['rewards_margins']:.3f}), recipe's last eval {summary['eval_rewards_accuracies']}; "
        f"greedy answer length {before:.1f} -> {after:.1f} new tokens; train rows {len(rows)}"
    )
    assert scores["pairs"] == len(val)
    assert scores["rewards_accuracies"] >= 0.85  # well above a coin flip
    assert summary["eval_rewards_accuracies"] == pytest.approx(scores["rewards_accuracies"], abs=0.15)
    assert scores["rewards_margins"] > 0 and after <= before  # measured: 48.0 -> 48.0 new tokens
