"""What the Runs page reads back from a run folder: rows for the list, best loss, the parent's curve,
and the pre-flight's estimate (kept in the run's meta at launch) beside what the run measured.

Plain functions over core.jobs statuses and the run-dir files (summary.json, samples.json,
metrics.jsonl); no Streamlit. Test: `pytest tests/app/test_runs_page.py tests/app/test_costs_page.py`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from core import jobs
from core.data import versions
from core.jobs import rundir
from core.money import duration


def finite(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def read_summary(folder: Path) -> dict[str, Any]:
    return rundir.read_json(folder / rundir.SUMMARY) or {}


def read_samples(folder: Path) -> list[dict[str, Any]]:
    try:
        found = json.loads((folder / rundir.SAMPLES).read_text())
    except (OSError, ValueError):
        return []
    return [s for s in found if isinstance(s, dict)] if isinstance(found, list) else []


def latest(rows: list[dict], name: str) -> Any:
    """The newest value of a metric (rows of the other kind leave it null)."""
    return next((r[name] for r in reversed(rows) if r.get(name) is not None), None)


def best_eval(rows: list[dict], summary: dict | None = None) -> tuple[float, int | None] | None:
    """(lowest validation loss, its step): summary.json's word first, else the metrics'."""
    if summary and finite(summary.get("best_eval_loss")):
        return summary["best_eval_loss"], summary.get("best_step")
    evals = [(r["eval_loss"], r.get("step")) for r in rows if finite(r.get("eval_loss"))]
    return min(evals, key=lambda e: e[0]) if evals else None


def dataset_label(version_id: Any) -> str:
    if version_id is None:
        return ""
    try:
        return versions.get(int(version_id)).label
    except (KeyError, ValueError, TypeError):
        return f"version {version_id} (deleted)"


def model_label(model: Any) -> str:
    text = str(model or "")
    return Path(text).name if text.startswith(("/", ".", "~")) else text


def run_row(run: jobs.RunStatus) -> dict[str, Any]:
    """One line of the run list."""
    folder = rundir.run_dir(run.id)
    best = best_eval(rundir.read_metrics(folder), read_summary(folder))
    progress = run.progress or {}
    return {
        "run": run.id,
        "title": run.title,
        "state": run.state + (f" ({run.failure})" if run.failure else ""),
        "method": run.meta.get("method", "") + (" dpo" if run.meta.get("objective") == "dpo" else ""),
        "model": model_label(run.meta.get("model")),
        "dataset": dataset_label(run.meta.get("dataset_version")),
        "step": f"{progress.get('done', 0)} / {progress.get('total', '?')}" if progress else "",
        "duration": duration(run.duration_s),
        "best validation loss": best[0] if best else None,
    }


def resume_step(run: jobs.RunStatus) -> int | None:
    step = run.meta.get("resumed_from_step")
    return int(step) if isinstance(step, int | float) else None


def parent_rows(run: jobs.RunStatus) -> list[dict]:
    """The parent run's metrics up to the step this run resumed from (empty without a parent)."""
    parent, step = run.meta.get("parent_run"), resume_step(run)
    if not parent:
        return []
    try:
        rows = rundir.read_metrics(rundir.run_dir(parent))
    except ValueError:
        return []
    return [r for r in rows if step is None or (r.get("step") or 0) <= step]


def folder_files(folder: Path) -> list[dict[str, Any]]:
    """Files of an artifact folder with their sizes (MB), for a table."""
    if not folder.is_dir():
        return []
    return [
        {"file": str(p.relative_to(folder)), "MB": round(p.stat().st_size / 2**20, 3)}
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    ]


def folder_mb(folder: Path) -> float:
    return round(sum(f["MB"] for f in folder_files(folder)), 2)


# ---- the estimate against what the run measured ------------------------------------------------


def ratio(estimate: Any, measured: Any) -> float | None:
    """estimate / measured: above 1 the pre-flight said more than the run used."""
    if finite(estimate) and finite(measured) and estimate > 0 and measured > 0:
        return round(estimate / measured, 3)
    return None


def estimate_vs_measured(run: jobs.RunStatus) -> list[dict[str, Any]]:
    """Peak memory and training time: the launch's estimate, the run's measurement, their ratio, how each was had."""
    est, got = run.meta.get("estimate") or {}, read_summary(rundir.run_dir(run.id))
    rows = (
        ("peak memory (GB)", est.get("memory_gb"), got.get("peak_memory_gb"), got.get("peak_memory_measure")),
        ("training time (s)", est.get("time_s"), got.get("train_seconds"), est.get("time_source")),
    )
    return [
        {"what": what, "estimate": e, "measured": m, "estimate / measured": ratio(e, m), "how": how or ""}
        for what, e, m, how in rows
    ]


def estimator_errors(runs: list[jobs.RunStatus]) -> list[dict[str, Any]]:
    """One row per run that has an estimate and a measurement: the estimator's error on this workspace."""
    out = []
    for run in runs:
        memory, time = estimate_vs_measured(run)
        if memory["estimate / measured"] is None and time["estimate / measured"] is None:
            continue
        out.append(
            {
                "run": run.id,
                "method": run.meta.get("method", ""),
                "model": model_label(run.meta.get("model")),
                "memory_ratio": memory["estimate / measured"],
                "time_ratio": time["estimate / measured"],
                "time_source": time["how"],
            }
        )
    return out
