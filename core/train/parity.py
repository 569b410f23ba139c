"""Does the exported GGUF file answer like the model it came from? Independent readers of the file decide.

- tokenizer: transformers reads the tokenizer back from the GGUF's metadata; it must encode the run's
  validation prompts (rendered through the chat template) and Unicode, code and special-token text to
  the source tokenizer's ids, and name the same end token.
- logits: transformers loads the GGUF model (it dequantizes) and runs a few prompts beside the merged
  model: normalised MSE (mean squared difference over the source logits' variance) and top-10 agreement
  (the share of each position's ten best tokens both name), against THRESHOLDS.
- greedy: both answer the validation prompts greedily through the chat template, each with its own
  tokenizer; F16 must match token by token, Q8_0 by ROUGE-L; the GGUF model must stop at its end token
  wherever the source does.
- llama.cpp (where llama-cpp-python is installed): the same prompts tokenized and answered by llama.cpp.

Thresholds (docs/BENCHMARKS.md has the measurements behind them): F16 rounds each weight to 11 bits,
which measured nmse 1.3e-7 (tiny) and 2e-6 (SmolLM2, top-10 0.994); Q8_0's 8-bit blocks measured
8e-5 (tiny, top-10 0.98) and 1.5e-3 (SmolLM2, top-10 0.96, ROUGE-L 0.90); the bounds sit well above
those, and far below what a shuffled tensor gives (above 0.1).
Test: .venv/bin/pytest tests/unit/test_gguf.py -q
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from core.eval import metrics

THRESHOLDS = {
    "f16": {"nmse": 1e-3, "top10_agreement": 0.95, "greedy_agreement": 0.9},
    "q8_0": {"nmse": 2e-2, "top10_agreement": 0.85, "greedy_agreement": 0.7},
}
FIXED_TEXTS = [
    "Unicode: naïve café, 日本語のテキスト, Ελληνικά, emoji 🙂👍, math ∑∫√, combining é",
    "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n\tprint({'a': [1, 2]})  # tab",
    "<|im_start|>user\nspecial tokens <|im_end|> and <|endoftext|> inline<|im_end|>\n<|im_start|>assistant\n",
    "   leading spaces, trailing spaces   \n\n\nnewlines and 1234567890 digits",
]
DEFAULT_PROMPTS = ["Say hello in one short sentence.", "What is 2 + 3?"]
# A one-word answer ends within a few tokens, so the stop check has a stop to compare.
SHORT_PROMPT = "Answer with one word only: what colour is the sky on a clear day?"


def prompts_of(samples: list[dict]) -> list[list[dict]]:
    """The run's validation prompts (samples.json), or a few fixed ones, and a short-answer prompt."""
    found = [s["prompt"] for s in samples if isinstance(s.get("prompt"), list) and s["prompt"]]
    found = found or [[{"role": "user", "content": p}] for p in DEFAULT_PROMPTS]
    return [*found, [{"role": "user", "content": SHORT_PROMPT}]]


def _tokenizer_check(src_tok, gguf_tok, conversations: list[list[dict]]) -> dict[str, Any]:
    from core import generation

    texts = [generation.prompt_text(src_tok, c) for c in conversations] + FIXED_TEXTS
    same = [src_tok.encode(t, add_special_tokens=False) == gguf_tok.encode(t, add_special_tokens=False) for t in texts]
    mismatched = [t[:80] for t, ok in zip(texts, same, strict=True) if not ok]
    return {
        "tokenizer_agreement": sum(same) / len(same),
        "tokenizer_texts": len(texts),
        "tokenizer_mismatches": mismatched,
        "eos_token": src_tok.eos_token,
        "gguf_eos_token": gguf_tok.eos_token,
        "chat_template_kept": bool(gguf_tok.chat_template) and gguf_tok.chat_template == src_tok.chat_template,
    }


def logit_stats(ref, got) -> tuple[float, float]:
    """(normalised MSE, top-10 agreement) of two [positions, vocab] logit tensors."""
    nmse = float(((got - ref) ** 2).mean() / ref.var().clamp_min(1e-12))
    top_ref, top_got = ref.topk(10, dim=-1).indices, got.topk(10, dim=-1).indices
    shared = [len(set(a.tolist()) & set(b.tolist())) / 10 for a, b in zip(top_ref, top_got, strict=True)]
    return nmse, sum(shared) / len(shared)


def _logits_check(src, gguf_model, src_tok, conversations: list[list[dict]]) -> dict[str, Any]:
    import torch

    from core import generation

    nmses, tops = [], []
    for conv in conversations[:4]:
        ids = torch.tensor([generation.encode(src_tok, conv)])
        with torch.inference_mode():
            ref, got = src(ids).logits[0].float(), gguf_model(ids).logits[0].float()
        nmse, top = logit_stats(ref, got)
        nmses.append(nmse)
        tops.append(top)
    return {"nmse": max(nmses), "top10_agreement": min(tops), "logit_prompts": len(nmses)}


def _token_agreement(a: list[int], b: list[int]) -> float:
    """Share of positions where two greedy answers agree, up to the first difference."""
    longest = max(len(a), len(b))
    if not longest:
        return 1.0
    same = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    return same / longest


