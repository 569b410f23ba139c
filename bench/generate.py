"""Generation speed: one prompt at a time against left-padded batches, in the same run.

`python bench/generate.py [--n 32] [--max-new-tokens 64] [--dtype float32|bfloat16]`: the embedded
SmolLM2-135M-Instruct answers N prompts of the demo dataset greedily through
core.eval.local.generate_batch (core.generation.generate), first with batch_size 1 (the baseline), then 8 and 16.
Tokens/s counts each answer's own new tokens (up to and including its end token), not the
padding a finished row keeps producing while its batch runs on. Batched answers are compared
with the one-at-a-time answers text for text. The last line reads
`batched_speedup=<x> (batch <b>) differing=<d>/<n>`.
Test: `pytest tests/jobs/test_generate_job.py`.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as `python bench/generate.py`
from core import models  # noqa: E402
from core.chat import prompt_and_reference  # noqa: E402
from core.data import samples  # noqa: E402
from core.eval.local import generate_batch  # noqa: E402
from core.eval.params import GenParams  # noqa: E402


def demo_prompts(n: int, seed: int = 0) -> list[list[dict]]:
    rows = [json.loads(line) for line in samples.sample_path("demo").read_text().splitlines()]
    random.Random(seed).shuffle(rows)
    return [prompt_and_reference(r)[0] for r in rows[:n]]


def timed(model, tok, prompts, batch_size: int, max_new_tokens: int) -> tuple[list[tuple[str, int]], float]:
    params = GenParams(max_new_tokens=max_new_tokens, temperature=0.0, batch_size=batch_size)
    start = time.perf_counter()
    out = generate_batch(model, tok, prompts, params)
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=32, help="prompts to answer")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--batches", default="8,16", help="batch sizes to compare with batch 1")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    args = parser.parse_args()
    dtype = getattr(torch, args.dtype)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = models.load_model(models.DEFAULT_MODEL_ID, dtype=dtype, device=device)
    tok = models.load_tokenizer(models.DEFAULT_MODEL_ID)
    prompts = demo_prompts(args.n)
    print(
        f"device {device}, {args.dtype}, torch threads {torch.get_num_threads()}, {args.n} prompts, "
        f"max_new_tokens {args.max_new_tokens}, greedy"
    )
    timed(model, tok, prompts[:2], 2, 4)  # warm-up: the first generate pays one-off costs
    base, base_s = timed(model, tok, prompts, 1, args.max_new_tokens)
    base_rate = sum(n for _, n in base) / base_s
    print(f"batch  1: {base_s:6.1f} s  {base_rate:7.1f} tokens/s")
    best = (1.0, 1, 0)
    for size in [int(b) for b in args.batches.split(",")]:
        out, seconds = timed(model, tok, prompts, size, args.max_new_tokens)
        rate = sum(n for _, n in out) / seconds
        differing = sum(a[0] != b[0] for a, b in zip(out, base, strict=True))
        print(
            f"batch {size:2d}: {seconds:6.1f} s  {rate:7.1f} tokens/s  x{rate / base_rate:.2f}  "
            f"answers differing from batch 1: {differing}/{len(prompts)}"
        )
        best = max(best, (rate / base_rate, size, differing))
    print(f"batched_speedup={best[0]:.2f} (batch {best[1]}) differing={best[2]}/{len(prompts)}")


if __name__ == "__main__":
    main()
