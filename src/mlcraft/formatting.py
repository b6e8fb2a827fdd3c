"""Numbers for people: the one formatter of scores, bounds and statistics in text, tables and pages.

Examples
--------
>>> format_number(48213.7), format_number(12.3456), format_number(0.123456), format_number(None)
('48,214', '12.346', '0.1235', '-')
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["format_number"]


def format_number(value: Any, digits: int = 4) -> str:
    """A number for people: thousands separated when large, 3 decimals from 1, ``digits`` decimals
    below 1; ``"-"`` for None, NaN and infinities; integers as they are (``1234`` as ``1,234``)."""
    if value is None or isinstance(value, bool):
        return "-" if value is None else str(value)
    if not isinstance(value, (int, float)):
        try:
            value = float(value)
        except (TypeError, ValueError):
            return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return "-"
    if isinstance(value, int) or float(value).is_integer() and abs(value) >= 1000:
        return f"{int(value):,}"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.3f}"
    return f"{value:.{digits}f}"
