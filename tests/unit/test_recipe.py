"""Unit tests for the training recipe on the tiny random Llama: each method, evaluation, early
stopping, STOP, resume, and the worker's exit codes through the real command line.

Run: .venv/bin/pytest tests/unit/test_recipe.py -q -s
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from core import models
from core.data.samples import sample_path
from core.jobs import rundir
from core.jobs.supervisor import EXIT_BAD_CONFIG, EXIT_BAD_DATA
from core.paths import REPO_ROOT
from core.train import recipe, tokenize
from core.train.config import preset, to_yaml
from tests.tiny import tiny_model

SCHEMA = {"step", "epoch", "loss", "eval_loss", "lr", "grad_norm", "tokens_per_s", "elapsed_s", "eta_s"}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The tiny model and small train/validation files cut from the demo data."""
    root = tmp_path_factory.mktemp("recipe")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FT_HOME", str(root / "ft_home"))
        tiny = tiny_model(root)
    rows = sample_path("demo").read_text().splitlines()
    (root / "train.jsonl").write_text("\n".join(rows[:8]) + "\n")
    (root / "val.jsonl").write_text("\n".join(rows[100:104]) + "\n")
    return {"model": str(tiny), "train": str(root / "train.jsonl"), "val": str(root / "val.jsonl")}


def cfg_for(files, method="lora", **overrides):
    # 8 examples, batch 2, accumulation 2: 2 optimizer steps per epoch.
    base = dict(
        model=files["model"],
        train_file=files["train"],
        validation_file=files["val"],
        per_device_train_batch_size=2,
        gradient_accumulation_steps=2,
        sample_generations=0,  # generation is tested once, below
        bf16=False,  # the tiny model's matrices are too small for bf16 to pay; one test per method uses it
    )
    return preset(method, **{**base, **overrides})


@pytest.fixture
def spy(monkeypatch):
    """Wrap recipe.load_model to keep the model it builds and a copy of its weights before training."""
    seen = {}
    real = recipe.load_model

    def load(*args, **kwargs):
        model, tok = real(*args, **kwargs)
        seen["model"] = model
        seen["before"] = {n: p.detach().clone() for n, p in model.named_parameters()}
        return model, tok

    monkeypatch.setattr(recipe, "load_model", load)
    return seen


def metrics(run: Path) -> list[dict]:
    return rundir.read_metrics(run)


@pytest.mark.parametrize("method", ["full", "lora", "qlora"])
def test_each_method_trains_its_own_weights_only(files, spy, tmp_path, method):
    cfg = cfg_for(files, method, max_steps=2, learning_rate=5e-3, bf16=True)
    summary = recipe.train(cfg, tmp_path)
    rows = [r for r in metrics(tmp_path) if r["loss"] is not None]
    assert [r["step"] for r in rows] == [1, 2]
    # A random model over SmolLM2's 49,152 tokens starts near ln(49152) = 10.8.
    assert all(math.isfinite(r["loss"]) and 9 < r["loss"] < 12 for r in rows)
    after = dict(spy["model"].named_parameters())
    trainable = {n for n, p in after.items() if p.requires_grad}
    changed = {n for n in trainable if not torch.equal(after[n].detach(), spy["before"][n])}
    assert changed == trainable  # every trainable weight moved
    frozen = set(after) - trainable
    assert all(torch.equal(after[n].detach(), spy["before"][n]) for n in frozen)
    if method == "full":
        assert not frozen
    else:
        # LoRA r=16 on q/k/v/o of 2 layers: r x (in + out) = 16 x (64+64) for q and o,
        # 16 x (64+32) for k and v (2 KV heads of 16): (2048 + 1536 + 1536 + 2048) x 2 = 14,336.
        assert summary["trainable_params"] == 14_336
        assert all("lora_" in n for n in trainable) and frozen
    assert (tmp_path / "final").is_dir() and (tmp_path / "summary.json").is_file()


