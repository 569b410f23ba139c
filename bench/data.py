"""Dataset validation speed: core.data.validate against the guide's validation script, same run.

Writes a synthetic JSONL of chat examples (system, user, assistant; a few lines of invalid JSON,
the only kind of bad line the guide's script survives) to a temporary folder, then times
  guide       the guide's validate_jsonl, copied as printed
  structure   core.data.validate.validate_file(..., count_tokens=False)
  tokens      the same with token counting (o200k_base, cookbook accounting)
and prints each time (best of --repeat) and ratio_vs_guide = our time / guide time (< 1 is faster).
Run: `python bench/data.py [--n 100000] [--repeat 3]`.
Test: `pytest tests/unit/test_validate.py`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

WORDS = (
    "docker volume container mount persistent storage survive removal create data path image network "
    "the a of to and in is for with on that this it by as be are from your use run when"
).split()


def validate_jsonl(filepath):
    """The guide's script (seed-guide.txt, "Cleaning Script"), unchanged apart from indentation."""
    errors = []
    stats = Counter()
    with open(filepath, "r", encoding="utf-8") as f:  # noqa: UP015 - as the guide wrote it
        for i, line in enumerate(f, 1):
            try:
                data = json.loads(line)
            except json.JSONDecodeError:
                errors.append(f"Line {i}: Invalid JSON")
                continue
            if "messages" not in data:
                errors.append(f"Line {i}: Missing 'messages' key")
                continue
            messages = data["messages"]
            roles = [m["role"] for m in messages]
            # Must end with assistant
            if roles[-1] != "assistant":
                errors.append(f"Line {i}: Last message must be 'assistant'")
            # Check for empty content
            for j, msg in enumerate(messages):
                if not msg.get("content", "").strip():
                    errors.append(f"Line {i}, msg {j}: Empty content")
            stats["total"] += 1
            stats["avg_assistant_tokens"] += len(messages[-1]["content"].split())
    if stats["total"] > 0:
        stats["avg_assistant_tokens"] //= stats["total"]
    return errors, stats


def write_dataset(path: Path, n: int, seed: int = 0) -> list[int]:
    """n lines; returns the 1-based numbers of the invalid-JSON lines mixed in."""
    rnd = random.Random(seed)
    bad = sorted(rnd.sample(range(1, n + 1), k=max(1, n // 20_000)))
    bad_set = set(bad)

    def words(lo: int, hi: int) -> str:
        return " ".join(rnd.choices(WORDS, k=rnd.randint(lo, hi)))

    with open(path, "w", encoding="utf-8") as f:
        for i in range(1, n + 1):
            if i in bad_set:
                f.write('{"messages": [{"role": "user", "content": "cut off\n')
                continue
            messages = [
                {"role": "system", "content": "You are a concise technical writer."},
                {"role": "user", "content": words(5, 30)},
                {"role": "assistant", "content": words(20, 120)},
            ]
            f.write(json.dumps({"messages": messages}) + "\n")
    return bad


def best_of(repeat: int, fn):
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("FT_HOME", str(Path(tmp) / "ft_home"))  # keep the user's workspace untouched
        from core import tokens
        from core.data import validate

        tokens.encoding("o200k_base")  # load the encoding outside the timed runs
        path = Path(tmp) / "bench.jsonl"
        bad = write_dataset(path, args.n)
        print(f"file: {args.n} lines, {path.stat().st_size / 1e6:.1f} MB, invalid-JSON lines {bad}")
        t_guide, (errors, stats) = best_of(args.repeat, lambda: validate_jsonl(path))
        t_struct, report = best_of(args.repeat, lambda: validate.validate_file(path, count_tokens=False))
        t_tokens, full = best_of(args.repeat, lambda: validate.validate_file(path))
        found = [f.line for f in report.errors]
        print(f"guide: {t_guide:.2f} s, {len(errors)} errors, avg assistant words {stats['avg_assistant_tokens']}")
        print(
            f"structure: {t_struct:.2f} s, error lines {found} (match: {found == bad}), "
            f"avg assistant words {report.stats['avg_assistant_words']}"
        )
        print(
            f"tokens: {t_tokens:.2f} s, total tokens {full.stats['total_tokens']}, "
            f"billed {full.stats['billed_tokens']}"
        )
        print(f"ratio_vs_guide={t_struct / t_guide:.2f} (structure; our time / guide time)")
        print(f"ratio_vs_guide={t_tokens / t_guide:.2f} (with token counting)")


if __name__ == "__main__":
    main()
