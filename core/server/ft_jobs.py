"""Fine-tuning jobs for the local OpenAI-compatible API: each job is an ordinary training run.

`create(body, base)` checks the request as OpenAI does, maps the hyperparameters onto a LoRA
TrainConfig and starts it with core.train.launch.start, so the job shows on the Runs page like
any run. A small JSON per job (home()/api/jobs/<id>.json) links it to its run; its status
(here), events and checkpoints (core.server.events) are read back from the run folder on every
request, so they survive a server restart. The record is written before the run starts (the run's
key is the job id), so a server killed in between leaves a record that `recover()` settles at the
next start: the run it finds by key is adopted, else the job failed. Model names follow OpenAI's
shape: ft:<model>:local:<suffix>:<short id>.
Test: `.venv/bin/pytest tests/jobs/test_server.py tests/jobs/test_server_recovery.py -q -k job`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import re
import shutil
import threading
import time
from pathlib import Path
from typing import Any

from core import jobs as runs
from core import openai_spec
from core.costs import default_epochs
from core.jobs import index, procs, rundir
from core.models import DEFAULT_MODEL_ID
from core.openai_spec import HYPERPARAMETERS, MIN_EXAMPLES, SEED_MAX
from core.server import (
    ORG,
    ApiError,
    api_dir,
    bad_request,
    create_record,
    limit_of,
    new_id,
    not_found,
    now,
    page,
    read_record,
    records,
    valid_id,
    write_record,
)
from core.server import files as stored
from core.train import config, launch

KIND, PREFIX = "jobs", "ftjob"
MAX_MICRO_BATCH = 8  # examples per forward pass; a larger batch_size is reached by accumulation
FINAL_STATES = ("succeeded", "failed", "cancelled")
RETRY_WINDOW_S = 600  # the openai client's retries of one create (its timeouts and backoff) fall within this
MAX_KEY_CHARS = 255
_LOCK = threading.Lock()  # one read-modify-write of a record at a time among the server's threads
log = logging.getLogger("core.server")


# ---- requests -> a training config (pure) -----------------------------------------------------


def is_local(model: str) -> bool:
    """The embedded model id or an existing model folder: trained as named."""
    return model == DEFAULT_MODEL_ID or Path(model).expanduser().is_dir()


def local_base(requested: str, base: str) -> tuple[str, str | None]:
    """(model to train, the note that says so) for a requested model name."""
    if requested.startswith("ft:"):
        raise bad_request(
            f"Fine-tuning a fine-tuned model ({requested}) is not supported locally; fine-tune its base model.",
            "model",
        )
    if is_local(requested):
        return requested, None
    return base, f"{requested} is served locally by {base}"


def _object(value: Any, param: str) -> dict[str, Any]:
    """A JSON object the request may leave out; 400 naming the parameter for a list, number or text."""
    if value in (None, {}):
        return {}
    if not isinstance(value, dict):
        raise bad_request(f"{param} must be an object, not {value!r}", param)
    return value


METHOD_TYPES = ("supervised", "dpo")  # what trains locally: OpenAI's method.type values, less reinforcement
DPO_BETA = 0.1  # "auto": TRL's default


def method_type(body: dict[str, Any]) -> str:
    """The request's method.type (supervised when there is no method); 400 naming method.type otherwise."""
    method = body.get("method")
    if not method:
        return "supervised"
    kind = method.get("type") if isinstance(method, dict) else method
    if kind not in METHOD_TYPES:
        raise bad_request(
            f"method.type must be one of {', '.join(METHOD_TYPES)} to train locally, not {kind!r}.", "method.type"
        )
    return kind


def requested_hyperparameters(body: dict[str, Any]) -> dict[str, Any]:
    """hyperparameters, or the newer method.<type>.hyperparameters (which wins, as in OpenAI's API)."""
    given = _object(body.get("hyperparameters"), "hyperparameters")
    kind = method_type(body)
    if body.get("method"):
        inner = _object(body["method"].get(kind), f"method.{kind}")
        given = {**given, **_object(inner.get("hyperparameters"), f"method.{kind}.hyperparameters")}
    unknown = sorted(set(given) - set(HYPERPARAMETERS) - ({"beta"} if kind == "dpo" else set()))
    if unknown:
        raise bad_request(f"Unknown hyperparameter(s): {', '.join(unknown)}", f"hyperparameters.{unknown[0]}")
    return given


