"""The memory estimate's terms as the recipe runs each method, the measured activations it uses (a real
subprocess, the workspace cache) and the formula it falls back to, and what the CLI prints beside the numbers.

Test: `pytest tests/unit/test_estimate.py`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import replace
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
    assert every == 6 * 10 * BARE.logits_bytes and half == every / 2


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


# ---- the terms as this machine runs them ----


def test_preflight_on_a_cpu_follows_the_recipes_bf16_check():
    import torch

    from core.train import calibrate, preflight, recipe
    from core.train.config import preset
    from core.train.device import Device

    native = recipe.bf16_supported(torch.device("cpu"))  # what the worker asks torch
    assert calibrate.cpu_has_bf16() == native
    a = preflight.assumptions(preset("lora"), Device("cpu", "cpu", 16.0), seq=128)
    assert a.bf16 == native
    # Without native bf16 the recipe loads the frozen base in fp32: the bytes of the dtype it loads.
    loaded = torch.bfloat16 if native else torch.float32
    assert a.frozen_weight_bytes == torch.empty(0, dtype=loaded).element_size()


class LiveBytes:
    """The peak of live tensor bytes under a dispatch mode: each new storage counted until it is freed."""

    def __init__(self):
        import weakref

        from torch.utils._python_dispatch import TorchDispatchMode
        from torch.utils._pytree import tree_flatten

        meter = self
        self.live, self.now, self.peak = {}, 0, 0

        class Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                out = func(*args, **(kwargs or {}))
                for t in tree_flatten(out)[0]:
                    st = getattr(t, "untyped_storage", lambda: None)()
                    if st is not None and st.data_ptr() and st.data_ptr() not in meter.live:
                        meter.live[st.data_ptr()] = st.nbytes()
                        meter.now += st.nbytes()
                        meter.peak = max(meter.peak, meter.now)
                        weakref.finalize(st, meter.free, st.data_ptr())
                return out

        self.mode = Mode()

    def free(self, ptr):
        self.now -= self.live.pop(ptr)


def logits_peak(positions: int, vocab: int, bf16: bool) -> int:
    """The recipe's loss (core.train.recipe.batch_loss) on a frozen head, forward and backward: peak live bytes."""
    import torch
    import torch.nn.functional as F

    torch.manual_seed(0)
    head = torch.nn.Linear(8, vocab, bias=False).requires_grad_(False)
    h = torch.randn(1, positions, 8, requires_grad=True)
    targets = torch.randint(0, vocab, (positions,))
    meter = LiveBytes()
    with meter.mode:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = head(h)
        loss = F.cross_entropy(out[0].float(), targets, reduction="sum")
        del out
        loss.backward()
    return meter.peak


@pytest.mark.parametrize("bf16", [False, True], ids=["fp32", "bf16-autocast"])
def test_logits_count_the_copies_the_loss_makes_at_its_peak(bf16):
    positions, vocab = 512, 1000
    # What one more vocabulary's worth costs: the hidden states and their gradients do not grow with it.
    per_entry = (logits_peak(positions, 2 * vocab, bf16) - logits_peak(positions, vocab, bf16)) / (positions * vocab)
    shape = replace(TINY, vocab=vocab)
    got = estimate.memory_bytes(shape, "lora", seq=positions, batch=1, a=Assumptions(bf16=bf16))["logits"]
    assert got / (positions * vocab) == pytest.approx(per_entry, rel=0.02)


def test_the_cpu_allocator_keeps_a_share_of_activations_and_logits():
    a = Assumptions(lora_r=2, overhead_gb=0.5, fragmentation=0.1, allocator_share=0.7)
    terms = estimate.memory_bytes(TINY, "lora", 16, 2, a)
    rest = sum(v for k, v in terms.items() if k != "overhead")
    held = 0.7 * (terms["activations"] + terms["logits"])
    assert terms["overhead"] == pytest.approx(0.5 * estimate.GIB + 0.1 * rest + held)
    from core.train import preflight
    from core.train.config import preset
    from core.train.device import Device

    on_cpu = preflight.assumptions(preset("lora"), Device("cpu", "cpu", 16.0), 128)
    on_gpu = preflight.assumptions(preset("lora"), Device("gpu", "H100", 80.0), 128)
    assert on_cpu.allocator_share > 0 and on_gpu.allocator_share == 0


def test_a_cached_plan_never_waits_and_measures_in_the_background():
    a = Assumptions(lora_r=2)
    first = estimate.plan(PlanRequest(TINY, "lora", 16, 2, 1000.0, a, cached=True), [])
    assert first.source["lora"].startswith(estimate.FORMULA) and activations.BACKGROUND in first.source["lora"]
    formula = estimate.memory_gb(TINY, "lora", 16, 2, a)["activations"]
    assert first.memory["lora"]["activations"] == formula
    cache = paths.cache_dir() / activations.CACHE_FILE
    key = json.dumps(estimate.activation_spec(TINY, "lora", 16, 2, a), sort_keys=True)
    for _ in range(600):  # the background subprocess imports torch and transformers: seconds on a busy machine
        if key in activations._read_cache() and not (paths.cache_dir() / activations.PENDING_FILE).exists():
            break
        time.sleep(0.5)
    assert key in json.loads(cache.read_text()), "the background measurement never reached the cache"
    again = estimate.plan(PlanRequest(TINY, "lora", 16, 2, 1000.0, a, cached=True), [])
    here = activations.measure(estimate.activation_spec(TINY, "lora", 16, 2, a))
    assert again.source["lora"] == activations.SOURCE
    assert again.memory["lora"]["activations"] == pytest.approx(2 * here["layer_bytes"] / estimate.GIB)
