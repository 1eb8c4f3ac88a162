"""ipywidgets panels for price cuts and negotiations (re-exported by :mod:`kamsim.views.widgets`).

The panels only collect assumptions and call :mod:`kamsim.economics.pricing` and
:mod:`kamsim.economics.negotiation`; they use exact expected values (milliseconds), keep one
figure each and redraw it in place. Built on :class:`~kamsim.views.widgets.base.Explorer`.
"""

from __future__ import annotations

import html
import math
from dataclasses import replace
from typing import Any

import ipywidgets as widgets
import numpy as np
import pandas as pd

from kamsim._util.figures import panel_axes
from kamsim._util.format import money, percent
from kamsim.economics.negotiation import (
    NegotiationAssumptions,
    evaluate_concession,
    negotiation_table,
    walk_away_curve,
)
from kamsim.economics.npv import scope_mask
from kamsim.economics.pricing import (
    OptimalPassThrough,
    PassThroughBreakdown,
    PricingAssumptions,
    break_even_retention,
    optimal_pass_through,
    pass_through_breakdown,
)
from kamsim.exceptions import AssumptionError
from kamsim.model import Scenario
from kamsim.views.plots.pricing import PassThroughCurveChart, PassThroughWaterfall, WalkAwayChart
from kamsim.views.widgets.base import Explorer, html_table, value_formatter

__all__ = ["NegotiationPanel", "PricingExplorer", "credibility_phrase", "negotiation_panel",
           "pricing_explorer"]


def max_gain_pct(scenario: Scenario, assumptions: PricingAssumptions) -> float:
    """Largest efficiency gain (% of revenue) that no targeted account's cost to serve caps.

    A saving cannot exceed the cost it reduces: with ``include_cost_to_serve`` and a
    ``cost_to_serve`` column, the gain of each targeted account is at most its cost to
    serve. Returns ``inf`` when nothing caps it.
    """
    pf = scenario.portfolio
    if not (assumptions.include_cost_to_serve and pf.has("cost_to_serve")):
        return math.inf
    mask = scope_mask(scenario, assumptions.gains.tiers, "gains.tiers")
    rev = np.asarray(pf.revenue, dtype=np.float64)[mask]
    cts = np.asarray(pf.column("cost_to_serve"), dtype=np.float64)[mask]
    ok = rev > 0
    if not ok.any():
        return math.inf
    room = (cts[ok] - assumptions.gains.absolute) / rev[ok]
    return max(float(room.min()) * 100.0, 0.0)


