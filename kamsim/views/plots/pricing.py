"""Figures for price cuts, KAM programs and negotiations (in :mod:`kamsim.views.plots`).

Every function returns a :class:`matplotlib.figure.Figure` built without pyplot; pass
``ax=`` to draw into an existing axes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pandas as pd

from kamsim._util.figures import figure_axes
from kamsim._util.format import money, percent
from kamsim.views.plots.style import (
    BAD,
    GOOD,
    INK,
    NEUTRAL,
    SERIES,
    currency_formatter,
    headroom,
    percent_formatter,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from kamsim.economics.pricing import OptimalPassThrough, PassThroughBreakdown, PolicyComparison
    from kamsim.economics.program import ProgramResult
    from kamsim.economics.rebates import RebateSchedule

__all__ = [
    "PassThroughCurveChart",
    "PassThroughWaterfall",
    "WalkAwayChart",
    "pass_through_curve_plot",
    "pass_through_waterfall",
    "rebate_plot",
    "tactic_roi_plot",
    "walk_away_plot",
]

_GOOD, _BAD, _NEUTRAL, _LINE = GOOD, BAD, NEUTRAL, INK


def _fmt(currency: str) -> tuple[object, object]:

    return currency_formatter(currency), percent_formatter()


class PassThroughWaterfall:
    """The efficiency-gain waterfall, updatable in place (see :func:`pass_through_waterfall`).

    Bars, value labels and the zero line are made once; :meth:`update` moves the bars
    (``set_y`` / ``set_height``), recolours them and rewrites the labels and the title.

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> from kamsim.model import Scenario
    >>> from kamsim.portfolio.datasets import load_sample
    >>> from kamsim.economics.pricing import PricingAssumptions, pass_through_breakdown
    >>> sc = Scenario(portfolio=load_sample(), horizon_months=36)
    >>> chart = PassThroughWaterfall(Figure().add_subplot(),
    ...                              pass_through_breakdown(sc, PricingAssumptions(), 0.5))
    >>> chart.update(pass_through_breakdown(sc, PricingAssumptions(), 1.0))
    >>> chart.ax.get_title().startswith("Passing back 100 %")
    True
    """

    def __init__(self, ax: Axes, breakdown: PassThroughBreakdown, *,
                 currency: str = "€") -> None:
        self.ax, self.currency = ax, currency
        df = breakdown.to_frame()
        cur, _ = _fmt(currency)
        n = len(df)
        self.bars = ax.bar(range(n), np.zeros(n), width=0.6)
        self.labels = [ax.annotate("", (i, 0.0), ha="center", va="bottom", fontsize=8,
                                   xytext=(0, 2), textcoords="offset points")
                       for i in range(n)]
        ax.set_xticks(range(n), [s.replace(" ", "\n", 2) for s in df.step], fontsize=8)
        ax.yaxis.set_major_formatter(cur)  # type: ignore[arg-type]
        ax.axhline(0, color=_LINE, lw=0.8)
        ax.set_xlim(-0.6, n - 0.4)
        ax.set_ylabel("NPV over the horizon")
        self.update(breakdown)

    def update(self, breakdown: PassThroughBreakdown) -> None:
        """Show ``breakdown`` (the same steps as the first one)."""
        ax, currency = self.ax, self.currency
        df = breakdown.to_frame()
        cur, _ = _fmt(currency)
        level = 0.0
        tops: list[float] = [0.0]
        bottoms: list[float] = [0.0]
        for i, (kind, value) in enumerate(zip(df["kind"].tolist(), df["value"].tolist(),
                                              strict=True)):
            v = float(value)
            if kind == "start":
                bottom, height, color = 0.0, v, _NEUTRAL
                level = v
            elif kind == "end":
                bottom, height, color = 0.0, v, _GOOD if v >= 0 else _BAD
            else:
                bottom, height = level, v
                color = _GOOD if v >= 0 else _BAD
                level += v
            bar = self.bars[i]
            bar.set_y(bottom)
            bar.set_height(height)
            bar.set_color(color)
            tops.append(bottom + max(height, 0.0))
            bottoms.append(bottom + min(height, 0.0))
            self.labels[i].xy = (i, bottom + max(height, 0))
            self.labels[i].set_text(cur(v))  # type: ignore[operator]
        headroom(ax, max(tops), min(bottoms), pad=0.14)
        gain, kept = float(breakdown.gain_npv), float(breakdown.kept_npv)
        share = kept / gain if gain else float("nan")
        ax.set_title(f"Passing back {percent(breakdown.pass_through, 0)} of the gains keeps "
                     f"{money(kept, currency)} of {money(gain, currency)}"
                     + (f" ({percent(share, 0)})" if gain else ""))


def pass_through_waterfall(breakdown: PassThroughBreakdown, *, currency: str = "€",
                           ax: Axes | None = None) -> Figure:
    """Waterfall from the efficiency gain to what is passed back, bought and kept.

    Bars: NPV of the efficiency gains (start), minus the NPV passed back as price cuts,
    plus the NPV that retention and volume buy back, ending at the gain kept as profit.
    (:class:`PassThroughWaterfall` draws it and can update it in place.)

    Parameters
    ----------
    breakdown : PassThroughBreakdown
        From :func:`kamsim.economics.pricing.pass_through_breakdown`.
    currency : str
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = figure_axes(ax, (7.5, 4.2))
    PassThroughWaterfall(ax, breakdown, currency=currency)
    return fig


