"""Import and validation speed on tool-calling data against plain chat data, and against the chat-only validator.

Writes two JSON Lines files of --n examples each to a temporary folder:
  tools   shaped like OpenAI's function-calling example (tests/shapes.py OPENAI_TOOL_CALLING): a system and a
          user turn, an assistant turn of tool_calls with null content, the tool's result, the answer; the
          example's tools list (the weather tool); text, cities and arguments vary per example
  plain   system, user, assistant with text of the same kind
then, in fresh interpreters that take turns between code trees, times (best of --rounds x --repeat)
  parse       core.data.readers.stream(file): the JSON parsing validate_file does, alone
  import      core.data.io.load(file)
  structure   core.data.validate.validate_file(file, count_tokens=False)
  tokens      validate_file(file) with o200k_base token counts
for this tree and, with --baseline, another (a worktree of the code before: `git worktree add /tmp/base <commit>`),
and prints each time and the ratios: tools/plain on this tree, this tree's tools against the baseline's plain
(the aim: at most 1.5x), and this tree's plain against the baseline's plain (the fast path must not slow down);
"checks" is structure minus parse, the validator's own work beyond reading the JSON.
Run: `python bench/validate_tools.py [--n 100000] [--rounds 3] [--repeat 1] [--baseline /tmp/base]`.
Test: `pytest tests/unit/test_validate_tools.py`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

from data import best_of  # bench/data.py, beside this script (its folder is first on sys.path)

ROOT = Path(__file__).resolve().parents[1]
WORDS = (
    "weather forecast rain sun wind cloud city today tomorrow warm cold degrees humid storm morning evening "
    "the a of to and in is for with on that this it by as be are from your use when"
).split()
CITIES = ["Paris, France", "Rome, Italy", "Lima, Peru", "Oslo, Norway", "Osaka, Japan", "Accra, Ghana", "Quito"]
SYSTEM = "You are a weather assistant. Call the weather tool when asked about the weather."


def _tool() -> dict:
    sys.path.insert(0, str(ROOT))
    from tests.shapes import WEATHER_TOOL

    return WEATHER_TOOL


def write_files(folder: Path, n: int, seed: int = 0) -> tuple[Path, Path]:
    rnd = random.Random(seed)
    tool = _tool()

    def words(lo: int, hi: int) -> str:
        return " ".join(rnd.choices(WORDS, k=rnd.randint(lo, hi)))

    tools_path, plain_path = folder / "tools.jsonl", folder / "plain.jsonl"
    with open(tools_path, "w", encoding="utf-8") as tools_file, open(plain_path, "w", encoding="utf-8") as plain:
        for i in range(n):
            city, unit = rnd.choice(CITIES), rnd.choice(["celsius", "fahrenheit"])
            question, answer = f"What is the weather in {city}? {words(3, 20)}", words(15, 80)
            arguments = json.dumps({"location": city, "format": unit})
            result = json.dumps({"temperature": rnd.randint(-10, 35), "sky": rnd.choice(["sun", "fog", "rain"])})
            messages = [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": question},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": f"call_{i}",
                            "type": "function",
                            "function": {"name": tool["function"]["name"], "arguments": arguments},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": f"call_{i}", "content": result},
                {"role": "assistant", "content": answer},
            ]
            tools_file.write(json.dumps({"messages": messages, "tools": [tool], "parallel_tool_calls": False}) + "\n")
            chat = [messages[0], messages[1], {"role": "assistant", "content": answer}]
            plain.write(json.dumps({"messages": chat}) + "\n")
    return tools_path, plain_path


def measure(paths: list[str], repeat: int) -> dict:
    """In this interpreter, with the code tree first on sys.path: times per file."""
    from core import tokens
    from core.data import io, readers, validate

    def parse(path: str) -> None:
        with io.gc_paused():  # as validate_file reads: the collector paused while records are built
            for _ in readers.stream(Path(path), None, 1 << 40):
                pass

    tokens.encoding("o200k_base")  # load the encoding outside the timed runs
    out = {}
    for path in paths:
        t_parse, _ = best_of(repeat, lambda p=path: parse(p))
        t_load, loaded = best_of(repeat, lambda p=path: io.load(p))
        t_struct, report = best_of(repeat, lambda p=path: validate.validate_file(p, count_tokens=False))
        t_tokens, full = best_of(repeat, lambda p=path: validate.validate_file(p))
        out[Path(path).stem] = {
            "parse": round(t_parse, 3),
            "import": round(t_load, 3),
            "structure": round(t_struct, 3),
            "checks": round(max(t_struct - t_parse, 0.001), 3),
            "tokens": round(t_tokens, 3),
            "examples": len(loaded.examples),
            "errors": report.n_errors,
            "total_tokens": full.stats.get("total_tokens"),
        }
    return out


def run_tree(tree: Path, paths: list[Path], repeat: int, home: Path) -> dict:
    """Measure in a fresh interpreter whose `core` is the given code tree's."""
    env = dict(os.environ, FT_HOME=str(home), PYTHONPATH=str(tree))
    argv = [sys.executable, __file__, "--measure", *map(str, paths), "--repeat", str(repeat), "--tree", str(tree)]
    done = subprocess.run(argv, env=env, cwd=tree, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=1, help="timed runs per step in each interpreter")
    parser.add_argument("--rounds", type=int, default=3, help="interpreters per tree, taking turns; the best counts")
    parser.add_argument("--baseline", type=Path, help="another code tree to time the same files with")
    parser.add_argument("--measure", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--tree", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        sys.path.insert(0, str(args.tree))
        print(json.dumps(measure(args.measure, args.repeat)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        tools_path, plain_path = write_files(Path(tmp), args.n)
        mb = {p.stem: round(p.stat().st_size / 1e6, 1) for p in (tools_path, plain_path)}
        print(f"files: {args.n:,} examples each, tools {mb['tools']} MB, plain {mb['plain']} MB")
        trees = {"this": ROOT} | ({"baseline": args.baseline.resolve()} if args.baseline else {})
        found: dict = {}
        for _ in range(args.rounds):  # the trees take turns, so a machine that speeds up or slows down hits both
            for name, tree in trees.items():
                got = run_tree(tree, [tools_path, plain_path], args.repeat, Path(tmp) / "home")
                for stem, row in got.items():
                    best = found.setdefault(name, {}).setdefault(stem, row)
                    best.update({k: min(v, best[k]) for k, v in row.items() if isinstance(v, float)})
        for name, files in found.items():
            for stem, row in files.items():
                row["checks"] = round(max(row["structure"] - row["parse"], 0.001), 3)
                print(f"{name:8s} {stem:5s} " + " ".join(f"{k}={v}" for k, v in row.items()))
        new = found["this"]
        for step in ("parse", "import", "structure", "checks", "tokens"):
            print(f"ratio tools/plain this tree, {step}: {new['tools'][step] / new['plain'][step]:.2f}")
            if "baseline" in found:
                old = found["baseline"]
                print(f"ratio this tools / baseline plain, {step}: {new['tools'][step] / old['plain'][step]:.2f}")
                print(f"ratio this plain / baseline plain, {step}: {new['plain'][step] / old['plain'][step]:.2f}")


if __name__ == "__main__":
    main()
