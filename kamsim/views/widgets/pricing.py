"""ipywidgets panels for price cuts and negotiations (re-exported by :mod:`kamsim.views.widgets`).

The panels only collect assumptions and call :mod:`kamsim.economics.pricing` and
:mod:`kamsim.economics.negotiation`; they use exact expected values (milliseconds), keep one
figure each and redraw it in place.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import numpy as np

from kamsim._util.figures import panel_axes, render_png
from kamsim.economics.negotiation import (
    NegotiationAssumptions,
    evaluate_concession,
    negotiation_table,
    walk_away_curve,
)
from kamsim.economics.pricing import (
    PassThroughBreakdown,
    PricingAssumptions,
    break_even_retention,
    optimal_pass_through,
    pass_through_breakdown,
    pass_through_curve,
)
from kamsim.exceptions import AssumptionError
from kamsim.model import Scenario
from kamsim.views.plots.pricing import (
    pass_through_curve_plot,
    pass_through_waterfall,
    walk_away_plot,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["NegotiationPanel", "PricingExplorer", "negotiation_panel", "pricing_explorer"]

_STYLE = {"description_width": "170px"}
_LAYOUT = widgets.Layout(width="460px")


def _slider(value: float, lo: float, hi: float, step: float, desc: str,
            fmt: str = ".2f") -> widgets.FloatSlider:
    return widgets.FloatSlider(value=value, min=lo, max=hi, step=step, description=desc,
                               readout_format=fmt, continuous_update=False, style=_STYLE,
                               layout=_LAYOUT)


def _png(fig: Figure) -> bytes:
    return render_png(fig, dpi=80)


class PricingExplorer(widgets.VBox):  # type: ignore[misc]
    """Sliders for gain, pass-through, retention response and discount rate.

    Build with :func:`pricing_explorer`. Each change recomputes the exact breakdown,
    the pass-through curve, the optimum and the break-even retention, then redraws the
    waterfall and the curve in the same figure.

    Attributes
    ----------
    gain, pass_through, response, floor, discount_rate : ipywidgets.FloatSlider
    summary : ipywidgets.HTML
    image : ipywidgets.Image
    figure : matplotlib.figure.Figure
    breakdown : PassThroughBreakdown
        The latest breakdown.
    """

    def __init__(self, scenario: Scenario, assumptions: PricingAssumptions | None = None,
                 *, pass_through: float = 0.5, currency: str = "€", **kwargs: Any) -> None:
        from matplotlib.figure import Figure

        a = PricingAssumptions() if assumptions is None else assumptions
        self.scenario = scenario
        self.base = a
        self.currency = currency
        self.gain = _slider(a.gains.pct_of_revenue * 100, 0.0, 10.0, 0.1,
                            "efficiency gain (% of revenue)", ".1f")
        self.pass_through = _slider(pass_through * 100, 0.0, 100.0, 5.0,
                                    "pass-through (%)", ".0f")
        self.response = _slider(-a.response.hazard_change_per_point * 100, 0.0, 50.0, 1.0,
                                "hazard drop per point of cut (%)", ".0f")
        self.floor = _slider(a.response.floor, 0.0, 1.0, 0.05, "lowest hazard multiplier")
        self.discount_rate = _slider(a.discount_rate * 100, 0.0, 30.0, 0.5,
                                     "discount rate (% a year)", ".1f")
        self.summary = widgets.HTML()
        self.image = widgets.Image(format="png", layout=widgets.Layout(max_width="100%"))
        self.figure: Figure = Figure(figsize=(14.0, 4.6), layout="constrained")
        controls = widgets.VBox([self.gain, self.pass_through, self.response, self.floor,
                                 self.discount_rate])
        super().__init__([widgets.HBox([controls, self.summary]), self.image], **kwargs)
        self.breakdown: PassThroughBreakdown = pass_through_breakdown(
            scenario, a, pass_through)
        for s in (self.gain, self.pass_through, self.response, self.floor,
                  self.discount_rate):
            s.observe(self._on_change, names="value")
        self.update()

    def assumptions(self) -> PricingAssumptions:
        """The assumptions the sliders currently describe."""
        from dataclasses import replace

        a = self.base
        return replace(
            a, gains=replace(a.gains, pct_of_revenue=float(self.gain.value) / 100),
            response=replace(a.response,
                             hazard_change_per_point=-float(self.response.value) / 100,
                             floor=float(self.floor.value)),
            discount_rate=float(self.discount_rate.value) / 100)

    def _on_change(self, change: Mapping[str, Any]) -> None:
        self.update()

    def update(self) -> None:
        """Recompute and redraw in place (shows the error instead for bad inputs)."""
        try:
            a = self.assumptions()
            phi = float(self.pass_through.value) / 100
            b = pass_through_breakdown(self.scenario, a, phi)
            curve = pass_through_curve(self.scenario, a, grid=21)
            opt = optimal_pass_through(self.scenario, a, grid=21)
            be = break_even_retention(self.scenario, a, phi)
        except AssumptionError as err:
            self.summary.value = f"<span style='color:#b2182b'>{err}</span>"
            return
        self.breakdown = b
        c = self.currency
        need = ("unreachable: even zero churn would not pay"
                if np.isnan(be.required_hazard_multiplier)
                else f"{be.required_hazard_reduction:.0%} lower churn hazard "
                     f"(churn {be.churn_prob_before:.1%} → {be.churn_prob_required:.1%} "
                     "a year)")
        self.summary.value = (
            "<b>At this pass-through</b><ul>"
            f"<li>price cut: {b.price_cut:.2%} of targeted revenue</li>"
            f"<li>margin given away (NPV): {c}{b.passed_back_npv:,.0f}</li>"
            f"<li>bought back by retention and volume: {c}{b.retention_value_npv:,.0f}</li>"
            f"<li>net effect of passing back: <b>{c}{b.net_of_pass_through:,.0f}</b></li>"
            f"<li>to pay for itself it needs: {need}</li>"
            f"<li>best pass-through for expected NPV: <b>{opt.pass_through:.0%}</b></li>"
            "</ul>")
        fig = self.figure
        ax1, ax2 = panel_axes(fig, 2)
        pass_through_waterfall(b, currency=c, ax=ax1)
        pass_through_curve_plot(curve, optimum=opt, currency=c, ax=ax2)
        ax2.axvline(phi, color="#999999", ls=":", lw=1)
        self.image.value = _png(fig)


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


class NegotiationPanel(widgets.VBox):  # type: ignore[misc]
    """Concede or refuse: account, demanded cut, credibility and replacement speed.

    Build with :func:`negotiation_panel`. Shows the decision for the chosen account, a
    table for the top accounts and the walk-away chart, updated in place.

    Attributes
    ----------
    account : ipywidgets.Dropdown
    demand, credibility, replacement_months : ipywidgets slider widgets
    decision, table : ipywidgets.HTML
    image : ipywidgets.Image
    figure : matplotlib.figure.Figure
    """

    def __init__(self, scenario: Scenario, assumptions: NegotiationAssumptions | None = None,
                 *, demand: float = 0.05, top: int = 8, currency: str = "€",
                 **kwargs: Any) -> None:
        from matplotlib.figure import Figure

        a = NegotiationAssumptions() if assumptions is None else assumptions
        self.scenario = scenario
        self.base = a
        self.top = top
        self.currency = currency
        pf = scenario.portfolio
        order = np.argsort(-np.asarray(pf.revenue), kind="stable")[:top]
        options = [(f"{pf.names[i]} ({pf.account_ids[i]})", str(pf.account_ids[i]))
                   for i in order]
        self.account = widgets.Dropdown(options=options, value=options[0][1],
                                        description="account", style=_STYLE, layout=_LAYOUT)
        self.demand = _slider(demand * 100, 0.0, 30.0, 0.5, "price cut demanded (%)", ".1f")
        self.credibility = _slider(a.credibility * 100, 0.0, 100.0, 5.0,
                                   "credibility of threat (%)", ".0f")
        self.replacement_months = widgets.IntSlider(
            value=a.replacement_months, min=0, max=60, step=1,
            description="months to replace", continuous_update=False, style=_STYLE,
            layout=_LAYOUT)
        self.decision = widgets.HTML()
        self.table = widgets.HTML()
        self.image = widgets.Image(format="png", layout=widgets.Layout(max_width="100%"))
        self.figure: Figure = Figure(figsize=(9.0, 4.2), layout="constrained")
        controls = widgets.VBox([self.account, self.demand, self.credibility,
                                 self.replacement_months])
        super().__init__([widgets.HBox([controls, self.decision]), self.image, self.table],
                         **kwargs)
        for w in (self.account, self.demand, self.credibility, self.replacement_months):
            w.observe(self._on_change, names="value")
        self.update()

    def assumptions(self) -> NegotiationAssumptions:
        """The assumptions the controls currently describe."""
        from dataclasses import replace

        return replace(self.base, credibility=float(self.credibility.value) / 100,
                       replacement_months=int(self.replacement_months.value))

    def _on_change(self, change: Mapping[str, Any]) -> None:
        self.update()

    def update(self) -> None:
        """Recompute the decision, table and chart in place."""
        a = self.assumptions()
        d_pct = float(self.demand.value) / 100
        d = evaluate_concession(self.scenario, str(self.account.value), d_pct, a)
        c = self.currency
        colour = "#1a9850" if d.decision == "concede" else "#b2182b"
        self.decision.value = (
            f"<b>{d.name}</b>: <b style='color:{colour}'>{d.decision}</b><ul>"
            f"<li>expected NPV if we concede: {c}{d.ev_concede:,.0f}</li>"
            f"<li>expected NPV if we refuse: {c}{d.ev_refuse:,.0f} "
            f"(if it leaves {c}{d.ev_refuse_if_leaves:,.0f}, "
            f"if it stays {c}{d.ev_refuse_if_stays:,.0f})</li>"
            f"<li>walk-away concession: <b>{d.walk_away:.2%}</b></li>"
            f"<li>conceding pays if the threat is at least "
            f"{min(d.break_even_credibility, 9.99):.0%} credible</li></ul>")
        t = negotiation_table(self.scenario, d_pct, a, top=self.top)
        cols = ["name", "revenue", "ev_concede", "ev_refuse", "walk_away",
                "break_even_credibility", "decision"]
        self.table.value = "<b>Top accounts</b>" + t[cols].to_html(
            index=False, border=0, float_format=lambda v: f"{v:,.3f}" if abs(v) < 10
            else f"{v:,.0f}")
        curve = walk_away_curve(self.scenario, a, top=min(self.top, 5))
        fig = self.figure
        walk_away_plot(curve, demand=d_pct, ax=panel_axes(fig, 1)[0])
        self.image.value = _png(fig)


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

