"""Unit tests for core.models: the tiny test model, model lookup, and the light import.

Run: .venv/bin/pytest tests/unit/test_models.py -q -s
"""

from __future__ import annotations

import math
import subprocess
import sys
import time

import pytest

from core import models
from tests.tiny import tiny_model

# SmolLM2's vocabulary: 49,152 entries, with <|endoftext|>, <|im_start|>, <|im_end|> as ids 0, 1, 2
# (the model card's tokenizer; the GGUF metadata says the same).
SMOLLM2_VOCAB = 49152
IM_END_ID = 2


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """One tiny model for the module, built with FT_HOME pointing at a temp folder too."""
    root = tmp_path_factory.mktemp("tiny")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FT_HOME", str(root / "ft_home"))
        start = time.perf_counter()
        folder = tiny_model(root)
        print(f"\ntiny model built in {time.perf_counter() - start:.2f} s (tokenizer from the GGUF included)")
    return folder


@pytest.fixture(scope="module")
def tiny_loaded(tiny):
    return models.load_model(tiny), models.load_tokenizer(tiny)


def test_tiny_model_is_small_and_built_once(tiny):
    from safetensors import safe_open
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(tiny)
    assert (config.hidden_size, config.num_hidden_layers, config.num_key_value_heads) == (64, 2, 2)
    weights = tiny / "model.safetensors"
    stamp = weights.stat().st_mtime_ns
    start = time.perf_counter()
    again = tiny_model(tiny.parent)
    print(f"tiny model second call: {(time.perf_counter() - start) * 1000:.1f} ms")
    assert again == tiny
    assert weights.stat().st_mtime_ns == stamp  # not rebuilt
    # Tied embedding 49152 x 64 = 3.15M; 2 layers of attention (64x64 q/o, 64x32 k/v) and
    # MLP (3 x 64x128) add 2 x (2*4096 + 2*2048 + 24576) = 73,728; norms 64 x 5 = 320.
    with safe_open(weights, "pt") as f:
        n_params = sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys())
    assert n_params == SMOLLM2_VOCAB * 64 + 73_728 + 320


def test_tiny_tokenizer_is_smollm2s_with_chat_template(tiny_loaded):
    model, tok = tiny_loaded
    assert len(tok) == SMOLLM2_VOCAB == model.config.vocab_size
    assert tok.chat_template
    assert tok.eos_token == "<|im_end|>" and tok.convert_tokens_to_ids("<|im_end|>") == IM_END_ID
    assert model.generation_config.eos_token_id == IM_END_ID
    text = tok.apply_chat_template([{"role": "user", "content": "Hi"}], add_generation_prompt=True, tokenize=False)
    assert "<|im_start|>user\nHi<|im_end|>\n" in text
    assert text.endswith("<|im_start|>assistant\n")


def test_tiny_forward_gives_vocab_logits_and_trains(tiny_loaded):
    import torch

    model, tok = tiny_loaded
    ids = tok("The capital of France is Paris.", return_tensors="pt")["input_ids"]
    model.train()
    out = model(input_ids=ids, labels=ids)
    assert out.logits.shape == (1, ids.shape[1], SMOLLM2_VOCAB)
    # Random init with std 0.02 gives near-uniform predictions: loss close to ln(49152) = 10.80.
    assert abs(out.loss.item() - math.log(SMOLLM2_VOCAB)) < 0.5
    before = model.model.layers[0].mlp.up_proj.weight.detach().clone()
    start = time.perf_counter()
    out.loss.backward()
    torch.optim.SGD(model.parameters(), lr=0.1).step()
    print(f"tiny backward + step: {(time.perf_counter() - start) * 1000:.1f} ms")
    assert not torch.equal(before, model.model.layers[0].mlp.up_proj.weight)
    model.zero_grad()
    model.eval()


def test_light_tokenizer_agrees_without_transformers(tiny_loaded, tiny):
    _, tok = tiny_loaded
    text = "Fine-tune 12,345 examples: naïve café <|im_end|>"
    assert models.light_tokenizer(tiny).encode(text).ids == tok(text)["input_ids"]
    with pytest.raises(models.ModelError, match="No tokenizer.json"):
        models.light_tokenizer(tiny.parent)


def test_import_stays_light():
    code = "import sys, core.models; print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_resolve_passes_other_models_through(tmp_path, ft_home):
    assert models.resolve("HuggingFaceTB/SmolLM2-360M-Instruct") == "HuggingFaceTB/SmolLM2-360M-Instruct"
    assert models.resolve(tmp_path) is tmp_path
    assert not models.default_dir().exists()  # nothing was converted on the way


def test_embedded_gguf_is_found_in_the_package():
    path = models.embedded_gguf_path()
    assert path.name == models.GGUF_FILE
    assert path.read_bytes()[:4] == b"GGUF"


def test_known_models_lists_embedded_and_local_folders(ft_home):
    local = models.default_dir().parent / "my-tuned"
    local.mkdir()
    (local / "config.json").write_text("{}")
    (models.default_dir().parent / ".smollm2-135m-instruct.tmp-1").mkdir()  # half-built: hidden
    entries = {e.id: e for e in models.known_models()}
    assert entries[models.DEFAULT_MODEL_ID].prepared is False
    assert entries[str(local)].kind == "local"
    assert len(entries) == 2


def test_failed_build_leaves_nothing_behind(tmp_path):
    def build(folder):
        (folder / "half.bin").write_bytes(b"x")
        raise RuntimeError("disk full")

    dest = tmp_path / "model"
    with pytest.raises(RuntimeError):
        models._write_atomically(dest, build)
    assert list(tmp_path.iterdir()) == []


def test_cli_list_says_not_prepared(capsys):
    assert models.main(["list"]) == 0
    out = capsys.readouterr().out
    assert models.DEFAULT_MODEL_ID in out and "not prepared" in out
