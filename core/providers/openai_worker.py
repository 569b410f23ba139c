"""The OpenAI fine-tuning worker: upload, create, follow and cancel a job, into the run-dir contract.

Started by core.providers.openai_ft.launch as `python -m core.providers.openai_worker RUN_DIR`, with
the key in OPENAI_API_KEY. It writes the split as train.jsonl and validation.jsonl, uploads them
(purpose fine-tune), creates the job and keeps the remote ids in remote.json. Then it polls:
status, trained tokens and ETA -> progress.json and note.json's message; new events ->
train.log, oldest first; each new checkpoint -> one metrics.jsonl row in the shared schema;
succeeded -> summary.json with the fine-tuned model and the actual cost (on api.openai.com only).
STOP cancels the job. Network failures and 5xx answers are retried without end (the run keeps
waiting), but for CANCEL_BUDGET_S only once STOP is in; rate limits with backoff for a long
budget; anything else ends the run in the plain words of openai_ft.explain. The key is
scrubbed from every line written.
Test: `.venv/bin/pytest tests/jobs/test_openai_provider.py -q`.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.jobs import rundir
from core.jsonl import JsonlError
from core.openai_spec import HYPERPARAMETERS
from core.providers import openai_ft

FINAL = ("succeeded", "failed", "cancelled")
MAX_WAIT_S = 60.0  # the longest pause between two retries
REQUEST_TIMEOUT_S = 120.0
CANCEL_BUDGET_S = 5 * 60.0  # after STOP, how long network failures are retried before the run gives up
OPENAI_HOST = "api.openai.com"


class Fatal(Exception):
    """The run cannot go on: a failure kind and the words the Runs page shows."""

    def __init__(self, failure: str, message: str) -> None:
        super().__init__(message)
        self.failure, self.message = failure, message


class Unreachable(Fatal):
    """STOP is in, but the service stayed unreachable for CANCEL_BUDGET_S."""


@dataclass
class Ctx:
    folder: Path
    job: openai_ft.OpenAIJob
    secret: str
    done: int = 0
    total: int = 0
    message: str = ""
    remote: dict[str, Any] = field(default_factory=dict)
    warned: set[str] = field(default_factory=set)


# ---- reporting ---------------------------------------------------------------------------------


def log(ctx: Ctx, line: str) -> None:
    print(openai_ft.scrub(line, ctx.secret), flush=True)  # the supervisor sends stdout to train.log


def say(ctx: Ctx, message: str) -> None:
    """The progress line and status message the Runs page shows (note.json only when it changes)."""
    message = openai_ft.scrub(message, ctx.secret)
    rundir.report_progress(ctx.folder, ctx.done, ctx.total, message)
    if message != ctx.message:
        rundir.report_note(ctx.folder, message)
        ctx.message = message


def save_remote(ctx: Ctx) -> None:
    rundir.write_json(ctx.folder / rundir.REMOTE, ctx.remote)


def nap(ctx: Ctx, seconds: float, wake_on_stop: bool) -> bool:
    """Sleep; True as soon as STOP appears (when asked to wake for it)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if wake_on_stop and rundir.stop_requested(ctx.folder):
            return True
        time.sleep(min(0.1, max(0.0, end - time.monotonic())))
    return wake_on_stop and rundir.stop_requested(ctx.folder)


