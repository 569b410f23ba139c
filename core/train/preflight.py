"""The pre-flight of a training run: tokens, steps, memory by term against the device, time, dollars.

Plain functions, no Streamlit and no torch: token counts use the model's own tokenizer.json and
chat template (core.tokens.count_with_model, with the files core.models.local_folder finds), or
tiktoken as a labelled approximation when the model's files are not on this machine. Memory, time
and dollars come from core.estimate. Time on this device comes from a calibration when one exists
(core.train.calibrate: earlier runs of the same model and method here, else a probe), else from
FLOPs at an editable utilisation, and says which. `report` is the pre-flight as JSON: what
`python -m core.train preflight --config SPEC.yaml --json` prints and what launch records in the
run's meta (the Runs page sets it beside what the run measured).
Test: `pytest tests/app/test_train_page.py tests/jobs/test_calibrate.py`.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core import estimate, models, prices, templates, tokens
from core.train import calibrate, device
from core.train.config import TrainConfig
from core.train.device import Device

SHORT_ON_CPU = 192  # tokens: up to here the math attention kernel is the faster one on CPU (the recipe picks it)
TIGHT = 0.9  # above this share of the memory the run may still fit, but with little room
# glibc's malloc keeps freed holes resident: measured on the demo LoRA run here (docs/BENCHMARKS.md), the worker's
# peak RSS held 0.7 x the step's peak activations and logits beyond the bytes in use.
CPU_ALLOCATOR_SHARE = 0.7


# ---- the model's shape ------------------------------------------------------------------------


def model_shape(model: str, folder: Path | None) -> tuple[estimate.Shape | None, str]:
    """The shape for the memory estimate, and where it came from."""
    config = folder / "config.json" if folder else None
    if config and config.is_file():
        try:
            return estimate.shape_from_json_text(config.read_text(), str(config)), f"from {config}"
        except (OSError, ValueError) as e:
            return None, str(e)
    if model == models.DEFAULT_MODEL_ID:
        return estimate.find_preset("SmolLM2-135M"), "the SmolLM2-135M preset (the embedded model)"
    size = re.search(r"(?<![\d.])(\d+(?:\.\d+)?)([BM])(?![a-z])", Path(model).name, re.I)
    if size:
        shape = estimate.shape_by_hand(estimate.parse_count(size.group(1) + size.group(2).upper()))
        return shape, f"{shape.name} read from the name; the rest assumed from {shape.assumed_from}"
    return None, f"no config.json for {model!r} on this machine and no size in its name"


# ---- token counts -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenStats:
    counts: list[int]
    max_length: int
    counter: str  # how the tokens were counted, shown beside the numbers
    exact: bool

    @property
    def total(self) -> int:
        return sum(self.counts)

    @property
    def kept(self) -> int:
        """Tokens trained on per epoch: each example truncated at max_length."""
        return sum(min(c, self.max_length) for c in self.counts)

    @property
    def truncated(self) -> int:
        return sum(c > self.max_length for c in self.counts)

    @property
    def longest(self) -> int:
        return max(self.counts, default=0)


REFERENCE_SHARE = 1 / 3  # DPO's reference pass: one forward (no backward) over every train pair, once


def sequences(train: list[dict], objective: str) -> list[dict]:
    """What the run puts through the model: the chat examples, or both sides of each DPO pair as chat examples."""
    if objective != "dpo":
        return train
    from core.data import preference

    return preference.both_sides(train)


def count_tokens(
    examples: list[dict], folder: Path | None, max_length: int, template: str | None = None
) -> TokenStats:
    """Token counts of the train split, exact with the model's files (and the run's template when it is
    not the model's own), else approximate (tiktoken)."""
    if folder is not None:
        try:
            counts = tokens.count_with_model(examples, folder, template)
            how = "the workbench's tool template" if template else "chat template"
            return TokenStats(counts, max_length, f"the model's tokenizer and {how} ({folder})", True)
        except Exception as e:  # a broken template or tokenizer must not break the page
            note = f"approximate: o200k_base (the model's tokenizer failed: {str(e)[:120]})"
    else:
        note = "approximate: o200k_base (the model's tokenizer is not on this machine)"
    enc = tokens.encoding("o200k_base")
    return TokenStats([tokens.count_chat(e.get("messages", []), enc) for e in examples], max_length, note, False)


# ---- the plan ---------------------------------------------------------------------------------


@dataclass
class Preflight:
    device: Device
    tokens: TokenStats
    shape: estimate.Shape | None
    shape_note: str
    world: int  # processes (GPUs) the run uses
    steps_per_epoch: int
    total_steps: int
    train_tokens: float  # tokens seen in training, all epochs, after truncation
    method: str
    plan: estimate.Plan | None = None
    verdict: str = "unknown"  # fits / tight / too big / unknown
    verdict_message: str = ""
    device_seconds: float | None = None
    time_source: str = ""  # which calibration the time came from, said beside it
    assumptions: estimate.Assumptions | None = None

    @property
    def total_gb(self) -> float | None:
        return self.plan.memory[self.method]["total"] if self.plan else None


