"""The report's set-up, out of the notebook: its scenario and every figure it shows.

:func:`report_scenario` builds the one scenario behind every section from the report
parameters. Overrides go through :func:`dataclasses.replace`, so a ``-p horizon_months
36`` changes the horizon and nothing else (replacement, opening cash, plans and budget
stay). :func:`compute_report` then runs every simulation the report needs, once, so the
executive summary (which comes first) can quote figures of later sections.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kamsim.analysis.calibrate import fit_churn, read_history
from kamsim.analysis.headline import HeadlineFigures, headline_figures
from kamsim.analysis.sensitivity import TornadoResult, tornado_runs
from kamsim.analysis.timelines import ReplacementTimeline, replacement_timeline, with_certain_loss
from kamsim.analysis.worst_case import lose_top_k
from kamsim.economics import negotiation, pricing
from kamsim.economics.retention import retention_budget_table
from kamsim.engine import SimulationResult, simulate
from kamsim.model import Scenario
from kamsim.portfolio import read_accounts
from kamsim.portfolio.datasets import data_dir
from kamsim.views.report.stress import BAND_DRAWS, StressSection, stress_section

__all__ = ["SCENARIO_OVERRIDES", "Calibration", "ReportFigures", "ReportSetup",
           "calibrate_from_history", "compute_report", "report_scenario"]

#: Report parameters that change the scenario, and the scenario fields each may change.
#: Every other field of the scenario file is kept (a test checks this for each one).
SCENARIO_OVERRIDES: dict[str, tuple[str, ...]] = {
    "horizon_months": ("horizon_months",),
    "accounts_file": ("portfolio",),
    "column_mapping": ("portfolio",),
    "history_file": ("portfolio", "churn"),
}


@dataclass(frozen=True, slots=True)
class Calibration:
    """A scenario whose churn probabilities were fitted from an account history."""

    scenario: Any
    history_file: str
    model: str
    n_accounts: int
    n_churned: int
    mean_prob: float


def calibrate_from_history(scenario: Scenario, history_file: str | os.PathLike[str], *,
                           model: str = "weibull") -> Calibration:
    """Fit churn hazards to an account history and put them into the scenario.

    The history CSV has ``account_id, start_date, end_date`` (empty end date = still
    active). Accounts of the portfolio missing from the history get the mean fitted
    probability (stated in the report's appendix). Only the portfolio's ``churn_prob``
    and the churn block's probability source change; every other field is kept.
    """
    hist = read_history(history_file)
    fit = fit_churn(hist, model=model)  # type: ignore[arg-type]
    pf = fit.to_portfolio(scenario.portfolio, missing="mean", rng=0)
    churn = replace(scenario.churn, tier_probs=None, annual_prob=None)
    sc = replace(scenario, portfolio=pf, churn=churn)
    return Calibration(sc, str(history_file), model, len(hist),
                       int(hist["churned"].sum()), float(pf.column("churn_prob").mean()))


@dataclass(frozen=True, slots=True)
class ReportSetup:
    """The scenario behind every section of a report, and where it came from."""

    scenario: Scenario
    scenario_file: str
    accounts_file: str
    horizon_override: int
    calibration: Calibration | None = None


def report_scenario(*, scenario_file: str | os.PathLike[str] = "",
                    accounts_file: str | os.PathLike[str] = "",
                    column_mapping: dict[str, str] | None = None, horizon_months: int = 0,
                    history_file: str | os.PathLike[str] = "") -> ReportSetup:
    """The report's scenario: the scenario file with the report's overrides applied.

    Parameters
    ----------
    scenario_file : path, optional
        Scenario YAML; empty: the bundled sample scenario.
    accounts_file : path, optional
        Accounts replacing the scenario's own (``portfolio`` only).
    column_mapping : dict, optional
        Column names of ``accounts_file`` to kamsim names.
    horizon_months : int
        Months simulated; 0 keeps the scenario's horizon.
    history_file : path, optional
        Account history to calibrate churn from (see :func:`calibrate_from_history`).

    Returns
    -------
    ReportSetup

    Examples
    --------
    >>> s = report_scenario(horizon_months=36)
    >>> s.scenario.horizon_months, s.scenario.replacement is not None, s.scenario.opening_cash
    (36, True, 2500000.0)
    """
    sfile = str(scenario_file) if scenario_file else str(data_dir() / "sample_scenario.yaml")
    portfolio = (read_accounts(accounts_file, columns=column_mapping or None)
                 if accounts_file else None)
    sc = Scenario.from_yaml(sfile, portfolio=portfolio)
    if horizon_months:
        sc = replace(sc, horizon_months=int(horizon_months))
    calibration = None
    if history_file:
        calibration = calibrate_from_history(sc, history_file)
        sc = calibration.scenario
    return ReportSetup(scenario=sc, scenario_file=sfile,
                       accounts_file=str(accounts_file or sc.portfolio.source or ""),
                       horizon_override=int(horizon_months or 0), calibration=calibration)


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportFigures:
    """Every simulation and table the report shows, computed once from one scenario.

    ``churn_only`` is the same scenario without replacement (same seed), so the summary
    can say what replacement changes. Fields are None when the scenario or the chosen
    sections do not call for them.
    """

    scenario: Scenario
    result: SimulationResult
    headline: HeadlineFigures
    worst_cases: pd.DataFrame
    currency: str = "€"
    seed: int = 0
    levels: tuple[float, ...] = (0.95, 0.99, 0.995)
    churn_only: HeadlineFigures | None = None
    timeline: ReplacementTimeline | None = None
    lose_top: SimulationResult | None = None
    negotiation: pd.DataFrame | None = None
    walk_away: pd.DataFrame | None = None
    pricing_assumptions: Any = None
    breakdown: Any = None
    pass_through_curve: pd.DataFrame | None = None
    best_pass_through: Any = None
    tornado: TornadoResult | None = None
    tornado_break_even: TornadoResult | None = None
    retention: pd.DataFrame | None = None
    stress: StressSection | None = None
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def cash_runway_months(self) -> float:
        """Months until the median cash goes below zero if the largest account leaves now.

        inf if it stays above zero over the horizon; NaN if cash is not modelled.
        """
        if self.lose_top is None or self.scenario.opening_cash is None:
            return math.nan
        q = self.lose_top.monthly_quantiles((0.5,), measure="cash")
        below = np.flatnonzero(q["q0.5"].to_numpy() < 0)
        return float(q.index[below[0]]) if below.size else math.inf

    @property
    def replacement_median_months(self) -> float:
        """Median months to replace the largest account.

        NaN if not within the horizon or not modelled.
        """
        if self.timeline is None:
            return math.nan
        s = self.timeline.summary().set_index("statistic")
        value = dict(zip(s.index, s["value"].astype(float).tolist(), strict=True))
        within = dict(zip(s.index, s["within_horizon"].astype(bool).tolist(), strict=True))
        return value["median"] if within["median"] else math.nan


def compute_report(
    setup: ReportSetup | Scenario,
    *,
    n_paths: int = 20_000,
    seed: int = 2026,
    levels: Sequence[float] = (0.95, 0.99, 0.995),
    top_k: int = 5,
    sections: Sequence[str] = ("summary", "concentration", "worst_cases", "monte_carlo",
                               "stress", "replacement", "pricing", "retention",
                               "sensitivity", "appendix"),
    currency: str = "€",
    efficiency_gain: float = 0.03,
    pass_through: float = 0.5,
    retention_per_point: float = -0.05,
    discount_rate: float = 0.08,
    demand_cut: float = 0.05,
    threat_credibility: float = 0.5,
    tornado_metric: str = "var_95",
    sensitivity_paths: int = 2_000,
    band_draws: int = BAND_DRAWS,
    churn_level_range: Sequence[float] = (0.8, 1.3),
    exact_max_accounts: int = 1000,
) -> ReportFigures:
    """Run every simulation the report needs, on one scenario and one seed.

    The main Monte Carlo run uses ``n_paths``; the secondary ones (replacement timeline,
    losing the largest account, negotiation, tornado) use fewer paths, as stated in the
    report. Every run uses ``seed`` (common random numbers across the tornado's runs).
    The "stress" section's reverse stress test and parameter band are exact (see
    :func:`kamsim.views.report.stress.stress_section`); the band's outer draws use ``seed``.

    Examples
    --------
    >>> f = compute_report(report_scenario(), n_paths=1000, sections=("worst_cases",))
    >>> f.headline.horizon_months, f.negotiation is None
    (24, True)
    """
    sc = setup.scenario if isinstance(setup, ReportSetup) else setup
    secs = set(sections)
    pf = sc.portfolio
    result = simulate(sc, n_paths=n_paths, rng=seed, progress=False)
    head = headline_figures(sc, result)
    kw: dict[str, Any] = {}
    if sc.replacement is not None:
        bare = replace(sc, replacement=None)
        kw["churn_only"] = headline_figures(
            bare, simulate(bare, n_paths=n_paths, rng=seed, progress=False))
        if secs & {"summary", "replacement"}:
            kw["timeline"] = replacement_timeline(
                float(pf.revenue.max()), sc.replacement,
                horizon_months=max(36, sc.horizon_months), n_paths=min(n_paths, 5000),
                rng=seed, size_pool=sc.replacement_size_pool())
            if sc.opening_cash is not None:
                kw["lose_top"] = simulate(with_certain_loss(sc), n_paths=min(n_paths, 5000),
                                          rng=seed, progress=False)
    if pf.has_gross_profit and secs & {"summary", "pricing"}:
        pa = pricing.PricingAssumptions(
            gains=pricing.EfficiencyGains(pct_of_revenue=efficiency_gain),
            response=pricing.RetentionResponse(hazard_change_per_point=retention_per_point),
            discount_rate=discount_rate)
        na = negotiation.NegotiationAssumptions(credibility=threat_credibility,
                                                discount_rate=discount_rate)
        kw["negotiation"] = negotiation.negotiation_table(
            sc, demand_cut, na, top=top_k, replacement=sc.replacement,
            n_paths=min(n_paths, 2000), rng=seed)
        if "pricing" in secs:
            kw.update(
                pricing_assumptions=pa,
                breakdown=pricing.pass_through_breakdown(sc, pa, pass_through),
                pass_through_curve=pricing.pass_through_curve(sc, pa, grid=11),
                best_pass_through=pricing.optimal_pass_through(sc, pa),
                walk_away=negotiation.walk_away_curve(
                    sc, na, top=min(top_k, 5), replacement=sc.replacement,
                    n_paths=min(n_paths, 2000), rng=seed))
    if secs & {"summary", "sensitivity"}:
        runs = tornado_runs(sc, n_paths=min(n_paths, sensitivity_paths), rng=seed)
        kw["tornado"] = runs.tornado(tornado_metric)
        if sc.fixed_costs > 0 and pf.has_gross_profit:
            kw["tornado_break_even"] = runs.tornado("prob_below_break_even")
    if "stress" in secs:
        kw["stress"] = stress_section(sc, seed=seed, currency=currency, band_draws=band_draws,
                                      churn_level_range=churn_level_range,
                                      max_accounts=exact_max_accounts)
    if sc.plans is not None and sc.budget is not None and "retention" in secs:
        kw["retention"] = retention_budget_table(sc, n_paths=min(n_paths, 2000), rng=seed)
    return ReportFigures(
        scenario=sc, result=result, headline=head, currency=currency, seed=seed,
        levels=tuple(float(a) for a in levels),
        worst_cases=lose_top_k(pf, top_k, fixed_costs=sc.fixed_costs), **kw)


def source_name(path: str | os.PathLike[str]) -> str:
    """File name of a path for the report's text (never a full local path)."""
    return Path(path).name if path else ""