def call(
    ctx: Ctx,
    fn: Callable[[], Any],
    during: str,
    stoppable: bool = True,
    first_wait_s: float = 1.0,
    budget_s: float = openai_ft.RATE_LIMIT_BUDGET_S,
) -> Any:
    """fn(), retried with exponential backoff while the error is transient; Fatal otherwise.

    A network failure or a 5xx answer is retried without end (the run waits for the network);
    rate limits for budget_s in a row. Stopped when STOP appears during a pause, if stoppable;
    otherwise, once STOP is in, retries stop after CANCEL_BUDGET_S (Unreachable).
    """
    attempt, limited_since, stop_since = 0, None, None
    while True:
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - every error becomes a retry or plain words
            words = openai_ft.transient(exc)
            if words is None:
                raise Fatal(*openai_ft.explain(exc, during)) from None
            limited_since = (limited_since or time.monotonic()) if words == "rate limited" else None
            if limited_since is not None and time.monotonic() - limited_since > budget_s:
                raise Fatal(*openai_ft.explain(exc, during)) from None
            wait = min(MAX_WAIT_S, first_wait_s * 2**attempt)
            if not stoppable and rundir.stop_requested(ctx.folder):
                stop_since = stop_since or time.monotonic()
                left = CANCEL_BUDGET_S - (time.monotonic() - stop_since)
                if left <= 0:
                    raise Unreachable("unreachable", f"{words} while {during}: {openai_ft.their_words(exc)}") from None
                wait = min(wait, left)
            attempt += 1
            say(ctx, f"{words}, retrying in {wait:.3g} s ({during})")
            log(ctx, f"{words} while {during}: {openai_ft.their_words(exc)}; retrying in {wait:.3g} s")
            if nap(ctx, wait, stoppable):
                raise rundir.Stopped from None


def unseen(items: Iterable[Any], seen: set[str]) -> list[Any]:
    """Items of a newest-first listing up to the first one already seen (pages are fetched lazily)."""
    out = []
    for item in items:
        if item.id in seen:
            break
        out.append(item)
    return out


# ---- the flow ----------------------------------------------------------------------------------


def export(ctx: Ctx) -> dict[str, Path]:
    """train.jsonl (and validation.jsonl when the split has one) in the run folder."""
    out = {}
    for name, data in openai_ft.split_files(ctx.job).items():
        if data:
            out[name] = ctx.folder / f"{name}.jsonl"
            out[name].write_bytes(data)
    return out


def upload(ctx: Ctx, client: Any, path: Path) -> str:
    name = f"{ctx.folder.name}-{path.name}"  # the run id names the file in OpenAI's dashboard

    def send() -> Any:
        with open(path, "rb") as f:
            return client.files.create(file=(name, f), purpose="fine-tune")

    say(ctx, f"uploading {path.name}")
    log(ctx, f"Uploading {path.name} as {name} ({path.stat().st_size:,} bytes)")
    file = call(ctx, send, f"uploading {path.name}")
    log(ctx, f"Uploaded {path.name}: {file.id}")
    return file.id


def request(job: openai_ft.OpenAIJob, remote: dict[str, Any]) -> dict[str, Any]:
    """fine_tuning.jobs.create's arguments (hyperparameters in the `method` form, the current one)."""
    body: dict[str, Any] = {
        "model": job.model,
        "training_file": remote["training_file"],
        "method": openai_ft.method(job),  # supervised or dpo, with that method's hyperparameters
    }
    if remote.get("validation_file"):
        body["validation_file"] = remote["validation_file"]
    if job.suffix:
        body["suffix"] = job.suffix
    if job.seed is not None:
        body["seed"] = job.seed
    return body


def create(ctx: Ctx, client: Any) -> Any:
    body, tries = request(ctx.job, ctx.remote), []

    def send() -> Any:
        tries.append(1)
        if len(tries) > 1:  # the last attempt may have reached OpenAI before the connection broke
            made = client.fine_tuning.jobs.list(limit=20).data
            found = next((j for j in made if j.training_file == body["training_file"]), None)
            if found is not None:
                return found
        return client.fine_tuning.jobs.create(**body)

    if rundir.stop_requested(ctx.folder):
        raise rundir.Stopped
    say(ctx, "creating the job")
    try:  # not stoppable: a request that timed out may have created a (paid) job; follow() cancels it
        return call(ctx, send, "creating the job", stoppable=False)
    except Unreachable as e:
        raise Fatal(
            e.failure,
            f"could not create or cancel the job: the service is unreachable ({e.message}); "
            "a job may have been created and still be running, check the provider's dashboard.",
        ) from None


