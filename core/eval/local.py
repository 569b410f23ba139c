"""Local generation: a candidate's model loaded once, prompts answered in left-padded batches.

Prompts run shortest first (less padding), one `generate` per batch, each answer cut at its first
end token and returned in the prompts' order. torch is imported inside the functions: the app
imports core.eval.generate, which imports this module. Bench: `python bench/generate.py`.
Test: `.venv/bin/pytest tests/jobs/test_generate_job.py tests/slow/test_generate_smollm2.py -q`.
"""

from __future__ import annotations

from core import models
from core.eval.candidates import Candidate
from core.eval.params import BadConfig, GenParams, OnBatch
from core.jobs import rundir


def _device_and_dtype():
    import torch

    if torch.cuda.is_available():
        return "cuda", torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
    # float32 on CPU: bf16 (AMX) was no faster here and changed 17 of 32 batched greedy answers.
    return "cpu", torch.float32


def load_local(candidate: Candidate):
    """(model, tokenizer) for a base, few-shot or run candidate; BadConfig when it cannot load."""
    from core.train import export

    device, dtype = _device_and_dtype()
    try:
        if candidate.kind == "run":
            model, tok = export.load_run(rundir.run_dir(candidate.run_id or ""))
            model = model.to(device=device, dtype=dtype)
        elif models.model_problem(candidate.model):
            raise BadConfig(models.model_problem(candidate.model))
        else:
            model = models.load_model(candidate.model, dtype=dtype, device=device)
            tok = models.load_tokenizer(candidate.model)
    except (OSError, ValueError, models.ModelError, export.ExportError) as exc:
        raise BadConfig(f"cannot load {candidate.label or candidate.model}: {exc}") from exc
    if not tok.chat_template:
        raise BadConfig(f"{candidate.label or candidate.model} has no chat template to format prompts with")
    return model.eval(), tok


def _until_stop(row: list[int], stop: list[int]) -> list[int]:
    """The new tokens up to and including the first end token (the rest is padding)."""
    for j, token in enumerate(row):
        if token in stop:
            return row[: j + 1]
    return row


def _sampling(params: GenParams) -> dict:
    if params.temperature == 0:
        return {"do_sample": False}
    return {"do_sample": True, "temperature": params.temperature, "top_p": params.top_p}


def generate_batch(model, tokenizer, prompts: list[list[dict]], params: GenParams, on_batch: OnBatch | None = None):
    """[(answer, new tokens)] in prompt order; prompts run shortest first, batch_size at a time."""
    import torch

    tokenizer.padding_side = "left"  # every row's new tokens then start at the same column
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    ids = [
        tokenizer.apply_chat_template(p, add_generation_prompt=True, tokenize=True, return_dict=True)["input_ids"]
        for p in prompts
    ]
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))  # similar lengths together: less padding
    stop = models.stop_ids(model, tokenizer)  # <|im_end|> for SmolLM2
    kwargs = {
        "max_new_tokens": params.max_new_tokens,
        "eos_token_id": stop,
        "pad_token_id": tokenizer.pad_token_id,
        **_sampling(params),
    }
    results: list[tuple[str, int]] = [("", 0)] * len(prompts)
    for start in range(0, len(order), params.batch_size):
        chunk = order[start : start + params.batch_size]
        enc = tokenizer.pad({"input_ids": [ids[i] for i in chunk]}, return_tensors="pt").to(model.device)
        with torch.inference_mode():
            out = model.generate(**enc, **kwargs)
        new_rows = out[:, enc["input_ids"].shape[1] :].tolist()
        for i, row in zip(chunk, new_rows, strict=True):
            new = _until_stop(row, stop)
            results[i] = (tokenizer.decode(new, skip_special_tokens=True).strip(), len(new))
        if on_batch:
            on_batch(start + len(chunk), sum(results[i][1] for i in chunk))
    return results
