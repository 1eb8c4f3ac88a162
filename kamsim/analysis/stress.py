"""Reverse stress test: what it takes to break us.

A stress test asks "what happens if...?"; a reverse stress test starts from the outcome
the business cannot survive and asks how it would most likely come about. For a
threshold (revenue lost by the horizon, or gross profit falling below fixed costs),
:func:`reverse_stress_test` gives, exactly through the finite-portfolio twin
(:mod:`kamsim.risk.exact`):

* the probability of the breach and its return period;
* the **design point**: the most likely value of the shared factor(s) given the breach
  (the mode of the factor's conditional density), with its percentile ("a year as bad as
  the worst 3 %"), and the mean factor value given the breach;
* each account's churn probability *conditional on the breach* (exact), beside its
  ordinary probability, and the lift between them: the accounts whose loss the breach
  is made of;
* a short "what it takes to break us" table: the accounts ranked by their expected loss
  given the breach (revenue x conditional churn probability), with the running total of
  their revenue, marking the smallest set of them whose loss alone crosses the threshold.

Cash below zero depends on the timing of losses and replacements, which the exact twin
does not model; use :func:`kamsim.engine.simulate` and condition its paths instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import optimize, special

from kamsim.exceptions import AssumptionError
from kamsim.model import Scenario
from kamsim.risk.exact import ExactLossDistribution, loss_distribution

__all__ = ["ReverseStressTest", "reverse_stress_test"]

FloatArray = npt.NDArray[np.float64]

#: What a breach is measured on.
BreachKind = Literal["revenue_loss", "profit_below_fixed_costs"]


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class ReverseStressTest:
    """Result of :func:`reverse_stress_test`.

    Attributes
    ----------
    kind : str
        ``"revenue_loss"`` or ``"profit_below_fixed_costs"``.
    threshold : float
        The loss (annual run-rate revenue, or gross profit) whose excess is the breach.
    p_breach : float
        ``P(loss > threshold)`` (exact, on the lattice).
    accounts : pandas.DataFrame
        Per account, ranked by ``expected_loss_given_breach`` (``weight x
        prob_given_breach``: what the breach is made of): ``rank, account_id, weight, prob,
        prob_given_breach, lift, expected_loss_given_breach, cumulative_weight,
        in_likely_set``.
    factor : pandas.DataFrame
        The factor rule's nodes with ``p_breach`` and posterior (see
        :meth:`kamsim.risk.exact.ExactLossDistribution.breach_analysis`).
    design_point : dict of str to float
        Normal scores of the factor dimensions at the design point (mode given the
        breach), their percentiles and the conditional means.
    distribution : ExactLossDistribution
        The exact distribution used.
    """

    kind: str
    threshold: float
    p_breach: float
    accounts: pd.DataFrame
    factor: pd.DataFrame = field(repr=False)
    design_point: dict[str, float]
    distribution: ExactLossDistribution = field(repr=False)

    @property
    def return_period_years(self) -> float:
        """``1 / p_breach`` horizons (inf when the breach is impossible)."""
        return math.inf if self.p_breach <= 0 else 1.0 / self.p_breach

    def summary(self) -> pd.DataFrame:
        """Key figures as a tidy two-column table (index ``statistic``, column ``value``)."""
        rows: dict[str, Any] = {
            "kind": self.kind, "threshold": self.threshold, "p_breach": self.p_breach,
            "return_period_horizons": self.return_period_years,
            "expected_accounts_lost_given_breach": float(
                self.accounts["prob_given_breach"].sum()),
            "accounts_in_likely_set": int(self.accounts["in_likely_set"].sum()),
        }
        rows.update(self.design_point)
        return pd.DataFrame({"value": list(rows.values())},
                            index=pd.Index(list(rows), name="statistic"))

    def table(self, top: int = 10) -> pd.DataFrame:
        """The "what it takes to break us" table: the ``top`` accounts a breach is made of.

        Columns ``rank, account_id, weight, prob, prob_given_breach, lift,
        expected_loss_given_breach, cumulative_weight, in_likely_set``: ``prob`` is the
        ordinary churn probability by the horizon, ``prob_given_breach`` the probability
        given the breach, and ``in_likely_set`` marks the smallest set of the largest
        expected losses whose weight alone crosses the threshold.
        """
        cols = ["rank", "account_id", "weight", "prob", "prob_given_breach", "lift",
                "expected_loss_given_breach", "cumulative_weight", "in_likely_set"]
        return self.accounts.loc[:, cols].head(int(top)).reset_index(drop=True)


def _mode(d: ExactLossDistribution, x: float, fac: pd.DataFrame, dims: int) -> FloatArray:
    """Mode of the factor scores' density given the breach: best node, then refined."""
    pts = fac[[f"y{j}" for j in range(dims)]].to_numpy()
    best = int(np.argmax(fac["density"].to_numpy()))

    def neg_log_density(y: FloatArray) -> float:
        tail = float(d.conditional_sf(x, y[None, :])[0])
        return math.inf if tail <= 0 else float(0.5 * np.dot(y, y) - math.log(tail))

    if dims == 1:
        y = pts[:, 0]
        order = np.sort(y)
        i = int(np.searchsorted(order, y[best]))
        lo = order[max(i - 1, 0)]
        hi = order[min(i + 1, order.size - 1)]
        r = optimize.minimize_scalar(lambda v: neg_log_density(np.array([v])),
                                     bounds=(lo, hi), method="bounded",
                                     options={"xatol": 1e-6})
        return np.array([float(r.x)])
    r2 = optimize.minimize(neg_log_density, pts[best], method="Nelder-Mead",
                           options={"xatol": 1e-5, "fatol": 1e-10})
    return np.asarray(r2.x, dtype=np.float64)