def assumptions(cfg: TrainConfig, device: Device | None = None, seq: int = 0) -> estimate.Assumptions:
    """The estimate's assumptions as the recipe runs this config on this device (core/train/recipe.py)."""
    on_cpu = device is None or device.kind == "cpu"
    bf16 = cfg.bf16 and (not on_cpu or calibrate.cpu_has_bf16())  # the recipe's bf16_supported: fp32 without it
    return estimate.Assumptions(
        lora_r=max(1, cfg.lora_r),
        target_modules=tuple(cfg.target_modules),
        gradient_checkpointing=cfg.gradient_checkpointing,
        full_weight_bytes=4.0,  # full fine-tuning loads fp32 master weights, under bf16 autocast
        frozen_weight_bytes=2.0 if bf16 else 4.0,
        bf16=bf16,
        lora_dropout=cfg.lora_dropout,
        attention_kernel="math" if on_cpu and seq <= SHORT_ON_CPU else "sdpa",
        autocast_device="cpu" if on_cpu else "cuda",
        # No CUDA context on a CPU; the worker's measured peak there is counted from after start-up.
        overhead_gb=0.0 if on_cpu else estimate.Assumptions().overhead_gb,
        allocator_share=CPU_ALLOCATOR_SHARE if on_cpu else 0.0,
    )


def schedule(n_train: int, cfg: TrainConfig, world: int) -> tuple[int, int]:
    """(optimizer steps per epoch, total optimizer steps) as the trainer counts them."""
    per_step = max(1, cfg.per_device_train_batch_size) * max(1, cfg.gradient_accumulation_steps) * world
    per_epoch = max(1, math.ceil(n_train / per_step))
    total = cfg.max_steps if cfg.max_steps > 0 else math.ceil(max(cfg.num_train_epochs, 0) * per_epoch)
    return per_epoch, total


def world_size(cfg: TrainConfig, device: Device) -> int:
    """The ranks a run starts: one per GPU for a multi-process profile, CPU processes for multi_gpu on a CPU."""
    from core.train.launch import CPU_PROCESSES, MULTI_PROCESS  # launch imports this module

    if cfg.accelerate_profile not in MULTI_PROCESS:
        return 1
    if device.kind == "gpu":
        return device.count
    return CPU_PROCESSES if cfg.accelerate_profile == "multi_gpu" else 1


def fitting_profile(mem: dict, device: Device, a) -> str:
    """Which profile makes a run too big for one GPU fit this machine's GPUs, or how many GPUs it needs."""
    order = list(estimate.SHARDED_TERMS)  # zero2 first: on a tie it shards the least, so it talks the least
    found = [(estimate.ranks_to_fit(mem, p, device.memory_gb, a), order.index(p), p) for p in order]
    here = [f for f in found if 0 < f[0] <= device.count]
    if here:
        n, _, profile = min(here)
        return f"; fits with {profile} on {n} GPUs"
    need = [f for f in found if f[0]]
    if need:
        n, _, profile = min(need)
        return f"; it needs {n} GPUs with {profile}, and this machine has {device.count}"
    return "; no profile makes it fit: activations and logits alone fill a GPU (lower the batch or max_length)"


def verdict(total_gb: float, mem: dict, device: Device, profile: str | None, a, world: int = 1) -> tuple[str, str]:
    """Does the estimate fit the device? (level, message). total_gb: one rank's; mem: the unsharded terms."""
    if device.kind == "cpu":
        free = device.available_gb or device.memory_gb
        total_gb, ranks = total_gb * world, f" for {world} processes" if world > 1 else ""  # one RAM holds every rank
        if total_gb > device.memory_gb:
            return "too big", f"needs ~{total_gb:.1f} GB{ranks}; this machine has {device.memory_gb:.1f} GB of RAM"
        if total_gb > TIGHT * free:
            return "tight", f"needs ~{total_gb:.1f} GB{ranks}; {free:.1f} GB of RAM is free now"
        return "fits", f"~{total_gb:.1f} GB{ranks} of {free:.1f} GB free RAM"
    where = f"per GPU on {world} GPUs ({profile})" if world > 1 else f"on a {device.memory_gb:.0f} GB GPU"
    if total_gb <= TIGHT * device.memory_gb:
        return "fits", f"~{total_gb:.1f} GB {where}"
    if total_gb <= device.memory_gb:
        return "tight", f"~{total_gb:.1f} GB {where}: little room for spikes"
    ranks = f" per GPU on {world} GPUs ({profile})" if world > 1 else ""
    message = f"needs ~{total_gb:.1f} GB{ranks}; one GPU has {device.memory_gb:.0f} GB"
    return "too big", message + fitting_profile(mem, device, a)


def flops_source(mfu: float) -> str:
    return f"estimate from FLOPs at {mfu:.0%} utilisation, editable"


