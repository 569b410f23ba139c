"""Long work as jobs that outlive the browser and the Streamlit server.

`launch(kind, argv)` makes `runs/<id>/`, writes spec.yaml, and starts a detached supervisor
(`python -m core.jobs.supervisor RUN_DIR`, its own session) that runs the worker and always
writes the final status. `status(id)` reconciles status.json with process liveness, so a run
whose supervisor and worker both died without a final word is reported as "lost", with the log tail
(a worker that outlives its supervisor is still at work: `stop` and `kill` end it and its children).
Each job gets this process's environment minus its secrets (`SECRET_SUFFIXES`), plus the secrets its
caller names in `secrets=` and the values it passes in `env=`.
Runs are found through the index in SQLite (core.jobs.index): `list_runs(kind, key=, parent=)`
reads the matching rows and reconciles only those runs' folders.
A heavy job (see core.jobs.queue: `needs=` says what it needs) waits in the workspace's queue, "queued" with its
position, until core.jobs.scheduler starts it; a light one starts at once.
Test: `pytest tests/jobs`.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import yaml

from core import paths
from core.jobs import index, procs, queue, rundir
from core.jobs.queue import Needs

ACTIVE, FINAL = rundir.ACTIVE_STATES, rundir.FINAL_STATES
QUEUED_GRACE_S = 60
# An environment variable named like these is a secret: a job gets it only when it names it (FT_API_KEY,
# FT_ADMIN_TOKEN, OPENAI_API_KEY, HF_TOKEN, WANDB_API_KEY, AWS_SECRET_ACCESS_KEY, ...).
SECRET_SUFFIXES = ("API_KEY", "TOKEN", "SECRET", "SECRET_KEY", "ACCESS_KEY", "PASSWORD", "CREDENTIALS")
HUB_SECRETS = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")  # for a job that may download from the Hugging Face Hub


@dataclass
class RunStatus:
    id: str
    kind: str
    title: str
    state: str
    created_at: float
    started_at: float | None = None
    ended_at: float | None = None
    failure: str | None = None
    message: str = ""
    returncode: int | None = None
    progress: dict[str, Any] | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    heartbeat_age_s: float | None = None
    position: int | None = None  # in the queue, 1 = next to start, while it waits

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    @property
    def duration_s(self) -> float | None:
        if not self.started_at:
            return None
        return (self.ended_at or time.time()) - self.started_at


def is_secret(name: str) -> bool:
    upper = name.upper()
    return any(upper == suffix or upper.endswith("_" + suffix) for suffix in SECRET_SUFFIXES)


def job_env(secrets_: tuple[str, ...] = (), env: dict[str, str] | None = None) -> dict[str, str]:
    """A job's environment: this process's without its secrets, plus the named ones it needs, plus `env`."""
    kept = {k: v for k, v in os.environ.items() if not is_secret(k) or k in secrets_}
    return {**kept, **(env or {}), "FT_HOME": str(paths.home()), "PYTHONUNBUFFERED": "1"}


def new_id(kind: str) -> str:
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{kind}-{secrets.token_hex(2)}"


def launch(
    kind: str,
    argv: list[str],
    title: str = "",
    meta: dict | None = None,
    config: dict | None = None,
    env: dict[str, str] | None = None,
    key: str | None = None,
    parent: str | None = None,
    secrets: tuple[str, ...] = (),
    needs: Needs | None = None,
) -> str:
    """Start a job; returns its run id at once. argv is a list, never a shell string.

    "{run_dir}" in an argument is replaced by the run's folder; `config` is stored in spec.yaml
    (the worker reads it from there, and the same file runs again from the command line).
    `env` reaches the supervisor and worker only through their environment, never a file: the
    place for secrets such as an API key. `secrets` names the secrets of this process's environment
    the job needs; every other one (see `is_secret`) is left out. `key` (what the run is for: a
    dataset's content sha, a generation cache key) and `parent` (the run it derives from) are what
    `list_runs` finds it by. `needs` (core.jobs.queue.Needs) is what it needs to start; by default its kind's.
    A heavy job waits in the queue (its environment stored without secrets); one given a secret's value in `env`
    starts at once, as a light one does.
    """
    run_id = new_id(kind)
    folder = rundir.run_dir(run_id)
    before = index._signature()
    folder.mkdir()
    spec = {
        "id": run_id,
        "kind": kind,
        "title": title or kind,
        "argv": [str(a).replace("{run_dir}", str(folder)) for a in argv],
        "meta": meta or {},
        "created_at": time.time(),
    }
    if config is not None:
        spec["config"] = config
    spec.update({"key": key, "parent": parent} if key or parent else {})
    (folder / rundir.SPEC).write_text(yaml.safe_dump(spec, sort_keys=False))
    index.add(index.Entry(run_id, kind, key, parent, spec["created_at"]), before)
    needs = queue.needs_of(kind, spec["meta"], needs)
    # A secret's value passed in `env` is never written down, so such a job cannot wait in the queue: it starts now.
    if needs.light or any(is_secret(k) for k in env or {}):
        rundir.write_json(folder / rundir.STATUS, {"state": "queued", "created_at": spec["created_at"]})
        _supervise(folder, job_env(secrets, env))
        return run_id
    queue.enqueue(folder, needs, job_env(secrets, env), tuple(secrets), spec["created_at"])
    from core.jobs import scheduler  # here: `python -m core.jobs.scheduler` imports this package first

    scheduler.ensure(tuple(secrets))
    return run_id


def _supervise(folder, env: dict[str, str], *flags: str) -> None:
    """Start `python -m core.jobs.supervisor [flags] RUN_DIR` detached, its output in the run's supervisor log."""
    with open(folder / rundir.SUPERVISOR_LOG, "ab") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "core.jobs.supervisor", *flags, str(folder)],
            cwd=paths.REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=err,
            stderr=err,
            start_new_session=True,  # closing the browser or stopping Streamlit never stops it
        )
    threading.Thread(target=proc.wait, daemon=True).start()  # reap it, so it never lingers as a zombie


