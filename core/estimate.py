"""Local-GPU memory and time for full, LoRA and QLoRA fine-tuning, term by term, before you launch.

Memory = weights + LoRA adapters + gradients + optimizer state + activations + logits + overhead,
each from a model shape (a preset, a config.json, or numbers by hand) and visible assumptions.
Time = tokens x FLOPs per token / (GPU bf16 FLOP/s x utilisation); dollars from the GPU price table.
Sizes are in GB of 2**30 bytes, the unit GPU capacities are quoted in.
Run: `python -m core.estimate memory --model Mistral-7B --method qlora --seq 512 --batch 4 [--json]`
(`python -m core.costs memory ...` runs the same).
Test: `pytest tests/unit/test_costs.py`.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from core import prices
from core.cli import fail
from core.config import help_of, option
from core.money import usd

GIB = 2**30
METHODS = ("full", "lora", "qlora")
TERMS = (
    "weights",
    "quant_constants",
    "adapters",
    "gradients",
    "optimizer",
    "autocast_copies",
    "activations",
    "logits",
    "overhead",
)
ATTENTION_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj")
MLP_MODULES = ("gate_proj", "up_proj", "down_proj")
# transformers' optim names -> bytes of optimizer state per trainable parameter.
OPTIMIZER_BYTES = {"adamw_torch": 8.0, "adamw_8bit": 2.0}
# Families whose MLP has two matrices (up, down) instead of three (gate, up, down).
UNGATED = {"gpt2", "gpt_neox", "gptj", "opt", "bloom", "falcon", "phi", "gpt_bigcode", "starcoder2"}


@dataclass(frozen=True)
class Shape:
    """The numbers of a decoder-only transformer that memory and FLOPs depend on."""

    name: str
    hidden: int
    layers: int
    intermediate: int
    heads: int
    kv_heads: int
    vocab: int
    tied: bool = True
    head_dim: int = 0  # 0 means hidden // heads
    qkv_bias: bool = False
    gated_mlp: bool = True
    params: int = 0  # 0 means counted from the shape; set when a user states the count
    assumed_from: str = ""  # the preset that filled in what the user did not give
    model_type: str = ""  # config.json's model_type: the code the activation measurement builds

    @property
    def hd(self) -> int:
        return self.head_dim or self.hidden // self.heads

    @property
    def embedding_params(self) -> int:
        return self.vocab * self.hidden * (1 if self.tied else 2)

    @property
    def total_params(self) -> int:
        return self.params or count_params(self)


def module_shapes(s: Shape) -> dict[str, tuple[int, int]]:
    """(d_in, d_out) of each linear layer in one block; k/v are narrower under GQA."""
    q, kv = s.heads * s.hd, s.kv_heads * s.hd
    shapes = {"q_proj": (s.hidden, q), "k_proj": (s.hidden, kv), "v_proj": (s.hidden, kv), "o_proj": (q, s.hidden)}
    shapes.update(up_proj=(s.hidden, s.intermediate), down_proj=(s.intermediate, s.hidden))
    if s.gated_mlp:
        shapes["gate_proj"] = (s.hidden, s.intermediate)
    return shapes


def count_params(s: Shape) -> int:
    """Embeddings (+ untied head) + per block (linears, q/k/v biases, two norms) + final norm."""
    linears = sum(a * b for a, b in module_shapes(s).values())
    bias = (s.heads + 2 * s.kv_heads) * s.hd if s.qkv_bias else 0
    return s.embedding_params + s.layers * (linears + bias + 2 * s.hidden) + s.hidden


def _preset(name, hidden, layers, inter, heads, kv, vocab, tied, head_dim=0, bias=False, mt="llama") -> Shape:
    return Shape(name, hidden, layers, inter, heads, kv, vocab, tied, head_dim, bias, model_type=mt)


# Shapes from each model's public config.json on the Hugging Face hub.
PRESETS: dict[str, Shape] = {
    s.name: s
    for s in (
        _preset("SmolLM2-135M", 576, 30, 1536, 9, 3, 49152, True),
        _preset("SmolLM2-360M", 960, 32, 2560, 15, 5, 49152, True),
        _preset("SmolLM2-1.7B", 2048, 24, 8192, 32, 32, 49152, True),
        _preset("Qwen2.5-0.5B", 896, 24, 4864, 14, 2, 151936, True, 64, True, "qwen2"),
        _preset("Qwen2.5-1.5B", 1536, 28, 8960, 12, 2, 151936, True, 128, True, "qwen2"),
        _preset("Qwen2.5-7B", 3584, 28, 18944, 28, 4, 152064, False, 128, True, "qwen2"),
        _preset("Llama-2-7B", 4096, 32, 11008, 32, 32, 32000, False),  # LLaMA-Factory's hardware table's 7B
        _preset("Llama-3-8B", 4096, 32, 14336, 32, 8, 128256, False),
        _preset("Mistral-7B", 4096, 32, 14336, 32, 8, 32768, False, mt="mistral"),  # v0.3, the guide's model
    )
}


def nearest_preset(params: float) -> Shape:
    """The preset closest in size on a log scale (7e9 is nearer 7.2B than 8.0B)."""
    return min(PRESETS.values(), key=lambda s: abs(math.log(s.total_params / params)))


def human_count(n: float) -> str:
    """7e9 -> '7B', 1.35e8 -> '135M'."""
    for div, unit in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if n >= div:
            return f"{n / div:.3g}{unit}"
    return f"{n:.0f}"


def shape_by_hand(params: float, hidden: int = 0, layers: int = 0, heads: int = 0, kv_heads: int = 0) -> Shape:
    """A stated parameter count; what is not given comes from the nearest preset, and says so."""
    if params <= 0:
        raise ValueError(f"parameter count must be positive, got {params}")
    base = nearest_preset(params)
    hidden = hidden or base.hidden
    heads = heads or max(1, hidden // base.hd)
    group = max(1, base.heads // base.kv_heads)
    kv_heads = kv_heads or max(1, heads // group)
    scale = hidden / base.hidden
    return replace(
        base,
        name=f"{human_count(params)} parameters",
        hidden=hidden,
        layers=layers or base.layers,
        heads=heads,
        kv_heads=kv_heads,
        head_dim=hidden // heads,
        intermediate=int(base.intermediate * scale),
        params=int(params),
        assumed_from=base.name,
    )


def find_preset(name: str) -> Shape:
    """A preset by name, case-insensitive; a unique partial name works too ('mistral')."""
    wanted = name.strip().lower().split("/")[-1]
    exact = [s for n, s in PRESETS.items() if n.lower() == wanted]
    partial = [s for n, s in PRESETS.items() if wanted and wanted in n.lower()]
    if exact or len(partial) == 1:
        return (exact or partial)[0]
    raise ValueError(f"unknown model preset {name!r}; known: {', '.join(PRESETS)}")


def parse_count(text: str | float) -> float:
    """'7e9', '7000000000', '7B', '135M' -> a number of parameters."""
    raw = str(text).strip().upper().replace("_", "").replace(",", "")
    scale = {"K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}.get(raw[-1:], 1.0)
    try:
        value = float(raw[:-1] if scale != 1.0 else raw) * scale
    except ValueError:
        raise ValueError(f"not a parameter count: {text!r} (write 7e9, 7B or 135M)") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"parameter count must be a positive number, got {text!r}")
    return value


def _first(cfg: dict, *keys: str) -> Any:
    return next((cfg[k] for k in keys if cfg.get(k) is not None), None)


def shape_from_config(cfg: Any, name: str = "config.json") -> Shape:
    """A Shape from a Hugging Face config.json (dict); ValueError naming the missing key."""
    if not isinstance(cfg, dict):
        raise ValueError(f"{name}: expected a JSON object, got {type(cfg).__name__}")
    cfg = cfg.get("text_config") or cfg  # multimodal configs nest the language model
    need = {
        "hidden_size": ("hidden_size", "n_embd", "d_model"),
        "num_hidden_layers": ("num_hidden_layers", "n_layer", "num_layers"),
        "num_attention_heads": ("num_attention_heads", "n_head"),
        "vocab_size": ("vocab_size",),
    }
    got = {k: _first(cfg, *aliases) for k, aliases in need.items()}
    missing = [k for k, v in got.items() if not isinstance(v, int) or v <= 0]
    if missing:
        raise ValueError(f"{name}: missing or not a positive integer: {', '.join(missing)}")
    hidden, heads = got["hidden_size"], got["num_attention_heads"]
    return Shape(
        name=cfg.get("_name_or_path") or cfg.get("model_type") or name,
        hidden=hidden,
        layers=got["num_hidden_layers"],
        heads=heads,
        vocab=got["vocab_size"],
        intermediate=_first(cfg, "intermediate_size", "n_inner", "ffn_dim") or 4 * hidden,
        kv_heads=_first(cfg, "num_key_value_heads") or heads,
        head_dim=_first(cfg, "head_dim") or 0,
        tied=bool(cfg.get("tie_word_embeddings", False)),
        qkv_bias=bool(cfg.get("attention_bias") or cfg.get("model_type", "").startswith("qwen2")),
        gated_mlp=cfg.get("model_type") not in UNGATED,
        model_type=str(cfg.get("model_type") or ""),
    )


def shape_from_json_text(text: str, name: str = "config.json") -> Shape:
    try:
        return shape_from_config(json.loads(text), name)
    except json.JSONDecodeError as e:
        raise ValueError(f"{name}: not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})") from None


@dataclass
class Assumptions:
    """Every number the estimate rests on, in the engines' own vocabulary where one exists."""

    lora_r: int = option(16, "LoRA rank r: each targeted d_in x d_out layer gets r x (d_in + d_out) weights.")
    target_modules: tuple[str, ...] = option(ATTENTION_MODULES, "Layers that get adapters (q/k/v/o by default).")
    gradient_checkpointing: bool = option(
        False,
        "Keep only each layer's input and recompute the rest in backward: far less activation memory,"
        " one extra forward pass (~+33% compute).",
    )
    optim: str = option(
        "adamw_torch", "adamw_torch keeps two fp32 moments (8 bytes/trainable param); adamw_8bit keeps 2."
    )
    full_weight_bytes: float = option(
        4.0,
        "Bytes per weight (and per gradient) in full fine-tuning: the recipe loads fp32 master weights"
        " (4) and computes under bf16 autocast; 2 for a pure-bf16 run.",
    )
    frozen_weight_bytes: float = option(2.0, "Bytes per frozen base weight in LoRA (bf16).")
    bf16: bool = option(
        True,
        "bf16 autocast, as the recipe runs where the hardware has bf16: matmuls keep bf16 copies of fp32"
        " weights (and of their inputs) for backward.",
    )
    lora_dropout: float = option(0.05, "Dropout on the LoRA path: it keeps a mask per adapted layer's input.")
    attention_kernel: str = option(
        "sdpa",
        "sdpa: a fused kernel that keeps q, k, v, the output and a log-sum-exp (no seq x seq scores); math:"
        " SDPA's math path (the recipe's on a CPU for short batches), which keeps seq x seq scores;"
        " eager: the model's own softmax, which keeps seq x seq probabilities per head.",
    )
    autocast_device: str = option(
        "cuda", "Whose autocast and dropout kernels the activations follow: cuda (a GPU) or cpu."
    )
    nf4_bytes: float = option(0.5, "Bytes per 4-bit NF4 weight (the quantization constants are their own term).")
    quant_block: int = option(64, "Weights per 4-bit block: one absmax constant each (bitsandbytes: 64).")
    double_quant: bool = option(
        True, "bnb_4bit_use_double_quant: 8-bit absmax constants, with one fp32 constant per 256 of them."
    )
    adapter_bytes: float = option(4.0, "Bytes per LoRA weight and its gradient: PEFT keeps adapters in fp32.")
    activation_factor: float = option(
        34.0,
        "The formula, used only when the model cannot be measured: activation bytes per token x hidden x"
        " layer (34 for a bf16 GPT block with fused attention, Korthikanti et al. 2022; it knows no gated"
        " MLP, grouped-query heads or LoRA dropout).",
    )
    checkpoint_factor: float = option(
        2.0, "The formula with checkpointing: bytes kept per token x hidden x layer (the bf16 layer input)."
    )
    logits_bytes: float = option(
        12.0,
        "Bytes per loss position x vocabulary entry for the logits at their peak, the loss's backward: the fp32"
        " log-probabilities kept for it (4), their gradient (4) and the logits' gradient (4) live at once (the"
        " forward holds less: bf16 output + fp32 copy + log-probabilities, 10; 8 without autocast).",
    )
    loss_share: float = option(
        1.0,
        "Share of positions where a loss is taken: the recipe feeds the LM head only those (1: every"
        " token, the bound; with assistant_only_loss it is the assistant's share).",
    )
    overhead_gb: float = option(1.0, "Fixed framework overhead: CUDA context, cuBLAS workspace.")
    fragmentation: float = option(0.10, "Allocator fragmentation and temporaries, as a share of everything else.")
    allocator_share: float = option(
        0.0,
        "Freed memory the allocator keeps resident, as a share of one micro-batch's activations and logits: 0 on a"
        " GPU (its cache is the fragmentation share); on a CPU glibc's malloc keeps the holes a shorter batch left,"
        " which a longer one's tensors do not fit (0.7 measured here: arena against bytes in use at the peak).",
    )
    mfu: float = option(0.35, "Model FLOP utilisation: the share of the GPU's peak bf16 FLOP/s a run achieves.")
    startup_minutes: float = option(10.0, "Paid GPU minutes that are not training: download, load, save.")


