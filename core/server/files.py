"""Uploaded files for the local OpenAI-compatible API (POST/GET/DELETE /v1/files).

Each upload is stored under home()/api/files/ as its bytes (<id>.jsonl for fine-tune data,
<id>.bin otherwise) and a small JSON record. A fine-tune file goes through the data studio's
checks (core.data.validate) before it is kept: a file with errors is refused, naming the first
errors' lines, as OpenAI refuses an "Invalid file format". What OpenAI accepts is accepted: chat
examples with tools, tool calls and content parts, and preference (DPO) files, checked as preference
data. An upload names no model yet, so the model's own rules (images, token limits) wait for the job.
Test: `.venv/bin/pytest tests/jobs/test_server.py -q -k file`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import IO, Any

from core import tempfiles
from core.data import total_of
from core.data.io import DEFAULT_MAX_BYTES, DataError
from core.data.validate import MODEL_KINDS, validate_file
from core.server import (
    ApiError,
    api_dir,
    bad_request,
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

KIND, PREFIX = "files", "file"
FINE_TUNE = "fine-tune"
PURPOSES = ("assistants", "batch", FINE_TUNE, "vision", "user_data", "evals")
PUBLIC = (
    "id",
    "object",
    "bytes",
    "created_at",
    "filename",
    "purpose",
    "status",
    "expires_at",
    "status_details",
)
SHOWN_ERRORS = 3  # how many findings the refusal names; the rest are counted


def _data_path(file_id: str, purpose: str) -> Path:
    return api_dir(KIND) / f"{file_id}{'.jsonl' if purpose == FINE_TUNE else '.bin'}"


def public(record: dict[str, Any]) -> dict[str, Any]:
    """The FileObject the client parses, without our bookkeeping."""
    return {key: record.get(key) for key in PUBLIC}


def _copy_capped(stream: IO[bytes], dest: Path, max_bytes: int) -> int:
    """Copy the upload to disk in chunks; refuse it as soon as it passes the size limit."""
    size = 0
    with open(dest, "wb") as out:
        while chunk := stream.read(1 << 20):
            size += len(chunk)
            if size > max_bytes:
                raise bad_request(f"The file is over the {max_bytes // (1 << 20)} MB limit.", "file")
            out.write(chunk)
    return size


def _layout(path: Path) -> str:
    """ "preference" when the first record is OpenAI's DPO form, else "chat": the two layouts OpenAI takes."""
    with open(path, "rb") as f:  # the first non-blank line, up to 1 MB (a longer one is not a DPO record's)
        first = b""
        while not first.strip() and (line := f.readline(1 << 20)):
            first = line
    try:
        record = json.loads(first.removeprefix(b"\xef\xbb\xbf"))
    except ValueError:
        return "chat"  # the chat check names the line
    return "preference" if isinstance(record, dict) and "preferred_output" in record else "chat"


def layout_of(record: dict[str, Any]) -> str:
    """A stored fine-tune file's layout: "preference" (OpenAI's DPO form) or "chat"."""
    return _layout(content_path(record["id"]))


def format_problems(path: Path, filename: str) -> tuple[int, str | None]:
    """(examples, None) for a usable chat or preference JSONL file, else (0, "Invalid file format. Line N: ...")."""
    try:
        report = validate_file(path, fmt=_layout(path), count_tokens=False)
    except DataError as exc:
        return 0, f"Invalid file format. {str(exc).replace(path.name, filename)}"
    errors = [f for f in report.errors if f.kind not in MODEL_KINDS]
    if not errors:
        return report.examples, None
    named = []
    for finding in errors[:SHOWN_ERRORS]:
        where = f"Line {finding.line}: " if finding.line else ""
        hint = f" ({finding.hint})" if finding.hint else ""
        named.append(f"{where}{finding.message}{hint}.")
    more = total_of(errors) - len(named)
    tail = f" And {more:,} more error(s); check the file with `python -m core.data validate`." if more > 0 else ""
    return 0, "Invalid file format. " + " ".join(named) + tail


def create(stream: IO[bytes], filename: str, purpose: str, max_bytes: int = DEFAULT_MAX_BYTES) -> dict[str, Any]:
    """Store an upload; a fine-tune file must pass validation. Returns the FileObject."""
    if purpose not in PURPOSES:
        raise bad_request(f"'{purpose}' is not one of {', '.join(PURPOSES)} - 'purpose'", "purpose")
    file_id = new_id(PREFIX)
    filename = Path(filename or "upload").name
    dest = _data_path(file_id, purpose)
    tmp = tempfiles.temp_path(dest)
    try:
        size = _copy_capped(stream, tmp, max_bytes)
        examples = 0
        if purpose == FINE_TUNE:
            examples, problem = format_problems(tmp, filename)
            if problem:
                raise bad_request(problem, "file", "invalid_file_format")
        tmp.replace(dest)
    finally:
        tmp.unlink(missing_ok=True)
    record = {
        "id": file_id,
        "object": "file",
        "bytes": size,
        "created_at": now(),
        "filename": filename,
        "purpose": purpose,
        "status": "processed",
        "expires_at": None,
        "status_details": None,
        "created": time.time(),
        "examples": examples,
        "path": str(dest),
    }
    write_record(api_dir(KIND) / f"{file_id}.json", record)
    return public(record)


def get(file_id: str) -> dict[str, Any]:
    """The stored record (with its path and example count); 404 in OpenAI's words when missing."""
    record = read_record(api_dir(KIND) / f"{file_id}.json") if valid_id(file_id, PREFIX) else None
    if record is None:
        raise not_found(f"No such File object: {file_id}", "id")
    return record


def listing(after: str | None, limit: int | None, order: str, purpose: str | None) -> dict[str, Any]:
    if order not in ("asc", "desc"):
        raise bad_request(f"order must be asc or desc, not {order!r}", "order")
    found = [r for r in records(KIND, PREFIX) if purpose is None or r.get("purpose") == purpose]
    if order == "asc":
        found.reverse()
    return page([public(r) for r in found], after, limit_of(limit, 10_000, 10_000))


def content_path(file_id: str) -> Path:
    path = Path(get(file_id)["path"])
    if not path.is_file():
        raise ApiError(404, f"The content of {file_id} is missing from {path.parent}", "id")
    return path


def delete(file_id: str) -> dict[str, Any]:
    record = get(file_id)
    Path(record["path"]).unlink(missing_ok=True)
    (api_dir(KIND) / f"{file_id}.json").unlink(missing_ok=True)
    return {"id": file_id, "object": "file", "deleted": True}
