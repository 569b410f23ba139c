"""Export on the tiny model: merge equals base + LoRA delta, the adapter alone reloads, the check.

A random tiny model does not stop at <|im_end|> on its own, so the tests split what they prove:
the mechanics (weights, template, generation config, reload) on a random model and adapter, and
the stop check on a tiny model nudged so that <|im_end|> always wins (or always loses).
Run: `.venv/bin/pytest tests/unit/test_export.py -q`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from core import generation, jobs, models
from core.jobs import rundir
from core.train import export
from tests.tiny import tiny_model
from tests.waiting import wait_for

R, ALPHA = 4, 8  # LoRA scaling alpha / r = 2
TARGETS = ["q_proj", "v_proj"]
IM_END = "<|im_end|>"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FT_HOME", str(root / "ft_home"))
        return tiny_model(root)


@pytest.fixture(scope="module")
def peft_model(tiny):
    """The tiny model with a LoRA adapter whose B is random, so its delta is not zero."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny)
    model = get_peft_model(base, LoraConfig(r=R, lora_alpha=ALPHA, target_modules=TARGETS, task_type="CAUSAL_LM"))
    torch.manual_seed(1)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:  # PEFT starts B at zero; a trained adapter's is not
                param.normal_(std=0.5)
    return model.eval()


def make_run(folder: Path, model_path: Path, method: str) -> Path:
    (folder / "final").mkdir(parents=True)
    config = {"model": str(model_path), "method": method, "dataset_version": 1}
    (folder / "spec.yaml").write_text(yaml.safe_dump({"id": folder.name, "kind": "train", "config": config}))
    (folder / "summary.json").write_text(json.dumps({"method": method, "model": str(model_path)}))
    return folder


@pytest.fixture
def lora_run(tmp_path, tiny, peft_model):
    from transformers import AutoTokenizer

    run = make_run(tmp_path / "run-lora", tiny, "lora")
    peft_model.save_pretrained(run / "final")
    AutoTokenizer.from_pretrained(tiny).save_pretrained(run / "final")
    return run


def logits(model, ids=(1, 9707, 28, 2, 198, 1, 520, 9531)):
    with torch.no_grad():
        return model(torch.tensor([list(ids)])).logits


# ---- merge ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["lora", "qlora"])
def test_merge_equals_base_plus_the_adapter_delta(lora_run, tiny, peft_model, method):
    (lora_run / "summary.json").write_text(json.dumps({"method": method}))
    out = export.export(lora_run, merge=True)
    assert out == lora_run / "export" / "merged"
    merged = load_file(out / "model.safetensors")
    base = load_file(tiny / "model.safetensors")
    adapter = load_file(lora_run / "final" / "adapter_model.safetensors")
    assert not [k for k in merged if "lora" in k] and not list(out.glob("*.bin"))
    for layer in range(2):
        for module in TARGETS:
            key = f"model.layers.{layer}.self_attn.{module}"
            a = adapter[f"base_model.model.{key}.lora_A.weight"]  # r x d_in
            b = adapter[f"base_model.model.{key}.lora_B.weight"]  # d_out x r
            expected = base[f"{key}.weight"] + (ALPHA / R) * b @ a  # W + (alpha / r) B A
            assert torch.allclose(merged[f"{key}.weight"], expected, atol=1e-6)
            assert not torch.equal(merged[f"{key}.weight"], base[f"{key}.weight"])
        untouched = f"model.layers.{layer}.self_attn.k_proj.weight"
        assert torch.equal(merged[untouched], base[untouched])
    config = json.loads((out / "config.json").read_text())
    # QLoRA too: merged into the unquantized float32 base, never into 4-bit weights.
    assert (
        "quantization_config" not in config and merged["model.layers.0.self_attn.q_proj.weight"].dtype == torch.float32
    )
    assert json.loads((out / "export.json").read_text()) == {
        "run": "run-lora",
        "method": method,
        "kind": "merged",
    }
    model, tok = export.load_export(out)
    assert torch.allclose(logits(model), logits(peft_model), atol=1e-5)  # same function as base + adapter
    assert tok.chat_template and tok.eos_token == IM_END
    assert model.generation_config.eos_token_id == tok.convert_tokens_to_ids(IM_END)


def test_the_adapter_alone_reloads_with_peft(lora_run, tiny, peft_model, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    out = export.export(lora_run, merge=False, out_dir=tmp_path / "shipped")
    assert {"adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "chat_template.jinja"} <= {
        p.name for p in out.iterdir()
    }
    assert json.loads((out / "adapter_config.json").read_text())["base_model_name_or_path"] == str(tiny)
    reloaded = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny), out).eval()
    assert torch.allclose(logits(reloaded), logits(peft_model), atol=1e-6)
    assert not torch.allclose(logits(reloaded), logits(AutoModelForCausalLM.from_pretrained(tiny)), atol=1e-3)


def test_a_run_loads_as_its_adapter_on_its_base(lora_run, tiny, peft_model):
    model, tok = export.load_run(lora_run)
    assert torch.allclose(logits(model), logits(peft_model), atol=1e-6)
    assert tok.eos_token == IM_END and tok.eos_token_id in models.stop_ids(model)


def test_check_export_reports_its_fields_on_a_random_model(lora_run):
    out = export.export(lora_run, merge=True)
    check = export.check_export(out, max_new_tokens=6)
    assert check["has_chat_template"] and check["eos_token"] == IM_END and check["eos_in_generation_config"]
    # A random model rarely stops: this test proves the fields, not the stop (see the nudged ones).
    assert 1 <= check["new_tokens"] <= 6 and isinstance(check["generated"], str)


