"""Slow test: the real SmolLM2-135M-Instruct, LoRA and full fine-tuning for a few steps, launched as the Train
page launches them; the worker's measured peak memory and training time are set against the pre-flight's
estimate kept at launch. Prints the ratios (docs/BENCHMARKS.md records them); never fails on a ratio.
Run: .venv/bin/pytest tests/slow/test_estimates_smollm2.py -q -s
"""

from __future__ import annotations

import pytest

from core import jobs, models
from core.data import samples, split, versions
from core.jobs import rundir
from core.jsonl import read_records
from core.train import launch, summary
from core.train.config import preset
from tests.waiting import wait_for


@pytest.fixture
def demo(ft_home):
    models.resolve(models.DEFAULT_MODEL_ID)  # converted once here, so the pre-flight counts with its tokenizer
    rows = [obj for _, obj in read_records(samples.sample_path("demo"))]
    base = versions.create("demo", rows)
    return versions.save(base, rows, "split", split.split(rows))


@pytest.mark.parametrize("method", ["lora", "full"])
def test_the_measured_peak_and_time_are_set_against_the_estimate(demo, method):
    cfg = preset(method, model=models.DEFAULT_MODEL_ID, dataset_version=demo.id, max_steps=3, sample_generations=0)
    run_id = launch.start(cfg, title=f"slow {method}")
    run = wait_for(run_id, timeout=1800)
    assert run.state == "succeeded", rundir.log_tail(rundir.run_dir(run_id))
    got = summary.read_summary(rundir.run_dir(run_id))
    assert got["peak_memory_gb"] > 0 and got["peak_rss_gb"] >= got["peak_memory_gb"] and got["train_seconds"] > 0
    memory, time = summary.estimate_vs_measured(jobs.status(run_id))
    assert memory["estimate"] > 0 and memory["estimate / measured"] is not None
    assert time["estimate"] > 0 and time["estimate / measured"] is not None
    print(
        f"\n{method}: memory estimate {memory['estimate']:.3f} GB, measured {memory['measured']:.3f} GB "
        f"(peak RSS {got['peak_rss_gb']:.3f} GB), ratio {memory['estimate / measured']}; time estimate "
        f"{time['estimate']:.1f} s ({time['how']}), measured {time['measured']:.1f} s, "
        f"ratio {time['estimate / measured']}"
    )
