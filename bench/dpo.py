"""DPO speed: the recipe's DPO against TRL's DPOTrainer, with the same model, pairs and steps, in one run.

`python bench/dpo.py [--steps N] [--train-n 96]`: SmolLM2-135M-Instruct (the embedded model), LoRA r16 on
q/k/v/o, the synthetic "shorter is better" pairs of tests/slow/test_dpo_learns.py, beta 0.1, sigmoid loss,
lr 5e-4, batch 4 pairs x accumulation 2, warm-up 0, the same optimizer steps. TRL runs with its defaults
otherwise (fp32 on CPU, the reference by disabling the adapter at every step, no precomputed reference).
Throughput counts non-padding tokens of both answers over the whole training, reference pass included
(ours computes the reference log-probs once before the first step: its seconds are added). Both models'
validation reward accuracy comes from the same function (core.train.dpo.preference_accuracy, fp32) on the
same held-out pairs. The last line reads `speedup_vs_trl=<x> reward_accuracy=<ours>/<trl>`.
Test: `pytest tests/unit/test_dpo.py tests/slow/test_dpo_learns.py`.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as `python bench/dpo.py`
from bench.train import LORA, train_counted  # noqa: E402  the SFT bench's LoRA settings, token count and clock
from core import models  # noqa: E402
from core.data import preference  # noqa: E402
from core.train import config, dpo, export, recipe  # noqa: E402
from tests.slow.test_dpo_learns import TOPICS, pair  # noqa: E402  the same synthetic pairs as the slow test

SETTINGS = {"learning_rate": 5e-4, "per_device_train_batch_size": 4, "gradient_accumulation_steps": 2, "beta": 0.1}


def pairs(train_n: int, val_n: int, seed: int = 0) -> tuple[list[dict], list[dict]]:
    rng = random.Random(seed)
    topics = TOPICS[:]
    rng.shuffle(topics)
    val = [pair(t, rng) for t in topics[:val_n]]
    train = [pair(topics[val_n + i % (len(topics) - val_n)], rng) for i in range(train_n)]
    return train, val


def run_ours(path: str, train: list[dict], val: list[dict], steps: int, out: Path) -> tuple[float, object, object]:
    """(non-padding tokens/s over training and the reference pass, trained model, tokenizer)."""
    for name, rows in (("train.jsonl", train), ("val.jsonl", val)):
        (out / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = config.preset(
        "lora",
        model=path,
        objective="dpo",
        train_file=str(out / "train.jsonl"),
        validation_file=str(out / "val.jsonl"),
        max_steps=steps,
        warmup_steps=0,
        sample_generations=0,
        load_best_model_at_end=False,
        **LORA,
        **SETTINGS,
    )
    summary = recipe.train(cfg, out / "run")
    tokens = summary["tokens_per_s"] * summary["train_seconds"]
    rate = tokens / (summary["train_seconds"] + summary["reference_seconds"])
    print(
        f"ours: {summary['tokens_per_s']:.1f} tokens/s in the steps, {rate:.1f} with the reference pass "
        f"({summary['reference_seconds']:.1f} s of {summary['train_seconds'] + summary['reference_seconds']:.1f} s); "
        f"bf16 {summary['bf16']}, padding efficiency {summary['padding_efficiency']:.2f}"
    )
    model, tok = export.load_run(out / "run")
    return rate, model, tok


def run_trl(path: str, train: list[dict], steps: int, out: Path) -> tuple[float, object, object]:
    """(non-padding tokens/s, trained model, tokenizer) with TRL's DPOTrainer and its defaults."""
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    args = DPOConfig(
        output_dir=str(out),
        max_steps=steps,
        learning_rate=SETTINGS["learning_rate"],
        per_device_train_batch_size=SETTINGS["per_device_train_batch_size"],
        gradient_accumulation_steps=SETTINGS["gradient_accumulation_steps"],
        beta=SETTINGS["beta"],
        max_length=1024,
        warmup_steps=0,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        bf16=False,
        seed=42,
    )
    peft = LoraConfig(
        r=LORA["lora_r"],
        lora_alpha=LORA["lora_alpha"],
        lora_dropout=LORA["lora_dropout"],
        target_modules=LORA["target_modules"],
        task_type="CAUSAL_LM",
    )
    data = Dataset.from_list([preference.to_trl(r) for r in train])
    trainer = DPOTrainer(model=model, args=args, train_dataset=data, processing_class=tok, peft_config=peft)
    return train_counted(trainer), trainer.model, tok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6, help="optimizer steps for each side")
    parser.add_argument("--train-n", type=int, default=48)
    parser.add_argument("--val-n", type=int, default=8)
    args = parser.parse_args()
    path = str(models.resolve(models.DEFAULT_MODEL_ID))
    train, val = pairs(args.train_n, args.val_n)
    print(
        f"machine: {torch.get_num_threads()} threads; torch {torch.__version__}; {args.steps} steps, "
        f"batch 4 pairs x accumulation 2, {len(train)} train / {len(val)} validation pairs"
    )
    with tempfile.TemporaryDirectory() as tmp:
        ours_rate, model, tok = run_ours(path, train, val, args.steps, Path(tmp))
        ours_acc = dpo.preference_accuracy(model, tok, val, beta=SETTINGS["beta"])["rewards_accuracies"]
        del model
        (Path(tmp) / "trl").mkdir()
        trl_rate, model, tok = run_trl(path, train, args.steps, Path(tmp) / "trl")
        trl_acc = dpo.preference_accuracy(model, tok, val, beta=SETTINGS["beta"])["rewards_accuracies"]
    print(f"TRL DPOTrainer defaults: {trl_rate:.1f} tokens/s")
    print(f"speedup_vs_trl={ours_rate / trl_rate:.2f} reward_accuracy={ours_acc:.2f}/{trl_acc:.2f}")


if __name__ == "__main__":
    main()
