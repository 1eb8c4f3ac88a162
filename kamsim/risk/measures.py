"""Risk measures shared by Monte Carlo samples and exact distributions.

Every function takes ``losses`` (loss values) and optional ``weights`` (probabilities).
A Monte Carlo run passes its per-path samples with no weights (each path weighs
``1/n``); an exact distribution passes its lattice points and their pmf. The same code
computes both, so the two can be swapped and compared.

Definitions (losses are positive numbers; larger is worse):

* Value-at-Risk at level ``a``: the lower ``a``-quantile, ``VaR_a = inf{x : P(L <= x) >= a}``.
* Expected Shortfall at level ``a`` (Acerbi & Tasche 2002): the mean of the worst
  ``1 - a`` of outcomes, ``ES_a = (E[L 1{L > VaR_a}] + VaR_a (P(L <= VaR_a) - a)) / (1 - a)``,
  which equals the average of ``VaR_u`` over ``u`` in ``[a, 1)`` and is coherent for
  discrete distributions too.
* Exceedance probability: ``P(L > x)`` (scipy's ``sf``).

References
----------
Acerbi, C. and Tasche, D. (2002). On the coherence of expected shortfall. Journal of
Banking & Finance 26(7), 1487-1503.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from kamsim.exceptions import AssumptionError

__all__ = [
    "DEFAULT_LEVELS",
    "LossDistribution",
    "es_standard_error",
    "exceedance_probability",
    "expected_shortfall",
    "risk_table",
    "value_at_risk",
    "var_confidence_interval",
]

#: Default confidence levels: 1-in-20, 1-in-100 and 1-in-200 years.
DEFAULT_LEVELS: tuple[float, ...] = (0.95, 0.99, 0.995)

ArrayLike = npt.ArrayLike


@runtime_checkable
class LossDistribution(Protocol):
    """What every loss distribution offers, Monte Carlo or exact.

    :class:`kamsim.engine.SimulationResult` (Monte Carlo samples, weighted for importance
    sampling) and :class:`kamsim.risk.ExactLossDistribution` (the exact twin) both satisfy
    it, so a view or an analysis written against this protocol works with either: no
    adapters.

    Examples
    --------
    >>> from kamsim.model import ChurnAssumptions, Scenario
    >>> from kamsim.portfolio.datasets import synthetic_portfolio
    >>> from kamsim.risk import loss_distribution
    >>> sc = Scenario(portfolio=synthetic_portfolio(30, rng=1),
    ...               churn=ChurnAssumptions(annual_prob=0.1), horizon_months=12)
    >>> isinstance(loss_distribution(sc), LossDistribution)
    True
    """

    def var(self, level: float = 0.95) -> float:
        """Value-at-Risk at ``level``."""
        ...

    def es(self, level: float = 0.95) -> float:
        """Expected Shortfall at ``level``."""
        ...

    def risk_table(self, levels: Sequence[float] = ...) -> pd.DataFrame:
        """VaR and ES at several levels, with their errors where there are any."""
        ...

    def summary(self, levels: Sequence[float] = ...) -> pd.DataFrame:
        """Headline figures: expected loss, VaR and ES at ``levels``."""
        ...


def _prepare(
    losses: ArrayLike, weights: ArrayLike | None
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    x = np.asarray(losses, dtype=np.float64).ravel()
    if x.size == 0:
        msg = "losses is empty"
        raise AssumptionError(msg)
    if not np.all(np.isfinite(x)):
        msg = "losses contain NaN or infinite values"
        raise AssumptionError(msg)
    if weights is None:
        order = np.argsort(x, kind="stable")
        return x[order], np.full(x.size, 1.0 / x.size)
    w = np.asarray(weights, dtype=np.float64).ravel()
    if w.shape != x.shape:
        msg = f"weights has shape {w.shape}, losses {x.shape}; they must match"
        raise AssumptionError(msg)
    if np.any(w < 0) or not np.all(np.isfinite(w)):
        msg = "weights must be finite and >= 0"
        raise AssumptionError(msg)
    total = w.sum()
    if not total > 0:
        msg = "weights sum to zero"
        raise AssumptionError(msg)
    order = np.argsort(x, kind="stable")
    return x[order], w[order] / total


def _check_level(level: float) -> None:
    if not 0.0 < level < 1.0:
        msg = f"level must be in (0, 1), got {level}"
        raise AssumptionError(msg)


def value_at_risk(losses: ArrayLike, level: float = 0.95, *,
                  weights: ArrayLike | None = None) -> float:
    """Value-at-Risk: the lower ``level``-quantile of the loss distribution.

    Parameters
    ----------
    losses : array_like
        Loss samples (Monte Carlo) or support points (exact distribution).
    level : float
        Confidence level in (0, 1); 0.95 is a 1-in-20 year, 0.995 a 1-in-200 year.
    weights : array_like, optional
        Probabilities of ``losses``; equal weights if omitted.

    Returns
    -------
    float

    Examples
    --------
    >>> value_at_risk([0.0, 0.0, 10.0, 20.0], 0.5)
    0.0
    >>> value_at_risk([0.0, 10.0], 0.9, weights=[0.95, 0.05])
    0.0
    >>> value_at_risk([0.0, 10.0], 0.96, weights=[0.95, 0.05])
    10.0
    """
    _check_level(level)
    x, w = _prepare(losses, weights)
    cdf = np.cumsum(w)
    # tolerate rounding in the cumulative sum: a cdf within 1e-12 of the level counts
    idx = int(np.searchsorted(cdf, level - 1e-12, side="left"))
    return float(x[min(idx, x.size - 1)])


def expected_shortfall(losses: ArrayLike, level: float = 0.95, *,
                       weights: ArrayLike | None = None) -> float:
    """Expected Shortfall: the mean loss in the worst ``1 - level`` of outcomes.

    Examples
    --------
    >>> expected_shortfall([0.0, 0.0, 10.0, 20.0], 0.5)
    15.0
    >>> round(expected_shortfall([0.0, 10.0], 0.9, weights=[0.95, 0.05]), 12)
    5.0
    """
    _check_level(level)
    x, w = _prepare(losses, weights)
    var = value_at_risk(x, level, weights=w)
    above = x > var
    cdf_at_var = float(w[~above].sum())
    tail = float(np.sum(x[above] * w[above])) + var * (cdf_at_var - level)
    return tail / (1.0 - level)


def exceedance_probability(losses: ArrayLike, threshold: float, *,
                           weights: ArrayLike | None = None) -> float:
    """``P(L > threshold)``.

    Examples
    --------
    >>> exceedance_probability([0.0, 5.0, 10.0, 20.0], 5.0)
    0.5
    """
    x, w = _prepare(losses, weights)
    return float(w[x > threshold].sum())


def var_confidence_interval(samples: ArrayLike, level: float = 0.95, *,
                            confidence: float = 0.95) -> tuple[float, float]:
    """Distribution-free confidence interval of VaR from i.i.d. Monte Carlo samples.

    Uses order statistics: the number of samples at or below the true quantile is
    binomial, so ``[x_(j), x_(k)]`` with ``j, k`` from binomial quantiles covers the true
    VaR with probability at least ``confidence``.

    Examples
    --------
    >>> lo, hi = var_confidence_interval(range(1000), 0.5)
    >>> lo <= 499.5 <= hi
    True
    """
    _check_level(level)
    x = np.sort(np.asarray(samples, dtype=np.float64).ravel())
    n = x.size
    a = (1.0 - confidence) / 2.0
    j = int(stats.binom.ppf(a, n, level))
    k = int(stats.binom.ppf(1.0 - a, n, level)) + 1
    return float(x[max(j - 1, 0)]), float(x[min(k - 1, n - 1)])


def es_standard_error(samples: ArrayLike, level: float = 0.95) -> float:
    """Asymptotic standard error of the Expected Shortfall estimate from i.i.d. samples.

    ``sd(max(L - VaR, 0)) / ((1 - level) sqrt(n))``, from the influence function of ES
    (the VaR term's contribution vanishes at first order).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).exponential(size=100_000)
    >>> round(es_standard_error(x, 0.95), 2)  # sd of the tail excess (1) / (0.05 sqrt(n))
    0.02
    """
    _check_level(level)
    x = np.asarray(samples, dtype=np.float64).ravel()
    var = value_at_risk(x, level)
    excess = np.maximum(x - var, 0.0)
    return float(excess.std(ddof=1) / ((1.0 - level) * np.sqrt(x.size)))


def risk_table(losses: ArrayLike, levels: Sequence[float] = DEFAULT_LEVELS, *,
               weights: ArrayLike | None = None, confidence: float = 0.95) -> pd.DataFrame:
    """VaR and ES at several levels as a tidy table.

    With ``weights`` omitted the input is treated as Monte Carlo samples, and the table
    adds a VaR confidence interval and the ES standard error; with weights (an exact
    distribution) those columns are 0-width / zero.

    Returns
    -------
    pandas.DataFrame
        Index ``level``; columns ``return_period_years, var, var_low, var_high, es, es_se``.

    Examples
    --------
    >>> risk_table([0.0, 10.0], [0.9], weights=[0.95, 0.05])[["var", "es"]]
           var   es
    level
    0.9    0.0  5.0
    """
    rows = []
    for a in levels:
        var = value_at_risk(losses, a, weights=weights)
        es = expected_shortfall(losses, a, weights=weights)
        if weights is None:
            lo, hi = var_confidence_interval(losses, a, confidence=confidence)
            se = es_standard_error(losses, a)
        else:
            lo, hi, se = var, var, 0.0
        rows.append({"level": a, "return_period_years": 1.0 / (1.0 - a), "var": var,
                     "var_low": lo, "var_high": hi, "es": es, "es_se": se})
    return pd.DataFrame(rows).set_index("level")