# Assumptions people rarely change; the page puts them in an expander (numbers only: it draws number inputs).
ADVANCED = (
    "full_weight_bytes",
    "frozen_weight_bytes",
    "nf4_bytes",
    "quant_block",
    "adapter_bytes",
    "lora_dropout",
    "loss_share",
    "activation_factor",
    "checkpoint_factor",
    "logits_bytes",
    "overhead_gb",
    "fragmentation",
    "startup_minutes",
)


def help_rows(a: Assumptions) -> list[dict[str, Any]]:
    """The assumptions as a table (name, value, why) for the page."""
    return [
        {"assumption": name, "value": str(getattr(a, name)), "meaning": text}
        for name, text in help_of(type(a)).items()
    ]


def adapter_params(s: Shape, a: Assumptions) -> int:
    """r x (d_in + d_out) per targeted layer per block; unknown names are skipped."""
    shapes = module_shapes(s)
    return s.layers * sum(a.lora_r * sum(shapes[m]) for m in a.target_modules if m in shapes)


def layer_linear_params(s: Shape) -> int:
    """Weights of the linear layers in the blocks: what QLoRA quantizes and full's autocast copies to bf16."""
    return s.layers * sum(a * b for a, b in module_shapes(s).values())


def quant_constant_bytes(a: Assumptions) -> float:
    """Bytes of quantization constants per 4-bit weight: an absmax per block, 8-bit with double quantization
    (plus one fp32 constant per 256 blocks), else fp32."""
    block = max(1.0, float(a.quant_block))  # the page's number input can reach 0
    if a.double_quant:
        return 1 / block + 4 / (block * 256)
    return 4 / block


