"""core.money: one usd() and one duration() for every page."""

import math

import pytest

from core import money


@pytest.mark.parametrize(
    ("x", "text"),
    [
        (0, "$0"),
        (2.25, "$2.25"),
        (1234.5, "$1,234.50"),
        (1_250_000, "$1,250,000.00"),
        (0.999, "$1.00"),
        (0.5, "$0.50"),
        (0.123, "$0.12"),
        (0.0123, "$0.012"),  # Decide showed $0.01 and Costs $0.0123; cents alone hide a fifth of it
        (0.01, "$0.01"),
        (0.0005, "$0.0005"),
        (0.000075, "$0.000075"),  # Costs' four decimals showed this as $0.0001
        (0.00003, "$0.00003"),  # ... and this as $0.0000
        (-0.00003, "-$0.00003"),
        (-1234.5, "-$1,234.50"),
    ],
)
def test_usd(x, text):
    assert money.usd(x) == text


@pytest.mark.parametrize("x", [None, math.nan, math.inf, "3"])
def test_usd_without_an_amount(x):
    assert money.usd(x) == "-"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (45.7, "45s"),
        (60, "1m 00s"),
        (725, "12m 05s"),
        (3600, "1h 00m"),
        (3 * 3600 + 4 * 60 + 59, "3h 04m"),
        (86400, "1d 00h"),
        (2 * 86400 + 5 * 3600 + 10, "2d 05h"),
        (40 * 86400, "40d 00h"),
        (-5, "0s"),
    ],
)
def test_duration(seconds, text):
    assert money.duration(seconds) == text


@pytest.mark.parametrize("seconds", [None, math.nan, math.inf])
def test_duration_unknown(seconds):
    assert money.duration(seconds) == ""
