"""When hosted models stop answering: a dated, sourced table of base-model retirements the user can edit.

A fine-tuned OpenAI model (`ft:<base>:<org>:<suffix>:<id>`) answers only as long as its base model is served,
so each row names a base model, the day it retires (None: not announced as of `checked`), the source read and
the date it was read. `table()` is the shipped rows with the workspace's `retirements.json` laid over them (a
row there replaces the shipped row for the same model, or adds one); the Evaluate page edits that file.
`lookup(model, today)` gives a model's row with the days left. Sources are third-party reports where OpenAI's
page said nothing yet; each row says which.
Test: `.venv/bin/pytest tests/unit/test_retirements.py -q`.
"""

from __future__ import annotations

import datetime
import json
import os
from typing import Any

from core import paths, tempfiles

FILE = "retirements.json"
FIELDS = ("model", "retires", "source", "checked")
CHECKED = "2026-12-08"
OPENAI_DEPRECATIONS = "https://developers.openai.com/api/docs/deprecations"
REPORT_4O_41 = "https://codersera.com/blog/gpt-4o-gpt-4-1-api-shutdown-migration-2026/ (a third-party report)"
REPORT_NANO = "https://docs.apiyi.com/en/live/2026-10/openai-legacy-models-retired.md (a third-party report)"
FINE_TUNING = "fine-tuning (new jobs)"  # not a model: the day OpenAI stops creating fine-tuning jobs

SHIPPED: list[dict[str, Any]] = [
    {"model": FINE_TUNING, "retires": "2027-01-06", "source": OPENAI_DEPRECATIONS, "checked": CHECKED},
    {"model": "gpt-4o-2024-08-06", "retires": "2027-01-14", "source": REPORT_4O_41, "checked": CHECKED},
    {"model": "gpt-4o-2024-11-20", "retires": "2027-01-14", "source": REPORT_4O_41, "checked": CHECKED},
    {"model": "gpt-4o-mini-2024-07-18", "retires": "2027-01-14", "source": REPORT_4O_41, "checked": CHECKED},
    {"model": "gpt-4.1-2025-04-14", "retires": "2027-01-14", "source": REPORT_4O_41, "checked": CHECKED},
    {"model": "gpt-4.1-mini-2025-04-14", "retires": "2027-01-14", "source": REPORT_4O_41, "checked": CHECKED},
    {"model": "gpt-4.1-nano-2025-04-14", "retires": "2026-10-23", "source": REPORT_NANO, "checked": CHECKED},
]


def _file():
    return paths.home() / FILE


def overrides() -> list[dict[str, Any]]:
    """The workspace's own rows (none when the file is missing or unreadable)."""
    try:
        rows = json.loads(_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [r for r in rows if isinstance(r, dict) and r.get("model")] if isinstance(rows, list) else []


def table() -> list[dict[str, Any]]:
    """The rows in force: the shipped ones, each replaced by the workspace's row for the same model, then its own."""
    mine = {r["model"]: {f: r.get(f) for f in FIELDS} for r in overrides()}
    rows = [mine.pop(r["model"], dict(r)) for r in SHIPPED]
    return rows + list(mine.values())


def _date(text: Any) -> datetime.date | None:
    return datetime.date.fromisoformat(str(text).strip()) if text not in (None, "") else None


def clean(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """Edited rows as they would be saved, and what is wrong with them (row number and field named)."""
    out, found = [], []
    for n, row in enumerate(rows, 1):
        model = str(row.get("model") or "").strip()
        if not model:
            continue  # an empty row the editor added
        for name in ("retires", "checked"):
            value = row.get(name)
            try:
                _date(value if value == value else None)  # NaN from an emptied pandas cell counts as empty
            except ValueError:
                found.append(f"row {n} ({model}): {name} must be a date as YYYY-MM-DD or empty, not {value!r}")
        clean_row = {f: (row.get(f) if row.get(f) == row.get(f) else None) for f in FIELDS}
        out.append({**clean_row, "model": model})
    return out, found


def save(rows: list[dict[str, Any]]) -> list[str]:
    """Keep the rows that differ from the shipped table in the workspace file; returns the problems (nothing saved)."""
    cleaned, found = clean(rows)
    if found:
        return found
    shipped = {r["model"]: r for r in SHIPPED}
    changed = [r for r in cleaned if shipped.get(r["model"]) != r]
    tmp = tempfiles.temp_path(_file())
    tmp.write_text(json.dumps(changed, indent=1), encoding="utf-8")
    os.replace(tmp, _file())
    return []


def reset() -> None:
    _file().unlink(missing_ok=True)


def base_of(model: str) -> str:
    """The base model of a fine-tuned id (`ft:gpt-4o-mini-2024-07-18:org:suffix:id`); other ids as they are."""
    return model.removeprefix("ft:").split(":")[0] if model.startswith("ft:") else model


def lookup(model: str, today: datetime.date) -> dict[str, Any]:
    """The row for a model's base (exact, or the dated row an undated name begins), with `days_left` (None when
    no date is announced) and `words`, the line the page shows."""
    base = base_of(model)
    rows = table()
    row = next((r for r in rows if r["model"] == base), None) or next(
        (r for r in rows if r["model"].startswith(base + "-")), None
    )
    if row is None or _date(row.get("retires")) is None:
        checked = (row or {}).get("checked") or CHECKED
        return {
            "model": base,
            "retires": None,
            "days_left": None,
            "source": (row or {}).get("source"),
            "checked": checked,
            "words": f"{base}: retirement not announced (checked {checked})",
        }
    retires = _date(row["retires"])
    days = (retires - today).days
    when = f"{days} days left" if days > 0 else "retired" if days < 0 else "retires today"
    words = (
        f"{base} retires on {retires.isoformat()} ({when}; source: {row.get('source')}, checked {row.get('checked')})"
    )
    return {**row, "model": base, "days_left": days, "words": words}
