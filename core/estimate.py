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
TERMS = ("weights", "adapters", "gradients", "optimizer", "activations", "logits", "overhead")
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


def _preset(name, hidden, layers, inter, heads, kv, vocab, tied, head_dim=0, bias=False) -> Shape:
    return Shape(name, hidden, layers, inter, heads, kv, vocab, tied, head_dim, bias)


# Shapes from each model's public config.json on the Hugging Face hub.
PRESETS: dict[str, Shape] = {
    s.name: s
    for s in (
        _preset("SmolLM2-135M", 576, 30, 1536, 9, 3, 49152, True),
        _preset("SmolLM2-360M", 960, 32, 2560, 15, 5, 49152, True),
        _preset("SmolLM2-1.7B", 2048, 24, 8192, 32, 32, 49152, True),
        _preset("Qwen2.5-0.5B", 896, 24, 4864, 14, 2, 151936, True, 64, True),
        _preset("Qwen2.5-1.5B", 1536, 28, 8960, 12, 2, 151936, True, 128, True),
        _preset("Qwen2.5-7B", 3584, 28, 18944, 28, 4, 152064, False, 128, True),
        _preset("Llama-3-8B", 4096, 32, 14336, 32, 8, 128256, False),
        _preset("Mistral-7B", 4096, 32, 14336, 32, 8, 32768, False),  # v0.3, the guide's model
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
        2.0,
        "Bytes per weight (and per gradient) in full fine-tuning: 2 for bf16, 4 for fp32"
        " (the guide's table assumes fp32).",
    )
    frozen_weight_bytes: float = option(2.0, "Bytes per frozen base weight in LoRA (bf16).")
    nf4_bytes: float = option(
        0.55,
        "Bytes per 4-bit NF4 weight with double quantization (4 bits + block scales). Embeddings and"
        " the LM head stay in bf16.",
    )
    adapter_bytes: float = option(4.0, "Bytes per LoRA weight and its gradient: PEFT keeps adapters in fp32.")
    activation_factor: float = option(
        34.0,
        "Activation bytes per token x hidden x layer without checkpointing (about 34 for bf16 with"
        " fused attention that stores no seq x seq scores).",
    )
    checkpoint_factor: float = option(
        2.0, "With checkpointing: bytes kept per token x hidden x layer (the bf16 layer input)."
    )
    logits_bytes: float = option(
        10.0,
        "Bytes per token x vocabulary entry for the logits: bf16 output (2) + fp32 copy for the"
        " loss (4) + fp32 log-probabilities kept for backward (4).",
    )
    overhead_gb: float = option(1.0, "Fixed framework overhead: CUDA context, cuBLAS workspace.")
    fragmentation: float = option(0.10, "Allocator fragmentation and temporaries, as a share of everything else.")
    mfu: float = option(0.35, "Model FLOP utilisation: the share of the GPU's peak bf16 FLOP/s a run achieves.")
    startup_minutes: float = option(10.0, "Paid GPU minutes that are not training: download, load, save.")


# Assumptions people rarely change; the page puts them in an expander.
ADVANCED = (
    "full_weight_bytes",
    "frozen_weight_bytes",
    "nf4_bytes",
    "adapter_bytes",
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


def _state_bytes(s: Shape, method: str, a: Assumptions) -> dict[str, float]:
    """Weights, adapters, gradients and optimizer state, in bytes."""
    p, opt = s.total_params, OPTIMIZER_BYTES[a.optim]
    if method == "full":
        w = p * a.full_weight_bytes
        return {"weights": w, "adapters": 0.0, "gradients": w, "optimizer": p * opt}
    n = adapter_params(s, a)
    if method == "qlora":  # linear layers in NF4; embeddings and the LM head stay bf16
        quantized = max(0, p - s.embedding_params)
        weights = quantized * a.nf4_bytes + (p - quantized) * a.frozen_weight_bytes
    else:
        weights = p * a.frozen_weight_bytes
    return {
        "weights": weights,
        "adapters": n * a.adapter_bytes,
        "gradients": n * a.adapter_bytes,
        "optimizer": n * opt,
    }


def memory_bytes(s: Shape, method: str, seq: int, batch: int, a: Assumptions) -> dict[str, float]:
    """Every term in bytes for one method; overhead is fixed plus a share of the rest."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if a.optim not in OPTIMIZER_BYTES:
        raise ValueError(f"optim must be one of {', '.join(OPTIMIZER_BYTES)}, got {a.optim!r}")
    terms = _state_bytes(s, method, a)
    tokens = batch * seq
    if a.gradient_checkpointing:  # saved layer inputs plus one layer recomputed at full size
        terms["activations"] = tokens * s.hidden * (s.layers * a.checkpoint_factor + a.activation_factor)
    else:
        terms["activations"] = tokens * s.hidden * s.layers * a.activation_factor
    terms["logits"] = tokens * s.vocab * a.logits_bytes
    terms["overhead"] = a.overhead_gb * GIB + a.fragmentation * sum(terms.values())
    return terms


def memory_gb(s: Shape, method: str, seq: int, batch: int, a: Assumptions) -> dict[str, float]:
    terms = {k: v / GIB for k, v in memory_bytes(s, method, seq, batch, a).items()}
    return {**terms, "total": sum(terms.values())}


def flops_per_token(s: Shape, method: str, a: Assumptions) -> float:
    """6N for full; 4N + 6 x adapters for LoRA/QLoRA (no weight gradients for frozen layers).

    N counts the weights that do matmuls: an untied input embedding is a lookup, not a matmul.
    Checkpointing adds a second forward pass (2N).
    """
    n = s.total_params - (0 if s.tied else s.vocab * s.hidden)
    base = 6 * n if method == "full" else 4 * n + 6 * adapter_params(s, a)
    return base + (2 * n if a.gradient_checkpointing else 0)


STATES = ("weights", "adapters", "gradients", "optimizer")


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


@dataclass
class Plan:
    memory: dict[str, dict[str, float]]  # method -> term -> GB (with "total")
    params: int
    trainable: dict[str, int]
    flops_per_token: float
    gpus: list[dict]  # per_gpu rows for the chosen method


def plan(req: PlanRequest, gpu_rows: list[dict]) -> Plan:
    """Memory for every method, and fit/time/dollars per GPU for the chosen one."""
    s, a = req.shape, req.assumptions
    seq, batch = req.max_length, req.per_device_train_batch_size
    memory = {m: memory_gb(s, m, seq, batch, a) for m in METHODS}
    fpt = flops_per_token(s, req.method, a)
    trainable = {"full": s.total_params, "lora": adapter_params(s, a), "qlora": adapter_params(s, a)}
    rows = per_gpu(memory[req.method], fpt, req.train_tokens, gpu_rows, a)
    return Plan(memory, s.total_params, trainable, fpt, rows)


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
    )
    req = PlanRequest(shape, args.method, args.seq, args.batch, args.tokens or 0.0, a)
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
        print(f"  {term:<12}{gb:>10.2f} GB")
    print(f"  {'total':<12}{r['total_gb']:>10.2f} GB")
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
    m.add_argument("--full-weight-bytes", type=float, default=2.0, help="2 for bf16, 4 for fp32")
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
