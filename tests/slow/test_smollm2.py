"""Slow tests: the real embedded SmolLM2-135M-Instruct, converted from its GGUF into a test FT_HOME.

Prints conversion time, load time and greedy tokens/s (a report, never a pass/fail on time).
Run: .venv/bin/pytest tests/slow/test_smollm2.py -q -s
"""

from __future__ import annotations

import json
import time

import pytest

from core import generation, models

IM_END_ID = 2  # <|im_end|> in SmolLM2's vocabulary (ids 0, 1, 2 = endoftext, im_start, im_end)
PROMPT = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """A workspace with the default model converted once for the whole module."""
    root = tmp_path_factory.mktemp("smollm2_home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FT_HOME", str(root))
        start = time.perf_counter()
        models.prepare_default()
        print(f"\nconversion (GGUF -> safetensors): {time.perf_counter() - start:.1f} s")
    return root


@pytest.fixture(scope="module")
def folder(home):
    return home / "models" / models.DEFAULT_MODEL_ID


@pytest.fixture(scope="module")
def loaded(folder):
    start = time.perf_counter()
    model, tok = models.load_model(folder), models.load_tokenizer(folder)
    print(f"\nload of the converted model + tokenizer: {time.perf_counter() - start:.1f} s")
    return model, tok


def test_converted_folder_is_a_plain_checkpoint(folder):
    names = {p.name for p in folder.iterdir()}
    assert {"model.safetensors", "config.json", "generation_config.json", "tokenizer.json"} <= names
    config = json.loads((folder / "config.json").read_text())
    assert "quantization_config" not in config
    assert config["eos_token_id"] == IM_END_ID
    assert json.loads((folder / "generation_config.json").read_text())["eos_token_id"] == IM_END_ID
    assert not list(folder.parent.glob(".*"))  # no temp folder left behind


def test_saved_tokenizer_has_the_chat_template(folder):
    tok = models.load_tokenizer(folder)
    assert tok.chat_template and tok.eos_token == "<|im_end|>"
    text = tok.apply_chat_template(PROMPT, add_generation_prompt=True, tokenize=False)
    assert text.endswith("<|im_start|>assistant\n")
    # The light path (no transformers) reads the same tokenizer.json and agrees.
    assert models.light_tokenizer(folder).encode(text).ids == tok(text)["input_ids"]


def test_second_prepare_does_not_convert_again(home, folder, monkeypatch):
    monkeypatch.setenv("FT_HOME", str(home))
    stamp = (folder / "model.safetensors").stat().st_mtime_ns
    start = time.perf_counter()
    assert models.prepare_default() == folder
    assert models.resolve(models.DEFAULT_MODEL_ID) == folder
    print(f"\nsecond prepare: {(time.perf_counter() - start) * 1000:.1f} ms")
    assert (folder / "model.safetensors").stat().st_mtime_ns == stamp


def test_answers_through_its_chat_template_and_stops(loaded):
    model, tok = loaded
    reply = generation.reply(model, tok, PROMPT, max_new_tokens=48)
    print(f"\nreply: {reply.text!r} ({reply.new_tokens} tokens, {reply.tokens_per_s:.1f} tokens/s)")
    assert "Paris" in reply.text
    assert reply.stopped_on_eos and reply.new_tokens < 48
    story = [{"role": "user", "content": "Write a story about a lighthouse keeper."}]
    longer = generation.reply(model, tok, story, max_new_tokens=64)
    print(
        f"greedy generation: {longer.new_tokens} tokens in {longer.seconds:.1f} s = {longer.tokens_per_s:.1f} tokens/s"
    )
    assert longer.new_tokens > 8 and longer.text


def test_saved_model_reproduces_the_gguf_logits(loaded):
    import torch
    from transformers import AutoModelForCausalLM

    model, tok = loaded
    gguf = models.embedded_gguf_path()
    start = time.perf_counter()
    original = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    print(f"\nload straight from the GGUF: {time.perf_counter() - start:.1f} s")
    ids = tok.apply_chat_template(PROMPT, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.inference_mode():
        expected = original(**ids).logits
        got = model(**ids).logits
    assert torch.isfinite(expected).all()
    # Same float32 tensors, same graph: the numbers agree to the last bit.
    assert torch.equal(got, expected)
