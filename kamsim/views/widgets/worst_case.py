"""Worst-case explorer: churn sliders over the exact twin and a cached Monte Carlo run.

Re-exported by :mod:`kamsim.views.widgets`.
"""

from __future__ import annotations

import html
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import numpy as np

from kamsim._util.figures import render_png
from kamsim._util.format import money
from kamsim.analysis.worst_case import lose_top_k
from kamsim.engine import simulate
from kamsim.model import Scenario
from kamsim.risk import measures as risk
from kamsim.risk.exact import loss_distribution
from kamsim.views.plots.style import currency_formatter, percent_formatter

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["WorstCaseExplorer", "worst_case_explorer"]

LEVELS = (0.95, 0.99, 0.995)


def _money(v: float, currency: str) -> str:

    return money(v, currency)


class _SampleDistribution:
    """Monte Carlo samples with the attributes the explorer reads from an exact result."""

    def __init__(self, samples: np.ndarray[Any, Any]) -> None:

        values, counts = np.unique(samples, return_counts=True)
        self.support = values
        self.pmf = counts / samples.size
        self.mean = float(samples.mean())
        self._risk = risk

    def var(self, level: float) -> float:
        return self._risk.value_at_risk(self.support, level, weights=self.pmf)

    def es(self, level: float) -> float:
        return self._risk.expected_shortfall(self.support, level, weights=self.pmf)


