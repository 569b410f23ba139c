"""The embedding analysis of one dataset version, run as a job: near-duplicates and topics.

`launch_for(sha, ...)` starts `python -m core.data.analyze --sha SHA --threshold T` under the job
supervisor (SHA: the content hash of a version or a draft); the worker embeds each example
(vectors cached by content hash, so an edited version only embeds what changed), finds
near-duplicate clusters with an exact blocked search, clusters the user turns into topics, and writes
`analysis.json` and the vectors into its run folder.
`result_for(sha)` finds the newest finished analysis of the same content (the run index's key is the sha).
Test: `pytest tests/slow/test_analyze_job.py`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

from core import jobs
from core.data import dedup, preference, quality, versions
from core.jobs import rundir

KIND = "analyze"


def run(examples: list[dict], threshold: float, progress) -> tuple[dict, np.ndarray, np.ndarray]:
    """(summary, example vectors, user-turn vectors) for a list of conversations."""
    from core.data import embed

    n = len(examples)
    texts = [dedup.example_text(e) for e in examples]  # a preference pair's: its prompt's
    chats = [preference.as_chat(e) if preference.is_pair(e) else e for e in examples]  # topics read the prompts
    users = [embed.user_text(e.get("messages", [])) for e in chats]
    ex_vecs, computed_ex = embed.embed_cached(texts, progress=lambda d, t: progress(d, 2 * t, "embedding"))
    us_vecs, computed_us = embed.embed_cached(users, progress=lambda d, t: progress(t + d, 2 * t, "topics"))
    pairs = dedup.find_near(ex_vecs, threshold) if n > 1 else []
    near = dedup.clusters(pairs, n)
    diversity = quality.check_diversity(chats, us_vecs)
    summary = {
        "n": n,
        "threshold": threshold,
        "embedded": computed_ex + computed_us,
        "exact": dedup.find_exact(examples),
        "near": [{"rows": c.rows, "max_sim": c.max_sim, "min_sim": c.min_sim} for c in near],
        "diversity": {"verdict": diversity.verdict, "message": diversity.message, **diversity.data},
    }
    return summary, ex_vecs, us_vecs


def launch_for(sha: str, n: int, label: str, threshold: float = dedup.THRESHOLD) -> str:
    """Analyse the content with this hash (a version's or a draft's: both live in the blob store)."""
    argv = [sys.executable, "-m", "core.data.analyze", "--sha", sha, "--threshold", str(threshold)]
    meta = {"sha256": sha, "threshold": threshold, "n": n}
    return jobs.launch(KIND, argv, title=f"Analyse {label} ({n} examples)", meta=meta, key=sha)


def active_for(sha: str) -> jobs.RunStatus | None:
    return next(iter(jobs.list_runs(KIND, key=sha, active=True, limit=1)), None)


def result_for(sha: str) -> dict | None:
    """The newest finished analysis of this content, with its example vectors; None if there is none."""
    for run in jobs.list_runs(KIND, key=sha):
        if run.state == "succeeded":
            folder = rundir.run_dir(run.id)
            summary = json.loads((folder / rundir.ANALYSIS).read_text())
            summary["vectors"] = np.load(folder / rundir.EXAMPLE_VECTORS)
            summary["run_id"] = run.id
            return summary
    return None


def user_vectors(run_id: str) -> np.ndarray:
    return np.load(rundir.run_dir(run_id) / rundir.USER_VECTORS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sha", required=True, help="content hash of a dataset version or draft")
    parser.add_argument("--threshold", type=float, default=dedup.THRESHOLD)
    args = parser.parse_args(argv)
    folder = Path(os.environ.get("FT_RUN_DIR", "."))
    examples = versions.read_blob(args.sha)
    print(f"analysing {len(examples)} examples at cosine >= {args.threshold}", flush=True)
    summary, ex_vecs, us_vecs = run(
        examples, args.threshold, lambda d, t, msg: rundir.report_progress(folder, d, t, msg)
    )
    np.save(folder / rundir.EXAMPLE_VECTORS, ex_vecs)
    np.save(folder / rundir.USER_VECTORS, us_vecs)
    rundir.write_json(folder / rundir.ANALYSIS, summary)
    print(
        f"embedded {summary['embedded']} new texts; {len(summary['near'])} near-duplicate clusters",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
