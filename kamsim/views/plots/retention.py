"""Figures for the retention-budget optimiser (re-exported by :mod:`kamsim.views.plots`).

Every function returns a :class:`matplotlib.figure.Figure` built without pyplot; pass
``ax=`` to draw into an existing axes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from kamsim._util.figures import figure_axes
from kamsim.exceptions import AssumptionError
from kamsim.risk import expected_shortfall
from kamsim.views.plots.style import BAD, GOOD, NEUTRAL, PALETTE, currency_formatter

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    from kamsim.economics.retention import RetentionFrontier, RetentionStudy

__all__ = ["RetentionFrontierChart", "retention_frontier_plot"]

_LINE, _OPT, _RULE, _HI = NEUTRAL, GOOD, BAD, PALETTE["orange"]
_RULE_MARKERS = ("s", "D", "^", "v", "P", "X")


def retention_frontier_plot(
    frontier: RetentionFrontier,
    study: RetentionStudy | None = None,
    *,
    highlight: int | None = None,
    currency: str = "€",
    ax: Axes | None = None,
) -> Figure:
    """The efficient frontier: expected NPV against the bad-year loss, rules marked.

    Each point of ``frontier`` (a budget or a risk aversion) is an optimum on the same
    futures, drawn as its gain over giving no account a plan: up is more expected NPV,
    right a smaller Expected Shortfall (both better). With ``study`` (from
    :func:`kamsim.economics.retention.plan_retention`, whose ``optimum.futures`` the
    frontier should be computed on) its chosen allocation and the simple rules at its
    budget are marked, all valued on those futures.

    Parameters
    ----------
    frontier : RetentionFrontier
        From :func:`kamsim.economics.retention.retention_frontier`.
    study : RetentionStudy, optional
    highlight : int, optional
        Index of a frontier point to ring (e.g. the budget a slider selects).
    currency : str
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from kamsim.portfolio.datasets import data_dir
    >>> from kamsim.economics.retention import retention_frontier, retention_futures
    >>> from kamsim.model import Scenario
    >>> sc = Scenario.from_yaml(data_dir() / "sample_scenario.yaml")
    >>> fut = retention_futures(sc, n_paths=500, rng=1)
    >>> fig = retention_frontier_plot(retention_frontier(fut, budgets=[0, 2e5, 4e5]))
    >>> fig.axes[0].get_xlabel()[:30]
    'Reduction of the Expected Shor'
    """
    fig, ax = figure_axes(ax, (7.5, 4.8))
    RetentionFrontierChart(ax, frontier, study, highlight=highlight, currency=currency)
    return fig


class RetentionFrontierChart:
    """The frontier chart with a ring that can move in place (see :func:`retention_frontier_plot`).

    Everything is drawn once; :meth:`set_highlight` only moves the ring to another point,
    so a budget slider's redraw draws the same artists again instead of a new chart.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    frontier, study, highlight, currency
        As for :func:`retention_frontier_plot`.

    Attributes
    ----------
    e0, es0 : float
        Expected NPV and Expected Shortfall with no plan (what the axes are measured from).

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> from kamsim.portfolio.datasets import data_dir
    >>> from kamsim.economics.retention import retention_frontier, retention_futures
    >>> from kamsim.model import Scenario
    >>> sc = Scenario.from_yaml(data_dir() / "sample_scenario.yaml")
    >>> fr = retention_frontier(retention_futures(sc, n_paths=500, rng=1),
    ...                         budgets=[0, 2e5, 4e5])
    >>> chart = RetentionFrontierChart(Figure().add_subplot(), fr, highlight=0)
    >>> chart.set_highlight(2)
    >>> bool(chart.ring.get_xydata()[0, 0] == chart.ax.lines[0].get_xydata()[2, 0])
    True
    """

    def __init__(self, ax: Axes, frontier: RetentionFrontier,
                 study: RetentionStudy | None = None, *, highlight: int | None = None,
                 currency: str = "€") -> None:
        cur = currency_formatter(currency)
        p = frontier.points
        fut = frontier.futures
        none = np.full(fut.n_accounts, fut.default, dtype=np.int64)
        e0 = fut.expected_npv(none)
        es0 = expected_shortfall(fut.loss(none, frontier.risk), frontier.level)
        self.ax, self.e0, self.es0 = ax, float(e0), float(es0)
        by_budget = p.budget.nunique() > 1
        x = es0 - p.es.to_numpy(dtype=np.float64)
        y = p.expected_npv.to_numpy(dtype=np.float64) - e0
        self._xy = x, y
        ax.plot(x, y, "-o", color=_LINE, ms=5, lw=1.6, zorder=2,
                label="optimum at each budget" if by_budget else "optimum at each risk aversion")
        tags = [cur(float(b)) for b in p.budget] if by_budget else \
            [f"λ {v:g}" for v in p.risk_aversion]
        k = 0
        while k < len(p):  # one label per distinct point ("€400k–€600k" when they coincide)
            j = k
            while j + 1 < len(p) and np.isclose(x[j + 1], x[k]) and np.isclose(y[j + 1], y[k]):
                j += 1
            text = tags[k] if j == k else f"{tags[k]}–{tags[j]}"
            ax.annotate(text, (x[k], y[k]), xytext=(5, -11), textcoords="offset points",
                        fontsize=8, color=_LINE)
            k = j + 1
        ax.axhline(0, color="#999999", lw=0.8)
        ax.axvline(0, color="#999999", lw=0.8)
        self.ring: Line2D | None = None
        self._ringed = highlight
        if highlight is not None and 0 <= highlight < len(p):
            self.ring = ax.plot([x[highlight]], [y[highlight]], "o", ms=14, mfc="none",
                                mec=_HI, mew=2.5, zorder=3, label="selected")[0]
        if study is not None:
            ins = study.in_sample
            es_i = ins.es.to_numpy(dtype=np.float64)
            npv_i = ins.expected_npv.to_numpy(dtype=np.float64)
            labels = ins.allocation.tolist()
            k_opt = labels.index("optimised")
            ax.plot([es0 - es_i[k_opt]], [npv_i[k_opt] - e0], "*", ms=16, color=_OPT, zorder=4,
                    label=f"chosen (budget {cur(study.optimum.budget.amount)})")
            rules = [k for k in range(len(labels)) if k != k_opt]
            for n, k in enumerate(rules):
                ax.plot([es0 - es_i[k]], [npv_i[k] - e0], _RULE_MARKERS[n % len(_RULE_MARKERS)],
                        ms=8 + 3 * (len(rules) - n - 1), color=_RULE, mfc="none", mew=1.6,
                        zorder=4, label=str(labels[k]))
        ax.xaxis.set_major_formatter(cur)
        ax.yaxis.set_major_formatter(cur)
        what = "NPV lost to churn" if frontier.risk == "churn" else "NPV shortfall"
        ax.set_xlabel(f"Reduction of the Expected Shortfall {frontier.level:.0%} vs no plan\n"
                      f"({what} in the worst {1 - frontier.level:.0%} of futures)")
        ax.set_ylabel("Expected NPV vs no plan")
        ax.margins(x=0.12, y=0.15)
        ax.legend(fontsize=8, loc="best")
        if by_budget:
            obj = p.objective.to_numpy()
            top = float(obj.max())
            tol = 1e-4 * max(abs(top), 1.0)
            sat = float(p.budget.to_numpy()[int(np.argmax(obj >= top - tol))])
            if sat < float(p.budget.max()):
                title = f"Retention spend beyond {cur(sat)} buys no better outcome"
            else:
                title = "Each step of retention budget still buys a better outcome"
        else:
            title = "Trading expected NPV for a smaller bad-year loss"
        ax.set_title(f"{title}\n({fut.n_accounts} accounts, {fut.n_paths:,} futures, "
                     f"{fut.scenario.horizon_months} months)", fontsize=10,
                     y=1.0)  # where matplotlib puts it, without measuring every redraw

    def set_highlight(self, k: int) -> None:
        """Ring frontier point ``k`` (the chart must have been made with a highlight)."""
        x, y = self._xy
        if self.ring is None or isinstance(k, bool) or not 0 <= k < x.size:
            msg = (f"highlight must be a point of the frontier (0 to {x.size - 1}) on a "
                   f"chart made with a highlight, got {k!r}")
            raise AssumptionError(msg, field="highlight")
        if self._ringed != k:  # the same point: the axes stays as drawn (not redrawn)
            self._ringed = k
            self.ring.set_data([x[k]], [y[k]])
