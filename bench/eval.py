"""ROUGE-L scoring speed: core.eval.metrics.rouge_l against rouge_score's own scorer, same run.

Pairs of ~100-word texts cut from the demo sample's answers. Times (CPU seconds, best of
--repeat, stem cache cleared each round):
  plain     rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True).score per pair (the guide's)
  cached    metrics.rouge_l (the same scorer with the Porter stems cached)
  unicode   metrics.rouge_l(..., unicode=True)
and prints pairs/s, speedup_vs_plain, and whether the scores are identical to the plain scorer's.
Run: `python bench/eval.py [--n 2000] [--repeat 3]`.
Test: `pytest tests/unit/test_eval_metrics.py`.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rouge_score import rouge_scorer  # noqa: E402

from core.data import samples  # noqa: E402
from core.eval import metrics  # noqa: E402


def pairs(n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    answers = metrics.last_assistant_texts(samples.sample_path("demo"))
    words = [w for w in " ".join(answers).split() if w.isascii()]
    rng = random.Random(seed)

    def text() -> str:
        i = rng.randrange(len(words) - 100)
        return " ".join(words[i : i + 100])

    return [text() for _ in range(n)], [text() for _ in range(n)]


def best_time(fn, repeat: int) -> tuple[float, list[float]]:
    best, out = float("inf"), []
    for _ in range(repeat):
        metrics._stem.cache_clear()  # every round starts cold, like a fresh process
        t = time.process_time()
        out = fn()
        best = min(best, time.process_time() - t)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    refs, preds = pairs(args.n)
    plain = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    metrics.rouge_l(["warm"], ["up"]), metrics.rouge_l(["warm"], ["up"], unicode=True)  # load once
    runs = {
        "plain": lambda: [plain.score(r, p)["rougeL"].fmeasure for r, p in zip(refs, preds, strict=True)],
        "cached": lambda: metrics.rouge_l(refs, preds),
        "unicode": lambda: metrics.rouge_l(refs, preds, unicode=True),
    }
    results = {name: best_time(fn, args.repeat) for name, fn in runs.items()}
    base_t, base_scores = results["plain"]
    for name, (t, scores) in results.items():
        same = "identical" if scores == base_scores else "different"
        print(f"{name:8s} {args.n / t:7.0f} pairs/s  ({t:.2f} s CPU)  scores {same} to plain")
    print(f"speedup_vs_plain={base_t / results['cached'][0]:.2f}")


if __name__ == "__main__":
    main()
