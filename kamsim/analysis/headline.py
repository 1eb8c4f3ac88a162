"""The headline figures every view shows: one definition, one function.

``kamsim summary``, the board report's executive summary and its Excel workbook, and the
explorer notebooks call :func:`headline_figures` on the same scenario and Monte Carlo
result, so for the same seed they print the same numbers, and each says which scenario
it shows (name, horizon, with or without replacement, correlation) through
:attr:`HeadlineFigures.label`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from kamsim._util.format import count, money, percent
from kamsim.analysis.concentration import major_customers
from kamsim.exceptions import AssumptionError

if TYPE_CHECKING:
    from kamsim.engine import SimulationResult
    from kamsim.model import Scenario

__all__ = ["HeadlineFigures", "headline_figures"]


@dataclass(frozen=True, slots=True, kw_only=True)
class HeadlineFigures:
    """The shared headline figures of one scenario and one Monte Carlo run.

    Probabilities are NaN when the scenario cannot give them (no fixed costs or gross
    profit for break-even; no opening cash for cash).
    """

    scenario_name: str
    horizon_months: int
    with_replacement: bool
    correlation: float
    n_paths: int
    n_accounts: int
    total_revenue: float
    largest_account_id: str
    largest_account_name: str
    largest_account_revenue: float
    largest_share: float
    n_major_customers: int
    fixed_costs: float
    opening_cash: float | None
    expected_loss: float
    var_95: float
    var_995: float
    es_95: float
    prob_below_break_even: float
    prob_out_of_cash: float

    @property
    def label(self) -> str:
        """Which scenario these figures are for, in words.

        Examples
        --------
        >>> from kamsim.model import Scenario
        >>> from kamsim.portfolio.datasets import data_dir
        >>> from kamsim.engine import simulate
        >>> sc = Scenario.from_yaml(data_dir() / "sample_scenario.yaml")
        >>> headline_figures(sc, simulate(sc, n_paths=500, rng=1, progress=False)).label
        "scenario 'baseline': 24 months, with replacement, correlation 0.2, 500 simulated futures"
        """
        repl = "with replacement" if self.with_replacement else "churn only (no replacement)"
        return (f"scenario '{self.scenario_name}': {self.horizon_months} months, {repl}, "
                f"correlation {self.correlation:g}, {self.n_paths:,} simulated futures")

    def to_frame(self, currency: str = "€") -> pd.DataFrame:
        """The figures as a table: ``key, figure, value, unit, display``.

        ``key`` is a stable identifier, ``figure`` a human label, ``value`` the number and
        ``display`` the number as every view prints it (the shared formatter).
        """
        rows: list[tuple[str, str, float, str]] = [
            ("total_revenue", "Revenue a year", self.total_revenue, "money"),
            ("n_accounts", "Accounts", float(self.n_accounts), "count"),
            ("largest_share", f"Largest account's share ({self.largest_account_name})",
             self.largest_share, "share"),
            ("n_major_customers", "Accounts at 10 % of revenue or more",
             float(self.n_major_customers), "count"),
            ("expected_loss", "Expected annual revenue lost", self.expected_loss, "money"),
            ("var_95", "Annual revenue lost, 1 year in 20 (VaR 95 %)", self.var_95, "money"),
            ("var_995", "Annual revenue lost, 1 year in 200 (VaR 99.5 %)", self.var_995,
             "money"),
            ("es_95", "Average loss in the worst 1 in 20 (ES 95 %)", self.es_95, "money"),
            ("prob_below_break_even",
             "P(monthly gross profit below fixed costs within the horizon)",
             self.prob_below_break_even, "probability"),
            ("prob_out_of_cash", "P(cash runs out within the horizon)",
             self.prob_out_of_cash, "probability"),
        ]
        fmt: dict[str, Callable[[float], str]] = {
            "money": lambda v: money(v, currency), "count": lambda v: count(v),
            "share": lambda v: percent(v),
            "probability": lambda v: percent(v, missing="not modelled")}
        return pd.DataFrame(
            [(k, f, v, u, fmt[u](v)) for k, f, v, u in rows],
            columns=["key", "figure", "value", "unit", "display"])


def headline_figures(scenario: Scenario, result: SimulationResult) -> HeadlineFigures:
    """The headline figures of ``scenario`` from its Monte Carlo ``result``.

    Parameters
    ----------
    scenario : Scenario
        The scenario shown (its name, horizon and replacement assumptions are stated).
    result : SimulationResult
        :func:`kamsim.engine.simulate` of that same scenario.

    Returns
    -------
    HeadlineFigures

    Raises
    ------
    AssumptionError
        If ``result`` was simulated from another scenario.

    Examples
    --------
    >>> from kamsim.model import Scenario
    >>> from kamsim.portfolio.datasets import data_dir
    >>> from kamsim.engine import simulate
    >>> sc = Scenario.from_yaml(data_dir() / "sample_scenario.yaml")
    >>> h = headline_figures(sc, simulate(sc, n_paths=2000, rng=7, progress=False))
    >>> h.largest_account_name, f"{h.largest_share:.1%}", h.n_major_customers
    ('Maplebrook Hospitality', '18.0%', 1)
    """
    if result.scenario is not scenario and result.scenario != scenario:
        msg = ("the result was simulated from another scenario; pass the scenario given to "
               "simulate()")
        raise AssumptionError(msg, field="result")
    pf = scenario.portfolio
    top = int(np.argmax(pf.revenue))
    shares = pf.revenue / pf.total_revenue
    below = (result.prob_below_break_even()
             if scenario.fixed_costs > 0 and pf.has_gross_profit else math.nan)
    cash = (result.prob_out_of_cash()
            if scenario.opening_cash is not None and result.has_replacement else math.nan)
    return HeadlineFigures(
        scenario_name=scenario.name, horizon_months=scenario.horizon_months,
        with_replacement=scenario.replacement is not None,
        correlation=float(scenario.churn.correlation), n_paths=int(result.n_paths),
        n_accounts=int(pf.n_accounts), total_revenue=float(pf.total_revenue),
        largest_account_id=str(pf.account_ids[top]), largest_account_name=str(pf.names[top]),
        largest_account_revenue=float(pf.revenue[top]), largest_share=float(shares[top]),
        n_major_customers=len(major_customers(pf)),
        fixed_costs=float(scenario.fixed_costs),
        opening_cash=None if scenario.opening_cash is None else float(scenario.opening_cash),
        expected_loss=float(result.mean("run_rate_lost")), var_95=float(result.var(0.95)),
        var_995=float(result.var(0.995)), es_95=float(result.es(0.95)),
        prob_below_break_even=float(below), prob_out_of_cash=float(cash))