def agreement(ref: list[list[int]], got: list[list[int]], qtype: str) -> float:
    """Mean agreement of greedy answers: token by token (F16), or ROUGE-L over their tokens (Q8_0).

    Over token ids rather than decoded text: an answer of special tokens only decodes to "" either way.
    """
    if qtype == "f16":
        scores = [_token_agreement(r, g) for r, g in zip(ref, got, strict=True)]
    else:
        as_words = [" ".join(f"t{i}" for i in ids) for ids in ref], [" ".join(f"t{i}" for i in ids) for ids in got]
        scores = [1.0 if not r and not g else s for r, g, s in zip(*as_words, metrics.rouge_l(*as_words), strict=True)]
    return sum(scores) / len(scores)


def _greedy_check(src, src_tok, gguf_model, gguf_tok, conversations, qtype: str, max_new: int) -> dict[str, Any]:
    from core import generation

    # Each model stops at its own end tokens: the GGUF's come from its metadata, so a lost one shows.
    ref = generation.generate(src, src_tok, conversations, max_new)
    got = generation.generate(gguf_model, gguf_tok, conversations, max_new)
    return {
        "greedy_agreement": agreement([r.ids for r in ref], [g.ids for g in got], qtype),
        "greedy_measure": "tokens" if qtype == "f16" else "rouge_l",
        "stops_where_source_stops": all(g.stopped_on_eos for r, g in zip(ref, got, strict=True) if r.stopped_on_eos),
        "source_stopped": sum(r.stopped_on_eos for r in ref),
        "gguf_stopped": sum(g.stopped_on_eos for g in got),
        "source_ids": [r.ids for r in ref],
        "answers": [{"source": r.text, "gguf": g.text} for r, g in zip(ref, got, strict=True)],
    }


def llama_cpp_installed() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


def _llama_cpp_greedy(llm, prompt: list[int], max_new: int) -> tuple[list[int], bool]:
    """llama.cpp's greedy answer, up to and including its end token (from the file's metadata)."""
    ids = []
    for token in llm.generate(prompt, top_k=1, top_p=1.0, min_p=0.0, temp=0.0, repeat_penalty=1.0):
        ids.append(token)
        if token == llm.token_eos() or len(ids) >= max_new:
            break
    return ids, bool(ids) and ids[-1] == llm.token_eos()


def _llama_cpp_check(gguf_path: Path, src_tok, conversations, source_ids, qtype: str, max_new: int):
    """The same prompts through llama.cpp itself: its tokenizer, its greedy answers, its stop."""
    from llama_cpp import Llama

    from core import generation

    llm = Llama(model_path=str(gguf_path), n_ctx=2048, n_threads=2, verbose=False, seed=0)
    texts = [generation.prompt_text(src_tok, c) for c in conversations]
    same = [
        llm.tokenize(t.encode(), add_bos=False, special=True) == src_tok.encode(t, add_special_tokens=False)
        for t in texts + FIXED_TEXTS
    ]
    answers = [_llama_cpp_greedy(llm, src_tok.encode(t, add_special_tokens=False), max_new) for t in texts]
    return {
        "llama_cpp_tokenizer_agreement": sum(same) / len(same),
        "llama_cpp_greedy_agreement": agreement(source_ids, [ids for ids, _ in answers], qtype),
        "llama_cpp_stopped": sum(stopped for _, stopped in answers),
        "llama_cpp_answers": [src_tok.decode(ids, skip_special_tokens=True).strip() for ids, _ in answers],
    }


def verdict(report: dict[str, Any], qtype: str) -> dict[str, Any]:
    """Each check's pass/fail against its threshold, and the overall `passed`."""
    t = THRESHOLDS[qtype]
    checks = {
        "tokenizer": report["tokenizer_agreement"] == 1.0
        and report["gguf_eos_token"] == report["eos_token"]
        and report["chat_template_kept"],
        "logits": report["nmse"] <= t["nmse"] and report["top10_agreement"] >= t["top10_agreement"],
        "greedy": report["greedy_agreement"] >= t["greedy_agreement"] and report["stops_where_source_stops"],
    }
    if "llama_cpp_tokenizer_agreement" in report:
        checks["llama_cpp"] = (
            report["llama_cpp_tokenizer_agreement"] == 1.0
            and report["llama_cpp_greedy_agreement"] >= t["greedy_agreement"]
            and report["llama_cpp_stopped"] >= report["source_stopped"]
        )
    return {"checks": checks, "passed": all(checks.values()), "thresholds": t, "qtype": qtype}


def check(
    source_dir: Path, gguf_path: Path, qtype: str, conversations: list[list[dict]], max_new: int = 16, say=print
) -> dict[str, Any]:
    """The parity report of gguf_path against the Hugging Face model in source_dir."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf_path = Path(gguf_path)
    src = AutoModelForCausalLM.from_pretrained(source_dir, dtype=torch.float32).eval()
    src_tok = AutoTokenizer.from_pretrained(source_dir)
    gguf_tok = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    say("parity: tokenizer read back from the GGUF")
    report = _tokenizer_check(src_tok, gguf_tok, conversations)
    gguf_model = AutoModelForCausalLM.from_pretrained(
        gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32
    ).eval()
    say("parity: logits of the GGUF model read back")
    report.update(_logits_check(src, gguf_model, src_tok, conversations))
    say("parity: greedy answers through the chat template")
    report.update(_greedy_check(src, src_tok, gguf_model, gguf_tok, conversations, qtype, max_new))
    report["llama_cpp"] = llama_cpp_installed()
    if report["llama_cpp"]:
        say("parity: the same prompts through llama.cpp")
        report.update(_llama_cpp_check(gguf_path, src_tok, conversations, report["source_ids"], qtype, max_new))
    return {**report, **verdict(report, qtype)}