def _alive(status: dict[str, Any], role: str) -> bool:
    """Is the run's supervisor, guard, stopper or worker (as status.json names them) still that process?"""
    start = status.get(f"{role}_start")
    return start is not None and procs.alive(status.get(f"{role}_pid"), start)


def _queued(status: dict[str, Any], folder) -> dict[str, Any] | None:
    """A run still without a supervisor, as the queue sees it: waiting (with its position), or cancelled."""
    entry = queue.get(folder.name)
    if entry is None or entry.state == "ended":
        return None  # a light job, or one from before the queue: the grace below applies
    if entry.state == "cancelled":  # the canceller's final status; also when a late position update hid it
        raw = rundir.read_json(folder / rundir.STATUS) or {}
        return raw if raw.get("state") == "cancelled" else dict(status, state="cancelled", message=queue.CANCELLED)
    if entry.state == "started":
        if time.time() - (entry.started_at or 0) < QUEUED_GRACE_S:
            return status  # its supervisor is starting
        why = "The queue started it, but its supervisor never ran (the scheduler was killed while starting it)."
        return rundir.lost(status, folder, why)
    from core.jobs import scheduler

    if scheduler.holder() is None:  # whoever watches a waiting job keeps its queue moving, should the scheduler die
        scheduler.ensure()
    where = queue.position(folder.name)
    return dict(status, position=where, message=f"Position {where} in the queue: {queue.waits_for(folder.name)}")


def _reconcile(status: dict[str, Any], folder) -> dict[str, Any]:
    state = status.get("state", "queued")
    if state not in ACTIVE:
        return status
    if state == "queued" and not status.get("supervisor_pid"):
        found = _queued(status, folder)
        if found is not None:
            return found
    if status.get("supervisor_pid"):
        supervised = procs.alive(status["supervisor_pid"], status.get("supervisor_start"))
        # the guard or a stopper writes the final status once the worker and its children are gone
        if supervised or any(_alive(status, role) for role in ("worker", "guard", "stopper")):
            if state == "running" and rundir.stop_requested(folder):
                status["state"] = "stopping"
            if not supervised and _alive(status, "worker"):  # the guard stops it soon; without a guard, Stop does
                status["message"] = "The run's supervisor is gone but its worker is still running; Stop ends it."
            return status
        status = rundir.read_json(folder / rundir.STATUS) or status  # it may have just finished
        if status.get("state") in FINAL:
            return status
    elif time.time() - status.get("created_at", 0) < QUEUED_GRACE_S:
        return status
    return rundir.lost(status, folder, "The run's process ended without a final status (machine restart or killed).")


