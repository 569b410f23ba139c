"""Measured, not assumed: a run's peak memory, and this device's training speed for the pre-flight.

In the worker, `PeakMemory` reads what the run really used: CUDA's max allocated and reserved on a
GPU, and on CPU the process's peak resident memory (VmHWM) less what it held after start-up (the
interpreter and torch, before data and model). For the pre-flight, `calibration` finds this
device's tokens/s for a model and method: the median of earlier finished runs (their summary.json),
else a cached probe (`python -m core.train probe --config SPEC.yaml`, run as a job by
`start_probe`: a few optimizer steps of the real model on a typical group of the run's batches).
No torch at import.
Test: `pytest tests/jobs/test_calibrate.py tests/unit/test_recipe.py`.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core import jobs, paths
from core.jobs import rundir
from core.train import config, device, summary
from core.train.config import TrainConfig

GIB = 2**30
PROBE_STEPS = 3  # measured optimizer steps, after one warm-up step that is not counted
CACHE = "calibration.json"


def device_key() -> str:
    """This machine's training device as runs record it: the first visible GPU, else the CPU and its cores."""
    seen = device.gpus()
    if seen:
        return f"gpu: {seen[0][0]}"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return f"cpu: {cpu_name()} x{cores}"


def _cpuinfo(field: str) -> str | None:
    """The first `field` of /proc/cpuinfo (Linux); None elsewhere."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(field):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_name() -> str:
    return _cpuinfo("model name") or platform.machine() or "unknown CPU"


def cpu_has_bf16() -> bool:
    """Native bf16 on this CPU, as core.train.recipe.bf16_supported asks torch (AVX512-BF16 or AMX), without torch.

    Without it the recipe trains in fp32, no autocast: the estimate must count 4-byte weights and activations.
    """
    flags = set((_cpuinfo("flags") or "").split())
    return bool(flags & {"avx512_bf16", "amx_tile"})


# ---- in the worker: peak memory -------------------------------------------------------------------


def _status_kb(field: str) -> int | None:
    """VmRSS / VmHWM of this process in kB (Linux /proc/self/status); None elsewhere."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def _peak_rss_kb() -> int:
    """VmHWM, else getrusage's max RSS (kB on Linux)."""
    import resource

    return _status_kb("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


class PeakMemory:
    """Started after the worker's imports, read once at the end: the summary's peak memory keys."""

    def __init__(self, device_type: str) -> None:
        self.cuda = device_type == "cuda"
        self.startup_kb = _status_kb("VmRSS") or _peak_rss_kb()
        if self.cuda:
            import torch

            torch.cuda.reset_peak_memory_stats()

    def read(self) -> dict[str, Any]:
        peak_kb = _peak_rss_kb()
        out = {"peak_rss_gb": round(peak_kb * 1024 / GIB, 4), "startup_rss_gb": round(self.startup_kb * 1024 / GIB, 4)}
        if self.cuda:
            import torch

            allocated, reserved = torch.cuda.max_memory_allocated(), torch.cuda.max_memory_reserved()
            out.update(cuda_max_allocated_gb=round(allocated / GIB, 4), cuda_max_reserved_gb=round(reserved / GIB, 4))
            out["peak_memory_gb"] = out["cuda_max_reserved_gb"]
            out["peak_memory_measure"] = "GPU: torch.cuda.max_memory_reserved (max allocated beside it)"
        else:
            out["peak_memory_gb"] = round(max(0, peak_kb - self.startup_kb) * 1024 / GIB, 4)
            out["peak_memory_measure"] = (
                "CPU: peak resident memory of the worker (VmHWM) less its resident memory after start-up"
                " (imports, before data and model); peak_rss_gb is the total"
            )
        return out


# ---- the calibration the pre-flight uses ----------------------------------------------------------


@dataclass(frozen=True)
class Calibration:
    tokens_per_s: float
    source: str  # said beside the time: "measured on 2 earlier runs", "probe, 3 steps"


def _positive(x: Any) -> bool:
    return summary.finite(x) and x > 0


def from_runs(model: str, method: str, key: str | None = None) -> Calibration | None:
    """The median tokens/s of earlier finished runs of this model and method on this device."""
    key = key or device_key()
    rates = []
    for run in jobs.list_runs(kind="train"):
        if run.state != "succeeded" or run.meta.get("model") != model or run.meta.get("method") != method:
            continue
        s = summary.read_summary(rundir.run_dir(run.id))
        if s.get("device") == key and _positive(s.get("tokens_per_s")):
            rates.append(float(s["tokens_per_s"]))
    if not rates:
        return None
    n = len(rates)
    return Calibration(statistics.median(rates), f"measured on {n} earlier run{'s' if n > 1 else ''}")


def _cache_path() -> Path:
    return paths.cache_dir() / CACHE


def _cache_key(key: str, model: str, method: str) -> str:
    return f"{key} | {model} | {method}"


def read_cache() -> dict[str, Any]:
    return rundir.read_json(_cache_path()) or {}


def from_probe(model: str, method: str, key: str | None = None) -> Calibration | None:
    found = read_cache().get(_cache_key(key or device_key(), model, method))
    if not found or not _positive(found.get("tokens_per_s")):
        return None
    return Calibration(float(found["tokens_per_s"]), f"probe, {found.get('steps', PROBE_STEPS)} steps")


def calibration(model: str, method: str) -> Calibration | None:
    """Earlier runs first (whole runs, many steps), else a probe; None: neither exists yet."""
    key = device_key()
    return from_runs(model, method, key) or from_probe(model, method, key)


def save_probe(model: str, method: str, tokens_per_s: float, steps: int, key: str | None = None) -> dict:
    entry = {"tokens_per_s": tokens_per_s, "steps": steps, "at": time.time()}
    cache = read_cache()
    cache[_cache_key(key or device_key(), model, method)] = entry
    _cache_path().parent.mkdir(parents=True, exist_ok=True)
    rundir.write_json(_cache_path(), cache)
    return entry


def start_probe(cfg: TrainConfig) -> str:
    """Launch the probe as a job; its result lands in the cache `calibration` reads. ValueError on a bad config."""
    found = config.problems(cfg)
    if found:
        raise ValueError("; ".join(found))
    argv = [sys.executable, "-m", "core.train", "probe", "--config", str(Path("{run_dir}") / rundir.SPEC)]
    title = f"speed probe · {cfg.method} · {Path(str(cfg.model)).name}"
    return jobs.launch("probe", argv, title, meta={"method": cfg.method, "model": cfg.model}, config=cfg.to_dict())


# ---- the probe itself (in the job's process) -------------------------------------------------------


def typical_group(groups: list, examples: list) -> list:
    """The accumulation group with the median token count: one shape the probe times again and again."""
    sizes = [sum(len(examples[j].input_ids) for batch in group for j in batch) for group in groups]
    return groups[sorted(range(len(groups)), key=sizes.__getitem__)[len(groups) // 2]]


def probe(cfg: TrainConfig, run_dir: Path, steps: int = PROBE_STEPS) -> dict[str, Any]:
    """One warm-up and `steps` timed optimizer steps of the recipe on a typical group; the median step's tokens/s.

    The same shapes every step: the first pays for kernel set-up (oneDNN builds one per shape), and the
    median of the rest shrugs off a step slowed by another process on a shared machine.
    """
    from accelerate import Accelerator

    from core.train import recipe, tokenize

    acc = Accelerator()
    if acc.device.type == "cpu":
        recipe.set_threads(1)
    bf16 = cfg.bf16 and recipe.bf16_supported(acc.device)
    rundir.report_progress(run_dir, 0, steps, "loading data and model")
    train_raw, _ = recipe.load_examples(cfg)
    model, tok = recipe.load_model(cfg, acc.device, bf16)
    examples = tokenize.tokenize(tok, train_raw, cfg.max_length, cfg.assistant_only_loss, "train example").examples
    group = typical_group(recipe.epoch_groups([len(e.input_ids) for e in examples], cfg, acc, 0), examples)
    model, optimizer = acc.prepare(model, recipe.make_optimizer(model, cfg))
    model.train()
    head = acc.unwrap_model(model).get_output_embeddings()
    rates = []
    for i in range(steps + 1):
        t0 = time.perf_counter()
        batches = [tokenize.collate([examples[j] for j in b], tok.pad_token_id) for b in group]
        _, _, tokens, _ = recipe.train_step(model, head, batches, acc, optimizer, cfg.learning_rate, cfg, bf16)
        if i:  # the first step pays for lazy initialisation, not training
            rates.append(tokens / max(time.perf_counter() - t0, 1e-9))
        rundir.report_progress(run_dir, i, steps, f"probe step {i} of {steps}")
    entry = save_probe(cfg.model, cfg.method, round(statistics.median(rates), 1), steps)
    result = {"device": device_key(), "model": cfg.model, "method": cfg.method, **entry}
    rundir.write_json(run_dir / rundir.RESULT, result)
    return result


def probe_main(args) -> int:
    """`python -m core.train probe --config FILE`: print the measured tokens/s as JSON."""
    cfg = config.from_yaml(Path(args.config).read_text())
    run_dir = Path(os.environ.get("FT_RUN_DIR") or Path(args.config).resolve().parent)
    print(json.dumps(probe(cfg, run_dir, args.steps)), flush=True)
    return 0
