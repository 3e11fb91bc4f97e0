"""How shares are shown: one rounding for every page, chart and PDF."""

from __future__ import annotations

import math


def whole_percent(rate: float) -> int:
    """A share (0 to 1) as a whole percentage, halves rounded up: 84.5% is 85%, on HR's
    dashboard and in the committee report alike (Python's round() would make it 84). The
    small allowance keeps a share that is exactly a half from falling below it in floating
    point (0.845 * 100 is 84.49999...)."""
    return math.floor(rate * 100 + 0.5 + 1e-9)
