"""How shares are shown: one rounding for every page, chart and PDF."""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal


def whole_percent(rate: float) -> int:
    """A share (0 to 1) as a whole percentage, halves rounded up: 84.5% is 85%, on HR's
    dashboard and in the committee report alike (Python's round() would make it 84). The
    small allowance keeps a share that is exactly a half from falling below it in floating
    point (0.845 * 100 is 84.49999...)."""
    return math.floor(rate * 100 + 0.5 + 1e-9)


def percent(rate: float | None) -> str:
    """A share as a whole percentage, "85%"; "-" for a group with no one in it."""
    if rate is None:
        return "-"
    return f"{whole_percent(rate)}%"


def points(change: float | None) -> str:
    """A change in percentage points, signed, to one decimal place, halves away from zero:
    "+13.3", "-0.3", "0.0"; "-" where it cannot be known."""
    if change is None:
        return "-"
    value = Decimal(repr(change)).quantize(Decimal("0.1"), ROUND_HALF_UP)
    return "0.0" if value == 0 else f"{value:+}"
