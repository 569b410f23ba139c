"""Scores of every cached candidate on a version's test split, and base-versus-tuned tables (no widgets).

Plain functions over core.eval.metrics: `score_all` reads every completed cache record of the
version (core.eval.generate.cached_for) with the scores its generate job stored (scoring it against
the references here only for a cache made before jobs scored); the table and frame builders turn
those into the tables the page draws (ui.eval.charts draws the charts).
Test: `pytest tests/app/test_evaluate_page.py`.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import pandas as pd

from core.chat import prompt_and_reference
from core.data import versions
from core.eval import SPLIT, generate, metrics
from core.eval.candidates import Candidate
from core.eval.generate import GenParams
from core.jobs import rundir

SHORT = 90  # characters of a prompt shown in the per-example table


@dataclass(frozen=True)
class Scored:
    name: str  # the candidate's label, made unique on the page
    candidate: Candidate
    params: GenParams
    meta: dict
    predictions: list[str]
    rows: list[dict]  # metrics.Report rows: index, rouge_l, exact, length_ratio, formats, json_valid
    summary: dict


def settings(p: GenParams) -> str:
    top_p = f" · top-p {p.top_p:g}" if p.top_p != 1 else ""
    return f"{p.max_new_tokens} tokens · T={p.temperature:g}{top_p} · batch {p.batch_size}"


def shorten(text: str, limit: int = SHORT) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def test_set(version: versions.Version) -> tuple[list[str], list[str]]:
    """(each test prompt's last user message, each reference answer) in the split's order."""
    prompts, refs = [], []
    for example in versions.split_examples(version)[SPLIT]:
        messages, reference = prompt_and_reference(example)
        users = [m.get("content") or "" for m in messages if m.get("role") == "user"]
        prompts.append(str(users[-1]) if users else "")
        refs.append(reference)
    return prompts, refs


def _names(records: list[tuple[Candidate, GenParams]]) -> list[str]:
    """Labels, with the settings (then the key) added where a label would repeat."""
    labels = [c.label or c.model for c, _ in records]
    twice = Counter(labels)
    names = [f"{n} · {settings(p)}" if twice[n] > 1 else n for n, (_, p) in zip(labels, records, strict=True)]
    twice = Counter(names)
    return [f"{n} · {c.key}" if twice[n] > 1 else n for n, (c, _) in zip(names, records, strict=True)]


def _cached(version: versions.Version) -> list[tuple[Candidate, GenParams, dict, list[str]]]:
    found = []
    for record in generate.cached_for(version, SPLIT):
        try:
            cand, params = Candidate.from_dict(record["candidate"]), GenParams(**record["params"])
        except (KeyError, TypeError, ValueError):
            continue  # a record from an older layout: not ours to score
        predictions = generate.load(cand, version, SPLIT, params)
        if predictions is not None:
            found.append((cand, params, record, predictions))
    return found


def score_all(version: versions.Version, unicode: bool = False) -> list[Scored]:
    """Every candidate with cached answers for the version's test split, newest first."""
    refs = test_set(version)[1]
    cached = [c for c in _cached(version) if len(c[3]) == len(refs)]
    names = _names([(c, p) for c, p, _, _ in cached])
    out = []
    for name, (cand, params, record, predictions) in zip(names, cached, strict=True):
        stored = generate.load_scores(record["cache_key"], unicode)
        report = stored if stored and len(stored.rows) == len(refs) else metrics.evaluate(refs, predictions, unicode)
        out.append(Scored(name, cand, params, record, predictions, report.rows, report.summary))
    return out


def note(s: Scored) -> str:
    if s.candidate.kind == "run" and not rundir.run_dir(s.candidate.run_id or "").is_dir():
        return f"run {s.candidate.run_id} was deleted; its cached answers are still scored"
    return ""


def scores_table(scored: list[Scored]) -> pd.DataFrame:
    """One row per candidate: the means of every metric (JSON validity only over JSON references)."""
    rows = []
    for s in scored:
        m = s.summary
        rows.append(
            {
                "candidate": s.name,
                "n": m["n"],
                "ROUGE-L": m["rouge_l"],
                "exact match": m["exact"],
                "length ratio": m["length_ratio"],
                "format adherence": m["format_match"],
                "JSON valid": m["json_valid"],
                "JSON references": m["json_references"],
                "tokens/s": s.meta.get("tokens_per_s"),
                "settings": settings(s.params),
                "note": note(s),
            }
        )
    return pd.DataFrame(rows)


def rouge_long(scored: list[Scored]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"candidate": s.name, "example": r["index"], "ROUGE-L": r["rouge_l"]} for s in scored for r in s.rows]
    )


def _winner(a: float, b: float, name_a: str, name_b: str) -> str:
    outcome = metrics.compare([a], [b])[0]
    return {"a": name_a, "b": name_b}.get(outcome, "tie")


def comparison(a: Scored, b: Scored, prompts: list[str], refs: list[str]) -> pd.DataFrame:
    """Per test example, A's and B's answers and scores, worst for B (the tuned one) first."""
    rows = []
    for i, (ra, rb) in enumerate(zip(a.rows, b.rows, strict=True)):
        rows.append(
            {
                "example": i,
                "prompt": shorten(prompts[i]),
                "reference": refs[i],
                "answer A": a.predictions[i],
                "answer B": b.predictions[i],
                "ROUGE-L A": ra["rouge_l"],
                "ROUGE-L B": rb["rouge_l"],
                "B - A": rb["rouge_l"] - ra["rouge_l"],
                "winner": _winner(ra["rouge_l"], rb["rouge_l"], "A", "B"),
            }
        )
    frame = pd.DataFrame(rows)
    return frame.sort_values(["B - A", "example"], kind="stable").reset_index(drop=True)


def counts(frame: pd.DataFrame) -> dict[str, int]:
    """B's wins, losses and ties against A (metrics.tally over B's outcomes)."""
    outcomes = frame["winner"].map({"B": "a", "A": "b", "tie": "tie"}).tolist()
    return metrics.tally(outcomes)


def mean_gain(frame: pd.DataFrame) -> float:
    values = frame["B - A"].tolist()
    return sum(values) / len(values) if values else math.nan
