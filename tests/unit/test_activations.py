"""The activation measurement (core.activations) against saved-tensor totals counted another way, in this file.

The other way: the same two layers built here on the CPU with real weights, run under torch's real bf16
autocast, every tensor autograd saves counted once by its data pointer, parameters left out; and by hand, the
bytes LoRA dropout keeps and the bf16 weight copies autocast keeps for full fine-tuning.
Test: `pytest tests/unit/test_activations.py`.
"""

from __future__ import annotations

import pytest
import torch
from transformers import AutoConfig, AutoModelForCausalLM

from core import activations

B, S, H, INTER, HEADS, KV, HD, R = 2, 16, 64, 128, 4, 2, 16, 4
ATTN = ["q_proj", "k_proj", "v_proj", "o_proj"]
LLAMA = dict(model_type="llama", hidden=H, intermediate=INTER, heads=HEADS, kv_heads=KV, head_dim=HD)
GPT2 = dict(model_type="gpt2", hidden=H, intermediate=INTER, heads=HEADS, kv_heads=HEADS, head_dim=HD)
# "cpu": the measurement casts as CPU autocast does, so the real CPU run below is its independent check.
RUN = dict(seq=S, batch=B, lora_r=R, lora_dropout=0.05, bf16=True, kernel="sdpa", qkv_bias=False, device="cpu")


def spec(shape: dict, method: str, **kw) -> dict:
    return {**shape, **RUN, "method": method, "targets": ATTN if shape is LLAMA else ["q_proj"], **kw}


def cpu_stack(s: dict):
    """Two real layers on the CPU, loaded the way the recipe loads each method."""
    from peft import LoraConfig, get_peft_model

    if s["model_type"] == "gpt2":
        cfg = AutoConfig.for_model("gpt2", n_embd=H, n_head=HEADS, n_inner=INTER, n_layer=2, vocab_size=8)
        cfg.resid_pdrop = cfg.embd_pdrop = cfg.attn_pdrop = 0.0
    else:
        cfg = AutoConfig.for_model("llama", hidden_size=H, intermediate_size=INTER, num_attention_heads=HEADS)
        cfg.num_key_value_heads, cfg.head_dim, cfg.num_hidden_layers, cfg.vocab_size = KV, HD, 2, 8
    cfg._attn_implementation = "sdpa"
    dtype = torch.float32 if s["method"] == "full" or not s["bf16"] else torch.bfloat16
    model = AutoModelForCausalLM.from_config(cfg, dtype=dtype)
    if s["method"] == "lora":
        model.requires_grad_(False)
        targets = ["c_attn"] if s["model_type"] == "gpt2" else ATTN
        lora = LoraConfig(r=R, lora_alpha=2 * R, lora_dropout=s["lora_dropout"], target_modules=targets)
        model = get_peft_model(model, lora)
    model.train()
    layers = next(m for m in model.modules() if isinstance(m, torch.nn.ModuleList))
    rotary = next((m for n, m in model.named_modules() if n.endswith("rotary_emb")), None)
    return model, layers, rotary


def counted_on_cpu(s: dict) -> int:
    """Saved bytes of the two layers at batch B, each saved storage once by data pointer, parameters excluded."""
    model, layers, rotary = cpu_stack(s)
    params = {p.data_ptr() for p in model.parameters()}
    seen: dict[int, int] = {}
    held = []

    def pack(t):
        held.append(t)
        ptr = t.untyped_storage().data_ptr()
        if ptr not in params:
            seen[ptr] = t.untyped_storage().nbytes()
        return t

    dtype = torch.bfloat16 if s["method"] == "lora" and s["bf16"] else torch.float32
    x = torch.randn(B, S, H, dtype=dtype, requires_grad=True)
    kw = {"position_embeddings": rotary(x, torch.arange(S)[None])} if rotary is not None else {}
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=s["bf16"])
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), autocast:
        h = x * 1
        for layer in layers:
            out = layer(h, **kw)
            h = out[0] if isinstance(out, tuple) else out
    return sum(seen.values())


@pytest.mark.parametrize("method", ["lora", "full"])
def test_without_bf16_the_measurement_matches_a_real_fp32_run(method):
    # A CPU without native bf16 (the recipe's bf16_supported says no) trains in fp32 with no autocast.
    s = spec(LLAMA, method, bf16=False)
    got = activations.measure(s)
    assert activations.STACK_LAYERS * (got["layer_bytes"] + got["constant_bytes"]) == counted_on_cpu(s)
    assert got["input_bytes"] == B * S * H * 4


