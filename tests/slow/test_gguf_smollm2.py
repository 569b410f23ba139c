"""Slow: a real SmolLM2 LoRA run (a few steps) exported to GGUF F16 and Q8_0, with parity passing.

Prints the export time and the parity figures that docs/BENCHMARKS.md records; never fails on time.
Run: .venv/bin/pytest tests/slow/test_gguf_smollm2.py -q -s
"""

from __future__ import annotations

import json
import os
import time

import pytest
import yaml

from core import models
from core.data.samples import sample_path
from core.jobs import rundir
from core.train import export, recipe
from core.train.config import preset

DEMO = [json.loads(line) for line in sample_path("demo").read_text().splitlines()]


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("smollm2_gguf")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FT_HOME", str(root / "ft_home"))
        model = str(models.resolve(models.DEFAULT_MODEL_ID))
        train_file, val_file = root / "train.jsonl", root / "val.jsonl"
        train_file.write_text("".join(json.dumps(r) + "\n" for r in DEMO[:8]))
        val_file.write_text("".join(json.dumps(r) + "\n" for r in DEMO[180:183]))
        cfg = preset(
            "lora",
            model=model,
            train_file=str(train_file),
            validation_file=str(val_file),
            max_steps=2,
            per_device_train_batch_size=4,
            max_length=256,
            sample_generations=3,
        )
        run = root / "run"
        recipe.train(cfg, run)
        (run / rundir.SPEC).write_text(yaml.safe_dump({"id": "run", "kind": "train", "config": cfg.to_dict()}))
        return run


@pytest.mark.parametrize("qtype", ["f16", "q8_0"])
def test_a_smollm2_lora_run_exports_with_parity(lora_run, qtype, capsys):
    start = time.perf_counter()
    code = export.main([str(lora_run), "--gguf", qtype, "--result", str(lora_run / f"{qtype}.json")])
    seconds = time.perf_counter() - start
    result = json.loads((lora_run / f"{qtype}.json").read_text())
    p = result["parity"]
    with capsys.disabled():
        print(
            f"\nSmolLM2 GGUF {qtype}: {seconds:.0f} s, {os.path.getsize(result['gguf']) / 1e6:.0f} MB; "
            f"tokenizer {p['tokenizer_agreement']:.3f}, nmse {p['nmse']:.2e}, top-10 {p['top10_agreement']:.3f}, "
            f"greedy {p['greedy_agreement']:.3f} ({p['greedy_measure']}), stopped {p['gguf_stopped']}/"
            f"{p['source_stopped']}, llama.cpp {p.get('llama_cpp_greedy_agreement')} "
            f"stopped {p.get('llama_cpp_stopped')}"
        )
    assert code == 0 and p["passed"], p["checks"]
    assert p["source_stopped"] >= 1  # an instruct model ends its turns: the stop check has something to keep
