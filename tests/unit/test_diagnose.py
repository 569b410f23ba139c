"""The guide's common failures as checks on constructed metric curves: each fires, and does not.

Run: `.venv/bin/pytest tests/unit/test_diagnose.py -q`.
"""

from __future__ import annotations

import json

import pytest

from core.train.config import preset
from core.train.diagnose import diagnose, is_repetitive

LORA = preset("lora", dataset_version=1)
FULL = preset("full", dataset_version=1)


def train_rows(losses, steps_per_epoch=10, lr=2e-4, warmup=0):
    """Training rows as the recipe writes them: step from 1, epoch = step / steps per epoch."""
    rows = []
    for i, loss in enumerate(losses, start=1):
        rate = lr * min(1.0, i / warmup) if warmup else lr
        rows.append(
            {
                "step": i,
                "epoch": i / steps_per_epoch,
                "loss": loss,
                "eval_loss": None,
                "lr": rate,
                "grad_norm": 1.0,
                "tokens_per_s": 100.0,
                "elapsed_s": i,
                "eta_s": 10,
            }
        )
    return rows


def eval_row(step, epoch, value):
    return {"step": step, "epoch": epoch, "loss": None, "eval_loss": value}


def kinds(found):
    return [d.kind for d in found]


def falling(n=30, start=2.5, end=1.2):
    return [start + (end - start) * i / (n - 1) for i in range(n)]


def test_a_healthy_run_raises_nothing():
    rows = train_rows(falling(), warmup=3)
    rows += [eval_row(10, 1.0, 2.0), eval_row(20, 2.0, 1.8), eval_row(30, 3.0, 1.7)]
    assert diagnose(rows, LORA) == []
    assert diagnose([], LORA) == []


# ---- loss flat from the start: learning rate too low ------------------------------------------------


def test_flat_loss_names_the_guides_range_for_the_method():
    # 2.505/2.495 alternating: medians of the first and last three are 2.505 and 2.495, a fall of
    # 0.01 / 2.505 = 0.4%.
    losses = [2.5 + 0.005 * (-1) ** i for i in range(20)]
    found = diagnose(train_rows(losses, lr=1e-6), preset("lora", dataset_version=1, learning_rate=1e-6))
    assert kinds(found) == ["flat"]
    flat = found[0]
    assert flat.severity == "warning" and "a fall of 0.4%" in flat.detail
    assert "for LoRA, try 1e-4 to 5e-4" in flat.advice and "It is 1e-6, below that range" in flat.advice
    full = diagnose(train_rows(losses, lr=2e-5), FULL)[0]
    assert "full fine-tuning, try 1e-5 to 5e-5" in full.advice and "It is 2e-5, inside" in full.advice


def test_flat_waits_for_enough_steps_and_the_end_of_warm_up():
    losses = [2.5] * 20
    assert diagnose(train_rows(losses[:9]), LORA) == []  # 9 rows: too early to say
    # Warm-up over 40 steps: after 20 steps the learning rate is still climbing.
    assert diagnose(train_rows(losses, warmup=40), LORA) == []
    # 2.5 -> 2.425 in a line: medians 2.5 - 0.075/19 = 2.4961 and 2.5 - 0.075*18/19 = 2.4289, a fall
    # of 2.7%: learning, slowly, above the 2% line.
    slow = [2.5 - 0.075 * i / 19 for i in range(20)]
    assert diagnose(train_rows(slow), LORA) == []


# ---- validation loss rising while training loss falls: overfitting -------------------------------------


def overfit_rows(evals):
    rows = train_rows(falling(30, 2.0, 0.8))
    return rows + [eval_row(10 * (i + 1), float(i + 1), v) for i, v in enumerate(evals)]


def test_overfitting_names_the_best_epoch_and_the_guides_advice():
    found = diagnose(overfit_rows([1.9, 1.7, 1.85]), LORA)
    assert kinds(found) == ["overfitting"]
    d = found[0]
    assert "lowest at 1.700 at step 20 (epoch 2.00)" in d.detail and "is 1.850" in d.detail
    # Training loss around each evaluation: the mean of the last 3 logged losses at or before it;
    # the curve falls 2.0 -> 0.8 over 30 steps, so at step s it is 2.0 - 1.2 (s - 1) / 29.
    # Steps 18-20: 2.0 - 1.2 * 18/29 = 1.255 (the middle one); steps 28-30: 0.841.
    assert "fell from 1.255 to 0.841" in d.detail
    assert "(epoch 2;" in d.advice and "1-2 instead of 3" in d.advice and "0.05-0.1" in d.advice
    assert "lora_dropout is now 0.05." in d.advice


