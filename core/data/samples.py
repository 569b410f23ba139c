"""Sample datasets shipped with the workbench, and the problems planted in the messy one.

`demo.jsonl`: 200 conversations written for this project in one style (the guide's concise
technical writer): one system prompt, a software-engineering question over 20 topics, a
2-4 sentence paragraph answer. `messy.jsonl`: the same material with planted problems, one of
each kind the data studio checks; PLANTED lists them with 1-based line numbers so tests (and the
browser test) can check that every one is flagged.
Test: `.venv/bin/pytest tests/unit/test_samples.py -q`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.paths import REPO_ROOT

SAMPLES_DIR = REPO_ROOT / "data" / "samples"
NAMES = ("demo", "messy")


def sample_path(name: str) -> Path:
    """The JSONL file of a shipped sample: "demo" or "messy"."""
    if name not in NAMES:
        raise ValueError(f"unknown sample {name!r}; choose one of {', '.join(NAMES)}")
    return SAMPLES_DIR / f"{name}.jsonl"


@dataclass(frozen=True)
class Planted:
    """One planted problem in messy.jsonl.

    kind: the Finding kind expected from its owner (core.data.io, core.data.validate and
    core.data.quality use these names); dedup reports groups, so its kinds are descriptive.
    lines: 1-based file lines; for duplicates, (original, copy).
    owner: "io" (reading), "validate" (format checks), "dedup" (exact and near-duplicates) or
    "quality.<check>".
    """

    kind: str
    lines: tuple[int, ...]
    owner: str
    note: str


def _lines(spec: str) -> tuple[int, ...]:
    """Expand "1-3 7" into (1, 2, 3, 7), so long lists of lines stay readable."""
    out = []
    for part in spec.split():
        first, _, last = part.partition("-")
        out += range(int(first), int(last or first) + 1)
    return tuple(out)


PLANTED: tuple[Planted, ...] = (
    Planted("unreadable_line", (61,), "io", "invalid JSON: the object is never closed"),
    Planted("empty_content", (18, 99), "validate", "an empty assistant answer; a whitespace-only user turn"),
    Planted("unrecognized_role", (38,), "validate", 'the answer comes from role "bot"'),
    Planted("roles_not_alternating", (65,), "validate", "the assistant speaks before the user"),
    Planted("system_not_first", (118,), "validate", "a system message between the user and the assistant"),
    Planted("last_not_assistant", (50,), "validate", "the conversation ends with a user turn"),
    Planted("exact_duplicate", (59, 85), "dedup", "the copy differs only in case and whitespace"),
    Planted("exact_duplicate", (122, 140), "dedup", "the copy differs only in case and whitespace"),
    Planted("near_duplicate", (64, 103), "dedup", "the copy changes one word of the answer"),
    Planted("near_duplicate", (120, 141), "dedup", "the copy changes one word of the answer"),
    Planted(
        "mixed_format",
        (60, 90, 93, 119, 125),
        "quality.consistency",
        "bullet-list answers among paragraph answers to 'What ...' questions",
    ),
    Planted(
        "boilerplate",
        (12, 52, 88, 136),
        "quality.consistency",
        '"Here is the answer:", "Sure!", "Certainly.", "As an AI language model"',
    ),
    Planted("system_prompt_missing", (8, 62, 71, 131), "quality.consistency", "no system message"),
    Planted(
        "system_prompt_varies",
        (102,),
        "quality.consistency",
        '"You are a helpful assistant." instead of the usual prompt',
    ),
    Planted("placeholder", (11, 91, 130), "quality.completeness", '"TODO", "[insert example here]", "TBD"'),
    Planted(
        "truncated",
        (25, 75, 114),
        "quality.completeness",
        "cut mid-sentence; an unclosed code fence; trailing off with an ellipsis",
    ),
    Planted(
        "partial",
        (95, 132),
        "quality.completeness",
        '"I\'ll continue ..."; four words for a 24-word question',
    ),
    Planted("length_outlier", (45,), "quality.length", "a 352-word answer among ~50-word ones"),
    Planted(
        "dominant_topic",
        _lines(
            "1-3 5-6 11 13-14 16 19 21-34 37 39-40 42-45 47 49-50 52 54-58 60 64 66 68-70 72-73 76 78-84 86-90 "
            "92-95 97-98 100-101 103 105-108 111 113-115 117 119-125 127-141"
        ),
        "quality.diversity",
        "the Docker questions: about 70% of the rows",
    ),
)


def planted(kind: str) -> list[Planted]:
    return [p for p in PLANTED if p.kind == kind]
