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
from typing import TYPE_CHECKING, Any

import numpy as np

from kamsim._util.figures import figure_axes
from kamsim._util.format import percent
from kamsim.analysis.timelines import ReplacementTimeline
from kamsim.engine import SimulationResult
from kamsim.exceptions import ArgumentTypeError, AssumptionError
from kamsim.views.plots.style import currency_formatter
from kamsim.views.plots.svg import keep_svg

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["CashChart", "RecoveryChart", "RevenueAfterLossChart", "cash_path_plot",
           "recovery_time_plot", "replacement_revenue_plot"]

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
           label: str) -> list[Any]:
    """Shade symmetric quantile pairs and draw the median; return the artists made."""
    levels = sorted(qs)
    pairs = [(lo, hi) for lo, hi in zip(levels, reversed(levels), strict=True) if lo < hi]
    made: list[Any] = []
    for i, (lo, hi) in enumerate(pairs):
        made.append(ax.fill_between(months, qs[lo], qs[hi], step="mid", color=_BAND_COLOR,
                                    alpha=0.15 + 0.15 * i, linewidth=0,
                                    label=f"{lo:.0%}-{hi:.0%} of futures"))
    if 0.5 in qs:
        made.append(ax.step(months, qs[0.5], where="mid", color=_BAND_COLOR, linewidth=2,
                            label=f"median {label}")[0])
    return made


def _update_bands(made: Sequence[Any], months: np.ndarray,
                  qs: Mapping[float, np.ndarray]) -> None:
    """Move the artists of :func:`_bands` to new quantiles (the same levels)."""
    levels = sorted(qs)
    pairs = [(lo, hi) for lo, hi in zip(levels, reversed(levels), strict=True) if lo < hi]
    for artist, (lo, hi) in zip(made, pairs, strict=False):
        artist.set_data(months, qs[lo], qs[hi])
    if 0.5 in qs:
        made[-1].set_data(months, qs[0.5])


def _span(ax: Axes, *series: Any, floor: float | None = None) -> None:
    """Y limits holding every value of ``series`` (and ``floor``), with 5 % margins."""
    vals = np.concatenate([np.ravel(np.asarray(v, dtype=np.float64)) for v in series])
    vals = vals[np.isfinite(vals)]
    if floor is not None:
        vals = np.append(vals, floor)
    lo, hi = (float(vals.min()), float(vals.max())) if vals.size else (0.0, 1.0)
    pad = 0.05 * ((hi - lo) or abs(hi) or 1.0)
    ax.set_ylim(lo - pad, hi + pad)


def _keep_static_parts(ax: Axes) -> None:
    """Let a widget's SVG copy the parts of the axes that stay the same across updates.

    The charts below never change an axis's formatter or label after they are made, nor a
    legend's handles, a title's style, the frame or the background: an axis shows the same
    as long as its limits stay, a legend and a title as long as their texts do, the frame
    and the background always (see :func:`kamsim.views.plots.svg.keep_svg`).
    """
    keep_svg(ax.xaxis, lambda: tuple(ax.get_xlim()))
    keep_svg(ax.yaxis, lambda: tuple(ax.get_ylim()))
    legend = ax.get_legend()
    if legend is not None:
        keep_svg(legend, lambda: tuple(t.get_text() for t in legend.get_texts()))
    keep_svg(ax.title, ax.title.get_text)
    for part in (*ax.spines.values(), ax.patch):
        keep_svg(part, tuple)


def _same(last: Any, new: Any) -> bool:
    """Whether the series ``new`` equal the ``last`` ones (nested tuples of arrays, exactly)."""
    if last is None or len(last) != len(new):
        return False
    return all(np.array_equal(a, b) if isinstance(a, np.ndarray) or isinstance(b, np.ndarray)
               else (_same(a, b) if isinstance(a, tuple) else a == b)
               for a, b in zip(last, new, strict=True))


