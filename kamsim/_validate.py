"""Validation helpers shared by the assumption classes (one message style everywhere)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from kamsim.exceptions import AssumptionError

__all__ = ["number", "whole"]


def number(value: Any, name: str, *, lo: float | None = None, hi: float | None = None,
           lo_open: bool = False, hi_open: bool = False) -> float:
    """A finite float within bounds, or an :class:`AssumptionError` naming the field.

    Examples
    --------
    >>> number("0.25", "win_rate", lo=0.0, hi=1.0, lo_open=True)
    0.25
    >>> number(0, "win_rate", lo=0.0, hi=1.0, lo_open=True)
    Traceback (most recent call last):
    ...
    kamsim.exceptions.AssumptionError: win_rate: must be in (0, 1], got 0
    """
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise AssumptionError(f"must be a number, got {value!r}", field=name) from None
    if isinstance(value, bool) or not math.isfinite(v):
        raise AssumptionError(f"must be a finite number, got {value!r}", field=name)
    bad = ((lo is not None and (v <= lo if lo_open else v < lo))
           or (hi is not None and (v >= hi if hi_open else v > hi)))
    if bad:
        if hi is None:
            rule = f"{'>' if lo_open else '>='} {lo:g}"
        elif lo is None:
            rule = f"{'<' if hi_open else '<='} {hi:g}"
        else:
            rule = f"in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
        raise AssumptionError(f"must be {rule}, got {value!r}", field=name)
    return v


def whole(value: Any, name: str, *, lo: int = 0) -> int:
    """A whole number ``>= lo``, or an :class:`AssumptionError` naming the field.

    Examples
    --------
    >>> whole(3, "ramp_months", lo=1)
    3
    """
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < lo:
        raise AssumptionError(f"must be a whole number >= {lo}, got {value!r}", field=name)
    return int(value)