def _state_bytes(s: Shape, method: str, a: Assumptions) -> dict[str, float]:
    """Weights, quantization constants, adapters, gradients and optimizer state, in bytes."""
    p, opt = s.total_params, OPTIMIZER_BYTES[a.optim]
    if method == "full":
        w = p * a.full_weight_bytes
        return {"weights": w, "quant_constants": 0.0, "adapters": 0.0, "gradients": w, "optimizer": p * opt}
    n, constants = adapter_params(s, a), 0.0
    if method == "qlora":  # linears in NF4; prepare_model_for_kbit_training casts the rest (embeddings, norms) to fp32
        quantized = min(p, layer_linear_params(s))
        weights = quantized * a.nf4_bytes + (p - quantized) * 4.0
        constants = quantized * quant_constant_bytes(a)
    else:
        weights = p * a.frozen_weight_bytes
    return {
        "weights": weights,
        "quant_constants": constants,
        "adapters": n * a.adapter_bytes,
        "gradients": n * a.adapter_bytes,
        "optimizer": n * opt,
    }


def _head_copy(s: Shape, method: str, a: Assumptions) -> float:
    """The LM head's bf16 autocast copy: its weight is fp32 in full and (after prepare) in QLoRA, bf16 in LoRA."""
    return 2.0 * s.vocab * s.hidden if a.bf16 and method in ("full", "qlora") else 0.0


