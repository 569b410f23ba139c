"""Pre-flight costs: OpenAI training dollars for a JSONL file, the guide's table beside our estimate, a CLI.

OpenAI follows the data-prep cookbook: per-message token accounting (core.tokens), the default
epochs rule, billed tokens = epochs x sum(min(limit, tokens_i)), dollars per model row of
core.prices. Local-GPU memory and time come from core.estimate.
Run: `python -m core.costs openai data.jsonl --model gpt-4o-mini --json`
     `python -m core.costs memory ...` runs `python -m core.estimate memory ...` (kept for scripts).
Test: `pytest tests/unit/test_costs.py`.
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core import chat, estimate, money, paths, prices, templates, tokens
from core.estimate import Assumptions, PlanRequest
from core.jsonl import JsonlError, read_records

# The cookbook's default-epochs rule: aim for 100..25,000 example-passes, 1..25 epochs.
TARGET_EPOCHS, MIN_PASSES, MAX_PASSES, MIN_EPOCHS, MAX_EPOCHS = 3, 100, 25_000, 1, 25


def default_epochs(n_examples: int) -> int:
    """3, unless that gives fewer than 100 or more than 25,000 example-passes."""
    if n_examples <= 0:
        raise ValueError("no examples to train on")
    if n_examples * TARGET_EPOCHS < MIN_PASSES:
        return min(MAX_EPOCHS, MIN_PASSES // n_examples)
    if n_examples * TARGET_EPOCHS > MAX_PASSES:
        return max(MIN_EPOCHS, MAX_PASSES // n_examples)
    return TARGET_EPOCHS


def billed_tokens(counts: list[int], epochs: int, limit: int) -> int:
    """Each example is billed up to the model's per-example limit (longer ones are truncated)."""
    return epochs * sum(min(limit, c) for c in counts)


def _messages(line: int, obj: object) -> list[dict]:
    """The record's messages, or a JsonlError naming the line and what is wrong."""
    if why := chat.problem(obj):
        raise JsonlError(line, why)
    return chat.messages(obj)


def count_file(path: str | Path, encoding_name: str = "o200k_base") -> list[int]:
    """Tokens per example, in file order; JsonlError at the first bad line or record."""
    enc = tokens.encoding(encoding_name)
    # tools count too: their definitions are billed with each example that offers them
    return [tokens.count_chat(_messages(line, obj), enc, templates.tools_of(obj)) for line, obj in read_records(path)]


def count_source(source: str | Path | bytes, encoding_name: str = "o200k_base") -> list[int]:
    """count_file for a path or for uploaded bytes (written to a temporary file first)."""
    if not isinstance(source, bytes):
        return count_file(source, encoding_name)
    fd, name = tempfile.mkstemp(suffix=".jsonl", dir=paths.cache_dir())
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(source)
        return count_file(name, encoding_name)
    finally:
        os.unlink(name)


@dataclass
class OpenAIEstimate:
    examples: int
    epochs: int
    epochs_rule: str  # "set by you" or the default rule, in words
    tokens: int  # sum over examples, o200k_base unless a model needs another encoding
    rows: list[dict[str, Any]]  # one per price row


def openai_costs(
    source: str | Path | bytes, epochs: int | None = None, rows: list[dict] | None = None
) -> OpenAIEstimate:
    """Billed tokens and training dollars for every model row (raises JsonlError on bad data)."""
    rows = prices.table("openai") if rows is None else rows
    by_encoding: dict[str, list[int]] = {}
    out = []
    for row in rows:
        enc = tokens.encoding_name_for(row["model"])
        if enc not in by_encoding:
            by_encoding[enc] = count_source(source, enc)
        counts = by_encoding[enc]
        n_epochs = epochs or default_epochs(len(counts))
        limit = int(row["example_token_limit"])
        billed = billed_tokens(counts, n_epochs, limit)
        out.append(
            {
                "model": row["model"],
                "encoding": enc,
                "tokens": sum(counts),
                "epochs": n_epochs,
                "over_limit": sum(c > limit for c in counts),
                "billed_tokens": billed,
                "usd_per_1m": float(row["training"]),
                "training_usd": billed * float(row["training"]) / 1e6,
            }
        )
    counts = by_encoding.get("o200k_base") or next(iter(by_encoding.values()), None) or count_source(source)
    rule = "set by you" if epochs else f"default rule for {len(counts)} examples"
    return OpenAIEstimate(len(counts), epochs or default_epochs(len(counts)), rule, sum(counts), out)


def openai_one(path: str | Path, model: str, epochs: int | None = None) -> dict[str, Any]:
    """The CLI's answer for one model."""
    row = prices.openai_row(model)
    est = openai_costs(path, epochs, [row])
    r = est.rows[0]
    return {
        "model": r["model"],
        "examples": est.examples,
        "tokens": r["tokens"],
        "epochs": r["epochs"],
        "billed_tokens": r["billed_tokens"],
        "training_usd": round(r["training_usd"], 6),
        "example_token_limit": row["example_token_limit"],
        "over_limit": r["over_limit"],
        "encoding": r["encoding"],
    }


