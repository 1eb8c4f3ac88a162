"""Replacement timelines: how long until a given lost revenue is won back.

Also the inverse question, the capacity needed to recover in time. The model is described
in :mod:`kamsim.model.replacement`; the kernel is :mod:`kamsim.engine.replacement`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from kamsim._util.rng import resolve_entropy
from kamsim._util.validate import number as _number
from kamsim._util.validate import whole as _whole
from kamsim.engine.kernel import BLOCK_SIZE
from kamsim.engine.replacement import (
    recovery_months,
    recovery_summary,
    replace_lost,
    replacement_params,
    survival_curve,
)
from kamsim.exceptions import ArgumentTypeError, AssumptionError
from kamsim.model.replacement import ReplacementAssumptions

if TYPE_CHECKING:
    from kamsim.model.scenario import Scenario


FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]





# --- standalone timeline -----------------------------------------------------------------


def _entropy(rng: np.random.Generator | np.random.SeedSequence | int | None
             ) -> tuple[int | tuple[int, ...], tuple[int, ...]]:

    return resolve_entropy(rng)


@dataclass(frozen=True, eq=False)
class ReplacementTimeline:
    """What :func:`replacement_timeline` returns: how long replacing a loss takes.

    Attributes
    ----------
    lost_revenue : float
        Run-rate lost in month 1 (currency per year).
    assumptions : ReplacementAssumptions
    horizon_months, n_paths : int
    seed : int or tuple of int
        Root entropy of the run (pass it back as ``rng`` to reproduce it).
    months_to_recover : numpy.ndarray of int
        Per path, months in the hole (lower bound ``horizon_months`` if censored).
    recovered : numpy.ndarray of bool
        False for censored paths (not recovered within the horizon).
    run_rate : numpy.ndarray
        Per path and month (``n_paths x horizon``), replacement run-rate added (currency
        per year, ramped).
    wins, opportunities : numpy.ndarray of int
        Per path, accounts won (first order within the horizon) and opportunities opened.
    """

    lost_revenue: float
    assumptions: ReplacementAssumptions
    horizon_months: int
    n_paths: int
    seed: int | tuple[int, ...]
    months_to_recover: IntArray = field(repr=False)
    recovered: BoolArray = field(repr=False)
    run_rate: FloatArray = field(repr=False)
    wins: IntArray = field(repr=False)
    opportunities: IntArray = field(repr=False)

    @property
    def mean_run_rate_by_month(self) -> FloatArray:
        """Expected replacement run-rate added in months 1..H (currency per year)."""
        return np.asarray(self.run_rate.mean(axis=0), dtype=np.float64)

    @property
    def acquisition_costs(self) -> FloatArray:
        """Per path, acquisition costs within the horizon (currency)."""
        return np.asarray(self.wins * self.assumptions.acquisition_cost, dtype=np.float64)

    def prob_recovered_within(self, months: int) -> float:
        """Share of paths back at the pre-loss run-rate within ``months`` months."""
        return float(np.mean(self.recovered & (self.months_to_recover <= months)))

    def summary(self, quantiles: Sequence[float] = (0.5, 0.8, 0.9)) -> pd.DataFrame:
        """Recovery-time quantiles and share not recovered (see :func:`recovery_summary`)."""
        return recovery_summary(self.months_to_recover, self.recovered, quantiles)

    def survival(self) -> pd.DataFrame:
        """Share still not recovered by month (see :func:`survival_curve`)."""
        return survival_curve(self.months_to_recover, self.recovered, self.horizon_months)

    def to_frame(self) -> pd.DataFrame:
        """Per-path outcomes, one row per path (index ``path``).

        Columns ``months_to_recover, recovered, wins, opportunities, final_run_rate``.
        """
        df = pd.DataFrame({
            "months_to_recover": self.months_to_recover, "recovered": self.recovered,
            "wins": self.wins.sum(axis=1) if self.wins.ndim == 2 else self.wins,
            "opportunities": self.opportunities,
            "final_run_rate": self.run_rate[:, -1]})
        df.index.name = "path"
        return df

    def monthly_quantiles(self, quantiles: Sequence[float] = (0.05, 0.25, 0.5, 0.75, 0.95)
                          ) -> pd.DataFrame:
        """Quantiles of the replacement run-rate per month (index ``month``) plus ``mean``."""
        data = {f"q{q:g}": np.quantile(self.run_rate, q, axis=0) for q in quantiles}
        data["mean"] = self.mean_run_rate_by_month
        return pd.DataFrame(data, index=pd.RangeIndex(1, self.horizon_months + 1,
                                                      name="month"))


def _check_timeline(lost_revenue: float, horizon_months: int, n_paths: int) -> float:
    lost = _number(lost_revenue, "lost_revenue", lo=0.0)
    if isinstance(horizon_months, bool) or not isinstance(horizon_months, int | np.integer) \
            or not 1 <= horizon_months <= 600:
        msg = f"horizon_months must be a whole number in [1, 600], got {horizon_months!r}"
        raise AssumptionError(msg)
    if isinstance(n_paths, bool) or not isinstance(n_paths, int | np.integer) or n_paths < 1:
        msg = f"n_paths must be a whole number >= 1, got {n_paths!r}"
        raise AssumptionError(msg)
    return lost


def replacement_timeline(
    lost_revenue: float,
    assumptions: ReplacementAssumptions,
    *,
    horizon_months: int = 36,
    n_paths: int = 10_000,
    rng: np.random.Generator | np.random.SeedSequence | int | None = None,
    size_pool: npt.ArrayLike | None = None,
) -> ReplacementTimeline:
    """Distribution of the months needed to replace ``lost_revenue`` lost in month 1.

    The run-rate ``lost_revenue`` (currency per year) is gone from month 1 on and no other
    account leaves; the replacement process of the module docstring runs for
    ``horizon_months`` months. Organic growth, margins and costs are ignored here (use
    :func:`kamsim.engine.simulate` for gross profit and cash).

    Parameters
    ----------
    lost_revenue : float
        Annual revenue lost (>= 0), e.g. the largest account's revenue.
    assumptions : ReplacementAssumptions
    horizon_months : int
        Months simulated (1 to 600).
    n_paths : int
        Simulated futures.
    rng : numpy.random.Generator, SeedSequence, int or None
        Randomness (SPEC 7); the same seed gives common random numbers across assumptions.
    size_pool : array_like, optional
        Sizes to resample when ``account_size="bootstrap"`` and the assumptions carry no
        ``size_pool`` (e.g. ``portfolio.revenue`` of the non-key accounts).

    Returns
    -------
    ReplacementTimeline

    Examples
    --------
    Win every opportunity, one per month, cycle exactly 2 months, each new account
    replaces half the loss, linear 2-month ramp: won accounts order from months 3 and 4
    and are at full run-rate in months 4 and 5, so 4 months in the hole. Opportunities
    keep opening until the first wins are in (months 3 and 4), so the replacement
    overshoots (125 in month 5).

    >>> a = ReplacementAssumptions(opportunities_per_month=1, arrivals="fixed",
    ...     response_lag_months=0, cycle_mean_months=2, cycle_cv=0, win_rate=1,
    ...     account_size="lognormal", size_median=50.0, size_sigma=0, ramp_months=2)
    >>> tl = replacement_timeline(100.0, a, horizon_months=12, n_paths=10, rng=0)
    >>> tl.summary()["display"].tolist()
    ['4', '4', '4', '0.0%']
    >>> tl.mean_run_rate_by_month[:5].tolist()
    [0.0, 0.0, 25.0, 75.0, 125.0]
    """
    lost = _check_timeline(lost_revenue, horizon_months, n_paths)
    if not isinstance(assumptions, ReplacementAssumptions):
        msg = f"assumptions must be ReplacementAssumptions, got {type(assumptions).__name__}"
        raise ArgumentTypeError(msg)
    entropy, key = _entropy(rng)
    return _timeline(lost, assumptions, int(horizon_months), int(n_paths), entropy, key,
                     size_pool)


def _timeline(lost: float, a: ReplacementAssumptions, h: int, n_paths: int,
              entropy: int | tuple[int, ...], key: tuple[int, ...],
              size_pool: npt.ArrayLike | None) -> ReplacementTimeline:
    p = replacement_params(a, size_pool)
    months, rec, rr, wins, opps = [], [], [], [], []
    for b in range(math.ceil(n_paths / BLOCK_SIZE)):
        n = min(BLOCK_SIZE, n_paths - b * BLOCK_SIZE)
        g = np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=(*key, b, 1)))
        lost_m = np.full((n, h), lost)
        out = replace_lost(p, lost_m, g)
        # remaining accounts are unchanged, so compare the replacement with the loss
        first = np.full(n, 1 if lost > 0 else h + 1, dtype=np.int64)
        m, r = recovery_months(out.run_rate / 12.0, lost / 12.0, first)
        months.append(m)
        rec.append(r)
        rr.append(out.run_rate)
        wins.append(out.wins.sum(axis=1))
        opps.append(out.opportunities)
    return ReplacementTimeline(
        lost_revenue=lost, assumptions=a, horizon_months=h, n_paths=n_paths, seed=entropy,
        months_to_recover=np.concatenate(months), recovered=np.concatenate(rec),
        run_rate=np.concatenate(rr), wins=np.concatenate(wins),
        opportunities=np.concatenate(opps))


def with_certain_loss(scenario: Scenario, account_ids: Sequence[str] | None = None
                      ) -> Scenario:
    """Copy of ``scenario`` in which the given accounts leave for sure in month 1.

    The chosen accounts get an annual churn probability of 1 (decision in month 1, revenue
    gone from month ``1 + notice_months``); every other account keeps its resolved
    probability, so the ordinary churn of the rest still happens on top. Use it to ask
    "we lose our largest account: how long to replace it, and does cash last?" with
    :func:`kamsim.engine.simulate`.

    Parameters
    ----------
    scenario : Scenario
    account_ids : sequence of str, optional
        Accounts lost; default the largest by revenue.

    Examples
    --------
    >>> from kamsim.portfolio.datasets import synthetic_portfolio
    >>> from kamsim.model import ChurnAssumptions, Scenario
    >>> sc = Scenario(portfolio=synthetic_portfolio(20, rng=0),
    ...               churn=ChurnAssumptions(annual_prob=0.05))
    >>> p0, p1 = sc.annual_probs(), with_certain_loss(sc).annual_probs()
    >>> int((p1 != p0).sum()), float(p1[sc.portfolio.revenue.argmax()])
    (1, 1.0)
    """
    from dataclasses import replace

    pf = scenario.portfolio
    ids = [str(i) for i in pf.account_ids]
    if account_ids is None:
        chosen = [int(np.argmax(pf.revenue))]
    else:
        unknown = sorted(set(map(str, account_ids)) - set(ids))
        if unknown:
            raise AssumptionError(f"unknown account id(s) {unknown[:5]}",
                                  field="account_ids")
        pos = {a: i for i, a in enumerate(ids)}
        chosen = [pos[str(a)] for a in account_ids]
    p = scenario.annual_probs().copy()
    p[chosen] = 1.0
    return replace(scenario, portfolio=pf.replace(churn_prob=p),
                   churn=replace(scenario.churn, tier_probs=None, level=1.0),
                   name=f"{scenario.name}: lose {', '.join(ids[i] for i in chosen[:3])}")


# --- inverse question --------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class CapacityRequirement:
    """What :func:`required_capacity` returns.

    Attributes
    ----------
    parameter : str
        ``"opportunities_per_month"`` or ``"win_rate"``.
    value : float
        Smallest value at which the simulated ``P(recovered within within_months)`` reaches
        ``probability`` (NaN if ``feasible`` is False).
    lower, upper : float
        Monte Carlo interval of ``value``: the values at which the simulated probability
        reaches ``probability -/+ z * se``, ``se = sqrt(p (1 - p) / n_paths)`` (the
        pointwise binomial band inverted through the monotone curve).
    achieved : float
        Simulated probability at ``value``.
    feasible : bool
        False if even the search's upper bound (win rate 1, or the largest capacity tried)
        does not reach the target.
    within_months, probability, n_paths, seed
        The question asked and the run's root entropy.
    evaluations : int
        Simulations run by the search.
    """

    parameter: str
    value: float
    lower: float
    upper: float
    achieved: float
    feasible: bool
    within_months: int
    probability: float
    n_paths: int
    seed: int | tuple[int, ...]
    evaluations: int

    def summary(self) -> pd.DataFrame:
        """One-row table of the answer and its Monte Carlo interval."""
        return pd.DataFrame([{
            "parameter": self.parameter, "value": self.value, "lower": self.lower,
            "upper": self.upper, "achieved_probability": self.achieved,
            "target_probability": self.probability, "within_months": self.within_months,
            "feasible": self.feasible}])


def required_capacity(
    lost_revenue: float,
    assumptions: ReplacementAssumptions,
    *,
    within_months: int,
    probability: float = 0.9,
    parameter: Literal["opportunities_per_month", "win_rate"] = "opportunities_per_month",
    horizon_months: int | None = None,
    n_paths: int = 5_000,
    rng: np.random.Generator | np.random.SeedSequence | int | None = None,
    size_pool: npt.ArrayLike | None = None,
    max_capacity: float = 1_000.0,
    rel_tol: float = 1e-3,
    z: float = 1.96,
) -> CapacityRequirement:
    """Sales capacity (or win rate) needed to recover within ``within_months`` months.

    Finds the smallest value of ``parameter`` at which
    ``P(months_to_recover <= within_months)`` (from :func:`replacement_timeline`, censored
    paths counting as not recovered) reaches ``probability``. Every evaluation reuses the
    same random numbers (one root seed), so the simulated probability is a step function
    of the parameter that is non-decreasing in practice, and bisection finds its crossing;
    the reported interval reflects the Monte Carlo error of the probability.

    Parameters
    ----------
    lost_revenue : float
        Annual revenue to replace.
    assumptions : ReplacementAssumptions
        All other assumptions; ``parameter`` is varied.
    within_months : int
        Target recovery time (months in the hole).
    probability : float
        Required probability of recovering in time, in (0, 1).
    parameter : {"opportunities_per_month", "win_rate"}
        What to solve for. Capacity is searched in ``[0, max_capacity]``, the win rate in
        ``(0, 1]``.
    horizon_months : int, optional
        Simulated horizon (default ``within_months + 1``: enough to tell).
    n_paths : int
        Paths per evaluation.
    rng : Generator, SeedSequence, int or None
        Randomness (SPEC 7).
    size_pool : array_like, optional
        As in :func:`replacement_timeline`.
    max_capacity : float
        Upper end of the capacity search.
    rel_tol : float
        Relative precision of the bisection on the parameter.
    z : float
        Normal quantile of the Monte Carlo band (1.96: about 95 %).

    Returns
    -------
    CapacityRequirement

    Examples
    --------
    Every opportunity is won, each replaces half the loss, 3-month cycle, no ramp: first
    orders come in month 4, so recovering within 3 months in the hole needs two
    opportunities opened in month 1.

    >>> a = ReplacementAssumptions(arrivals="fixed", response_lag_months=0,
    ...     cycle_mean_months=3, cycle_cv=0, win_rate=1.0, account_size="lognormal",
    ...     size_median=50.0, size_sigma=0, ramp_shape="none", ramp_months=0)
    >>> r = required_capacity(100.0, a, within_months=3, probability=0.9, n_paths=200,
    ...                       rng=1)
    >>> round(r.value, 2), r.feasible
    (2.0, True)
    """
    if parameter not in ("opportunities_per_month", "win_rate"):
        msg = ("parameter must be one of ['opportunities_per_month', 'win_rate'], "
               f"got {parameter!r}")
        raise AssumptionError(msg)
    prob = _number(probability, "probability", lo=0.0, lo_open=True, hi=1.0, hi_open=True)
    w = _whole(within_months, "within_months")
    h = w + 1 if horizon_months is None else int(horizon_months)
    if h <= w:
        msg = f"horizon_months ({h}) must exceed within_months ({w})"
        raise AssumptionError(msg)
    lost = _check_timeline(lost_revenue, h, n_paths)
    entropy, key = _entropy(rng)
    count = 0

    def prob_at(x: float) -> float:
        nonlocal count
        count += 1
        a = _with(assumptions, parameter, x)
        tl = _timeline(lost, a, h, int(n_paths), entropy, key, size_pool)
        return tl.prob_recovered_within(w)

    lo_x, hi_x = (0.0, float(max_capacity)) if parameter == "opportunities_per_month" \
        else (0.0, 1.0)
    cache: dict[float, float] = {}

    def f(x: float) -> float:
        if x not in cache:
            cache[x] = prob_at(x) if x > 0 else 0.0
        return cache[x]

    def solve(target: float) -> float:
        if target <= 0:
            return lo_x
        if f(hi_x) < target:
            return math.nan
        a_, b_ = lo_x, hi_x
        if parameter == "opportunities_per_month":  # bracket from below first (cheap)
            b_ = min(1.0, hi_x)
            while f(b_) < target and b_ < hi_x:
                a_, b_ = b_, min(b_ * 2, hi_x)
        while b_ - a_ > rel_tol * max(b_, 1e-12):
            mid = 0.5 * (a_ + b_)
            if f(mid) >= target:
                b_ = mid
            else:
                a_ = mid
        return b_

    value = solve(prob)
    se = math.sqrt(prob * (1 - prob) / n_paths)
    lower = solve(max(prob - z * se, 0.0))
    upper = solve(min(prob + z * se, 1.0))
    feasible = math.isfinite(value)
    return CapacityRequirement(
        parameter=parameter, value=value, lower=lower,
        upper=upper if math.isfinite(upper) else math.inf,
        achieved=f(value) if feasible else f(hi_x), feasible=feasible,
        within_months=w, probability=prob, n_paths=int(n_paths), seed=entropy,
        evaluations=count)


def _with(a: ReplacementAssumptions, name: str, value: float) -> ReplacementAssumptions:
    from dataclasses import replace

    match name:
        case "opportunities_per_month":
            return replace(a, opportunities_per_month=value)
        case "win_rate":
            return replace(a, win_rate=value)
        case _:  # pragma: no cover - validated by the caller
            msg = f"cannot vary {name!r}"
            raise AssumptionError(msg)