# ---- stopping at the end token, on a nudged model ----------------------------------------------------


def nudged(tiny: Path, run: Path, winner: str, eos_in_config: int | None = None) -> Path:
    """A full-fine-tuning run whose model always predicts `winner` next.

    Every embedding gets -1 in dimension 0 and the winner +1; the final norm's weight 0 is -1. The
    last hidden state's dimension 0 is then about +8 (the -1 of its own token, flipped and scaled by
    RMSNorm over 64 small dimensions), so the tied output layer scores the winner at about +8 and
    every other token at about -8. After the winner itself the signs flip and some other token wins;
    a winner other than <|im_end|> gets <|im_end|> a 0 in dimension 0, so it never comes first.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    make_run(run, tiny, "full")
    model, tok = AutoModelForCausalLM.from_pretrained(tiny), AutoTokenizer.from_pretrained(tiny)
    with torch.no_grad():
        emb = model.get_input_embeddings().weight
        emb[:, 0] = -1.0
        emb[tok.convert_tokens_to_ids(winner), 0] = 1.0
        if winner != IM_END:
            emb[tok.convert_tokens_to_ids(IM_END), 0] = 0.0
        model.model.norm.weight[0] = -1.0
    if eos_in_config is not None:
        model.generation_config.eos_token_id = eos_in_config
    model.save_pretrained(run / "final")
    tok.save_pretrained(run / "final")
    return run


def test_a_model_that_ends_its_turn_passes_the_check(tiny, tmp_path, capsys):
    run = nudged(tiny, tmp_path / "run-stop", IM_END)
    out = export.export(run, merge=True)  # merge means nothing for a full model: it is re-saved
    assert out == run / "export" / "model"
    check = export.check_export(out, max_new_tokens=8)
    assert check["stopped_at_eos"] and check["new_tokens"] == 1 and check["generated"] == ""
    assert export.main([str(run)]) == 0
    assert '"stopped_at_eos": true' in capsys.readouterr().out


def test_a_model_that_never_ends_fails_the_check(tiny, tmp_path):
    run = nudged(tiny, tmp_path / "run-loop", "Ġhello")
    check = export.check_export(export.export(run, merge=False), max_new_tokens=5)
    assert not check["stopped_at_eos"] and check["new_tokens"] == 5
    assert check["generated"].startswith("hello ")
    assert export.main([str(run)]) == 1


def test_export_repairs_a_generation_config_with_the_wrong_end_token(tiny, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    endoftext = 0  # SmolLM2's <|endoftext|>: a config that waits for it never stops a chat turn
    run = nudged(tiny, tmp_path / "run-mismatch", IM_END, eos_in_config=endoftext)
    raw = AutoModelForCausalLM.from_pretrained(run / "final")
    tok = AutoTokenizer.from_pretrained(run / "final")
    reply = generation.reply(raw, tok, [{"role": "user", "content": "hi"}], max_new_tokens=4)
    assert reply.new_tokens == 4 and not reply.stopped_on_eos  # as saved, it runs to the limit
    out = export.export(run, merge=False)
    assert json.loads((out / "generation_config.json").read_text())["eos_token_id"] == [2, endoftext]
    assert export.check_export(out, max_new_tokens=4)["stopped_at_eos"]


# ---- bad input --------------------------------------------------------------------------------------


def test_a_run_without_a_final_model_is_a_clear_error(tmp_path, capsys):
    run = make_run(tmp_path / "run-unfinished", Path("nowhere"), "lora")
    with pytest.raises(export.ExportError, match="no final/ model yet"):
        export.export(run, merge=True)
    assert export.main([str(run), "--merge"]) == 2
    assert "error:" in capsys.readouterr().err
    assert export.main(["20260101-000000-train-none"]) == 2
    assert "no run folder or run id '20260101-000000-train-none'" in capsys.readouterr().err
    assert not (run / "export").exists()


def test_a_new_export_replaces_the_last_one(lora_run):
    first = export.export(lora_run, merge=False)
    (first / "stale.txt").write_text("from an earlier export")
    again = export.export(lora_run, merge=False)
    assert again == first and not (again / "stale.txt").exists()
    assert [p.name for p in again.parent.iterdir()] == ["adapter"]  # no temp folder left behind


# ---- as a job -----------------------------------------------------------------------------------------


def test_an_export_job_writes_its_result_json(tiny):
    run_id = "20260101-000000-train-stop"
    nudged(tiny, rundir.run_dir(run_id), IM_END)
    export_id = export.launch(run_id, merge=True)
    [job] = jobs.list_runs(export.KIND, parent=run_id)
    assert job.id == export_id and job.meta == {"run": run_id, "merge": True}
    assert wait_for(export_id, timeout=180).state == "succeeded"
    result = export.result(export_id)
    assert result["ok"] and result["stopped_at_eos"] and result["has_chat_template"]
    assert result["folder"] == str(rundir.run_dir(run_id) / rundir.EXPORT / "model")
    assert (Path(result["folder"]) / rundir.EXPORT_INFO).is_file()


def test_exporting_a_run_without_a_model_is_refused_before_a_job_starts(tmp_path):
    run_id = "20260101-000000-train-none"
    make_run(rundir.run_dir(run_id), Path("nowhere"), "lora")
    with pytest.raises(export.ExportError, match="no final/ model yet"):
        export.launch(run_id, merge=False)
    assert jobs.list_runs(export.KIND) == []
