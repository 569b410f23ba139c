"""A candidate's answers as training data: its answers to every prompt of a version become a new chat dataset.

Distillation (a larger model teaching a small one) and keeping what a retiring hosted fine-tune learned are
the same move: generate the candidate's answers for the whole version (split "all" of core.eval.generate, a
resumable job), then `save` puts each example's prompt (every message before its final answer, or all of them
when it has none yet; system, user and earlier turns kept, tools too) with the candidate's answer as the final
assistant turn into a new dataset, keeping the source's split. An answer that failed or came back empty is
listed by line with its reason, never dropped without a word: `save` leaves those examples out and says so,
`retry_failed` asks only them again. The provenance (candidate, generation settings, source version, prompts,
failed lines) is the version's note in words and `datasets/provenance/<version id>.json` in full.
Test: `.venv/bin/pytest tests/unit/test_distill.py tests/jobs/test_distill_job.py -q`.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from core import jobs, paths
from core.data import preference, versions
from core.eval import generate
from core.eval.candidates import Candidate
from core.eval.params import GenParams
from core.jobs import rundir

SPLIT = generate.ALL


def failure(row: dict) -> str | None:
    """Why an answer cannot be a training target, or None when it can."""
    if row.get("error"):
        return str(row["error"])
    if not str(row.get("prediction") or "").strip():
        return "the answer came back empty"
    return None


@dataclass
class Built:
    examples: list[dict]
    failed: list[dict]  # {"line": 1-based line of the source version's file, "reason"}
    splits: dict | None  # the source's split, renumbered for the examples kept


def _example(source: dict, answer: str) -> dict:
    prompt = generate.prompt_of(source)
    kept = {k: v for k, v in source.items() if k != "messages"}  # tools and the like stay with their prompt
    return {**kept, "messages": [*prompt, {"role": "assistant", "content": answer}]}


def build(examples: list[dict], rows: list[dict], splits: dict | None = None) -> Built:
    """Each example's prompt with its row's answer as the final assistant turn; failed rows listed by line."""
    if len(rows) != len(examples):
        raise ValueError(f"{len(rows)} answers for {len(examples)} examples: generate them again")
    out, failed, new_index = [], [], {}
    for i, (example, row) in enumerate(zip(examples, rows, strict=True)):
        if reason := failure(row):
            failed.append({"line": i + 1, "reason": reason})
            continue
        new_index[i] = len(out)
        out.append(_example(example, str(row["prediction"]).strip()))
    renumbered = (
        {name: [new_index[i] for i in idx if i in new_index] for name, idx in splits.items()} if splits else None
    )
    return Built(out, failed, renumbered)


# ---- the job and its answers ----------------------------------------------------------------------------------


def key(candidate: Candidate, version, params: GenParams) -> str:
    return generate.cache_key(candidate, version, SPLIT, params)


def launch(candidate: Candidate, version, params: GenParams) -> str | None:
    """A job answering every example (only those not answered yet); None when all are cached."""
    return generate.launch(candidate, version, SPLIT, params)


def retry_failed(candidate: Candidate, version, params: GenParams) -> str | None:
    """Ask the failed and empty answers again (the others are kept, not paid for twice)."""
    generate.reopen(key(candidate, version, params), keep=lambda row: failure(row) is None)
    return launch(candidate, version, params)


@dataclass
class State:
    rows: list[dict] | None  # every example's answer once the job finished
    received: int  # answers kept from a job that did not finish
    total: int
    run: jobs.RunStatus | None  # the newest job for these answers
    failed: list[dict] = field(default_factory=list)


def state(candidate: Candidate, version, params: GenParams) -> State:
    k = key(candidate, version, params)
    rows = generate.cached_rows(k)
    run = next(iter(jobs.list_runs(generate.KIND, key=k, limit=1)), None)
    failed = [{"line": r["index"] + 1, "reason": failure(r)} for r in rows or [] if failure(r)]
    return State(rows, len(generate.received(k)), version.n_examples, run, failed)


# ---- saving ----------------------------------------------------------------------------------------------------


def _provenance_file(version_id: int) -> Path:
    folder = paths.datasets_dir() / "provenance"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{version_id}.json"


def provenance(version) -> dict | None:
    """Where a saved version's answers came from; None for a version not made here."""
    return rundir.read_json(_provenance_file(version.id))


def _lines(failed: list[dict], most: int = 20) -> str:
    shown = ", ".join(str(f["line"]) for f in failed[:most])
    return shown + (f" and {len(failed) - most} more" if len(failed) > most else "")


def _note(candidate: Candidate, source, params: GenParams, built: Built) -> str:
    n = len(built.examples) + len(built.failed)
    left = f"; {len(built.failed)} failed and left out (lines {_lines(built.failed)})" if built.failed else ""
    settings = f"max_new_tokens {params.max_new_tokens}, temperature {params.temperature}, top_p {params.top_p}"
    return f"{candidate.label}'s answers to the {n} prompts of {source.label} ({settings}){left}"


def default_name(candidate: Candidate, source) -> str:
    """A dataset name not taken yet: '<dataset> · <candidate> answers', numbered when taken."""
    return preference.free_name(f"{source.dataset} · {candidate.label} answers")


def save(candidate: Candidate, source, params: GenParams, name: str) -> tuple[versions.Version, Built]:
    """A new chat dataset from the candidate's finished answers; ValueError when none are there or all failed."""
    if source.kind != "chat":
        raise ValueError(f"{source.label} holds {source.kind} pairs; answers are saved from a chat dataset")
    rows = generate.cached_rows(key(candidate, source, params))
    if rows is None:
        raise ValueError(f"{candidate.label} has not answered every prompt of {source.label} yet: generate first")
    built = build(versions.examples(source), rows, source.splits)
    if not built.examples:
        raise ValueError(f"every answer failed ({len(built.failed)}): retry them before saving")
    note = _note(candidate, source, params, built)
    saved = versions.create(
        name, built.examples, note=note, source=f"answers of {candidate.label}", splits=built.splits
    )
    record = {
        "candidate": {k: v for k, v in candidate.to_dict().items() if k != "api_key_env"},
        "params": asdict(params),
        "source_version_id": source.id,
        "source": source.label,
        "source_sha256": source.sha256,
        "prompts": len(rows),
        "saved": len(built.examples),
        "failed": built.failed,
        "generation_run": (generate.meta(candidate, source, SPLIT, params) or {}).get("run_id"),
        "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    _provenance_file(saved.id).write_text(json.dumps(record, indent=1, ensure_ascii=False), encoding="utf-8")
    return saved, built
