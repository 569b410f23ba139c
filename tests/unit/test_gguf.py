"""GGUF export on the tiny Llama: F16 and Q8_0 pass parity; a lost end token or a shuffled tensor fails it.

The run is the tiny model nudged so that <|im_end|> always comes first (tests/unit/test_export.py's
`nudged`), so the source model stops and the greedy check has a stop to keep. The broken exports are
written from a damaged copy of the merged folder and checked against the intact one. The Modelfile's
TEMPLATE is rendered by a small Go-template subset (range/.Role/.Content, as Ollama fills .Messages:
the SYSTEM line becomes the first message when a conversation has none) and compared with the chat
template's own rendering.
Run: `.venv/bin/pytest tests/unit/test_gguf.py -q`.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file, save_file

from core.data import versions
from core.jobs import rundir
from core.train import card, export, gguf, parity
from tests.unit.test_export import IM_END, nudged

CONVERSATIONS = [
    [{"role": "user", "content": "Hi"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}],
    [
        {"role": "user", "content": "Name a fruit."},
        {"role": "assistant", "content": "Apple."},
        {"role": "user", "content": "Another, with ünïcode ☃"},
    ],
]


@pytest.fixture(scope="module")
def stopping_run(tmp_path_factory, tiny_model_dir):
    assert json.loads((tiny_model_dir / "config.json").read_text())["model_type"] == "llama"
    root = tmp_path_factory.mktemp("gguf")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FT_HOME", str(root / "ft_home"))
        run = nudged(tiny_model_dir, root / "run-stop", IM_END)
        spec = rundir.read_spec(run)
        spec["config"].update(max_length=384, learning_rate=2e-4, num_train_epochs=1)
        (run / rundir.SPEC).write_text(yaml.safe_dump(spec))
        (run / rundir.SAMPLES).write_text(
            json.dumps([{"prompt": c, "reference": "", "generated": ""} for c in CONVERSATIONS])
        )
    return run


@pytest.fixture(scope="module")
def exports(stopping_run):
    """The CLI's --json for F16 and Q8_0, each run once for the module."""
    found = {}
    for qtype in ("f16", "q8_0"):
        out = stopping_run / "cli" / f"{qtype}.json"
        out.parent.mkdir(exist_ok=True)
        code = export.main([str(stopping_run), "--gguf", qtype, "--result", str(out)])
        found[qtype] = (code, json.loads(out.read_text()))
    return found


@pytest.mark.parametrize("qtype", ["f16", "q8_0"])
def test_an_export_passes_parity_and_writes_its_files(exports, stopping_run, qtype):
    import gguf as gguf_lib

    code, result = exports[qtype]
    report = result["parity"]
    assert code == 0 and result["ok"] and report["passed"], report
    assert report["tokenizer_agreement"] == 1.0 and report["gguf_eos_token"] == IM_END
    assert report["nmse"] <= parity.THRESHOLDS[qtype]["nmse"] and report["top10_agreement"] >= 0.85
    assert report["source_stopped"] == len(CONVERSATIONS) + 1 == report["gguf_stopped"]  # + the short prompt
    assert json.loads(Path(result["parity_report"]).read_text())["passed"]
    assert result["merged"] == str(stopping_run / "export" / "model")
    reader = gguf_lib.GGUFReader(result["gguf"])
    fields = reader.fields
    assert fields["general.architecture"].contents() == "llama"
    assert len(fields["tokenizer.ggml.tokens"].data) == 49152 and len(fields["tokenizer.ggml.merges"].data) > 40000
    assert "<|im_start|>" in fields["tokenizer.chat_template"].contents()
    assert fields["tokenizer.ggml.eos_token_id"].contents() == 2  # <|im_end|>
    types = {t.name: t.tensor_type.name for t in reader.tensors}
    assert types["blk.0.attn_norm.weight"] == "F32"
    assert types["blk.0.attn_q.weight"] == ("Q8_0" if qtype == "q8_0" else "F16")
    modelfile = Path(result["modelfile"]).read_text()
    assert modelfile.startswith(f"FROM ./model-{qtype}.gguf\n")
    assert 'PARAMETER stop "<|im_end|>"' in modelfile and "PARAMETER num_ctx 384" in modelfile
    assert result["ollama_create"] == f"ollama create run-stop -f {result['modelfile']}"
    text = Path(result["card"]).read_text()
    assert f"GGUF {qtype.upper()}" in text and "learning_rate: 0.0002" in text and "ollama create" in text


def test_q8_0_is_smaller_and_less_exact_than_f16(exports):
    f16, q8 = exports["f16"][1], exports["q8_0"][1]
    assert Path(q8["gguf"]).stat().st_size < 0.7 * Path(f16["gguf"]).stat().st_size
    assert 0 < f16["parity"]["nmse"] < q8["parity"]["nmse"]


