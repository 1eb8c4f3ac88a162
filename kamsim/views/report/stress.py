"""The report's "What it takes to break us": the reverse stress test and the parameter band.

Two exact analyses on the report's scenario, both through the finite-portfolio twin
(:mod:`kamsim.risk.exact`), so they add no Monte Carlo noise of their own:

* the **reverse stress test** (:func:`kamsim.analysis.stress.reverse_stress_test`) at the
  1-in-100 loss of annual revenue: the shared shock at the design point (the most likely
  bad year that crosses it), and each key account's churn probability given the breach
  beside its ordinary probability;
* the **parameter band** (:func:`kamsim.analysis.uncertainty.parameter_uncertainty`): the
  95 % VaR and its companions across outer draws of the churn level, "95 % VaR 15.3M;
  90 % band 13.8-17.7M from churn-estimate uncertainty".

The same calls, with the same threshold, interval, draws and seed, are those of notebooks
02 and 05, so the figures agree (a test checks it). Cost: one exact run of the scenario
gives the threshold, the stress test's conditioning and the band's point; the band's 100
draws are interpolated between :data:`BAND_NODES` exact runs at Chebyshev nodes of the
churn level (``interpolate=`` of
:func:`~kamsim.analysis.uncertainty.parameter_uncertainty`), plus one exact check run
whose CDF error is ``band.interpolation_error`` (above :data:`BAND_TOLERANCE` the draws
are all computed exactly instead). On the 300-account sample that error is
about 1e-9 (the twin's own integration error): the same VaRs as 100 exact runs, bit for
bit, ES within 10 cents, so no printed figure (3 significant figures of €M) moves; the
lattice itself is unchanged (its worst-case rounding bound, ``error_bound``, is €0.24M
on the sample, the actual VaR shift far smaller). The section took 12.4 s of CPU before
(100 exact draws), 2.8 s now, most of it the stress test's per-account conditioning. The
band is of revenue lost only: margins are left out of its draws, which halves the cost
and changes no figure shown. Both grow with the number of accounts (40 s for the stress
test alone on the 4,248 accounts of the Online Retail ledger), so above
``max_accounts`` the section says so and points to the notebooks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

from kamsim._util.format import count, money, number, percent
from kamsim.analysis.stress import ReverseStressTest, reverse_stress_test
from kamsim.analysis.uncertainty import UncertaintyResult, band_stability, parameter_uncertainty
from kamsim.exceptions import AssumptionError
from kamsim.model import Scenario
from kamsim.portfolio import Portfolio
from kamsim.risk.exact import ExactLossDistribution, loss_distribution
from kamsim.views.report.tables import BoardTable

__all__ = ["BAND_DRAWS", "BAND_NODES", "BAND_TOLERANCE", "STRESS_LEVEL", "StressSection",
           "stress_section"]

#: Outer draws of the parameter band (notebook 05's count: a first look; 400 = stable).
BAND_DRAWS = 100
#: Exact runs (Chebyshev nodes of the churn level) the band's draws are interpolated from:
#: on the sample their CDFs are within about 1e-9 of exact runs, the same VaRs, ES within
#: cents; the report's figures (3 significant figures of €M) do not move.
BAND_NODES = 9
#: Largest interpolation error (CDF norm) the band accepts; above it every draw is exact.
BAND_TOLERANCE = 1e-6
#: The breach of the reverse stress test: the loss exceeded one horizon in 100.
STRESS_LEVEL = 0.99


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class StressSection:
    """What the "What it takes to break us" section shows (see :func:`stress_section`).

    Attributes
    ----------
    scenario : Scenario
    stress : ReverseStressTest or None
        None when skipped (``note`` says why).
    band : UncertaintyResult or None
        None when skipped or with ``band_draws=0``.
    stability : pandas.DataFrame or None
        :func:`kamsim.analysis.uncertainty.band_stability` of the band's draws.
    churn_level_range : tuple of float
        The churn-level interval drawn for the band.
    note : str
        Why an analysis was skipped (empty when both ran).
    currency : str
    """

    scenario: Scenario
    stress: ReverseStressTest | None
    band: UncertaintyResult | None
    stability: pd.DataFrame | None = field(default=None, repr=False)
    churn_level_range: tuple[float, float] = (0.8, 1.3)
    note: str = ""
    currency: str = "€"

    # -- the reverse stress test -------------------------------------------------------
    def headline(self) -> str:
        """Markdown: the breach, how likely it is, and how many accounts it takes."""
        st = self.stress
        if st is None:
            return self.note
        s = st.summary()["value"]
        n = self.scenario.portfolio.n_accounts
        lost = float(s["expected_accounts_lost_given_breach"])
        return (f"**What breaks us** here: losing more than "
                f"**{money(st.threshold, self.currency)}** of annual revenue within "
                f"{self.scenario.horizon_months} months (the 1-in-100 loss). That happens in "
                f"**{percent(st.p_breach)}** of futures; when it does, about "
                f"**{count(lost)} of our {count(n)} accounts** are gone. Losing the "
                f"{count(int(s['accounts_in_likely_set']))} accounts with the largest "
                "expected losses given the breach would be enough on its own (the table "
                "shows the first of them).")

    def design_point_table(self) -> BoardTable:
        """The shared shock(s) at the design point, in words and as a percentile."""
        st = self.stress
        if st is None:
            return BoardTable(pd.DataFrame())
        names = self.scenario.factor_names()
        rows = []
        dims = st.distribution.factor_dimensions
        for j, dim in enumerate(dims):
            if dim == "mixing":
                what = "Common tail shock (all accounts at once)"
            else:
                k = int(dim.split()[-1])
                name = names[k] if k < len(names) else dim
                what = ("Shared shock (economy or sector)" if name == "global"
                        else f"Shared shock of {name}")
            mode = st.design_point.get(f"y{j}_mode", math.nan)
            pct = st.design_point.get(f"y{j}_mode_percentile", math.nan)
            mean = st.design_point.get(f"y{j}_mean_given_breach", math.nan)
            rows.append({"Factor": what,
                         "Most likely value given the breach": f"{number(mode, 2)} sd",
                         "A year as bad as the worst": percent(pct),
                         "Average given the breach": f"{number(mean, 2)} sd"})
        frame = pd.DataFrame(rows)
        return BoardTable(frame, numeric=tuple(frame.columns[1:]), css_class="compact")

    def accounts_table(self, top: int = 8) -> BoardTable:
        """The accounts the breach is made of: ordinary vs conditional churn probability."""
        st = self.stress
        if st is None:
            return BoardTable(pd.DataFrame())
        pf = self.scenario.portfolio
        names = dict(zip(map(str, pf.account_ids), map(str, pf.names), strict=True))
        t = st.table(top)
        cur = self.currency
        frame = pd.DataFrame({
            "Account": [names.get(str(a), str(a)) for a in t["account_id"]],
            "Revenue a year": [money(v, cur) for v in t["weight"]],
            "Chance lost, ordinary": [percent(v) for v in t["prob"]],
            "Chance lost, given the breach": [percent(v) for v in t["prob_given_breach"]],
            "How many times likelier": [f"{number(v, 1)}x" for v in t["lift"]],
            "Expected loss given the breach": [money(v, cur)
                                               for v in t["expected_loss_given_breach"]],
        })
        return BoardTable(frame, numeric=tuple(frame.columns[1:]), css_class="compact")

    def accounts_frame(self) -> pd.DataFrame:
        """Every account of the stress test with its name (numeric, for the CSV export)."""
        if self.stress is None:
            return pd.DataFrame()
        pf = self.scenario.portfolio
        names = dict(zip(map(str, pf.account_ids), map(str, pf.names), strict=True))
        acc = self.stress.accounts.copy()
        acc.insert(2, "name", [names.get(str(a), str(a)) for a in acc["account_id"]])
        return acc.rename(columns={"weight": "revenue"})

    def tail_dependence_text(self) -> str:
        """Markdown: what tail dependence means for a supplier, with this report's figures."""
        st = self.stress
        if st is None:
            return ""
        top = st.table(1).iloc[0]
        pf = self.scenario.portfolio
        names = dict(zip(map(str, pf.account_ids), map(str, pf.names), strict=True))
        who = names.get(str(top["account_id"]), str(top["account_id"]))
        rho = self.scenario.churn.correlation
        return (
            "**Why the probabilities jump: tail dependence.** Our accounts do not leave "
            "independently. A recession, a downturn in our customers' sector or a "
            "competitor's push makes many of them leave in the same year: bad outcomes "
            "come together (here a shared-shock correlation of "
            f"{number(rho, 2, compact=True)}). For a supplier this means the year we lose "
            "one large account is the year others are most likely to go too, so having many "
            "accounts protects less than their number suggests. "
            f"{who} leaves within the horizon in {percent(top['prob'])} of ordinary futures, "
            f"but in {percent(top['prob_given_breach'])} of the futures that break us. The "
            "**design point** is the most likely size of the shared shock in those "
            "futures, in standard deviations (sd) below an ordinary year.")

    # -- the parameter band ------------------------------------------------------------
    def band_sentence(self) -> str:
        """The library's sentence, e.g. "95 % VaR 15.3M; 90 % band 13.8-17.7M from ..."."""
        return "" if self.band is None else self.band.sentence()

    def band_table(self) -> BoardTable:
        """Each figure at the central estimates, its band, and the predictive figure."""
        b = self.band
        if b is None:
            return BoardTable(pd.DataFrame())
        labels = {"var_0.95": "VaR 95 % (1 year in 20)", "es_0.95": "ES 95 %",
                  "var_0.99": "VaR 99 % (1 year in 100)", "es_0.99": "ES 99 %"}
        pct = percent(b.band, 0)
        rows = []
        for m, label in labels.items():  # annual revenue lost (the CSV has every figure)
            if m not in b.bands.index:
                continue
            r = {k: float(b.bands[k].astype(float)[m])
                 for k in ("point", "low", "high", "predictive")}
            rows.append({"Annual revenue lost": label,
                         "At our estimates": money(r["point"], self.currency),
                         f"{pct} band: low": money(r["low"], self.currency),
                         f"{pct} band: high": money(r["high"], self.currency),
                         "Averaged over the uncertainty": money(r["predictive"],
                                                                self.currency)})
        frame = pd.DataFrame(rows)
        return BoardTable(frame, numeric=tuple(frame.columns[1:]), css_class="compact")

    def band_frame(self) -> pd.DataFrame:
        """The band table as numbers (index reset), for the CSV export."""
        return pd.DataFrame() if self.band is None else self.band.bands.reset_index()

    def band_text(self, monte_carlo_var: float | None = None) -> str:
        """Markdown: which band is which, and how many outer draws were used.

        ``monte_carlo_var`` is the report's Monte Carlo 95 % VaR, to say why the exact
        figure here differs from it.
        """
        b = self.band
        if b is None:
            return self.note
        exact = ""
        if monte_carlo_var is not None and "var_0.95" in b.bands.index:
            exact = (" These exact figures count churn alone (no replacement of lost "
                     "accounts, no simulation noise), so the 95 % VaR here, "
                     f"{money(b.bands['point'].astype(float)['var_0.95'], self.currency)}, "
                     "differs a little from the Monte Carlo figure above, "
                     f"{money(monte_carlo_var, self.currency)}.")
        lo, hi = self.churn_level_range
        moved = ""
        if self.stability is not None and b.n_draws in self.stability.index:
            rel = float(self.stability["relative_to_width"].astype(float)[b.n_draws])
            if math.isfinite(rel):
                moved = (f" With {count(b.n_draws)} draws each end of the band moves by about "
                         f"{percent(rel, 0)} of its width from one set of draws to another "
                         "(resampled); 400 draws make it stable and take about four times as "
                         "long (report parameter band_draws).")
        pct = percent(b.band, 0)
        return (
            "Every figure above treats each account's churn probability as known. They "
            "are estimates, so here the overall "
            f"churn level is drawn between {number(lo, 2, compact=True)}x and "
            f"{number(hi, 2, compact=True)}x of our estimates, {count(b.n_draws)} times "
            "(outer draws), and the loss distribution is computed exactly for each draw.\n\n"
            "**Which band is which.** The interval beside the VaR in the Monte Carlo section "
            "is *simulation noise*: it shrinks with more simulated futures. The band here is "
            f"*what we do not know about the churn rates*: the middle {pct} of each figure "
            "across the draws; more draws make it steadier, not narrower. *At our "
            "estimates* is the figure with the churn rates as given; *averaged over the "
            "uncertainty* mixes all draws into one distribution (usually a little worse)."
            + exact + moved)