class PricingExplorer(Explorer):
    """Sliders for gain, pass-through, retention response and discount rate.

    Build with :func:`pricing_explorer`. Each change recomputes the exact breakdown,
    the pass-through curve, the optimum and the break-even retention, then redraws the
    waterfall and the curve in the same figure. The efficiency-gain slider stops where the
    gain would exceed a targeted account's cost to serve (a saving cannot be larger than the
    cost it reduces); the status line says so.

    Attributes
    ----------
    gain, pass_through, response, floor, discount_rate : ipywidgets.FloatSlider
    summary : ipywidgets.HTML
    breakdown : PassThroughBreakdown
        The latest breakdown.
    """

    title = "Price cuts and pass-through"
    question = "Should we hand our efficiency gains back to key accounts as price cuts?"

    def __init__(self, scenario: Scenario, assumptions: PricingAssumptions | None = None,
                 *, pass_through: float = 0.5, currency: str = "€", **kwargs: Any) -> None:
        super().__init__(currency=currency, figsize=(12.5, 4.4), **kwargs)
        a = PricingAssumptions() if assumptions is None else assumptions
        self.base = a
        self.gain = self.slider(
            a.gains.pct_of_revenue * 100, 0.0, 10.0, 0.1,
            label="Efficiency gain (% of revenue)",
            tooltip="Cost to serve the KAM programme saves each targeted account a year, as a "
                    "share of its revenue", fmt=value_formatter("percent", decimals=1))
        self.pass_through = self.slider(
            pass_through * 100, 0.0, 100.0, 5.0, label="Passed back as a price cut (%)",
            tooltip="Share of the efficiency gain handed to the account as a lower price",
            fmt=value_formatter("percent"))
        self.response = self.slider(
            -a.response.hazard_change_per_point * 100, 0.0, 50.0, 1.0,
            label="Churn drop per point of price cut (%)",
            tooltip="How much lower the churn hazard gets for each percentage point of price "
                    "cut", fmt=value_formatter("percent"))
        self.floor = self.slider(
            a.response.floor, 0.0, 1.0, 0.05, label="Lowest churn multiplier",
            tooltip="However large the cut, churn never falls below this share of today's",
            fmt=value_formatter("times", decimals=2))
        self.discount_rate = self.slider(
            a.discount_rate * 100, 0.0, 30.0, 0.5, label="Discount rate (% a year)",
            tooltip="Rate that turns future margin into today's money (NPV)",
            fmt=value_formatter("percent", decimals=1))
        self.summary = widgets.HTML()
        self._charts: tuple[PassThroughWaterfall, PassThroughCurveChart] | None = None
        self.layout([
            self.beside([
                self.controls("Pricing assumptions",
                              [self.gain, self.pass_through, self.response, self.floor,
                               self.discount_rate]),
                self.status], self.summary),
            self.image])
        self.watch(self.gain, self.pass_through, self.response, self.floor,
                   self.discount_rate)
        self.set_scenario(scenario)

    def set_scenario(self, scenario: Scenario) -> None:
        """Use another scenario (e.g. the user's own data); re-bound the gain and redraw."""
        self.scenario = scenario
        self._curves: dict[tuple[Any, ...], tuple[pd.DataFrame, OptimalPassThrough]] = {}
        cap = max_gain_pct(scenario, self.base)
        self._gain_cap = cap
        top = 10.0 if not math.isfinite(cap) else max(min(10.0, math.floor(cap * 10) / 10),
                                                      0.1)
        with self.quiet():
            self.gain.max = top
            self.gain.value = min(float(self.gain.value), top)
        self.update()

    def assumptions(self) -> PricingAssumptions:
        """The assumptions the sliders currently describe."""
        a = self.base
        return replace(
            a, gains=replace(a.gains, pct_of_revenue=float(self.gain.value) / 100),
            response=replace(a.response,
                             hazard_change_per_point=-float(self.response.value) / 100,
                             floor=float(self.floor.value)),
            discount_rate=float(self.discount_rate.value) / 100)

    def current_scenario(self) -> Scenario:
        """The scenario (the sliders change only the pricing assumptions)."""
        return self.scenario

    def compute(self) -> None:
        """Breakdown, curve, optimum and break-even retention for the current sliders."""
        a = self.assumptions()
        gain = float(self.gain.value)
        if gain > self._gain_cap + 1e-9:
            msg = (f"An efficiency gain of {gain:.1f} % of revenue is more than some targeted "
                   "accounts cost to serve, and a saving cannot exceed the cost it reduces: "
                   f"choose at most {self._gain_cap:.1f} %.")
            raise AssumptionError(msg)
        self._phi = float(self.pass_through.value) / 100
        sc = self.scenario
        self.breakdown: PassThroughBreakdown = pass_through_breakdown(sc, a, self._phi)
        # the curve and its optimum do not depend on the pass-through chosen: kept per
        # setting of the other sliders
        key = (id(sc), float(self.gain.value), float(self.response.value),
               float(self.floor.value), float(self.discount_rate.value))
        hit = self._curves.pop(key, None)
        if hit is None:
            opt = optimal_pass_through(sc, a, grid=21)
            # the optimiser's grid is the exact expected NPV at each pass-through: the
            # curve is it relative to passing nothing back (pass_through_curve's
            # net_of_pass_through, to the last bit), so it is not computed twice
            npv = opt.grid["objective"].to_numpy(dtype=float)
            curve = pd.DataFrame({"pass_through": opt.grid["pass_through"].to_numpy(),
                                  "net_of_pass_through": npv - npv[0]})
            hit = (curve, opt)
        self._curves[key] = hit
        while len(self._curves) > 64:
            self._curves.pop(next(iter(self._curves)))
        self._curve, self._opt = hit
        self._assumptions = a

    def render(self) -> None:
        """Redraw the waterfall and the curve (sent at once), then write the summary."""
        b, opt, c = self.breakdown, self._opt, self.currency
        if self._charts is None:
            ax1, ax2 = panel_axes(self.figure, 2)
            self._charts = (PassThroughWaterfall(ax1, b, currency=c),
                            PassThroughCurveChart(ax2, self._curve, opt, current=self._phi,
                                                  currency=c))
        else:
            self._charts[0].update(b)
            self._charts[1].update(self._curve, opt, current=self._phi)
        self.show()
        be = break_even_retention(self.scenario, self._assumptions, self._phi)
        need = ("unreachable: even zero churn would not pay"
                if np.isnan(be.required_hazard_multiplier)
                else f"{percent(be.required_hazard_reduction, 0)} lower churn hazard "
                     f"(annual churn {percent(be.churn_prob_before)} → "
                     f"{percent(be.churn_prob_required)})")
        cap = ("" if not math.isfinite(self._gain_cap) else
               f"<li>the gain slider stops at {self._gain_cap:.1f} %: beyond it the saving "
               "would exceed some accounts' cost to serve</li>")
        self.summary.value = (
            "<b>At this pass-through</b><ul>"
            f"<li>price cut: {percent(b.price_cut, 2)} of targeted revenue</li>"
            f"<li>margin given away (NPV): {money(b.passed_back_npv, c)}</li>"
            f"<li>bought back by retention and volume: {money(b.retention_value_npv, c)}</li>"
            f"<li>net effect of passing back: <b>{money(b.net_of_pass_through, c)}</b></li>"
            f"<li>to pay for itself it needs: {html.escape(need)}</li>"
            f"<li>best pass-through for expected NPV: <b>{percent(opt.pass_through, 0)}</b>"
            f"</li>{cap}</ul>")


