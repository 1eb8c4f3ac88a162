"""What :func:`kamsim.engine.simulate` returns: :class:`SimulationResult`.

Also the per-account contributions to its tail (:func:`risk_contributions`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from kamsim.engine.kernel import (
    BLOCK_SIZE,
    HIST_BINS,
    LOSS_MEASURES,
    SE_BATCHES,
    LossMeasure,
    account_losses_in_tail,
    make_spec,
    map_tasks,
    with_sampler,
)
from kamsim.engine.replacement import (
    recovery_summary,
    survival_curve,
)
from kamsim.exceptions import AssumptionError
from kamsim.model.scenario import Scenario
from kamsim.risk import measures as risk

__all__ = [
    "ReplacementOutcome",
    "SimulationResult",
    "hist_quantiles",
    "risk_contributions",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def hist_quantiles(hist: npt.NDArray[Any], lo: float, hi: float, n_paths: int,
                   quantiles: Sequence[float], mean: FloatArray, *,
                   weighted: bool = False) -> pd.DataFrame:
    """Per-month quantiles from fixed-grid histograms (``months x HIST_BINS``) on ``[lo, hi]``.

    Bin centres, so within half a bin (``(hi - lo) / 8,000``) of the sample quantile.
    ``weighted``: summed likelihood ratios (importance sampling), an unnormalised cdf whose
    leftover mass sits at the top.
    """
    width = (hi - lo) / HIST_BINS
    cdf = np.cumsum(hist, axis=1) / n_paths
    if weighted:
        cdf = np.minimum(cdf, 1.0)
        cdf[:, -1] = 1.0
    data: dict[str, Any] = {}
    for qq in quantiles:
        idx = np.array([int(np.searchsorted(row, qq - 1e-12)) for row in cdf])
        data[f"q{qq:g}"] = lo + (np.minimum(idx, HIST_BINS - 1) + 0.5) * width
    data["mean"] = mean
    return pd.DataFrame(data, index=pd.RangeIndex(1, len(mean) + 1, name="month"))


@dataclass(frozen=True, eq=False)
class ReplacementOutcome:
    """How lost revenue is won back in a run: recovery, gaps and cash (``result.replacement``).

    Per-path columns (``per_path``, ``to_frame()``; also in the run's
    :attr:`SimulationResult.per_path`) are listed in :data:`REPLACEMENT_COLUMNS`
    (``first_loss_month``, ``months_to_recover``, ``recovered``, ``revenue_gap``,
    ``gross_profit_gap``, ``min_cash``, ``out_of_cash``, ``replacement_wins``,
    ``acquisition_costs``; see :class:`SimulationResult`). Monthly: the mean cash balance
    and replacement run-rate, fixed-grid cash histograms on ``cash_range`` (fan charts)
    and, with ``keep_paths=True``, every path's cash.

    Examples
    --------
    >>> from kamsim.portfolio.datasets import synthetic_portfolio
    >>> from kamsim.model import ReplacementAssumptions, Scenario
    >>> from kamsim.engine import simulate
    >>> sc = Scenario(portfolio=synthetic_portfolio(40, rng=0), horizon_months=12,
    ...               opening_cash=1e6, replacement=ReplacementAssumptions())
    >>> out = simulate(sc, n_paths=2000, rng=1).replacement
    >>> 0.0 <= out.prob_out_of_cash() <= 1.0, out.to_frame().shape[1]
    (True, 9)
    """

    scenario: Scenario
    n_paths: int
    per_path: dict[str, npt.NDArray[Any]] = field(repr=False)
    monthly_cash_mean: FloatArray = field(repr=False)
    monthly_replacement_mean: FloatArray = field(repr=False)
    monthly_cash_hist: IntArray = field(repr=False)
    cash_range: tuple[float, float] = field(repr=False)
    monthly_cash_paths: FloatArray | None = field(default=None, repr=False)

    def to_frame(self) -> pd.DataFrame:
        """Per-path replacement outcomes, one row per path (index ``path``)."""
        df = pd.DataFrame(dict(self.per_path))
        df.index.name = "path"
        return df

    def _recovery_arrays(self, given_loss: bool) -> tuple[IntArray, npt.NDArray[np.bool_]]:
        m = self.per_path["months_to_recover"]
        r = self.per_path["recovered"]
        if given_loss:
            sel = self.per_path["first_loss_month"] > 0
            return m[sel], r[sel]
        return m, r

    def recovery_summary(self, quantiles: Sequence[float] = (0.5, 0.8, 0.9),
                         *, given_loss: bool = True) -> pd.DataFrame:
        """Distribution of months to recover.

        See :func:`kamsim.engine.replacement.recovery_summary`. ``given_loss=True`` uses
        only the paths with a loss (the others have nothing to recover); censored paths are
        kept and reported, never dropped.
        """
        m, r = self._recovery_arrays(given_loss)
        return recovery_summary(m, r, quantiles)

    def recovery_survival(self, *, given_loss: bool = True) -> pd.DataFrame:
        """Share of paths still not recovered after each month (survival-style curve)."""
        m, r = self._recovery_arrays(given_loss)
        return survival_curve(m, r, self.scenario.horizon_months)

    def prob_out_of_cash(self) -> float:
        """Probability that cash goes below zero within the horizon.

        NaN when the scenario has no ``opening_cash``.
        """
        if self.scenario.opening_cash is None:
            return math.nan
        return float(np.mean(self.per_path["out_of_cash"]))

    def expected_gap(self, measure: Literal["revenue", "gross_profit"] = "revenue"
                     ) -> float:
        """Expected area of the hole: mean cumulative revenue (or gross-profit) gap."""
        match measure:
            case "revenue":
                return float(np.mean(self.per_path["revenue_gap"]))
            case "gross_profit":
                return float(np.mean(self.per_path["gross_profit_gap"]))
            case _:
                msg = f"measure must be 'revenue' or 'gross_profit', got {measure!r}"
                raise AssumptionError(msg)

    def expected_lowest_cash(self) -> float:
        """Mean over paths of the lowest cash balance (``min_cash``)."""
        return float(np.mean(self.per_path["min_cash"]))

    def cash_quantiles(self, quantiles: Sequence[float] = (0.05, 0.25, 0.5, 0.75, 0.95)
                       ) -> pd.DataFrame:
        """Quantiles of the monthly cash balance per month, for fan charts.

        From fixed-grid histograms: 4,000 bins from the worst case (fixed and acquisition
        costs with no gross profit) to the best (1.5 x base gross profit) over the horizon.
        """
        lo, hi = self.cash_range
        return hist_quantiles(self.monthly_cash_hist, lo, hi, self.n_paths, quantiles,
                              self.monthly_cash_mean)


@dataclass(frozen=True, eq=False)
class SimulationResult:
    """What :func:`simulate` returns: per-path outcomes and monthly distributions.

    Per-path columns (``to_frame()``), all in currency unless stated:

    ``run_rate_lost``
        Annual revenue of the accounts lost by the horizon's end, partial losses pro rata:
        how much of the revenue base is gone.
    ``run_rate_gross_profit_lost``
        The same for annual gross profit.
    ``revenue_lost``, ``gross_profit_lost``
        Revenue / gross profit actually forgone month by month within the horizon.
    ``accounts_lost``
        Accounts with a full or partial loss by the horizon (count);
        ``partial_losses`` how many of them were partial.
    ``first_month_below_break_even``
        First month (1-based) in which monthly gross profit is below
        ``fixed_costs / 12``; ``<NA>`` if never within the horizon.

    With replacement assumptions (``has_replacement``), monthly revenue and gross profit
    (and so ``first_month_below_break_even``) are net of replacement and growth, and
    these columns are added:

    ``first_loss_month``
        First month without some lost revenue (0 if no loss).
    ``months_to_recover``
        Months in the hole, from ``first_loss_month`` to the last month with revenue below
        the pre-loss level (0 without a loss); a lower bound when not ``recovered``.
    ``recovered``
        False if revenue is still below the pre-loss level in the last month (censored).
    ``revenue_gap``, ``gross_profit_gap``
        Area of the hole: sum over months of the shortfall below the pre-loss monthly
        revenue / gross profit (currency).
    ``min_cash``
        Lowest cash balance, opening balance included (currency; with no
        ``opening_cash`` the lowest cumulative cash flow, i.e. minus the buffer needed).
    ``out_of_cash``
        Whether cash ever goes below zero.
    ``replacement_wins``, ``acquisition_costs``
        Accounts won and their acquisition costs within the horizon.

    Samplers (``sampler``, see :func:`simulate`). ``"mc"`` and ``"sobol"`` paths weigh
    equally (``weights`` is None). ``"sobol"`` paths form ``qmc_replicates`` consecutive
    equal replicates, whose spread gives :meth:`standard_error`. ``"importance"`` paths
    carry likelihood ratios ``weights`` (``E[w] = 1``), which every risk method, mean and
    table uses, *unnormalised*: path ``p`` has probability ``w_p / n``, so tail
    probabilities ``(1/n) sum w_p 1{L_p > x}`` are unbiased and use tail paths only. The
    leftover mass ``1 - sum w / n`` (or the excess, taken from the smallest losses) sits at
    the smallest loss, so VaR / ES come from a proper distribution that agrees with the
    tail estimate above the body (Glynn 1996). ``tail_threshold`` and ``factor_shift``
    record the change of measure, ``effective_sample_size`` its cost to the body.
    """

    scenario: Scenario
    n_paths: int
    seed: int | tuple[int, ...]
    spawn_key: tuple[int, ...]
    per_path: dict[str, npt.NDArray[Any]] = field(repr=False)
    account_lost_count: IntArray = field(repr=False)
    account_revenue_lost: FloatArray = field(repr=False)
    monthly_revenue_hist: IntArray = field(repr=False)
    monthly_gross_profit_hist: IntArray = field(repr=False)
    monthly_revenue_mean: FloatArray = field(repr=False)
    monthly_gross_profit_mean: FloatArray = field(repr=False)
    hist_range: tuple[float, float, float, float] = field(repr=False)
    monthly_revenue_paths: FloatArray | None = field(default=None, repr=False)
    replacement: ReplacementOutcome | None = field(default=None, repr=False)
    sampler: str = "mc"
    weights: FloatArray | None = field(default=None, repr=False)
    qmc_replicates: int = 0
    tail_threshold: float | None = None
    factor_shift: float = 0.0
    account_lost_weight: FloatArray | None = field(default=None, repr=False)

    # -- weights and errors ---------------------------------------------------------------
    @property
    def effective_sample_size(self) -> float:
        """Kish's effective sample size ``(sum w)^2 / sum w^2`` (``n_paths`` if unweighted).

        Of the whole run: importance sampling spends paths on the tail, so this is small
        even when tail estimates are far more precise than plain Monte Carlo's.
        """
        if self.weights is None:
            return float(self.n_paths)
        w = self.weights
        return float(w.sum() ** 2 / np.sum(w * w))

    def _mean_of(self, values: npt.NDArray[Any]) -> float:
        """Mean over paths, weighted by the likelihood ratios (unnormalised) if any."""
        if self.weights is None:
            return float(np.mean(values))
        return float(np.sum(self.weights * values) / self.n_paths)

    def _probs(self, measure: LossMeasure) -> FloatArray | None:
        """Path probabilities for distributional estimates (None: equal weights)."""
        if self.weights is None:
            return None
        return _tail_anchored(self.losses(measure), self.weights / self.n_paths)

    def mean(self, measure: LossMeasure = "run_rate_lost") -> float:
        """Expected value of one loss measure (weighted under importance sampling)."""
        return self._mean_of(self.losses(measure))

    def _groups(self) -> list[slice]:
        """Path groups for standard errors: QMC replicates, else 16 contiguous batches."""
        if self.sampler == "sobol":
            per = self.n_paths // self.qmc_replicates
            return [slice(r * per, (r + 1) * per) for r in range(self.qmc_replicates)]
        edges = np.linspace(0, self.n_paths, min(SE_BATCHES, self.n_paths) + 1).astype(int)
        return [slice(int(a), int(b)) for a, b in itertools.pairwise(edges)]

    def standard_error(self, statistic: Literal["mean", "sf", "var", "es"] = "mean", *,
                       measure: LossMeasure = "run_rate_lost", x: float | None = None,
                       level: float = 0.95) -> float:
        """Standard error of the run's estimate of ``mean``, ``sf(x)``, ``var`` or ``es``.

        * ``"sobol"``: the standard deviation of the ``R`` replicate estimates over
          ``sqrt(R)`` (replicates are i.i.d.; exact in expectation for ``mean`` and
          ``sf``, whose pooled estimate is the replicate mean).
        * ``"mc"`` / ``"importance"``, ``mean`` and ``sf``: ``sd(w h) / sqrt(n)`` with
          ``h`` the loss or the indicator ``loss > x`` and ``w`` the likelihood ratios
          (1 for plain Monte Carlo).
        * ``"mc"`` / ``"importance"``, ``var`` and ``es``: batch means over 16 contiguous
          batches of paths (rough for levels whose tail holds few paths per batch).

        Examples
        --------
        >>> from kamsim.portfolio.datasets import synthetic_portfolio
        >>> from kamsim.model import Scenario
        >>> from kamsim.engine import simulate
        >>> sc = Scenario(portfolio=synthetic_portfolio(40, rng=0), horizon_months=12)
        >>> res = simulate(sc, n_paths=4096, rng=3, sampler="sobol", qmc_replicates=8)
        >>> bool(res.standard_error("mean") < res.losses().std() / 64)  # below plain MC's
        True
        """
        values = self.losses(measure)
        match statistic:
            case "mean" | "sf":
                if statistic == "sf":
                    if x is None:
                        msg = "statistic 'sf' needs the threshold x"
                        raise AssumptionError(msg)
                    h = (values > x).astype(np.float64)
                else:
                    h = values
                if self.sampler == "sobol":
                    ests = np.array([h[g].mean() for g in self._groups()])
                    return float(ests.std(ddof=1) / math.sqrt(ests.size))
                if self.weights is not None:
                    h = self.weights * h
                return float(h.std(ddof=1) / math.sqrt(h.size))
            case "var" | "es":
                fn = risk.value_at_risk if statistic == "var" else risk.expected_shortfall
                ests = np.array([
                    fn(values[g], level, weights=None if self.weights is None else
                       _tail_anchored(values[g], self.weights[g] / (g.stop - g.start)))
                    for g in self._groups()])
                return float(ests.std(ddof=1) / math.sqrt(ests.size))
            case _:
                msg = (f"statistic must be one of ('mean', 'sf', 'var', 'es'), "
                       f"got {statistic!r}")
                raise AssumptionError(msg)

    @property
    def has_replacement(self) -> bool:
        """Whether the run simulated replacement (the scenario has assumptions for it)."""
        return self.replacement is not None

    def _need_replacement(self) -> ReplacementOutcome:
        if self.replacement is None:
            msg = ("this result has no replacement outcomes; set Scenario(replacement="
                   "ReplacementAssumptions(...)) and simulate again")
            raise AssumptionError(msg)
        return self.replacement

    # today's names for the replacement outcomes: delegate to ``self.replacement``
    @property
    def monthly_cash_mean(self) -> FloatArray | None:
        """Mean cash balance per month (replacement runs; see :class:`ReplacementOutcome`)."""
        return None if self.replacement is None else self.replacement.monthly_cash_mean

    @property
    def monthly_replacement_mean(self) -> FloatArray | None:
        """Mean replacement run-rate per month (see :class:`ReplacementOutcome`)."""
        return (None if self.replacement is None
                else self.replacement.monthly_replacement_mean)

    @property
    def monthly_cash_hist(self) -> IntArray | None:
        """Per-month cash histograms (see :class:`ReplacementOutcome`)."""
        return None if self.replacement is None else self.replacement.monthly_cash_hist

    @property
    def cash_range(self) -> tuple[float, float]:
        """Grid of the cash histograms (``(0, 1)`` without replacement)."""
        return (0.0, 1.0) if self.replacement is None else self.replacement.cash_range

    @property
    def monthly_cash_paths(self) -> FloatArray | None:
        """Every path's monthly cash with ``keep_paths=True`` (:class:`ReplacementOutcome`)."""
        return None if self.replacement is None else self.replacement.monthly_cash_paths

    def recovery_summary(self, quantiles: Sequence[float] = (0.5, 0.8, 0.9),
                         *, given_loss: bool = True) -> pd.DataFrame:
        """Distribution of months to recover (:meth:`ReplacementOutcome.recovery_summary`)."""
        return self._need_replacement().recovery_summary(quantiles, given_loss=given_loss)

    def recovery_survival(self, *, given_loss: bool = True) -> pd.DataFrame:
        """Share of paths not recovered by month (:meth:`ReplacementOutcome.recovery_survival`)."""
        return self._need_replacement().recovery_survival(given_loss=given_loss)

    def prob_out_of_cash(self) -> float:
        """P(cash below zero within the horizon) (:meth:`ReplacementOutcome.prob_out_of_cash`)."""
        return self._need_replacement().prob_out_of_cash()

    def expected_gap(self, measure: Literal["revenue", "gross_profit"] = "revenue"
                     ) -> float:
        """Expected area of the hole (:meth:`ReplacementOutcome.expected_gap`)."""
        return self._need_replacement().expected_gap(measure)

    # -- tables -------------------------------------------------------------------------
    def to_frame(self) -> pd.DataFrame:
        """Per-path outcomes, one row per path (index ``path``).

        Adds ``weight`` (likelihood ratio) under importance sampling and ``replicate``
        under quasi-Monte Carlo.
        """
        df = pd.DataFrame({k: v for k, v in self.per_path.items()})
        fm = df["first_month_below_break_even"]
        df["first_month_below_break_even"] = fm.astype("Int64").where(fm > 0)
        if self.weights is not None:
            df["weight"] = self.weights
        if self.sampler == "sobol":
            df["replicate"] = np.arange(self.n_paths) // (self.n_paths // self.qmc_replicates)
        df.index.name = "path"
        return df

    def losses(self, measure: LossMeasure = "run_rate_lost") -> FloatArray:
        """Per-path values of one loss measure."""
        if measure not in LOSS_MEASURES:
            msg = f"measure must be one of {LOSS_MEASURES}, got {measure!r}"
            raise AssumptionError(msg)
        return np.asarray(self.per_path[measure], dtype=np.float64)

    def var(self, level: float = 0.95, measure: LossMeasure = "run_rate_lost") -> float:
        """Value-at-Risk of ``measure`` (see :func:`kamsim.risk.value_at_risk`)."""
        return risk.value_at_risk(self.losses(measure), level, weights=self._probs(measure))

    def es(self, level: float = 0.95, measure: LossMeasure = "run_rate_lost") -> float:
        """Expected Shortfall of ``measure`` (see :func:`kamsim.risk.expected_shortfall`)."""
        return risk.expected_shortfall(self.losses(measure), level,
                                       weights=self._probs(measure))

    def sf(self, x: float, measure: LossMeasure = "run_rate_lost") -> float:
        """``P(loss > x)`` estimated from the paths (error: :meth:`standard_error`)."""
        if self.weights is None:
            return risk.exceedance_probability(self.losses(measure), x)
        return float(np.sum(self.weights[self.losses(measure) > x]) / self.n_paths)

    def risk_table(self, levels: Sequence[float] = risk.DEFAULT_LEVELS,
                   measure: LossMeasure = "run_rate_lost") -> pd.DataFrame:
        """VaR (with a confidence interval) and ES (with standard error).

        Plain Monte Carlo: a distribution-free order-statistic interval and the asymptotic
        ES error (:func:`kamsim.risk.risk_table`). QMC and importance sampling: the
        interval is ``var +- 1.96 se`` and ``es_se`` the error, both from
        :meth:`standard_error` (replicate spread, or batch means).
        """
        if self.sampler == "mc":
            t = risk.risk_table(self.losses(measure), levels)
        else:
            probs = self._probs(measure)
            t = risk.risk_table(self.losses(measure), levels,
                                weights=np.ones(self.n_paths) if probs is None else probs)
            se_var = np.array([self.standard_error("var", measure=measure, level=a)
                               for a in levels])
            t["var_low"] = t["var"].to_numpy() - 1.96 * se_var
            t["var_high"] = t["var"].to_numpy() + 1.96 * se_var
            t["es_se"] = [self.standard_error("es", measure=measure, level=a)
                          for a in levels]
        t.insert(0, "measure", measure)
        return t

    def prob_below_break_even(self) -> float:
        """Probability that monthly gross profit falls below fixed costs within the horizon."""
        return self._mean_of(self.per_path["first_month_below_break_even"] > 0)

    def account_table(self) -> pd.DataFrame:
        """Per account: simulated probability of loss by the horizon and expected loss.

        Columns ``account_id, name, revenue, churn_prob_annual, horizon_prob,
        simulated_loss_freq, expected_run_rate_lost``.
        """
        sc = self.scenario
        pf = sc.portfolio
        if self.weights is not None:
            assert self.account_lost_weight is not None
            freq = self.account_lost_weight / self.n_paths
            expected = self.account_revenue_lost / self.n_paths
        else:
            freq = self.account_lost_count / self.n_paths
            expected = self.account_revenue_lost / self.n_paths
        return pd.DataFrame({
            "account_id": pf.account_ids,
            "name": pf.names,
            "revenue": pf.revenue,
            "churn_prob_annual": sc.annual_probs(),
            "horizon_prob": sc.horizon_probs(),
            "simulated_loss_freq": freq,
            "expected_run_rate_lost": expected,
        })

    def monthly_quantiles(self, quantiles: Sequence[float] = (0.05, 0.25, 0.5, 0.75, 0.95),
                          measure: Literal["revenue", "gross_profit", "cash"] = "revenue"
                          ) -> pd.DataFrame:
        """Quantiles of monthly revenue (or gross profit, or cash) per month, for fan charts.

        Computed from fixed-grid histograms (resolution 1.5 x base / 4,000 = 0.0375 % of
        the base monthly value), so they do not depend on chunking. Cash (replacement runs
        only) uses a grid from the worst case (fixed and acquisition costs with no gross
        profit) to the best (1.5 x base gross profit) over the horizon, 4,000 bins.

        Returns
        -------
        pandas.DataFrame
            Index ``month`` (1..H), one column per quantile, plus ``mean``.
        """
        match measure:
            case "revenue":
                hist, lo, hi = self.monthly_revenue_hist, 0.0, self.hist_range[1]
                mean = self.monthly_revenue_mean
            case "gross_profit":
                hist = self.monthly_gross_profit_hist
                lo, hi = self.hist_range[2], self.hist_range[3]
                mean = self.monthly_gross_profit_mean
            case "cash":
                return self._need_replacement().cash_quantiles(quantiles)
            case _:
                msg = f"measure must be 'revenue', 'gross_profit' or 'cash', got {measure!r}"
                raise AssumptionError(msg)
        return hist_quantiles(hist, lo, hi, self.n_paths, quantiles, mean,
                              weighted=self.weights is not None)

    def summary(self, levels: Sequence[float] = risk.DEFAULT_LEVELS) -> pd.DataFrame:
        """Headline figures as a tidy table (``metric``, ``value``, ``unit``).

        ``attrs["sampler"]`` names the sampler; QMC and importance-sampling runs add rows
        saying so (replicates; threshold, factor shift and effective sample size).
        """
        sc = self.scenario
        rows: list[tuple[str, float, str]] = [
            ("paths", float(self.n_paths), "count"),
            ("horizon", float(sc.horizon_months), "months"),
            ("base annual revenue", sc.portfolio.total_revenue, "currency"),
            ("expected run-rate revenue lost", self.mean("run_rate_lost"),
             "currency per year"),
            ("expected revenue lost within horizon", self.mean("revenue_lost"), "currency"),
            ("expected gross profit lost within horizon", self.mean("gross_profit_lost"),
             "currency"),
            ("expected accounts lost", self._mean_of(self.per_path["accounts_lost"]),
             "count"),
            ("P(no account lost)", self._mean_of(self.per_path["accounts_lost"] == 0),
             "probability"),
            ("P(below break-even within horizon)", self.prob_below_break_even(),
             "probability"),
        ]
        if self.has_replacement:
            rec = self.recovery_summary()
            for st, v, disp in rec[["statistic", "value", "display"]].itertuples(index=False):
                if st == "share_not_recovered":
                    rows.append(("share of paths with a loss not recovered", v,
                                 "probability"))
                else:
                    unit = "months" if math.isfinite(v) else f"months ({disp})"
                    rows.append((f"{st} months to recover (paths with a loss)", v, unit))
            rows += [
                ("expected revenue gap", self.expected_gap("revenue"), "currency"),
                ("expected gross profit gap", self.expected_gap("gross_profit"),
                 "currency"),
                ("expected lowest cash", self._need_replacement().expected_lowest_cash(),
                 "currency"),
                ("P(out of cash within horizon)", self.prob_out_of_cash(), "probability"),
            ]
        for a in levels:
            rows.append((f"VaR {a:.1%} run-rate revenue lost", self.var(a), "currency per year"))
            rows.append((f"ES {a:.1%} run-rate revenue lost", self.es(a), "currency per year"))
        match self.sampler:
            case "sobol":
                rows.append(("sampler: scrambled Sobol' QMC replicates",
                             float(self.qmc_replicates), "count"))
            case "importance":
                rows += [
                    ("sampler: importance sampling threshold (run-rate loss)",
                     float(self.tail_threshold or 0.0), "currency per year"),
                    ("sampler: importance sampling factor shift", self.factor_shift,
                     "standard deviations"),
                    ("sampler: importance sampling effective sample size",
                     self.effective_sample_size, "paths"),
                ]
        df = pd.DataFrame(rows, columns=["metric", "value", "unit"])
        df.attrs["sampler"] = self.sampler
        return df

    def risk_contributions(self, level: float = 0.95,
                           measure: LossMeasure = "run_rate_lost",
                           executor: Executor | None = None) -> pd.DataFrame:
        """Which accounts drive the tail; see :func:`risk_contributions`."""
        return risk_contributions(self, level, measure=measure, executor=executor)