def activation_spec(s: Shape, method: str, seq: int, batch: int, a: Assumptions) -> dict[str, Any]:
    """The key of one activation measurement (core.activations): the shape and how the recipe runs it."""
    lora = method != "full"
    targets = sorted(t for t in a.target_modules if t in module_shapes(s)) if lora else []
    return {
        "model_type": s.model_type or ("llama" if s.gated_mlp else "gpt2"),
        "hidden": s.hidden,
        "intermediate": s.intermediate,
        "heads": s.heads,
        "kv_heads": s.kv_heads,
        "head_dim": s.hd,
        "qkv_bias": s.qkv_bias,
        "method": method,
        "targets": targets,
        "lora_r": a.lora_r if lora else 0,
        "lora_dropout": a.lora_dropout if lora else 0.0,
        "bf16": a.bf16,
        "kernel": a.attention_kernel,
        "device": a.autocast_device,
        "seq": seq,
        "batch": batch,
    }


def measure_activations(
    s: Shape, methods: tuple[str, ...], seq: int, batch: int, a: Assumptions, wait: bool = True
) -> dict[str, tuple[dict | None, str]]:
    """method -> (measurement or None, why none); one subprocess for every shape not yet in the cache.

    wait=False never blocks: a shape not yet cached is measured in the background (core.activations.cached).
    """
    from core import activations

    specs = [activation_spec(s, m, seq, batch, a) for m in methods]
    found = activations.lookup(specs) if wait else activations.cached(specs)
    return dict(zip(methods, found, strict=True))


