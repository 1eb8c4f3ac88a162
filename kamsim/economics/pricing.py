"""Efficiency gains, pass-through price cuts, retention response and rebate schedules.

A KAM program makes the supplier cheaper to run (lower cost to serve). The trap is
handing those gains straight back to the account as price cuts. This module measures
what passing a fraction of the gains back costs (margin given away) and what it buys
(accounts that stay longer, maybe more volume), on the same churn model as
:func:`kamsim.engine.simulate`.

The profit model
----------------
Per account ``i`` and month ``t = 1..H`` (``H`` = the scenario's horizon), while the
account is still buying::

    profit_it = v_it * R_i * (m_i - c_it) / 12 - CTS_i / 12 + g_it / 12

``R_i`` annual revenue, ``m_i`` gross margin, ``CTS_i`` annual cost to serve (the
``cost_to_serve`` column; 0 when absent or when ``include_cost_to_serve=False``),
``g_it`` the annual efficiency gain phased in linearly over ``ramp_months``,
``c_it = pass_through * g_it / R_i`` the price cut as a fraction of revenue (costs
unchanged, so a cut of ``c`` lowers revenue and gross profit by ``c R``) and
``v_it = 1 + volume_per_point * 100 c_it`` the volume response. An account that churns
stops contributing from its stop month (partial churn: a fraction of it stops).

The retention response multiplies each targeted account's churn *hazard* by
``k(c) = max(floor, (1 + s)^(100 c))`` (``form="exponential"``) or
``max(floor, 1 + 100 s c)`` (``"linear"``), where ``c`` is the steady-state price cut
and ``s = hazard_change_per_point`` (e.g. -0.05: each percentage point of price cut
lowers the hazard by 5 %). In the engine's continuous-time model a hazard multiplier
``k`` turns an annual churn probability ``p`` into ``1 - (1 - p)^k``. The multiplier
applies from month 1 (the cut is agreed up front), while the cut itself ramps in with the
gains: a deliberate simplification of a time-varying hazard.

Valuation
---------
``NPV = sum_t profit_t / (1 + r)^(t / 12)`` with the user's annual discount rate ``r``.
Expected NPVs are computed exactly (the survival curve of the churn model is known in
closed form); their distribution comes from Monte Carlo paths on **common random
numbers**: every policy is evaluated on the churn events of
:func:`kamsim.engine.churn_events` with the same seed, so an account kept by a policy is
the same account in the same future, and differences between policies have small
standard errors.

Rebates and volume discounts
----------------------------
:class:`RebateSchedule` holds tiered schedules, ``"all_units"`` (retroactive: reaching a
threshold discounts every unit) or ``"incremental"`` (each band's rate applies only to
the units in that band), with their cost and effective price per unit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import optimize

from kamsim._util.rng import root_seed
from kamsim._util.validate import from_dict
from kamsim._util.validate import number as _number
from kamsim._util.validate import whole as _whole
from kamsim.economics.npv import (
    Plan,
    check_n_paths,
    discount_factors,
    expected_npv,
    hazard_scaled_probs,
    lower_tail_mean,
    npv_from_events,
    plan_events,
    scope_mask,
    survival,
    tiers_field,
)
from kamsim.exceptions import AssumptionError
from kamsim.model import Scenario

__all__ = [
    "EfficiencyGains",
    "OptimalPassThrough",
    "PassThroughBreakdown",
    "PolicyComparison",
    "PricingAssumptions",
    "RetentionBreakEven",
    "RetentionResponse",
    "break_even_retention",
    "compare_pass_through",
    "optimal_pass_through",
    "pass_through_breakdown",
    "pass_through_curve",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]


# ---------------------------------------------------------------------------------------
# assumptions


@dataclass(frozen=True, slots=True, kw_only=True)
class EfficiencyGains:
    """What a KAM program saves in cost to serve, per targeted account.

    Parameters
    ----------
    pct_of_revenue : float
        Annual saving as a fraction of the account's revenue, in [0, 1).
    absolute : float
        Annual saving per account in currency (>= 0); added to ``pct_of_revenue``.
    ramp_months : int
        Months over which the saving phases in linearly (month ``t`` gets
        ``min(t / ramp_months, 1)`` of it); 0 = in full from month 1.
    tiers : sequence of str or None
        Tiers of accounts that get the gains (and the price cut); None = every account.

    Examples
    --------
    >>> EfficiencyGains(pct_of_revenue=0.03, ramp_months=6).phase_in(3).tolist()
    [0.16666666666666666, 0.3333333333333333, 0.5]
    >>> EfficiencyGains(pct_of_revenue=1.5)
    Traceback (most recent call last):
    ...
    kamsim.exceptions.AssumptionError: gains.pct_of_revenue: must be in [0, 1), got 1.5
    """

    pct_of_revenue: float = 0.03
    absolute: float = 0.0
    ramp_months: int = 12
    tiers: tuple[str, ...] | None = ("key",)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pct_of_revenue", _number(
            self.pct_of_revenue, "gains.pct_of_revenue", lo=0.0, hi=1.0, hi_open=True))
        object.__setattr__(self, "absolute", _number(self.absolute, "gains.absolute", lo=0.0))
        object.__setattr__(self, "ramp_months", _whole(self.ramp_months, "gains.ramp_months"))
        object.__setattr__(self, "tiers", tiers_field(self.tiers, "gains.tiers"))

    def phase_in(self, horizon_months: int) -> FloatArray:
        """Share of the full saving reached in months 1..H."""
        t = np.arange(1, horizon_months + 1, dtype=np.float64)
        if self.ramp_months == 0:
            return np.ones_like(t)
        return np.minimum(t / self.ramp_months, 1.0)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (YAML-safe)."""
        d = asdict(self)
        d["tiers"] = None if self.tiers is None else list(self.tiers)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> EfficiencyGains:
        """Build from a plain dict; unknown keys raise :class:`AssumptionError`."""
        return from_dict(cls, d, "gains")


