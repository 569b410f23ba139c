"""The tiny test model: a 3.2M-parameter random Llama with SmolLM2's real tokenizer, so a training step takes
milliseconds. A test fixture, not a product model, so it lives under tests/ (tests/conftest.py's `tiny_model_dir`).

Test: tests/unit/test_models.py
"""

from __future__ import annotations

import json
from pathlib import Path

from core import models

TINY_DIR = "tiny-llama"
TINY_SHAPE = {
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "intermediate_size": 128,
}


def tiny_model(tmp_dir: str | Path) -> Path:
    """A tiny random Llama with SmolLM2's real tokenizer, saved under tmp_dir; built once per folder."""
    dest = Path(tmp_dir) / TINY_DIR
    if models.is_prepared(dest):
        return dest
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = models._embedded_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tok),
        max_position_embeddings=models.CONTEXT_LENGTH,
        tie_word_embeddings=True,
        rms_norm_eps=1e-5,
        rope_parameters={"rope_type": "default", "rope_theta": 100000.0},  # SmolLM2's
        **TINY_SHAPE,
    )
    torch.manual_seed(0)  # the same weights every build, so tests are repeatable
    model = LlamaForCausalLM(config)
    models._set_generation(model, tok)

    def build(folder: Path) -> None:
        model.save_pretrained(folder)
        tok.save_pretrained(folder)
        (folder / models.SOURCE_FILE).write_text(json.dumps({"tiny": TINY_SHAPE}) + "\n")

    dest.parent.mkdir(parents=True, exist_ok=True)
    return models._write_atomically(dest, build)