def resolved(remote: Any) -> dict[str, Any]:
    """The hyperparameters OpenAI settled on (numbers once the job starts; "auto" before)."""
    hp = getattr(remote, "hyperparameters", None)
    method = getattr(remote, "method", None)
    supervised = getattr(getattr(method, "supervised", None), "hyperparameters", None)
    source = supervised or hp
    return {name: getattr(source, name, None) for name in HYPERPARAMETERS} if source else {}


def _number(x: Any) -> float | None:
    return float(x) if isinstance(x, int | float) and not isinstance(x, bool) else None


def checkpoint_row(ctx: Ctx, ckpt: Any, remote: Any) -> dict[str, Any]:
    """A checkpoint as a metrics.jsonl row: OpenAI's names mapped onto the shared schema."""
    m, step = ckpt.metrics, int(ckpt.step_number)
    epochs = _number(resolved(remote).get("n_epochs"))
    full = m.full_valid_loss if m.full_valid_loss is not None else m.valid_loss
    accuracy = m.full_valid_mean_token_accuracy
    finish = remote.estimated_finish
    return {
        "step": step,
        "epoch": step / ctx.total * epochs if ctx.total and epochs else None,
        "loss": m.train_loss,
        "eval_loss": full,
        "train_mean_token_accuracy": m.train_mean_token_accuracy,
        "valid_mean_token_accuracy": accuracy if accuracy is not None else m.valid_mean_token_accuracy,
        "elapsed_s": max(0, ckpt.created_at - remote.created_at),
        "eta_s": max(0.0, finish - time.time()) if finish else None,
        "checkpoint": ckpt.fine_tuned_model_checkpoint,
    }


def optional(ctx: Ctx, fn: Callable[[], list], during: str) -> list:
    """A listing the run can do without (a service may lack checkpoints): refused -> logged once, empty."""
    try:
        return call(ctx, fn, during, stoppable=False)
    except Fatal as e:
        if during not in ctx.warned:
            ctx.warned.add(during)
            log(ctx, f"Skipped {during}: {e.message}")
        return []


def new_events(ctx: Ctx, client: Any, seen: set[str]) -> None:
    job_id = ctx.remote["job_id"]
    fresh = optional(
        ctx, lambda: unseen(client.fine_tuning.jobs.list_events(job_id, limit=100), seen), "reading the job's events"
    )
    for ev in reversed(fresh):  # listed newest first; the log reads oldest first
        seen.add(ev.id)
        at = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ev.created_at))
        log(ctx, f"{at} {ev.level}: {ev.message}")
        data = ev.data if isinstance(ev.data, dict) else {}
        if _number(data.get("step")) is not None:
            ctx.done = int(data["step"])
            ctx.total = int(_number(data.get("total_steps")) or ctx.total)


def new_checkpoints(ctx: Ctx, client: Any, remote: Any, seen: set[str]) -> None:
    """One row per checkpoint; with a validation file, once its validation loss is in (or the job ended)."""
    job_id = ctx.remote["job_id"]
    listed = optional(
        ctx, lambda: list(client.fine_tuning.jobs.checkpoints.list(job_id, limit=100)), "reading the job's checkpoints"
    )
    for ckpt in sorted(listed, key=lambda c: c.step_number):
        row = checkpoint_row(ctx, ckpt, remote)
        pending = ctx.remote.get("validation_file") and row["eval_loss"] is None and remote.status not in FINAL
        if ckpt.id in seen or pending:  # a service may list a checkpoint before validating it
            continue
        seen.add(ckpt.id)
        rundir.append_metrics(ctx.folder, row)


