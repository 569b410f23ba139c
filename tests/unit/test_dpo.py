"""DPO's pieces: the loss against a hand computation, pair tokenization, and what stops a DPO run before launch.

Run: `.venv/bin/pytest tests/unit/test_dpo.py -q`.
"""

from __future__ import annotations

import math
import shutil

import pytest
import torch

from core import jobs, models
from core.data import versions
from core.train import config, dpo, launch
from core.train.config import preset
from core.train.tokenize import IGNORE
from tests.shapes import dpo_pair


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def test_sigmoid_and_ipo_losses_and_rewards_match_a_hand_computation():
    # Two pairs: policy and reference log-probs as [chosen 1, chosen 2, rejected 1, rejected 2].
    policy = torch.tensor([-10.0, -20.0, -30.0, -15.0])
    reference = torch.tensor([-12.0, -19.0, -29.0, -18.0])
    counts = torch.tensor([4.0, 5.0, 10.0, 3.0])
    beta = 0.5
    losses, chosen, rejected = dpo.dpo_loss(policy, reference, counts, beta, "sigmoid")
    # pair 1: chosen ratio +2, rejected ratio -1 -> delta 3; pair 2: chosen -1, rejected +3 -> delta -4
    assert losses.tolist() == pytest.approx([-math.log(_sigmoid(1.5)), -math.log(_sigmoid(-2.0))], rel=1e-6)
    assert chosen.tolist() == pytest.approx([1.0, -0.5]) and rejected.tolist() == pytest.approx([-0.5, 1.5])
    ipo, _, _ = dpo.dpo_loss(policy, reference, counts, beta, "ipo")
    # per-token averages: pair 1 2/4 - (-1)/10 = 0.6; pair 2 -1/5 - 3/3 = -1.2; target 1/(2 beta) = 1
    assert ipo.tolist() == pytest.approx([(0.6 - 1) ** 2, (-1.2 - 1) ** 2], rel=1e-6)
    row = dpo.reward_row(chosen, rejected, "eval_")
    assert row == pytest.approx(
        {
            "eval_rewards_chosen": 0.25,
            "eval_rewards_rejected": 0.5,
            "eval_rewards_margins": -0.25,
            "eval_rewards_accuracies": 0.5,
        }
    )


def test_a_pair_learns_only_its_answer_and_cuts_long_prompts_at_their_start(tiny_model_dir):
    tok = models.load_tokenizer(tiny_model_dir)
    long_prompt = "word " * 200
    pairs = [dpo_pair("Hi?", "Hello there.", "Go away.", system="Be kind."), dpo_pair(long_prompt, "Yes.", "No.")]
    out = dpo.tokenize_pairs(tok, pairs, max_prompt_length=64, max_length=80)
    assert len(out.pairs) == 2 and out.prompts_truncated == 1 and out.truncated == 0 and out.dropped == 0
    first = out.pairs[0]
    learned = tok.decode([t for t in first.chosen.labels if t != IGNORE])
    assert learned.startswith("Hello there.") and "Hi?" not in learned
    assert tok.decode([t for t in first.rejected.labels if t != IGNORE]).startswith("Go away.")
    # both sides share the prompt tokens, so the answers are compared from the same place
    n_prompt = first.chosen.labels.index(next(t for t in first.chosen.labels if t != IGNORE))
    assert first.chosen.input_ids[:n_prompt] == first.rejected.input_ids[:n_prompt]
    cut = out.pairs[1].chosen
    assert len(cut.input_ids) - cut.n_targets - 1 <= 64  # the prompt kept its last 64 tokens
    assert tok.decode([t for t in cut.labels if t != IGNORE]).startswith("Yes.")


def test_a_record_that_is_not_a_pair_is_named(tiny_model_dir):
    tok = models.load_tokenizer(tiny_model_dir)
    with pytest.raises(dpo.TrainDataError, match="train pair 2: not a preference pair"):
        dpo.tokenize_pairs(tok, [dpo_pair("q", "a", "b"), {"messages": []}], 64, 128, "train pair")


def test_config_checks_dpo_settings():
    assert config.problems(preset("lora", train_file="x", objective="dpo")) == []
    found = config.problems(preset("lora", train_file="x", objective="dpo", beta=0, loss_type="hinge"))
    assert any("beta must be above 0" in p for p in found) and any("loss_type must be one of" in p for p in found)
    found = config.problems(preset("lora", train_file="x", objective="dpo", max_prompt_length=2048))
    assert any("max_prompt_length (2048) must be below max_length" in p for p in found)
    assert any("objective must be one of" in p for p in config.problems(preset("lora", objective="ppo")))


def _preference_version(validation: bool):
    pairs = [dpo_pair(f"question {i}?", f"good {i}", f"bad {i}") for i in range(4)]
    first = versions.create(f"prefs-{validation}", pairs, kind="preference")
    splits = {"train": [0, 1, 2], "validation": [3] if validation else [], "test": [] if validation else [3]}
    return versions.save(first, pairs, "split", splits)


