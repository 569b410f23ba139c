"""The one format for money and durations, on every page (Decide, Costs, Train, Runs) and in the CLIs.

`usd(x)`: dollars with thousands separators and cents from $1 up; below $1, two significant
digits (at least cents), so a fraction of a cent never shows as $0.00. `duration(seconds)`:
"45s", "12m 05s", "3h 04m", "2d 05h"; an unknown amount is "".
Test: `pytest tests/unit/test_money.py`.
"""

from __future__ import annotations

import math

MINUTE, HOUR, DAY = 60, 3600, 86400


def _number(x) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def usd(x: float | None) -> str:
    """$1,234.50, $2.25, $0.50, $0.012, $0.00003; "-" when there is no amount."""
    if not _number(x):
        return "-"
    if x == 0:
        return "$0"
    sign, a = ("-" if x < 0 else ""), abs(x)
    if round(a, 2) >= 1:
        return f"{sign}${a:,.2f}"
    digits = max(2, 1 - math.floor(math.log10(a)))  # two significant digits, never fewer than cents
    text = f"{a:.{digits}f}"
    return f"{sign}${text.rstrip('0') if digits > 2 else text}"


def duration(seconds: float | None) -> str:
    """Whole seconds under a minute, then minutes and seconds, hours and minutes, days and hours."""
    if not _number(seconds):
        return ""
    s = max(0, int(seconds))
    if s < MINUTE:
        return f"{s}s"
    if s < HOUR:
        return f"{s // MINUTE}m {s % MINUTE:02d}s"
    if s < DAY:
        return f"{s // HOUR}h {s % HOUR // MINUTE:02d}m"
    return f"{s // DAY}d {s % DAY // HOUR:02d}h"