def _revenue_series(result: ReplacementTimeline | SimulationResult,
                    base_revenue: float | None, quantiles: Sequence[float]
                    ) -> tuple[float, dict[float, np.ndarray], np.ndarray, int, float | None]:
    """(monthly base, quantiles, mean, horizon, no-replacement floor) of a run."""
    if isinstance(result, ReplacementTimeline):
        if base_revenue is None:
            msg = "base_revenue (annual revenue before the loss) is needed for a timeline"
            raise AssumptionError(msg)
        rev = (float(base_revenue) - result.lost_revenue + result.run_rate) / 12.0
        return (float(base_revenue) / 12.0, {q: np.quantile(rev, q, axis=0) for q in quantiles},
                rev.mean(axis=0), result.horizon_months,
                (float(base_revenue) - result.lost_revenue) / 12.0)
    if isinstance(result, SimulationResult):
        base_m = (result.scenario.portfolio.total_revenue if base_revenue is None
                  else float(base_revenue)) / 12.0
        table = result.monthly_quantiles(quantiles, measure="revenue")
        return (base_m, {q: table[f"q{q:g}"].to_numpy() for q in quantiles},
                table["mean"].to_numpy(), result.scenario.horizon_months, None)
    msg = f"result must be a ReplacementTimeline or SimulationResult, got {type(result)}"
    raise ArgumentTypeError(msg)


class RevenueAfterLossChart:
    """Monthly revenue after the loss, updatable in place.

    The artists of :func:`replacement_revenue_plot`, made once; :meth:`update` moves them.

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> from kamsim.analysis.timelines import replacement_timeline
    >>> from kamsim.model import ReplacementAssumptions
    >>> a = ReplacementAssumptions(account_size="lognormal", size_median=1e5)
    >>> chart = RevenueAfterLossChart(Figure().add_subplot(),
    ...                               replacement_timeline(1e6, a, n_paths=200, rng=0),
    ...                               base_revenue=5e6)
    >>> chart.update(replacement_timeline(2e6, a, n_paths=200, rng=0))
    >>> chart.ax.get_title()
    'Revenue after the loss'
    """

    def __init__(self, ax: Axes, result: ReplacementTimeline | SimulationResult, *,
                 base_revenue: float | None = None,
                 quantiles: Sequence[float] = (0.05, 0.25, 0.5, 0.75, 0.95),
                 currency: str = "€") -> None:
        self.ax, self.base_revenue, self.quantiles = ax, base_revenue, tuple(quantiles)
        base_m, qs, mean, h, floor = _revenue_series(result, base_revenue, self.quantiles)
        self._floor = None if floor is None else ax.axhline(
            floor, color="#b2182b", linestyle=":", linewidth=1,
            label="after the loss, no replacement")
        months = np.arange(1, h + 1)
        self._bands = _bands(ax, months, qs, "revenue")
        self._mean = ax.plot(months, mean, color="black", linewidth=1, linestyle="--",
                             label="mean")[0]
        self._base = ax.axhline(base_m, color="black", linewidth=1.2, label="pre-loss level")
        ax.set_xlabel("month")
        _ylabel(ax, "revenue per month")
        ax.yaxis.set_major_formatter(currency_formatter(currency))
        ax.set_xlim(0.5, h + 0.5)
        # y given: where matplotlib puts the title (no ticks on top), without measuring
        # the tick labels on every redraw (the same in the charts below)
        ax.set_title("Revenue after the loss", y=1.0)
        ax.legend(loc="lower right", fontsize="small")
        _span(ax, *qs.values(), mean, base_m, *(() if floor is None else (floor,)))
        _keep_static_parts(ax)
        self._last: Any = (base_m, tuple(qs.values()), mean, h, floor)

    def update(self, result: ReplacementTimeline | SimulationResult) -> None:
        """Show another run of the same horizon.

        A run with the same revenue (e.g. other fixed costs) leaves the artists untouched,
        so a widget's SVG copies this chart instead of drawing it again.
        """
        base_m, qs, mean, h, floor = _revenue_series(result, self.base_revenue,
                                                     self.quantiles)
        series = (base_m, tuple(qs.values()), mean, h, floor)
        if _same(self._last, series):
            return
        self._last = series
        months = np.arange(1, h + 1)
        _update_bands(self._bands, months, qs)
        self._mean.set_data(months, mean)
        self._base.set_ydata([base_m, base_m])
        if self._floor is not None and floor is not None:
            self._floor.set_ydata([floor, floor])
        _span(self.ax, *qs.values(), mean, base_m, *(() if floor is None else (floor,)))


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
    RevenueAfterLossChart(ax, result, base_revenue=base_revenue, quantiles=quantiles,
                          currency=currency)
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
    RecoveryChart(ax, results)
    return fig


