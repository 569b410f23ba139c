"""The machine a run would train on: GPUs from nvidia-smi, else this machine's RAM and CPU speed.

No torch here (the Streamlit process stays light): GPU facts come from `nvidia-smi`, narrowed by
CUDA_VISIBLE_DEVICES as CUDA narrows them, memory from /proc/meminfo, and a CPU's speed from a
short numpy matmul. The one probe for the pre-flight (`detect`) and for launch (`gpu_count`).
Test: `pytest tests/unit/test_train_launch.py tests/app/test_train_page.py`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

GIB = 2**30


@dataclass(frozen=True)
class Device:
    kind: str  # "gpu" or "cpu"
    name: str
    memory_gb: float  # per device: what one process may use
    count: int = 1
    available_gb: float | None = None  # free memory now (CPU: MemAvailable)
    flops: float | None = None  # FLOP/s of one device, None when unknown
    flops_note: str = ""

    @property
    def label(self) -> str:
        many = f"{self.count} x " if self.count > 1 else ""
        return f"{many}{self.name} ({self.memory_gb:.1f} GB)"


def parse_nvidia_smi(text: str) -> list[tuple[str, float]]:
    """(name, GB) per GPU from `nvidia-smi --query-gpu=name,memory.total --format=csv,noheader,nounits`."""
    gpus = []
    for line in text.strip().splitlines():
        name, _, mib = line.rpartition(",")
        if name.strip() and mib.strip().isdigit():
            gpus.append((name.strip(), int(mib) / 1024))
    return gpus


def parse_meminfo(text: str) -> dict[str, float]:
    """MemTotal and MemAvailable in GB from /proc/meminfo."""
    found = {}
    for key in ("MemTotal", "MemAvailable"):
        m = re.search(rf"^{key}:\s+(\d+) kB", text, re.M)
        if m:
            found[key] = int(m.group(1)) * 1024 / GIB
    return found


def gpu_flops(name: str, gpu_rows: list[dict]) -> tuple[float | None, str]:
    """bf16 FLOP/s for a GPU name, from the price table's row whose model (T4, A100, H100) it names."""
    for row in gpu_rows:
        model = str(row["gpu"]).split()[0]
        if re.search(rf"\b{re.escape(model)}\b", name, re.I):
            return float(row["bf16_tflops"]) * 1e12, f"bf16 peak of {row['gpu']} from the GPU price table"
    return None, "unknown GPU model: no bf16 rate in the GPU price table (add a row on the Costs page)"


@lru_cache(maxsize=1)
def cpu_flops(n: int = 768) -> float:
    """fp32 matmul FLOP/s of this CPU, best of three (about 20 ms on two cores)."""
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        a @ a
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best


def visible(found: list, cuda_visible_devices: str | None) -> list:
    """The GPUs a CUDA process sees: CUDA_VISIBLE_DEVICES picks them by index, in its order.

    Unset: all of them. An id that is not a GPU of this machine ("-1", an index past the last)
    hides it and every id after it, as CUDA does; empty hides them all. A UUID (GPU-..., MIG-...)
    counts as the next GPU not yet picked: nvidia-smi is not asked for UUIDs.
    """
    if cuda_visible_devices is None:
        return list(found)
    picked: list[int] = []
    for token in (t.strip() for t in cuda_visible_devices.split(",") if t.strip()):
        if token.isdigit() and int(token) < len(found):
            index = int(token)
        elif token.startswith(("GPU-", "MIG-")):
            index = next((i for i in range(len(found)) if i not in picked), None)
        else:
            index = None
        if index is None:
            break
        picked.append(index)
    return [found[i] for i in picked]


@lru_cache(maxsize=1)
def _nvidia_smi() -> str:
    # Cached: the Train page asks once per accelerate profile on every rerun, and GPUs do not come and go.
    exe = shutil.which("nvidia-smi")
    if not exe:
        return ""
    query = [exe, "--query-gpu=name,memory.total", "--format=csv,noheader,nounits"]
    try:
        return subprocess.run(query, capture_output=True, text=True, timeout=5, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def gpus(smi_text: str | None = None) -> list[tuple[str, float]]:
    """(name, GB) of each GPU a worker started from here would see."""
    found = parse_nvidia_smi(_nvidia_smi() if smi_text is None else smi_text)
    return visible(found, os.environ.get("CUDA_VISIBLE_DEVICES"))


def gpu_count() -> int:
    """CUDA GPUs a worker started from here would see (0 without a GPU or nvidia-smi)."""
    return len(gpus())


def detect(gpu_rows: list[dict], smi_text: str | None = None, meminfo: str | None = None) -> Device:
    """The GPUs a worker would see (nvidia-smi, CUDA_VISIBLE_DEVICES), or else this machine's CPU and RAM."""
    gpus_seen = gpus(smi_text)
    if gpus_seen:
        name, gb = gpus_seen[0]
        flops, note = gpu_flops(name, gpu_rows)
        return Device("gpu", name, gb, len(gpus_seen), None, flops, note)
    if meminfo is None:
        path = Path("/proc/meminfo")
        meminfo = path.read_text() if path.exists() else ""
    mem = parse_meminfo(meminfo)
    flops = cpu_flops()
    return Device(
        "cpu",
        "this machine's CPU (no GPU found)",
        mem.get("MemTotal", 0.0),
        1,
        mem.get("MemAvailable"),
        flops,
        f"fp32 matmul measured here: {flops / 1e9:.0f} GFLOP/s",
    )
