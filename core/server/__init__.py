"""The local OpenAI-compatible fine-tuning API, and the pieces its modules share: errors, ids, storage, list pages.

It mirrors OpenAI's fine-tuning endpoints over the workbench's own runs: app.py is the FastAPI
app and its command line (`python -m core.server`), files.py stores uploads, ft_jobs.py turns a
fine-tuning job into a training run, events.py reads a job's events and checkpoints back,
chat.py answers chat completions with a base or fine-tuned model (chat_tools.py checks their tools).
Everything but app.py is plain Python (no FastAPI), so the modules can be tested without a server.
Test: `.venv/bin/pytest tests/jobs/test_server.py tests/jobs/test_server_limits.py tests/unit/test_api_rules.py -q`.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import sys
import time
from pathlib import Path
from typing import Any

from core import paths, tempfiles
from core.jobs import rundir

log = logging.getLogger("core.server")
ORG = "local"  # the organisation segment of fine-tuned model names, as OpenAI's "my-org"
OWNER = "local"


class ApiError(Exception):
    """An error the client sees in OpenAI's shape: {"error": {message, type, param, code}}.

    A 5xx keeps its message for the server's log only (with the traceback being handled, if any):
    the client gets a fixed text and the request id the log line carries, never an exception's text.
    """

    def __init__(
        self,
        status: int,
        message: str,
        param: str | None = None,
        code: str | None = None,
        type: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.type = status, message, param, code, type
        self.request_id = None
        if status >= 500:
            self.request_id = new_id("req")
            log.error("request %s: %s", self.request_id, message, exc_info=sys.exc_info()[1])
            self.message = (
                f"The server had an error while processing your request (request id {self.request_id}); "
                "its log has the details under that id."
            )

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def bad_request(message: str, param: str | None = None, code: str | None = None) -> ApiError:
    return ApiError(400, message, param, code)


def not_found(message: str, param: str | None = None, code: str | None = None) -> ApiError:
    return ApiError(404, message, param, code)


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(12)}"


def now() -> int:
    return int(time.time())


def api_dir(kind: str) -> Path:
    """home()/api/<kind>/, created on first use (kind: files or jobs)."""
    folder = paths.api_dir() / kind
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# Records are JSON files replaced atomically, exactly as a run's status is.
write_record, read_record = rundir.write_json, rundir.read_json


def create_record(path: Path, data: dict[str, Any]) -> bool:
    """Write a record that must not exist yet, whole or not at all; False when one is already there."""
    tmp = tempfiles.temp_path(path)
    tmp.write_text(json.dumps(data, indent=1))
    try:
        os.link(tmp, path)  # unlike os.replace, fails when the name is taken
        return True
    except FileExistsError:
        return False
    finally:
        tmp.unlink()


def records(kind: str, prefix: str) -> list[dict[str, Any]]:
    """Every stored record of a kind, newest first (ties broken by the exact creation time)."""
    found = [read_record(p) for p in api_dir(kind).glob(f"{prefix}-*.json")]
    return sorted((r for r in found if r), key=lambda r: r.get("created", 0), reverse=True)


def valid_id(value: Any, prefix: str) -> bool:
    """Ids are our own hex tokens; anything else (a path, a dot, a number) never reaches the disk."""
    if not isinstance(value, str):
        return False
    head, _, tail = value.partition("-")
    return head == prefix and len(tail) == 24 and all(c in "0123456789abcdef" for c in tail)


def limit_of(value: int | None, default: int, most: int) -> int:
    if value is None:
        return default
    if not 1 <= value <= most:
        raise bad_request(f"limit must be between 1 and {most}, not {value}", "limit")
    return value


def page(items: list[dict[str, Any]], after: str | None, limit: int) -> dict[str, Any]:
    """OpenAI's cursor page: the items after the one whose id is `after`, at most `limit` of them."""
    start = 0
    if after:
        ids = [item["id"] for item in items]
        if after not in ids:
            raise bad_request(f"after: no object with id {after!r} in this list", "after")
        start = ids.index(after) + 1
    chunk = items[start : start + limit]
    first, last = (chunk[0]["id"], chunk[-1]["id"]) if chunk else (None, None)
    return {
        "object": "list",
        "data": chunk,
        "first_id": first,
        "last_id": last,
        "has_more": start + limit < len(items),
    }
