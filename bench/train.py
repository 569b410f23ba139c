"""Training speed: the project's recipe against the plain TRL SFTTrainer, in one run.

`python bench/train.py [--steps N] [--train-n 160]`: SmolLM2-135M-Instruct (the embedded model),
LoRA r16 on q/k/v/o, the demo dataset, the same hyperparameters (lr 2e-4, batch 4, accumulation
4, max_length 1024, warm-up 0) and the same number of optimizer steps. TRL runs with its own
defaults otherwise (fp32 on CPU, no packing, random batches, loss on every token). Throughput
counts non-padding tokens; the bf16 matmul rate of this machine is measured in the same run.
Both validation losses are computed by the same function (mean cross-entropy per assistant token,
fp32) on the same validation split. The last line reads
`speedup_vs_trl=<x> matmul_fraction=<y> val_loss=<ours>/<baseline>`.
Test: `pytest tests/unit/test_recipe.py`.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as `python bench/train.py`
from core import models  # noqa: E402
from core.data import samples  # noqa: E402
from core.train import config, recipe, tokenize  # noqa: E402

LORA = {
    "lora_r": 16,
    "lora_alpha": 32,
    "lora_dropout": 0.05,
    "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"],
}


def matmul_rate(m: int = 2048, k: int = 2048, n: int = 2048, seconds: float = 3.0) -> float:
    """bf16 matrix-multiply FLOP/s of this machine for (m x k) @ (k x n), as many as fit in `seconds`."""
    a, b = torch.randn(m, k, dtype=torch.bfloat16), torch.randn(k, n, dtype=torch.bfloat16)
    torch.matmul(a, b)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        torch.matmul(a, b)
        count += 1
    return 2 * m * k * n * count / (time.perf_counter() - start)


def split_demo(train_n: int, val_n: int, seed: int = 0) -> tuple[list[dict], list[dict]]:
    rows = [json.loads(line) for line in samples.sample_path("demo").read_text().splitlines()]
    random.Random(seed).shuffle(rows)
    return rows[:train_n], rows[train_n : train_n + val_n]


def val_loss(model, tok, val: list[dict]) -> float:
    """Mean cross-entropy per assistant token, fp32, one example at a time (identical for both)."""
    tokenized = tokenize.tokenize(tok, val, 1024, assistant_only=True).examples
    head = model.get_output_embeddings()
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for ex in tokenized:
            loss, n = recipe.batch_loss(model, head, tokenize.collate([ex], tok.pad_token_id), bf16=False)
            total, count = total + float(loss), count + n
    return total / count


def run_trl(path: str, train: list[dict], steps: int, out: Path) -> tuple[float, object, object]:
    """(non-padding tokens/s, trained model, tokenizer) with TRL's SFTTrainer and its defaults."""
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    args = SFTConfig(
        output_dir=str(out),
        max_steps=steps,
        learning_rate=2e-4,
        per_device_train_batch_size=4,
        gradient_accumulation_steps=4,
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
        r=16, lora_alpha=32, lora_dropout=0.05, target_modules=LORA["target_modules"], task_type="CAUSAL_LM"
    )
    trainer = SFTTrainer(
        model=model, args=args, train_dataset=Dataset.from_list(train), processing_class=tok, peft_config=peft
    )
    return train_counted(trainer), trainer.model, tok


def train_counted(trainer) -> float:
    """Train a transformers/TRL trainer; its non-padding tokens per second, from its collator and a clock."""
    from transformers import TrainerCallback

    seen, timing = {"tokens": 0}, {}
    collate = trainer.data_collator

    def counting(features):
        batch = collate(features)
        seen["tokens"] += (
            int(batch["attention_mask"].sum()) if "attention_mask" in batch else batch["input_ids"].numel()
        )
        return batch

    trainer.data_collator = counting

    class Clock(TrainerCallback):
        def on_train_begin(self, *a, **k):
            timing["start"] = time.perf_counter()

        def on_train_end(self, *a, **k):
            timing["end"] = time.perf_counter()

    trainer.add_callback(Clock())
    trainer.train()
    return seen["tokens"] / (timing["end"] - timing["start"])


def run_ours(path: str, train: list[dict], val: list[dict], steps: int, out: Path) -> tuple[dict, object, object]:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    (out / "train.jsonl").write_text("".join(json.dumps(e) + "\n" for e in train))
    (out / "val.jsonl").write_text("".join(json.dumps(e) + "\n" for e in val))
    cfg = config.preset(
        "lora",
        model=path,
        train_file=str(out / "train.jsonl"),
        validation_file=str(out / "val.jsonl"),
        max_steps=steps,
        warmup_steps=0,
        max_length=1024,
        sample_generations=0,
        load_best_model_at_end=False,
        **LORA,
    )
    summary = recipe.train(cfg, out / "run")
    base = AutoModelForCausalLM.from_pretrained(path)
    return (
        summary,
        PeftModel.from_pretrained(base, out / "run" / "final"),
        AutoTokenizer.from_pretrained(path),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4, help="optimizer steps for each side")
    parser.add_argument("--train-n", type=int, default=160)
    parser.add_argument("--val-n", type=int, default=20)
    args = parser.parse_args()
    path = str(models.resolve(models.DEFAULT_MODEL_ID))
    train, val = split_demo(args.train_n, args.val_n)
    print(
        f"machine: {torch.get_num_threads()} threads; torch {torch.__version__}; {args.steps} steps, "
        f"batch 4 x accumulation 4, {len(train)} train / {len(val)} validation examples"
    )
    rate = matmul_rate()
    # The model's own shapes: a micro-batch of ~4 x 200 tokens through SmolLM2's 576 -> 1536 MLP.
    shaped = matmul_rate(800, 576, 1536)
    print(f"bf16 matmul: {rate / 1e9:.1f} GFLOP/s at 2048^3; {shaped / 1e9:.1f} GFLOP/s at the model's shapes")
    with tempfile.TemporaryDirectory() as tmp:
        ours, our_model, tok = run_ours(path, train, val, args.steps, Path(tmp))
        ours_loss = val_loss(our_model, tok, val)
        print(
            f"ours: {ours['tokens_per_s']:.1f} tokens/s (bf16 {ours['bf16']}, padding efficiency "
            f"{ours['padding_efficiency']:.2f}), val loss {ours_loss:.4f}"
        )
        del our_model
        trl_rate, trl_model, tok = run_trl(path, train, args.steps, Path(tmp) / "trl")
        trl_loss = val_loss(trl_model, tok, val)
        print(f"TRL SFTTrainer defaults: {trl_rate:.1f} tokens/s, val loss {trl_loss:.4f}")
    params = sum(p.numel() for p in trl_model.parameters())
    fraction = 4 * params * ours["tokens_per_s"] / rate  # forward + backward through frozen weights
    print(
        f"model FLOP/s {4 * params * ours['tokens_per_s'] / 1e9:.1f} G: "
        f"{4 * params * ours['tokens_per_s'] / shaped:.2f} of the matmul rate at the model's shapes"
    )
    print(
        f"speedup_vs_trl={ours['tokens_per_s'] / trl_rate:.2f} matmul_fraction={fraction:.2f} "
        f"val_loss={ours_loss:.4f}/{trl_loss:.4f}"
    )


if __name__ == "__main__":
    main()
