"""Time on this device from a calibration: earlier runs' measured tokens/s, else a probe job, else FLOPs.

Earlier runs are real jobs (a worker that writes summary.json as the recipe does) in a real run index;
the probe is the real `python -m core.train probe` job on the tiny model. Also the CLI twin of the
pre-flight and the estimate kept at launch. Run: `.venv/bin/pytest tests/jobs/test_calibrate.py -q`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from core import jobs, prices
from core.data.samples import sample_path
from core.jobs import rundir
from core.paths import REPO_ROOT
from core.train import calibrate, device, launch, preflight
from core.train.config import preset, to_yaml
from tests.waiting import wait_for

WRITE_SUMMARY = (
    "import json, os, sys; from core.jobs import rundir; from pathlib import Path; "
    "rundir.write_json(Path(os.environ['FT_RUN_DIR']) / rundir.SUMMARY, json.loads(sys.argv[1]))"
)


@pytest.fixture
def data(tmp_path, tiny_model_dir):
    rows = sample_path("demo").read_text().splitlines()
    (tmp_path / "train.jsonl").write_text("\n".join(rows[:16]) + "\n")
    return preset(
        "lora",
        model=str(tiny_model_dir),
        train_file=str(tmp_path / "train.jsonl"),
        per_device_train_batch_size=2,
        gradient_accumulation_steps=2,
        bf16=False,
    )


def earlier_run(cfg, summary: dict, fail: bool = False) -> str:
    """A finished training job of cfg's model and method whose worker wrote `summary` (and exited 1 if fail)."""
    code = WRITE_SUMMARY + ("; sys.exit(1)" if fail else "")
    meta = {"method": cfg.method, "model": cfg.model}
    run_id = jobs.launch("train", [sys.executable, "-c", code, json.dumps(summary)], "earlier", meta=meta)
    assert wait_for(run_id).state == ("failed" if fail else "succeeded")
    return run_id


def compute(cfg, mfu=None, measure=False) -> preflight.Preflight:
    rows = prices.table("gpu")
    return preflight.compute(cfg, launch.train_examples(cfg), device.detect(rows), rows, mfu=mfu, measure=measure)


def test_without_a_calibration_the_time_is_a_labelled_flops_estimate_with_an_editable_utilisation(data):
    pf = compute(data)
    assert pf.time_source == "estimate from FLOPs at 35% utilisation, editable"
    doubled = compute(data, mfu=0.7)
    assert doubled.time_source == "estimate from FLOPs at 70% utilisation, editable"
    assert doubled.device_seconds == pytest.approx(pf.device_seconds / 2)


def test_earlier_runs_of_the_same_model_method_and_device_give_the_time(data):
    here = calibrate.device_key()
    earlier_run(data, {"device": here, "tokens_per_s": 100.0})
    earlier_run(data, {"device": here, "tokens_per_s": 300.0})
    earlier_run(data, {"device": "gpu: some other card", "tokens_per_s": 9000.0})  # not this device
    earlier_run(data, {"device": here, "tokens_per_s": 5.0}, fail=True)  # not finished
    earlier_run(preset("full", model=data.model), {"device": here, "tokens_per_s": 7.0})  # another method
    pf = compute(data)
    assert pf.time_source == "measured on 2 earlier runs"
    assert pf.device_seconds == pytest.approx(pf.train_tokens / 200.0)  # the median of 100 and 300


def test_the_probe_job_times_real_steps_and_the_preflight_then_says_so(data):
    run_id = calibrate.start_probe(data)
    run = wait_for(run_id, timeout=240)
    assert run.state == "succeeded", rundir.log_tail(rundir.run_dir(run_id))
    result = rundir.read_json(rundir.run_dir(run_id) / rundir.RESULT)
    assert result["steps"] == calibrate.PROBE_STEPS and result["tokens_per_s"] > 0
    assert result["device"] == calibrate.device_key()
    pf = compute(data)
    assert pf.time_source == f"probe, {calibrate.PROBE_STEPS} steps"
    assert pf.device_seconds == pytest.approx(pf.train_tokens / result["tokens_per_s"])


def test_the_cli_prints_the_preflight_the_page_shows(data, tmp_path, ft_home):
    spec = tmp_path / "spec.yaml"
    spec.write_text(to_yaml(data))
    argv = [sys.executable, "-m", "core.train", "preflight", "--config", str(spec), "--json"]
    env = {**os.environ, "FT_HOME": str(ft_home)}
    done = subprocess.run(argv, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    page = preflight.report(compute(data, measure=True), data.model)
    assert found["memory_gb"] == page["memory_gb"] > 0
    assert found["term_notes"]["activations"].startswith("measured on a 2-layer stack")  # the CLI measures
    assert set(found["terms"]) == set(page["terms"]) and found["terms"]["weights"] > 0
    assert found["time_source"] == page["time_source"] and found["time_s"] > 0
    assert found["fits"] is True and found["total_steps"] == page["total_steps"]
    # A config that cannot run: one line naming the problem, exit 78, no traceback.
    spec.write_text(to_yaml(preset("lora", model=data.model, train_file=data.train_file, learning_rate=0.0)))
    bad = subprocess.run(argv, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 78 and bad.stderr.startswith("bad config: ") and "learning_rate" in bad.stderr


def test_launch_keeps_the_preflight_in_the_runs_meta(data, monkeypatch):
    monkeypatch.setattr(launch, "command", lambda cfg, run_dir: [sys.executable, "-c", "pass"])
    run_id = launch.start(data, title="estimated")
    estimate, page = jobs.status(run_id).meta["estimate"], preflight.report(compute(data), data.model)
    same = ("memory_gb", "terms", "time_s", "time_source", "fits", "total_steps", "assumptions")
    assert {k: estimate[k] for k in same} == {k: page[k] for k in same}  # the free RAM in the verdict moves
    assert estimate["memory_gb"] > 0 and estimate["time_source"].startswith("estimate from FLOPs")
    wait_for(run_id)
