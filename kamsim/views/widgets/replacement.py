"""Interactive panel for replacement timelines (re-exported by :mod:`kamsim.views.widgets`).

:func:`replacement_explorer` builds sliders for sales capacity, win rate, sales cycle,
ramp-up and fixed costs. Each change re-runs :func:`kamsim.engine.simulate` on the
"lose the largest account(s)" scenario (:func:`kamsim.analysis.timelines.with_certain_loss`)
with the same seed, so moving a slider shows the effect of the assumption alone
(common random numbers), and redraws one figure and one table in place.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from kamsim._util.figures import panel_axes, render_png
from kamsim.analysis.timelines import with_certain_loss
from kamsim.engine import SimulationResult, simulate
from kamsim.model import ReplacementAssumptions, Scenario
from kamsim.views.plots.replacement import (
    cash_path_plot,
    recovery_time_plot,
    replacement_revenue_plot,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["ReplacementExplorer", "replacement_explorer"]


class ReplacementExplorer(widgets.VBox):  # type: ignore[misc]
    """Sliders for the replacement assumptions, a three-panel figure and a summary table.

    Build with :func:`replacement_explorer`.

    Attributes
    ----------
    capacity, win_rate, cycle, ramp, fixed_costs : ipywidgets sliders
        Opportunities per month, win rate, mean sales cycle (months), ramp-up months and
        annual fixed costs.
    table : ipywidgets.HTML
        Recovery-time quantiles, gaps and cash figures.
    image : ipywidgets.Image
        The rendered figure (revenue, recovery curve, cash).
    figure : matplotlib.figure.Figure
        The figure redrawn on every update.
    result : SimulationResult
        The latest run.
    """

    def __init__(self, scenario: Scenario, *, account_ids: Sequence[str] | None,
                 n_paths: int, rng: int, currency: str, **kwargs: Any) -> None:
        from matplotlib.figure import Figure

        base = scenario.replacement or ReplacementAssumptions()
        self.scenario = with_certain_loss(
            scenario if scenario.replacement is not None
            else dataclasses.replace(scenario, replacement=base), account_ids)
        self.n_paths, self.rng, self.currency = n_paths, rng, currency
        style = {"description_width": "170px"}
        layout = widgets.Layout(width="460px")

        def slider(cls: Any, value: float, lo: float, hi: float, step: float,
                   description: str, fmt: str | None = None) -> Any:
            kw: dict[str, Any] = {"readout_format": fmt} if fmt else {}
            return cls(value=value, min=lo, max=hi, step=step, description=description,
                       continuous_update=False, style=style, layout=layout, **kw)

        fc = float(scenario.fixed_costs)
        self.capacity = slider(widgets.FloatSlider, base.opportunities_per_month, 0.0,
                               max(30.0, base.opportunities_per_month), 0.5,
                               "opportunities / month", ".1f")
        self.win_rate = slider(widgets.FloatSlider, base.win_rate, 0.05, 1.0, 0.05,
                               "win rate", ".2f")
        self.cycle = slider(widgets.FloatSlider, base.cycle_mean_months, 0.0,
                            max(18.0, base.cycle_mean_months), 0.5, "sales cycle (months)",
                            ".1f")
        self.ramp = slider(widgets.IntSlider, max(base.ramp_months, 1), 1,
                           max(24, base.ramp_months), 1, "ramp-up (months)")
        self.fixed_costs = slider(widgets.FloatSlider, fc, 0.0, max(2.0 * fc, 1.0),
                                  max(fc / 100.0, 1.0), "fixed costs / year", ",.0f")
        self.table = widgets.HTML()
        self.image = widgets.Image(format="png", layout=widgets.Layout(max_width="100%"))
        self.figure: Figure = Figure(figsize=(15.0, 4.2), layout="constrained")
        self.result: SimulationResult | None = None
        controls = widgets.VBox([
            widgets.HTML("<b>Replacement assumptions</b>"),
            self.capacity, self.win_rate, self.cycle, self.ramp, self.fixed_costs])
        super().__init__([widgets.HBox([controls, self.table]), self.image], **kwargs)
        for s in (self.capacity, self.win_rate, self.cycle, self.ramp, self.fixed_costs):
            s.observe(self._on_change, names="value")
        self.update()

    def current_scenario(self) -> Scenario:
        """The scenario with the slider values applied."""
        sc = self.scenario
        assert sc.replacement is not None
        shape = "linear" if sc.replacement.ramp_shape == "none" else sc.replacement.ramp_shape
        repl = dataclasses.replace(
            sc.replacement, opportunities_per_month=float(self.capacity.value),
            win_rate=float(self.win_rate.value), cycle_mean_months=float(self.cycle.value),
            ramp_months=int(self.ramp.value), ramp_shape=shape)
        return dataclasses.replace(sc, replacement=repl,
                                   fixed_costs=float(self.fixed_costs.value))

    def _on_change(self, change: Mapping[str, Any]) -> None:
        self.update()

    def update(self) -> None:
        """Re-simulate with the current sliders and refresh the table and figure."""
        self.result = simulate(self.current_scenario(), n_paths=self.n_paths, rng=self.rng,
                               progress=False)
        self._render()

    def _render(self) -> None:
        res = self.result
        assert res is not None
        rows = res.summary(levels=()).set_index("metric")
        keep = [m for m in rows.index if "recover" in m or "gap" in m or "cash" in m
                or "break-even" in m]
        tab = rows.loc[keep].reset_index()
        tab["value"] = [
            ("not within horizon" if v != v else f"{v:.1%}") if u == "probability"
            or "not within" in u else (f"{v:,.0f}" if "currency" in u else f"{v:g}")
            for v, u in zip(tab["value"], tab["unit"], strict=True)]
        self.table.value = ("<b>Losing " + res.scenario.name.split(": lose ")[-1]
                            + "</b>" + tab.to_html(index=False, border=0))
        ax1, ax2, ax3 = panel_axes(self.figure, 3)
        replacement_revenue_plot(res, currency=self.currency, ax=ax1)
        recovery_time_plot(res, ax=ax2)
        cash_path_plot(res, currency=self.currency, ax=ax3)
        self.image.value = render_png(self.figure, dpi=72)


def replacement_explorer(
    scenario: Scenario,
    *,
    account_ids: Sequence[str] | None = None,
    n_paths: int = 1_000,
    rng: int = 0,
    currency: str = "€",
) -> ReplacementExplorer:
    """Build the replacement panel: lose the largest account, then move the sliders.

    Parameters
    ----------
    scenario : Scenario
        Portfolio, churn, horizon, fixed costs, opening cash and (optionally) starting
        replacement assumptions (default :class:`ReplacementAssumptions`).
    account_ids : sequence of str, optional
        Accounts lost for sure in month 1; default the largest.
    n_paths : int
        Simulated futures per update (2,000 redraws in well under a second).
    rng : int
        Seed, fixed across updates (common random numbers).
    currency : str
        Currency symbol on the axes.

    Returns
    -------
    ReplacementExplorer
        An ``ipywidgets.VBox``; display it in a notebook.

    Examples
    --------
    >>> from kamsim.portfolio.datasets import synthetic_portfolio
    >>> sc = Scenario(portfolio=synthetic_portfolio(60, rng=0), horizon_months=24,
    ...               fixed_costs=1e6, opening_cash=5e5)
    >>> panel = replacement_explorer(sc, n_paths=300)
    >>> before = panel.result.expected_gap()
    >>> panel.capacity.value = 20.0
    >>> panel.result.expected_gap() <= before
    True
    """
    return ReplacementExplorer(scenario, account_ids=account_ids, n_paths=n_paths, rng=rng,
                               currency=currency)