def _tail_anchored(values: FloatArray, mass: FloatArray) -> FloatArray:
    """Importance-sampling masses ``w / n`` made into probabilities, keeping the tail.

    The leftover ``1 - sum`` is added to the smallest value; an excess is removed from
    the smallest values upwards. Masses of the largest values are untouched, so tail
    probabilities, VaR and ES equal the unnormalised (tail) estimates.
    """
    m = np.array(mass, dtype=np.float64)
    order = np.argsort(values, kind="stable")
    total = float(m.sum())
    if total <= 1.0:
        m[order[0]] += 1.0 - total
    else:
        ms = m[order]
        before = np.cumsum(ms) - ms
        m[order] = ms - np.clip(total - 1.0 - before, 0.0, ms)
    return m


def risk_contributions(result: SimulationResult, level: float = 0.95, *,
                       measure: LossMeasure = "run_rate_lost",
                       executor: Executor | None = None) -> pd.DataFrame:
    """Each account's contribution to Expected Shortfall, ranked (which accounts drive the tail).

    Contributions follow Acerbi & Tasche (2002): each path beyond VaR weighs
    ``1 / (n (1 - level))``, and paths exactly at VaR share the remaining
    ``(F(VaR) - level) / (1 - level)``, so the contributions add up to the Monte Carlo
    Expected Shortfall exactly, as
    :meth:`kamsim.risk.exact.ExactLossDistribution.risk_contributions`
    does for the exact distribution (the two can be swapped). Without ties at VaR this
    is each account's expected loss given ``L > VaR``, scaled by ``P(L > VaR) / (1 - level)``.

    The per-account losses are not stored by :func:`simulate` (that would cost
    paths x accounts memory): the run's random streams are regenerated from its recorded
    seed, block by block, which reproduces the same paths exactly.

    Returns
    -------
    pandas.DataFrame
        Columns ``rank, account_id, name, revenue, contribution, share_of_tail_loss``,
        sorted by contribution (largest first); ``attrs`` hold ``level``, ``measure``,
        ``es`` and ``tail_paths``.
    """
    if measure not in LOSS_MEASURES:
        msg = f"measure must be one of {LOSS_MEASURES}, got {measure!r}"
        raise AssumptionError(msg)
    totals = result.losses(measure)
    cutoff = result.var(level, measure)
    spec = make_spec(result.scenario, result.seed, result.spawn_key, keep_paths=False)
    n_rep = result.qmc_replicates
    spec = with_sampler(spec, result.sampler, result.n_paths // n_rep if n_rep else 0,
                         result.tail_threshold)
    n_blocks = math.ceil(result.n_paths / BLOCK_SIZE)
    per_task = 32
    tasks = [(spec, b, min(per_task, n_blocks - b), result.n_paths, measure, cutoff,
              totals[b * BLOCK_SIZE:(b + per_task) * BLOCK_SIZE])
             for b in range(0, n_blocks, per_task)]
    acc_gt = np.zeros(spec.revenue.size)
    acc_eq = np.zeros(spec.revenue.size)
    n_gt: float = 0
    n_eq: float = 0
    for blocks in map_tasks(executor, account_losses_in_tail, tasks, False, "contributions"):
        for a_gt, a_eq, c_gt, c_eq in blocks:  # block order: bitwise reproducible sums
            acc_gt += a_gt
            acc_eq += a_eq
            n_gt += c_gt
            n_eq += c_eq
    n = result.n_paths  # IS: tail sums are weighted, probabilities unnormalised (w / n)
    tail = 1.0 - level
    contrib = acc_gt / (n * tail)
    if n_eq:
        share_at_var = ((n - n_gt) / n - level) / tail  # F(VaR) - level, over 1 - level
        contrib += acc_eq * share_at_var / n_eq
    pf = result.scenario.portfolio
    total = contrib.sum()
    df = pd.DataFrame({
        "account_id": pf.account_ids,
        "name": pf.names,
        "revenue": pf.revenue,
        "contribution": contrib,
        "share_of_tail_loss": contrib / total if total > 0 else np.zeros_like(contrib),
    }).sort_values("contribution", ascending=False, kind="stable").reset_index(drop=True)
    df.insert(0, "rank", np.arange(1, len(df) + 1))
    df.attrs.update(level=level, measure=measure, es=float(contrib.sum()),
                    tail_paths=int(np.sum(totals >= cutoff)))
    return df