def _activation_bytes(s: Shape, tokens: int, a: Assumptions, measured: dict | None) -> float:
    if measured:  # under checkpointing each layer keeps its input; backward recomputes one layer at full size
        if a.gradient_checkpointing:
            return s.layers * measured["input_bytes"] + measured["layer_bytes"]
        return s.layers * measured["layer_bytes"]
    if a.gradient_checkpointing:  # saved layer inputs plus one layer recomputed at full size
        return tokens * s.hidden * (s.layers * a.checkpoint_factor + a.activation_factor)
    return tokens * s.hidden * s.layers * a.activation_factor


def _copies_bytes(s: Shape, method: str, a: Assumptions, measured: dict | None) -> float:
    """bf16 copies autocast keeps of fp32 weights: every linear in full, the adapters in LoRA/QLoRA, the head."""
    if not a.bf16:
        return 0.0
    if measured:
        layers = s.layers * measured["constant_bytes"]
    else:
        layers = 2.0 * (layer_linear_params(s) if method == "full" else adapter_params(s, a))
    return layers + _head_copy(s, method, a)


def memory_bytes(
    s: Shape, method: str, seq: int, batch: int, a: Assumptions, measured: dict | None = None
) -> dict[str, float]:
    """Every term in bytes for one method; overhead is fixed plus a share of the rest.

    `measured`: core.activations' measurement for this shape and method; None uses the formula.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if a.optim not in OPTIMIZER_BYTES:
        raise ValueError(f"optim must be one of {', '.join(OPTIMIZER_BYTES)}, got {a.optim!r}")
    terms = _state_bytes(s, method, a)
    tokens = batch * seq
    terms["autocast_copies"] = _copies_bytes(s, method, a, measured)
    terms["activations"] = _activation_bytes(s, tokens, a, measured)
    terms["logits"] = tokens * a.loss_share * s.vocab * a.logits_bytes
    held = a.allocator_share * (terms["activations"] + terms["logits"])
    terms["overhead"] = a.overhead_gb * GIB + a.fragmentation * sum(terms.values()) + held
    return {t: terms[t] for t in TERMS}


def _dtype_note(method: str, a: Assumptions) -> str:
    if method == "full":
        return f"{a.full_weight_bytes:g} bytes per weight" + (" under bf16 autocast" if a.bf16 else "")
    if method == "qlora":
        return f"NF4 linears at {a.nf4_bytes:g} bytes, embeddings, head and norms cast to fp32 (4 bytes)"
    return f"frozen base at {a.frozen_weight_bytes:g} bytes per weight" + (", bf16 autocast" if a.bf16 else "")


def term_notes(method: str, a: Assumptions, source: str) -> dict[str, str]:
    """What each term assumes, in words, for the page and the CLI to print beside the number."""
    ckpt = "on: each layer keeps its input, one layer is recomputed" if a.gradient_checkpointing else "off"
    lora = method != "full"
    return {
        "weights": _dtype_note(method, a),
        "quant_constants": (
            f"one absmax per {a.quant_block} weights, {'double-quantized' if a.double_quant else 'fp32'}"
            if method == "qlora"
            else "none (not quantized)"
        ),
        "adapters": f"r={a.lora_r} on {', '.join(a.target_modules)}, fp32" if lora else "none",
        "gradients": "fp32, one per trainable weight" if lora else f"{a.full_weight_bytes:g} bytes per weight",
        "optimizer": f"{a.optim}: {OPTIMIZER_BYTES[a.optim]:g} bytes per trainable weight",
        "autocast_copies": (
            "bf16 copies of fp32 weights kept for backward" + (" (all linears and the head)" if not lora else "")
            if a.bf16
            else "none (no autocast)"
        ),
        "activations": (
            f"{source}; lora_dropout {a.lora_dropout if lora else 0:g}, gradient checkpointing {ckpt},"
            f" attention {a.attention_kernel}, autocast as on {a.autocast_device}"
        ),
        "logits": f"{a.logits_bytes:g} bytes per loss position x vocabulary, {a.loss_share:g} of the positions",
        "overhead": f"{a.overhead_gb:g} GB fixed + {a.fragmentation:.0%} fragmentation"
        + (f" + {a.allocator_share:.0%} of activations and logits kept by the allocator" if a.allocator_share else ""),
    }


FORMULA = "formula: activation_factor x tokens x hidden per layer"


def memory_gb(
    s: Shape, method: str, seq: int, batch: int, a: Assumptions, measured: dict | None = None
) -> dict[str, float]:
    terms = {k: v / GIB for k, v in memory_bytes(s, method, seq, batch, a, measured).items()}
    return {**terms, "total": sum(terms.values())}


def flops_per_token(s: Shape, method: str, a: Assumptions) -> float:
    """6N for full; 4N + 6 x adapters for LoRA/QLoRA (no weight gradients for frozen layers).

    N counts the weights that do matmuls: an untied input embedding is a lookup, not a matmul.
    Checkpointing adds a second forward pass (2N).
    """
    n = s.total_params - (0 if s.tied else s.vocab * s.hidden)
    base = 6 * n if method == "full" else 4 * n + 6 * adapter_params(s, a)
    return base + (2 * n if a.gradient_checkpointing else 0)


STATES = ("weights", "quant_constants", "adapters", "gradients", "optimizer", "autocast_copies")


# What each accelerate profile splits over its ranks: FSDP and ZeRO-3 everything the model holds, ZeRO-2 the
# gradients and optimizer states; DDP (multi_gpu) and one process nothing. Activations and logits never.
SHARDED_TERMS = {"fsdp": STATES, "deepspeed_zero3": STATES, "deepspeed_zero2": ("gradients", "optimizer")}


def per_rank(mem: dict[str, float], profile: str | None, world: int, a: Assumptions) -> dict[str, float]:
    """One rank's memory (GB by term, with total) when `profile` splits the run over `world` ranks.

    The overhead is recomputed as memory_bytes makes it: fixed, plus fragmentation of the rest, plus held.
    """
    split = SHARDED_TERMS.get(profile or "", ()) if world > 1 else ()
    terms = {t: mem[t] / world if t in split else mem[t] for t in TERMS if t != "overhead"}
    held = a.allocator_share * (terms["activations"] + terms["logits"])
    terms["overhead"] = a.overhead_gb + a.fragmentation * sum(terms.values()) + held
    return {**{t: terms[t] for t in TERMS}, "total": sum(terms.values())}


def ranks_to_fit(mem: dict[str, float], profile: str | None, gpu_gb: float, a: Assumptions, most: int = 64) -> int:
    """The fewest ranks of `profile` whose per-rank memory fits one GPU; 0 when none up to `most` does."""
    if not SHARDED_TERMS.get(profile or ""):
        return 1 if mem["total"] <= gpu_gb else 0
    return next((n for n in range(1, most + 1) if per_rank(mem, profile, n, a)["total"] <= gpu_gb), 0)


def gpus_needed(mem: dict[str, float], gpu_memory_gb: float, a: Assumptions) -> int:
    """GPUs for one run: the states shard evenly (FSDP / ZeRO-3), activations and logits do not.

    0 when even one GPU's share of activations, logits and overhead does not fit.
    """
    if mem["total"] <= gpu_memory_gb:
        return 1
    grow = 1 + a.fragmentation
    sharded = sum(mem[t] for t in STATES) * grow
    replicated = (mem["activations"] + mem["logits"]) * grow + a.overhead_gb
    room = gpu_memory_gb - replicated
    return math.ceil(sharded / room) if room > 0 else 0


def per_gpu(mem: dict[str, float], fpt: float, tokens: float, gpus: list[dict], a: Assumptions) -> list[dict]:
    """For each GPU row: does it fit on one, how many it takes, compute hours and dollars."""
    rows = []
    for g in gpus:
        n = gpus_needed(mem, float(g["memory_gb"]), a)
        flops_per_s = n * float(g["bf16_tflops"]) * 1e12 * a.mfu
        hours = tokens * fpt / flops_per_s / 3600 if flops_per_s > 0 else math.inf
        paid = hours + a.startup_minutes / 60
        rows.append(
            {
                "gpu": g["gpu"],
                "memory_gb": float(g["memory_gb"]),
                "fits_on_one": n == 1,
                "gpus_needed": n,
                "compute_hours": hours,
                "paid_hours": paid,
                "usd": paid * n * float(g["usd_per_hour"]) if n else math.inf,
            }
        )
    return rows


@dataclass
class PlanRequest:
    """What the Local GPU section asks: a shape, the run's size, and the assumptions."""

    shape: Shape
    method: str = "qlora"
    max_length: int = 512
    per_device_train_batch_size: int = 4
    train_tokens: float = 250_000.0  # tokens seen in training, all epochs together
    assumptions: Assumptions = field(default_factory=Assumptions)
    measure: bool = False  # measure the activations (a subprocess the first time per shape) instead of the formula
    cached: bool = False  # else a cached measurement where there is one; a new shape is measured in the background


