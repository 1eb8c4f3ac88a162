"""The shared NPV kernel of the money decisions: scope, discounting, hazard scaling, survival.

A :class:`Plan` is what a decision does to each account (churn probabilities, volume,
margin, costs); :func:`expected_npv` values it exactly from survival probabilities and
:func:`path_npv` on simulated futures with common random numbers. Pricing, the KAM
program, negotiation and the retention optimiser all value their options through it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from kamsim.engine import churn_events
from kamsim.exceptions import AssumptionError
from kamsim.model import Scenario
from kamsim.risk import expected_shortfall

__all__ = [
    "Plan",
    "check_n_paths",
    "discount_factors",
    "expected_npv",
    "hazard_scaled_probs",
    "lower_tail_mean",
    "npv_from_events",
    "path_npv",
    "plan_events",
    "scope_mask",
    "survival",
    "tiers_field",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]


# ---------------------------------------------------------------------------------------
# validation helpers (shared with kamsim.economics.program and kamsim.economics.negotiation)





def tiers_field(value: Any, name: str) -> tuple[str, ...] | None:
    """The ``tiers`` field of an assumption: None (every account) or a tuple of tier names."""
    if value is None:
        return None
    if isinstance(value, str):
        return (value,)
    try:
        out = tuple(str(t) for t in value)
    except TypeError:
        raise AssumptionError(f"must be a list of tier names or None, got {value!r}",
                              field=name) from None
    if not out:
        raise AssumptionError("must name at least one tier (or be None for all accounts)",
                              field=name)
    return out


def scope_mask(scenario: Scenario, tiers: Sequence[str] | None, name: str = "tiers"
               ) -> BoolArray:
    """Accounts in the given tiers (all accounts for ``None``); unknown tiers raise."""
    n = scenario.portfolio.n_accounts
    if tiers is None:
        return np.ones(n, dtype=bool)
    acc_tiers = scenario.tiers()
    present = sorted(set(acc_tiers))
    unknown = sorted(set(tiers) - set(present))
    if unknown:
        raise AssumptionError(f"unknown tier(s) {unknown}; the portfolio's tiers are {present}",
                              field=name)
    wanted = set(tiers)
    return np.array([t in wanted for t in acc_tiers], dtype=bool)


def discount_factors(horizon_months: int, rate: float) -> FloatArray:
    """Monthly discount factors ``(1 + r)^(-t / 12)`` for ``t = 1..horizon_months``.

    Examples
    --------
    >>> discount_factors(12, 0.10)[-1].round(6)
    np.float64(0.909091)
    """
    t = np.arange(1, horizon_months + 1, dtype=np.float64)
    return np.power(1.0 + rate, -t / 12.0)


def hazard_scaled_probs(probs: FloatArray, multiplier: FloatArray | float) -> FloatArray:
    """Annual churn probabilities after multiplying the (constant) hazard by ``multiplier``.

    ``p' = 1 - (1 - p)^k``: exact for the engine's continuous-time churn clock.

    Examples
    --------
    >>> hazard_scaled_probs(np.array([0.19, 0.0, 1.0]), 0.5).round(4).tolist()
    [0.1, 0.0, 1.0]
    """
    p = np.asarray(probs, dtype=np.float64)
    k = np.broadcast_to(np.asarray(multiplier, dtype=np.float64), p.shape)
    out = 1.0 - np.power(1.0 - p, k)
    return np.where(p >= 1.0, np.where(k > 0, 1.0, 0.0), np.clip(out, 0.0, 1.0))


# ---------------------------------------------------------------------------------------
# shared valuation core: a plan is a monthly profit schedule + churn probabilities


@dataclass(frozen=True, slots=True)
class Plan:
    """One policy as the valuation core sees it (internal, shared with program/negotiation).

    ``profit`` (accounts x months) is each account's monthly profit while it buys;
    ``revenue`` the same for revenue; ``probs`` annual churn probabilities;
    ``overhead`` (months) cash flows that do not depend on churn (e.g. a program's fixed
    cost, negative).
    """

    label: str
    profit: FloatArray
    revenue: FloatArray
    probs: FloatArray
    overhead: FloatArray


def survival(scenario: Scenario, probs: FloatArray) -> FloatArray:
    """Expected fraction of each account's business still there in months 1..H.

    With decision month ``ceil(T)``, ``P(T <= k) = 1 - (1 - p)^(k/12)`` and revenue stopping
    ``notice`` months later, ``P(stopped by t) = 1 - (1 - p)^((t - notice)/12)`` for
    ``t > notice``; a churn event removes on average ``1 - pp + pp * a / (a + b)`` of it.
    """
    h = scenario.horizon_months
    notice = scenario.churn.notice_months
    t = np.arange(1, h + 1, dtype=np.float64)
    k = np.maximum(t - notice, 0.0)
    p = np.asarray(probs, dtype=np.float64)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        stopped = 1.0 - np.power(1.0 - p, k[None, :] / 12.0)
    stopped = np.where(k[None, :] > 0, np.nan_to_num(stopped, nan=1.0), 0.0)
    a, b = scenario.churn.partial_beta
    pp = scenario.partial_probs()[:, None]
    mean_frac = 1.0 - pp + pp * a / (a + b)
    return np.asarray(1.0 - stopped * mean_frac, dtype=np.float64)


def expected_npv(scenario: Scenario, plan: Plan, disc: FloatArray) -> float:
    """Exact expected NPV of a plan (profit x survival x discount, plus overhead)."""
    s = survival(scenario, plan.probs)
    return float((plan.profit * s * disc).sum() + (plan.overhead * disc).sum())


def _scenario_with_probs(scenario: Scenario, probs: FloatArray) -> Scenario:
    pf = scenario.portfolio.replace(churn_prob=np.clip(probs, 0.0, 1.0))
    churn = replace(scenario.churn, tier_probs=None, annual_prob=None, level=1.0)
    return replace(scenario, portfolio=pf, churn=churn)


def plan_events(scenario: Scenario, probs: FloatArray, n_paths: int,
                rng: np.random.SeedSequence | int
                ) -> tuple[IntArray, IntArray, IntArray, FloatArray]:
    """Churn events ``(path, account, stop month, fraction)`` under the plan's probabilities."""
    ev = churn_events(_scenario_with_probs(scenario, probs), n_paths=n_paths, rng=rng)
    return (ev["path"].to_numpy(dtype=np.int64), ev["account"].to_numpy(dtype=np.int64),
            ev["stop_month"].to_numpy(dtype=np.int64), ev["fraction"].to_numpy(dtype=float))