def test_a_lost_end_of_turn_token_fails_the_tokenizer_and_stop_checks(exports, tmp_path):
    merged = Path(exports["f16"][1]["merged"])
    broken = Path(shutil.copytree(merged, tmp_path / "wrong-eos"))
    tok_config = json.loads((broken / "tokenizer_config.json").read_text())
    tok_config["eos_token"] = "<|endoftext|>"  # the classic export bug: the pretraining end token, not the turn's
    (broken / "tokenizer_config.json").write_text(json.dumps(tok_config))
    (broken / "generation_config.json").write_text(json.dumps({"eos_token_id": 0, "bos_token_id": 1}))
    path = gguf.write(broken, tmp_path / "wrong-eos.gguf", "f16")
    report = parity.check(merged, path, "f16", CONVERSATIONS, max_new=4, say=lambda m: None)
    assert report["gguf_eos_token"] == "<|endoftext|>" and not report["checks"]["tokenizer"]
    assert report["gguf_stopped"] == 0 and not report["stops_where_source_stops"] and not report["checks"]["greedy"]
    assert not report["passed"]


def test_a_shuffled_tensor_fails_the_logits_check(exports, tmp_path):
    merged = Path(exports["q8_0"][1]["merged"])
    broken = Path(shutil.copytree(merged, tmp_path / "shuffled"))
    weights = load_file(broken / "model.safetensors")
    emb = weights["model.embed_tokens.weight"]
    weights["model.embed_tokens.weight"] = emb[
        torch.randperm(emb.shape[0], generator=torch.Generator().manual_seed(0))
    ]
    save_file(weights, broken / "model.safetensors", metadata={"format": "pt"})
    path = gguf.write(broken, tmp_path / "shuffled.gguf", "q8_0")
    report = parity.check(merged, path, "q8_0", CONVERSATIONS, max_new=4, say=lambda m: None)
    assert report["checks"]["tokenizer"] and not report["checks"]["logits"]
    assert report["nmse"] > 0.1 and not report["passed"]


# ---- Modelfile: Ollama's TEMPLATE against the chat template --------------------------------------------


def render_go(template: str, messages: list[dict]) -> str:
    """The subset of Go's text/template the ChatML TEMPLATE uses: {{- range .Messages }}...{{ end }}."""
    m = re.fullmatch(r"\{\{- range \.Messages \}\}(.*)\{\{ end \}\}(.*)", template, re.S)
    assert m, template
    body, tail = m.groups()
    fill = {"{{ .Role }}": "role", "{{ .Content }}": "content"}
    out = []
    for message in messages:
        part = body
        for key, field in fill.items():
            part = part.replace(key, message[field])
        assert "{{" not in part, part
        out.append(part)
    return "".join(out) + tail


def ollama_render(modelfile: str, conversation: list[dict]) -> str:
    template = re.search(r'TEMPLATE """(.*?)"""', modelfile, re.S).group(1)
    system = re.search(r'SYSTEM """(.*?)"""', modelfile, re.S)
    if system and conversation[0]["role"] != "system":  # what Ollama does with the Modelfile's SYSTEM
        conversation = [{"role": "system", "content": system.group(1)}, *conversation]
    return render_go(template, conversation)


@pytest.mark.parametrize("conversation", CONVERSATIONS)
def test_the_modelfile_template_renders_as_the_chat_template(tiny_model_dir, conversation):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    modelfile = gguf.modelfile(tok, "model-f16.gguf", 2048, [2, 0])
    expected = tok.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)
    assert ollama_render(modelfile, conversation) == expected
    assert 'SYSTEM """You are a helpful AI assistant named SmolLM' in modelfile
    assert re.findall(r'PARAMETER stop "(.*)"', modelfile) == ["<|endoftext|>", "<|im_end|>"]


# ---- refusals and the card --------------------------------------------------------------------------


def test_other_architectures_are_refused_by_name(tmp_path, capsys):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    with pytest.raises(gguf.GGUFError, match="supports llama, mistral, qwen2 .*this model is 'gpt2'"):
        gguf.write(tmp_path, tmp_path / "x.gguf", "f16")
    with pytest.raises(gguf.GGUFError, match="one of f16, q8_0, not 'q4'"):
        gguf.write(tmp_path, tmp_path / "x.gguf", "q4")


def test_every_export_gets_a_card_with_the_dataset_sha256(stopping_run, tmp_path):
    version = versions.create("card-data", [{"messages": [{"role": "user", "content": "hi"}]}])
    spec = rundir.read_spec(stopping_run)
    run = tmp_path / "run-card"
    shutil.copytree(stopping_run / rundir.FINAL, run / rundir.FINAL)
    spec["config"]["dataset_version"] = version.id
    (run / rundir.SPEC).write_text(yaml.safe_dump(spec))
    out = export.export(run, merge=False)
    text = (out / rundir.CARD).read_text()
    assert f"sha256 `{version.sha256}`" in text and "- method: full" in text
    assert "AutoModelForCausalLM.from_pretrained" in text and "--gguf q8_0" in text
    assert "no evaluation scores recorded" in text and "no arena votes" in text
    assert card.write(tmp_path, run, "adapter").read_text().count("PeftModel.from_pretrained") == 1