@dataclass
class Plan:
    memory: dict[str, dict[str, float]]  # method -> term -> GB (with "total")
    params: int
    trainable: dict[str, int]
    flops_per_token: float
    gpus: list[dict]  # per_gpu rows for the chosen method
    source: dict[str, str] = field(default_factory=dict)  # method -> where its activations came from
    notes: dict[str, dict[str, str]] = field(default_factory=dict)  # method -> term -> its assumptions


def plan(req: PlanRequest, gpu_rows: list[dict]) -> Plan:
    """Memory for every method, and fit/time/dollars per GPU for the chosen one."""
    s, a = req.shape, req.assumptions
    seq, batch = req.max_length, req.per_device_train_batch_size
    found = measure_activations(s, METHODS, seq, batch, a, wait=req.measure) if req.measure or req.cached else {}
    memory, source = {}, {}
    for m in METHODS:
        measured, why = found.get(m, (None, "not measured"))
        memory[m] = memory_gb(s, m, seq, batch, a, measured)
        source[m] = measured["source"] if measured else f"{FORMULA} ({why})"
    fpt = flops_per_token(s, req.method, a)
    trainable = {"full": s.total_params, "lora": adapter_params(s, a), "qlora": adapter_params(s, a)}
    rows = per_gpu(memory[req.method], fpt, req.train_tokens, gpu_rows, a)
    notes = {m: term_notes(m, a, source[m]) for m in METHODS}
    return Plan(memory, s.total_params, trainable, fpt, rows, source, notes)


