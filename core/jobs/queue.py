"""The durable job queue: what each heavy job needs, the device's slots, and a FIFO table in the workspace's SQLite.

`core.jobs.launch` asks `needs_of(kind, meta, needs)`: a light job (a hosted run's polling, a remote generation,
an import, a playground reply) starts at once; a heavy one (training, a probe, local generation, analysis,
export, and any kind this module does not know) gets a `job_queue` row (`enqueue`) and waits for
core.jobs.scheduler to start it. A row goes waiting -> started exactly once (`claim`: one UPDATE guarded by
its state, in one transaction, so two schedulers racing never start a job twice) -> ended once its run ended;
or waiting -> cancelled (`cancel`), which writes the run's final "cancelled" status. Order is `seq`, the
launch order unless a job was moved to the front; a job's position is its rank among the waiting ones.
Slots (`slots()`): FT_SLOTS, else the workspace setting `job_slots`, else one per GPU, or on a CPU one heavy
job at a time up to 4 cores and cores//4 beyond. A GPU job also needs that many GPUs free (their ids reach it
through CUDA_VISIBLE_DEVICES); a job's memory estimate must fit beside the running ones' (a job alone always
may start, so none waits forever).
Test: `pytest tests/jobs/test_queue.py`.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from core import store
from core.jobs import rundir
from core.train import device

SLOTS_SETTING = "job_slots"
# Kinds that never wait: an import reads a file or the hub; everything not named here is heavy by default.
LIGHT_KINDS = ("import",)
CANCELLED = "Cancelled while queued; it never started."


@dataclass(frozen=True)
class Needs:
    """What a job needs to start: a CPU slot, or `gpus` GPUs; roughly `memory_gb`; a light job needs nothing."""

    device: str = "cpu"  # "cpu" or "gpu"
    gpus: int = 1
    memory_gb: float | None = None
    light: bool = False

    @property
    def label(self) -> str:
        if self.light:
            return "nothing (light)"
        what = "a CPU slot" if self.device == "cpu" else ("a GPU" if self.gpus == 1 else f"{self.gpus} GPUs")
        return what + (f", about {self.memory_gb:.1f} GB" if self.memory_gb else "")


LIGHT = Needs(light=True)


def heavy(gpus: int = 1, memory_gb: float | None = None) -> Needs:
    """A heavy job on this machine's device: `gpus` GPUs (as many as there are, at most) where any, else a CPU slot."""
    have = device.gpu_count()
    if have:
        return Needs("gpu", max(1, min(gpus, have)), memory_gb)
    return Needs("cpu", 1, memory_gb)


def needs_of(kind: str, meta: dict, needs: Needs | None = None) -> Needs:
    """The caller's declaration, else the kind's default: a hosted provider's run and an import are light."""
    if needs is not None:
        return needs
    if kind in LIGHT_KINDS or (kind == "train" and meta.get("provider")):
        return LIGHT
    return heavy()


# ---- slots -----------------------------------------------------------------------------------------


def default_slots() -> int:
    gpus = device.gpu_count()
    if gpus:
        return gpus  # one training job per GPU
    cores = os.cpu_count() or 1
    return 1 if cores <= 4 else cores // 4


def slots() -> tuple[int, str]:
    """(heavy jobs at once, where that number comes from)."""
    env = os.environ.get("FT_SLOTS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env), "the FT_SLOTS environment variable"
    saved = store.get_setting(SLOTS_SETTING)
    if isinstance(saved, int) and saved > 0:
        return saved, "the workspace setting"
    return default_slots(), "this machine's default"


def set_slots(n: int | None) -> None:
    """Save the slots setting; None goes back to the device's default."""
    if n is None:
        store.delete_setting(SLOTS_SETTING)
        return
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"slots must be a whole number of at least 1, not {n!r}")
    store.set_setting(SLOTS_SETTING, n)


def gpu_ids() -> list[str]:
    """The ids to put in a job's CUDA_VISIBLE_DEVICES, one per GPU this process sees."""
    count = device.gpu_count()
    picked = os.environ.get("CUDA_VISIBLE_DEVICES")
    if picked is None:
        return [str(i) for i in range(count)]
    return [t.strip() for t in picked.split(",") if t.strip()][:count]