NUMERIC = {
    "openai": (
        "training",
        "ft_input",
        "ft_cached_input",
        "ft_output",
        "base_input",
        "base_output",
        "example_token_limit",
    ),
    "gpu": ("memory_gb", "usd_per_hour", "bf16_tflops"),
}
NAME = {"openai": "model", "gpu": "gpu"}


def _number(value: Any) -> float | None:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) and x >= 0 else None


def clean_price_rows(kind: str, rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """Edited rows ready to save, and the problems that stop saving (row number, column, why)."""
    cleaned, problems = [], []
    today = datetime.date.today().isoformat()
    for i, row in enumerate(rows, 1):
        name = str(row.get(NAME[kind]) or "").strip()
        if not name and all(_number(row.get(c)) is None for c in NUMERIC[kind]):
            continue  # an added row left empty
        if not name:
            problems.append(f"row {i}: {NAME[kind]} is empty")
        out = {**row, NAME[kind]: name}
        for col in NUMERIC[kind]:
            x = _number(row.get(col))
            if x is None:
                problems.append(f"row {i} ({name or '?'}): {col} must be a number >= 0, got {row.get(col)!r}")
            out[col] = int(x) if col == "example_token_limit" and x is not None else x
        out["as_of"] = str(row.get("as_of") or "").strip() or today
        out["source"] = str(row.get("source") or "").strip() or "added in this workspace"
        cleaned.append(out)
    if not cleaned and not problems:
        problems.append("the table is empty; use Reset to defaults to restore it")
    return cleaned, problems


# The guide's "LoRA Cost Comparison" table, for 500 examples on a 7B model.
GUIDE_TABLE = [
    dict(zip(("method", "label", "memory", "time", "cost"), row, strict=True))
    for row in (
        ("full", "Full fine-tuning (7B)", "~140 GB", "~2 hours", "~$8"),
        ("lora", "LoRA (7B)", "~24 GB", "~1.5 hours", "~$3"),
        ("qlora", "QLoRA (7B)", "~10 GB", "~2 hours", "~$2"),
        ("openai", "OpenAI API (GPT-4o-mini)", "N/A", "~30 min", "~$0.75"),
    )
]
# The case behind it: the guide's QLoRA script (Mistral-7B, batch 4) on 500 examples. Its $0.75
# at $3 per 1M training tokens and 3 epochs means 0.75 / 3e-6 / 3 / 500 ~ 167 tokens per example.
GUIDE_CASE = {"model": "Mistral-7B", "examples": 500, "tokens_per_example": 167, "epochs": 3, "batch": 4, "seq": 512}
GUIDE_TOKENS = GUIDE_CASE["examples"] * GUIDE_CASE["tokens_per_example"] * GUIDE_CASE["epochs"]
# What each method's run looks like in the guide: fp32 states for full, checkpointing in QLoRA
# (prepare_model_for_kbit_training turns it on).
GUIDE_SETUP = {
    "full": Assumptions(full_weight_bytes=4.0),
    "lora": Assumptions(),
    "qlora": Assumptions(gradient_checkpointing=True),
}
MAX_GPUS = 8


def _cheapest(rows: list[dict]) -> dict | None:
    usable = [r for r in rows if 0 < r["gpus_needed"] <= MAX_GPUS]
    return min(usable, key=lambda r: r["usd"]) if usable else None


def _local_row(method: str, gpu_rows: list[dict]) -> dict[str, Any]:
    case = GUIDE_CASE
    shape = estimate.PRESETS[case["model"]]
    req = PlanRequest(shape, method, case["seq"], case["batch"], GUIDE_TOKENS, GUIDE_SETUP[method])
    p = estimate.plan(req, gpu_rows)
    best = _cheapest(p.gpus)
    if best is None:
        return {"estimate_memory": f"{p.memory[method]['total']:.0f} GB", "estimate_time": "no GPU in the table fits"}
    return {
        "estimate_memory": f"{p.memory[method]['total']:.1f} GB",
        "estimate_time": (
            f"{best['compute_hours'] * 60:.1f} min compute + {req.assumptions.startup_minutes:.0f} min startup"
        ),
        "estimate_cost": money.usd(best["usd"]),
        "estimate_basis": f"{best['gpus_needed']} x {best['gpu']}, the cheapest in the GPU table",
    }


COMPARISON_COLUMNS = (
    "method",
    "guide_memory",
    "estimate_memory",
    "guide_time",
    "estimate_time",
    "guide_cost",
    "estimate_cost",
    "estimate_basis",
)


def _openai_row(openai_rows: list[dict]) -> dict[str, str]:
    price = next((r for r in openai_rows if r["model"].startswith("gpt-4o-mini")), None)
    if price is None:
        return {"estimate_cost": "no gpt-4o-mini row in the price table"}
    usd = GUIDE_TOKENS * float(price["training"]) / 1e6
    basis = f"{GUIDE_TOKENS:,} billed tokens at {money.usd(float(price['training']))} / 1M"
    return {
        "estimate_memory": "N/A",
        "estimate_time": "queue-dependent",
        "estimate_cost": money.usd(usd),
        "estimate_basis": basis,
    }


def guide_comparison(gpu_rows: list[dict] | None = None, openai_rows: list[dict] | None = None) -> list[dict]:
    """The guide's table and our estimate for the same case, side by side, column by column."""
    gpu_rows = prices.table("gpu") if gpu_rows is None else gpu_rows
    openai_rows = prices.table("openai") if openai_rows is None else openai_rows
    out = []
    for g in GUIDE_TABLE:
        row = {"method": g["label"], "guide_memory": g["memory"], "guide_time": g["time"], "guide_cost": g["cost"]}
        row.update(_openai_row(openai_rows) if g["method"] == "openai" else _local_row(g["method"], gpu_rows))
        out.append({c: row.get(c, "") for c in COMPARISON_COLUMNS})
    return out


def guide_notes() -> list[str]:
    """Why the two columns differ, with the numbers computed from the same estimator."""
    s, case = estimate.PRESETS[GUIDE_CASE["model"]], GUIDE_CASE
    seq, batch = case["seq"], case["batch"]

    def total(method: str, a: Assumptions) -> float:
        return estimate.memory_gb(s, method, seq, batch, a)["total"]

    bf16_full = total("full", Assumptions(full_weight_bytes=2.0, bf16=False))  # pure bf16: no fp32 master copy
    adam8_full = total("full", Assumptions(full_weight_bytes=2.0, bf16=False, optim="adamw_8bit"))
    lora_ckpt = total("lora", Assumptions(gradient_checkpointing=True))
    short_qlora = estimate.memory_gb(s, "qlora", 256, 1, Assumptions(gradient_checkpointing=True))["total"]
    nf4 = Assumptions().nf4_bytes + estimate.quant_constant_bytes(Assumptions())
    flops = GUIDE_TOKENS * estimate.flops_per_token(s, "full", Assumptions())
    a100_minutes = flops / (312e12 * Assumptions().mfu) / 60  # A100 bf16 peak
    return [
        f"Case: {case['model']} ({s.total_params / 1e9:.2f}B parameters), {case['examples']} examples of ~"
        f"{case['tokens_per_example']} tokens, {case['epochs']} epochs, batch {batch},"
        f" sequences padded to {seq}. Full in fp32 as the guide assumes; LoRA without and QLoRA with"
        " gradient checkpointing, as in the guide's scripts.",
        "Full: the guide's ~140 GB matches fp32 weights, gradients and AdamW states (16 bytes per parameter)"
        f" plus activations. With bf16 weights and gradients it is ~{bf16_full:.0f} GB; with 8-bit Adam as"
        f" well ~{adam8_full:.0f} GB ({'fits' if adam8_full <= 80 else 'still more than'} one 80 GB GPU).",
        "LoRA: the frozen bf16 weights (~2 bytes per parameter) dominate; activations without gradient"
        f" checkpointing make up most of the rest. With checkpointing it is ~{lora_ckpt:.0f} GB, close to"
        " LLaMA-Factory's published 16 GB for 7B LoRA.",
        f"QLoRA: 4-bit weights are ~{nf4:.2f} bytes per parameter with their quantization constants (embeddings,"
        f" head and norms stay fp32). At short sequences (batch 1, 256 tokens) the"
        f" estimate is ~{short_qlora:.1f} GB, in line with LLaMA-Factory's 6 GB; the guide's ~10 GB leaves"
        " room for longer sequences.",
        f"Time: {GUIDE_TOKENS:,} training tokens are ~{flops:.1e} FLOPs for full fine-tuning, about"
        f" {a100_minutes:.0f} minutes on one A100 at 35% utilisation. The guide's hours are wall-clock;"
        " at this size, downloading and loading the model and saving checkpoints cost more GPU time than"
        " training, so most of the dollars are startup.",
        "OpenAI: ~$0.75 is the same at the guide's $0.003 per 1K training tokens and the dated $3.00 per"
        " 1M table; the time is mostly queueing, which no estimate can know.",
    ]


# ---- CLI ----


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core.costs", description="Fine-tuning costs before you launch.")
    sub = parser.add_subparsers(dest="command", required=True)
    o = sub.add_parser("openai", help="training tokens and dollars for a JSONL file")
    o.add_argument("file")
    o.add_argument("--model", default="gpt-4o-mini", help="a model id from the price table (prefix is enough)")
    o.add_argument("--epochs", type=int, default=None, help="default: the cookbook's rule")
    o.add_argument("--json", action="store_true")
    estimate.memory_arguments(sub.add_parser("memory", help=estimate.MEMORY_HELP))
    return parser


def _openai_report(args: argparse.Namespace) -> dict[str, Any]:
    try:
        return openai_one(args.file, args.model, args.epochs)
    except JsonlError as e:
        raise ValueError(f"{args.file}: {e}") from None  # the file's name, then the line and what is wrong


def _print_fields(result: dict[str, Any]) -> None:
    for k, v in result.items():
        print(f"{k:<20}{v}")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "memory":  # one home for sizing: python -m core.estimate memory
        return estimate.run_memory(args)
    return estimate.run_cli(lambda: _openai_report(args), args.json, _print_fields)


if __name__ == "__main__":
    sys.exit(main())