def status(run_id: str) -> RunStatus:
    folder = rundir.run_dir(run_id)
    spec = rundir.read_spec(folder)
    raw = _reconcile(rundir.read_json(folder / rundir.STATUS) or {}, folder)
    progress = rundir.read_json(folder / rundir.PROGRESS)
    note = rundir.read_json(folder / rundir.NOTE) if raw.get("state") in ACTIVE else None
    beats = (raw.get("updated_at"), (progress or {}).get("at"), (note or {}).get("at"))
    beat = max((p for p in beats if p), default=None)
    return RunStatus(
        id=run_id,
        kind=spec["kind"],
        title=spec.get("title", ""),
        state=raw.get("state", "queued"),
        created_at=spec["created_at"],
        started_at=raw.get("started_at"),
        ended_at=raw.get("ended_at"),
        failure=raw.get("failure"),
        message=(note or {}).get("message") or raw.get("message", ""),  # the worker's line until the final word
        returncode=raw.get("returncode"),
        progress=progress,
        meta=spec.get("meta", {}),
        heartbeat_age_s=time.time() - beat if beat and raw.get("state") in ACTIVE else None,
        position=raw.get("position") if raw.get("state") == "queued" else None,
    )


def list_runs(
    kind: str | None = None,
    key: str | None = None,
    parent: str | None = None,
    active: bool = False,
    limit: int | None = None,
) -> list[RunStatus]:
    """Runs matching every filter given, newest first, each reconciled; `active` keeps only live ones."""
    found, ended = [], {}
    for entry in index.find(kind, key, parent, unended=active, limit=None if active else limit):
        try:
            run = status(entry.id)
        except (OSError, ValueError, KeyError, TypeError):
            continue  # its folder went away (or is half-written) since the index was read
        if run.state in FINAL and entry.ended_at is None:
            ended[entry.id] = run.ended_at or time.time()
        if not active or run.active:
            found.append(run)
    index.mark_ended(ended)
    return found[:limit] if active and limit is not None else found


def _end_orphan(run_id: str, how: str) -> bool:
    """When the run's supervisor is gone but its worker lives, end it in a detached process; True if it did."""
    folder = rundir.run_dir(run_id)
    raw = rundir.read_json(folder / rundir.STATUS) or {}
    if procs.alive(raw.get("supervisor_pid"), raw.get("supervisor_start")) or not _alive(raw, "worker"):
        return False
    if _alive(raw, "stopper"):
        return True  # a second Stop: the first one's stopper is at it
    _supervise(folder, job_env(), how)  # detached: it writes the final status even if this process ends first
    return True


def stop(run_id: str) -> None:
    """Ask the worker to stop at its next step (it saves and exits cleanly); one without a supervisor is then ended.

    A job still waiting in the queue is cancelled instead: it never starts.
    """
    if queue.cancel(run_id):
        return
    (rundir.run_dir(run_id) / rundir.STOP).touch()
    _end_orphan(run_id, "--stop")


def kill(run_id: str) -> None:
    """Terminate the run's process group now (its supervisor, or else a detached stopper, writes the final status)."""
    if queue.cancel(run_id):
        return  # it was still waiting: it never starts
    raw = rundir.read_json(rundir.run_dir(run_id) / rundir.STATUS) or {}
    pid = raw.get("supervisor_pid")
    if pid and procs.alive(pid, raw.get("supervisor_start")):
        os.killpg(pid, signal.SIGTERM)
    else:
        _end_orphan(run_id, "--kill")


def delete(run_id: str) -> None:
    """Remove an ended run's folder and row; a job still waiting in the queue is cancelled first."""
    queue.cancel(run_id)
    if status(run_id).active:
        raise RuntimeError(f"run {run_id} is still active; stop it first")
    shutil.rmtree(rundir.run_dir(run_id))
    index.remove(run_id)