def test_qlora_adapters_keep_their_gradients_after_a_validation_pass(files):
    # bitsandbytes repacks 4-bit weights for a CPU inference kernel on the first eval forward, and
    # that kernel passes no gradient back; the recipe must keep the trainable layout.
    cfg = cfg_for(files, "qlora", lora_dropout=0.0)
    model, tok = recipe.load_model(cfg, torch.device("cpu"), bf16=True)
    rows = [json.loads(line) for line in Path(files["train"]).read_text().splitlines()[:2]]
    batch = tokenize.collate(tokenize.tokenize(tok, rows, 256).examples, tok.pad_token_id)
    head = model.get_output_embeddings()

    def grads():
        model.train()
        model.zero_grad()
        loss, n = recipe.batch_loss(model, head, batch, bf16=True)
        (loss / n).backward()
        return {k: p.grad.clone() for k, p in model.named_parameters() if "lora_B" in k}

    before = grads()
    model.eval()
    with torch.no_grad():
        recipe.batch_loss(model, head, batch, bf16=True)
    after = grads()
    first_layer = [k for k in before if "layers.0." in k]
    assert first_layer and all(before[k].norm() > 0 for k in first_layer)
    assert all(torch.allclose(before[k], after[k]) for k in before)


def test_lora_final_is_a_peft_adapter_with_the_chat_template(files, tmp_path):
    from peft import PeftModel

    recipe.train(cfg_for(files, max_steps=1, sample_generations=1), tmp_path)
    model = PeftModel.from_pretrained(models.load_model(files["model"]), tmp_path / "final")
    tok = models.load_tokenizer(tmp_path / "final")
    assert tok.chat_template and tok.eos_token == "<|im_end|>"
    assert any("lora_B" in n for n, _ in model.named_parameters())
    samples = json.loads((tmp_path / "samples.json").read_text())
    assert len(samples) == 1 and set(samples[0]) == {"prompt", "reference", "generated", "stopped_at_eos"}
    assert samples[0]["prompt"][-1]["role"] == "user" and samples[0]["reference"]


def test_metrics_follow_the_schema_with_eval_rows(files, tmp_path):
    summary = recipe.train(cfg_for(files, num_train_epochs=2), tmp_path)
    rows = metrics(tmp_path)
    assert all(set(r) == SCHEMA for r in rows)
    train_rows = [r for r in rows if r["loss"] is not None]
    eval_rows = [r for r in rows if r["eval_loss"] is not None]
    assert all(r["eval_loss"] is None for r in train_rows)
    assert len(train_rows) + len(eval_rows) == len(rows)
    # 2 steps per epoch, 2 epochs: steps 1-4, validation after each epoch (steps 2 and 4).
    assert [r["step"] for r in train_rows] == [1, 2, 3, 4]
    assert [r["epoch"] for r in train_rows] == [0.5, 1.0, 1.5, 2.0]
    assert [r["step"] for r in eval_rows] == [2, 4]
    assert all(r["tokens_per_s"] > 0 and r["elapsed_s"] > 0 and r["lr"] > 0 for r in train_rows)
    assert summary["best_eval_loss"] == min(r["eval_loss"] for r in eval_rows)
    assert summary["final_step"] == 4 and summary["epochs_done"] == 2.0
    assert summary["validation_examples"] == 4 and summary["train_examples"] == 8
    progress = rundir.read_json(tmp_path / "progress.json")
    assert (progress["done"], progress["total"]) == (4, 4)


def test_early_stopping_stops_and_restores_the_best_checkpoint(files, tmp_path, monkeypatch):
    # A constructed case: validation loss falls, then rises twice; patience 2 stops at step 4.
    script = iter([5.0, 4.0, 4.5, 4.6, 9.0])
    monkeypatch.setattr(recipe, "evaluate", lambda *a, **k: next(script))
    cfg = cfg_for(files, max_steps=20, eval_strategy="steps", eval_steps=1, early_stopping_patience=2)
    summary = recipe.train(cfg, tmp_path)
    assert summary["stopped_early"] and not summary["stopped_by_user"]
    assert (summary["final_step"], summary["best_step"], summary["best_eval_loss"]) == (4, 2, 4.0)
    # load_best_model_at_end: final/ holds step 2's weights, not step 4's.
    best = load_file(tmp_path / "checkpoints" / "step-2" / "trainable.safetensors")
    last = load_file(tmp_path / "checkpoints" / "step-4" / "trainable.safetensors")
    final = load_file(tmp_path / "final" / "adapter_model.safetensors")
    b_key = next(k for k in best if "layers.0.self_attn.q_proj.lora_B" in k)
    f_key = next(k for k in final if "layers.0.self_attn.q_proj.lora_B" in k)
    assert torch.equal(final[f_key], best[b_key]) and not torch.equal(best[b_key], last[b_key])