def memory_total_gb() -> float | None:
    """The memory heavy jobs share: one GPU's on a GPU machine (each job has its own), else this machine's RAM."""
    found = device.gpus()
    if found:
        return None  # a GPU job has its GPUs to itself: memory is the pre-flight's verdict, not a share
    try:
        return device.parse_meminfo(Path("/proc/meminfo").read_text()).get("MemTotal")
    except OSError:
        return None


# ---- the table -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    run_id: str
    seq: int
    state: str  # waiting, started, ended, cancelled
    needs: Needs
    queued_at: float
    started_at: float | None
    gpu_ids: tuple[str, ...]
    env: dict
    secrets: tuple[str, ...]


COLUMNS = "run_id, seq, state, device, gpus, memory_gb, queued_at, started_at, gpu_ids, env, secrets"


def _entry(row) -> Entry:
    needs = Needs(row["device"], row["gpus"], row["memory_gb"])
    ids = tuple(json.loads(row["gpu_ids"])) if row["gpu_ids"] else ()
    secrets = tuple(json.loads(row["secrets"]))
    return Entry(
        row["run_id"], row["seq"], row["state"], needs, row["queued_at"], row["started_at"], ids,
        json.loads(row["env"]), secrets,
    )  # fmt: skip


def _select(where: str, args: tuple = ()) -> list[Entry]:
    with store.connect() as db:
        return [_entry(r) for r in db.execute(f"SELECT {COLUMNS} FROM job_queue WHERE {where} ORDER BY seq", args)]


def get(run_id: str) -> Entry | None:
    return next(iter(_select("run_id=?", (run_id,))), None)


def waiting() -> list[Entry]:
    """The jobs waiting, in the order they will start."""
    return _select("state='waiting'")


def started() -> list[Entry]:
    """The jobs started whose end the scheduler has not seen yet: they hold their slots."""
    return _select("state='started'")


def _position(db, seq: int) -> int:
    return db.execute("SELECT COUNT(*) FROM job_queue WHERE state='waiting' AND seq<=?", (seq,)).fetchone()[0]


def position(run_id: str) -> int | None:
    """1 for the next job to start; None when it is not waiting."""
    with store.connect() as db:
        row = db.execute("SELECT seq FROM job_queue WHERE run_id=? AND state='waiting'", (run_id,)).fetchone()
        return _position(db, row[0]) if row else None


def enqueue(folder: Path, needs: Needs, env: dict[str, str], secrets: tuple[str, ...], created_at: float) -> int:
    """Queue a run just made (its index row exists) and write its first status; returns its position.

    `env` is stored without its secrets (a database is a file): the scheduler adds the named `secrets` from its
    own environment, which core.jobs.scheduler.ensure gives it (core.jobs.launch never queues a secret's value).
    """
    kept = {k: v for k, v in env.items() if not _is_secret(k)}
    with store.connect() as db, store.transaction(db):
        seq = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM job_queue").fetchone()[0]
        db.execute(
            "INSERT INTO job_queue (run_id, seq, device, gpus, memory_gb, env, secrets, queued_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (folder.name, seq, needs.device, needs.gpus, needs.memory_gb, json.dumps(kept), json.dumps(secrets),
             created_at),
        )  # fmt: skip
        where = _position(db, seq)
        # Written before the commit: the scheduler cannot see the row, so no supervisor races this first status.
        rundir.write_json(folder / rundir.STATUS, {"state": "queued", "created_at": created_at, "position": where})
    return where


def _is_secret(name: str) -> bool:
    from core.jobs import is_secret  # the one rule for what a secret is

    return is_secret(name)


def claim(run_id: str, ids: list[str]) -> bool:
    """Mark a waiting job started; True for the one caller that did (a second claim, or a cancelled job, is False)."""
    with store.connect() as db, store.transaction(db):
        done = db.execute(
            "UPDATE job_queue SET state='started', started_at=?, gpu_ids=? WHERE run_id=? AND state='waiting'",
            (time.time(), json.dumps(ids), run_id),
        ).rowcount
    return done == 1