class WorstCaseExplorer(widgets.VBox):  # type: ignore[misc]
    """Sliders for churn level, correlation and horizon, with instant answers.

    Every change recomputes the **exact** loss distribution of lost annual revenue
    (:func:`kamsim.risk.exact.loss_distribution`, a few tens of milliseconds) for the chart and
    the VaR / ES table, and a small Monte Carlo run on a fixed seed (common random numbers,
    so the figures move only because the assumptions moved) for the probability of falling
    below break-even and the accounts that drive the tail. The figure is redrawn in place
    and shown as a PNG image.

    Attributes
    ----------
    level, correlation, horizon, paths : ipywidgets sliders
        The controls.
    table, contributions, deterministic : ipywidgets.HTML
        Risk table, top tail drivers, deterministic worst cases.
    image : ipywidgets.Image
        The rendered figure (loss distribution with VaR/ES).
    last_seconds : float
        Time of the last recompute and redraw (for the latency benchmark).
    """

    def __init__(self, scenario: Scenario, *, currency: str = "€", seed: int = 2026,
                 n_paths: int = 4_000, max_points: int = 2_000, **kwargs: Any) -> None:
        from matplotlib.figure import Figure

        self.base = scenario
        self.currency = currency
        self.seed = seed
        self.max_points = max_points
        style = {"description_width": "150px"}
        layout = widgets.Layout(width="460px")
        self.level = widgets.FloatSlider(
            value=scenario.churn.level, min=0.0, max=3.0, step=0.1, style=style,
            layout=layout, description="churn level ×", continuous_update=False,
            readout_format=".1f")
        self.correlation = widgets.FloatSlider(
            value=scenario.churn.correlation, min=0.0, max=0.8, step=0.05, style=style,
            layout=layout, description="shared-shock correlation", continuous_update=False,
            readout_format=".2f")
        self.horizon = widgets.IntSlider(
            value=scenario.horizon_months, min=max(1, scenario.churn.notice_months + 1),
            max=60, step=1, style=style, layout=layout, description="horizon (months)",
            continuous_update=False)
        self.paths = widgets.IntSlider(
            value=n_paths, min=1_000, max=50_000, step=1_000, style=style, layout=layout,
            description="Monte Carlo paths", continuous_update=False)
        self.table = widgets.HTML()
        self.contributions = widgets.HTML()
        self.deterministic = widgets.HTML()
        self.status = widgets.HTML()
        self.image = widgets.Image(format="png", layout=widgets.Layout(max_width="100%"))
        self.figure: Figure = Figure(figsize=(8.0, 3.6), dpi=72, layout="constrained")
        self.ax = self.figure.add_subplot()
        self.last_seconds = 0.0
        self._deterministic_table()
        controls = widgets.VBox([self.level, self.correlation, self.horizon, self.paths,
                                 self.status])
        super().__init__([
            widgets.HBox([controls, self.table]), self.image,
            widgets.HBox([self.contributions, self.deterministic]),
        ], **kwargs)
        for w in (self.level, self.correlation, self.horizon, self.paths):
            w.observe(self._on_change, names="value")
        self.update()

    # -- computation ----------------------------------------------------------------------
    def scenario(self) -> Scenario:
        """The scenario the sliders currently describe."""
        churn = replace(self.base.churn, level=float(self.level.value),
                        correlation=float(self.correlation.value))
        # churn only: the panel answers "how bad can losses get"; win-back is notebook 03's
        return replace(self.base, churn=churn, horizon_months=int(self.horizon.value),
                       replacement=None)

    def _deterministic_table(self) -> None:
        sc = self.base
        t = lose_top_k(sc.portfolio, 3, fixed_costs=sc.fixed_costs)
        rows = "".join(
            f"<tr><td>{html.escape(str(r.case))}</td><td>{html.escape(str(r.last_account_lost))}"
            f"</td><td>{r.revenue_lost_share:.1%}</td>"
            f"<td>{_money(float(r.profit_after_fixed_costs), self.currency)}</td></tr>"  # type: ignore[arg-type]
            for r in t.itertuples())
        self.deterministic.value = (
            "<b>Deterministic worst cases</b><table><tr><th>case</th><th>last lost</th>"
            "<th>revenue lost</th><th>profit after fixed costs</th></tr>" + rows + "</table>")

    def _on_change(self, _change: Any) -> None:
        self.update()

    def update(self) -> None:
        """Recompute and redraw (called on every slider change)."""
        t0 = time.perf_counter()
        sc = self.scenario()
        res = simulate(sc, n_paths=int(self.paths.value), rng=self.seed, progress=False)
        # the exact twin covers full churn; with partial losses the Monte Carlo run answers
        exact: Any = (_SampleDistribution(res.losses()) if sc.churn.has_partial
                      else loss_distribution(sc, max_points=self.max_points))
        source = "Monte Carlo" if sc.churn.has_partial else "exact"
        rc = res.risk_contributions(0.95)
        total = sc.portfolio.total_revenue
        rows = "".join(
            f"<tr><td>1-in-{1 / (1 - a):.0f} ({a:.1%})</td>"
            f"<td>{_money(exact.var(a), self.currency)} ({exact.var(a) / total:.1%})</td>"
            f"<td>{_money(exact.es(a), self.currency)}</td></tr>" for a in LEVELS)
        pbe = res.prob_below_break_even()
        self.table.value = (
            f"<b>Annual revenue lost by the horizon ({source})</b><table><tr><th>year</th>"
            "<th>VaR</th><th>ES</th></tr>" + rows + "</table>"
            f"<p>Expected loss {_money(exact.mean, self.currency)}; "
            f"P(gross profit below fixed costs within {sc.horizon_months} months, before any "
            f"replacement) = <b>{pbe:.1%}</b> (Monte Carlo, {res.n_paths:,} paths)</p>")
        top = rc.head(5)
        self.contributions.value = (
            "<b>Accounts driving the worst 5 % of futures</b><table>"
            + "".join(f"<tr><td>{html.escape(str(r.name))}</td>"
                      f"<td>{r.share_of_tail_loss:.1%}</td></tr>" for r in top.itertuples())
            + "</table>")
        self._draw(exact)
        self.last_seconds = time.perf_counter() - t0
        self.status.value = f"<small>updated in {self.last_seconds * 1000:.0f} ms</small>"

    def _draw(self, exact: Any) -> None:
        """Update the persistent artists (bars as one step outline, VaR/ES lines), render."""
        ax = self.ax
        support = np.asarray(exact.support)
        pmf = np.asarray(exact.pmf)
        # aggregate the lattice into 60 bins for readability
        top = max(float(support.max()), 1.0)
        edges = np.linspace(0.0, top, 61)
        idx = np.clip(np.searchsorted(edges, support, side="right") - 1, 0, 59)
        heights = np.bincount(idx, pmf, minlength=60)
        lines = [(exact.var(a), exact.es(a)) for a in (LEVELS[0], LEVELS[2])]
        if not hasattr(self, "_stairs"):
            self._stairs = ax.stairs(heights, edges, fill=True, color="#9ecae1")
            self._vlines = []
            for a, c in zip((LEVELS[0], LEVELS[2]), ("#de2d26", "#756bb1"), strict=True):
                self._vlines.append((ax.axvline(0, color=c, ls="--"),
                                     ax.axvline(0, color=c, ls=":"), a))
            ax.xaxis.set_major_formatter(currency_formatter(self.currency))
            ax.yaxis.set_major_formatter(percent_formatter())
            ax.set_xlabel("Annual revenue lost by the horizon")
            ax.set_ylabel("Probability")
        else:
            self._stairs.set_data(heights, edges)
        for (var_line, es_line, a), (v, e) in zip(self._vlines, lines, strict=True):
            var_line.set_xdata([v, v])
            es_line.set_xdata([e, e])
            var_line.set_label(f"VaR {a:.1%}: {_money(v, self.currency)}")
            es_line.set_label(f"ES {a:.1%}: {_money(e, self.currency)}")
        ax.set_xlim(0.0, top * 1.02)
        ax.set_ylim(0.0, float(heights.max()) * 1.1 or 1.0)
        ax.legend(fontsize="small", frameon=False)
        self.image.value = render_png(self.figure, dpi=72)


def worst_case_explorer(scenario: Scenario, *, currency: str = "€", seed: int = 2026,
                        n_paths: int = 4_000) -> WorstCaseExplorer:
    """Build the worst-case explorer panel for ``scenario`` (see :class:`WorstCaseExplorer`).

    Examples
    --------
    >>> from kamsim.portfolio.datasets import data_dir
    >>> from kamsim.model import Scenario
    >>> panel = worst_case_explorer(Scenario.from_yaml(data_dir() / "sample_scenario.yaml"))
    >>> before = panel.image.value
    >>> panel.correlation.value = 0.5
    >>> panel.image.value != before
    True
    """
    return WorstCaseExplorer(scenario, currency=currency, seed=seed, n_paths=n_paths)

