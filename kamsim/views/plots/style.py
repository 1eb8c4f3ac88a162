"""The one chart style: tier colours, a colour-blind-safe palette and the axis formatters.

Every figure of the report, the notebooks and the app takes its colours and tick labels
from here; tick labels use the shared formatter (:mod:`kamsim._util.format`), so an amount
reads the same on an axis as in a table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kamsim._util.format import money

if TYPE_CHECKING:
    from matplotlib.ticker import Formatter

__all__ = ["CRITERION_COLORS", "TIER_COLORS", "currency_formatter", "percent_formatter"]

#: Colours of the tiers in concentration plots.
TIER_COLORS = {"key": "#b2182b", "strategic": "#ef8a62", "standard": "#bababa"}

#: Colour-blind-safe qualitative palette (ColorBrewer Dark2) for criteria and series.
CRITERION_COLORS = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02",
                    "#a6761d")


def currency_formatter(currency: str = "€") -> Formatter:
    """Axis formatter for amounts: ``€950``, ``€12.5k``, ``€3M``, ``€1.2bn``.

    Parameters
    ----------
    currency : str
        Symbol put before the number ("" for none).

    Returns
    -------
    matplotlib.ticker.Formatter

    Examples
    --------
    >>> fmt = currency_formatter()
    >>> fmt(1_250_000.0), fmt(950.0), fmt(12_500.0)
    ('€1.2M', '€950', '€12.5k')
    """
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda x, _pos=None: money(float(x), currency))


def percent_formatter(decimals: int = 0) -> Formatter:
    """Axis formatter for shares given as fractions (0.25 shows as ``25%``).

    Parameters
    ----------
    decimals : int
        Digits after the decimal point.

    Returns
    -------
    matplotlib.ticker.Formatter

    Examples
    --------
    >>> percent_formatter()(0.25), percent_formatter(1)(0.125)
    ('25%', '12.5%')
    """
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda x, _pos=None: f"{float(x) * 100:.{decimals}f}%")
