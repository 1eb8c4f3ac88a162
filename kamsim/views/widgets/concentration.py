"""Key-account explorer: criterion weights and tier thresholds that re-score and redraw.

Re-exported by :mod:`kamsim.views.widgets`. Built on :class:`~kamsim.views.widgets.base.Explorer`:
labelled sliders, one status line, tables through the shared formatter, charts through
:func:`~kamsim.views.plots.concentration.score_contribution_plot` and
:func:`~kamsim.views.plots.concentration.pareto_plot`.
"""

from __future__ import annotations

import html
import logging
import warnings
from collections.abc import Mapping
from typing import Any

import ipywidgets as widgets

from kamsim._util.figures import panel_axes
from kamsim._util.format import count
from kamsim.analysis.key_accounts import (
    CRITERION_DESCRIPTIONS,
    DEFAULT_WEIGHTS,
    KeyAccountScores,
    MissingCriterionWarning,
    TierRule,
    key_account_criteria,
)
from kamsim.exceptions import AssumptionError
from kamsim.portfolio import Portfolio
from kamsim.views.plots.concentration import ParetoChart, ScoreContributionChart
from kamsim.views.widgets.base import Explorer, html_table, value_formatter

__all__ = ["CRITERION_LABELS", "ConcentrationExplorer", "concentration_explorer"]

logger = logging.getLogger(__name__)

#: Business names of the key-account criteria (slider labels and table headers).
CRITERION_LABELS: Mapping[str, str] = {
    "volume": "Share of our revenue",
    "product_line": "Share of a product line",
    "profit": "Share of our gross profit",
    "national": "National / international account",
    "proximity": "Close to us",
    "growth": "Growth potential",
    "simplicity": "Cheap to serve",
}


def _plain_reason(why: str) -> str:
    """Why a criterion was skipped, without column code names.

    Examples
    --------
    >>> _plain_reason("portfolio has no distance_km column")
    'your data have no column for it'
    """
    return "your data have no column for it" if why.startswith("portfolio has no") \
        else why


