"""A Hugging Face dataset (a hub id, a `save_to_disk` folder, a local dataset folder) fetched as a job.

`launch(source, max_bytes)` starts `python -m core.data.fetch SOURCE --max-bytes N` under the job supervisor: the
download and `datasets` itself stay out of the app process, and the size limit holds as it does for an upload. The
worker reads the source with core.data.readers and writes every record, as read, to the run folder's `records.jsonl`
(rundir.RECORDS) with `import.json` (rundir.IMPORTED: the source and the reader's notes). The import form then reads
that file like an upload: layout detection, column mapping and preview are the same for every source.
Test: `pytest tests/jobs/test_import_job.py tests/app/test_data_import.py`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from core import jobs, tempfiles
from core.cli import fail
from core.data import DataError, Finding, readers
from core.jobs import rundir
from core.jobs.supervisor import EXIT_BAD_DATA

KIND = "import"
EVERY = 5000  # records between progress reports while writing


@dataclass
class Fetched:
    """A finished fetch: the records file to load, what was fetched, the container it was, and the reader's notes."""

    path: Path
    origin: str
    source: str
    findings: list[Finding]


def launch(source: str, max_bytes: int, fmt: str | None = None) -> str:
    argv = [sys.executable, "-m", "core.data.fetch", source, "--max-bytes", str(max_bytes)]
    argv += ["--fmt", fmt] if fmt else []
    meta = {"source": source, "max_bytes": max_bytes}
    # HF_TOKEN: a private or gated hub dataset
    return jobs.launch(KIND, argv, title=f"Fetch {source}", meta=meta, key=source, secrets=jobs.HUB_SECRETS)


def latest(source: str) -> jobs.RunStatus | None:
    """The newest fetch of this source, whatever its state."""
    return next(iter(jobs.list_runs(KIND, key=source, limit=1)), None)


def result(run_id: str) -> Fetched:
    folder = rundir.run_dir(run_id)
    notes = rundir.read_json(folder / rundir.IMPORTED) or {}
    findings = [Finding(**f) for f in notes.get("findings", [])]
    return Fetched(folder / rundir.RECORDS, notes.get("origin", ""), notes.get("source", ""), findings)


def write(folder: Path, origin: str, source: str, records: list, findings: list[Finding]) -> None:
    """records.jsonl, one record a line (values JSON cannot hold become their text), then import.json."""
    tmp = tempfiles.temp_path(folder / rundir.RECORDS)
    with open(tmp, "w", encoding="utf-8") as f:
        for i, record in enumerate(records, 1):
            f.write(json.dumps(record, default=str) + "\n")  # ASCII: lone surrogates survive too
            if i % EVERY == 0:
                rundir.report_progress(folder, i, len(records), "writing records")
    os.replace(tmp, folder / rundir.RECORDS)
    notes = {"origin": origin, "source": source, "findings": [f.as_dict() for f in findings]}
    rundir.write_json(folder / rundir.IMPORTED, notes)
    rundir.report_progress(folder, len(records), len(records), "written")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("source", help="a hub id (owner/name), a save_to_disk folder or a local dataset folder")
    parser.add_argument("--max-bytes", type=int, default=readers.DEFAULT_MAX_BYTES)
    parser.add_argument("--fmt", choices=("hf", "hub"), help="hf: save_to_disk output; hub: datasets.load_dataset")
    args = parser.parse_args(argv)
    folder = Path(os.environ.get("FT_RUN_DIR", "."))
    rundir.report_progress(folder, 0, 1, f"reading {args.source}")
    try:
        with readers.gc_paused():
            source, lines, records, findings = readers.read(Path(args.source), args.fmt, args.max_bytes)
    except DataError as e:
        rundir.write_json(folder / rundir.FAILURE, {"failure": "bad data", "message": str(e)})
        return fail(EXIT_BAD_DATA, "error", str(e))
    print(f"read {len(records)} records ({source}) from {args.source}", flush=True)
    write(folder, args.source, source, records, findings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