def stress_section(scenario: Scenario, *, seed: int, currency: str = "€",
                   band_draws: int = BAND_DRAWS,
                   churn_level_range: Sequence[float] = (0.8, 1.3),
                   max_accounts: int = 1000) -> StressSection:
    """Run the reverse stress test and the parameter band for the report.

    The stress test breaks at the exact 1-in-100 loss of annual revenue
    (:data:`STRESS_LEVEL`, as in notebook 02); the band draws the churn level uniformly in
    ``churn_level_range`` ``band_draws`` times with ``rng=seed`` (as notebook 05). Above
    ``max_accounts`` accounts both are skipped and the section says why; a scenario the
    exact conditioning does not cover (partial churn) keeps the band and says so.

    Examples
    --------
    >>> import pandas as pd
    >>> from kamsim.model import ChurnAssumptions
    >>> from kamsim.portfolio import Portfolio
    >>> pf = Portfolio(pd.DataFrame({"account_id": list("ABCD"),
    ...                              "revenue": [500.0, 300.0, 150.0, 50.0]}))
    >>> sc = Scenario(portfolio=pf, horizon_months=12,
    ...               churn=ChurnAssumptions(annual_prob=0.1, correlation=0.3))
    >>> s = stress_section(sc, seed=1, band_draws=20)
    >>> s.accounts_table(2).frame["Account"].tolist(), s.band.n_draws
    (['A', 'B'], 20)
    """
    lo, hi = (float(v) for v in churn_level_range)
    if not (0 < lo <= hi and math.isfinite(hi)):
        raise AssumptionError(f"must be two numbers 0 < low <= high, got "
                              f"{list(churn_level_range)!r}", field="churn_level_range")
    n = scenario.portfolio.n_accounts
    if n > max_accounts:
        note = (f"The reverse stress test and the parameter band are exact computations whose "
                f"cost grows with the number of accounts; with {count(n)} accounts (more than "
                f"{count(max_accounts)}) they are left out of this report to keep its run "
                "time short (the stress test alone takes about 40 s for 4,248 accounts). Run "
                f"them with -p exact_max_accounts {n}, or in notebooks 02 and 05.")
        return StressSection(scenario=scenario, stress=None, band=None, note=note,
                             churn_level_range=(lo, hi), currency=currency)
    notes = []
    stress = None
    exact = loss_distribution(scenario)  # once: threshold, stress test and band's point
    try:
        threshold = exact.var(STRESS_LEVEL)
        stress = reverse_stress_test(scenario, threshold, distribution=exact)
    except AssumptionError as exc:
        notes.append(f"The reverse stress test does not apply to this scenario ({exc.message}).")
    band = stability = None
    if band_draws > 0:
        band = _band(_revenue_only(scenario), (lo, hi), int(band_draws), seed, exact)
        stability = band_stability(band, sizes=(band.n_draws,), rng=seed)
    else:
        notes.append("The parameter band was not computed (band_draws = 0).")
    return StressSection(scenario=scenario, stress=stress, band=band, stability=stability,
                         churn_level_range=(lo, hi), note=" ".join(notes), currency=currency)


