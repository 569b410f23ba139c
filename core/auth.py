"""The workbench's admin gate: with FT_ADMIN_TOKEN set, only whoever gives the token sees the pages.

It guards the whole workbench (every page but the rater's), not one area; ui.admin draws the prompt.
Locally (unset) everything is open. Test: `pytest tests/unit/test_auth.py tests/app/test_every_page.py`.
"""

from __future__ import annotations

import os
import secrets


def admin_token() -> str | None:
    """The owner's token from FT_ADMIN_TOKEN, or None for local use without one."""
    return os.environ.get("FT_ADMIN_TOKEN") or None


def check_admin(given: str | None) -> bool:
    expected = admin_token()
    if expected is None:
        return True
    # Constant time, so the token cannot be guessed a character at a time from response times.
    return secrets.compare_digest(str(given or "").encode(), expected.encode())