def test_early_stopping_on_real_validation_loss_with_a_threshold(files, tmp_path):
    # No drop can beat a threshold of 100, so the second evaluation ends the run (patience 1).
    cfg = cfg_for(
        files,
        max_steps=20,
        eval_strategy="steps",
        eval_steps=1,
        early_stopping_patience=1,
        early_stopping_threshold=100.0,
    )
    summary = recipe.train(cfg, tmp_path)
    assert summary["stopped_early"] and summary["final_step"] == 2


def test_stop_file_stops_at_the_next_step_with_a_checkpoint(files, tmp_path):
    (tmp_path / rundir.STOP).touch()  # asked before the first step: it finishes that one, then stops
    summary = recipe.train(cfg_for(files, num_train_epochs=3), tmp_path)
    assert summary["stopped_by_user"] and summary["final_step"] == 1
    state = json.loads((tmp_path / "checkpoints" / "step-1" / "state.json").read_text())
    assert state["step"] == 1
    assert (tmp_path / "final" / "adapter_model.safetensors").is_file()
    assert json.loads((tmp_path / "summary.json").read_text())["stopped_by_user"] is True


def test_resume_continues_the_step_count_and_matches_an_unbroken_run(files, tmp_path, monkeypatch, request):
    # Constant lr: a shorter first run must not decay faster; dropout draws on the RNG.
    # One thread for all three runs: set_threads follows the machine's load, and another thread count
    # sums in another order (under load the runs differed by more than 1e-6).
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    threads = torch.get_num_threads()
    request.addfinalizer(lambda: torch.set_num_threads(threads))
    torch.set_num_threads(1)
    settings = dict(save_strategy="steps", save_steps=1, lora_dropout=0.1, lr_scheduler_type="constant")
    recipe.train(cfg_for(files, max_steps=4, **settings), tmp_path / "whole")
    recipe.train(cfg_for(files, max_steps=2, **settings), tmp_path / "part")
    checkpoint = tmp_path / "part" / "checkpoints" / "step-2"
    recipe.train(cfg_for(files, max_steps=4, resume_from=str(checkpoint), **settings), tmp_path / "part")
    steps = [r["step"] for r in metrics(tmp_path / "part") if r["loss"] is not None]
    assert steps == [1, 2, 3, 4]
    whole = load_file(tmp_path / "whole" / "checkpoints" / "step-4" / "trainable.safetensors")
    part = load_file(tmp_path / "part" / "checkpoints" / "step-4" / "trainable.safetensors")
    assert whole.keys() == part.keys()
    # Weights, optimizer moments, data order and dropout masks all restored: the same numbers.
    assert all(torch.allclose(whole[k], part[k], atol=1e-6) for k in whole)


def test_resume_adds_epochs_to_a_finished_run(files, tmp_path):
    first = recipe.train(cfg_for(files, num_train_epochs=1), tmp_path)
    assert (first["final_step"], first["epochs_done"]) == (2, 1.0)
    last = tmp_path / "checkpoints" / "step-2"
    more = recipe.train(cfg_for(files, num_train_epochs=3, resume_from=str(last)), tmp_path)
    assert (more["final_step"], more["epochs_done"]) == (6, 3.0)
    eval_steps = [r["step"] for r in metrics(tmp_path) if r["eval_loss"] is not None]
    assert eval_steps == [2, 4, 6]  # one validation per epoch, none repeated at the resume point