def _band(scenario: Scenario, levels: tuple[float, float], n_draws: int, seed: int,
          exact: ExactLossDistribution) -> UncertaintyResult:
    """The parameter band, interpolated; every draw exactly if the interpolation is off."""
    kw: dict[str, Any] = {"intervals": {"level": levels}, "n_draws": n_draws, "rng": seed,
                          "point_distribution": exact}
    band = parameter_uncertainty(scenario, interpolate=BAND_NODES, **kw)
    if band.interpolation_error <= BAND_TOLERANCE:
        return band
    return parameter_uncertainty(scenario, **kw)  # e.g. a kink in the level: no shortcut


def _revenue_only(scenario: Scenario) -> Scenario:
    """The scenario without gross margins, for the band of annual revenue lost.

    The band's VaR and ES of revenue do not depend on margins (the same draws, the same
    figures, bit for bit); without margins :func:`parameter_uncertainty` skips the
    gross-profit distribution of each draw, which halves its cost. Its break-even figure
    (annual gross profit at the horizon's run rate below fixed costs) is not the report's
    monthly break-even probability, so the report does not show it anyway.
    """
    pf = scenario.portfolio
    if not pf.has_gross_profit:
        return scenario
    frame = pf.to_frame().drop(columns=["gross_margin", "gross_profit"], errors="ignore")
    return replace(scenario, portfolio=Portfolio(frame, source=pf.source))