def checked_hyperparameters(hp: dict[str, Any]) -> dict[str, Any]:
    """The hyperparameters with OpenAI's limits checked (core.openai_spec); None for "auto" or absent."""
    bad = openai_spec.hyperparameter_problems(hp)
    if bad:
        name, message = bad[0]
        raise bad_request(f"hyperparameters.{message}", f"hyperparameters.{name}")
    return {name: None if openai_spec.is_auto(hp.get(name)) else hp[name] for name in HYPERPARAMETERS}


def resolve_hyperparameters(hp: dict[str, Any], n_examples: int, default_lr: float) -> dict[str, Any]:
    """OpenAI's three hyperparameters with every "auto" decided.

    n_epochs auto: OpenAI's rule (core.costs.default_epochs: 3, kept between 100 and 25,000
    example-passes). batch_size auto: about a tenth of the examples, 1 to 8 (OpenAI picks ~0.2%
    of the examples up to 256, which on a CPU-sized dataset is always 1). learning_rate_multiplier
    auto: 1.0, that is the LoRA preset's learning rate as it is. Beyond OpenAI's limits, one rule of
    this server's own: the multiplier times the LoRA preset's learning rate must stay below 1e-2.
    """
    values = checked_hyperparameters(hp)
    epochs, batch, multiplier = (values[name] for name in HYPERPARAMETERS)
    most = 1e-2 / default_lr  # core.train.config refuses a learning rate of 1e-2 or more
    if multiplier is not None and multiplier * default_lr >= 1e-2:
        raise bad_request(
            f"hyperparameters.learning_rate_multiplier {multiplier:g} is within OpenAI's limits, but this local "
            f"server trains LoRA at {default_lr:g}, so it would be a learning rate of {multiplier * default_lr:g}, "
            f"which diverges; locally use less than {most:g}",
            "hyperparameters.learning_rate_multiplier",
        )
    return {
        "n_epochs": int(epochs) if epochs is not None else default_epochs(n_examples),
        "batch_size": int(batch) if batch is not None else min(MAX_MICRO_BATCH, max(1, n_examples // 10)),
        "learning_rate_multiplier": float(multiplier) if multiplier is not None else 1.0,
    }


def dpo_beta(hp: dict[str, Any]) -> float:
    """method.dpo.hyperparameters.beta: "auto" (or absent) is 0.1; else a number above 0."""
    beta = hp.get("beta")
    if beta is None or openai_spec.is_auto(beta):
        return DPO_BETA
    if isinstance(beta, bool) or not isinstance(beta, int | float) or not 0 < beta < float("inf"):
        raise bad_request(f'beta must be "auto" or a number above 0, not {beta!r}', "method.dpo.hyperparameters.beta")
    return float(beta)


def split_batch(batch_size: int) -> tuple[int, int]:
    """(examples per forward pass, passes per optimizer step) whose product is exactly batch_size."""
    per_device = max(d for d in range(1, min(batch_size, MAX_MICRO_BATCH) + 1) if batch_size % d == 0)
    return per_device, batch_size // per_device


def train_config(model: str, train: Path, validation: Path | None, hp: dict, seed: int) -> config.TrainConfig:
    """LoRA with the preset's settings, run as OpenAI runs a job: every epoch, the last weights kept.

    hp with a beta is a DPO job (method.type dpo)."""
    per_device, accumulation = split_batch(hp["batch_size"])
    dpo = {"objective": "dpo", "beta": hp["beta"]} if "beta" in hp else {}
    lora = config.preset("lora")
    return config.preset(
        "lora",
        model=model,
        train_file=str(train),
        validation_file=str(validation) if validation else None,
        num_train_epochs=float(hp["n_epochs"]),
        per_device_train_batch_size=per_device,
        gradient_accumulation_steps=accumulation,
        learning_rate=lora.learning_rate * hp["learning_rate_multiplier"],
        seed=seed,
        early_stopping_patience=0,  # OpenAI runs every epoch asked for
        load_best_model_at_end=False,  # and its model is the last epoch's
        **dpo,
    )


def _method_fits_files(kind: str, train: dict, val: dict | None) -> None:
    """DPO trains on preference files with a validation file (the reward accuracy's pairs); supervised on chat."""
    layout = stored.layout_of(train)
    if kind == "dpo" and layout != "preference":
        raise bad_request(
            f"method.type 'dpo' needs a training file of preference pairs (input, preferred_output, "
            f"non_preferred_output); {train['id']} holds chat examples",
            "training_file",
        )
    if kind == "supervised" and layout == "preference":
        raise bad_request(
            f"{train['id']} holds preference pairs: send method={{'type': 'dpo'}} to train on them", "training_file"
        )
    if kind == "dpo" and val is None:
        raise bad_request(
            "a local DPO job needs a validation_file of preference pairs: its reward accuracy is measured on them",
            "validation_file",
        )
    if kind == "dpo" and stored.layout_of(val) != "preference":
        raise bad_request(f"validation file {val['id']} must hold preference pairs too", "validation_file")


# ---- creating and cancelling ------------------------------------------------------------------


def _required_text(body: dict, key: str) -> str:
    value = body.get(key)
    if value is None:
        raise bad_request(f"Missing required parameter: '{key}'.", key, "missing_required_parameter")
    if not isinstance(value, str) or not value:
        raise bad_request(f"{key} must be a non-empty string, not {value!r}", key)
    return value


def _fine_tune_file(file_id: str, param: str) -> dict[str, Any]:
    try:
        record = stored.get(file_id)
    except ApiError:  # OpenAI answers an unknown file with 400 naming the parameter, not 404
        raise bad_request(f"invalid {param}: {file_id}", param) from None
    if record.get("purpose") != stored.FINE_TUNE:
        raise bad_request(f"File {file_id} has purpose '{record.get('purpose')}', not 'fine-tune'.", param)
    return record


def _suffix(body: dict) -> str | None:
    suffix = body.get("suffix")
    if openai_spec.suffix_problem(suffix):
        raise bad_request(openai_spec.suffix_problem(suffix), "suffix")
    return suffix or None


def _seed(body: dict) -> int:
    seed = body.get("seed")
    if openai_spec.seed_problem(seed):
        raise bad_request(openai_spec.seed_problem(seed), "seed")
    return random.randint(0, SEED_MAX) if seed is None else seed  # OpenAI picks one and reports it


def _fingerprint(body: dict[str, Any]) -> str:
    """What tells a repeated request from a new one: the body, keys in any order."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def _path(job_id: str) -> Path:
    return api_dir(KIND) / f"{job_id}.json"


def _job_id(idempotency_key: str | None) -> str:
    """A new id; with an Idempotency-Key, the id that key always names (so its record is the claim)."""
    if idempotency_key is None:
        return new_id(PREFIX)
    if not 0 < len(idempotency_key) <= MAX_KEY_CHARS:
        raise bad_request(
            f"The Idempotency-Key header must be 1 to {MAX_KEY_CHARS} characters, not {len(idempotency_key)}",
            "Idempotency-Key",
        )
    return f"{PREFIX}-{hashlib.sha256(idempotency_key.encode()).hexdigest()[:24]}"


def _replayed(record: dict, fingerprint: str, how: str) -> dict[str, Any]:
    """The job an earlier identical request made, with the repeat noted in its record."""
    if record.get("request") != fingerprint:
        raise bad_request(
            f"This Idempotency-Key was already used for another request (job {record['id']}); "
            "send a new key with a new request.",
            "Idempotency-Key",
            "idempotency_key_reused",
        )
    replay = {"at": now(), "how": how}
    return job_object(_update(record["id"], replays=[*(record.get("replays") or []), replay]))


def _earlier(fingerprint: str, retry_count: int) -> dict | None:
    """The job an automatic retry of this same request already created (the client never got its answer)."""
    if retry_count < 1:
        return None
    since = time.time() - RETRY_WINDOW_S
    return next(
        (r for r in _records() if r.get("request") == fingerprint and r.get("created", 0) >= since),
        None,
    )


def create(
    body: dict[str, Any], base: str, idempotency_key: str | None = None, retry_count: int = 0
) -> dict[str, Any]:
    """Check the request, record the job, start its training run, and return the job object.

    The record is written before the run starts and names the run once it has started; after the
    record exists every outcome is an answer about that job (a run that could not start is a failed
    job), never an error that invites a retry. A repeat of the request returns the same job: one with
    the same Idempotency-Key header, or one the client marks as its automatic retry
    (x-stainless-retry-count) with the same body within RETRY_WINDOW_S.
    """
    fingerprint, job_id = _fingerprint(body), _job_id(idempotency_key)
    earlier = read_record(_path(job_id)) if idempotency_key else _earlier(fingerprint, retry_count)
    if earlier:  # answered before the checks: the files it named may be deleted since
        how = "the same Idempotency-Key" if idempotency_key else f"x-stainless-retry-count: {retry_count}"
        return _replayed(_settled(earlier), fingerprint, how)
    requested = _required_text(body, "model")
    train = _fine_tune_file(_required_text(body, "training_file"), "training_file")
    given_val = body.get("validation_file") not in (None, "")
    val = _fine_tune_file(_required_text(body, "validation_file"), "validation_file") if given_val else None
    if train["examples"] < MIN_EXAMPLES:
        raise bad_request(
            f"Training file has {train['examples']} example(s), but must have at least {MIN_EXAMPLES} examples",
            "training_file",
            "invalid_n_examples",
        )
    suffix, seed = _suffix(body), _seed(body)
    model, note = local_base(requested, base)
    lora_lr = config.preset("lora").learning_rate
    requested_hp, kind = requested_hyperparameters(body), method_type(body)
    _method_fits_files(kind, train, val)
    hp = resolve_hyperparameters(requested_hp, train["examples"], lora_lr)
    hp = {**hp, "beta": dpo_beta(requested_hp)} if kind == "dpo" else hp
    folder = api_dir(KIND) / job_id  # the job's own copies: deleting a file later never breaks the run
    train_path = folder / rundir.TRAIN_FILE
    val_path = folder / rundir.VALIDATION_FILE if val else None
    cfg = train_config(model, train_path, val_path, hp, seed)
    problems = launch.problems(cfg)
    if problems:
        raise bad_request("; ".join(problems))
    record = {
        "id": job_id,
        "created_at": now(),
        "created": time.time(),
        "run_id": None,  # set once the run has started; until then the creator's pid says who is starting it
        "creator": list(procs.self_identity()),
        "request": fingerprint,
        "idempotency_key": idempotency_key,
        "model": requested,
        "base": model,
        "mapping_note": note,
        "suffix": suffix,
        "seed": seed,
        "training_file": train["id"],
        "validation_file": val["id"] if val else None,
        "hyperparameters": hp,
        "method": {"type": kind, kind: {"hyperparameters": hp}},
        "metadata": body.get("metadata"),
        "cancelled_at": None,
    }
    if not create_record(_path(job_id), record):  # the same Idempotency-Key, sent while the first was checked
        return _replayed(_stored(job_id), fingerprint, "the same Idempotency-Key")
    return job_object(_start(record, train, val, cfg))


def _start(record: dict, train: dict, val: dict | None, cfg: config.TrainConfig) -> dict:
    """Copy the job's files and launch its run; the record says what happened either way."""
    job_id = record["id"]
    try:
        folder = api_dir(KIND) / job_id
        folder.mkdir(exist_ok=True)
        shutil.copyfile(stored.content_path(train["id"]), cfg.train_file)
        if val:
            shutil.copyfile(stored.content_path(val["id"]), cfg.validation_file)
        # The files are in place now: a base model whose template drops tool calls gets the tool template.
        cfg = launch.fitting_template(cfg)
        run_id = launch.start(cfg, title=f"API {record['model']} · {job_id}", key=job_id)
    except Exception as exc:  # the job exists now: its failure is the answer, not a 500 the client retries
        log.exception("job %s: the training run did not start", job_id)
        reason = str(exc) if isinstance(exc, (ValueError, ApiError)) else "an internal error (see the server's log)"
        error = {"code": "launch_failed", "message": f"The training run could not start: {reason}", "param": None}
        return _update(job_id, error=error, ended_at=now())
    return _update(job_id, run_id=run_id)


def _update(job_id: str, **fields: Any) -> dict[str, Any]:
    """Change fields of a stored record (one writer at a time); a run that starts after a cancel is stopped."""
    with _LOCK:
        record = {**_stored(job_id), **fields}
        write_record(_path(job_id), record)
    if "run_id" in fields and record.get("cancelled_at"):
        runs.stop(record["run_id"])
    return record


def _settled(record: dict) -> dict:
    """A record whose creator died before it named its run: the run it started, or a failed job.

    The run is found by its key (the job id); without one, nothing was trained and the job failed.
    """
    if record.get("run_id") or record.get("error") or procs.alive(*(record.get("creator") or (None, None))):
        return record
    started = runs.list_runs(kind="train", key=record["id"])
    if started:
        note = f"The server stopped after starting run {started[0].id} and before recording it; the job adopted it."
        log.warning("job %s: %s", record["id"], note)
        return _update(record["id"], run_id=started[0].id, recovered=note)
    error = {
        "code": "server_interrupted",
        "message": "The server stopped before this job's training run started, so nothing was trained; "
        "create the job again.",
        "param": None,
    }
    log.warning("job %s: %s", record["id"], error["message"])
    return _update(record["id"], error=error, ended_at=now())


def _records() -> list[dict[str, Any]]:
    return [_settled(r) for r in records(KIND, PREFIX)]


def recover() -> list[str]:
    """At server start: settle the jobs whose creation a crash interrupted, and stop API runs with no job.

    Returns what it did, a line each (the server logs them too).
    """
    done = []
    for record in records(KIND, PREFIX):
        settled = _settled(record)
        if settled is not record:
            done.append(f"job {record['id']}: {settled.get('recovered') or settled['error']['message']}")
    for entry in index.find("train", unended=True):
        if valid_id(entry.key, PREFIX) and not _path(entry.key).exists() and runs.status(entry.id).active:
            runs.stop(entry.id)  # nothing could list, retrieve or cancel it through the API
            done.append(f"run {entry.id}: stopped, its job {entry.key} has no record")
            log.warning(done[-1])
    return done


def _stored(job_id: str) -> dict[str, Any]:
    record = read_record(_path(job_id)) if valid_id(job_id, PREFIX) else None
    if record is None:
        raise not_found(
            f"No fine-tuning job found with id {job_id}", "fine_tuning_job_id", "fine_tuning_job_not_found"
        )
    return record


def get(job_id: str) -> dict[str, Any]:
    """The job's record, settled (see _settled); 404 in OpenAI's words when there is none."""
    return _settled(_stored(job_id))


def cancel(job_id: str) -> dict[str, Any]:
    record = get(job_id)
    current = job_object(record)["status"]
    if current in FINAL_STATES:
        raise bad_request(f"Job has already {current}: {job_id}", "fine_tuning_job_id")
    record = _update(job_id, cancelled_at=now())
    if record.get("run_id"):
        runs.stop(record["run_id"])  # the run stops at its next step and saves; a run still starting, once named
    return job_object(record)


# ---- reading a job back from its run ----------------------------------------------------------


def run_of(record: dict) -> runs.RunStatus | None:
    if not record.get("run_id"):
        return None  # still starting, or it never started (the record's error says why)
    try:
        return runs.status(record["run_id"])
    except (OSError, ValueError, KeyError):
        return None  # the run folder was deleted from the Runs page


def status_of(run_state: str | None, steps_done: int, cancelled: bool) -> str:
    """OpenAI's job status for a run's state (pure; see the module docstring of core.jobs)."""
    if run_state in ("failed", "lost", None):
        return "failed"
    if run_state == "succeeded":  # it finished before a late cancel request could stop it
        return "succeeded"
    if cancelled or run_state in ("stopped", "cancelled"):
        return "cancelled"
    if run_state == "queued":
        return "queued"  # waiting in the workspace's job queue for a slot
    return "running" if steps_done > 0 else "queued"  # "queued" while the worker loads the model


def short_id(record: dict) -> str:
    return record["id"].split("-", 1)[1][:8]


def model_name(record: dict) -> str:
    """ft:<model>:local:<suffix>:<short id>; an empty suffix segment without one, as OpenAI's."""
    model = record["model"]
    shown = Path(model).name if "/" in model else model  # a folder path would break URL paths
    return f"ft:{shown}:{ORG}:{record.get('suffix') or ''}:{short_id(record)}"


def error_of(record: dict, run: runs.RunStatus | None) -> dict[str, Any]:
    if record.get("error"):
        return record["error"]
    if run is None:
        return {
            "code": "run_deleted",
            "message": f"The training run {record['run_id']} was deleted.",
            "param": None,
        }
    reason = next(
        (
            line
            for line in reversed(rundir.log_tail(rundir.run_dir(run.id), 10).splitlines())
            if line.startswith(("bad data:", "bad config:"))
        ),
        "",
    )
    message = f"{run.message} {reason}".strip() or "The training run failed."
    param = "training_file" if run.failure == "bad data" else None
    return {"code": (run.failure or "error").replace(" ", "_"), "message": message, "param": param}


def _trained_tokens(run: runs.RunStatus) -> int | None:
    summary = rundir.read_json(rundir.run_dir(run.id) / rundir.SUMMARY) or {}
    if summary.get("train_tokens") is None or summary.get("epochs_done") is None:
        return None
    return int(round(summary["train_tokens"] * summary["epochs_done"]))


def _estimated_finish(run: runs.RunStatus) -> int | None:
    rows = [r for r in rundir.read_metrics(rundir.run_dir(run.id)) if r.get("eta_s") is not None]
    return int(time.time() + rows[-1]["eta_s"]) if rows else None


def job_object(record: dict) -> dict[str, Any]:
    """The fine_tuning.job object the client parses, read from the run as it is now."""
    run = run_of(record)
    done = int(((run.progress if run else None) or {}).get("done") or 0)
    state = status_of(run.state if run else None, done, bool(record.get("cancelled_at")))
    if not record.get("run_id") and not record.get("error"):
        state = "cancelled" if record.get("cancelled_at") else "validating_files"  # its run is starting
    final = run is not None and not run.active
    hp = record["hyperparameters"]
    return {
        "id": record["id"],
        "object": "fine_tuning.job",
        "created_at": record["created_at"],
        "error": error_of(record, run) if state == "failed" else None,
        "fine_tuned_model": model_name(record) if state == "succeeded" else None,
        "finished_at": int(run.ended_at) if final and run.ended_at else record.get("ended_at"),
        "hyperparameters": hp,
        "model": record["model"],
        "organization_id": f"org-{ORG}",
        "result_files": [],
        "seed": record["seed"],
        "status": state,
        "trained_tokens": _trained_tokens(run) if state == "succeeded" else None,
        "training_file": record["training_file"],
        "validation_file": record["validation_file"],
        "estimated_finish": _estimated_finish(run) if state == "running" and run.active else None,
        "integrations": [],
        "metadata": record.get("metadata"),
        "user_provided_suffix": record.get("suffix"),
        "method": record.get("method") or {"type": "supervised", "supervised": {"hyperparameters": hp}},
    }


def listing(after: str | None, limit: int | None) -> dict[str, Any]:
    found = page(_records(), after, limit_of(limit, 20, 100))
    found["data"] = [job_object(r) for r in found["data"]]
    return found


def by_model_name(name: str) -> tuple[dict[str, Any], int | None] | None:
    """(job record, checkpoint step or None) for a fine-tuned model or checkpoint name."""
    step = None
    match = re.fullmatch(r"(.*):ckpt-step-(\d+)", name)
    if match:
        name, step = match.group(1), int(match.group(2))
    short = name.rsplit(":", 1)[-1]
    for record in _records():
        if short_id(record) == short and model_name(record) == name:
            return record, step
    return None


def succeeded() -> list[dict[str, Any]]:
    return [r for r in _records() if job_object(r)["status"] == "succeeded"]


def run_folder(record: dict) -> Path:
    return rundir.run_dir(record["run_id"])