@pytest.mark.parametrize("shape", [LLAMA, GPT2], ids=["llama-gated-mlp", "gpt2-mlp"])
@pytest.mark.parametrize("method", ["lora", "full"])
def test_measurement_matches_real_autocast_counted_by_pointer(shape, method):
    got = activations.measure(spec(shape, method))
    total = activations.STACK_LAYERS * (got["layer_bytes"] + got["constant_bytes"])
    # CPU's layer_norm keeps a bf16 input's mean and rstd in bf16; meta (like CUDA) keeps them in fp32:
    # 2 layers x 2 norms x 2 statistics x 32 tokens x 2 more bytes.
    stats = 2 * 2 * 2 * B * S * 2 if shape is GPT2 and method == "lora" else 0
    assert total == counted_on_cpu(spec(shape, method)) + stats
    assert got["input_bytes"] == B * S * H * (2 if method == "lora" else 4)  # the residual stream's dtype


def test_lora_dropout_keeps_a_mask_and_a_dropped_copy_per_adapter():
    with_dropout = activations.measure(spec(LLAMA, "lora"))["layer_bytes"]
    without = activations.measure(spec(LLAMA, "lora", lora_dropout=0.0))["layer_bytes"]
    # Each of q/k/v/o sees a 64-wide input, which PEFT casts to the adapters' fp32 before dropout; lora_A saves
    # the bf16 autocast copy of its input with or without dropout, so what dropout adds is its mask: in the input's
    # dtype on the CPU (4 bytes) -> 4 x 32 tokens x 64 x 4; CUDA's fused dropout keeps a bool mask (1 byte) -> x 1.
    assert with_dropout - without == 4 * B * S * H * 4
    on_cuda = [
        activations.measure(spec(LLAMA, "lora", device="cuda", lora_dropout=p))["layer_bytes"] for p in (0.05, 0)
    ]
    assert on_cuda[0] - on_cuda[1] == 4 * B * S * H * 1


def test_full_fine_tuning_keeps_bf16_copies_of_every_weight():
    got = activations.measure(spec(LLAMA, "full"))
    # q 64x64, k 64x32, v 64x32, o 64x64, gate/up/down 3 x 64x128 = 36,864 weights, 2 bytes each; plus RoPE's
    # fp32 cos and sin (16 x 16 each), shared by both layers: 2 x 1,024 / 2 per layer.
    assert got["constant_bytes"] == 36_864 * 2 + 1024
    assert activations.measure(spec(LLAMA, "lora"))["constant_bytes"] < 36_864  # only the adapters' copies


def test_gated_mlp_and_gqa_cost_more_than_the_old_fixed_factor():
    big = {**LLAMA, "hidden": 4096, "intermediate": 14336, "heads": 32, "kv_heads": 8, "head_dim": 128}
    got = activations.measure({**spec(big, "lora"), "seq": 512, "batch": 1, "lora_r": 16})
    assert got["layer_bytes"] / (512 * 4096) > 34  # the fixed GPT-block factor the estimate used


def test_eager_attention_keeps_the_seq_by_seq_probabilities():
    fused = activations.measure(spec(LLAMA, "lora", device="cuda"))["layer_bytes"]
    eager = activations.measure(spec(LLAMA, "lora", device="cuda", kernel="eager"))["layer_bytes"]
    assert eager - fused >= B * HEADS * S * S * 2  # at least the bf16 probabilities kept for backward


def test_the_math_kernel_keeps_seq_by_seq_scores_as_the_cpu_runs_it():
    fused = activations.measure(spec(LLAMA, "lora"))["layer_bytes"]
    math = activations.measure(spec(LLAMA, "lora", kernel="math"))["layer_bytes"]
    assert math - fused >= B * HEADS * S * S * 2
    # The same layers on a real CPU under the math kernel, counted by pointer (the recipe's choice for short batches).
    from torch.nn.attention import SDPBackend, sdpa_kernel

    with sdpa_kernel(SDPBackend.MATH):
        real = counted_on_cpu(spec(LLAMA, "lora"))
    got = activations.measure(spec(LLAMA, "lora", kernel="math"))
    assert activations.STACK_LAYERS * (got["layer_bytes"] + got["constant_bytes"]) == real