def compute(
    cfg: TrainConfig,
    train: list[dict],
    device: Device,
    gpu_rows: list[dict],
    count=None,
    mfu: float | None = None,
    measure: bool = False,
) -> Preflight:
    """Everything the Train page shows before Launch; `count` may supply cached token counts.

    mfu: the utilisation for a time from FLOPs (this device without a calibration, and cloud GPUs).
    measure: activations measured on a small stack of the model's shape (core.activations: a subprocess
    the first time per shape, seconds, waited for); else a cached measurement where there is one, and a new
    shape is measured in the background while the formula stands in (never waits); the terms' notes say which.
    """
    folder = models.local_folder(cfg.model)
    seqs = sequences(train, cfg.objective)  # DPO: two sequences per pair, chosen and rejected
    stats = (count or count_tokens)(seqs, folder, cfg.max_length, templates.chosen(cfg.chat_template, None))
    shape, note = model_shape(cfg.model, folder)
    world = world_size(cfg, device)
    per_epoch, total = schedule(len(train), cfg, world)
    mean_kept = stats.kept / max(1, len(train))
    examples_seen = total * cfg.per_device_train_batch_size * cfg.gradient_accumulation_steps * world
    train_tokens = examples_seen * mean_kept
    if cfg.objective == "dpo":  # the reference log-probs, computed once before the first step
        train_tokens += stats.kept * REFERENCE_SHARE
    pf = Preflight(device, stats, shape, note, world, per_epoch, total, train_tokens, cfg.method)
    seq = max(16, min(stats.longest, cfg.max_length))  # a batch is padded to its longest example
    a = assumptions(cfg, device, seq)
    a = a if mfu is None else dataclasses.replace(a, mfu=mfu)
    pf.assumptions = a
    measured = calibrate.calibration(cfg.model, cfg.method)
    if measured:  # this device's own speed for this model and method: no utilisation to guess
        pf.device_seconds, pf.time_source = pf.train_tokens / measured.tokens_per_s, measured.source
    if shape is None or cfg.method not in estimate.METHODS:
        pf.verdict_message = f"memory not estimated: {note}"
        return pf
    # DPO: chosen and rejected in one forward pass, twice the sequences of a batch (activations and logits)
    batch = max(1, cfg.per_device_train_batch_size) * (2 if cfg.objective == "dpo" else 1)
    req = estimate.PlanRequest(shape, cfg.method, seq, batch, pf.train_tokens, a, measure=measure, cached=True)
    pf.plan = estimate.plan(req, gpu_rows)
    mem = pf.plan.memory[cfg.method]
    rank = estimate.per_rank(mem, cfg.accelerate_profile, world, a)  # what each rank holds: the pre-flight's terms
    pf.plan.memory[cfg.method] = rank
    for term in estimate.SHARDED_TERMS.get(cfg.accelerate_profile or "", ()) if world > 1 else ():
        notes = pf.plan.notes.setdefault(cfg.method, {})
        notes[term] = f"{notes.get(term, '')} Divided over {world} ranks ({cfg.accelerate_profile}).".strip()
    pf.verdict, pf.verdict_message = verdict(rank["total"], mem, device, cfg.accelerate_profile, a, world)
    if device.flops and not measured:
        pf.device_seconds = pf.train_tokens * pf.plan.flops_per_token / (device.flops * a.mfu * world)
        pf.time_source = flops_source(a.mfu)
    return pf


# ---- the pre-flight as data: the CLI's JSON and the record kept at launch ----------------------------


def _round(x: Any) -> Any:
    return round(x, 4) if isinstance(x, float) and math.isfinite(x) else x


def _plain(a: estimate.Assumptions | None) -> dict[str, Any]:
    """The assumptions as JSON keeps them (tuples as lists), so a record read back compares equal."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in (vars(a) if a else {}).items()}


def report(pf: Preflight, model: str = "") -> dict[str, Any]:
    """{"memory_gb", "terms", "time_s", "time_source", "fits", ...}: the numbers the page shows."""
    mem = pf.plan.memory[pf.method] if pf.plan else {}
    return {
        "memory_gb": _round(mem.get("total")),
        "terms": {t: _round(mem[t]) for t in estimate.TERMS if t in mem},
        "term_notes": pf.plan.notes.get(pf.method, {}) if pf.plan else {},  # each term's assumptions, in words
        "time_s": _round(pf.device_seconds),
        "time_source": pf.time_source or "unknown: no calibration and no FLOP rate for this device",
        "fits": pf.verdict in ("fits", "tight"),
        "verdict": pf.verdict,
        "verdict_message": pf.verdict_message,
        "device": pf.device.label,
        "method": pf.method,
        "model": model,
        "shape": pf.shape_note,
        "train_tokens": _round(pf.train_tokens),
        "total_steps": pf.total_steps,
        "tokens_counted_with": pf.tokens.counter,
        "assumptions": _plain(pf.assumptions),
    }


def for_config(cfg: TrainConfig, train: list[dict], mfu: float | None = None, measure: bool = False) -> dict[str, Any]:
    """The pre-flight of a config and its train examples on this machine, as `report` gives it."""
    gpu_rows = prices.table("gpu")
    return report(compute(cfg, train, device.detect(gpu_rows), gpu_rows, mfu=mfu, measure=measure), cfg.model)