class PassThroughCurveChart:
    """The exact pass-through curve with its optimum, updatable in place.

    The widget form of :func:`pass_through_curve_plot` (without the Monte Carlo band):
    the line, the optimum's line and label, the marker of the current pass-through and
    the legend are made once; :meth:`update` moves them and rescales the value axis.

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> from kamsim.model import Scenario
    >>> from kamsim.portfolio.datasets import load_sample
    >>> from kamsim.economics.pricing import (PricingAssumptions, optimal_pass_through,
    ...                                        pass_through_curve)
    >>> sc, a = Scenario(portfolio=load_sample(), horizon_months=36), PricingAssumptions()
    >>> chart = PassThroughCurveChart(Figure().add_subplot(), pass_through_curve(sc, a, grid=6),
    ...                               optimal_pass_through(sc, a, grid=6), current=0.5)
    >>> chart.update(pass_through_curve(sc, a, grid=6), optimal_pass_through(sc, a, grid=6),
    ...              current=0.25)
    >>> float(chart.current.get_xdata()[0])
    0.25
    """

    def __init__(self, ax: Axes, curve: pd.DataFrame, optimum: OptimalPassThrough, *,
                 current: float | None = None, currency: str = "€") -> None:
        self.ax = ax
        cur, pct = _fmt(currency)
        self.line = ax.plot([], [], color=_LINE, lw=2, label="expected (exact)")[0]
        ax.axhline(0, color="#999999", lw=0.8)
        self.best = ax.axvline(0.0, color=_GOOD, ls="--", lw=1.2)
        self.best_label = ax.annotate("", (0.0, 0.0), ha="left", va="top", xytext=(4, -4),
                                      textcoords="offset points", color=_GOOD, fontsize=9)
        self.current = ax.axvline(0.0, color="#999999", ls=":", lw=1,
                                  visible=current is not None)
        ax.xaxis.set_major_formatter(pct)  # type: ignore[arg-type]
        ax.yaxis.set_major_formatter(cur)  # type: ignore[arg-type]
        ax.set_xlabel("Share of efficiency gains passed back as price cuts")
        ax.set_ylabel("NPV vs keeping all gains")
        ax.set_xlim(-0.02, 1.02)
        ax.legend(handles=[self.line], loc="lower left", fontsize=8)
        self.update(curve, optimum, current=current)

    def update(self, curve: pd.DataFrame, optimum: OptimalPassThrough, *,
               current: float | None = None) -> None:
        """Show ``curve`` and ``optimum`` (and the current pass-through, if given)."""
        ax = self.ax
        x = curve["pass_through"].to_numpy(dtype=float)
        y = curve["net_of_pass_through"].to_numpy(dtype=float)
        self.line.set_data(x, y)
        lo, hi = min(float(y.min()), 0.0), max(float(y.max()), 0.0)
        pad = 0.08 * ((hi - lo) or abs(hi) or 1.0)
        ax.set_ylim(lo - pad, hi + pad)
        self.best.set_xdata([optimum.pass_through] * 2)
        self.best_label.xy = (optimum.pass_through, hi + pad)
        self.best_label.set_text(f"optimum {optimum.pass_through:.0%} ({optimum.objective})")
        if current is not None:
            self.current.set_xdata([current, current])
        # short enough for half a panel: the long form ran off the figure in Voila
        ax.set_title(f"Passing back {percent(optimum.pass_through, 0)} of the gains is worth "
                     "most")


