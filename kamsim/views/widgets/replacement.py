"""Interactive panel for replacement timelines (re-exported by :mod:`kamsim.views.widgets`).

:func:`replacement_explorer` builds sliders for sales capacity, win rate, sales cycle,
ramp-up and fixed costs. Each change re-runs :func:`kamsim.engine.simulate` on the
"lose the largest account(s)" scenario (:func:`kamsim.analysis.timelines.with_certain_loss`)
with the same seed, so moving a slider shows the effect of the assumption alone
(common random numbers), and redraws one figure and one table in place.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets
import numpy as np
import pandas as pd

from kamsim._util.figures import panel_axes
from kamsim._util.format import money, months, percent
from kamsim.analysis.timelines import with_certain_loss
from kamsim.engine import SimulationResult, simulate
from kamsim.model import ReplacementAssumptions, Scenario
from kamsim.views.plots.replacement import CashChart, RecoveryChart, RevenueAfterLossChart
from kamsim.views.widgets.base import Explorer, html_table, value_formatter

__all__ = ["ReplacementExplorer", "replacement_explorer"]


class ReplacementExplorer(Explorer):
    """Sliders for the replacement assumptions, a three-panel figure and a summary table.

    Build with :func:`replacement_explorer`.

    Attributes
    ----------
    capacity, win_rate, cycle, ramp, fixed_costs, opening_cash : ipywidgets sliders
        Opportunities per month, win rate, mean sales cycle (months), ramp-up months,
        annual fixed costs and opening cash.
    table : ipywidgets.HTML
        Recovery-time quantiles, gaps and cash figures.
    result : SimulationResult
        The latest run.
    """

    title = "Replacing a lost key account"
    question = "If our largest account leaves, how long until revenue is back, and does cash last?"

    def __init__(self, scenario: Scenario, *, account_ids: Sequence[str] | None,
                 n_paths: int, rng: int, currency: str, **kwargs: Any) -> None:
        super().__init__(currency=currency, figsize=(12.5, 3.9), **kwargs)
        self.n_paths, self.rng = n_paths, rng
        self.account_ids = account_ids
        base = scenario.replacement or ReplacementAssumptions()
        fc = float(scenario.fixed_costs)
        cash = float(scenario.opening_cash or 0.0)
        c = currency
        self.capacity = self.slider(
            base.opportunities_per_month, 0.0, max(30.0, base.opportunities_per_month), 0.5,
            label="New opportunities a month",
            tooltip="Sales opportunities opened each month while replacing the lost revenue "
                    "(sales capacity)", fmt=value_formatter("count/month", decimals=1))
        self.win_rate = self.slider(
            base.win_rate, 0.05, 1.0, 0.05, label="Win rate",
            tooltip="Share of opportunities that become customers",
            fmt=value_formatter("fraction"))
        self.cycle = self.slider(
            base.cycle_mean_months, 0.0, max(18.0, base.cycle_mean_months), 0.5,
            label="Sales cycle (months)",
            tooltip="Average months from opening an opportunity to the first order",
            fmt=value_formatter("months", decimals=1))
        self.ramp = self.slider(
            max(base.ramp_months, 1), 1, max(24, base.ramp_months), 1,
            label="Ramp-up to full orders (months)",
            tooltip="Months a new account takes to order at its full size",
            fmt=value_formatter("months"), integer=True)
        self.fixed_costs = self.slider(
            fc, 0.0, max(2.0 * fc, 1.0), max(round(fc / 100.0, -3), 1.0),
            label=f"Fixed costs ({c} a year)",
            tooltip="Overheads that gross profit must cover (break-even line)",
            fmt=value_formatter("money/year", currency=c))
        self.opening_cash = self.slider(
            cash, 0.0, max(3.0 * cash, 1e6), max(round(max(cash, 1e6) / 100.0, -3), 1.0),
            label=f"Opening cash ({c})",
            tooltip="Cash at the start of month 1: how long the business can bridge the gap",
            fmt=value_formatter("money", currency=c))
        self.table = widgets.HTML()
        self.result: SimulationResult | None = None
        self._charts: tuple[tuple[RevenueAfterLossChart, RecoveryChart, CashChart],
                            int] | None = None
        self._cache: dict[tuple[Any, ...], SimulationResult] = {}
        self.layout([
            self.beside([
                self.controls("Replacement and cash assumptions",
                              [self.capacity, self.win_rate, self.cycle, self.ramp,
                               self.fixed_costs, self.opening_cash]),
                self.status], self.table),
            self.image])
        self.watch(self.capacity, self.win_rate, self.cycle, self.ramp, self.fixed_costs,
                   self.opening_cash)
        self.set_scenario(scenario)

    def set_scenario(self, scenario: Scenario) -> None:
        """Use another scenario (e.g. the user's own data): lose its largest account, redraw."""
        base = scenario.replacement or ReplacementAssumptions()
        self.scenario = with_certain_loss(
            scenario if scenario.replacement is not None
            else dataclasses.replace(scenario, replacement=base), self.account_ids)
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
                                   fixed_costs=float(self.fixed_costs.value),
                                   opening_cash=float(self.opening_cash.value))

    def compute(self) -> None:
        """Re-simulate with the current sliders (same seed: common random numbers).

        Runs are kept for the last few settings, so moving a slider back answers at once.
        """
        key = (id(self.scenario), *(float(s.value) for s in (
            self.capacity, self.win_rate, self.cycle, self.ramp, self.fixed_costs,
            self.opening_cash)))
        hit = self._cache.pop(key, None)
        if hit is None:
            hit = simulate(self.current_scenario(), n_paths=self.n_paths, rng=self.rng,
                           progress=False)
        self._cache[key] = hit
        while len(self._cache) > 16:
            self._cache.pop(next(iter(self._cache)))
        self.result = hit

    def render(self) -> None:
        """Redraw the three charts (sent at once), then refresh the table."""
        res, c = self.result, self.currency
        assert res is not None
        charts = self._charts
        if charts is None or charts[1] != res.scenario.horizon_months:
            ax1, ax2, ax3 = panel_axes(self.figure, 3)
            self._charts = ((RevenueAfterLossChart(ax1, res, currency=c),
                             RecoveryChart(ax2, res), CashChart(ax3, res, currency=c)),
                            res.scenario.horizon_months)
        else:
            for chart in charts[0]:
                chart.update(res)
        self.show()
        h = res.scenario.horizon_months
        rec = res.recovery_summary().set_index("statistic")
        rows = [(f"{q} of futures back within", months(rec.loc[k, "value"], horizon=h))
                for q, k in (("Half", "median"), ("80 %", "p80"), ("90 %", "p90"))]
        rows += [
            ("Futures not back within the horizon",
             percent(rec.loc["share_not_recovered", "value"])),
            ("Expected revenue gap", money(res.expected_gap("revenue"), c)),
            ("Expected gross-profit gap", money(res.expected_gap("gross_profit"), c)),
            ("Below break-even at least one month", percent(res.prob_below_break_even())),
            ("Expected lowest cash", money(float(np.mean(res.per_path["min_cash"])), c)),
            ("Out of cash within the horizon", percent(res.prob_out_of_cash())),
        ]
        pf = self.scenario.portfolio
        names = dict(zip((str(a) for a in pf.account_ids), (str(n) for n in pf.names),
                         strict=True))
        ids = (self.account_ids if self.account_ids is not None
               else [str(pf.account_ids[int(np.argmax(pf.revenue))])])
        lost = ", ".join(f"{names.get(str(a), a)} ({a})" if names.get(str(a), a) != str(a)
                         else str(a) for a in ids)
        self.table.value = html_table(
            pd.DataFrame(rows, columns=["figure", "value"]),
            {"figure": ("", None), "value": ("", lambda v: str(v))},
            title=f"Losing {lost} in month 1")


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