# ---- CLI: python -m core.estimate memory (python -m core.costs memory routes here) ----

MEMORY_HELP = "GPU memory (and time with --tokens) for full / LoRA / QLoRA"


def _shape_from_args(args: argparse.Namespace) -> Shape:
    if args.model:
        return find_preset(args.model)
    if args.config:
        text = Path(args.config).read_text(encoding="utf-8")
        return shape_from_json_text(text, args.config)
    return shape_by_hand(parse_count(args.params), args.hidden, args.layers, args.heads, args.kv_heads)


def _json_number(x: Any) -> Any:
    """Round floats; a GPU that cannot hold the run has no time or price (null, not Infinity)."""
    if isinstance(x, float):
        return round(x, 4) if math.isfinite(x) else None
    return x


def memory_report(args: argparse.Namespace) -> dict[str, Any]:
    shape = _shape_from_args(args)
    targets = tuple(t.strip() for t in args.targets.split(",") if t.strip())
    a = Assumptions(
        lora_r=args.lora_r,
        target_modules=targets,
        gradient_checkpointing=args.gradient_checkpointing,
        optim=args.optim,
        full_weight_bytes=args.full_weight_bytes,
        mfu=args.mfu,
        bf16=not args.no_bf16,
        lora_dropout=args.lora_dropout,
        attention_kernel=args.attention,
        autocast_device=args.device,
        loss_share=args.loss_share,
    )
    req = PlanRequest(shape, args.method, args.seq, args.batch, args.tokens or 0.0, a, measure=not args.formula)
    p = plan(req, prices.table("gpu"))
    mem = p.memory[args.method]
    out: dict[str, Any] = {
        "model": shape.name,
        "method": args.method,
        "params": p.params,
        "trainable_params": p.trainable[args.method],
        "seq": args.seq,
        "batch": args.batch,
    }
    if shape.assumed_from:
        out["assumed_shape_from"] = shape.assumed_from
    out["terms_gb"] = {t: round(mem[t], 4) for t in TERMS}
    out["total_gb"] = round(mem["total"], 4)
    out["activation_source"] = p.source[args.method]
    out["assumptions"] = p.notes[args.method]
    out["fits_on"] = [g["gpu"] for g in p.gpus if g["fits_on_one"]]
    if args.tokens:
        keep = ("gpu", "gpus_needed", "compute_hours", "paid_hours", "usd")
        out["per_gpu"] = [{k: _json_number(g[k]) for k in keep} for g in p.gpus]
    return out


