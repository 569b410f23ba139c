"""The retirement table: days left against a fixed today, fine-tuned ids mapped to their base, the workspace file.

Run: `.venv/bin/pytest tests/unit/test_retirements.py -q`.
"""

from __future__ import annotations

import datetime
import json

from core import paths, retirements

TODAY = datetime.date(2026, 12, 8)


def test_a_fine_tuned_model_gets_its_base_models_date_and_the_days_left():
    found = retirements.lookup("ft:gpt-4o-mini-2024-07-18:acme:support:abc123", TODAY)
    assert (found["model"], found["retires"], found["days_left"]) == ("gpt-4o-mini-2024-07-18", "2027-01-14", 37)
    assert found["source"].startswith("https://") and found["checked"] == retirements.CHECKED
    assert "37 days left" in found["words"] and found["source"] in found["words"]
    assert retirements.lookup("gpt-4.1-nano-2025-04-14", TODAY)["days_left"] == -46
    assert "retired" in retirements.lookup("gpt-4.1-nano-2025-04-14", TODAY)["words"]
    assert retirements.lookup("gpt-4o-mini", TODAY)["retires"] == "2027-01-14"  # an undated name: its dated row


def test_every_shipped_row_is_dated_and_sourced_and_an_unknown_model_is_not_announced():
    for row in retirements.SHIPPED:
        assert row["source"].startswith("https://") and datetime.date.fromisoformat(row["checked"])
    fine_tuning = retirements.lookup(retirements.FINE_TUNING, TODAY)
    assert (fine_tuning["retires"], fine_tuning["days_left"]) == ("2027-01-06", 29)
    unknown = retirements.lookup("ft:gpt-5-mini-2025-08-07:acme::x1", TODAY)
    assert (unknown["retires"], unknown["days_left"]) == (None, None)
    assert unknown["words"] == f"gpt-5-mini-2025-08-07: retirement not announced (checked {retirements.CHECKED})"


def test_the_workspace_file_overrides_a_shipped_row_adds_rows_and_resets():
    rows = retirements.table()
    for row in rows:
        if row["model"] == "gpt-4o-mini-2024-07-18":
            row.update(retires="2027-03-01", source="our account manager", checked="2026-12-07")
    rows.append({"model": "gpt-5-mini-2025-08-07", "retires": None, "source": "x", "checked": "2026-12-08"})
    assert retirements.save(rows) == []
    saved = json.loads((paths.home() / retirements.FILE).read_text())
    assert [r["model"] for r in saved] == ["gpt-4o-mini-2024-07-18", "gpt-5-mini-2025-08-07"]  # only the changes
    assert retirements.lookup("ft:gpt-4o-mini-2024-07-18:o::1", TODAY)["days_left"] == 83
    assert len(retirements.table()) == len(retirements.SHIPPED) + 1
    retirements.reset()
    assert retirements.lookup("ft:gpt-4o-mini-2024-07-18:o::1", TODAY)["days_left"] == 37


def test_a_bad_date_is_named_by_row_and_field_and_nothing_is_saved():
    rows = retirements.table()
    rows[1]["retires"] = "next spring"
    problems = retirements.save(rows)
    assert problems == ["row 2 (gpt-4o-2024-08-06): retires must be a date as YYYY-MM-DD or empty, not 'next spring'"]
    assert not (paths.home() / retirements.FILE).exists()
