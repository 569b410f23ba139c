"""Slow tests: the training recipe on the real SmolLM2-135M-Instruct (converted from its GGUF).

QLoRA's 4-bit base must score a batch close to LoRA's (and exactly like an independent NF4
round trip of the same weights), and a short LoRA run on the demo data must lower validation
loss. Prints the numbers; never passes or fails on time.
Run: .venv/bin/pytest tests/slow/test_train_smollm2.py -q -s
"""

from __future__ import annotations

import json
import time

import pytest
import torch

from core import models
from core.data.samples import sample_path
from core.jobs import rundir
from core.train import recipe, tokenize
from core.train.config import preset

DEMO = [json.loads(line) for line in sample_path("demo").read_text().splitlines()]
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def smollm2(tmp_path_factory):
    """The converted model folder, made once for the module."""
    root = tmp_path_factory.mktemp("smollm2_train")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FT_HOME", str(root))
        return str(models.resolve(models.DEFAULT_MODEL_ID))


def mean_loss(model, tok, rows: list[dict]) -> float:
    """Mean assistant-token loss of `rows`, through the recipe's own loss, in batches of 4."""
    examples = tokenize.tokenize(tok, rows, max_length=256).examples
    head = model.get_output_embeddings()
    total, count = 0.0, 0
    model.eval()
    with torch.no_grad():
        for i in range(0, len(examples), 4):
            loss, n = recipe.batch_loss(model, head, tokenize.collate(examples[i : i + 4], tok.pad_token_id), True)
            total, count = total + loss.item(), count + n
    return total / count


def nf4_round_trip(folder: str):
    """The fp32 model whose linears hold their NF4 round trip (double quantization, as QLoRA loads)."""
    import bitsandbytes.functional as bnbf

    # From fp32 weights, as QLoRA quantizes them (a bf16 copy would round them twice).
    clone, _ = recipe.load_model(preset("lora", model=folder), CPU, bf16=False)
    for name, module in clone.named_modules():
        if isinstance(module, torch.nn.Linear) and "lm_head" not in name and "lora_" not in name:
            q, state = bnbf.quantize_4bit(module.weight.data, quant_type="nf4", compress_statistics=True)
            module.weight.data = bnbf.dequantize_4bit(q, state).float()
    return clone


def test_qlora_first_loss_matches_lora_within_the_cost_of_4_bits(smollm2):
    batch = DEMO[:8]
    lora, tok = recipe.load_model(preset("lora", model=smollm2), CPU, bf16=True)
    qlora, _ = recipe.load_model(preset("qlora", model=smollm2), CPU, bf16=True)
    # Adapters start as a zero update (lora_B = 0): both score the base model itself.
    lora_loss, qlora_loss = mean_loss(lora, tok, batch), mean_loss(qlora, tok, batch)
    reference = mean_loss(nf4_round_trip(smollm2), tok, batch)
    print(
        f"\nfirst-batch loss (8 demo examples, assistant tokens): LoRA {lora_loss:.4f}, "
        f"QLoRA {qlora_loss:.4f} ({qlora_loss / lora_loss - 1:+.1%}), NF4 round trip {reference:.4f}"
    )
    # The 4-bit load path is right: it scores like an independent NF4 round trip of the same weights.
    assert abs(qlora_loss - reference) / reference < 0.01
    # What 4 bits cost. Measured here: +9.5% (3.70 -> 4.05); compute dtype fp32 vs bf16 and double
    # quantization each moved it < 0.2%; the same round trip gives it, so it is NF4's weight error
    # (~9% relative per matrix) on a 135M model, not a broken load (which scored 7.3 vs 2.9).
    assert 0 < qlora_loss / lora_loss - 1 < 0.15


def test_short_lora_run_lowers_validation_loss(smollm2, tmp_path):
    train_file, val_file = tmp_path / "train.jsonl", tmp_path / "val.jsonl"
    train_file.write_text("".join(json.dumps(r) + "\n" for r in DEMO[:40]))
    val_file.write_text("".join(json.dumps(r) + "\n" for r in DEMO[180:]))
    cfg = preset(
        "lora",
        model=smollm2,
        train_file=str(train_file),
        validation_file=str(val_file),
        num_train_epochs=2,
        per_device_train_batch_size=4,
        gradient_accumulation_steps=1,
        max_length=256,
        sample_generations=2,
    )
    base_model, tok = recipe.load_model(cfg, CPU, bf16=True)
    base = mean_loss(base_model, tok, DEMO[180:])
    del base_model
    start = time.perf_counter()
    summary = recipe.train(cfg, tmp_path / "run")
    seconds = time.perf_counter() - start
    evals = [r["eval_loss"] for r in rundir.read_metrics(tmp_path / "run") if r["eval_loss"] is not None]
    print(
        f"\nLoRA r16, 40 examples x 2 epochs ({summary['final_step']} steps): validation loss {base:.4f} -> "
        f"{' -> '.join(f'{e:.4f}' for e in evals)}; {summary['tokens_per_s']:.0f} tokens/s, "
        f"padding efficiency {summary['padding_efficiency']:.3f}, {seconds:.0f} s"
    )
    # Measured here: 3.81 -> 3.59 after 20 steps; a run that does not learn stays at 3.81.
    assert summary["best_eval_loss"] < base - 0.05
    samples = json.loads((tmp_path / "run" / "samples.json").read_text())
    assert len(samples) == 2 and all(s["generated"] for s in samples)