def record(ctx: Ctx, remote: Any) -> None:
    """remote.json's snapshot, and the status line: state, tokens trained, time left."""
    ctx.remote.update(
        status=remote.status,
        trained_tokens=remote.trained_tokens,
        updated_at=time.time(),
        estimated_finish=remote.estimated_finish,
        fine_tuned_model=remote.fine_tuned_model,
        hyperparameters=resolved(remote),
    )
    save_remote(ctx)
    if remote.status == "succeeded" and ctx.total:
        ctx.done = ctx.total
    words = f"OpenAI: {remote.status.replace('_', ' ')}"
    if remote.trained_tokens:
        words += f" · {remote.trained_tokens:,} tokens trained"
    if remote.estimated_finish and remote.status not in FINAL:
        words += f" · about {max(0, remote.estimated_finish - time.time()) / 60:.0f} min left"
    say(ctx, words)


def cancel(ctx: Ctx, client: Any) -> None:
    log(ctx, f"Cancel requested: cancelling {ctx.remote['job_id']} on OpenAI")
    say(ctx, "cancelling the job on OpenAI")
    try:
        call(ctx, lambda: client.fine_tuning.jobs.cancel(ctx.remote["job_id"]), "cancelling the job", stoppable=False)
    except Unreachable:
        raise
    except Fatal as e:  # it ended first (OpenAI refuses to cancel a finished job): the status says how
        log(ctx, f"Not cancelled: {e.message}")


def is_openai(base_url: str | None) -> bool:
    """Whether the job ran on OpenAI itself (which bills at its price), not a compatible service."""
    return not base_url or urllib.parse.urlparse(base_url).hostname == OPENAI_HOST


def summarize(ctx: Ctx, remote: Any) -> dict[str, Any]:
    """summary.json: the model, trained tokens, and their cost at the dated training price."""
    row, trained = openai_ft.price_row(ctx.job.model), remote.trained_tokens
    per_1m = float(row["training"]) if row else None
    actual = trained * per_1m / 1e6 if per_1m is not None and trained is not None else None
    billed = is_openai(ctx.job.base_url)
    actual = actual if billed else None  # OpenAI's price says nothing of a local or other service
    estimate = ctx.remote.get("estimate") or {}
    return {
        "provider": "openai",
        "remote_job_id": remote.id,
        "model": remote.model,
        "fine_tuned_model": remote.fine_tuned_model,
        "trained_tokens": trained,
        "training_usd_per_1m": per_1m,
        "actual_usd": actual,
        "price_model": row["model"] if row else None,
        "price_as_of": row.get("as_of") if row else None,
        "price_source": row.get("source") if row else None,
        "estimated_usd": estimate.get("training_usd"),
        "estimated_billed_tokens": estimate.get("billed_tokens"),
        "train_examples": estimate.get("examples"),
        "validation_examples": estimate.get("validation_examples"),
        "hyperparameters": resolved(remote),
        "result_files": list(remote.result_files or []),
        "finished_at": remote.finished_at,
        "base_url": ctx.job.base_url,
        "cost_note": None if billed else f"no charge: not {OPENAI_HOST}",
    }


def finish(ctx: Ctx, remote: Any, cancel_sent: bool) -> int:
    if remote.status == "succeeded":
        summary = summarize(ctx, remote)
        rundir.write_json(ctx.folder / rundir.SUMMARY, summary)
        note = f"; {summary['cost_note']}" if summary["cost_note"] else ""
        log(ctx, f"Fine-tuned model: {remote.fine_tuned_model} ({remote.trained_tokens} tokens trained{note})")
        return 0
    if remote.status == "cancelled":
        if cancel_sent:
            log(ctx, f"The job {remote.id} was cancelled on OpenAI.")
            return 0
        raise Fatal(
            "cancelled remotely",
            f"The job {remote.id} was cancelled on OpenAI's side (its dashboard "
            "or another client), not from the Runs page.",
        )
    err = remote.error
    said = f"{err.message} (code {err.code})" if err else "OpenAI gave no reason"
    kind = "bad data" if err and (err.param or "").endswith("file") else "failed on OpenAI"
    raise Fatal(kind, f"OpenAI's job {remote.id} failed: {said}")


