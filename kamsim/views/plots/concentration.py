"""Concentration figures: Lorenz curve, Pareto chart, key-account score contributions.

Every plotting function returns a :class:`matplotlib.figure.Figure` built without
pyplot (no global state, nothing shown), so figures work the same in notebooks
(``%matplotlib inline`` displays a returned figure), reports (``fig.savefig``) and tests.
Pass ``ax=`` to draw into an existing axes instead (the function then returns that
axes' figure).

This module draws the concentration figures; the shared style (tier colours, axis
formatters) is :mod:`kamsim.views.plots.style`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from kamsim._util.figures import figure_axes
from kamsim._util.format import percent
from kamsim.analysis.concentration import MAJOR_CUSTOMER_THRESHOLD, lorenz_curve, measure_values
from kamsim.analysis.key_accounts import KeyAccountScores
from kamsim.exceptions import AssumptionError
from kamsim.portfolio import Portfolio
from kamsim.views.plots.style import (
    CRITERION_COLORS,
    TIER_COLORS,
    currency_formatter,
    percent_formatter,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "ParetoChart",
    "ScoreContributionChart",
    "lorenz_plot",
    "pareto_plot",
    "score_contribution_plot",
]


# --- concentration ---------------------------------------------------------------------


def lorenz_plot(
    data: Portfolio | npt.ArrayLike,
    measure: str | Sequence[str] = "revenue",
    *,
    ax: Axes | None = None,
) -> Figure:
    """Lorenz curve(s) with the Gini coefficient in the legend.

    Accounts are sorted from smallest to largest; the curve shows the share of the
    total (y) held by the smallest x % of accounts. The further the curve sags below the
    diagonal (perfect equality), the more concentrated the portfolio.

    Parameters
    ----------
    data : Portfolio or array_like
        A portfolio, or the values themselves.
    measure : str or sequence of str
        Portfolio measure(s) to draw, e.g. ``("revenue", "gross_profit")``; ignored for
        an array.
    ax : matplotlib.axes.Axes, optional
        Axes to draw into.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from kamsim.portfolio.datasets import load_sample
    >>> fig = lorenz_plot(load_sample(), ["revenue", "gross_profit"])
    >>> [t.get_text() for t in fig.axes[0].get_legend().get_texts()][:1]
    ['revenue (Gini 0.68)']
    """
    fig, ax = figure_axes(ax, (5.5, 5.0))
    if isinstance(data, Portfolio):
        measures = [measure] if isinstance(measure, str) else list(measure)
        series = [(m, measure_values(data, m)) for m in measures]
    else:
        series = [("values", np.asarray(data, dtype=np.float64))]
    for label, x in series:
        lc = lorenz_curve(x)
        ax.plot(lc.population_share, lc.value_share, lw=2,
                label=f"{label.replace('_', ' ')} (Gini {lc.gini:.2f})")
    ax.plot([0, 1], [0, 1], color="0.5", ls="--", lw=1, label="perfect equality")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.xaxis.set_major_formatter(percent_formatter())
    ax.yaxis.set_major_formatter(percent_formatter())
    ax.set_xlabel("share of accounts (smallest first)")
    ax.set_ylabel("share of total")
    ax.set_title("Lorenz curve")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    return fig


def _tiers_for(ids: npt.NDArray[np.object_],
               highlight: KeyAccountScores | Iterable[str] | None) -> list[str]:
    if highlight is None:
        return ["standard"] * ids.size
    if isinstance(highlight, KeyAccountScores):
        by_id = dict(zip(highlight.account_ids.tolist(), highlight.tier_column(), strict=True))
        return [by_id.get(a, "standard") for a in ids.tolist()]
    keys = {str(a) for a in highlight}
    return ["key" if a in keys else "standard" for a in ids.tolist()]


def _check_top(top: int) -> None:
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        msg = f"top must be a whole number >= 1, got {top!r}"
        raise AssumptionError(msg)


def _tier_colors(tiers: Sequence[str]) -> list[str]:
    return [TIER_COLORS.get(t, TIER_COLORS["standard"]) for t in tiers]


class ParetoChart:
    """A Pareto chart that can be recoloured in place (see :func:`pareto_plot`).

    The bars, the cumulative line, the twin axis and the major-customer line are drawn
    once; :meth:`set_highlight` only recolours the bars (and rebuilds the legend when the
    set of tiers shown changes), so a widget redraw draws the same artists again.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Axes for the bars (a twin axes is added for the cumulative share).
    portfolio, measure, top, highlight, major_threshold, currency
        As for :func:`pareto_plot`.

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> from kamsim.portfolio.datasets import load_sample
    >>> chart = ParetoChart(Figure().add_subplot(), load_sample(), top=5)
    >>> chart.set_highlight(["A0001"])
    >>> len(chart.bars)
    5
    """

    def __init__(self, ax: Axes, portfolio: Portfolio, measure: str = "revenue", *,
                 top: int = 30, highlight: KeyAccountScores | Iterable[str] | None = None,
                 major_threshold: float = MAJOR_CUSTOMER_THRESHOLD,
                 currency: str = "€") -> None:
        _check_top(top)
        fig = ax.get_figure(root=True)
        x = measure_values(portfolio, measure)
        total = float(x.sum())
        order = np.argsort(-x, kind="stable")
        shown = order[: min(top, x.size)]
        self.ax = ax
        self._ids = portfolio.account_ids[shown]
        pos = np.arange(shown.size)
        self.bars = ax.bar(pos, x[shown], color=TIER_COLORS["standard"], edgecolor="white",
                           linewidth=0.5)
        level = major_threshold * total
        self._major = ax.axhline(level, color="black", ls="--", lw=1,
                                 label=f"{major_threshold:.0%} of total: major customer "
                                       "(ASC 280 / IFRS 8 disclosure, for revenue)")
        ax.set_ylim(0, max(float(x[shown].max()), level) * 1.08)
        ax.yaxis.set_major_formatter(currency_formatter(currency))
        ax.set_ylabel(f"{measure.replace('_', ' ')} per account")
        ax.set_xticks(pos, [str(n) for n in portfolio.names[shown]], rotation=90,
                      fontsize=7)
        ax.tick_params(axis="x", bottom=False)  # a bar's name needs no tick mark
        ax.set_xlim(-0.6, shown.size - 0.4)
        # y given: the title sits where matplotlib would put it (no ticks on top), without
        # measuring both axes' tick labels on every redraw to find that out
        ax.set_title(f"Pareto chart of {measure.replace('_', ' ')}: top {shown.size} of "
                     f"{x.size} accounts", y=1.0)
        cum = np.cumsum(x[order]) / total
        self.twin = ax2 = ax.twinx()
        if fig is not None and fig.get_layout_engine() is None:
            # a twin made after a frozen layout (a widget's redraw) would take the grid's
            # default place, not the bars' axes' one: pin it there, so dots sit on their
            # bars (with a layout engine the engine places both; set_position would take
            # the twin out of the layout and its labels would be cut off)
            ax2.set_position(ax.get_position())
        self._cum = ax2.plot(pos, cum[: shown.size], color="#2166ac", marker="o", ms=3,
                             lw=1.5, label="cumulative share of total (right axis)")[0]
        ax2.set_ylim(0, 1.02)
        ax2.yaxis.set_major_formatter(percent_formatter())
        ax2.set_ylabel("cumulative share")
        self._shown_tiers: tuple[str, ...] | None = None
        self.set_highlight(highlight)

    def set_highlight(self, highlight: KeyAccountScores | Iterable[str] | None) -> None:
        """Colour the bars by tier (scores) or mark the given account ids as key."""
        tiers = _tiers_for(self._ids, highlight)
        if (tiers, highlight is None) == getattr(self, "_tiers", None):
            return  # the same colours: the chart stays as it is (and is not redrawn)
        self._tiers = (tiers, highlight is None)
        for bar, colour in zip(self.bars, _tier_colors(tiers), strict=True):
            bar.set_facecolor(colour)
        present = tuple(t for t in TIER_COLORS if t in tiers and highlight is not None)
        if present != self._shown_tiers:
            from matplotlib.patches import Patch

            self._shown_tiers = present
            handles = [Patch(color=TIER_COLORS[t], label=f"{t} account") for t in present]
            self.twin.legend(handles=[*handles, self._major, self._cum], loc="upper right",
                             fontsize=8)


def pareto_plot(
    portfolio: Portfolio,
    measure: str = "revenue",
    *,
    top: int = 30,
    highlight: KeyAccountScores | Iterable[str] | None = None,
    major_threshold: float = MAJOR_CUSTOMER_THRESHOLD,
    currency: str = "€",
    ax: Axes | None = None,
) -> Figure:
    """Pareto chart: the largest accounts' bars, the cumulative share and the 10 % line.

    Bars show the ``top`` largest accounts (currency axis, left), coloured by tier when
    ``highlight`` gives key-account scores (or a list of key account ids). The line
    shows the cumulative share of the whole portfolio's total (percent axis, right). The
    dashed horizontal line marks ``major_threshold`` (10 %) of the total: for revenue, an
    account above it is a major customer that ASC 280-10-50-42 / IFRS 8.34 require to be
    disclosed. (:class:`ParetoChart` draws it and can recolour it in place.)

    Parameters
    ----------
    portfolio : Portfolio
    measure : str
        ``"revenue"``, ``"gross_profit"`` or any numeric column.
    top : int
        Number of accounts shown (>= 1).
    highlight : KeyAccountScores or iterable of str, optional
        Tiers to colour, or account ids to mark as key.
    major_threshold : float
        Share at which the major-customer line is drawn.
    currency : str
        Currency symbol of the amount axis.
    ax : matplotlib.axes.Axes, optional
        Axes for the bars (a twin axes is added for the cumulative share).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from kamsim.portfolio.datasets import load_sample
    >>> fig = pareto_plot(load_sample(), top=10)
    >>> len(fig.axes[0].patches)
    10
    """
    _check_top(top)
    fig, ax = figure_axes(ax, (9.0, 4.8))
    ParetoChart(ax, portfolio, measure, top=top, highlight=highlight,
                major_threshold=major_threshold, currency=currency)
    return fig


def _weight_label(criterion: str, weight: float) -> str:
    return f"{criterion.replace('_', ' ')} (weight {percent(weight, 0)})"


class ScoreContributionChart:
    """The key-account score chart, updatable in place (see :func:`score_contribution_plot`).

    The stacked bars (one :class:`~matplotlib.collections.PolyCollection` of rectangles
    per criterion, in :attr:`segments`), tick labels, threshold lines and legend are made
    once; :meth:`update` moves the rectangles, rewrites the tick labels and legend texts
    and moves the threshold lines, so a widget redraw creates no new artist.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    scores : KeyAccountScores
    top : int
        Number of accounts shown (>= 1).
    labels : mapping of str to str, optional
        Business names of the criteria for the legend (default: the name with spaces).

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> from kamsim.portfolio.datasets import load_sample
    >>> from kamsim.analysis.key_accounts import key_account_scores
    >>> pf = load_sample()
    >>> chart = ScoreContributionChart(Figure().add_subplot(), key_account_scores(pf), top=5)
    >>> chart.update(key_account_scores(pf, {"volume": 1.0, "growth": 1.0}))
    >>> [len(c.get_paths()) for c in chart.segments]
    [5, 5, 5, 5, 5, 5, 5]
    """

    def __init__(self, ax: Axes, scores: KeyAccountScores, *, top: int = 15,
                 labels: Mapping[str, str] | None = None) -> None:
        _check_top(top)
        self.ax = ax
        self.criteria = tuple(scores.criteria)
        self._labels = dict(labels or {})
        n = min(top, scores.score.size)
        self.top = n
        self._pos = pos = np.arange(n)[::-1]
        from matplotlib.collections import PolyCollection

        # one collection per criterion (n segments each), not n x criteria rectangles:
        # the same picture with a tenth of the artists to draw
        self.segments: list[PolyCollection] = []
        for j, c in enumerate(self.criteria):
            coll = PolyCollection([], facecolors=CRITERION_COLORS[j % len(CRITERION_COLORS)],
                                  edgecolors="none", label=self._label(c, scores.weights[c]))
            ax.add_collection(coll, autolim=False)
            self.segments.append(coll)
        ax.set_ylim(-0.6, n - 0.4)
        ax.set_yticks(pos, [""] * n, fontsize=8)
        ax.tick_params(axis="y", left=False)  # a bar's name needs no tick mark
        self._thresholds = []
        rule = scores.tier_rule
        if rule.method == "threshold":
            for name in ("key", "strategic"):
                self._thresholds.append(ax.axvline(0.0, color=TIER_COLORS[name], ls=":",
                                                   lw=1.5, label=f"{name} threshold"))
        ax.set_xlim(0, 1.0)
        ax.set_xlabel("score (0-1) = sum of weighted criteria")
        ax.set_title(f"Key-account score: top {n} accounts by criterion", y=1.0)
        self.legend = ax.legend(loc="lower right", fontsize=7)
        ax.grid(axis="x", alpha=0.3)
        self.update(scores)

    def _label(self, criterion: str, weight: float) -> str:
        if criterion in self._labels:
            return f"{self._labels[criterion]} (weight {percent(weight, 0)})"
        return _weight_label(criterion, weight)

    def update(self, scores: KeyAccountScores) -> None:
        """Show ``scores`` (same criteria and tier method as the first ones)."""
        order = np.argsort(scores.rank, kind="stable")[: self.top]
        left = np.zeros(order.size)
        y0, y1 = self._pos - 0.375, self._pos + 0.375
        for j, segments in enumerate(self.segments):
            right = left + scores.contributions[order, j]
            # each segment a rectangle (left, y0) .. (right, y1), as an (n, 4, 2) array
            corners = np.stack([np.stack([left, y0], 1), np.stack([right, y0], 1),
                                np.stack([right, y1], 1), np.stack([left, y1], 1)], 1)
            segments.set_verts(list(corners))
            left = right
        tiers = scores.tier[order]
        self.ax.set_yticks(self._pos, [f"{name}  [{t}]" for name, t in
                                       zip(scores.names[order], tiers, strict=True)])
        for lab, t in zip(self.ax.get_yticklabels(), tiers, strict=True):
            lab.set_color(TIER_COLORS["key"] if t == "key" else "black")
        texts = self.legend.get_texts()
        for text, c in zip(texts, self.criteria, strict=False):
            text.set_text(self._label(c, scores.weights[c]))
        rule = scores.tier_rule
        for k, (name, line) in enumerate(zip(("key", "strategic"), self._thresholds,
                                             strict=False)):
            v = float(rule.key if name == "key" else rule.strategic)
            line.set_xdata([v, v])
            texts[len(self.criteria) + k].set_text(f"{name} threshold {v:.2f}")
        self.ax.set_xlim(0, max(1.0, float(left.max(initial=0.0)) * 1.02))


def score_contribution_plot(
    scores: KeyAccountScores,
    *,
    top: int = 15,
    ax: Axes | None = None,
) -> Figure:
    """Stacked horizontal bars of each criterion's contribution to the top scores.

    One bar per account, best at the top; each coloured segment is ``weight x
    normalised criterion``, so the segments add up to the score and show *why* an
    account ranks where it does. Labels give the tier; with threshold tiers, dotted
    vertical lines mark the key and strategic thresholds.
    (:class:`ScoreContributionChart` draws it and can update it in place.)

    Parameters
    ----------
    scores : KeyAccountScores
        From :func:`kamsim.analysis.key_accounts.key_account_scores`.
    top : int
        Number of accounts shown (>= 1).
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from kamsim.portfolio.datasets import load_sample
    >>> from kamsim.analysis.key_accounts import key_account_scores
    >>> fig = score_contribution_plot(key_account_scores(load_sample()), top=5)
    >>> len(fig.axes[0].collections), len(fig.axes[0].collections[0].get_paths())
    (7, 5)
    """
    _check_top(top)
    fig, ax = figure_axes(ax, (8.0, 0.35 * min(top, scores.score.size) + 1.8))
    ScoreContributionChart(ax, scores, top=top)
    return fig