def test_gradient_checkpointing_still_trains_the_adapters(files, spy, tmp_path):
    # Two steps: lora_A gets no gradient while lora_B is still zero (step 1).
    recipe.train(cfg_for(files, max_steps=2, gradient_checkpointing=True, learning_rate=5e-3), tmp_path)
    after = {n: p for n, p in spy["model"].named_parameters() if p.requires_grad}
    assert after and all(not torch.equal(p.detach(), spy["before"][n]) for n, p in after.items())


def test_examples_come_from_a_dataset_versions_splits(files):
    from core.data import versions

    rows = [json.loads(line) for line in sample_path("demo").read_text().splitlines()[:10]]
    unsplit = versions.create("demo ten", rows)
    with pytest.raises(recipe.TrainDataError, match="no train/validation/test split"):
        recipe.load_examples(cfg_for(files, dataset_version=unsplit.id, train_file=None))
    split = versions.save(unsplit, rows, "split", {"train": [0, 1, 2, 3, 4, 5], "validation": [6, 7], "test": [8, 9]})
    train, validation = recipe.load_examples(cfg_for(files, dataset_version=split.id, train_file=None))
    assert train == rows[:6] and validation == rows[6:8]
    empty = versions.save(split, rows, "no train", {"train": [], "validation": [0], "test": []})
    with pytest.raises(recipe.TrainDataError, match="train split .* is empty"):
        recipe.load_examples(cfg_for(files, dataset_version=empty.id, train_file=None))


# ---- the worker's command line (real subprocesses) -------------------------------------------------


def run_cli(spec: Path, home: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, FT_HOME=str(home))
    env.pop("FT_RUN_DIR", None)
    return subprocess.run(
        [sys.executable, "-m", "core.train", "--config", str(spec)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_cli_bad_config_exits_78_with_the_problem(files, tmp_path, ft_home):
    spec = tmp_path / "spec.yaml"
    spec.write_text(to_yaml(cfg_for(files, learning_rate=0.0)))
    result = run_cli(spec, ft_home)
    assert result.returncode == EXIT_BAD_CONFIG
    assert "learning_rate must be above 0" in result.stderr and "Traceback" not in result.stderr


def test_cli_unknown_model_folder_exits_78(files, tmp_path, ft_home):
    spec = tmp_path / "spec.yaml"
    spec.write_text(to_yaml(cfg_for(files, model=str(tmp_path / "no-such-model"))))
    result = run_cli(spec, ft_home)
    assert result.returncode == EXIT_BAD_CONFIG
    assert "no-such-model" in result.stderr and "Traceback" not in result.stderr
    with pytest.raises(recipe.ConfigError, match="no-such-model"):  # the in-process API says the same
        recipe.train(cfg_for(files, model=str(tmp_path / "no-such-model")), tmp_path / "run")


def test_cli_bad_data_exits_65_naming_the_line(files, tmp_path, ft_home):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(Path(files["train"]).read_text().splitlines()[0] + "\n{not json\n")
    spec = tmp_path / "spec.yaml"
    spec.write_text(to_yaml(cfg_for(files, train_file=str(bad))))
    result = run_cli(spec, ft_home)
    assert result.returncode == EXIT_BAD_DATA
    assert "line 2" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "summary.json").exists()


def test_summary_records_the_measured_peak_memory_and_speed(files, tmp_path):
    summary = recipe.train(cfg_for(files, max_steps=2), tmp_path)
    written = json.loads((tmp_path / rundir.SUMMARY).read_text())
    assert written == json.loads(json.dumps(summary))
    # On CPU: the peak resident memory of the worker in total, and the part grown after start-up.
    assert written["peak_rss_gb"] >= written["startup_rss_gb"] > 0
    assert 0 < written["peak_memory_gb"] <= written["peak_rss_gb"]
    assert "VmHWM" in written["peak_memory_measure"]
    assert written["tokens_per_s"] > 0 and written["train_seconds"] > 0
    assert written["device"].startswith("cpu: ")
