"""Budget slider over the retention frontier (re-exported by :mod:`kamsim.views.widgets`).

:func:`retention_explorer` takes a :class:`~kamsim.economics.retention.RetentionFrontier` solved
over a range of budgets (all optima on the same futures) and shows, for the budget the
slider selects, the frontier with that point ringed and the table of which account gets
which plan. Nothing is re-solved on a move: every point was solved (with its proved gap)
when the frontier was built, so the panel answers instantly.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import numpy as np

from kamsim._util.figures import panel_axes, render_png
from kamsim._util.format import money, percent, signed_money
from kamsim.economics.retention import RetentionFrontier, RetentionStudy
from kamsim.exceptions import AssumptionError
from kamsim.risk import expected_shortfall
from kamsim.views.plots.retention import retention_frontier_plot

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["RetentionExplorer", "retention_explorer"]


class RetentionExplorer(widgets.VBox):  # type: ignore[misc]
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
    image : ipywidgets.Image
        The rendered frontier.
    figure : matplotlib.figure.Figure
    """

    def __init__(self, frontier: RetentionFrontier, study: RetentionStudy | None,
                 currency: str, **kwargs: Any) -> None:
        from matplotlib.figure import Figure

        p = frontier.points
        if p.empty or p.budget.nunique() < 2:
            raise AssumptionError("the frontier must be solved over at least two budgets "
                                  "(retention_frontier(..., budgets=[...]))", field="frontier")
        self.frontier, self.study, self.currency = frontier, study, currency
        options = [(money(float(b), currency), k) for k, b in enumerate(p.budget)]
        start = len(options) - 1
        if study is not None:
            near = np.abs(p.budget.to_numpy() - study.optimum.budget.amount)
            start = int(np.argmin(near))
        self.budget = widgets.SelectionSlider(
            options=options, value=start, description="retention budget",
            continuous_update=False, style={"description_width": "130px"},
            layout=widgets.Layout(width="520px"))
        self.summary = widgets.HTML()
        self.table = widgets.HTML()
        self.image = widgets.Image(format="png", layout=widgets.Layout(max_width="100%"))
        self.figure: Figure = Figure(figsize=(8.0, 5.0), layout="constrained")
        super().__init__([self.budget, self.summary, widgets.HBox([self.image, self.table])],
                         **kwargs)
        self.budget.observe(self._on_change, names="value")
        self.update()

    @property
    def index(self) -> int:
        """Position of the selected budget in the frontier."""
        return int(self.budget.value)

    def _on_change(self, change: Mapping[str, Any]) -> None:
        self.update()

    def update(self) -> None:
        """Redraw the figure and tables for the selected budget."""
        fr, k, cur = self.frontier, self.index, self.currency
        fut = fr.futures
        row = fr.points.iloc[k]
        none = np.full(fut.n_accounts, fut.default, dtype=np.int64)
        e0 = fut.expected_npv(none)
        es0 = expected_shortfall(fut.loss(none, fr.risk), fr.level)
        self.summary.value = (
            f"At a budget of <b>{money(float(row.budget), cur)}</b> the optimum spends "
            f"<b>{money(float(row.spend), cur)}</b>: expected NPV "
            f"<b>{signed_money(float(row.expected_npv) - e0, cur)}</b> vs no plan, Expected "
            f"Shortfall {fr.level:.0%} <b>{money(es0 - float(row.es), cur)}</b> lower "
            f"(proved gap {money(float(row.gap), cur)}).")
        alloc = fr.allocations[k]
        names = fut.scenario.portfolio.names[fut.positions]
        rows = [(str(a), str(n), plan, float(fut.spend[i, c] - fut.spend[i, fut.default]),
                 float(fut.probs[i, fut.default]), float(fut.probs[i, c]))
                for i, (a, n, plan, c) in enumerate(zip(
                    fut.account_ids, names, alloc.plans(), alloc.choice, strict=True))
                if c != fut.default]
        rows.sort(key=lambda r: -r[3])
        body = "".join(
            f"<tr><td>{html.escape(a)}</td><td>{html.escape(n)}</td>"
            f"<td>{html.escape(plan)}</td><td style='text-align:right'>{money(s, cur)}</td>"
            f"<td style='text-align:right'>{percent(p0)} → {percent(p1)}</td></tr>"
            for a, n, plan, s, p0, p1 in rows) or "<tr><td colspan=5>no account</td></tr>"
        self.table.value = (
            "<b>Where the retention budget goes</b><table><tr><th>Account</th><th>Name</th>"
            "<th>Plan</th><th>Planned spend</th><th>Annual churn probability</th></tr>"
            + body + "</table>")
        (ax,) = panel_axes(self.figure, 1)
        retention_frontier_plot(fr, self.study, highlight=k, currency=cur, ax=ax)
        self.image.value = render_png(self.figure, dpi=72)


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
