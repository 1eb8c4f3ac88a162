"""The one chart style: tier colours, a colour-blind-safe palette and the axis formatters.

Every figure of the report, the notebooks and the app takes its colours and tick labels
from here; tick labels use the shared formatter (:mod:`kamsim._util.format`), so an amount
reads the same on an axis as in a table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kamsim._util.format import money

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.ticker import Formatter

__all__ = ["BAD", "CRITERION_COLORS", "GOOD", "INK", "MUTED", "NEUTRAL", "PALETTE",
           "PRINT_DPI", "PRINT_RC", "SERIES", "TIER_COLORS", "currency_formatter",
           "headroom", "percent_formatter", "print_style"]

#: Okabe-Ito palette (Okabe & Ito 2008, "Color Universal Design"): distinguishable with
#: every common colour-vision deficiency, and in greyscale by lightness for the pairs used.
PALETTE = {"black": "#000000", "orange": "#E69F00", "sky": "#56B4E9", "green": "#009E73",
           "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00",
           "purple": "#CC79A7", "grey": "#999999"}

#: Good / bad / neutral bars and lines (gain, loss, reference).
GOOD, BAD, NEUTRAL = PALETTE["green"], PALETTE["vermillion"], PALETTE["blue"]
#: Text and reference lines; secondary text.
INK, MUTED = "#222222", "#666666"
#: Series colours in order (lines of several accounts, scenarios).
SERIES = (PALETTE["blue"], PALETTE["orange"], PALETTE["green"], PALETTE["vermillion"],
          PALETTE["purple"], PALETTE["sky"], PALETTE["yellow"], PALETTE["black"])

#: Colours of the tiers (key accounts stand out; standard accounts recede).
TIER_COLORS = {"key": PALETTE["vermillion"], "strategic": PALETTE["sky"],
               "standard": "#BBBBBB"}

#: Colour-blind-safe qualitative palette (Okabe-Ito) for criteria and series.
CRITERION_COLORS = (PALETTE["blue"], PALETTE["orange"], PALETTE["green"],
                    PALETTE["vermillion"], PALETTE["purple"], PALETTE["sky"],
                    PALETTE["yellow"])

#: Resolution of report figures (print: 150 dpi at their printed size).
PRINT_DPI = 150

#: Matplotlib settings of report figures: print resolution, one font, quiet axes.
PRINT_RC: dict[str, Any] = {
    "figure.dpi": PRINT_DPI, "savefig.dpi": PRINT_DPI, "font.size": 9,
    "font.family": "DejaVu Sans", "axes.titlesize": 10.5, "axes.titleweight": "bold",
    "axes.titlelocation": "left", "axes.labelsize": 9, "axes.spines.top": False,
    "axes.spines.right": False, "axes.edgecolor": "#555555", "axes.grid": True,
    "axes.grid.axis": "y", "grid.color": "#E5E5E5", "grid.linewidth": 0.6,
    "axes.axisbelow": True, "xtick.labelsize": 8, "ytick.labelsize": 8,
    "legend.fontsize": 8, "legend.frameon": False,
    "text.parse_math": False,  # a "$" currency is a dollar sign, never mathtext
    "axes.prop_cycle": None,  # set below (needs matplotlib's cycler)
}


def print_style() -> dict[str, Any]:
    """The report's matplotlib settings as an rc dict (``matplotlib.rcParams.update``).

    Examples
    --------
    >>> rc = print_style()
    >>> rc["figure.dpi"], rc["axes.prop_cycle"].by_key()["color"][0]
    (150, '#0072B2')
    """
    from cycler import cycler

    rc = dict(PRINT_RC)
    rc["axes.prop_cycle"] = cycler(color=list(SERIES))
    return rc


def headroom(ax: Axes, top: float, bottom: float = 0.0, *, pad: float = 0.12) -> None:
    """Set y limits that contain ``bottom`` .. ``top`` plus room for value labels.

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> ax = Figure().add_subplot()
    >>> headroom(ax, 9e6)
    >>> [round(v) for v in ax.get_ylim()]
    [0, 10080000]
    """
    span = (top - bottom) or abs(top) or 1.0
    lo = bottom - pad * span if bottom < 0 else bottom
    ax.set_ylim(lo, top + pad * span)


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
