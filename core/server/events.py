"""Events and checkpoints of the local API's fine-tuning jobs, read from their runs' metrics.

Events follow OpenAI's wording ("Created fine-tuning job", "Step N/M: training loss=...",
"Fine-tuning job successfully completed") and are listed newest first; ids are stable keys
(the step, the kind of event), so `after` pagination holds while a run is still writing.
Checkpoints: one per validation point (or per epoch without a validation file), with OpenAI's
metric names; our validation loss is on the whole validation file, so it is also full_valid_loss.
Test: `.venv/bin/pytest tests/jobs/test_server.py -q -k job`.
"""

from __future__ import annotations

import math
import time
from typing import Any

from core import jobs as runs
from core.jobs import rundir
from core.server import limit_of, page
from core.server.ft_jobs import error_of, get, job_object, model_name, run_of, short_id


def _event(record: dict, key: str, at: float, message: str, level: str = "info", data: dict | None = None) -> dict:
    kind = "metrics" if data else "message"
    return {
        "id": f"ftevent-{short_id(record)}-{key}",
        "object": "fine_tuning.job.event",
        "created_at": int(at),
        "level": level,
        "message": message,
        "type": kind,
        "data": data,
    }


def _steps(rows: list[dict]) -> tuple[dict[int, dict], dict[int, float]]:
    """(training row by step, validation loss by step) from metrics.jsonl's two kinds of row."""
    train = {r["step"]: r for r in rows if r.get("loss") is not None}
    valid = {r["step"]: r["eval_loss"] for r in rows if r.get("eval_loss") is not None}
    return train, valid


def _checkpoint_steps(train: dict[int, dict], valid: dict[int, float]) -> list[int]:
    """One checkpoint per validation point, or per whole epoch when there is no validation file."""
    if valid:
        return sorted(valid)
    return sorted(s for s, r in train.items() if r.get("epoch") and math.isclose(r["epoch"], round(r["epoch"])))


def _metrics(step: int, train: dict[int, dict], valid: dict[int, float]) -> dict[str, Any]:
    row = train.get(step) or {}
    return {
        "step": float(step),
        "train_loss": row.get("loss"),
        "train_mean_token_accuracy": None,
        "valid_loss": valid.get(step),
        "valid_mean_token_accuracy": None,
        "full_valid_loss": valid.get(step),
        "full_valid_mean_token_accuracy": None,
    }


def _step_events(record: dict, run: runs.RunStatus) -> list[dict]:
    folder = rundir.run_dir(run.id)
    train, valid = _steps(rundir.read_metrics(folder))
    total = ((run.progress or {}).get("total")) or max(train, default=0)
    started, out = run.started_at or record["created"], []
    checkpoints = set(_checkpoint_steps(train, valid))
    for step in sorted(set(train) | set(valid)):
        row = train.get(step) or {}
        at = started + (row.get("elapsed_s") or 0)
        parts = [f"training loss={row['loss']:.4f}"] if row else []
        parts += [f"validation loss={valid[step]:.4f}"] if step in valid else []
        data = {**_metrics(step, train, valid), "total_steps": total}
        out.append(_event(record, f"step{step}", at, f"Step {step}/{total}: {', '.join(parts)}", data=data))
        if step in checkpoints:
            out.append(_event(record, f"ckpt{step}", at, f"Checkpoint created at step {step}"))
    return out


def _end_events(record: dict, run: runs.RunStatus | None, state: str) -> list[dict]:
    at = (run.ended_at if run and run.ended_at else None) or time.time()
    if state == "succeeded":
        return [
            _event(record, "model", at, f"New fine-tuned model created: {model_name(record)}"),
            _event(record, "done", at, "Fine-tuning job successfully completed"),
        ]
    if state == "cancelled":
        return [_event(record, "cancelled", record.get("cancelled_at") or at, "Fine-tuning job cancelled")]
    if state == "failed":
        return [_event(record, "failed", at, f"Fine-tuning job failed: {error_of(record, run)['message']}", "error")]
    return []


def events(job_id: str, after: str | None, limit: int | None) -> dict[str, Any]:
    """Every event of the job, newest first, as OpenAI lists them."""
    record = get(job_id)
    run, created = run_of(record), record["created"]
    found = [_event(record, "mapping", created, record["mapping_note"])] if record.get("mapping_note") else []
    files = f"Validating training file: {record['training_file']}"
    if record.get("validation_file"):
        files += f" and validation file: {record['validation_file']}"
    found += [
        _event(record, "created", created, f"Created fine-tuning job: {record['id']}"),
        _event(record, "validating", created, files),
    ]
    if run:
        found.append(_event(record, "queued", created, "Files validated, moving job to queued state"))
    if run and run.position:  # still waiting for a slot: where it stands now
        found.append(_event(record, "position", time.time(), f"Queued: position {run.position}"))
    if run and run.started_at:
        found.append(_event(record, "started", run.started_at, "Fine-tuning job started"))
        found += _step_events(record, run)
    for i, replay in enumerate(record.get("replays") or []):
        note = f"A repeated create request ({replay['how']}) got this job back; no second job was created"
        found.append(_event(record, f"replay{i}", replay["at"], note))
    if record.get("recovered"):
        found.append(_event(record, "recovered", run.created_at if run else created, record["recovered"]))
    found += _end_events(record, run, job_object(record)["status"])
    return page(found[::-1], after, limit_of(limit, 20, 1000))


def checkpoints(job_id: str, after: str | None, limit: int | None) -> dict[str, Any]:
    """One fine_tuning.job.checkpoint per validation point (or epoch), newest first."""
    record = get(job_id)
    run = run_of(record)
    rows = rundir.read_metrics(rundir.run_dir(run.id)) if run else []
    train, valid = _steps(rows)
    started = (run.started_at if run else None) or record["created"]
    found = []
    for step in _checkpoint_steps(train, valid):
        elapsed = (train.get(step) or {}).get("elapsed_s") or 0
        found.append(
            {
                "id": f"ftckpt-{short_id(record)}-{step}",
                "object": "fine_tuning.job.checkpoint",
                "created_at": int(started + elapsed),
                "fine_tuned_model_checkpoint": f"{model_name(record)}:ckpt-step-{step}",
                "fine_tuning_job_id": record["id"],
                "metrics": _metrics(step, train, valid),
                "step_number": step,
            }
        )
    return page(found[::-1], after, limit_of(limit, 10, 100))