def test_dpo_refuses_chat_data_and_a_preference_version_without_validation_and_launches_nothing(tiny_model_dir):
    rows = [{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}] * 3
    chat = versions.save(versions.create("chat", rows), rows, "s", {"train": [0, 1], "validation": [2]})
    assert launch.CHAT_DATA_FOR_DPO in launch.problems(preset("lora", dataset_version=chat.id, objective="dpo"))
    no_val = preset("lora", model=str(tiny_model_dir), dataset_version=_preference_version(False).id, objective="dpo")
    assert launch.NO_DPO_VALIDATION in launch.problems(no_val)
    with pytest.raises(ValueError, match="DPO needs a validation split"):
        launch.start(no_val)
    good = preset("lora", model=str(tiny_model_dir), dataset_version=_preference_version(True).id, objective="dpo")
    assert launch.problems(good) == []
    assert jobs.list_runs() == []


def test_dpo_refuses_a_model_whose_chat_template_cannot_render_the_prompts(tiny_model_dir, tmp_path):
    strict = tmp_path / "no-system-model"
    shutil.copytree(tiny_model_dir, strict)
    (strict / "chat_template.jinja").write_text(
        "{% for m in messages %}{% if m['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
        "{% endif %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    )
    pairs = [dpo_pair("q?", "a", "b"), dpo_pair("r?", "c", "d", system="Be brief.")] * 2
    version = versions.save(
        versions.create("sys-prefs", pairs, kind="preference"), pairs, "s", {"train": [0, 1, 2], "validation": [3]}
    )
    cfg = preset("lora", model=str(strict), dataset_version=version.id, objective="dpo")
    found = launch.problems(cfg)
    assert any("train pair 2 (chosen)" in p and "System role not supported" in p for p in found), found
    with pytest.raises(ValueError, match="cannot render"):
        launch.start(cfg)
    assert jobs.list_runs() == []


def test_init_from_run_must_name_a_finished_run():
    cfg = preset("lora", train_file="x", validation_file="y", objective="dpo", init_from_run="20260101-000000-nope")
    assert any(p.startswith("init_from_run: no run 20260101-000000-nope") for p in launch.problems(cfg))


def test_the_preflight_counts_two_sequences_per_pair_and_the_reference_pass(tiny_model_dir):
    from core.train import device, preflight

    pairs = [dpo_pair(f"question {i}?", f"good {i}", f"bad answer {i}") for i in range(8)]
    seen = []

    def count(examples, *_):
        seen.append(len(examples))
        return preflight.TokenStats([20] * len(examples), 1024, "test", True)

    cpu = device.detect([], smi_text="", meminfo="MemTotal: 8388608 kB\nMemAvailable: 8388608 kB\n")
    common = dict(model=str(tiny_model_dir), per_device_train_batch_size=2, gradient_accumulation_steps=1)
    common.update(num_train_epochs=1, train_file="x")
    dpo_pf = preflight.compute(preset("lora", objective="dpo", **common), pairs, cpu, [], count=count)
    assert seen == [16]  # both answers of the 8 pairs
    assert dpo_pf.steps_per_epoch == 4  # steps count pairs: 8 / 2
    # tokens: 4 steps x 2 pairs x 40 tokens, plus a third of the 320 tokens for the reference pass
    assert dpo_pf.train_tokens == pytest.approx(320 + 320 / 3)
    # memory: a batch of 2 pairs is 4 sequences, as an SFT batch of 4
    sft_pf = preflight.compute(
        preset("lora", **{**common, "per_device_train_batch_size": 4}), pairs[:1], cpu, [], count=count
    )
    for term in ("activations", "logits"):
        assert dpo_pf.plan.memory["lora"][term] == pytest.approx(sft_pf.plan.memory["lora"][term]), term


def test_a_resumed_full_dpo_run_keeps_the_reference_of_the_model_before_training(tiny_model_dir, tmp_path):
    import json

    from core.jobs import rundir
    from core.train import recipe

    rows = [
        dpo_pair(f"Tell me about {w}.", f"{w} is nice.", f"{w} is a long story, told at length.") for w in "abcdefgh"
    ]
    for name, part in (("t.jsonl", rows[:6]), ("v.jsonl", rows[6:])):
        (tmp_path / name).write_text("".join(json.dumps(r) + "\n" for r in part))
    settings = dict(model=str(tiny_model_dir), objective="dpo", train_file=str(tmp_path / "t.jsonl"))
    settings.update(
        validation_file=str(tmp_path / "v.jsonl"), per_device_train_batch_size=2, gradient_accumulation_steps=1
    )
    settings.update(save_strategy="steps", save_steps=1, sample_generations=0, bf16=False, learning_rate=1e-3)
    first = recipe.train(preset("full", max_steps=2, **settings), tmp_path / "first")
    assert first["reference_seconds"] > 0 and first["objective"] == "dpo"
    reference = json.loads((tmp_path / "first" / rundir.REFERENCE).read_text())
    assert len(reference["train"][0]) == 6 and len(reference["validation"][1]) == 2
    resumed = preset("full", max_steps=3, resume_from=str(tmp_path / "first" / "checkpoints" / "step-2"), **settings)
    second = recipe.train(resumed, tmp_path / "second")
    # the trained weights are no reference: the first run's log-probs are reused, and kept for the next resume
    assert second["reference_seconds"] == 0.0 and second["final_step"] == 3
    assert json.loads((tmp_path / "second" / rundir.REFERENCE).read_text()) == reference