def reverse_stress_test(scenario: Scenario, threshold: float | None = None, *,
                        kind: BreachKind = "revenue_loss",
                        distribution: ExactLossDistribution | None = None,
                        **exact_kwargs: Any) -> ReverseStressTest:
    """Reverse stress test of a scenario at a threshold, exactly through the twin.

    Parameters
    ----------
    scenario : Scenario
        Portfolio and churn assumptions (full churn; one-factor or non-nested factors).
    threshold : float, optional
        ``kind="revenue_loss"``: annual revenue lost by the horizon that breaks the plan
        (default: the 99 % VaR). Ignored for ``"profit_below_fixed_costs"``, where the
        breach is annual gross profit after the losses falling below the scenario's fixed
        costs (a gross-profit loss above ``total gross profit - fixed_costs``).
    kind : {"revenue_loss", "profit_below_fixed_costs"}
        What is stressed.
    distribution : ExactLossDistribution, optional
        The scenario's exact distribution of the measure ``kind`` stresses, if already
        computed (e.g. to pick the threshold): it is used instead of a new exact run.
    **exact_kwargs
        Passed to :func:`kamsim.risk.exact.loss_distribution` (``max_points``, ``tol``...).

    Returns
    -------
    ReverseStressTest

    Raises
    ------
    AssumptionError
        For an unknown ``kind``, a threshold that is not a finite number, or a scenario the
        exact conditioning does not cover (partial churn, nested group factors).

    Examples
    --------
    >>> import pandas as pd
    >>> from kamsim.model import ChurnAssumptions, Scenario
    >>> from kamsim.portfolio import Portfolio
    >>> pf = Portfolio(pd.DataFrame({"account_id": ["A", "B", "C", "D"],
    ...                              "revenue": [500.0, 300.0, 150.0, 50.0]}))
    >>> sc = Scenario(portfolio=pf, churn=ChurnAssumptions(annual_prob=0.1,
    ...               correlation=0.3), horizon_months=12)
    >>> st = reverse_stress_test(sc, 600.0)
    >>> st.table(2)[["account_id", "in_likely_set"]].values.tolist()
    [['A', True], ['B', True]]
    >>> round(st.p_breach, 4), st.design_point["y0_mode"] < -1
    (0.0363, True)
    """
    match str(kind):
        case "revenue_loss":
            measure = "run_rate"
        case "profit_below_fixed_costs":
            measure = "gross_profit"
        case _:
            raise AssumptionError(f"unknown kind {kind!r}; valid options are "
                                  "'revenue_loss', 'profit_below_fixed_costs'", field="kind")
    d = distribution
    if d is None:
        d = loss_distribution(scenario, measure=measure, **exact_kwargs)  # type: ignore[arg-type]
    elif d.measure != measure:
        raise AssumptionError(f"distribution is of {d.measure!r}; kind={kind!r} needs "
                              f"{measure!r}", field="distribution")
    if kind == "profit_below_fixed_costs":
        x = float(np.sum(d.weights)) - float(scenario.fixed_costs)
    elif threshold is None:
        x = d.var(0.99)
    else:
        try:
            x = float(threshold)
        except (TypeError, ValueError):
            raise AssumptionError(f"must be a number, got {threshold!r}",
                                  field="threshold") from None
        if not math.isfinite(x):
            raise AssumptionError(f"must be finite, got {threshold!r}", field="threshold")
    acc, fac = d.breach_analysis(x)
    p = float(d.sf(x))
    acc = acc.assign(expected_loss_given_breach=acc["weight"] * acc["prob_given_breach"])
    acc = acc.sort_values(["expected_loss_given_breach", "prob_given_breach"],
                          ascending=False, kind="stable")
    acc = acc.reset_index(drop=True)
    cum = np.cumsum(acc["weight"].to_numpy())
    crosses = np.flatnonzero(cum > x)
    n_set = int(crosses[0]) + 1 if crosses.size else len(acc)
    acc["cumulative_weight"] = cum
    acc["in_likely_set"] = np.arange(len(acc)) < n_set
    acc.insert(0, "rank", np.arange(1, len(acc) + 1))
    design: dict[str, float] = {}
    names = d.factor_dimensions
    if len(fac) and p > 0:
        mode = _mode(d, x, fac, len(names))
        for j in range(len(names)):
            y = fac[f"y{j}"].to_numpy()
            design[f"y{j}_mode"] = float(mode[j])
            design[f"y{j}_mode_percentile"] = float(special.ndtr(mode[j]))
            design[f"y{j}_mean_given_breach"] = float(np.dot(fac["posterior"], y))
    return ReverseStressTest(kind=str(kind), threshold=x, p_breach=p, accounts=acc,
                             factor=fac, design_point=design, distribution=d)
