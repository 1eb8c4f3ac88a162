"""Figures for replacement timelines and cash survival (re-exported by :mod:`kamsim.views.plots`).

Every function takes a result object and returns a :class:`matplotlib.figure.Figure` built
without pyplot; pass ``ax=`` to draw into an existing axes.

* :func:`replacement_revenue_plot`: monthly revenue after the loss, percentile bands and
  the pre-loss level.
* :func:`recovery_time_plot`: share of futures still not recovered, month by month.
* :func:`cash_path_plot`: cash balance percentile bands with the zero line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from kamsim._util.figures import figure_axes
from kamsim.analysis.timelines import ReplacementTimeline
from kamsim.engine import SimulationResult
from kamsim.exceptions import ArgumentTypeError, AssumptionError
from kamsim.views.plots.style import currency_formatter

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["cash_path_plot", "recovery_time_plot", "replacement_revenue_plot"]

_BAND_COLOR = "#2166ac"
_LINE_COLORS = ("#2166ac", "#b2182b", "#1b7837", "#762a83", "#e08214")


def _ylabel(ax: Axes, text: str) -> None:
    """A y label at a fixed distance from the axes (not from its tick labels).

    Matplotlib places the label left of the widest tick label; when a widget redraws with a
    frozen layout and the ticks get wider ("-€1.5M" after "€500k"), the label would drift
    into the neighbouring chart. Pinned 0.75 in left of the axes it stays put.
    """
    from matplotlib.transforms import offset_copy

    fig = ax.get_figure(root=True)
    assert fig is not None
    ax.set_ylabel(text)
    ax.yaxis.set_label_coords(0.0, 0.5, transform=offset_copy(
        ax.transAxes, fig=fig, x=-0.75, y=0.0, units="inches"))


def _bands(ax: Axes, months: np.ndarray, qs: Mapping[float, np.ndarray],
           label: str) -> None:
    """Shade symmetric quantile pairs and draw the median."""
    levels = sorted(qs)
    pairs = [(lo, hi) for lo, hi in zip(levels, reversed(levels), strict=True) if lo < hi]
    for i, (lo, hi) in enumerate(pairs):
        ax.fill_between(months, qs[lo], qs[hi], step="mid", color=_BAND_COLOR,
                        alpha=0.15 + 0.15 * i, linewidth=0,
                        label=f"{lo:.0%}-{hi:.0%} of futures")
    if 0.5 in qs:
        ax.step(months, qs[0.5], where="mid", color=_BAND_COLOR, linewidth=2,
                label=f"median {label}")


def replacement_revenue_plot(
    result: ReplacementTimeline | SimulationResult,
    *,
    base_revenue: float | None = None,
    quantiles: Sequence[float] = (0.05, 0.25, 0.5, 0.75, 0.95),
    currency: str = "€",
    ax: Axes | None = None,
) -> Figure:
    """Monthly revenue after the loss: percentile bands, median and pre-loss level.

    Parameters
    ----------
    result : ReplacementTimeline or SimulationResult
        A timeline (revenue = ``base_revenue - lost + replacement``, per month) or an
        engine run with replacement (its net monthly revenue).
    base_revenue : float, optional
        Annual revenue before the loss; required for a timeline, taken from the scenario
        for a simulation result.
    quantiles : sequence of float
        Quantiles to shade (pairs from the outside in) and the median.
    currency : str
        Symbol on the axis.
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from kamsim.analysis.timelines import replacement_timeline
    >>> from kamsim.model import ReplacementAssumptions
    >>> a = ReplacementAssumptions(account_size="lognormal", size_median=1e5)
    >>> tl = replacement_timeline(1e6, a, n_paths=500, rng=0)
    >>> fig = replacement_revenue_plot(tl, base_revenue=5e6)
    >>> fig.axes[0].get_ylabel()
    'revenue per month'
    """
    fig, ax = figure_axes(ax, (8, 4.2))
    if isinstance(result, ReplacementTimeline):
        if base_revenue is None:
            msg = "base_revenue (annual revenue before the loss) is needed for a timeline"
            raise AssumptionError(msg)
        base_m = float(base_revenue) / 12.0
        rev = (float(base_revenue) - result.lost_revenue + result.run_rate) / 12.0
        qs = {q: np.quantile(rev, q, axis=0) for q in quantiles}
        mean = rev.mean(axis=0)
        h = result.horizon_months
        floor = (float(base_revenue) - result.lost_revenue) / 12.0
        ax.axhline(floor, color="#b2182b", linestyle=":", linewidth=1,
                   label="after the loss, no replacement")
    elif isinstance(result, SimulationResult):
        base_m = (result.scenario.portfolio.total_revenue if base_revenue is None
                  else float(base_revenue)) / 12.0
        table = result.monthly_quantiles(quantiles, measure="revenue")
        qs = {q: table[f"q{q:g}"].to_numpy() for q in quantiles}
        mean = table["mean"].to_numpy()
        h = result.scenario.horizon_months
    else:
        msg = f"result must be a ReplacementTimeline or SimulationResult, got {type(result)}"
        raise ArgumentTypeError(msg)
    months = np.arange(1, h + 1)
    _bands(ax, months, qs, "revenue")
    ax.plot(months, mean, color="black", linewidth=1, linestyle="--", label="mean")
    ax.axhline(base_m, color="black", linewidth=1.2, label="pre-loss level")
    ax.set_xlabel("month")
    _ylabel(ax, "revenue per month")
    ax.yaxis.set_major_formatter(currency_formatter(currency))
    ax.set_xlim(0.5, h + 0.5)
    ax.set_title("Revenue after the loss")
    ax.legend(loc="lower right", fontsize="small")
    return fig


def recovery_time_plot(
    results: ReplacementTimeline | SimulationResult
    | Mapping[str, ReplacementTimeline | SimulationResult],
    *,
    ax: Axes | None = None,
) -> Figure:
    """Share of futures still not recovered, by months since the first lost month.

    A survival-style step curve; where it ends above zero at the horizon, that share is
    censored (not recovered within the horizon). The median (where the curve crosses
    50 %) is marked when it falls within the horizon.

    Parameters
    ----------
    results : ReplacementTimeline, SimulationResult or mapping of label to either
        One run, or several to compare (e.g. two capacity levels).
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from kamsim.analysis.timelines import replacement_timeline
    >>> from kamsim.model import ReplacementAssumptions
    >>> a = ReplacementAssumptions(account_size="lognormal", size_median=1e5)
    >>> tl = replacement_timeline(5e5, a, n_paths=500, rng=0)
    >>> recovery_time_plot({"base": tl}).axes[0].get_xlabel()
    'months since the first lost month'
    """
    fig, ax = figure_axes(ax, (7, 4))
    runs = dict(results) if isinstance(results, Mapping) else {"": results}
    for i, (label, r) in enumerate(runs.items()):
        if isinstance(r, ReplacementTimeline):
            surv, summ = r.survival(), r.summary()
        elif isinstance(r, SimulationResult):
            surv, summ = r.recovery_survival(), r.recovery_summary()
        else:
            msg = f"expected ReplacementTimeline or SimulationResult, got {type(r)}"
            raise ArgumentTypeError(msg)
        color = _LINE_COLORS[i % len(_LINE_COLORS)]
        s = summ.set_index("statistic")
        values = s["value"].to_numpy(dtype=float)
        med = str(s.at["median", "display"])
        censored = float(values[s.index.get_loc("share_not_recovered")])
        med_value = float(values[s.index.get_loc("median")])
        text = f"{label}: " if label else ""
        within = bool(s.at["median", "within_horizon"])
        median = f"median {med} months" if within else "median beyond the horizon"
        ax.step(surv.index, surv["not_recovered"], where="post", color=color, linewidth=2,
                label=f"{text}{median}, {censored:.0%} not recovered")
        if within:
            ax.plot([med_value], [0.5], "o", color=color)
    ax.axhline(0.5, color="grey", linewidth=0.8, linestyle=":")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("months since the first lost month")
    _ylabel(ax, "share of futures not yet recovered")
    from matplotlib.ticker import PercentFormatter

    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_title("How long until revenue is back at its pre-loss level")
    ax.legend(loc="upper right", fontsize="small")
    return fig


def cash_path_plot(
    result: SimulationResult,
    *,
    quantiles: Sequence[float] = (0.05, 0.25, 0.5, 0.75, 0.95),
    currency: str = "€",
    ax: Axes | None = None,
) -> Figure:
    """Cash balance by month: percentile bands, median, mean and the zero line.

    Parameters
    ----------
    result : SimulationResult
        An engine run with replacement assumptions (``opening_cash`` set for a
        meaningful level; without it the curve is the cumulative cash flow).
    quantiles : sequence of float
    currency : str
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not isinstance(result, SimulationResult):
        msg = f"result must be a SimulationResult, got {type(result).__name__}"
        raise ArgumentTypeError(msg)
    fig, ax = figure_axes(ax, (8, 4.2))
    table = result.monthly_quantiles(quantiles, measure="cash")
    qs = {q: table[f"q{q:g}"].to_numpy() for q in quantiles}
    months = np.arange(1, len(table) + 1)
    _bands(ax, months, qs, "cash")
    ax.plot(months, table["mean"], color="black", linewidth=1, linestyle="--", label="mean")
    ax.axhline(0.0, color="#b2182b", linewidth=1.5, label="zero cash")
    p = result.prob_out_of_cash()
    title = "Cash balance" if np.isnan(p) else f"Cash balance: P(out of cash) = {p:.1%}"
    ax.set_title(title)
    ax.set_xlabel("month")
    _ylabel(ax, "cash")
    ax.yaxis.set_major_formatter(currency_formatter(currency))
    ax.set_xlim(0.5, len(table) + 0.5)
    ax.legend(loc="lower left", fontsize="small")
    return fig