def _recovery(r: ReplacementTimeline | SimulationResult, label: str
              ) -> tuple[Any, str, float | None]:
    """(survival table, legend label, median if within the horizon) of one run."""
    if isinstance(r, ReplacementTimeline):
        surv, summ = r.survival(), r.summary()
    elif isinstance(r, SimulationResult):
        surv, summ = r.recovery_survival(), r.recovery_summary()
    else:
        msg = f"expected ReplacementTimeline or SimulationResult, got {type(r)}"
        raise ArgumentTypeError(msg)
    s = summ.set_index("statistic")
    values = s["value"].to_numpy(dtype=float)
    med = str(s.at["median", "display"])
    censored = float(values[s.index.get_loc("share_not_recovered")])
    med_value = float(values[s.index.get_loc("median")])
    text = f"{label}: " if label else ""
    within = bool(s.at["median", "within_horizon"])
    median = f"median {med} months" if within else "median beyond the horizon"
    # two lines: one would run past the right edge of a third-of-a-panel chart
    label = f"{text}{median},\n{percent(censored, 0)} not recovered"
    return surv, label, med_value if within else None


class RecoveryChart:
    """Share of futures not yet recovered, updatable in place.

    The artists of :func:`recovery_time_plot`, made once; :meth:`update` moves them.

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> from kamsim.analysis.timelines import replacement_timeline
    >>> from kamsim.model import ReplacementAssumptions
    >>> a = ReplacementAssumptions(account_size="lognormal", size_median=1e5)
    >>> chart = RecoveryChart(Figure().add_subplot(),
    ...                       replacement_timeline(5e5, a, n_paths=200, rng=0))
    >>> chart.update(replacement_timeline(1e6, a, n_paths=200, rng=0))
    >>> len(chart.ax.get_legend().get_texts())
    1
    """

    def __init__(self, ax: Axes, results: ReplacementTimeline | SimulationResult
                 | Mapping[str, ReplacementTimeline | SimulationResult]) -> None:
        self.ax = ax
        runs = dict(results) if isinstance(results, Mapping) else {"": results}
        self._lines = []
        for i, label in enumerate(runs):
            color = _LINE_COLORS[i % len(_LINE_COLORS)]
            # a placeholder label (an empty one would leave the run out of the legend);
            # update() writes the median and the censored share into it
            step = ax.step([], [], where="post", color=color, linewidth=2,
                           label=label or "run")[0]
            dot = ax.plot([], [], "o", color=color)[0]
            self._lines.append((step, dot))
        ax.axhline(0.5, color="grey", linewidth=0.8, linestyle=":")
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("months since the first lost month")
        _ylabel(ax, "share of futures not yet recovered")
        from matplotlib.ticker import PercentFormatter

        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        ax.set_title("How long until revenue is back at its pre-loss level", y=1.0)
        # lower left: the curves start at 100 % on the left and fall to the right
        self.legend = ax.legend(loc="lower left", fontsize="small")
        self._last: Any = None
        self.update(results)
        _keep_static_parts(ax)

    def update(self, results: ReplacementTimeline | SimulationResult
               | Mapping[str, ReplacementTimeline | SimulationResult]) -> None:
        """Show other runs (the same labels, in the same order).

        Runs with the same recovery times (e.g. other fixed costs) leave the artists
        untouched, so a widget's SVG copies this chart instead of drawing it again.
        """
        runs = dict(results) if isinstance(results, Mapping) else {"": results}
        curves = []
        for label, r in runs.items():
            surv, legend, med = _recovery(r, label)
            curves.append((surv.index.to_numpy(dtype=float),
                           surv["not_recovered"].to_numpy(dtype=float), legend, med))
        series = tuple(curves)
        if _same(self._last, series):
            return
        self._last = series
        right = 1.0
        for (x, y, legend, med), (step, dot), text in zip(
                curves, self._lines, self.legend.get_texts(), strict=True):
            step.set_data(x, y)
            dot.set_data([] if med is None else [med], [] if med is None else [0.5])
            text.set_text(legend)
            if x.size:
                right = max(right, float(x.max()))
        self.ax.set_xlim(-0.05 * right, right * 1.05)


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
    CashChart(ax, result, quantiles=quantiles, currency=currency)
    return fig