def pass_through_curve_plot(curve: pd.DataFrame, *,
                            comparison: PolicyComparison | None = None,
                            optimum: OptimalPassThrough | None = None,
                            currency: str = "€", ax: Axes | None = None) -> Figure:
    """Expected NPV gained by passing gains back, against pass-through, optimum marked.

    The line is the exact expected NPV relative to zero pass-through (from
    :func:`kamsim.economics.pricing.pass_through_curve`). With ``comparison`` (a Monte Carlo
    :class:`~kamsim.economics.pricing.PolicyComparison` whose ``values`` are pass-through
    fractions), the shaded band holds the middle 90 % of the per-path differences (the
    uncertainty of the outcome) and error bars show ±2 standard errors of the Monte Carlo
    mean on common random numbers.
    """
    fig, ax = figure_axes(ax, (7.5, 4.2))
    cur, pct = _fmt(currency)
    x = curve["pass_through"].to_numpy()
    y = curve["net_of_pass_through"].to_numpy()
    if comparison is not None:
        xv = np.asarray(comparison.values)
        d = comparison.differences(0)
        lo, hi = np.quantile(d, [0.05, 0.95], axis=1)
        ax.fill_between(xv, lo, hi, color=_NEUTRAL, alpha=0.18,
                        label="5-95 % of simulated futures")
        ax.errorbar(xv, d.mean(axis=1), yerr=2 * comparison.difference_se(0), fmt="o",
                    color=_NEUTRAL, ms=4, capsize=3, label="Monte Carlo mean ± 2 SE")
    ax.plot(x, y, color=_LINE, lw=2, label="expected (exact)")
    ax.axhline(0, color="#999999", lw=0.8)
    if optimum is not None:
        ax.axvline(optimum.pass_through, color=_GOOD, ls="--", lw=1.2)
        ax.annotate(f"optimum {optimum.pass_through:.0%} ({optimum.objective})",
                    (optimum.pass_through, ax.get_ylim()[1]), ha="left", va="top",
                    xytext=(4, -4), textcoords="offset points", color=_GOOD, fontsize=9)
    ax.xaxis.set_major_formatter(pct)  # type: ignore[arg-type]
    ax.yaxis.set_major_formatter(cur)  # type: ignore[arg-type]
    ax.set_xlabel("Share of efficiency gains passed back as price cuts")
    ax.set_ylabel("NPV vs keeping all gains")
    if optimum is not None:
        ax.set_title(f"Passing back {percent(optimum.pass_through, 0)} of the gains is worth "
                     "most under these assumptions")
    else:
        ax.set_title("What passing gains back is worth")
    ax.legend(loc="lower left", fontsize=8)
    return fig


def tactic_roi_plot(result: ProgramResult, *, currency: str = "€",
                    ax: Axes | None = None) -> Figure:
    """Each tactic's incremental NPV alone (bars, ±2 SE) and at the margin (dots).

    Green bars pay for themselves (standalone and marginal gains both positive).
    """
    t = result.to_frame()
    fig, ax = figure_axes(ax, (8.0, 0.45 * len(t) + 1.8))
    cur, _ = _fmt(currency)
    y = np.arange(len(t))[::-1]
    colors = [_GOOD if p else _BAD for p in t.pays_for_itself]
    ax.barh(y, t.standalone_gain, xerr=2 * t.standalone_se, color=colors, alpha=0.85,
            capsize=3, label="alone vs no program")
    ax.scatter(t.marginal_gain, y, color=_LINE, zorder=3, s=18,
               label="at the margin (program minus it)")
    ax.set_yticks(y, list(t.tactic), fontsize=9)
    ax.axvline(0, color=_LINE, lw=0.8)
    ax.xaxis.set_major_formatter(cur)  # type: ignore[arg-type]
    ax.set_xlabel("Incremental NPV of profit over the horizon")
    ax.set_title("Which tactics pay for themselves (illustrative assumptions)")
    ax.legend(loc="best", fontsize=8)
    return fig