@pytest.mark.parametrize(
    "evals", [[1.9, 1.7, 1.6], [1.9, 1.7, 1.71], [1.9]], ids=["falling", "within 1%", "one evaluation"]
)
def test_no_overfitting_when_validation_loss_holds(evals):
    assert diagnose(overfit_rows(evals), LORA) == []


def test_both_losses_rising_is_not_called_overfitting():
    rows = train_rows([1.0] * 10 + [1.0 + 0.02 * i for i in range(1, 21)])  # training loss climbs too
    rows += [eval_row(10, 1.0, 1.2), eval_row(30, 3.0, 1.5)]
    assert "overfitting" not in kinds(diagnose(rows, LORA))


# ---- training loss collapsing towards zero early -----------------------------------------------------


def test_loss_collapsing_in_the_first_epoch_points_at_duplicates():
    losses = [2.0, 1.0, 0.3, 0.04, 0.02, 0.01, 0.01, 0.01]
    found = diagnose(train_rows(losses, steps_per_epoch=20), LORA)
    assert kinds(found) == ["collapse"]
    # Median of steps 3-5 (0.3, 0.04, 0.02) is 0.04 < 0.05: it fires at step 5, epoch 5/20 = 0.25.
    assert "from 2.000 to 0.0200 by step 5 (epoch 0.25)" in found[0].detail
    assert "duplicate" in found[0].advice


def test_a_low_loss_late_in_training_is_not_a_collapse():
    losses = falling(30, 1.0, 0.03)  # reaches 0.05 only in the third epoch
    assert diagnose(train_rows(losses), LORA) == []


# ---- NaN and exploding loss ---------------------------------------------------------------------------


def test_nan_from_the_metrics_file_is_an_error_that_names_the_step():
    text = "\n".join(json.dumps(r) for r in train_rows([2.0, 1.9, 1.8, 1.7])) + "\n"
    text += '{"step": 5, "epoch": 0.5, "loss": NaN, "grad_norm": Infinity}\n'  # json.dumps writes these
    rows = [json.loads(line) for line in text.splitlines()]
    found = diagnose(rows, LORA)
    assert kinds(found) == ["nonfinite"] and found[0].severity == "error"
    assert "loss became nan at step 5 (epoch 0.50)" in found[0].detail
    assert "too high" in found[0].advice


def test_exploding_loss_is_an_error_and_a_bumpy_one_is_not():
    found = diagnose(train_rows([2.0, 2.0, 2.0, 2.5, 3.5, 5.0, 8.0, 13.0]), LORA)
    assert kinds(found) == ["exploding"]
    assert "from 2.000 at the start to 8.000" in found[0].detail  # medians of the first/last three
    # Recent median 2.9 is under 1.5 x 2.0 = 3.0: noisy, not diverging (and it fell below 2 too).
    assert "exploding" not in kinds(diagnose(train_rows([2.0, 2.0, 2.0, 1.5, 2.9, 2.9, 3.5]), LORA))


def test_errors_come_before_warnings():
    rows = overfit_rows([1.9, 1.7, 1.85])
    rows.append({"step": 31, "epoch": 3.1, "loss": float("nan")})
    assert kinds(diagnose(rows, LORA)) == ["nonfinite", "overfitting"]


# ---- sample generations after training -----------------------------------------------------------------


def sample(prompt, generated, stopped=True):
    return {
        "prompt": [{"role": "user", "content": prompt}],
        "reference": "A full answer here.",
        "generated": generated,
        "stopped_at_eos": stopped,
    }


def test_repetition_is_measured_on_word_and_character_ngrams():
    # 12 words, 10 trigrams, of which 3 distinct ("the cat sat", "cat sat the", "sat the cat"): 0.3 < 0.5.
    assert is_repetitive("the cat sat the cat sat the cat sat the cat sat")
    assert not is_repetitive("Paris is the capital of France and its largest city by far.")
    # No spaces: 24 characters, 17 eight-grams, 3 distinct (the text repeats every 3 characters).
    assert is_repetitive("我爱你" * 8)
    assert not is_repetitive("北京是中华人民共和国的首都也是全国政治文化中心")


