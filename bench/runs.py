"""Finding runs with 10 and with 10,000 run folders: `python bench/runs.py [--repeat 20]`.

For each N it builds N run folders (valid spec.yaml and status.json, as a workspace from before the
run index holds them) in a temporary FT_HOME: a few training runs, analyses and exports, the rest
generation jobs (the playground and Evaluate make one per reply or per candidate). It times the
first listing (which indexes the folders once), then, as the median of --repeat calls, the lookups
the pages make: list_runs("train"), the Data page's analyze.result_for(sha), generate.active_for(key),
the Evaluate panel's newest job per cache key and its active jobs, and the Runs page's exports of a run.
Prints each time for both N and the ratio; the last line is `ratio_10k_vs_10=<x>`, the worst lookup's.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core import jobs  # noqa: E402
from core.data import analyze  # noqa: E402
from core.eval import generate  # noqa: E402
from core.jobs import rundir  # noqa: E402

FIXED = {"train": 3, "analyze": 2, "export": 2}  # the same in both workspaces; the rest are generate jobs


def _folder(i: int, kind: str, meta: dict) -> Path:
    run_id = f"20240101-{i:06d}-{kind}-{i % 65536:04x}"
    folder = rundir.run_dir(run_id)
    folder.mkdir()
    created = 1_700_000_000 + i
    spec = {"id": run_id, "kind": kind, "title": kind, "argv": ["x"], "meta": meta, "created_at": created}
    (folder / rundir.SPEC).write_text(yaml.safe_dump(spec, sort_keys=False))
    rundir.write_json(folder / rundir.STATUS, {"state": "succeeded", "created_at": created, "ended_at": created})
    return folder


def build(n: int) -> dict[str, str]:
    """N run folders; returns the keys the lookups ask for."""
    i = 0
    train_ids = []
    for _ in range(FIXED["train"]):
        train_ids.append(_folder(i, "train", {"method": "lora"}).name)
        i += 1
    for j in range(FIXED["analyze"]):
        folder = _folder(i, "analyze", {"sha256": f"sha{j}", "n": 4})
        rundir.write_json(folder / rundir.ANALYSIS, {"n": 4, "near": [], "exact": []})
        np.save(folder / rundir.EXAMPLE_VECTORS, np.zeros((4, 8), dtype=np.float32))
        i += 1
    for j in range(FIXED["export"]):
        _folder(i, "export", {"run": train_ids[j], "merge": True})
        i += 1
    while i < n:
        _folder(i, "generate", {"cache_key": f"key{i}", "version_id": 1, "split": "test"})
        i += 1
    return {"sha": "sha1", "key": f"key{n - 1}", "train": train_ids[0]}


def lookups(keys: dict[str, str]) -> dict[str, callable]:
    return {
        'list_runs("train")': lambda: jobs.list_runs("train"),
        "analyze.result_for(sha)": lambda: analyze.result_for(keys["sha"]),
        "analyze.active_for(sha)": lambda: analyze.active_for(keys["sha"]),
        "generate.active_for(key)": lambda: generate.active_for(keys["key"]),
        "newest generate job of a key": lambda: jobs.list_runs(generate.KIND, key=keys["key"], limit=1),
        "active generate jobs": lambda: jobs.list_runs(generate.KIND, active=True),
        "exports of a run": lambda: jobs.list_runs("export", parent=keys["train"]),
    }


def measure(n: int, repeat: int) -> tuple[float, dict[str, float]]:
    with tempfile.TemporaryDirectory() as home:
        os.environ["FT_HOME"] = home
        keys = build(n)
        t0 = time.perf_counter()
        assert len(jobs.list_runs("train")) == FIXED["train"]  # the first use indexes every folder once
        first = time.perf_counter() - t0
        assert analyze.result_for(keys["sha"]) is not None
        assert jobs.list_runs(generate.KIND, key=keys["key"], limit=1)
        times = {}
        for name, fn in lookups(keys).items():
            fn()
            samples = []
            for _ in range(repeat):
                t = time.perf_counter()
                fn()
                samples.append(time.perf_counter() - t)
            times[name] = statistics.median(samples)
        return first, times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    small_first, small = measure(10, args.repeat)
    big_first, big = measure(10_000, args.repeat)
    print(f"first listing (indexes the folders once): N=10 {small_first * 1000:.1f} ms, N=10000 {big_first:.2f} s")
    print(f"{'lookup':34} {'N=10 ms':>9} {'N=10000 ms':>11} {'ratio':>7}")
    ratios = []
    for name in small:
        ratio = big[name] / small[name]
        ratios.append(ratio)
        print(f"{name:34} {small[name] * 1000:9.2f} {big[name] * 1000:11.2f} {ratio:7.2f}")
    print(f"ratio_10k_vs_10={max(ratios):.2f}")


if __name__ == "__main__":
    main()
