"""The one formatter for figures shown to people: money, percentages, months, counts.

Plots (axis ticks), widgets, the board report and the CLI all print numbers through these
functions, so the same amount reads the same everywhere (``€3.5M`` in a chart, a table and
the terminal alike).
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["count", "money", "months", "number", "percent", "signed_money"]

_SUFFIXES = ((1e9, "bn"), (1e6, "M"), (1e3, "k"))


def _finite(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def money(value: Any, currency: str = "€", *, digits: int = 1, missing: str = "–") -> str:
    """Compact money: ``€950``, ``€12.5k``, ``€3M``, ``€3.5M``, ``-€30k``, ``€1.2bn``.

    Amounts of a thousand or more are scaled to k / M / bn with ``digits`` decimals, and a
    trailing ``.0`` is dropped (so ticks read ``€3M`` and ``€3.5M``); smaller amounts are
    whole numbers with thousands separators. Missing or non-finite values print as
    ``missing``.

    Parameters
    ----------
    value : float
    currency : str
        Symbol put before the number ("" for none).
    digits : int
        Decimals of scaled amounts.
    missing : str
        Text for None, NaN or infinite values.

    Returns
    -------
    str

    Examples
    --------
    >>> money(3_000_000), money(3_456_000), money(-30_000), money(950.4)
    ('€3M', '€3.5M', '-€30k', '€950')
    >>> money(12_345, "$", digits=2), money(float("nan"))
    ('$12.35k', '–')
    """
    v = _finite(value)
    if v is None:
        return missing
    sign = "-" if v < 0 else ""
    a = abs(v)
    for div, suffix in _SUFFIXES:
        # scale up when the smaller unit would print 1,000 or more (999,960 -> 1M, not 1,000k)
        lower = div / 1e3
        if round(a / lower, digits if lower > 1 else 0) >= 1e3:
            num = f"{a / div:,.{digits}f}"
            if "." in num:
                num = num.rstrip("0").rstrip(".")
            return f"{sign}{currency}{num}{suffix}"
    return f"{sign}{currency}{a:,.0f}"


def signed_money(value: Any, currency: str = "€", *, digits: int = 1) -> str:
    """Money with an explicit sign for changes: ``+€1.2M``, ``-€30k``, ``€0``.

    Examples
    --------
    >>> signed_money(1_200_000), signed_money(-30_000), signed_money(0)
    ('+€1.2M', '-€30k', '€0')
    """
    text = money(value, currency, digits=digits)
    v = _finite(value)
    return f"+{text}" if v is not None and v > 0 else text


def percent(value: Any, decimals: int = 1, *, missing: str = "–") -> str:
    """A fraction as a percentage: ``0.216`` -> ``21.6 %``.

    Examples
    --------
    >>> percent(0.2163), percent(0.05, 0), percent(None)
    ('21.6 %', '5 %', '–')
    """
    v = _finite(value)
    if v is None:
        return missing
    return f"{v * 100:.{decimals}f} %"


def months(value: Any, *, horizon: int | None = None, decimals: int = 0) -> str:
    """A duration in months; a missing value means "not within the horizon".

    Examples
    --------
    >>> months(7), months(1), months(float("nan"), horizon=36), months(12.25, decimals=1)
    ('7 months', '1 month', 'not within 36 months', '12.2 months')
    """
    v = _finite(value)
    if v is None:
        return f"not within {horizon} months" if horizon else "not within the horizon"
    text = f"{v:.{decimals}f}"
    return f"{text} month" if text == "1" else f"{text} months"


def count(value: Any, *, missing: str = "–") -> str:
    """A whole count with thousands separators: ``12,345``.

    Examples
    --------
    >>> count(12345), count(3.0)
    ('12,345', '3')
    """
    v = _finite(value)
    return missing if v is None else f"{v:,.0f}"


def number(value: Any, decimals: int = 2, *, compact: bool = False,
           missing: str = "–") -> str:
    """A plain number with thousands separators: ``1,234.50``; ``compact`` drops zeros.

    Examples
    --------
    >>> number(1234.5), number(0.8414, 2), number(2.0, compact=True), number(None)
    ('1,234.50', '0.84', '2', '–')
    >>> number(0.30000000000000004, compact=True), number(1.5, 0)
    ('0.3', '2')
    """
    v = _finite(value)
    if v is None:
        return missing
    text = f"{v:,.{decimals}f}"
    if compact and "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "-0.0") else text
