"""Write a Hugging Face Llama-family folder as one GGUF file, and the Ollama Modelfile beside it.

A converter of our own on gguf's writer, tensor-name maps and Q8_0 quantizer (llama.cpp's converter
only reaches the index inside the llama-cpp-python source archive, and pins its own copy of gguf):
- architectures: llama (SmolLM is llama), mistral (llama.cpp runs it as llama), qwen2; others are
  refused by name. Llama's q/k projections are permuted to llama.cpp's rotary layout, as its
  converter does and transformers' GGUF loader undoes.
- tokenizer: byte-level BPE (SmolLM2, Qwen2, Llama 3): vocabulary, token types, merges, bos/eos/pad,
  the chat template; a SentencePiece tokenizer is refused by name.
- F16 (1-D tensors stay F32, as llama.cpp keeps them) or Q8_0 (2-D tensors whose rows are whole
  32-value blocks; the rest F16).
`modelfile()` maps a ChatML chat template to Ollama's Go template, its stops and context length.

Test: .venv/bin/pytest tests/unit/test_gguf.py -q
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

QTYPES = ("f16", "q8_0")
ARCHES = {"llama": "llama", "mistral": "llama", "qwen2": "qwen2"}  # HF model_type -> llama.cpp arch
# llama.cpp names its BPE pre-tokenizer (the split regex) per tokenizer family.
PRE = {"qwen2": "qwen2", "smollm": "smollm", "llama": "llama-bpe"}
CHATML_START, CHATML_END = "<|im_start|>", "<|im_end|>"
CHATML_TEMPLATE = (
    "{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}<|im_start|>assistant\n"
)


class GGUFError(Exception):
    """A model this converter cannot write, in words a user can act on."""


def file_name(qtype: str) -> str:
    return f"model-{qtype}.gguf"


def _config(hf_dir: Path) -> dict:
    config = json.loads((hf_dir / "config.json").read_text())
    if config.get("model_type") not in ARCHES:
        known = ", ".join(sorted(ARCHES))
        raise GGUFError(f"GGUF export supports {known} (SmolLM is llama); this model is {config.get('model_type')!r}")
    return config


def _pre(config: dict, tok) -> str:
    if config["model_type"] == "qwen2":
        return PRE["qwen2"]
    return PRE["smollm"] if CHATML_START in tok.get_vocab() and len(tok) <= 49152 else PRE["llama"]


def _check_byte_bpe(hf_dir: Path) -> None:
    spec = json.loads((hf_dir / "tokenizer.json").read_text()) if (hf_dir / "tokenizer.json").is_file() else {}
    model = spec.get("model") or {}
    if model.get("type") != "BPE" or model.get("byte_fallback"):
        raise GGUFError(
            f"{hf_dir} has a SentencePiece-style tokenizer (model {model.get('type')!r}, byte_fallback "
            f"{model.get('byte_fallback')}); GGUF export writes byte-level BPE tokenizers (SmolLM2, Qwen2, Llama 3)"
        )


def _vocab(writer, hf_dir: Path, config: dict) -> None:
    import gguf
    from transformers import AutoTokenizer

    _check_byte_bpe(hf_dir)
    tok = AutoTokenizer.from_pretrained(hf_dir)
    added = tok.added_tokens_decoder
    n = max(config["vocab_size"], len(tok))
    tokens, types = [], []
    for i in range(n):
        if i >= len(tok):  # rows the embedding has beyond the vocabulary
            tokens.append(f"[PAD{i}]")
            types.append(gguf.TokenType.UNUSED)
            continue
        tokens.append(tok.convert_ids_to_tokens(i))
        special = i in added and added[i].special
        types.append(
            gguf.TokenType.CONTROL if special else gguf.TokenType.USER_DEFINED if i in added else gguf.TokenType.NORMAL
        )
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(_pre(config, tok))
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    special = gguf.SpecialVocab(hf_dir, load_merges=True, n_vocab=n)
    # The tokenizer's own end token: the end of a chat turn, which a config's eos_token_id may not name.
    if tok.eos_token_id is not None:
        special.special_token_ids["eos"] = tok.eos_token_id
    special.add_to_gguf(writer, quiet=True)
    if tok.chat_template and not special.chat_template:
        writer.add_chat_template(tok.chat_template)


def _hparams(writer, config: dict, hf_dir: Path) -> None:
    heads = config["num_attention_heads"]
    writer.add_name(hf_dir.name)
    writer.add_context_length(config.get("max_position_embeddings") or 2048)
    writer.add_embedding_length(config["hidden_size"])
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(heads)
    writer.add_head_count_kv(config.get("num_key_value_heads") or heads)
    writer.add_layer_norm_rms_eps(config.get("rms_norm_eps") or 1e-5)
    rope = config.get("rope_parameters") or {}
    writer.add_rope_freq_base(float(rope.get("rope_theta") or config.get("rope_theta") or 10000.0))
    writer.add_rope_dimension_count(config.get("head_dim") or config["hidden_size"] // heads)
    writer.add_vocab_size(config["vocab_size"])


def _permute(w, n_head: int):
    """HF's rotate-half q/k rows to llama.cpp's interleaved pairs (its converter's `permute`)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _encode(name: str, data, qtype: str):
    """(array, raw ggml type or None): 1-D in F32, Q8_0 where rows are whole blocks, else F16."""
    import gguf
    import numpy as np

    if data.ndim == 1:
        return data.astype(np.float32), None
    if qtype == "q8_0" and data.shape[-1] % 32 == 0:
        q = gguf.GGMLQuantizationType.Q8_0
        return gguf.quants.quantize(data.astype(np.float32), q), q
    return data.astype(np.float16), None


def _tensors(hf_dir: Path):
    """(name, float32 numpy array) for every tensor of the folder's safetensors files."""
    from safetensors import safe_open

    files = sorted(hf_dir.glob("*.safetensors"))
    if not files:
        raise GGUFError(f"{hf_dir} has no .safetensors weights to convert")
    for path in files:
        with safe_open(path, framework="pt") as f:
            for name in f.keys():
                yield name, f.get_tensor(name).float().numpy()


def write(
    hf_dir: str | Path, out: str | Path, qtype: str, on_tensor: Callable[[int, int], None] | None = None
) -> Path:
    """Convert hf_dir (a merged or full model with its tokenizer) into the GGUF file `out`."""
    import gguf

    hf_dir, out = Path(hf_dir), Path(out)
    if qtype not in QTYPES:
        raise GGUFError(f"--gguf must be one of {', '.join(QTYPES)}, not {qtype!r}")
    config = _config(hf_dir)
    arch = ARCHES[config["model_type"]]
    model_arch = {"llama": gguf.MODEL_ARCH.LLAMA, "qwen2": gguf.MODEL_ARCH.QWEN2}[arch]
    names = gguf.get_tensor_name_map(model_arch, config["num_hidden_layers"])
    heads, kv = config["num_attention_heads"], config.get("num_key_value_heads") or config["num_attention_heads"]
    writer = gguf.GGUFWriter(out, arch)
    writer.add_type(gguf.GGUFType.MODEL)
    _hparams(writer, config, hf_dir)
    ftype = gguf.LlamaFileType.MOSTLY_Q8_0 if qtype == "q8_0" else gguf.LlamaFileType.MOSTLY_F16
    writer.add_file_type(ftype)
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    _vocab(writer, hf_dir, config)
    todo = list(_tensors(hf_dir))
    for i, (name, data) in enumerate(todo, 1):
        if name.endswith("rotary_emb.inv_freq"):
            continue
        if name == "lm_head.weight" and config.get("tie_word_embeddings"):
            continue  # tied: llama.cpp reuses token_embd
        new = names.get_name(name, try_suffixes=(".weight", ".bias"))
        if new is None:
            raise GGUFError(f"no GGUF name for tensor {name!r} of a {config['model_type']} model")
        if arch == "llama" and name.endswith(("q_proj.weight", "k_proj.weight")):
            data = _permute(data, heads if "q_proj" in name else kv)
        array, raw = _encode(new, data, qtype)
        writer.add_tensor(new, array, raw_dtype=raw)
        if on_tensor:
            on_tensor(i, len(todo))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out


# ---- Ollama ------------------------------------------------------------------------------------------


def default_system(tok) -> str | None:
    """The system prompt the chat template inserts when a conversation has none (SmolLM2's, Qwen2's)."""
    marker = "\x00user\x00"
    text = tok.apply_chat_template([{"role": "user", "content": marker}], tokenize=False)
    head = f"{CHATML_START}system\n"
    if not text.startswith(head) or CHATML_END not in text.split(marker)[0]:
        return None
    return text[len(head) : text.index(CHATML_END)]


def stop_tokens(tok, generation_eos: list[int] | int | None = None) -> list[str]:
    """Every token that ends a turn: the tokenizer's end token, ChatML's, and the generation config's."""
    ids = generation_eos if isinstance(generation_eos, list) else [generation_eos]
    found = [tok.eos_token, *(tok.convert_ids_to_tokens(i) for i in ids if i is not None)]
    if CHATML_END in tok.get_vocab():
        found.append(CHATML_END)
    return sorted({t for t in found if t})


def modelfile(tok, gguf_name: str, num_ctx: int, generation_eos: list[int] | int | None = None) -> str:
    """The Ollama Modelfile for a GGUF file beside it."""
    if not tok.chat_template or CHATML_START not in tok.chat_template:
        raise GGUFError(
            "the Modelfile's TEMPLATE is written for ChatML chat templates (<|im_start|>/<|im_end|>: SmolLM2, "
            "Qwen2); this tokenizer's template is another one"
        )
    lines = [f"FROM ./{gguf_name}", f'TEMPLATE """{CHATML_TEMPLATE}"""']
    if system := default_system(tok):
        lines.append(f'SYSTEM """{system}"""')
    lines += [f'PARAMETER stop "{t}"' for t in stop_tokens(tok, generation_eos)]
    lines.append(f"PARAMETER num_ctx {int(num_ctx)}")
    return "\n".join(lines) + "\n"


def ollama_command(name: str, modelfile_path: Path) -> str:
    return f"ollama create {name} -f {modelfile_path}"
