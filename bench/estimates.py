"""Estimates against measurements: the demo LoRA, QLoRA and full runs on this machine, as estimate / measured.

`python bench/estimates.py [--epochs 3] [--methods lora,qlora,full] [--keep DIR]`: a fresh workspace
(a temporary FT_HOME), the demo dataset split 80/10/10 as the Train page's demo button makes it,
SmolLM2-135M-Instruct (the embedded model) and each method's guide preset (batch 4 x accumulation
4, max_length 1024). Per method: the pre-flight's time from FLOPs (what it said before any
calibration), a probe job (core.train.calibrate, 3 timed steps), the pre-flight then (as
`python -m core.train preflight --json` prints it: activations measured on a 2-layer stack, time from
the probe), and the run launched as the Train page launches it (core.train.launch.start keeps its
pre-flight in the run's meta: the activations measured when the cache has them, else the formula).
The run's summary.json measures peak memory and training seconds; memory on CPU is the worker's
peak resident memory less its start-up.
A method whose run fails (QLoRA where bitsandbytes cannot run) is printed as skipped, with why. The last line reads
`time_ratio=<estimate/measured> memory_ratio=<estimate/measured>` for the demo LoRA run.
Test: `pytest tests/jobs/test_calibrate.py`.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as `python bench/estimates.py`


def demo_version():
    """The demo sample with a seeded 80/10/10 split, as the Train page's demo button saves it."""
    from core.data import samples, split, versions
    from core.jsonl import read_records

    rows = [obj for _, obj in read_records(samples.sample_path("demo"))]
    base = versions.create("demo", rows, note="demo sample", source="data/samples/demo.jsonl")
    return versions.save(base, rows, "split 80/10/10 for training", split.split(rows))


def wait(run_id: str, limit_s: float = 3600):
    from core import jobs

    deadline = time.time() + limit_s
    while time.time() < deadline:
        run = jobs.status(run_id)
        if not run.active:
            return run
        time.sleep(1)
    raise SystemExit(f"run {run_id} still {jobs.status(run_id).state} after {limit_s:.0f} s")


def one_method(method: str, version_id: int, epochs: float) -> dict | None:
    """The FLOPs estimate, the probe, the run: the numbers for one method, or None when it could not run."""
    from core import models
    from core.jobs import rundir
    from core.train import calibrate, config, launch, preflight, summary

    cfg = config.preset(method, model=models.DEFAULT_MODEL_ID, dataset_version=version_id, num_train_epochs=epochs)
    before = preflight.for_config(cfg, launch.train_examples(cfg))  # no calibration yet: the time from FLOPs
    probe = wait(calibrate.start_probe(cfg))
    if probe.state != "succeeded":
        why = rundir.log_tail(rundir.run_dir(probe.id), 3).replace("\n", " | ")
        print(f"{method}: skipped: the probe {probe.state} ({probe.failure}): {why}", flush=True)
        return None
    after = preflight.for_config(cfg, launch.train_examples(cfg), measure=True)  # the CLI twin's estimate
    t0 = time.time()
    run = wait(launch.start(cfg, title=f"bench {method}"))
    wall = time.time() - t0
    if run.state != "succeeded":
        why = rundir.log_tail(rundir.run_dir(run.id), 3).replace("\n", " | ")
        print(f"{method}: skipped: the run {run.state} ({run.failure}): {why}", flush=True)
        return None
    est, got = run.meta["estimate"], summary.read_summary(rundir.run_dir(run.id))
    found = {
        "method": method,
        "memory_est": after["memory_gb"],
        "memory_launch": est["memory_gb"],
        "launch_source": est.get("term_notes", {}).get("activations", "").split(";")[0],
        "memory_got": got["peak_memory_gb"],
        "peak_rss": got["peak_rss_gb"],
        "time_est": after["time_s"],
        "time_source": after["time_source"],
        "time_got": got["train_seconds"],
        "flops_time": before["time_s"],
        "flops_source": before["time_source"],
        "wall": wall,
        "tokens_per_s": got["tokens_per_s"],
        "steps": got["final_step"],
    }
    found["memory_ratio"] = summary.ratio(found["memory_est"], found["memory_got"])
    found["launch_ratio"] = summary.ratio(found["memory_launch"], found["memory_got"])
    found["time_ratio"] = summary.ratio(found["time_est"], found["time_got"])
    found["flops_ratio"] = summary.ratio(found["flops_time"], found["time_got"])
    return found


def show(r: dict) -> None:
    print(
        f"{r['method']}: {r['steps']} steps, {r['tokens_per_s']:.0f} tokens/s, wall {r['wall']:.0f} s\n"
        f"  memory  estimate {r['memory_est']:.3f} GB  measured {r['memory_got']:.3f} GB"
        f" (peak RSS {r['peak_rss']:.3f} GB)  ratio {r['memory_ratio']}"
        f" (as launch records it: {r['memory_launch']:.3f} GB, ratio {r['launch_ratio']};"
        f" activations {r['launch_source']})\n"
        f"  time    estimate {r['time_est']:.0f} s ({r['time_source']})  measured {r['time_got']:.0f} s"
        f"  ratio {r['time_ratio']}\n"
        f"  before calibration: {r['flops_time']:.0f} s ({r['flops_source']})  ratio {r['flops_ratio']}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=float, default=3.0, help="the Train page's demo runs 3")
    parser.add_argument("--methods", default="lora,qlora,full")
    parser.add_argument("--keep", default=None, help="a workspace folder to keep (default: a temporary one)")
    args = parser.parse_args()
    home = Path(args.keep or tempfile.mkdtemp(prefix="bench-estimates-"))
    os.environ["FT_HOME"] = str(home)  # before core reads it: nothing here touches a real workspace
    from core.train import calibrate

    print(f"machine: {calibrate.device_key()}; load average {os.getloadavg()[0]:.1f}; workspace {home}", flush=True)
    version = demo_version()
    print(f"demo: {len(version.splits['train'])} train examples, {args.epochs:g} epochs", flush=True)
    results = {}
    for method in args.methods.split(","):
        found = one_method(method.strip(), version.id, args.epochs)
        if found:
            show(found)
            results[found["method"]] = found
    lora = results.get("lora")
    if lora:
        print(f"time_ratio={lora['time_ratio']} memory_ratio={lora['memory_ratio']}")


if __name__ == "__main__":
    main()