def follow(ctx: Ctx, client: Any) -> int:
    """Poll until the job is final; STOP sends one cancel and the loop waits for its outcome."""
    job_id, events, checkpoints, cancel_sent = ctx.remote["job_id"], set(), set(), False
    while True:
        try:
            if not cancel_sent and rundir.stop_requested(ctx.folder):
                cancel(ctx, client)
                cancel_sent = True
            remote = call(ctx, lambda: client.fine_tuning.jobs.retrieve(job_id), "checking the job", stoppable=False)
        except Unreachable as e:  # STOP asked, but the service stayed out of reach
            raise Fatal(
                e.failure,
                f"could not cancel job {job_id}: the service is unreachable ({e.message}); "
                "it may still be running, check the provider's dashboard.",
            ) from None
        except Fatal as e:  # we lost sight of it; OpenAI may still be training (and billing)
            raise Fatal(
                e.failure,
                f"{e.message} The job {job_id} may still be running: check or cancel it in OpenAI's dashboard.",
            ) from None
        new_events(ctx, client, events)
        new_checkpoints(ctx, client, remote, checkpoints)
        record(ctx, remote)
        if remote.status in FINAL:
            return finish(ctx, remote, cancel_sent)
        nap(ctx, ctx.job.poll_interval_s, wake_on_stop=not cancel_sent)


def run(ctx: Ctx) -> int:
    found = openai_ft.problems(ctx.job)
    if found:
        raise Fatal("bad config", "; ".join(found))
    if not ctx.secret:
        raise Fatal(
            "no key",
            "No OpenAI API key reached the worker (OPENAI_API_KEY). Launch from the Train "
            "page, or set OPENAI_API_KEY before running it from a shell.",
        )
    from openai import OpenAI

    url = ctx.job.base_url or openai_ft.DEFAULT_BASE_URL
    client = OpenAI(api_key=ctx.secret, base_url=url, max_retries=0, timeout=REQUEST_TIMEOUT_S)
    say(ctx, "preparing the files")
    try:
        estimate = openai_ft.estimate(ctx.job)
    except JsonlError as e:
        raise Fatal("bad data", f"The dataset version cannot be sent to OpenAI: {e}") from None
    log(
        ctx,
        f"{ctx.job.model} at {url}: {estimate['examples']} training examples, {estimate['billed_tokens']:,} "
        f"billed tokens over {estimate['epochs']} epoch(s) (estimate)",
    )
    files = export(ctx)
    ctx.remote = {"provider": "openai", "base_url": ctx.job.base_url, "estimate": estimate}
    ctx.remote["training_file"] = upload(ctx, client, files["train"])
    save_remote(ctx)
    if "validation" in files:
        ctx.remote["validation_file"] = upload(ctx, client, files["validation"])
        save_remote(ctx)
    made = create(ctx, client)
    ctx.remote["job_id"] = made.id
    save_remote(ctx)
    log(ctx, f"Created fine-tuning job {made.id} ({made.model}, status {made.status})")
    return follow(ctx, client)


def fail(ctx: Ctx, failure: str, message: str) -> int:
    message = openai_ft.scrub(message, ctx.secret)
    log(ctx, f"{failure}: {message}")
    rundir.explain_failure(ctx.folder, failure, message)
    return 1


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m core.providers.openai_worker RUN_DIR (with OPENAI_API_KEY set)", file=sys.stderr)
        return 2
    folder = Path(argv[0])
    ctx = Ctx(folder, openai_ft.OpenAIJob(), os.environ.get("OPENAI_API_KEY", "").strip())
    try:
        ctx.job = openai_ft.from_dict(rundir.read_spec(folder).get("config") or {})
        return run(ctx)
    except rundir.Stopped:
        log(ctx, "Stopped before a job was created on OpenAI; nothing to cancel.")
        return 0
    except Fatal as e:
        return fail(ctx, e.failure, e.message)
    except Exception as e:  # noqa: BLE001 - a traceback goes to the log, plain words to the page
        log(ctx, traceback.format_exc())
        return fail(ctx, "error", f"The OpenAI worker stopped on {type(e).__name__}: {e}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
