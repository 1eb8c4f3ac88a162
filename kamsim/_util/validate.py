"""The one validator vocabulary: number, whole, probability, choice, known fields, from_dict.

Every assumption class validates through these helpers, so every bad value raises an
:class:`~kamsim.exceptions.AssumptionError` naming the field, with one message style, and
``bool`` is refused wherever a number is expected (``True`` is not 1 here).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping
from dataclasses import fields, is_dataclass
from typing import Any, TypeVar

import numpy as np

from kamsim.exceptions import AssumptionError

__all__ = ["choice", "from_dict", "known_fields", "number", "probability", "whole"]

T = TypeVar("T")


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
    if isinstance(value, bool | np.bool_):
        raise AssumptionError(f"must be a number, got {value!r} (a yes/no value)", field=name)
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise AssumptionError(f"must be a number, got {value!r}", field=name) from None
    if not math.isfinite(v):
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


def probability(value: Any, name: str, *, upper_open: bool = False) -> float:
    """A probability in [0, 1] (or [0, 1) with ``upper_open``), or an AssumptionError.

    Examples
    --------
    >>> probability(0.2, "correlation", upper_open=True)
    0.2
    >>> probability(1.0, "correlation", upper_open=True)
    Traceback (most recent call last):
    ...
    kamsim.exceptions.AssumptionError: correlation: must be in [0, 1), got 1.0
    """
    return number(value, name, lo=0.0, hi=1.0, hi_open=upper_open)


def choice(value: Any, name: str, options: Iterable[str]) -> str:
    """One of a closed set of options, or an AssumptionError listing them (and the closest).

    Examples
    --------
    >>> choice("gamma", "cycle_distribution", ("gamma", "lognormal"))
    'gamma'
    >>> choice("gama", "cycle_distribution", ("gamma", "lognormal"))
    Traceback (most recent call last):
    ...
    kamsim.exceptions.AssumptionError: cycle_distribution: must be one of ['gamma', ...
    """
    opts = list(options)
    if isinstance(value, str) and value in opts:
        return value
    hint = ""
    if isinstance(value, str):
        close = difflib.get_close_matches(value, opts, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise AssumptionError(f"must be one of {opts}, got {value!r}{hint}", field=name)


def known_fields(data: Mapping[str, Any], known: Iterable[str], name: str) -> None:
    """Refuse keys that are not in ``known`` (with a "did you mean" for each).

    Examples
    --------
    >>> known_fields({"win_rate": 0.3}, ["win_rate", "ramp_months"], "replacement")
    >>> known_fields({"win_rat": 0.3}, ["win_rate", "ramp_months"], "replacement")
    Traceback (most recent call last):
    ...
    kamsim.exceptions.AssumptionError: replacement: unknown field(s) ['win_rat'] (did you ...
    """
    if not isinstance(data, Mapping):
        raise AssumptionError(f"must be a mapping of field names to values, got "
                              f"{type(data).__name__}", field=name)
    valid = sorted(str(k) for k in known)
    unknown = sorted(k if isinstance(k, str) else repr(k) for k in data
                     if not isinstance(k, str) or k not in valid)
    if unknown:
        hints = [f"did you mean {m[0]!r}?" for u in unknown
                 if (m := difflib.get_close_matches(u, valid, n=1))]
        hint = f" ({'; '.join(hints)})" if hints else ""
        raise AssumptionError(f"unknown field(s) {unknown}{hint}; valid fields are {valid}",
                              field=name)


def from_dict(cls: type[T], data: Any, name: str) -> T:
    """Build the frozen dataclass ``cls`` from a plain dict, refusing unknown fields.

    Examples
    --------
    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class Cost:
    ...     amount: float = 0.0
    >>> from_dict(Cost, {"amount": 3.0}, "cost")
    Cost(amount=3.0)
    """
    assert is_dataclass(cls)
    if not isinstance(data, Mapping):
        raise AssumptionError(f"must be a mapping of fields, got {data!r}", field=name)
    known_fields(data, (f.name for f in fields(cls)), name)
    return cls(**dict(data))
