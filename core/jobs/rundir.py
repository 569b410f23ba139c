"""The run-dir contract shared by the app, the supervisor and workers: every name in a run folder.

Every job:
runs/<id>/spec.yaml         SPEC: what to run (kind, argv, title, meta), written once at launch
runs/<id>/status.json       STATUS: state and timings, replaced atomically; only the supervisor writes it
                            (after launch's first "queued", with the queue position the scheduler keeps up
                            to date, or a cancel's "cancelled"; once it is gone, its guard or a stopper does),
                            so no read-modify-write ever races
runs/<id>/progress.json     PROGRESS: done/total/message from the worker, replaced atomically
runs/<id>/note.json         NOTE: the worker's status line ({message, at}); jobs.status shows it while active
runs/<id>/metrics.jsonl     METRICS: one JSON object per line, appended and flushed per line
runs/<id>/train.log         LOG: the worker's stdout and stderr
runs/<id>/supervisor.log    SUPERVISOR_LOG: the supervisor's own output (a crash before the worker starts)
runs/<id>/STOP              STOP: created by the UI; the worker stops at its next step and saves
runs/<id>/failure.json      FAILURE: optional, from a worker that knows why it failed: {failure, message}
Training (core.train, core.providers.openai_worker):
runs/<id>/checkpoints/      CHECKPOINTS: step-N/ folders, resumable
runs/<id>/final/            FINAL: the trained model or adapter, with its tokenizer
runs/<id>/summary.json      SUMMARY: what the run did (params, examples, best loss; a remote run's model)
runs/<id>/samples.json      SAMPLES: answers to a few validation prompts
runs/<id>/reference_logps.json  REFERENCE: a DPO run's reference log-probs per pair ({split: [chosen, rejected]})
  A DPO run's metrics rows add rewards_chosen, rewards_rejected, rewards_margins, rewards_accuracies
  (training rows) and the same with eval_ (validation rows); eval_loss is its mean DPO loss
runs/<id>/remote.json       REMOTE: a hosted run's remote ids and latest remote status
runs/<id>/train.jsonl       TRAIN_FILE, VALIDATION_FILE: a hosted run's uploaded split
runs/<id>/export/<kind>/    EXPORT: a run's exports (merged, adapter, model or gguf-<f16|q8_0>), each with
                            EXPORT_INFO and CARD (README.md, the model card); a GGUF export also holds the
                            .gguf file, MODELFILE (Ollama's Modelfile) and PARITY (parity.json, the parity report)
runs/<id>/tracking/         TRACKING: the experiment trackers' local files (TensorBoard events, mlruns/, trackio/)
Export jobs (core.train.export): runs/<id>/result.json  RESULT: the export folder and its check, or the error
Analysis jobs (core.data.analyze): ANALYSIS (analysis.json), EXAMPLE_VECTORS, USER_VECTORS (.npy)
Generation jobs (core.eval.generate): PREDICTIONS (predictions.jsonl), REPLY (reply.json),
  SCORES (scores.json: the metrics of its predictions against the references)
Import jobs (core.data.fetch): RECORDS (records.jsonl: the records as read), IMPORTED (import.json: source, notes)
Test: `pytest tests/jobs`.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import yaml

from core import paths, tempfiles

SPEC, STATUS, PROGRESS, METRICS, LOG, STOP = (
    "spec.yaml",
    "status.json",
    "progress.json",
    "metrics.jsonl",
    "train.log",
    "STOP",
)
FAILURE = "failure.json"
NOTE = "note.json"
SUPERVISOR_LOG = "supervisor.log"
CHECKPOINTS, FINAL, EXPORT = "checkpoints", "final", "export"
SUMMARY, SAMPLES, REMOTE = "summary.json", "samples.json", "remote.json"
REFERENCE = "reference_logps.json"
TRAIN_FILE, VALIDATION_FILE = "train.jsonl", "validation.jsonl"
EXPORT_INFO = "export.json"
CARD, MODELFILE, PARITY = "README.md", "Modelfile", "parity.json"
RESULT = "result.json"
ANALYSIS, EXAMPLE_VECTORS, USER_VECTORS = "analysis.json", "example_vectors.npy", "user_vectors.npy"
PREDICTIONS, REPLY = "predictions.jsonl", "reply.json"
RECORDS, IMPORTED = "records.jsonl", "import.json"
SCORES = "scores.json"
TRACKING = "tracking"

ACTIVE_STATES = ("queued", "running", "stopping")  # status.json's states
FINAL_STATES = ("succeeded", "failed", "stopped", "lost", "cancelled")  # cancelled: while queued, never started


def run_dir(run_id: str) -> Path:
    if not run_id or "/" in run_id or run_id.startswith("."):
        raise ValueError(f"not a run id: {run_id!r}")
    return paths.runs_dir() / run_id


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Replace a JSON file atomically, so a reader never sees half of it."""
    tmp = tempfiles.temp_path(path)  # unique per process and call: the API server's threads never share one
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def read_spec(folder: Path) -> dict[str, Any]:
    return yaml.safe_load((folder / SPEC).read_text())


def update_status(folder: Path, **fields: Any) -> dict[str, Any]:
    status = read_json(folder / STATUS) or {}
    status.update(fields, updated_at=time.time())
    write_json(folder / STATUS, status)
    return status


def report_progress(folder: Path, done: int, total: int, message: str = "") -> None:
    """For workers: how far along they are (the page shows it as a progress bar)."""
    write_json(folder / PROGRESS, {"done": done, "total": total, "message": message, "at": time.time()})


def report_note(folder: Path, message: str) -> None:
    """For workers: the line the Runs page shows beside the state (status.json is the supervisor's)."""
    write_json(folder / NOTE, {"message": message, "at": time.time()})


def append_metrics(folder: Path, row: dict[str, Any]) -> None:
    with open(folder / METRICS, "a") as f:
        f.write(json.dumps(row) + "\n")
        f.flush()


def read_metrics(folder: Path) -> list[dict[str, Any]]:
    try:
        lines = (folder / METRICS).read_text().splitlines()
    except OSError:
        return []
    rows = []
    for line in lines:
        try:
            rows.append(json.loads(line))
        except ValueError:
            break  # a line still being written
    return rows


class Stopped(Exception):
    """A worker saw STOP and ended early on purpose (not a failure)."""


def stop_requested(folder: Path) -> bool:
    return (folder / STOP).exists()


def log_tail(folder: Path, lines: int = 30) -> str:
    try:
        with open(folder / LOG, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64 * 1024))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def lost(status: dict[str, Any], folder: Path, why: str) -> dict[str, Any]:
    """A final "lost" status: why the run has no result, with the log's last lines."""
    tail = log_tail(folder, 15)
    message = why + (f"\n\nLast lines of the log:\n{tail}" if tail else "")
    return dict(status, state="lost", failure="lost", message=message)


def explain_failure(folder: Path, failure: str, message: str) -> None:
    """Record, before exiting non-zero, the words the app should show for this failure."""
    write_json(folder / FAILURE, {"failure": failure, "message": message})
