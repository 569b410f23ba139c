"""A blind ranking session from cached evaluation outputs: the owner's choices in, a stored session out.

Used by the Arena page. Each choosable candidate is one completed generation cache (candidate + version + split +
generation settings); its cache key becomes the session's candidate key, so the answers the
raters see, and the ROUGE-L shown beside their verdict, come from the same cached file.
No Streamlit here. Test: `pytest tests/app/test_arena_page.py tests/e2e/test_arena_browser.py`.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.arena import sessions
from core.chat import prompt_and_reference
from core.data import versions
from core.eval import generate
from core.eval.candidates import Candidate
from core.eval.generate import GenParams

SPLIT = "test"
DEFAULT_INSTRUCTIONS = (
    "Read the conversation, then the two answers. Pick the better one; choose Tie when they are "
    "equally good and Both are bad when neither would help. Skip a pair you cannot judge."
)


@dataclass(frozen=True)
class Option:
    """One candidate's completed outputs on a version's split."""

    key: str
    label: str
    candidate: Candidate
    params: GenParams
    n: int


@dataclass(frozen=True)
class Draft:
    """The owner's form, as create() needs it."""

    name: str
    version: versions.Version
    chosen: tuple[Option, ...]
    prompts_per_rater: int
    overlap: int
    instructions: str


def n_test(version: versions.Version) -> int:
    return versions.split_size(version, SPLIT)


def _settings(params: GenParams) -> str:
    return f"{params.max_new_tokens} tokens, temperature {params.temperature:g}"


def options(records: list[dict], version: versions.Version, split: str = SPLIT) -> list[Option]:
    """Options from cached_for's records, newest first; a label shared by two gets its settings added."""
    found: dict[str, Option] = {}
    for rec in records:
        try:
            cand = Candidate.from_dict(rec["candidate"])
            params = GenParams(**rec.get("params", {}))
        except (KeyError, TypeError, ValueError):
            continue  # a cache written by an older layout: not offered rather than a crash
        key = generate.cache_key(cand, version, split, params)
        found.setdefault(key, Option(key, cand.label or cand.model, cand, params, int(rec.get("n", 0))))
    out = list(found.values())
    labels = [o.label for o in out]
    return [
        Option(o.key, f"{o.label} ({_settings(o.params)})", o.candidate, o.params, o.n)
        if labels.count(o.label) > 1
        else o
        for o in out
    ]


def available(version: versions.Version, split: str = SPLIT) -> list[Option]:
    return options(generate.cached_for(version, split), version, split)


def _answers(option: Option, version: versions.Version, n: int, split: str) -> list[str]:
    answers = generate.load(option.candidate, version, split, option.params)
    if answers is None or len(answers) != n:
        raise ValueError(
            f"the cached answers of {option.label!r} on {version.label} ({split}) are missing or incomplete; "
            "generate them again on the Evaluate page"
        )
    return answers


def items(version: versions.Version, chosen: tuple[Option, ...], split: str = SPLIT) -> list[dict]:
    """One item per example of the split: prompt (messages before the answer), reference, answers."""
    examples = versions.split_examples(version)[split]
    answers = {o.key: _answers(o, version, len(examples), split) for o in chosen}
    out = []
    for i, example in enumerate(examples):
        prompt, reference = prompt_and_reference(example)
        out.append({"prompt": prompt, "reference": reference, "answers": {k: a[i] for k, a in answers.items()}})
    return out


def _check_blind(draft: Draft) -> None:
    """Raters read the name and instructions before voting: neither may name a candidate."""
    shown = f"{draft.name}\n{draft.instructions}".casefold()
    for option in draft.chosen:
        if option.label.casefold() in shown:
            raise ValueError(
                f"the session name or instructions mention {option.label!r}; raters see both before they "
                "vote, so they would know which answer is whose"
            )


def create(draft: Draft) -> sessions.Session:
    """The stored session; ValueError in words when the form or the cache is not usable."""
    if len(draft.chosen) < 2:
        raise ValueError(f"choose at least two candidates to compare; {len(draft.chosen)} chosen")
    _check_blind(draft)
    candidates = [{"key": o.key, "label": o.label} for o in draft.chosen]
    return sessions.create(
        draft.name,
        candidates,
        items(draft.version, draft.chosen),
        prompts_per_rater=draft.prompts_per_rater,
        overlap=draft.overlap,
        instructions=draft.instructions,
        version_id=draft.version.id,
        split=SPLIT,
    )