class WalkAwayChart:
    """The walk-away chart, updatable in place (see :func:`walk_away_plot`).

    One line per account, the demand line and the legend are made once; :meth:`update`
    moves them. The accounts (and their order) stay those of the first curve.

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> from kamsim.model import Scenario
    >>> from kamsim.portfolio.datasets import load_sample
    >>> from kamsim.economics.negotiation import walk_away_curve
    >>> curve = walk_away_curve(Scenario(portfolio=load_sample(), horizon_months=36), top=2)
    >>> chart = WalkAwayChart(Figure().add_subplot(), curve, demand=0.05)
    >>> chart.update(curve, demand=0.5)
    >>> chart.ax.get_title()
    'Below some credibilities the 50 % demand is worth refusing'
    """

    def __init__(self, ax: Axes, curve: pd.DataFrame, *, demand: float) -> None:
        self.ax = ax
        _, pct = _fmt("")
        self.lines = {}
        for i, ((acc, name), _g) in enumerate(curve.groupby(["account_id", "name"],
                                                             sort=False)):
            self.lines[acc] = ax.plot([], [], lw=1.8, label=str(name),
                                      color=SERIES[i % len(SERIES)])[0]
        self.demand = ax.axhline(demand, color=_BAD, ls="--", lw=1.2, label="demand")
        ax.xaxis.set_major_formatter(pct)  # type: ignore[arg-type]
        ax.yaxis.set_major_formatter(percent_formatter(1))
        ax.set_xlabel("Credibility of the threat (probability it leaves if refused)")
        ax.set_ylabel("Largest price cut worth conceding")
        self.legend = ax.legend(fontsize=8, loc="upper left")
        self.update(curve, demand=demand)

    def update(self, curve: pd.DataFrame, *, demand: float) -> None:
        """Show ``curve`` (the same accounts) and the ``demand`` line."""
        ax = self.ax
        for acc, g in curve.groupby("account_id", sort=False):
            if acc in self.lines:
                self.lines[acc].set_data(g["credibility"].to_numpy(float),
                                         g["walk_away"].to_numpy(float))
        self.demand.set_ydata([demand, demand])
        self.legend.get_texts()[-1].set_text(f"demand {demand:.1%}")
        y = curve["walk_away"].to_numpy(float)
        lo = min(float(y.min()) if y.size else 0.0, demand)
        hi = max(float(y.max()) if y.size else 0.0, demand)
        pad = 0.06 * ((hi - lo) or abs(hi) or 0.01)
        ax.set_ylim(lo - pad, hi + pad)
        x = curve["credibility"].to_numpy(float)
        if x.size:
            span = float(x.max() - x.min()) or 1.0
            ax.set_xlim(float(x.min()) - 0.03 * span, float(x.max()) + 0.03 * span)
        lowest = float(y.min()) if y.size else float("inf")
        ax.set_title("Conceding the demanded cut beats refusing at every credibility shown"
                     if lowest >= demand else
                     f"Below some credibilities the {percent(demand, 0)} demand is worth "
                     "refusing")


def walk_away_plot(curve: pd.DataFrame, *, demand: float | None = None,
                   ax: Axes | None = None) -> Figure:
    """Walk-away concession against the credibility of the threat, one line per account.

    ``curve`` comes from :func:`kamsim.economics.negotiation.walk_away_curve`. With ``demand``, a
    horizontal line marks the cut asked for: where an account's line is above it,
    conceding beats refusing.
    """
    fig, ax = figure_axes(ax, (7.5, 4.2))
    _, pct = _fmt("")
    for i, ((_acc, name), g) in enumerate(curve.groupby(["account_id", "name"], sort=False)):
        ax.plot(g.credibility, g.walk_away, lw=1.8, label=str(name),
                color=SERIES[i % len(SERIES)])
    if demand is not None:
        ax.axhline(demand, color=_BAD, ls="--", lw=1.2, label=f"demand {demand:.1%}")
    ax.xaxis.set_major_formatter(pct)  # type: ignore[arg-type]

    ax.yaxis.set_major_formatter(percent_formatter(1))
    ax.set_xlabel("Credibility of the threat (probability it leaves if refused)")
    ax.set_ylabel("Largest price cut worth conceding")
    if demand is not None and len(curve):
        lowest = float(curve["walk_away"].min())
        ax.set_title("Conceding the demanded cut beats refusing at every credibility shown"
                     if lowest >= demand else
                     f"Below some credibilities the {percent(demand, 0)} demand is worth "
                     "refusing")
    else:
        ax.set_title("Walk-away concession")
    ax.legend(fontsize=8, loc="upper left")
    return fig


def rebate_plot(schedules: Sequence[RebateSchedule], volumes: npt.ArrayLike, *,
                unit_price: float = 1.0, labels: Sequence[str] | None = None,
                ax: Axes | None = None) -> Figure:
    """Effective price per unit against volume for one or more rebate schedules."""
    fig, ax = figure_axes(ax, (7.5, 4.0))
    v = np.asarray(volumes, dtype=np.float64)
    names = labels or [s.kind.replace("_", " ") for s in schedules]
    for s, name in zip(schedules, names, strict=True):
        ax.plot(v, s.effective_price(v, unit_price), lw=1.8, label=name)
    ax.set_xlabel("Volume (units)")
    ax.set_ylabel("Effective price per unit")
    ax.set_title("Rebate schedules: effective price")
    ax.legend(fontsize=8)
    return fig
