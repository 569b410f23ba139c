"""The memory estimate's terms as the recipe runs each method, the measured activations it uses (a real
subprocess, the workspace cache) and the formula it falls back to, and what the CLI prints beside the numbers.

Test: `pytest tests/unit/test_estimate.py`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from core import activations, estimate, paths
from core.estimate import Assumptions, PlanRequest, Shape

ROOT = Path(__file__).resolve().parents[2]
# 1272 parameters: 80 tied embeddings, 2 layers of 192 attention + 384 gated-MLP weights (1152 in linears) + norms.
TINY = Shape("tiny", hidden=8, layers=2, intermediate=16, heads=2, kv_heads=1, vocab=10, model_type="llama")
BARE = Assumptions(lora_r=2, overhead_gb=0.0, fragmentation=0.0)


def test_full_fine_tuning_counts_fp32_weights_and_autocast_bf16_copies():
    terms = estimate.memory_bytes(TINY, "full", seq=3, batch=2, a=BARE)
    # The recipe loads fp32 master weights and trains under bf16 autocast: weights and gradients 4 bytes,
    # AdamW 8; autocast keeps a bf16 copy of every linear (1152 x 2) and of the tied head (10 x 8 x 2).
    assert (terms["weights"], terms["gradients"], terms["optimizer"]) == (1272 * 4, 1272 * 4, 1272 * 8)
    assert terms["autocast_copies"] == 1152 * 2 + 160
    no_autocast = estimate.memory_bytes(TINY, "full", 3, 2, Assumptions(lora_r=2, bf16=False))
    assert no_autocast["autocast_copies"] == 0


def test_qlora_keeps_the_unquantized_weights_in_fp32_and_counts_the_constants():
    terms = estimate.memory_bytes(TINY, "qlora", seq=3, batch=2, a=BARE)
    assert terms["weights"] == 1152 * 0.5 + 120 * 4  # NF4 linears; embeddings and norms fp32 after prepare
    assert terms["quant_constants"] == pytest.approx(1152 / 64 + 1152 * 4 / (64 * 256))
    single = estimate.memory_bytes(TINY, "qlora", 3, 2, Assumptions(lora_r=2, double_quant=False))
    assert single["quant_constants"] == pytest.approx(1152 * 4 / 64)  # an fp32 absmax per block
    # The fp32 head gets a bf16 autocast copy; so do the fp32 adapters (224 x 2).
    assert terms["autocast_copies"] == 160 + 224 * 2


def test_logits_only_at_the_positions_with_a_loss():
    every = estimate.memory_bytes(TINY, "lora", 3, 2, BARE)["logits"]
    half = estimate.memory_bytes(TINY, "lora", 3, 2, Assumptions(lora_r=2, loss_share=0.5))["logits"]
    assert every == 6 * 10 * 10 and half == every / 2


def test_plan_uses_the_measurement_from_a_subprocess_and_caches_it():
    a = Assumptions(lora_r=2)
    p = estimate.plan(PlanRequest(TINY, "lora", 16, 2, 1000.0, a, measure=True), [])
    # The same measurement, made here in-process, is what the plan used: layers x bytes per layer.
    here = activations.measure(estimate.activation_spec(TINY, "lora", 16, 2, a))
    assert p.memory["lora"]["activations"] == pytest.approx(2 * here["layer_bytes"] / estimate.GIB)
    assert p.source["lora"] == activations.SOURCE and p.notes["lora"]["activations"].startswith(activations.SOURCE)
    assert "lora_dropout 0.05" in p.notes["lora"]["activations"]
    cache = paths.cache_dir() / activations.CACHE_FILE
    saved = json.loads(cache.read_text())
    assert len(saved) == 3  # one entry per method
    key = json.dumps(estimate.activation_spec(TINY, "lora", 16, 2, a), sort_keys=True)
    saved[key]["layer_bytes"] = 2**30  # the next plan reads the cache, not a new measurement
    cache.write_text(json.dumps(saved))
    again = estimate.plan(PlanRequest(TINY, "lora", 16, 2, 1000.0, a, measure=True), [])
    assert again.memory["lora"]["activations"] == pytest.approx(2.0)


def test_checkpointing_keeps_each_layer_input_and_one_layer():
    a = Assumptions(lora_r=2, gradient_checkpointing=True)
    m = activations.measure(estimate.activation_spec(TINY, "lora", 16, 2, a))
    got = estimate.memory_bytes(TINY, "lora", 16, 2, a, m)["activations"]
    assert got == 2 * (2 * 16 * 8 * 2) + m["layer_bytes"]  # 2 layers x a bf16 input of 32 tokens x 8; one layer


def test_a_model_that_cannot_be_built_falls_back_to_the_formula_and_says_why():
    odd = Shape("odd", hidden=8, layers=2, intermediate=16, heads=2, kv_heads=1, vocab=10, model_type="no-such-model")
    p = estimate.plan(PlanRequest(odd, "lora", 16, 2, 1000.0, BARE, measure=True), [])
    formula = estimate.memory_gb(odd, "lora", 16, 2, BARE)["activations"]
    assert p.memory["lora"]["activations"] == formula
    assert p.source["lora"].startswith(estimate.FORMULA) and "could not be built" in p.source["lora"]
    assert "no-such-model" in p.source["lora"]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "core.costs", "memory", *args]
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_cli_memory_prints_the_terms_with_their_assumptions():
    out = run_cli("--model", "SmolLM2-135M", "--method", "full", "--seq", "256", "--batch", "1", "--json")
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    old = {"model", "method", "params", "trainable_params", "seq", "batch", "terms_gb", "total_gb", "fits_on"}
    assert old <= got.keys() and {"weights", "activations", "logits", "overhead"} <= got["terms_gb"].keys()
    assert got["activation_source"] == activations.SOURCE
    assert got["assumptions"]["weights"] == "4 bytes per weight under bf16 autocast"
    assert got["terms_gb"]["autocast_copies"] > 0
    text = run_cli("--model", "SmolLM2-135M", "--method", "lora", "--formula")
    assert text.returncode == 0, text.stderr
    assert "formula" in text.stdout and "lora_dropout 0.05" in text.stdout and "fp32" in text.stdout