def _cash_title(result: SimulationResult) -> str:
    p = result.prob_out_of_cash()
    return "Cash balance" if np.isnan(p) else f"Cash balance: P(out of cash) = {percent(p)}"


class CashChart:
    """Cash balance bands, updatable in place.

    The artists of :func:`cash_path_plot`, made once; :meth:`update` moves them.

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> from kamsim.engine import simulate
    >>> from kamsim.model import ReplacementAssumptions, Scenario
    >>> from kamsim.portfolio.datasets import synthetic_portfolio
    >>> sc = Scenario(portfolio=synthetic_portfolio(40, rng=0), horizon_months=12,
    ...               fixed_costs=1e6, opening_cash=5e5, replacement=ReplacementAssumptions())
    >>> chart = CashChart(Figure().add_subplot(), simulate(sc, n_paths=300, rng=1))
    >>> chart.update(simulate(sc, n_paths=300, rng=2))
    >>> chart.ax.get_title().startswith("Cash balance")
    True
    """

    def __init__(self, ax: Axes, result: SimulationResult, *,
                 quantiles: Sequence[float] = (0.05, 0.25, 0.5, 0.75, 0.95),
                 currency: str = "€") -> None:
        if not isinstance(result, SimulationResult):
            msg = f"result must be a SimulationResult, got {type(result).__name__}"
            raise ArgumentTypeError(msg)
        self.ax, self.quantiles = ax, tuple(quantiles)
        table = result.monthly_quantiles(self.quantiles, measure="cash")
        qs = {q: table[f"q{q:g}"].to_numpy() for q in self.quantiles}
        months = np.arange(1, len(table) + 1)
        self._bands = _bands(ax, months, qs, "cash")
        self._mean = ax.plot(months, table["mean"], color="black", linewidth=1,
                             linestyle="--", label="mean")[0]
        ax.axhline(0.0, color="#b2182b", linewidth=1.5, label="zero cash")
        ax.set_title(_cash_title(result), y=1.0)
        ax.set_xlabel("month")
        _ylabel(ax, "cash")
        ax.yaxis.set_major_formatter(currency_formatter(currency))
        ax.set_xlim(0.5, len(table) + 0.5)
        ax.legend(loc="lower left", fontsize="small")
        _span(ax, *qs.values(), table["mean"], floor=0.0)
        _keep_static_parts(ax)

    def update(self, result: SimulationResult) -> None:
        """Show another run of the same horizon."""
        table = result.monthly_quantiles(self.quantiles, measure="cash")
        qs = {q: table[f"q{q:g}"].to_numpy() for q in self.quantiles}
        months = np.arange(1, len(table) + 1)
        _update_bands(self._bands, months, qs)
        self._mean.set_data(months, table["mean"].to_numpy())
        self.ax.set_title(_cash_title(result), y=1.0)
        _span(self.ax, *qs.values(), table["mean"], floor=0.0)
