"""Activation bytes per layer, measured: what autograd saves for backward on a 2-layer stack of the model's shape.

The stack is built from the model's config (transformers `AutoConfig.for_model` + `from_config`) on the `meta`
device, so a full-width 7B layer costs no memory and no compute, and it runs the way core/train/recipe.py runs
each method: full (fp32 weights under bf16 autocast), LoRA (frozen bf16 base, PEFT adapters with their dropout),
QLoRA (bf16 stand-ins for the 4-bit linears, norms in fp32 as prepare_model_for_kbit_training casts them). A
saved-tensor hook counts each saved storage once; parameters' storages are not activations. Two batch sizes
split what grows with the batch (activations) from what does not (autocast's bf16 weight copies).
Autocast follows the device's lists ("device": "cuda" or "cpu"), dropout too (CUDA's fused kernel keeps a bool
mask). The attention kernel "sdpa" saves what a flash kernel saves (q, k, v, output, fp32 log-sum-exp); "math"
what SDPA's math path saves (the recipe's choice on a CPU for short batches: seq x seq scores); "eager"
saves the model's own softmax probabilities (seq x seq per head).
The measurement runs in a subprocess (torch never enters the Streamlit process), with a timeout, and its result
is cached per shape key in the workspace cache (`activations.json`); None means "use the formula". `lookup`
waits for it (the CLI); `cached` never waits: a shape not in the cache is measured by a detached subprocess
(one at a time) and the formula stands in until the next look (the Train page, the launch record).
Run: `python -m core.activations '{"model_type": "llama", "hidden": 64, ...}'` (prints the measurement as JSON;
`--cache` writes it to the workspace cache instead).
Test: `pytest tests/unit/test_activations.py`.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from core import paths

CACHE_FILE = "activations.json"
ROOT = Path(__file__).resolve().parents[1]  # where `python -m core.activations` runs
TIMEOUT_S = 180.0
STACK_LAYERS = 2
KERNELS = ("sdpa", "math", "eager")
# Families whose MLP is GPT-2's (c_fc, c_proj); anything else is built with Llama-style field names.
GPT2_STYLE = {"gpt2", "gpt_bigcode"}
# LoRA target names of the GPT-2 block, by the Llama names the workbench's forms use.
GPT2_TARGETS = {"q_proj": "c_attn", "k_proj": "c_attn", "v_proj": "c_attn", "o_proj": "attn.c_proj"}
GPT2_TARGETS |= {"up_proj": "c_fc", "down_proj": "mlp.c_proj"}
SOURCE = f"measured on a {STACK_LAYERS}-layer stack of this shape (saved-tensor hooks, meta device)"


def _config(spec: dict):
    """A transformers config of the spec's shape with STACK_LAYERS layers and a token-sized vocabulary."""
    from transformers import AutoConfig

    mt = spec["model_type"]
    if mt in GPT2_STYLE:
        fields = dict(n_embd=spec["hidden"], n_head=spec["heads"], n_inner=spec["intermediate"], n_layer=STACK_LAYERS)
        fields.update(n_positions=max(spec["seq"], 8), resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    else:
        fields = dict(hidden_size=spec["hidden"], intermediate_size=spec["intermediate"])
        fields.update(num_attention_heads=spec["heads"], num_key_value_heads=spec["kv_heads"])
        fields.update(head_dim=spec["head_dim"], num_hidden_layers=STACK_LAYERS, attention_dropout=0.0)
        fields.update(max_position_embeddings=max(spec["seq"], 8), attention_bias=spec.get("qkv_bias", False))
    # The vocabulary is outside the layers: 8 entries, and no special token ids that would have to fit in it.
    cfg = AutoConfig.for_model(mt, vocab_size=8, pad_token_id=None, bos_token_id=None, eos_token_id=None, **fields)
    cfg._attn_implementation = "eager" if spec.get("kernel") == "eager" else "sdpa"
    cfg.use_cache = False
    return cfg


def _targets(spec: dict) -> list[str]:
    if spec["model_type"] in GPT2_STYLE:
        return sorted({GPT2_TARGETS[t] for t in spec["targets"] if t in GPT2_TARGETS})
    return list(spec["targets"])


def _build(spec: dict):
    """(model, decoder layers, rotary module or None) on meta, with the method's dtypes and adapters."""
    import torch
    from transformers import AutoModelForCausalLM

    bf16 = spec["bf16"]
    weights = torch.float32 if spec["method"] == "full" or not bf16 else torch.bfloat16
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(_config(spec), dtype=weights)
    if spec["method"] != "full":
        model.requires_grad_(False)
        if spec["method"] == "qlora":  # prepare_model_for_kbit_training: every non-quantized weight to fp32
            for m in model.modules():
                linear = isinstance(m, torch.nn.Linear) or type(m).__name__ == "Conv1D"  # 4-bit on a real run
                for name, p in m.named_parameters(recurse=False):
                    if not (linear and name == "weight"):
                        p.data = p.data.float()
        if spec["targets"]:
            from peft import LoraConfig, get_peft_model

            r, dropout = spec["lora_r"], spec["lora_dropout"]
            lora = LoraConfig(r=r, lora_alpha=2 * r, lora_dropout=dropout, target_modules=_targets(spec))
            model = get_peft_model(model, lora)
    model.train()
    layers = next(m for m in model.modules() if isinstance(m, torch.nn.ModuleList) and len(m) == STACK_LAYERS)
    rotary = next((m for n, m in model.named_modules() if n.endswith("rotary_emb")), None)
    return model, layers, rotary


@contextlib.contextmanager
def _sdpa_on_meta(kernel: str, bf16: bool):
    """On meta, SDPA dispatches to its math path: "sdpa" stands for the fused kernel a GPU runs, "math" keeps it."""
    import torch
    import torch.nn.functional as F

    real = F.scaled_dot_product_attention

    def fused(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False):
        flash = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu
        if bf16:  # SDPA is on autocast's bf16 list
            q, k, v = (t.to(torch.bfloat16) for t in (q, k, v))
        return flash(q, k, v, dropout_p, is_causal or attn_mask is not None, scale=scale)[0]

    def math(q, k, v, *args, **kwargs):
        if bf16:
            q, k, v = (t.to(torch.bfloat16) for t in (q, k, v))
        return real(q, k, v, *args, **kwargs)

    F.scaled_dot_product_attention = fused if kernel == "sdpa" else math
    try:
        yield
    finally:
        F.scaled_dot_product_attention = real


def _autocast_on_meta(device: str):
    """torch.autocast leaves meta tensors alone; this mode casts as bf16 autocast does on `device` (matmuls in
    bf16; on CUDA also norms and softmax in fp32), so the casts' copies are saved as they would be there."""
    import torch
    import torch.nn.functional as F
    from torch.overrides import TorchFunctionMode

    low = {F.linear, torch.matmul, torch.mm, torch.bmm, torch.addmm, torch.baddbmm, torch.Tensor.matmul}
    low |= {torch.Tensor.__matmul__}
    high = {F.layer_norm, F.softmax, torch.softmax, F.log_softmax, torch.Tensor.softmax} if device == "cuda" else set()

    def cast(x, src, dst):
        return x.to(dst) if isinstance(x, torch.Tensor) and x.dtype == src else x

    class Autocast(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            if func is F.dropout and device == "cuda" and kwargs.get("training", args[2] if len(args) > 2 else True):
                p = kwargs.get("p", args[1] if len(args) > 1 else 0.5)
                return torch.native_dropout(args[0], p, True)[0]  # CUDA's fused kernel keeps a bool mask
            if func in low or func in high:
                src, dst = (torch.float32, torch.bfloat16) if func in low else (torch.bfloat16, torch.float32)
                args = tuple(cast(a, src, dst) for a in args)
                kwargs = {k: cast(v, src, dst) for k, v in kwargs.items()}
            return func(*args, **kwargs)

    return Autocast()


def saved_bytes(model, run) -> int:
    """Bytes of every storage autograd saves while run() executes, each once; parameters' storages excluded."""
    import torch

    params = {p.untyped_storage()._cdata for p in model.parameters()}
    kept: dict[int, Any] = {}  # storage key -> tensor (held, so no key is reused while counting)

    def pack(t):
        st = t.untyped_storage()
        if st._cdata not in params:
            kept.setdefault(st._cdata, (t, st.nbytes()))
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        run()
    return sum(nb for _, nb in kept.values())


def _stack_bytes(spec: dict, model, layers, rotary, batch: int) -> tuple[int, int]:
    """(saved bytes of the stack, bytes of one layer's input) for `batch` sequences of spec's length."""
    import torch

    bf16 = spec["bf16"]
    act = torch.bfloat16 if bf16 and spec["method"] == "lora" else torch.float32  # the residual stream's dtype
    x = torch.empty(batch, spec["seq"], spec["hidden"], dtype=act, device="meta", requires_grad=True)
    kw = {}
    if rotary is not None:
        kw["position_embeddings"] = rotary(x, torch.arange(spec["seq"], device="meta")[None])
    if spec["model_type"] not in GPT2_STYLE:
        kw["attention_mask"] = None

    def run():
        h = x * 1  # a non-leaf input, as a layer's input is in the model
        autocast = _autocast_on_meta(spec.get("device", "cuda")) if bf16 else contextlib.nullcontext()
        with autocast, _sdpa_on_meta(spec.get("kernel", "sdpa"), bf16):
            for layer in layers:
                out = layer(h, **kw)
                h = out[0] if isinstance(out, tuple) else out

    return saved_bytes(model, run), x.numel() * x.element_size()


def measure(spec: dict) -> dict[str, Any]:
    """Per-layer bytes at spec's batch and seq: `layer` grows with the batch, `constant` does not, `input` is kept
    per layer under gradient checkpointing."""
    model, layers, rotary = _build(spec)
    b = spec["batch"]
    one, inp = _stack_bytes(spec, model, layers, rotary, b)
    two, _ = _stack_bytes(spec, model, layers, rotary, 2 * b)
    per_batch = (two - one) / STACK_LAYERS
    return {
        "layer_bytes": per_batch,
        "constant_bytes": (one - STACK_LAYERS * per_batch) / STACK_LAYERS,
        "input_bytes": float(inp),
        "source": SOURCE,
    }


# ---- in the app's process: the cache and the subprocess ----


def _cache_path() -> Path:
    return paths.cache_dir() / CACHE_FILE


def _read_cache() -> dict[str, Any]:
    try:
        return json.loads(_cache_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _write_cache(key: str, value: dict) -> None:
    cache = _read_cache()
    cache[key] = value
    tmp = _cache_path().with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(cache, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, _cache_path())


def _unbuilt(result: dict) -> str:
    return f"this model's code could not be built for a measurement ({result['error']})"


def _found(cache: dict, keys: list[str], why: dict[str, str]) -> list[tuple[dict | None, str]]:
    """A cached model-code error is a reason, not a measurement: it is not measured again."""
    out = []
    for k in keys:
        hit = cache.get(k)
        if hit and "error" in hit:
            out.append((None, _unbuilt(hit)))
        else:
            out.append((hit, "" if hit else why.get(k, "")))
    return out


def _store(cache: dict, keys: list[str], got: list[dict] | None) -> None:
    """Measurements and model-code errors go to the cache; a timeout or a failed start does not (it may pass)."""
    for key, result in zip(keys, got or [None] * len(keys), strict=True):
        if result:
            cache[key] = result
            _write_cache(key, result)


def lookup(specs: list[dict], timeout: float = TIMEOUT_S) -> list[tuple[dict | None, str]]:
    """(measurement or None, why none) per spec: from the cache, else measured in one subprocess and cached."""
    keys = [json.dumps(spec, sort_keys=True) for spec in specs]
    cache = _read_cache()
    missing = sorted({k for k in keys if k not in cache})
    why: dict[str, str] = {}
    if missing:
        got, reason = _measure_in_subprocess(missing, timeout)
        _store(cache, missing, got)
        why = dict.fromkeys(missing, reason)
    return _found(cache, keys, why)


BACKGROUND = "being measured in the background (once per shape); the formula until then"
PENDING_FILE = "activations.pending"


def _pending_path() -> Path:
    return paths.cache_dir() / PENDING_FILE


def _claim_background() -> bool:
    """One background measurement at a time: an exclusive marker, taken over once older than the timeout."""
    marker = _pending_path()
    marker.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        if time.time() - marker.stat().st_mtime > TIMEOUT_S:  # its measurement died or hung: start another
            marker.unlink()
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


def cached(specs: list[dict]) -> list[tuple[dict | None, str]]:
    """(measurement or None, why none) per spec, never waiting: what is not cached is measured in the background."""
    keys = [json.dumps(spec, sort_keys=True) for spec in specs]
    cache = _read_cache()
    missing = sorted({k for k in keys if k not in cache})
    if missing and _claim_background():
        argv = [sys.executable, "-m", "core.activations", "--cache", "[" + ",".join(missing) + "]"]
        try:
            quiet = {"stdin": subprocess.DEVNULL, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
            subprocess.Popen(argv, cwd=ROOT, start_new_session=True, **quiet)
        except OSError as e:
            _pending_path().unlink(missing_ok=True)
            return _found(cache, keys, dict.fromkeys(missing, f"the measurement could not start: {e.strerror}"))
    return _found(cache, keys, dict.fromkeys(missing, BACKGROUND))


def _measure_into_cache(specs: list[dict]) -> None:
    """The background measurement: every spec measured, written to the cache, then the marker released."""
    try:
        keys = [json.dumps(spec, sort_keys=True) for spec in specs]
        _store(_read_cache(), keys, [_measure_or_error(spec) for spec in specs])
    finally:
        _pending_path().unlink(missing_ok=True)


def _measure_in_subprocess(keys: list[str], timeout: float) -> tuple[list[dict] | None, str]:
    argv = [sys.executable, "-m", "core.activations", "[" + ",".join(keys) + "]"]
    try:
        done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return None, f"the measurement took over {timeout:.0f} s"
    except OSError as e:
        return None, f"the measurement could not start: {e.strerror}"
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines() or ["no output"]
        return None, f"the measurement failed ({lines[-1][:200]})"
    return json.loads(done.stdout.strip().splitlines()[-1]), ""


def _measure_or_error(spec: dict) -> dict[str, Any]:
    try:
        return measure(spec)
    except Exception as e:  # any model code may refuse a shape; the estimate then uses the formula
        return {"error": f"{type(e).__name__}: {str(e)[:200]}"}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    into_cache = args[:1] == ["--cache"]
    args = args[1:] if into_cache else args
    if len(args) != 1:
        print("usage: python -m core.activations [--cache] SPEC_JSON (one spec, or a list of specs)", file=sys.stderr)
        return 2
    given = json.loads(args[0])
    if into_cache:
        _measure_into_cache(given if isinstance(given, list) else [given])
        return 0
    out = [_measure_or_error(s) for s in given] if isinstance(given, list) else measure(given)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