def release(run_id: str) -> None:
    """The run ended: its slot is free."""
    with store.connect() as db, store.transaction(db):
        db.execute("UPDATE job_queue SET state='ended' WHERE run_id=? AND state='started'", (run_id,))


def cancel(run_id: str, message: str = "") -> bool:
    """Cancel a waiting job (it never starts; its status ends as "cancelled"); False when it was not waiting."""
    with store.connect() as db, store.transaction(db):
        done = db.execute("UPDATE job_queue SET state='cancelled' WHERE run_id=? AND state='waiting'", (run_id,))
        if done.rowcount != 1:
            return False
    folder = rundir.run_dir(run_id)
    raw = rundir.read_json(folder / rundir.STATUS) or {}
    now = time.time()
    rundir.write_json(
        folder / rundir.STATUS,
        {"state": "cancelled", "created_at": raw.get("created_at"), "message": message or CANCELLED, "ended_at": now,
         "updated_at": now},
    )  # fmt: skip
    return True


def move_to_front(run_id: str) -> bool:
    """Make a waiting job the next to start; False when it is not waiting."""
    with store.connect() as db, store.transaction(db):
        first = db.execute("SELECT MIN(seq) FROM job_queue WHERE state='waiting'").fetchone()[0]
        done = db.execute(
            "UPDATE job_queue SET seq=? WHERE run_id=? AND state='waiting'", ((first or 1) - 1, run_id)
        ).rowcount
    return done == 1


# ---- what fits -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Capacity:
    slots: int
    gpu_ids: tuple[str, ...]
    memory_gb: float | None


def capacity() -> Capacity:
    return Capacity(slots()[0], tuple(gpu_ids()), memory_total_gb())


def fit(needs: Needs, running: list[Entry], cap: Capacity) -> tuple[list[str] | None, str]:
    """(GPU ids to hand the job, "") when it can start beside `running`; (None, what it waits for) when not."""
    names = ", ".join(e.run_id for e in running)
    if len(running) >= cap.slots:
        slot = "a CPU slot" if needs.device == "cpu" else "a slot"
        return None, f"waits for {slot}: {names} {'is' if len(running) == 1 else 'are'} running"
    ids: list[str] = []
    if needs.device == "gpu":
        busy = {i for e in running for i in e.gpu_ids}
        free = [i for i in cap.gpu_ids if i not in busy]
        if len(free) < needs.gpus:
            what = "a GPU" if needs.gpus == 1 else f"{needs.gpus} GPUs"
            return None, f"waits for {what}: {names} {'is' if len(running) == 1 else 'are'} running"
        ids = free[: needs.gpus]
    used = sum(e.needs.memory_gb or 0 for e in running)
    if running and needs.memory_gb and cap.memory_gb and used + needs.memory_gb > cap.memory_gb:
        return None, (
            f"waits for memory: it needs about {needs.memory_gb:.1f} GB and {names} use {used:.1f} GB "
            f"of {cap.memory_gb:.1f} GB"
        )
    return ids, ""


def waits_for(run_id: str) -> str:
    """Why a waiting job has not started, in words ("" when it is not waiting)."""
    queue = waiting()
    ahead = next((i for i, e in enumerate(queue) if e.run_id == run_id), None)
    if ahead is None:
        return ""
    if ahead:
        first = queue[0].run_id
        return f"waits behind {ahead} queued job{'s' if ahead > 1 else ''} (next: {first})"
    ids, why = fit(queue[0].needs, started(), capacity())
    return why or "starts in a moment"


def _title(run_id: str) -> str:
    try:
        return rundir.read_spec(rundir.run_dir(run_id)).get("title") or run_id
    except (OSError, ValueError, AttributeError):
        return run_id


def starts_after(needs: Needs | None = None) -> str | None:
    """The title of the run a heavy job launched now would start after, or None when it would start at once."""
    queue = waiting()
    if queue:
        return _title(queue[-1].run_id)
    from core import jobs  # its reconciled status: a run whose processes died holds no slot

    running = [e for e in started() if jobs.status(e.run_id).active]
    ids, _why = fit(needs or heavy(), running, capacity())
    return None if ids is not None else _title(running[0].run_id)