def pricing_explorer(scenario: Scenario, assumptions: PricingAssumptions | None = None, *,
                     pass_through: float = 0.5, currency: str = "€") -> PricingExplorer:
    """Build the pass-through explorer (see :class:`PricingExplorer`).

    Examples
    --------
    >>> from kamsim.portfolio.datasets import load_sample
    >>> panel = pricing_explorer(Scenario(portfolio=load_sample(), horizon_months=36))
    >>> panel.pass_through.value = 100.0
    >>> round(panel.breakdown.pass_through, 2)
    1.0
    """
    return PricingExplorer(scenario, assumptions, pass_through=pass_through,
                           currency=currency)


def credibility_phrase(break_even: float) -> str:
    """When conceding pays, in words (the break-even credibility clamped to 0-100 %).

    Examples
    --------
    >>> credibility_phrase(0.25)
    'conceding pays if the threat is at least 25 % credible'
    >>> credibility_phrase(2.46), credibility_phrase(-0.1)
    ('conceding never pays at these numbers', 'conceding pays even if the threat is empty')
    """
    if not math.isfinite(break_even) or break_even > 1.0:
        return "conceding never pays at these numbers"
    if break_even <= 0.0:
        return "conceding pays even if the threat is empty"
    return f"conceding pays if the threat is at least {percent(break_even, 0)} credible"


def _credibility_cell(v: Any) -> str:
    v = float(v)
    if not math.isfinite(v) or v > 1.0:
        return "never"
    return "always" if v <= 0.0 else percent(v, 0)