class ConcentrationExplorer(Explorer):
    """Weight sliders and tier thresholds that re-score key accounts and redraw.

    Build with :func:`concentration_explorer`. The normalised criteria are computed once;
    each change of a control re-weights them (one matrix-vector product), refreshes the
    table and redraws the same figure (score contributions and a Pareto chart coloured by
    tier).

    Attributes
    ----------
    sliders : dict of str to ipywidgets.FloatSlider
        One weight slider per criterion the portfolio has data for.
    key_threshold, strategic_threshold : ipywidgets.FloatSlider
        Score thresholds of the key and strategic tiers.
    table : ipywidgets.HTML
        The top accounts with tier, score and each criterion's contribution.
    counts : ipywidgets.HTML
        Number of accounts per tier.
    result : KeyAccountScores
        The latest scores.
    """

    title = "Which accounts are key?"
    question = "How concentrated is our revenue, and which accounts deserve key-account care?"

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
        rule = TierRule() if tiers is None else tiers
        if rule.method != "threshold":
            msg = "the explorer uses score thresholds; pass TierRule(method='threshold', ...)"
            raise AssumptionError(msg)
        super().__init__(currency=currency, figsize=(12.5, 0.3 * top + 2.4), **kwargs)
        self.top = top
        self._start = dict(DEFAULT_WEIGHTS if weights is None else weights)
        self._rule = rule
        weight = value_formatter("number", decimals=2)
        self.sliders: dict[str, widgets.FloatSlider] = {}
        self.key_threshold = self.slider(
            float(rule.key), 0.0, 1.0, 0.01, label="Key tier from score",
            tooltip="Accounts scoring at least this (0-1) are key accounts", fmt=weight)
        self.strategic_threshold = self.slider(
            float(rule.strategic), 0.0, 1.0, 0.01, label="Strategic tier from score",
            tooltip="Accounts scoring at least this (and below the key tier) are strategic",
            fmt=weight)
        self.counts = widgets.HTML()
        self.note = widgets.HTML()
        self.table = widgets.HTML()
        self.set_portfolio(portfolio, update=False)
        self.update()

    def set_portfolio(self, portfolio: Portfolio, *, update: bool = True) -> None:
        """Use another portfolio (e.g. the user's own data): rebuild the sliders, redraw."""
        self.portfolio = portfolio
        self._charts: tuple[ScoreContributionChart, ParetoChart] | None = None
        self.criteria = key_account_criteria(portfolio)
        start = {c: float(s.value) for c, s in self.sliders.items()} or self._start
        with warnings.catch_warnings():
            if update:  # new data: the skipped criteria are listed in the panel instead
                warnings.simplefilter("ignore", MissingCriterionWarning)
            # validates the starting weights (and warns once about skipped criteria)
            self.result: KeyAccountScores = self.criteria.score(start, tiers=self._rule)
        weight = value_formatter("number", decimals=2)
        self.sliders = {
            c: self.slider(float(start.get(c, 0.0)), 0.0, 1.0, 0.05,
                           label=CRITERION_LABELS.get(c, c),
                           tooltip=f"Weight of this criterion: {CRITERION_DESCRIPTIONS[c]}",
                           fmt=weight)
            for c in self.criteria.criteria
        }
        skipped = "".join(f"<li>{html.escape(CRITERION_LABELS.get(c, c))}: "
                          f"{html.escape(_plain_reason(why))}</li>"
                          for c, why in self.criteria.skipped.items())
        self.note.value = (f"<b>Criteria without data (skipped, not guessed):</b>"
                           f"<ul>{skipped}</ul>" if skipped else "")
        self.layout([
            self.beside([
                self.controls("Criterion weights (only their ratios matter)",
                              list(self.sliders.values())),
                self.controls("Tier thresholds (score 0-1)",
                              [self.key_threshold, self.strategic_threshold]),
                self.status,
            ], widgets.VBox([self.counts, self.note])),
            self.image, self.table,
        ])
        self.watch(*self.sliders.values())
        if not getattr(self, "_watching_thresholds", False):
            self.watch(self.key_threshold, self.strategic_threshold)
            self._watching_thresholds = True
        if update:
            self.update()

    def data_portfolio(self) -> Portfolio:
        """The portfolio scored."""
        return self.portfolio

    @property
    def weights(self) -> dict[str, float]:
        """Current slider weights (before rescaling)."""
        return {c: float(s.value) for c, s in self.sliders.items()}

    def rescore(self) -> KeyAccountScores:
        """Re-score with the current controls.

        Raises
        ------
        AssumptionError
            If every weight is 0 (in plain words, for the status line).
        """
        key = float(self.key_threshold.value)
        strategic = min(float(self.strategic_threshold.value), key)
        w = self.weights
        if not any(v > 0 for v in w.values()):
            msg = "Give at least one criterion a positive weight."
            raise AssumptionError(msg)
        return self.criteria.score(w, tiers=TierRule(key=key, strategic=strategic))

    def compute(self) -> None:
        """Re-score (see :meth:`rescore`)."""
        self.result = self.rescore()

    @property
    def message(self) -> widgets.HTML:
        """The status line (kept under its old name)."""
        return self.status

    def render(self) -> None:
        """Refresh the tier counts, the table and the figure in place."""
        res = self.result
        counts = res.tier_counts()
        self.counts.value = "<b>Accounts per tier</b><br>" + "<br>".join(
            f"{html.escape(str(t))}: {count(n)}" for t, n in counts.items())
        df = res.to_frame().head(self.top)
        two = value_formatter("number", decimals=2)
        cols: dict[str, tuple[str, Any]] = {
            "name": ("Account", None), "account_id": ("Id", None), "tier": ("Tier", None),
            "score": ("Score", two), "rank": ("Rank", count)}
        for c in res.criteria:
            cols[f"contrib_{c}"] = (CRITERION_LABELS.get(c, c), two)
        self.table.value = html_table(
            df, cols, key="name",
            title="Top accounts: score and each criterion's contribution to it")
        charts = self._charts
        if charts is None or charts[0].criteria != tuple(res.criteria):
            # new data: draw the two charts once; later changes update their artists
            ax_scores, ax_pareto = panel_axes(self.figure, 2, width_ratios=[1.0, 1.25])
            self._charts = (
                ScoreContributionChart(ax_scores, res, top=self.top, labels=CRITERION_LABELS),
                ParetoChart(ax_pareto, self.portfolio, top=self.top, highlight=res,
                            currency=self.currency))
        else:
            charts[0].update(res)
            charts[1].set_highlight(res)
        self.show()


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
    :func:`kamsim.analysis.key_accounts.key_account_criteria`), then updates the tier
    counts, the table of top accounts (tier, score, each criterion's contribution) and the
    figure (score contributions, Pareto chart coloured by tier) in place.

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