def print_memory(r: dict[str, Any]) -> None:
    print(f"{r['model']} - {r['method']}, seq {r['seq']}, batch {r['batch']}")
    if "assumed_shape_from" in r:
        print(f"  (hidden size and layers assumed from the nearest preset: {r['assumed_shape_from']})")
    print(f"  parameters {r['params']:,}, trainable {r['trainable_params']:,}")
    for term, gb in r["terms_gb"].items():
        print(f"  {term:<16}{gb:>10.2f} GB   {r['assumptions'][term]}")
    print(f"  {'total':<16}{r['total_gb']:>10.2f} GB")
    print(f"  fits on one: {', '.join(r['fits_on']) or 'none of the GPUs in the table'}")
    for g in r.get("per_gpu", []):
        if not g["gpus_needed"]:
            print(f"  {g['gpu']:<12} does not fit (activations alone exceed it; lower batch or seq)")
            continue
        minutes = g["compute_hours"] * 60
        print(f"  {g['gpu']:<12} x{g['gpus_needed']}  {minutes:8.1f} min compute  {usd(g['usd'])}")


def memory_arguments(m: argparse.ArgumentParser) -> None:
    src = m.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", help=f"a preset: {', '.join(PRESETS)}")
    src.add_argument("--params", help="parameter count, e.g. 7e9 or 7B")
    src.add_argument("--config", help="path to a Hugging Face config.json")
    for flag in ("--hidden", "--layers", "--heads", "--kv-heads"):
        m.add_argument(flag, type=int, default=0, help="with --params; default from the nearest preset")
    m.add_argument("--method", choices=METHODS, default="lora")
    m.add_argument("--seq", type=int, default=512)
    m.add_argument("--batch", type=int, default=4)
    m.add_argument("--lora-r", type=int, default=16)
    m.add_argument("--targets", default=",".join(ATTENTION_MODULES))
    m.add_argument("--gradient-checkpointing", action="store_true")
    m.add_argument("--optim", choices=list(OPTIMIZER_BYTES), default="adamw_torch")
    m.add_argument("--full-weight-bytes", type=float, default=4.0, help="4: fp32 master weights (the recipe); 2: bf16")
    m.add_argument("--lora-dropout", type=float, default=0.05)
    m.add_argument("--attention", choices=["sdpa", "math", "eager"], default="sdpa", help="the attention kernel")
    m.add_argument("--device", choices=["cuda", "cpu"], default="cuda", help="whose autocast and dropout kernels")
    m.add_argument("--loss-share", type=float, default=1.0, help="share of positions with a loss (the LM head's)")
    m.add_argument("--no-bf16", action="store_true", help="fp32 throughout, no autocast")
    m.add_argument("--formula", action="store_true", help="the activation formula instead of a measurement")
    m.add_argument("--mfu", type=float, default=0.35)
    m.add_argument("--tokens", type=float, default=None, help="training tokens (all epochs) for time and dollars")
    m.add_argument("--json", action="store_true")


def run_cli(make: Callable[[], dict[str, Any]], as_json: bool, show: Callable[[dict[str, Any]], None]) -> int:
    """Print make()'s result as JSON or through show(); a bad file or value exits 2 with one line on stderr."""
    try:
        result = make()
    except OSError as e:
        return fail(2, "error", f"cannot read {e.filename}: {e.strerror}")
    except (ValueError, KeyError) as e:
        return fail(2, "error", str(e.args[0] if isinstance(e, KeyError) else e))
    if as_json:
        print(json.dumps(result, indent=2))
    else:
        show(result)
    return 0


def run_memory(args: argparse.Namespace) -> int:
    """The memory report as a table, or JSON with --json (exit 0; 2 on a bad shape or file)."""
    return run_cli(lambda: memory_report(args), args.json, print_memory)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.estimate", description="GPU memory and time, before launch.")
    sub = parser.add_subparsers(dest="command", required=True)
    memory_arguments(sub.add_parser("memory", help=MEMORY_HELP))
    return run_memory(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