class NegotiationPanel(Explorer):
    """Concede or refuse: account, demanded cut, credibility and replacement speed.

    Build with :func:`negotiation_panel`. Shows the decision for the chosen account, a
    table for the top accounts and the walk-away chart, updated in place.

    Attributes
    ----------
    account : ipywidgets.Dropdown
    demand, credibility, replacement_months : ipywidgets slider widgets
    decision, table : ipywidgets.HTML
    """

    title = "Negotiation: concede or refuse"
    question = "A key account demands a price cut: do we give in?"

    def __init__(self, scenario: Scenario, assumptions: NegotiationAssumptions | None = None,
                 *, demand: float = 0.05, top: int = 8, currency: str = "€",
                 **kwargs: Any) -> None:
        super().__init__(currency=currency, figsize=(10.5, 4.2), **kwargs)
        a = NegotiationAssumptions() if assumptions is None else assumptions
        self.base = a
        self.top = top
        self.account = self.dropdown([("-", "-")], "-", label="Account",
                                     tooltip="The account that asks for a lower price")
        self.demand = self.slider(
            demand * 100, 0.0, 30.0, 0.5, label="Price cut demanded (%)",
            tooltip="The cut the account asks for, on its whole revenue",
            fmt=value_formatter("percent", decimals=1))
        self.credibility = self.slider(
            a.credibility * 100, 0.0, 100.0, 5.0, label="Chance they really leave (%)",
            tooltip="Probability that the account leaves if we refuse (how credible the "
                    "threat is)", fmt=value_formatter("percent"))
        self.replacement_months = self.slider(
            a.replacement_months, 0, 60, 1, label="Months to replace them",
            tooltip="Months until new business makes up for the account if it leaves",
            fmt=value_formatter("months"), integer=True)
        self.decision = widgets.HTML()
        self.table = widgets.HTML()
        self.layout([
            self.beside([
                self.controls("Negotiation", [self.account, self.demand, self.credibility,
                                              self.replacement_months]),
                self.status], self.decision),
            self.image, self.table])
        self.watch(self.account, self.demand, self.credibility, self.replacement_months)
        self.set_scenario(scenario)

    def set_scenario(self, scenario: Scenario) -> None:
        """Use another scenario (e.g. the user's own data): new account list, redraw."""
        self.scenario = scenario
        self._walk: dict[tuple[Any, ...], pd.DataFrame] = {}
        self._chart: WalkAwayChart | None = None  # new accounts: new lines
        pf = scenario.portfolio
        order = np.argsort(-np.asarray(pf.revenue), kind="stable")[:self.top]
        options = [(f"{pf.names[i]} ({pf.account_ids[i]})", str(pf.account_ids[i]))
                   for i in order]
        with self.quiet():
            self.account.options = options
            self.account.value = options[0][1]
        self.update()

    def assumptions(self) -> NegotiationAssumptions:
        """The assumptions the controls currently describe."""
        return replace(self.base, credibility=float(self.credibility.value) / 100,
                       replacement_months=int(self.replacement_months.value))

    def current_scenario(self) -> Scenario:
        """The scenario (the controls change only the negotiation assumptions)."""
        return self.scenario

    def compute(self) -> None:
        """Decision for the chosen account, the table and the walk-away curve."""
        a = self.assumptions()
        self._d_pct = float(self.demand.value) / 100
        self._decision = evaluate_concession(self.scenario, str(self.account.value),
                                             self._d_pct, a)
        # the walk-away curve runs over every credibility and ignores the demand: kept per
        # replacement time
        key = (id(self.scenario), int(self.replacement_months.value))
        hit = self._walk.pop(key, None)
        if hit is None:
            hit = walk_away_curve(self.scenario, a, top=min(self.top, 5))
        self._walk[key] = hit
        while len(self._walk) > 64:
            self._walk.pop(next(iter(self._walk)))
        self._curve = hit
        self._assumptions = a

    def render(self) -> None:
        """Redraw the walk-away chart (sent at once), then write the decision and table."""
        if self._chart is None:
            self._chart = WalkAwayChart(panel_axes(self.figure, 1)[0], self._curve,
                                        demand=self._d_pct)
        else:
            self._chart.update(self._curve, demand=self._d_pct)
        self.show()
        d, c = self._decision, self.currency
        colour = "#1a9850" if d.decision == "concede" else "#b2182b"
        self.decision.value = (
            f"<b>{html.escape(str(d.name))}</b>: <b style='color:{colour}'>{d.decision}</b>"
            f"<ul><li>expected NPV if we concede: {money(d.ev_concede, c)}</li>"
            f"<li>expected NPV if we refuse: {money(d.ev_refuse, c)} "
            f"(if it leaves {money(d.ev_refuse_if_leaves, c)}, "
            f"if it stays {money(d.ev_refuse_if_stays, c)})</li>"
            f"<li>largest cut worth conceding (walk-away): <b>{percent(d.walk_away, 1)}</b>"
            f"</li><li>{credibility_phrase(d.break_even_credibility)}</li></ul>")
        t = pd.DataFrame(negotiation_table(self.scenario, self._d_pct, self._assumptions,
                                           top=self.top))
        self.table.value = html_table(t, {
            "name": ("Account", None), "revenue": ("Revenue", lambda v: money(v, c)),
            "ev_concede": ("NPV if we concede", lambda v: money(v, c)),
            "ev_refuse": ("NPV if we refuse", lambda v: money(v, c)),
            "walk_away": ("Walk-away cut", lambda v: percent(v, 1)),
            "break_even_credibility": ("Concede if threat at least", _credibility_cell),
            "decision": ("Decision", None)}, key="name",
            title=f"Top accounts at a {percent(self._d_pct, 1)} demand")


def negotiation_panel(scenario: Scenario, assumptions: NegotiationAssumptions | None = None,
                      *, demand: float = 0.05, top: int = 8,
                      currency: str = "€") -> NegotiationPanel:
    """Build the concede-or-refuse panel (see :class:`NegotiationPanel`).

    Examples
    --------
    >>> from kamsim.portfolio.datasets import load_sample
    >>> panel = negotiation_panel(Scenario(portfolio=load_sample(), horizon_months=36))
    >>> panel.credibility.value = 0.0
    >>> "refuse" in panel.decision.value
    True
    """
    return NegotiationPanel(scenario, assumptions, demand=demand, top=top, currency=currency)