def test_repetitive_and_generic_samples_are_flagged():
    loop = sample("Tell me about Rome.", "Rome is great. Rome is great. Rome is great. Rome is great.")
    fine = sample("What is 2+2?", "Two plus two makes four, a small even number.")
    assert kinds(diagnose([], LORA, [fine, loop])) == ["repetitive"]
    same = [
        sample("Capital of Peru?", "I am not sure about that."),
        sample("Who wrote Hamlet?", "I am not sure about that."),
    ]
    found = diagnose([], LORA, same)
    assert kinds(found) == ["generic"] and "2 of 2 different prompts got the same answer" in found[0].detail
    short = diagnose([], LORA, [fine, sample("Explain DNS.", "Yes.")])
    assert kinds(short) == ["generic"] and "1 of 2 answers have 2 words or fewer" in short[0].detail
    # The same prompt twice gets the same greedy answer: that is not generic.
    twice = [
        sample("Capital of Peru?", "Lima is the capital of Peru."),
        sample("Capital of Peru?", "Lima is the capital of Peru."),
    ]
    assert diagnose([], LORA, twice) == []


def test_answers_that_never_end_their_turn():
    done = sample("Hi?", "Hello there, how can I help you today?")
    done2 = sample("Bye?", "Goodbye, and thank you for asking me.")
    cut = sample("Write an essay.", "Once upon a time there was a long essay that went on", stopped=False)
    cut2 = sample("Write a poem.", "Roses are red and the poem keeps going without", stopped=False)
    most = diagnose([], LORA, [cut, cut2, done])
    assert kinds(most) == ["no_eos"] and most[0].severity == "warning"
    assert "2 of 3 sample answers ran to the token limit without <|im_end|>" in most[0].detail
    few = diagnose([], LORA, [cut, done, done2])
    assert kinds(few) == ["no_eos"] and few[0].severity == "info"


# ---- DPO ----------------------------------------------------------------------------------------------

DPO = preset("lora", dataset_version=1, objective="dpo", beta=0.1)


def dpo_rows(accuracy, margins, chosen, losses=None):
    """DPO training rows: the reward columns beside the loss (ln 2 at the start, as the recipe writes it)."""
    rows = train_rows(losses or [0.693 - 0.01 * i for i in range(len(accuracy))])
    for row, acc, margin, ch in zip(rows, accuracy, margins, chosen, strict=True):
        row.update(rewards_accuracies=acc, rewards_margins=margin, rewards_chosen=ch, rewards_rejected=ch - margin)
    return rows


def test_dpo_reward_accuracy_stuck_near_a_half_says_what_to_change():
    found = diagnose(dpo_rows([0.5] * 12, [0.01] * 12, [0.0] * 12, losses=[0.693] * 12), DPO)
    stuck = next(d for d in found if d.kind == "dpo_stuck")
    assert "50%" in stuck.detail and "Raise the learning rate" in stuck.advice and "more pairs" in stuck.advice
    assert "flat" not in kinds(found)  # the SFT plateau check is not DPO's
    learning = dpo_rows([0.5, 0.6] + [0.9] * 10, [0.1 * i for i in range(12)], [0.0] * 12)
    assert "dpo_stuck" not in kinds(diagnose(learning, DPO))


def test_dpo_margins_exploding_and_chosen_rewards_falling_are_named():
    margins = [0.5, 1, 2, 5, 9, 12, 15, 18]
    found = diagnose(dpo_rows([1.0] * 8, margins, [0.1] * 8), DPO)
    exploding = next(d for d in found if d.kind == "dpo_margins")
    assert "Lower the learning rate" in exploding.advice and "ipo" in exploding.advice
    falling_chosen = dpo_rows(
        [0.9] * 8, [0.2, 0.3, 0.5, 1, 1.5, 2, 2.5, 3], [0.0, -0.1, -0.2, -0.4, -0.7, -1, -1.2, -1.5]
    )
    found = diagnose(falling_chosen, DPO)
    both = next(d for d in found if d.kind == "dpo_chosen_falling")
    assert "both answers" in both.detail and "SFT" in both.advice and "fewer epochs" in both.advice
    healthy = dpo_rows(
        [0.9] * 8, [0.2, 0.3, 0.5, 1, 1.5, 2, 2.5, 3], [0.1] * 8, losses=[0.69, 0.5, 0.3, 0.1, 0.04, 0.03, 0.02, 0.01]
    )
    assert diagnose(healthy, DPO) == []  # a DPO loss near 0 on easy pairs is no collapse
