"""Interactive ipywidgets panels for notebooks.

Widgets only collect assumptions and show results; every number comes from the same
library functions a report uses. Panels keep one figure and one table and update them
in place when a control changes, so they stay responsive.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from kamsim._util.figures import panel_axes, render_png
from kamsim.analysis.key_accounts import (
    CRITERION_DESCRIPTIONS,
    DEFAULT_WEIGHTS,
    KeyAccountScores,
    TierRule,
    key_account_criteria,
)
from kamsim.exceptions import AssumptionError
from kamsim.portfolio import Portfolio
from kamsim.views.plots.concentration import pareto_plot, score_contribution_plot

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["ConcentrationExplorer", "concentration_explorer"]

logger = logging.getLogger(__name__)

# --- concentration ---------------------------------------------------------------------


class ConcentrationExplorer(widgets.VBox):  # type: ignore[misc]
    """Weight sliders and tier thresholds that re-score key accounts and redraw.

    Build with :func:`concentration_explorer`. The normalised criteria are computed once;
    each change of a control re-weights them (one matrix-vector product), refreshes the
    table and redraws the same :class:`~matplotlib.figure.Figure` (score contributions
    and a Pareto chart coloured by tier), shown as a PNG image.

    Attributes
    ----------
    sliders : dict of str to ipywidgets.FloatSlider
        One weight slider per criterion the portfolio has data for.
    key_threshold, strategic_threshold : ipywidgets.FloatSlider
        Score thresholds of the key and strategic tiers.
    table : ipywidgets.HTML
        The top accounts with score, rank, tier and each criterion's contribution.
    counts : ipywidgets.HTML
        Number of accounts per tier.
    image : ipywidgets.Image
        The rendered figure.
    figure : matplotlib.figure.Figure
        The figure redrawn on every update.
    result : KeyAccountScores
        The latest scores.
    """

    def __init__(
        self,
        portfolio: Portfolio,
        *,
        weights: Mapping[str, float] | None = None,
        tiers: TierRule | None = None,
        top: int = 15,
        currency: str = "€",
        **kwargs: Any,
    ) -> None:
        from matplotlib.figure import Figure

        rule = TierRule() if tiers is None else tiers
        if rule.method != "threshold":
            msg = "the explorer uses score thresholds; pass TierRule(method='threshold', ...)"
            raise AssumptionError(msg)
        self.portfolio = portfolio
        self.criteria = key_account_criteria(portfolio)
        self.top = top
        self.currency = currency
        start = dict(DEFAULT_WEIGHTS if weights is None else weights)
        # validates the starting weights (and warns once about skipped criteria)
        self.result: KeyAccountScores = self.criteria.score(start, tiers=rule)
        style = {"description_width": "110px"}
        layout = widgets.Layout(width="420px")
        self.sliders: dict[str, widgets.FloatSlider] = {
            c: widgets.FloatSlider(
                value=float(start.get(c, 0.0)), min=0.0, max=1.0, step=0.05,
                description=c, readout_format=".2f", continuous_update=False,
                style=style, layout=layout, tooltip=CRITERION_DESCRIPTIONS[c],
            )
            for c in self.criteria.criteria
        }
        self.key_threshold = widgets.FloatSlider(
            value=float(rule.key), min=0.0, max=1.0, step=0.01, description="key ≥",
            readout_format=".2f", continuous_update=False, style=style, layout=layout)
        self.strategic_threshold = widgets.FloatSlider(
            value=float(rule.strategic), min=0.0, max=1.0, step=0.01,
            description="strategic ≥", readout_format=".2f", continuous_update=False,
            style=style, layout=layout)
        self.message = widgets.HTML()
        self.counts = widgets.HTML()
        self.table = widgets.HTML()
        self.image = widgets.Image(format="png", layout=widgets.Layout(max_width="100%"))
        self.figure: Figure = Figure(figsize=(14.0, 0.32 * top + 2.2), layout="constrained")
        skipped = "".join(f"<li>{c}: {why}</li>" for c, why in self.criteria.skipped.items())
        note = (f"<b>Criteria without data (skipped, not guessed):</b><ul>{skipped}</ul>"
                if skipped else "")
        controls = widgets.VBox([
            widgets.HTML("<b>Criterion weights</b> (rescaled to add up to 1)"),
            *self.sliders.values(),
            widgets.HTML("<b>Tier thresholds</b> (score 0-1)"),
            self.key_threshold, self.strategic_threshold, self.message,
        ])
        super().__init__([
            widgets.HBox([controls, widgets.VBox([self.counts, widgets.HTML(note)])]),
            self.image, self.table,
        ], **kwargs)
        for s in (*self.sliders.values(), self.key_threshold, self.strategic_threshold):
            s.observe(self._on_change, names="value")
        self._render()

    @property
    def weights(self) -> dict[str, float]:
        """Current slider weights (before rescaling)."""
        return {c: float(s.value) for c, s in self.sliders.items()}

    def _on_change(self, change: Mapping[str, Any]) -> None:
        self.update()

    def rescore(self) -> KeyAccountScores | None:
        """Re-score with the current controls; None (and a message) if weights are all 0."""
        key = float(self.key_threshold.value)
        strategic = min(float(self.strategic_threshold.value), key)
        w = self.weights
        if not any(v > 0 for v in w.values()):
            self.message.value = ("<span style='color:#b2182b'>Give at least one criterion a "
                                  "positive weight.</span>")
            return None
        self.message.value = ""
        return self.criteria.score(w, tiers=TierRule(key=key, strategic=strategic))

    def update(self) -> None:
        """Re-score and refresh the table and figure in place."""
        res = self.rescore()
        if res is None:
            return
        self.result = res
        self._render()

    def _render(self) -> None:
        res = self.result
        counts = res.tier_counts()
        self.counts.value = "<b>Accounts per tier</b><br>" + "<br>".join(
            f"{t}: {int(n)}" for t, n in counts.items())
        df = res.to_frame().head(self.top)
        df.columns = [c.removeprefix("contrib_") for c in df.columns]
        self.table.value = (
            "<b>Top accounts: score and each criterion's contribution</b>"
            + df.to_html(index=False, float_format=lambda v: f"{v:.3f}", border=0)
        )
        ax_scores, ax_pareto = panel_axes(self.figure, 2, width_ratios=[1.0, 1.3])
        score_contribution_plot(res, top=self.top, ax=ax_scores)
        pareto_plot(self.portfolio, top=self.top, highlight=res,
                    currency=self.currency, ax=ax_pareto)
        self.image.value = render_png(self.figure, dpi=72)


def concentration_explorer(
    portfolio: Portfolio,
    *,
    weights: Mapping[str, float] | None = None,
    tiers: TierRule | None = None,
    top: int = 15,
    currency: str = "€",
) -> ConcentrationExplorer:
    """Build the key-account explorer panel: weight sliders and tier thresholds.

    Moving a slider re-weights the precomputed criteria (see
    :func:`kamsim.analysis.key_accounts.key_account_criteria`), then updates the tier counts, the
    table of top accounts (score, rank, tier, each criterion's contribution) and the
    figure (score contributions, Pareto chart coloured by tier) in place. Sliders use
    ``continuous_update=False``: re-scoring takes well under a millisecond, but redrawing
    the figure takes tens of milliseconds, too slow to follow every drag step.

    Parameters
    ----------
    portfolio : Portfolio
    weights : mapping of str to float, optional
        Starting weights (default :data:`kamsim.analysis.key_accounts.DEFAULT_WEIGHTS`).
    tiers : TierRule, optional
        Starting thresholds (method ``"threshold"``).
    top : int
        Number of accounts in the table and the contribution chart.
    currency : str
        Currency symbol of the Pareto chart.

    Returns
    -------
    ConcentrationExplorer
        An ``ipywidgets.VBox``; display it in a notebook.

    Examples
    --------
    >>> from kamsim.portfolio.datasets import load_sample
    >>> panel = concentration_explorer(load_sample())
    >>> panel.sliders["volume"].value = 1.0
    >>> int(panel.result.tier_counts()["key"]) >= 1
    True
    """
    return ConcentrationExplorer(portfolio, weights=weights, tiers=tiers, top=top,
                                 currency=currency)