def npv_from_events(plan: Plan, disc: FloatArray, n_paths: int,
                    events: tuple[IntArray, IntArray, IntArray, FloatArray]) -> FloatArray:
    """Per-path NPV of ``plan`` given the churn events of :func:`plan_events`."""
    path, acc, stop, frac = events
    pv = plan.profit * disc  # accounts x months
    tail = np.cumsum(pv[:, ::-1], axis=1)[:, ::-1]  # tail[i, s-1] = sum_{t>=s} pv[i, t-1]
    base = float(pv.sum() + (plan.overhead * disc).sum())
    lost = np.bincount(path, frac * tail[acc, stop - 1], minlength=n_paths)
    return np.asarray(base - lost, dtype=np.float64)


def path_npv(scenario: Scenario, plan: Plan, disc: FloatArray, *, n_paths: int,
             rng: np.random.SeedSequence | int) -> FloatArray:
    """Per-path NPV of a plan on the churn events of ``churn_events(..., rng=rng)``.

    The scenario's churn probabilities are replaced by ``plan.probs`` (as a
    ``churn_prob`` column); the uniform draws stay the same for a given ``rng``.
    """
    return npv_from_events(plan, disc, n_paths, plan_events(scenario, plan.probs, n_paths, rng))


def check_n_paths(n_paths: Any) -> int:
    """``n_paths`` as a whole number >= 2, or an AssumptionError."""
    if isinstance(n_paths, bool) or not isinstance(n_paths, int | np.integer) or n_paths < 2:
        msg = f"n_paths must be a whole number >= 2, got {n_paths!r}"
        raise AssumptionError(msg)
    return int(n_paths)


def lower_tail_mean(x: FloatArray, level: float) -> float:
    """Mean of the worst ``1 - level`` share of ``x`` (low values are bad), fractional."""
    return -expected_shortfall(-np.asarray(x, dtype=np.float64), level)
