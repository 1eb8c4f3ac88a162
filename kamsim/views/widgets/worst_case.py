"""Worst-case explorer: churn sliders over the exact twin and a cached Monte Carlo run.

Re-exported by :mod:`kamsim.views.widgets`. Built on :class:`~kamsim.views.widgets.base.Explorer`.
The risk table reads VaR and ES from whichever distribution answers (the exact one for full
churn, the Monte Carlo run with partial losses) through the methods both have
(``var(level)``, ``es(level)``); no adapter wraps one as the other.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import ipywidgets as widgets
import numpy as np
import pandas as pd

from kamsim._util.format import money, percent
from kamsim.analysis.worst_case import lose_top_k
from kamsim.engine import SimulationResult, simulate
from kamsim.model import Scenario
from kamsim.risk.exact import ExactLossDistribution, loss_distribution
from kamsim.views.plots.style import currency_formatter, percent_formatter
from kamsim.views.report.tables import case_label
from kamsim.views.widgets.base import Explorer, html_table, value_formatter

__all__ = ["WorstCaseExplorer", "worst_case_explorer"]

LEVELS = (0.95, 0.99, 0.995)
_BINS = 60


class WorstCaseExplorer(Explorer):
    """Sliders for churn level, correlation and horizon, with instant answers.

    Every change recomputes the **exact** loss distribution of lost annual revenue
    (:func:`kamsim.risk.exact.loss_distribution`) for the chart and the VaR / ES table
    (with partial churn, the Monte Carlo run answers instead), and a small Monte Carlo run
    on a fixed seed (common random numbers, so the figures move only because the
    assumptions moved) for the probability of falling below break-even and the accounts
    that drive the tail.

    Attributes
    ----------
    level, correlation, horizon, paths : ipywidgets sliders
        The controls.
    table, contributions, deterministic : ipywidgets.HTML
        Risk table, top tail drivers, deterministic worst cases.
    result : SimulationResult
        The latest Monte Carlo run.
    """

    title = "Worst cases"
    question = "What if we lose our key accounts, and how bad is a 1-in-20 year?"

    def __init__(self, scenario: Scenario, *, currency: str = "€", seed: int = 2026,
                 n_paths: int = 4_000, max_points: int = 2_000, **kwargs: Any) -> None:
        super().__init__(currency=currency, figsize=(10.5, 3.8), **kwargs)
        self.seed = seed
        self.max_points = max_points
        self.level = self.slider(
            scenario.churn.level, 0.0, 3.0, 0.1, label="Churn level (× our estimates)",
            tooltip="Multiplies every account's annual churn probability: 1.5 = a year "
                    "50 % worse than estimated",
            fmt=value_formatter("times", decimals=1))
        self.correlation = self.slider(
            scenario.churn.correlation, 0.0, 0.8, 0.05,
            label="Bad years cluster (shared-shock correlation)",
            tooltip="How strongly a recession hits all accounts at once: 0 = accounts "
                    "leave independently", fmt=value_formatter("number", decimals=2))
        self.horizon = self.slider(
            scenario.horizon_months, max(1, scenario.churn.notice_months + 1), 60, 1,
            label="Horizon (months)", tooltip="Months of the future simulated",
            fmt=value_formatter("months"), integer=True)
        heavy = scenario.churn.copula == "t"
        self.copula = self.dropdown(
            [("Normal (Gaussian)", "gaussian"), ("Heavy tails (Student-t)", "t")],
            "t" if heavy else "gaussian", label="How bad years strike",
            tooltip="Tail dependence: how much more likely accounts leave together in a "
                    "bad year. Heavy tails: a rare bad year takes many accounts at once")
        self.nu = self.slider(
            float(scenario.churn.nu) if heavy and scenario.churn.nu else 4.0, 2.0, 30.0,
            1.0, label="Tail heaviness (degrees of freedom)",
            tooltip="Lower = accounts more likely to leave together in a bad year; 30 is "
                    "close to normal (heavy tails only)",
            fmt=value_formatter("number", decimals=0))
        self.nu.disabled = not heavy
        self.paths = self.slider(
            n_paths, 1_000, 50_000, 1_000, label="Simulated futures",
            tooltip="Monte Carlo paths for the break-even probability and the tail "
                    "drivers (more: steadier, slower)", fmt=value_formatter("count"),
            integer=True)
        self.table = widgets.HTML()
        self.contributions = widgets.HTML()
        self.deterministic = widgets.HTML()
        self.ax = self.figure.add_subplot()
        self._stairs: Any = None
        self.result: SimulationResult | None = None
        self.distribution: ExactLossDistribution | SimulationResult
        self._cache: dict[tuple[Any, ...], tuple[SimulationResult, pd.DataFrame | None]] = {}
        self._exact: dict[tuple[Any, ...], ExactLossDistribution] = {}
        self.layout([
            self.beside([
                self.controls("Churn assumptions",
                              [self.level, self.correlation, self.copula, self.nu,
                               self.horizon, self.paths]),
                self.status], self.table),
            self.image,
            widgets.HBox([self.contributions, self.deterministic],
                         layout=widgets.Layout(flex_flow="row wrap", grid_gap="24px")),
        ])
        self.watch(self.level, self.correlation, self.copula, self.nu, self.horizon,
                   self.paths)
        self.set_scenario(scenario)

    def set_scenario(self, scenario: Scenario) -> None:
        """Use another scenario (e.g. the user's own data) and redraw."""
        self.base = scenario
        self.result = None
        self._deterministic_table()
        self.update()

    # -- computation ----------------------------------------------------------------------
    def current_scenario(self) -> Scenario:
        """The scenario the sliders currently describe."""
        heavy = self.copula.value == "t"
        self.nu.disabled = not heavy
        churn = replace(self.base.churn, level=float(self.level.value),
                        correlation=float(self.correlation.value),
                        copula="t" if heavy else "gaussian",
                        nu=float(self.nu.value) if heavy else None, nu_idio=None)
        # churn only: the panel answers "how bad can losses get"; win-back is notebook 03's
        return replace(self.base, churn=churn, horizon_months=int(self.horizon.value),
                       replacement=None)

    def scenario(self) -> Scenario:
        """Alias of :meth:`current_scenario`."""
        return self.current_scenario()

    def _deterministic_table(self) -> None:
        sc = self.base
        t = lose_top_k(sc.portfolio, 3, fixed_costs=sc.fixed_costs)
        t["case"] = [case_label(v) for v in t["case"]]  # "Lose the largest", not code
        c = self.currency
        self.deterministic.value = html_table(t, {
            "case": ("Case", None),
            "last_account_lost": ("Last account lost", None),
            "revenue_lost_share": ("Revenue lost", lambda v: percent(v)),
            "profit_after_fixed_costs": ("Profit after fixed costs",
                                         lambda v: money(v, c)),
        }, title="Deterministic worst cases (lose the largest accounts for a year)")

    def compute(self) -> None:
        """The loss distribution for the current sliders (exact; Monte Carlo if partial).

        The Monte Carlo figures follow in :meth:`render`.

        Results are kept for the last settings (same seed: same numbers), so moving a
        slider back answers at once, and the exact distribution is kept apart from the
        number of simulated futures (moving that slider reuses it).
        """
        sc = self.current_scenario()
        self._sc = sc
        # the exact twin covers full churn; for heavy tails it takes seconds per change
        # (quadrature over the chi-square too), so the Monte Carlo run answers
        if sc.churn.has_partial or sc.churn.copula != "gaussian":
            self._simulate()
            assert self.result is not None
            self.distribution = self.result
            return
        key = (id(self.base), float(self.level.value), float(self.correlation.value),
               int(self.horizon.value), str(self.copula.value), float(self.nu.value))
        dist = self._exact.pop(key, None)
        if dist is None:
            dist = loss_distribution(sc, max_points=self.max_points)
        self._exact[key] = dist
        while len(self._exact) > 64:
            self._exact.pop(next(iter(self._exact)))
        self.distribution = dist

    def _simulate(self) -> None:
        """The Monte Carlo run for the current sliders (cached; tail drivers later)."""
        key = (id(self.base), float(self.level.value), float(self.correlation.value),
               int(self.horizon.value), str(self.copula.value), float(self.nu.value),
               int(self.paths.value))
        hit = self._cache.pop(key, None)
        if hit is None:
            res = simulate(self._sc, n_paths=int(self.paths.value), rng=self.seed,
                           progress=False)
            hit = (res, None)
        self._cache[key] = hit
        while len(self._cache) > 16:
            self._cache.pop(next(iter(self._cache)))
        self._key = key
        self.result = hit[0]

    def _tail_drivers(self) -> pd.DataFrame:
        """The accounts driving the worst 5 % of the current run (kept with the run)."""
        res, drivers = self._cache[self._key]
        if drivers is None:
            drivers = res.risk_contributions(0.95).head(5)
            self._cache[self._key] = (res, drivers)
        return drivers

    def render(self) -> None:
        """Redraw the distribution first (sent at once), then the Monte Carlo tables.

        The Monte Carlo part (break-even probability, tail drivers) runs after the chart.
        """
        self._draw(self.distribution)
        if self.result is None or self.distribution is not self.result:
            self._simulate()
        sc, res, dist, c = self._sc, self.result, self.distribution, self.currency
        assert res is not None
        source = (f"Monte Carlo, {res.n_paths:,} futures on common random numbers"
                  if isinstance(dist, SimulationResult) else "exact")
        total = sc.portfolio.total_revenue
        rows = pd.DataFrame({
            "year": [f"1-in-{1 / (1 - a):.0f} ({percent(a)})" for a in LEVELS],
            "var": [dist.var(a) for a in LEVELS],
            "es": [dist.es(a) for a in LEVELS]})
        rows["share"] = rows["var"] / total
        pbe = res.prob_below_break_even()
        mean = float(np.mean(res.losses())) if isinstance(dist, SimulationResult) \
            else float(dist.mean)
        self.table.value = html_table(rows, {
            "year": ("Bad year", None), "var": ("Lost at least (VaR)", lambda v: money(v, c)),
            "share": ("Share of revenue", lambda v: percent(v)),
            "es": ("Average loss in such years (ES)", lambda v: money(v, c))},
            title=f"Annual revenue lost within {sc.horizon_months} months ({source})") + (
            f"<p>Expected loss {money(mean, c)}. Probability that gross profit falls below "
            f"fixed costs within {sc.horizon_months} months, before any replacement: "
            f"<b>{percent(pbe)}</b> (Monte Carlo, {res.n_paths:,} futures).</p>")
        top = self._tail_drivers()
        self.contributions.value = html_table(top, {
            "name": ("Account", None), "revenue": ("Revenue", lambda v: money(v, c)),
            "share_of_tail_loss": ("Share of the bad-year loss", lambda v: percent(v))},
            key="name", title="Accounts driving the worst 5 % of futures")

    def _histogram(self, dist: ExactLossDistribution | SimulationResult
                   ) -> tuple[np.ndarray, np.ndarray]:
        if isinstance(dist, SimulationResult):
            losses = dist.losses()
            top = max(float(losses.max()), 1.0)
            edges = np.linspace(0.0, top, _BINS + 1)
            heights = np.histogram(losses, edges)[0] / losses.size
            return heights, edges
        support, pmf = np.asarray(dist.support), np.asarray(dist.pmf)
        top = max(float(support.max()), 1.0)
        edges = np.linspace(0.0, top, _BINS + 1)
        idx = np.clip(np.searchsorted(edges, support, side="right") - 1, 0, _BINS - 1)
        return np.bincount(idx, pmf, minlength=_BINS), edges

    def _draw(self, dist: ExactLossDistribution | SimulationResult) -> None:
        """Update the persistent artists (bars as one step outline, VaR/ES lines), render."""
        ax, c = self.ax, self.currency
        heights, edges = self._histogram(dist)
        lines = [(dist.var(a), dist.es(a)) for a in (LEVELS[0], LEVELS[2])]
        if self._stairs is None:
            self._stairs = ax.stairs(heights, edges, fill=True, color="#9ecae1")
            self._vlines = []
            for a, colour in zip((LEVELS[0], LEVELS[2]), ("#de2d26", "#756bb1"), strict=True):
                self._vlines.append((ax.axvline(0, color=colour, ls="--"),
                                     ax.axvline(0, color=colour, ls=":"), a))
            ax.xaxis.set_major_formatter(currency_formatter(c))
            ax.yaxis.set_major_formatter(percent_formatter())
            ax.set_xlabel("Annual revenue lost by the horizon")
            ax.set_ylabel("Probability")
            self._legend = ax.legend(
                [line for v, e, _ in self._vlines for line in (v, e)], ["", "", "", ""],
                fontsize="small", frameon=False, loc="upper right")
        else:
            self._stairs.set_data(heights, edges)
        texts = iter(self._legend.get_texts())
        for (var_line, es_line, a), (v, e) in zip(self._vlines, lines, strict=True):
            var_line.set_xdata([v, v])
            es_line.set_xdata([e, e])
            next(texts).set_text(f"VaR {percent(a)}: {money(v, c)}")
            next(texts).set_text(f"ES {percent(a)}: {money(e, c)}")
        ax.set_xlim(0.0, float(edges[-1]) * 1.02)
        ax.set_ylim(0.0, float(heights.max()) * 1.1 or 1.0)
        self.show()


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