@dataclass(frozen=True, slots=True, kw_only=True)
class RetentionResponse:
    """How a price cut changes churn hazard (and volume): a user-set, documented curve.

    These are assumptions to be set from the user's own experience or experiments; the
    defaults (no response at all) make the price cut a pure margin giveaway.

    Parameters
    ----------
    hazard_change_per_point : float
        Relative change of the churn hazard per percentage point of price cut, in
        (-1, 0]: -0.05 means each point lowers the hazard by 5 %.
    floor : float
        Smallest hazard multiplier a cut can reach, in [0, 1] (loyalty cannot be bought
        beyond this).
    form : {"exponential", "linear"}
        ``(1 + s)^points`` (each point compounds) or ``1 + s * points``, then floored.
    volume_per_point : float
        Relative volume increase per percentage point of price cut (>= 0), e.g. 0.01.

    Examples
    --------
    >>> r = RetentionResponse(hazard_change_per_point=-0.1, floor=0.5, form="linear")
    >>> r.hazard_multiplier(np.array([0.0, 0.02, 0.10])).round(3).tolist()
    [1.0, 0.8, 0.5]
    """

    hazard_change_per_point: float = 0.0
    floor: float = 0.0
    form: Literal["exponential", "linear"] = "exponential"
    volume_per_point: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "hazard_change_per_point", _number(
            self.hazard_change_per_point, "response.hazard_change_per_point", lo=-1.0,
            hi=0.0, lo_open=True))
        object.__setattr__(self, "floor", _number(self.floor, "response.floor", lo=0.0,
                                                  hi=1.0))
        if self.form not in ("exponential", "linear"):
            raise AssumptionError(f"must be 'exponential' or 'linear', got {self.form!r}",
                                  field="response.form")
        object.__setattr__(self, "volume_per_point", _number(
            self.volume_per_point, "response.volume_per_point", lo=0.0))

    def hazard_multiplier(self, cut: npt.ArrayLike) -> FloatArray:
        """Hazard multiplier for price cuts given as fractions of revenue."""
        pts = 100.0 * np.asarray(cut, dtype=np.float64)
        s = self.hazard_change_per_point
        match self.form:
            case "exponential":
                k = np.power(1.0 + s, pts)
            case "linear":
                k = 1.0 + s * pts
            case _:  # pragma: no cover - validated in __post_init__
                msg = f"form must be 'exponential' or 'linear', got {self.form!r}"
                raise AssumptionError(msg)
        return np.asarray(np.clip(k, self.floor, 1.0), dtype=np.float64)

    def volume_multiplier(self, cut: npt.ArrayLike) -> FloatArray:
        """Volume multiplier ``1 + volume_per_point * points`` for cuts as fractions."""
        return np.asarray(1.0 + self.volume_per_point * 100.0 * np.asarray(cut, dtype=float),
                          dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (YAML-safe)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RetentionResponse:
        """Build from a plain dict; unknown keys raise :class:`AssumptionError`."""
        return from_dict(cls, d, "response")


@dataclass(frozen=True, slots=True, kw_only=True)
class PricingAssumptions:
    """Gains, retention response and valuation settings for pass-through questions.

    Parameters
    ----------
    gains : EfficiencyGains
    response : RetentionResponse
    discount_rate : float
        Annual discount rate for NPVs, in [0, 1].
    include_cost_to_serve : bool
        Subtract the portfolio's ``cost_to_serve`` column (annual) from gross profit.

    Examples
    --------
    >>> a = PricingAssumptions(gains=EfficiencyGains(pct_of_revenue=0.02))
    >>> PricingAssumptions.from_dict(a.to_dict()) == a
    True
    """

    gains: EfficiencyGains = field(default_factory=EfficiencyGains)
    response: RetentionResponse = field(default_factory=RetentionResponse)
    discount_rate: float = 0.08
    include_cost_to_serve: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.gains, EfficiencyGains):
            raise AssumptionError("must be EfficiencyGains", field="gains")
        if not isinstance(self.response, RetentionResponse):
            raise AssumptionError("must be RetentionResponse", field="response")
        object.__setattr__(self, "discount_rate", _number(self.discount_rate,
                                                          "discount_rate", lo=0.0, hi=1.0))
        if not isinstance(self.include_cost_to_serve, bool):
            raise AssumptionError("must be True or False", field="include_cost_to_serve")

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (YAML-safe)."""
        return {"gains": self.gains.to_dict(), "response": self.response.to_dict(),
                "discount_rate": self.discount_rate,
                "include_cost_to_serve": self.include_cost_to_serve}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PricingAssumptions:
        """Build from a plain dict; unknown keys raise :class:`AssumptionError`."""
        known = {"gains", "response", "discount_rate", "include_cost_to_serve"}
        unknown = sorted(set(d) - known)
        if unknown:
            raise AssumptionError(f"unknown field(s) {unknown}; valid fields are "
                                  f"{sorted(known)}", field="pricing")
        kw: dict[str, Any] = {k: v for k, v in d.items() if k not in ("gains", "response")}
        if d.get("gains") is not None:
            kw["gains"] = EfficiencyGains.from_dict(d["gains"])
        if d.get("response") is not None:
            kw["response"] = RetentionResponse.from_dict(d["response"])
        return cls(**kw)


def base_contribution(scenario: Scenario, include_cost_to_serve: bool = True
                      ) -> tuple[FloatArray, FloatArray]:
    """Annual gross profit and cost to serve per account (cost 0 if absent or excluded)."""
    pf = scenario.portfolio
    gp = np.asarray(pf.gross_profit, dtype=np.float64)
    if include_cost_to_serve and pf.has("cost_to_serve"):
        cts = np.asarray(pf.column("cost_to_serve"), dtype=np.float64)
    else:
        cts = np.zeros(pf.n_accounts)
    return gp, cts


def _annual_gain(scenario: Scenario, gains: EfficiencyGains, mask: BoolArray,
                 include_cost_to_serve: bool) -> FloatArray:
    pf = scenario.portfolio
    rev = np.asarray(pf.revenue, dtype=np.float64)
    g = np.where(mask, gains.pct_of_revenue * rev + gains.absolute, 0.0)
    if include_cost_to_serve and pf.has("cost_to_serve"):
        cts = np.asarray(pf.column("cost_to_serve"), dtype=np.float64)
        over = np.flatnonzero(g > cts + 1e-9)
        if over.size:
            ids = ", ".join(str(a) for a in pf.account_ids[over[:5]])
            raise AssumptionError(
                f"the efficiency gain exceeds the cost to serve of {over.size} account(s) "
                f"({ids}); a saving cannot be larger than the cost it reduces: lower "
                "pct_of_revenue/absolute or set include_cost_to_serve=False",
                field="gains")
    return g


@dataclass(frozen=True, slots=True)
class _PlanBase:
    """What every pass-through policy of one scenario and assumptions shares."""

    mask: BoolArray
    rev: FloatArray
    cts: FloatArray
    margin: FloatArray
    g_full: FloatArray
    ramp: FloatArray
    probs: FloatArray


def _plan_base(scenario: Scenario, a: PricingAssumptions) -> _PlanBase:
    h = scenario.horizon_months
    mask = scope_mask(scenario, a.gains.tiers, "gains.tiers")
    rev = np.asarray(scenario.portfolio.revenue, dtype=np.float64)
    gp, cts = base_contribution(scenario, a.include_cost_to_serve)
    margin = np.divide(gp, rev, out=np.zeros_like(rev), where=rev > 0)
    g_full = _annual_gain(scenario, a.gains, mask, a.include_cost_to_serve)
    return _PlanBase(mask, rev, cts, margin, g_full, a.gains.phase_in(h),
                     scenario.annual_probs())


def _pricing_plan(scenario: Scenario, a: PricingAssumptions, pass_through: float,
                  hazard_multiplier: float | None = None, base: _PlanBase | None = None
                  ) -> tuple[Plan, dict[str, FloatArray]]:
    """Build the plan of one pass-through policy and its components (annual currency).

    ``base`` (:func:`_plan_base` of the same scenario and assumptions) saves recomputing
    what the policies share, e.g. over an optimiser's grid.
    """
    phi = _number(pass_through, "pass_through", lo=0.0, hi=1.0)
    h = scenario.horizon_months
    b = base if base is not None else _plan_base(scenario, a)
    mask, rev, cts, margin, g_full, ramp = b.mask, b.rev, b.cts, b.margin, b.g_full, b.ramp
    gain = g_full[:, None] * ramp[None, :]  # annual rate per month
    cut_full = np.divide(phi * g_full, rev, out=np.zeros_like(rev), where=rev > 0)
    cut = cut_full[:, None] * ramp[None, :]
    vol = a.response.volume_multiplier(cut)
    revenue = vol * rev[:, None] * (1.0 - cut) / 12.0
    gross = vol * rev[:, None] * (margin[:, None] - cut) / 12.0
    passed = vol * rev[:, None] * cut / 12.0
    profit = gross - cts[:, None] / 12.0 + gain / 12.0
    probs = b.probs
    if hazard_multiplier is None:
        k = np.where(mask, a.response.hazard_multiplier(cut_full), 1.0)
    else:
        k = np.where(mask, hazard_multiplier, 1.0)
    plan = Plan(label=f"pass-through {phi:.0%}", profit=profit, revenue=revenue,
                probs=hazard_scaled_probs(probs, k), overhead=np.zeros(h))
    parts = {"gain": gain / 12.0, "passed": passed, "cut_full": cut_full,
             "hazard_multiplier": k, "mask": mask.astype(np.float64)}
    return plan, parts


# ---------------------------------------------------------------------------------------
# exact expected values: breakdown, break-even, optimum


@dataclass(frozen=True, slots=True)
class PassThroughBreakdown:
    """Where the efficiency gains go under one pass-through (exact expected NPVs).

    Attributes
    ----------
    pass_through : float
    gain_npv : float
        NPV of the efficiency gains if none were passed back (expected, with churn).
    passed_back_npv : float
        NPV of the price cuts paid under the policy: the margin given away.
    retention_value_npv : float
        What the cut buys: extra expected NPV (before the cut) from accounts staying
        longer and buying more.
    baseline_npv : float
        Expected NPV of the targeted and other accounts without any gains.
    policy_npv : float
        Expected NPV under the policy: ``baseline + gain - passed_back + retention``.
    price_cut : float
        Revenue-weighted steady-state price cut of the targeted accounts (fraction).
    hazard_multiplier : float
        Revenue-weighted hazard multiplier of the targeted accounts.
    revenue_retained : float
        Extra expected revenue over the horizon (list prices, undiscounted) from accounts
        kept by the cut.
    """

    pass_through: float
    gain_npv: float
    passed_back_npv: float
    retention_value_npv: float
    baseline_npv: float
    policy_npv: float
    price_cut: float
    hazard_multiplier: float
    revenue_retained: float

    @property
    def kept_npv(self) -> float:
        """Gains kept as profit after pass-through and retention effects."""
        return self.gain_npv - self.passed_back_npv + self.retention_value_npv

    @property
    def net_of_pass_through(self) -> float:
        """Policy NPV minus the NPV with zero pass-through (what passing back adds)."""
        return self.retention_value_npv - self.passed_back_npv

    def to_frame(self) -> pd.DataFrame:
        """Waterfall steps: ``step``, ``value`` (currency NPV), ``kind`` (start/delta/end)."""
        return pd.DataFrame({
            "step": ["efficiency gain", "passed back as price cut",
                     "retention and volume bought", "gain kept as profit"],
            "value": [self.gain_npv, -self.passed_back_npv, self.retention_value_npv,
                      self.kept_npv],
            "kind": ["start", "delta", "delta", "end"],
        })

    def summary(self) -> pd.DataFrame:
        """Headline figures (``metric``, ``value``, ``unit``)."""
        return pd.DataFrame([
            ("pass-through", self.pass_through, "fraction"),
            ("steady-state price cut (revenue-weighted)", self.price_cut, "fraction"),
            ("hazard multiplier (revenue-weighted)", self.hazard_multiplier, "ratio"),
            ("NPV of efficiency gains", self.gain_npv, "currency"),
            ("NPV passed back (margin given away)", self.passed_back_npv, "currency"),
            ("NPV bought by retention and volume", self.retention_value_npv, "currency"),
            ("NPV of gains kept", self.kept_npv, "currency"),
            ("expected NPV without gains", self.baseline_npv, "currency"),
            ("expected NPV under the policy", self.policy_npv, "currency"),
            ("expected revenue retained", self.revenue_retained, "currency"),
        ], columns=["metric", "value", "unit"])


def pass_through_breakdown(scenario: Scenario, assumptions: PricingAssumptions,
                           pass_through: float) -> PassThroughBreakdown:
    """Exact expected-NPV breakdown of one pass-through policy.

    Parameters
    ----------
    scenario : Scenario
        Portfolio, churn model and horizon.
    assumptions : PricingAssumptions
    pass_through : float
        Fraction of the efficiency gains returned as price cuts, in [0, 1].

    Returns
    -------
    PassThroughBreakdown

    Notes
    -----
    ``passed_back`` uses the policy's survival (cuts are paid only while the account
    buys); ``retention_value = NPV(policy profit + cuts) - NPV(profit at zero
    pass-through)``. With no retention or volume response, ``retention_value = 0`` and
    passing back ``x`` of the gains costs exactly ``x`` times their NPV.

    Examples
    --------
    >>> from kamsim.portfolio.datasets import load_sample
    >>> sc = Scenario(portfolio=load_sample(), horizon_months=24)
    >>> a = PricingAssumptions(gains=EfficiencyGains(pct_of_revenue=0.02, ramp_months=0))
    >>> b = pass_through_breakdown(sc, a, 0.5)
    >>> round(b.passed_back_npv / b.gain_npv, 6)
    0.5
    """
    disc = discount_factors(scenario.horizon_months, assumptions.discount_rate)
    plan1, parts1 = _pricing_plan(scenario, assumptions, pass_through)
    plan0, parts0 = _pricing_plan(scenario, assumptions, 0.0)
    s1 = survival(scenario, plan1.probs)
    s0 = survival(scenario, plan0.probs)
    gain_npv = float((parts0["gain"] * s0 * disc).sum())
    passed = float((parts1["passed"] * s1 * disc).sum())
    n0 = float((plan0.profit * s0 * disc).sum())
    n1 = float((plan1.profit * s1 * disc).sum())
    baseline = n0 - gain_npv
    rev = np.asarray(scenario.portfolio.revenue, dtype=np.float64)
    mask = parts1["mask"] > 0
    w = rev * mask
    wsum = float(w.sum()) or 1.0
    rev_ret = float((rev[:, None] / 12.0 * (s1 - s0)).sum())
    return PassThroughBreakdown(
        pass_through=float(pass_through), gain_npv=gain_npv, passed_back_npv=passed,
        retention_value_npv=n1 - n0 + passed, baseline_npv=baseline, policy_npv=n1,
        price_cut=float((parts1["cut_full"] * w).sum() / wsum),
        hazard_multiplier=float((parts1["hazard_multiplier"] * w).sum() / wsum),
        revenue_retained=rev_ret)


def pass_through_curve(scenario: Scenario, assumptions: PricingAssumptions,
                       grid: Sequence[float] | int = 21) -> pd.DataFrame:
    """Exact expected NPV and its parts over a grid of pass-through values.

    Returns
    -------
    pandas.DataFrame
        Columns ``pass_through, price_cut, hazard_multiplier, gain_npv, passed_back_npv,
        retention_value_npv, kept_npv, policy_npv, net_of_pass_through``.
    """
    values = np.linspace(0.0, 1.0, grid) if isinstance(grid, int) else np.asarray(grid)
    rows = []
    for phi in values:
        b = pass_through_breakdown(scenario, assumptions, float(phi))
        rows.append({"pass_through": b.pass_through, "price_cut": b.price_cut,
                     "hazard_multiplier": b.hazard_multiplier, "gain_npv": b.gain_npv,
                     "passed_back_npv": b.passed_back_npv,
                     "retention_value_npv": b.retention_value_npv, "kept_npv": b.kept_npv,
                     "policy_npv": b.policy_npv,
                     "net_of_pass_through": b.net_of_pass_through})
    return pd.DataFrame(rows)


@dataclass(frozen=True, slots=True)
class RetentionBreakEven:
    """The retention a pass-through must buy to pay for itself.

    Attributes
    ----------
    pass_through : float
    required_hazard_multiplier : float
        Hazard multiplier on the targeted accounts at which the policy's expected NPV
        equals that of zero pass-through; NaN if even zero churn would not pay.
    assumed_hazard_multiplier : float
        What the :class:`RetentionResponse` curve assumes (revenue-weighted).
    churn_prob_before : float
        Revenue-weighted annual churn probability of the targeted accounts today.
    churn_prob_required : float
        The same after the required multiplier (NaN if unreachable).
    pays_for_itself : bool
        Whether the assumed response reaches the required retention.
    """

    pass_through: float
    required_hazard_multiplier: float
    assumed_hazard_multiplier: float
    churn_prob_before: float
    churn_prob_required: float
    pays_for_itself: bool

    @property
    def required_hazard_reduction(self) -> float:
        """``1 - required_hazard_multiplier``: the relative drop in churn hazard needed."""
        return 1.0 - self.required_hazard_multiplier

    def summary(self) -> pd.DataFrame:
        """Headline figures (``metric``, ``value``, ``unit``)."""
        return pd.DataFrame([
            ("pass-through", self.pass_through, "fraction"),
            ("required hazard multiplier", self.required_hazard_multiplier, "ratio"),
            ("required hazard reduction", self.required_hazard_reduction, "fraction"),
            ("assumed hazard multiplier", self.assumed_hazard_multiplier, "ratio"),
            ("annual churn probability now", self.churn_prob_before, "probability"),
            ("annual churn probability required", self.churn_prob_required, "probability"),
            ("pays for itself", float(self.pays_for_itself), "bool"),
        ], columns=["metric", "value", "unit"])


def break_even_retention(scenario: Scenario, assumptions: PricingAssumptions,
                         pass_through: float) -> RetentionBreakEven:
    """The churn-hazard reduction a pass-through must buy to pay for itself.

    Solves ``E[NPV](pass_through, hazard x k) = E[NPV](0)`` for the hazard multiplier
    ``k`` on the targeted accounts (volume response kept as assumed), with
    :func:`scipy.optimize.brentq` on exact expected values (decreasing in ``k`` when
    accounts are profitable).

    Examples
    --------
    >>> from kamsim.portfolio.datasets import load_sample
    >>> sc = Scenario(portfolio=load_sample(), horizon_months=36)
    >>> a = PricingAssumptions(gains=EfficiencyGains(pct_of_revenue=0.02))
    >>> be = break_even_retention(sc, a, 0.5)
    >>> 0 < be.required_hazard_multiplier < 1, be.pays_for_itself
    (True, False)
    """
    disc = discount_factors(scenario.horizon_months, assumptions.discount_rate)
    plan0, _ = _pricing_plan(scenario, assumptions, 0.0)
    target = expected_npv(scenario, plan0, disc)

    def f(k: float) -> float:
        plan, _ = _pricing_plan(scenario, assumptions, pass_through, hazard_multiplier=k)
        return expected_npv(scenario, plan, disc) - target

    plan_a, parts = _pricing_plan(scenario, assumptions, pass_through)
    mask = parts["mask"] > 0
    rev = np.asarray(scenario.portfolio.revenue, dtype=np.float64) * mask
    wsum = float(rev.sum()) or 1.0
    assumed = float((parts["hazard_multiplier"] * rev).sum() / wsum)
    f1, f0 = f(1.0), f(0.0)
    if f1 >= 0:
        k_req = 1.0
    elif f0 < 0:
        k_req = math.nan
    else:
        k_req = float(optimize.brentq(f, 0.0, 1.0, xtol=1e-12, rtol=1e-10))
    p = scenario.annual_probs()
    before = float((p * rev).sum() / wsum)
    required = (math.nan if math.isnan(k_req)
                else float((hazard_scaled_probs(p, k_req) * rev).sum() / wsum))
    pays = expected_npv(scenario, plan_a, disc) >= target - 1e-9 * max(abs(target), 1.0)
    return RetentionBreakEven(
        pass_through=float(pass_through), required_hazard_multiplier=k_req,
        assumed_hazard_multiplier=assumed, churn_prob_before=before,
        churn_prob_required=required, pays_for_itself=bool(pays))


# ---------------------------------------------------------------------------------------
# Monte Carlo on common random numbers


@dataclass(frozen=True, eq=False)
class PolicyComparison:
    """Per-path NPVs of several policies on common (or independent) random numbers.

    Attributes
    ----------
    labels : list of str
        Policy names; the first is the reference for differences.
    values : list of float
        The policy parameter (pass-through, or 0/1 for program on/off).
    npv_paths : ndarray
        ``(n_policies, n_paths)`` NPV of each path under each policy (currency).
    expected : ndarray
        Exact expected NPV of each policy (no Monte Carlo error).
    seed : int
        Root seed; with ``crn`` every policy used this seed.
    crn : bool
        Common random numbers (True) or independent streams per policy.
    level : float
        Level of the Expected Shortfall of NPV reported (e.g. 0.95: worst 5 %).
    """

    labels: list[str]
    values: list[float]
    npv_paths: FloatArray = field(repr=False)
    expected: FloatArray = field(repr=False)
    seed: int = 0
    crn: bool = True
    level: float = 0.95

    @property
    def n_paths(self) -> int:
        """Paths per policy."""
        return int(self.npv_paths.shape[1])

    def differences(self, reference: int = 0) -> FloatArray:
        """Per-path NPV differences from policy ``reference``."""
        return np.asarray(self.npv_paths - self.npv_paths[reference], dtype=np.float64)

    def difference_se(self, reference: int = 0) -> FloatArray:
        """Standard error of each mean difference from ``reference``.

        With common random numbers the paths are paired: ``sd(diff) / sqrt(n)``; with
        independent streams: ``sqrt(var_a / n + var_b / n)``.
        """
        n = self.n_paths
        if self.crn:
            return np.asarray(self.differences(reference).std(axis=1, ddof=1) / np.sqrt(n))
        var = self.npv_paths.var(axis=1, ddof=1)
        out = np.sqrt(var / n + var[reference] / n)
        out[reference] = 0.0
        return np.asarray(out)

    def risk_adjusted(self, weight: float) -> FloatArray:
        """``mean - weight * ES`` with ES the expected shortfall of NPV below its mean.

        ``ES = mean - (mean of the worst 1 - level of paths)``, so weight 0 is the mean
        and weight 1 the tail mean.
        """
        means = self.npv_paths.mean(axis=1)
        tails = np.array([lower_tail_mean(x, self.level) for x in self.npv_paths])
        return np.asarray(means - weight * (means - tails))

    def to_frame(self) -> pd.DataFrame:
        """Per-path NPVs: index ``path``, one column per policy label."""
        df = pd.DataFrame(self.npv_paths.T, columns=self.labels)
        df.index.name = "path"
        return df

    def summary(self, reference: int = 0) -> pd.DataFrame:
        """One row per policy.

        Columns ``policy, value, expected_npv`` (exact), ``mc_mean, mc_se, sd, p05,
        tail_mean`` (mean of the worst ``1 - level``), ``diff_vs_ref, diff_se,
        diff_exact`` (exact expected difference), ``p_better`` (share of paths where the
        policy beats the reference).
        """
        x = self.npv_paths
        n = self.n_paths
        d = self.differences(reference)
        return pd.DataFrame({
            "policy": self.labels,
            "value": self.values,
            "expected_npv": self.expected,
            "mc_mean": x.mean(axis=1),
            "mc_se": x.std(axis=1, ddof=1) / np.sqrt(n),
            "sd": x.std(axis=1, ddof=1),
            "p05": np.quantile(x, 0.05, axis=1),
            "tail_mean": [lower_tail_mean(r, self.level) for r in x],
            "diff_vs_ref": d.mean(axis=1),
            "diff_se": self.difference_se(reference),
            "diff_exact": self.expected - self.expected[reference],
            "p_better": (d > 0).mean(axis=1),
        })


def evaluate_plans(scenario: Scenario, plans: Sequence[Plan], values: Sequence[float],
                   disc: FloatArray, *, n_paths: int, rng: np.random.Generator | int | None,
                   crn: bool = True, level: float = 0.95) -> PolicyComparison:
    """Per-path NPVs of plans on common (or independent) random numbers (shared core)."""
    n_paths = check_n_paths(n_paths)
    _number(level, "level", lo=0.0, hi=1.0, lo_open=True, hi_open=True)
    seed = root_seed(rng)
    streams: list[np.random.SeedSequence | int]
    streams = [seed] * len(plans) if crn else list(np.random.SeedSequence(seed).spawn(len(plans)))
    cache: dict[bytes, tuple[IntArray, IntArray, IntArray, FloatArray]] = {}
    rows = []
    for p, s in zip(plans, streams, strict=True):
        if crn:  # plans with the same probabilities share the same events
            key = np.ascontiguousarray(p.probs).tobytes()
            if key not in cache:
                cache[key] = plan_events(scenario, p.probs, n_paths, s)
            ev = cache[key]
        else:
            ev = plan_events(scenario, p.probs, n_paths, s)
        rows.append(npv_from_events(p, disc, n_paths, ev))
    paths = np.vstack(rows)
    expected = np.array([expected_npv(scenario, p, disc) for p in plans])
    return PolicyComparison(labels=[p.label for p in plans], values=[float(v) for v in values],
                            npv_paths=paths, expected=expected, seed=seed, crn=crn,
                            level=level)


def compare_pass_through(
    scenario: Scenario,
    assumptions: PricingAssumptions,
    pass_through: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 1.0),
    *,
    n_paths: int = 10_000,
    rng: np.random.Generator | int | None = None,
    crn: bool = True,
    level: float = 0.95,
) -> PolicyComparison:
    """Monte Carlo NPV distributions of pass-through policies on common random numbers.

    Parameters
    ----------
    scenario : Scenario
    assumptions : PricingAssumptions
    pass_through : sequence of float
        Policies to compare; the first is the reference for differences.
    n_paths : int
        Simulated futures per policy.
    rng : numpy.random.Generator, int or None
        Root seed (SPEC 7); recorded in ``result.seed``.
    crn : bool
        Use the same churn draws for every policy (default). ``False`` gives each policy
        its own stream: only useful to show how much common random numbers help.
    level : float
        Expected Shortfall level of the NPV tail.

    Returns
    -------
    PolicyComparison

    Examples
    --------
    >>> from kamsim.portfolio.datasets import load_sample
    >>> sc = Scenario(portfolio=load_sample(), horizon_months=24)
    >>> a = PricingAssumptions(response=RetentionResponse(hazard_change_per_point=-0.2))
    >>> cmp = compare_pass_through(sc, a, (0.0, 1.0), n_paths=2000, rng=7)
    >>> s = cmp.summary()
    >>> bool(abs(s.diff_vs_ref[1] - s.diff_exact[1]) < 4 * s.diff_se[1])
    True
    """
    base = _plan_base(scenario, assumptions)
    plans = [_pricing_plan(scenario, assumptions, float(phi), base=base)[0]
             for phi in pass_through]
    disc = discount_factors(scenario.horizon_months, assumptions.discount_rate)
    return evaluate_plans(scenario, plans, list(pass_through), disc, n_paths=n_paths,
                          rng=rng, crn=crn, level=level)


@dataclass(frozen=True, slots=True)
class OptimalPassThrough:
    """The pass-through that maximises the chosen objective.

    Attributes
    ----------
    pass_through : float
    objective : str
        ``"mean"`` (exact expected NPV, grid + bounded optimiser) or ``"risk_adjusted"``
        (Monte Carlo ``mean - weight * ES`` on common random numbers, best grid point).
    value : float
        Objective at the optimum (currency).
    gain_vs_zero : float
        Objective at the optimum minus at zero pass-through.
    grid : pandas.DataFrame
        ``pass_through, objective`` (and Monte Carlo columns for ``"risk_adjusted"``).
    comparison : PolicyComparison or None
        The Monte Carlo run behind ``"risk_adjusted"``.
    """

    pass_through: float
    objective: str
    value: float
    gain_vs_zero: float
    grid: pd.DataFrame = field(repr=False)
    comparison: PolicyComparison | None = field(default=None, repr=False)


def optimal_pass_through(
    scenario: Scenario,
    assumptions: PricingAssumptions,
    *,
    objective: Literal["mean", "risk_adjusted"] = "mean",
    risk_weight: float = 0.5,
    level: float = 0.95,
    grid: int = 21,
    n_paths: int = 5_000,
    rng: np.random.Generator | int | None = None,
) -> OptimalPassThrough:
    """Find the pass-through in [0, 1] that maximises expected or risk-adjusted NPV.

    ``"mean"``: exact expected NPV on a grid, refined with
    :func:`scipy.optimize.minimize_scalar` (bounded) around the best grid point.
    ``"risk_adjusted"``: ``mean - risk_weight * ES`` (ES of NPV below its mean at
    ``level``, see :meth:`PolicyComparison.risk_adjusted`) from Monte Carlo on common
    random numbers; the best grid point is returned (Monte Carlo noise makes finer
    optimisation meaningless).

    Examples
    --------
    >>> from kamsim.portfolio.datasets import load_sample
    >>> sc = Scenario(portfolio=load_sample(), horizon_months=36)
    >>> a = PricingAssumptions()   # no retention response: passing back only costs
    >>> optimal_pass_through(sc, a).pass_through
    0.0
    """
    if isinstance(grid, bool) or not isinstance(grid, int) or grid < 2:
        raise AssumptionError(f"must be a whole number >= 2, got {grid!r}", field="grid")
    _number(risk_weight, "risk_weight", lo=0.0)
    values = np.linspace(0.0, 1.0, grid)
    disc = discount_factors(scenario.horizon_months, assumptions.discount_rate)

    base = _plan_base(scenario, assumptions)

    def npv(phi: float) -> float:
        return expected_npv(scenario, _pricing_plan(scenario, assumptions, phi, base=base)[0],
                            disc)

    match objective:
        case "mean":
            obj = np.array([npv(float(v)) for v in values])
            i = int(np.argmax(obj))
            lo, hi = values[max(i - 1, 0)], values[min(i + 1, grid - 1)]
            res = optimize.minimize_scalar(lambda x: -npv(float(x)), bounds=(lo, hi),
                                           method="bounded", options={"xatol": 1e-6})
            best_x, best = float(values[i]), float(obj[i])
            if res.success and -float(res.fun) > best:
                best_x, best = float(res.x), -float(res.fun)
            table = pd.DataFrame({"pass_through": values, "objective": obj})
            return OptimalPassThrough(pass_through=best_x, objective="mean", value=best,
                                      gain_vs_zero=best - float(obj[0]), grid=table)
        case "risk_adjusted":
            cmp = compare_pass_through(scenario, assumptions, values.tolist(),
                                       n_paths=n_paths, rng=rng, level=level)
            obj = cmp.risk_adjusted(risk_weight)
            i = int(np.argmax(obj))
            table = cmp.summary()[["value", "mc_mean", "tail_mean", "diff_se"]].rename(
                columns={"value": "pass_through"})
            table.insert(1, "objective", obj)
            return OptimalPassThrough(pass_through=float(values[i]), objective=objective,
                                      value=float(obj[i]), gain_vs_zero=float(obj[i] - obj[0]),
                                      grid=table, comparison=cmp)
        case _:
            msg = f"objective must be 'mean' or 'risk_adjusted', got {objective!r}"
            raise AssumptionError(msg)
