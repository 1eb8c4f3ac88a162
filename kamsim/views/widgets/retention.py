"""Budget slider over the retention frontier (re-exported by :mod:`kamsim.views.widgets`).

:func:`retention_explorer` takes a :class:`~kamsim.economics.retention.RetentionFrontier` solved
over a range of budgets (all optima on the same futures) and shows, for the budget the
slider selects, the frontier with that point ringed and the table of which account gets
which plan. Nothing is re-solved on a move: every point was solved (with its proved gap)
when the frontier was built, so the panel answers instantly.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
import numpy as np
import pandas as pd

from kamsim._util.figures import panel_axes
from kamsim._util.format import money, percent, signed_money
from kamsim.economics.retention import RetentionFrontier, RetentionStudy
from kamsim.exceptions import AssumptionError
from kamsim.portfolio import Portfolio
from kamsim.views.plots.retention import RetentionFrontierChart
from kamsim.views.widgets.base import Explorer, html_table

__all__ = ["RetentionExplorer", "retention_explorer"]


class RetentionExplorer(Explorer):
    """A budget slider, the frontier with the selected budget ringed, and its allocation.

    Build with :func:`retention_explorer`.

    Attributes
    ----------
    budget : ipywidgets.SelectionSlider
        The retention budget (over the horizon); options are the frontier's budgets.
    summary : ipywidgets.HTML
        Spend, expected NPV and Expected Shortfall against no plan at that budget.
    table : ipywidgets.HTML
        Which account gets which plan.
    """

    title = "Where to spend the retention budget"
    question = "Which key accounts get which retention plan, within the budget?"

    def __init__(self, frontier: RetentionFrontier, study: RetentionStudy | None,
                 currency: str, **kwargs: Any) -> None:
        super().__init__(currency=currency, figsize=(7.5, 4.8), **kwargs)
        p = frontier.points
        if p.empty or p.budget.nunique() < 2:
            raise AssumptionError("the frontier must be solved over at least two budgets "
                                  "(retention_frontier(..., budgets=[...]))", field="frontier")
        self.frontier, self.study = frontier, study
        self._chart: RetentionFrontierChart | None = None
        options = [(money(float(b), currency), k) for k, b in enumerate(p.budget)]
        start = len(options) - 1
        if study is not None:
            near = np.abs(p.budget.to_numpy() - study.optimum.budget.amount)
            start = int(np.argmin(near))
        self.budget = self.selection(
            options, start, label=f"Retention budget ({currency}, whole horizon)",
            tooltip="Money available for retention plans over the horizon; each point was "
                    "solved in advance")
        self.summary = widgets.HTML()
        self.table = widgets.HTML()
        self.layout([widgets.VBox([self.controls("Budget", [self.budget]), self.status]),
                     self.summary,
                     widgets.HBox([self.image, self.table],
                                  layout=widgets.Layout(flex_flow="row wrap"))])
        self.image.layout.width = "auto"
        self.watch(self.budget)
        self.update()

    def set_frontier(self, frontier: RetentionFrontier,
                     study: RetentionStudy | None = None) -> None:
        """Show another frontier (e.g. solved on the user's own data) and redraw."""
        p = frontier.points
        if p.empty or p.budget.nunique() < 2:
            raise AssumptionError("the frontier must be solved over at least two budgets "
                                  "(retention_frontier(..., budgets=[...]))", field="frontier")
        self.frontier, self.study = frontier, study
        self._chart = None  # a new frontier: a new chart
        options = [(money(float(b), self.currency), k) for k, b in enumerate(p.budget)]
        shown = self._formats[id(self.budget)][1]
        names = {v: k for k, v in options}
        self._formats[id(self.budget)] = (lambda v: names.get(v, str(v)), shown)
        with self.quiet():
            self.budget.options = options
            self.budget.value = min(self.index, len(options) - 1)
        shown.value = names[self.budget.value]
        self.update()

    def data_portfolio(self) -> Portfolio:
        """The portfolio the frontier was solved on."""
        return self.frontier.futures.scenario.portfolio

    @property
    def index(self) -> int:
        """Position of the selected budget in the frontier."""
        return int(self.budget.value)

    def render(self) -> None:
        """Redraw the figure and tables for the selected budget."""
        fr, k, cur = self.frontier, self.index, self.currency
        fut = fr.futures
        row = fr.points.iloc[k]
        chart = self._chart
        if chart is None:  # drawn once per frontier; a budget move only moves the ring
            (ax,) = panel_axes(self.figure, 1)
            chart = self._chart = RetentionFrontierChart(ax, fr, self.study, highlight=k,
                                                         currency=cur)
        else:
            chart.set_highlight(k)
        e0, es0 = chart.e0, chart.es0  # no plan: what the chart measures from
        self.summary.value = (
            f"At a budget of <b>{money(float(row.budget), cur)}</b> the best allocation "
            f"spends <b>{money(float(row.spend), cur)}</b>: expected NPV "
            f"<b>{signed_money(float(row.expected_npv) - e0, cur)}</b> against no plan, "
            f"and the average loss in the worst {percent(1 - fr.level, 0)} of futures "
            f"<b>{money(es0 - float(row.es), cur)}</b> lower (proved within "
            f"{money(float(row.gap), cur)} of the best possible).")
        alloc = fr.allocations[k]
        names = fut.scenario.portfolio.names[fut.positions]
        rows = [(str(n), str(a), plan, float(fut.spend[i, c] - fut.spend[i, fut.default]),
                 f"{percent(fut.probs[i, fut.default])} → {percent(fut.probs[i, c])}")
                for i, (a, n, plan, c) in enumerate(zip(
                    fut.account_ids, names, alloc.plans(), alloc.choice, strict=True))
                if c != fut.default]
        rows.sort(key=lambda r: -r[3])
        if rows:
            self.table.value = html_table(
                pd.DataFrame(rows, columns=["name", "account_id", "plan", "spend", "churn"]),
                {"name": ("Account", None), "account_id": ("Id", None), "plan": ("Plan", None),
                 "spend": ("Planned spend", lambda v: money(v, cur)),
                 "churn": ("Annual churn probability", None)},
                key="name", title="Where the retention budget goes")
        else:
            self.table.value = "<b>Where the retention budget goes</b><p>no account</p>"
        self.show()


def retention_explorer(frontier: RetentionFrontier, study: RetentionStudy | None = None, *,
                       currency: str = "€") -> RetentionExplorer:
    """Build the budget slider over a frontier solved at several budgets.

    Parameters
    ----------
    frontier : RetentionFrontier
        From :func:`kamsim.economics.retention.retention_frontier` with ``budgets=[...]``.
    study : RetentionStudy, optional
        Marks the chosen allocation and the simple rules (see
        :func:`kamsim.views.plots.retention_frontier_plot`); the slider starts at its budget.
    currency : str

    Returns
    -------
    RetentionExplorer
        An ``ipywidgets.VBox``; display it in a notebook.

    Examples
    --------
    >>> from kamsim.portfolio.datasets import data_dir
    >>> from kamsim.economics.retention import retention_frontier, retention_futures
    >>> from kamsim.model import Scenario
    >>> sc = Scenario.from_yaml(data_dir() / "sample_scenario.yaml")
    >>> fr = retention_frontier(retention_futures(sc, n_paths=500, rng=1),
    ...                         budgets=[0, 2e5, 4e5])
    >>> panel = retention_explorer(fr)
    >>> panel.budget.value = 0
    >>> "no account" in panel.table.value
    True
    """
    return RetentionExplorer(frontier, study, currency)
