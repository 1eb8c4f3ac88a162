"""Where to spend the retention budget: a mean-CVaR choice of account plans.

Given a menu of retention plans (:mod:`kamsim.model.plans`) and a budget, choose one plan for
each key account in scope so that the bad years get less bad for the least money.

The futures
-----------
:func:`retention_futures` simulates ``S`` futures of the scenario's churn model with
**common random numbers**: every plan's churn probabilities are fed to
:func:`kamsim.engine.churn_events` with the same seed, so in each future an account's
churn decision under every plan follows from the same uniform draw (an account kept by a
weaker plan is also kept by a stronger one), and the accounts' shared shock is the same
whatever the plans. Partial losses use one draw per account and future, whatever the plan.
In future ``s`` the portfolio's NPV is then linear in the choices ``x_ij`` (account ``i``
on plan ``j``)::

    NPV_s(x) = O_s + sum_ij x_ij (V_ij - D_ijs) - sum_j y_j F_j

with ``O_s`` the NPV of the accounts out of scope, ``V_ij`` the NPV of account ``i`` on
plan ``j`` if it never left (profit minus the plan's costs, discounted monthly as in
:mod:`kamsim.economics.pricing`), ``D_ijs`` what its churn in that future takes away, and ``F_j``
the NPV of plan ``j``'s fixed cost (``y_j = 1`` when any account is on it). The loss of a
future is, with ``risk="churn"`` (the default), the NPV that churn takes away,
``L_s = (O_full - O_s) + sum_ij x_ij D_ijs``: how bad the bad years' churn is, while the
plans' costs are charged to the expected NPV and the budget. With ``risk="npv"`` it is the
shortfall of the whole NPV, ``L_s = C - NPV_s`` (``C`` the NPV if no account left and none
got a plan), costs included: a plan then lowers ES only if what it saves in the bad
futures exceeds what it costs. Either way the loss is linear in ``x``; its Expected
Shortfall ``ES`` at ``level`` is the mean loss in the worst ``1 - level`` of futures.

As in :mod:`kamsim.economics.pricing`, lost business is not replaced in these NPVs (the
scenario's replacement assumptions are not used): the plans are compared on what they keep.

The optimiser
-------------
:func:`optimise_retention` solves the scenario form of mean-CVaR (Rockafellar & Uryasev
2000): ``ES = min_eta eta + sum_s max(L_s - eta, 0) / ((1 - level) S)`` is linear once
``u_s >= L_s - eta, u_s >= 0`` are added, so with binary ``x`` and ``y`` the problem is a
mixed-integer linear programme, solved by HiGHS through :func:`scipy.optimize.milp`:

* ``objective="mean_es"``: maximise ``E[NPV] - risk_aversion * ES``;
* ``objective="min_es"``: minimise ``ES`` subject to ``E[NPV] >= npv_floor``;

both subject to one plan per account, the budget, per-plan caps and forced or fixed
choices (:class:`kamsim.model.plans.RetentionBudget`). ``E[NPV]`` is the exact expectation of
the churn model (no Monte Carlo noise); ``ES`` comes from the ``S`` futures. The solver
proves an optimality gap (the distance between the allocation found and the best bound);
it is reported in currency.

Honest evaluation
-----------------
An optimum chosen on ``S`` futures looks better on those futures than it is (the
optimiser's curse). :func:`plan_retention` therefore evaluates the chosen allocation on a
**fresh, independent** set of futures, beside the simple rules a strategist would
otherwise use (:func:`simple_rules`: top-k by revenue, top-k by key-account score,
spending pro rata to revenue), with Monte Carlo standard errors; differences between
allocations are paired on the same fresh futures.

References
----------
Rockafellar, R. T. and Uryasev, S. (2000). Optimization of conditional value-at-risk.
Journal of Risk 2(3), 21-41.
Hong, L. J. and Liu, G. (2009). Simulating sensitivities of conditional value at risk.
Management Science 55(2), 281-293 (the influence function behind the ES standard errors).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import optimize, sparse

from kamsim._util.rng import root_seed
from kamsim._util.validate import number as _number
from kamsim.analysis.key_accounts import key_account_scores
from kamsim.economics.npv import discount_factors, hazard_scaled_probs, scope_mask, survival
from kamsim.economics.pricing import base_contribution
from kamsim.economics.program import DEFAULT_TACTICS, Tactic
from kamsim.engine import churn_events
from kamsim.exceptions import AssumptionError
from kamsim.model import Scenario
from kamsim.model.plans import (
    RetentionBudget,
    RetentionPlans,
    check_plan_inputs,
)
from kamsim.risk import expected_shortfall, value_at_risk

__all__ = [
    "Allocation",
    "RetentionFrontier",
    "RetentionFutures",
    "RetentionOptimum",
    "RetentionStudy",
    "evaluate_allocations",
    "optimise_retention",
    "plan_retention",
    "retention_budget_table",
    "retention_frontier",
    "retention_futures",
    "simple_rules",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
Objective = Literal["mean_es", "min_es"]
Risk = Literal["churn", "npv"]
_RISK_LABEL = {"churn": "NPV lost to churn", "npv": "NPV shortfall (churn and plan costs)"}
RngLike = np.random.Generator | np.random.SeedSequence | int | None


# ---------------------------------------------------------------------------------------
# futures: per account, plan and future, the NPV a plan leads to


@dataclass(frozen=True, eq=False)
class RetentionFutures:
    """The NPV of every account under every plan in ``S`` futures (common random numbers).

    Built by :func:`retention_futures`. ``n`` accounts in scope, ``J`` plans, ``S``
    futures; currency amounts are NPVs at the plans' discount rate unless stated.

    Attributes
    ----------
    scenario : Scenario
    plans : RetentionPlans
    account_ids : numpy.ndarray
        The ``n`` accounts in scope, in portfolio order.
    positions : numpy.ndarray
        Their 0-based positions in the portfolio.
    plan_names : tuple of str
    default : int
        Index of the default plan.
    allowed : numpy.ndarray
        ``(n, J)``: plan on offer for the account (overrides may withdraw one).
    spend : numpy.ndarray
        ``(n, J)`` planned spend against the budget (undiscounted, see :mod:`kamsim.model.plans`).
    fixed_spend : numpy.ndarray
        ``(J,)`` planned fixed spend of running each plan at all.
    fixed_npv : numpy.ndarray
        ``(J,)`` NPV of that fixed cost.
    full : numpy.ndarray
        ``(n, J)`` NPV of the account on the plan if it never leaves (one-off cost
        included).
    expected : numpy.ndarray
        ``(n, J)`` exact expected NPV of the account on the plan.
    lost : numpy.ndarray
        ``(S, n, J)`` NPV that the account's churn takes away in each future.
    other : numpy.ndarray
        ``(S,)`` NPV of the accounts out of scope in each future.
    other_expected : float
        Its exact expectation.
    reference : float
        ``C``: the NPV if no account left and every account stayed on the default plan.
    other_full : float
        NPV of the accounts out of scope if none of them left.
    probs : numpy.ndarray
        ``(n, J)`` annual churn probability of the account on each plan.
    seed : int or tuple of int
        Entropy of the random stream (reproduces the futures).
    """

    scenario: Scenario = field(repr=False)
    plans: RetentionPlans = field(repr=False)
    account_ids: npt.NDArray[Any] = field(repr=False)
    positions: IntArray = field(repr=False)
    plan_names: tuple[str, ...]
    default: int
    allowed: BoolArray = field(repr=False)
    spend: FloatArray = field(repr=False)
    fixed_spend: FloatArray = field(repr=False)
    fixed_npv: FloatArray = field(repr=False)
    full: FloatArray = field(repr=False)
    expected: FloatArray = field(repr=False)
    lost: FloatArray = field(repr=False)
    other: FloatArray = field(repr=False)
    other_expected: float = field(repr=False)
    reference: float = field(repr=False)
    other_full: float = field(repr=False)
    probs: FloatArray = field(repr=False)
    seed: int | tuple[int, ...] = 0

    @property
    def n_paths(self) -> int:
        """Number of futures ``S``."""
        return int(self.lost.shape[0])

    @property
    def n_accounts(self) -> int:
        """Accounts in scope ``n``."""
        return int(self.full.shape[0])

    @property
    def n_plans(self) -> int:
        """Plans on the menu ``J``."""
        return len(self.plan_names)

    def _choice(self, allocation: Allocation | npt.ArrayLike) -> IntArray:
        c = allocation.choice if isinstance(allocation, Allocation) else allocation
        arr = np.asarray(c, dtype=np.int64)
        if arr.shape != (self.n_accounts,) or arr.min(initial=0) < 0 or \
                arr.max(initial=0) >= self.n_plans:
            msg = (f"an allocation is one plan index in [0, {self.n_plans}) for each of the "
                   f"{self.n_accounts} accounts in scope, got shape {arr.shape}")
            raise AssumptionError(msg)
        return arr

    def used(self, allocation: Allocation | npt.ArrayLike) -> BoolArray:
        """Which plans the allocation uses at all (their fixed costs are due)."""
        c = self._choice(allocation)
        return np.bincount(c, minlength=self.n_plans) > 0

    def spend_of(self, allocation: Allocation | npt.ArrayLike) -> float:
        """Planned spend of an allocation against the budget."""
        c = self._choice(allocation)
        rows = np.arange(self.n_accounts)
        return float(self.spend[rows, c].sum() + self.fixed_spend[self.used(c)].sum())

    def expected_npv(self, allocation: Allocation | npt.ArrayLike) -> float:
        """Exact expected NPV of the portfolio under an allocation."""
        c = self._choice(allocation)
        rows = np.arange(self.n_accounts)
        return float(self.other_expected + self.expected[rows, c].sum()
                     - self.fixed_npv[self.used(c)].sum())

    def npv(self, allocation: Allocation | npt.ArrayLike) -> FloatArray:
        """Portfolio NPV in each future under an allocation, ``(S,)``."""
        c = self._choice(allocation)
        rows = np.arange(self.n_accounts)
        kept = self.full[rows, c].sum() - self.fixed_npv[self.used(c)].sum()
        return np.asarray(self.other + kept - self.lost[:, rows, c].sum(axis=1),
                          dtype=np.float64)

    def loss(self, allocation: Allocation | npt.ArrayLike, risk: Risk = "churn"
             ) -> FloatArray:
        """Loss in each future (positive = worse), ``(S,)``.

        ``risk="churn"``: the NPV that churn takes away (in scope and out of scope); the
        plans' costs are not in it (they are in the expected NPV and the budget).
        ``risk="npv"``: the shortfall ``C - NPV`` of the portfolio's NPV, costs included.
        """
        match risk:
            case "churn":
                c = self._choice(allocation)
                rows = np.arange(self.n_accounts)
                return np.asarray(self.other_full - self.other
                                  + self.lost[:, rows, c].sum(axis=1), dtype=np.float64)
            case "npv":
                return np.asarray(self.reference - self.npv(allocation), dtype=np.float64)
            case _:
                msg = f"risk must be 'churn' or 'npv', got {risk!r}"
                raise AssumptionError(msg)

    def allocation(self, plans: Mapping[str, str] | Sequence[str] | npt.ArrayLike,
                   label: str = "allocation") -> Allocation:
        """An :class:`Allocation` from plan names per account (mapping or sequence) or indices.

        A mapping names some accounts; the others get the default plan.
        """
        names = list(self.plan_names)
        c = np.full(self.n_accounts, self.default, dtype=np.int64)
        if isinstance(plans, Mapping):
            pos = {str(a): k for k, a in enumerate(self.account_ids)}
            for a, p in plans.items():
                if str(a) not in pos:
                    raise AssumptionError(f"account {a!r} is not in scope", field="allocation")
                if p not in names:
                    raise AssumptionError(f"unknown plan {p!r}; the menu has {names}",
                                          field="allocation")
                c[pos[str(a)]] = names.index(p)
        else:
            seq: list[Any] = list(plans)  # type: ignore[arg-type]
            if seq and isinstance(seq[0], str):
                bad = sorted({str(p) for p in seq if p not in names})
                if bad:
                    raise AssumptionError(f"unknown plan(s) {bad}; the menu has {names}",
                                          field="allocation")
                c = np.array([names.index(str(p)) for p in seq], dtype=np.int64)
            else:
                c = np.asarray(seq, dtype=np.int64)
        return Allocation(label=label, choice=self._choice(c), account_ids=self.account_ids,
                          plan_names=self.plan_names)


@dataclass(frozen=True, eq=False)
class Allocation:
    """One plan for each account in scope.

    Attributes
    ----------
    label : str
        Name shown in tables ("optimised", "top-k by revenue (standard KAM)", ...).
    choice : numpy.ndarray
        Plan index per account (into ``plan_names``).
    account_ids : numpy.ndarray
    plan_names : tuple of str
    """

    label: str
    choice: IntArray = field(repr=False)
    account_ids: npt.NDArray[Any] = field(repr=False)
    plan_names: tuple[str, ...] = field(repr=False)

    def plans(self) -> list[str]:
        """Plan name of each account, in portfolio order."""
        return [self.plan_names[int(k)] for k in self.choice]

    def to_series(self) -> pd.Series:
        """Plan name per account, indexed by ``account_id``."""
        return pd.Series(self.plans(), index=pd.Index(self.account_ids, name="account_id"),
                         name=self.label)

    def counts(self) -> pd.Series:
        """Number of accounts on each plan (menu order)."""
        n = np.bincount(self.choice, minlength=len(self.plan_names))
        return pd.Series(n, index=pd.Index(self.plan_names, name="plan"), name="n_accounts")


@dataclass(frozen=True, slots=True)
class _Menu:
    """The menu resolved per account in scope: (n, J) arrays."""

    positions: IntArray
    allowed: BoolArray
    hazard: FloatArray
    price_cut: FloatArray
    margin: FloatArray
    volume: FloatArray
    efficiency: FloatArray
    one_off: FloatArray
    monthly: FloatArray
    fixed_monthly: FloatArray  # (J,)


def _resolve_menu(scenario: Scenario, plans: RetentionPlans,
                  tactics: Sequence[Tactic]) -> _Menu:
    pf = scenario.portfolio
    positions = np.flatnonzero(scope_mask(scenario, plans.tiers, "plans.tiers"))
    if positions.size == 0:
        raise AssumptionError(f"no account is in tiers {list(plans.tiers or [])}",
                              field="plans.tiers")
    ids = [str(a) for a in pf.account_ids]
    check_plan_inputs(plans, None, ids, [ids[k] for k in positions])
    catalogue = {t.name: t for t in tactics}
    n, nplans = positions.size, len(plans.plans)
    cols: dict[str, list[float]] = {k: [] for k in (
        "hazard_multiplier", "price_cut", "margin_change", "volume_change", "efficiency_gain",
        "one_off_cost", "monthly_cost", "fixed_monthly_cost")}
    for j, p in enumerate(plans.plans):
        unknown = [t for t in p.tactics if t not in catalogue]
        if unknown:
            raise AssumptionError(f"plan {p.name!r} names unknown tactic(s) {unknown}; the "
                                  f"tactics are {sorted(catalogue)}",
                                  field=f"plans.menu[{j}].tactics")
        ts = [catalogue[t] for t in p.tactics]
        cols["hazard_multiplier"].append(p.hazard_multiplier
                                         * math.prod(t.hazard_multiplier for t in ts))
        cols["price_cut"].append(p.price_cut)
        cols["margin_change"].append(p.margin_change + sum(t.margin_change for t in ts))
        cols["volume_change"].append((1.0 + p.volume_change)
                                     * math.prod(1.0 + t.volume_change for t in ts) - 1.0)
        cols["efficiency_gain"].append(p.efficiency_gain + sum(t.efficiency_gain for t in ts))
        cols["one_off_cost"].append(p.one_off_cost)
        cols["monthly_cost"].append(p.monthly_cost + sum(t.cost_per_account for t in ts) / 12)
        cols["fixed_monthly_cost"].append(p.fixed_monthly_cost
                                          + sum(t.fixed_cost for t in ts) / 12)
    arr = {k: np.tile(np.asarray(v, dtype=np.float64), (n, 1)) for k, v in cols.items()}
    allowed = np.ones((n, nplans), dtype=bool)
    where = {ids[k]: r for r, k in enumerate(positions)}
    names = list(plans.names)
    for o in plans.overrides:
        r, j = where[o.account_id], names.index(o.plan)
        allowed[r, j] = o.available
        for k, v in o.changes().items():
            arr[k][r, j] = v
    for k, (lo, hi) in (("margin_change", (-1.0, 1.0)), ("efficiency_gain", (0.0, 1.0))):
        bad = np.argwhere((arr[k] <= lo) | (arr[k] >= hi)) if k == "margin_change" else \
            np.argwhere((arr[k] < lo) | (arr[k] >= hi))
        if bad.size:
            r, j = (int(x) for x in bad[0])
            raise AssumptionError(f"plan {names[j]!r} combined with its tactics gives "
                                  f"{k} = {arr[k][r, j]:g} for account {ids[positions[r]]!r}, "
                                  f"outside its range; lower the plan's own value or drop a "
                                  "tactic", field=f"plans.menu[{j}].tactics")
    if plans.include_cost_to_serve and pf.has("cost_to_serve"):
        rev = np.asarray(pf.revenue, dtype=np.float64)[positions]
        cts = np.asarray(pf.column("cost_to_serve"), dtype=np.float64)[positions]
        over = np.argwhere(arr["efficiency_gain"] * rev[:, None] > cts[:, None] + 1e-9)
        if over.size:
            r, j = (int(x) for x in over[0])
            raise AssumptionError(
                f"plan {names[j]!r} saves {arr['efficiency_gain'][r, j]:.2%} of revenue in "
                f"cost to serve, more than account {ids[positions[r]]!r} costs to serve; "
                "lower efficiency_gain or set include_cost_to_serve=False",
                field=f"plans.menu[{j}].efficiency_gain")
    return _Menu(positions=positions, allowed=allowed, hazard=arr["hazard_multiplier"],
                 price_cut=arr["price_cut"], margin=arr["margin_change"],
                 volume=arr["volume_change"], efficiency=arr["efficiency_gain"],
                 one_off=arr["one_off_cost"], monthly=arr["monthly_cost"],
                 fixed_monthly=arr["fixed_monthly_cost"][0])


def _scenario_with_probs(scenario: Scenario, probs: FloatArray) -> Scenario:
    pf = scenario.portfolio.replace(churn_prob=np.clip(probs, 0.0, 1.0))
    churn = replace(scenario.churn, tier_probs=None, annual_prob=None, level=1.0)
    return replace(scenario, portfolio=pf, churn=churn)


def _seed_sequence(rng: RngLike) -> np.random.SeedSequence:
    if isinstance(rng, np.random.SeedSequence):
        return rng
    return np.random.SeedSequence(root_seed(rng))


def retention_futures(
    scenario: Scenario,
    plans: RetentionPlans | None = None,
    *,
    n_paths: int = 5_000,
    rng: RngLike = None,
    tactics: Sequence[Tactic] = DEFAULT_TACTICS,
) -> RetentionFutures:
    """Simulate futures and value every account under every plan on common random numbers.

    Parameters
    ----------
    scenario : Scenario
        Portfolio, churn model and horizon.
    plans : RetentionPlans, optional
        The menu; default ``scenario.plans``.
    n_paths : int
        Number of futures ``S`` (>= 2).
    rng : numpy.random.Generator, numpy.random.SeedSequence, int or None
        Seed (SPEC 7). The same seed gives the same futures.
    tactics : sequence of Tactic
        The catalogue that plans' ``tactics`` refer to.

    Returns
    -------
    RetentionFutures

    Raises
    ------
    AssumptionError
        No menu, no account in scope, an unknown tactic or an inconsistent override.

    Examples
    --------
    >>> from kamsim.portfolio.datasets import load_sample
    >>> from kamsim.model.plans import RetentionPlan, RetentionPlans
    >>> sc = Scenario(portfolio=load_sample(), horizon_months=24)
    >>> menu = RetentionPlans(plans=[RetentionPlan(name="KAM", monthly_cost=1_000,
    ...                                            hazard_multiplier=0.8)])
    >>> fut = retention_futures(sc, menu, n_paths=1000, rng=1)
    >>> fut.n_accounts, fut.plan_names, fut.n_paths
    (30, ('none', 'KAM'), 1000)
    >>> bool((fut.lost[:, :, 1] <= fut.lost[:, :, 0] + 1e-9).all())  # kept under KAM too
    True
    """
    plans = scenario_plans(scenario, plans)
    if isinstance(n_paths, bool) or not isinstance(n_paths, int | np.integer) or n_paths < 2:
        raise AssumptionError(f"must be a whole number >= 2, got {n_paths!r}", field="n_paths")
    ss = _seed_sequence(rng)
    menu = _resolve_menu(scenario, plans, tactics)
    pf = scenario.portfolio
    h = scenario.horizon_months
    pos = menu.positions
    m, n, nplans = pf.n_accounts, pos.size, len(plans.plans)
    disc = discount_factors(h, plans.discount_rate)
    t = np.arange(1, h + 1, dtype=np.float64)
    ramp = np.ones(h) if plans.ramp_months == 0 else np.minimum(t / plans.ramp_months, 1.0)
    rev_all = np.asarray(pf.revenue, dtype=np.float64)
    gp_all, cts_all = base_contribution(scenario, plans.include_cost_to_serve)
    margin_all = np.divide(gp_all, rev_all, out=np.zeros_like(rev_all), where=rev_all > 0)
    rev, margin, cts = rev_all[pos], margin_all[pos], cts_all[pos]
    r = ramp[None, None, :]
    vol = 1.0 + menu.volume[:, :, None] * r
    cut = menu.price_cut[:, :, None]
    profit = (vol * rev[:, None, None] * (margin[:, None, None] + menu.margin[:, :, None] * r
                                          - cut)
              - cts[:, None, None] + menu.efficiency[:, :, None] * rev[:, None, None] * r
              ) / 12.0 - menu.monthly[:, :, None]
    pv = profit * disc  # (n, J, H)
    tail = np.cumsum(pv[:, :, ::-1], axis=2)[:, :, ::-1]
    full = pv.sum(axis=2) - menu.one_off
    # accounts out of scope: plan-independent
    out = np.ones(m, dtype=bool)
    out[pos] = False
    pv_out = ((gp_all - cts_all) / 12.0)[:, None] * disc[None, :]
    tail_out = np.cumsum(pv_out[:, ::-1], axis=1)[:, ::-1]
    base_p = scenario.annual_probs()
    probs = hazard_scaled_probs(np.repeat(base_p[pos][:, None], nplans, axis=1), menu.hazard)
    # exact expectations
    expected = np.empty((n, nplans))
    for j in range(nplans):
        p_j = base_p.copy()
        p_j[pos] = probs[:, j]
        s = survival(scenario, p_j)
        expected[:, j] = (pv[:, j, :] * s[pos]).sum(axis=1) - menu.one_off[:, j]
        if j == 0:
            other_expected = float((pv_out[out] * s[out]).sum())
    # common random numbers: the same seed for every plan's probabilities
    lost = np.zeros((n_paths, n, nplans))
    other = np.full(n_paths, float(pv_out[out].sum()))
    frac_lookup: tuple[IntArray, FloatArray] | None = None
    if scenario.churn.has_partial:  # one partial-loss draw per account and future
        p_max = base_p.copy()
        p_max[pos] = probs.max(axis=1)
        ev = churn_events(_scenario_with_probs(scenario, p_max), n_paths=n_paths, rng=ss)
        keys = ev["path"].to_numpy(np.int64) * m + ev["account"].to_numpy(np.int64)
        frac_lookup = (keys, ev["fraction"].to_numpy(np.float64))
    row_of = np.full(m, -1, dtype=np.int64)
    row_of[pos] = np.arange(n)
    for j in range(nplans):
        p_j = base_p.copy()
        p_j[pos] = probs[:, j]
        ev = churn_events(_scenario_with_probs(scenario, p_j), n_paths=n_paths, rng=ss)
        path = ev["path"].to_numpy(np.int64)
        acc = ev["account"].to_numpy(np.int64)
        stop = ev["stop_month"].to_numpy(np.int64)
        if frac_lookup is None:
            frac = ev["fraction"].to_numpy(np.float64)
        else:
            keys, fr = frac_lookup
            k = np.searchsorted(keys, path * m + acc)
            frac = fr[np.minimum(k, keys.size - 1)]
        inside = row_of[acc] >= 0
        ri = row_of[acc[inside]]
        np.add.at(lost, (path[inside], ri, j), frac[inside] * tail[ri, j, stop[inside] - 1])
        if j == 0:
            o = ~inside
            other -= np.bincount(path[o], frac[o] * tail_out[acc[o], stop[o] - 1],
                                 minlength=n_paths)
    fixed_npv = menu.fixed_monthly * float(disc.sum())
    spend = menu.one_off + menu.monthly * h + menu.price_cut * rev[:, None] * h / 12.0
    d = plans.default_index
    reference = float(pv_out[out].sum() + full[:, d].sum())
    ent = ss.entropy
    seed: int | tuple[int, ...] = ent if isinstance(ent, int) else tuple(
        int(e) for e in (ent or ()))
    return RetentionFutures(
        scenario=scenario, plans=plans, account_ids=pf.account_ids[pos], positions=pos,
        plan_names=plans.names, default=d, allowed=menu.allowed, spend=spend,
        fixed_spend=menu.fixed_monthly * h, fixed_npv=fixed_npv, full=full,
        expected=expected, lost=lost, other=other, other_expected=other_expected,
        reference=reference, other_full=float(pv_out[out].sum()), probs=probs, seed=seed)


def scenario_plans(scenario: Scenario, plans: RetentionPlans | None) -> RetentionPlans:
    """``plans``, or the scenario's own (``plans:`` in its YAML); an error if neither."""
    if plans is None:
        plans = getattr(scenario, "plans", None)
    if plans is None:
        raise AssumptionError("no retention plans: pass plans=RetentionPlans(...) or add a "
                              "'plans:' block to the scenario", field="plans")
    if not isinstance(plans, RetentionPlans):
        raise AssumptionError(f"must be RetentionPlans, got {type(plans).__name__}",
                              field="plans")
    return plans


def _scenario_budget(futures: RetentionFutures, budget: RetentionBudget | float | None
                     ) -> RetentionBudget:
    if budget is None:
        budget = getattr(futures.scenario, "budget", None)
    if budget is None:
        raise AssumptionError("no budget: pass budget=RetentionBudget(amount=...) or add a "
                              "'budget:' entry to the scenario", field="budget")
    if not isinstance(budget, RetentionBudget):
        budget = RetentionBudget.from_dict(budget)
    ids = [str(a) for a in futures.scenario.portfolio.account_ids]
    check_plan_inputs(futures.plans, budget, ids, [str(a) for a in futures.account_ids])
    return budget


# ---------------------------------------------------------------------------------------
# the mixed-integer programme


@dataclass(frozen=True, slots=True)
class _Bounds:
    """Per (account, plan) lower/upper bounds on x after forced and fixed choices."""

    lo: FloatArray
    hi: FloatArray


def _x_bounds(fut: RetentionFutures, budget: RetentionBudget) -> _Bounds:
    n, nplans = fut.n_accounts, fut.n_plans
    lo = np.zeros((n, nplans))
    hi = fut.allowed.astype(np.float64)
    pos = {str(a): k for k, a in enumerate(fut.account_ids)}
    names = list(fut.plan_names)
    for a in budget.force_out:
        hi[pos[a]] = 0.0
        hi[pos[a], fut.default] = float(fut.allowed[pos[a], fut.default])
    for a in budget.force_in:
        hi[pos[a], fut.default] = 0.0
    for a, p in budget.fixed.items():
        j = names.index(p)
        hi[pos[a]] = 0.0
        hi[pos[a], j] = float(fut.allowed[pos[a], j])
        lo[pos[a], j] = hi[pos[a], j]
    return _Bounds(lo=lo, hi=hi)


@dataclass(frozen=True, slots=True)
class _Solution:
    choice: IntArray | None
    status: int
    message: str
    fun: float
    dual_bound: float
    mip_gap: float
    nodes: int
    seconds: float
    eta: float = math.nan
    rounds: int = 1


def _tail_rows(fut: RetentionFutures, budget: RetentionBudget, *, objective: Objective,
               risk_aversion: float, level: float, npv_floor: float | None,
               time_limit: float, mip_rel_gap: float, risk: Risk) -> _Solution:
    """Solve with the tail rows of likely tail futures only, adding violated ones.

    Only futures with ``L_s > eta`` carry weight in the Rockafellar-Uryasev objective.
    Start from the futures in the worst part of the loss distribution under doing nothing
    and under the strongest plans; after each solve add every left-out future whose loss
    at the solution exceeds ``eta``. A programme with fewer rows is a relaxation, so when
    no left-out future is violated its solution (and its proved bound) hold for the full
    programme: the result is the same optimum, from a much smaller programme.
    """
    s_n = fut.n_paths
    need_tail = objective == "min_es" or risk_aversion > 0
    if not need_tail:
        return _solve(fut, budget, objective=objective, risk_aversion=risk_aversion,
                      level=level, npv_floor=npv_floor, time_limit=time_limit,
                      mip_rel_gap=mip_rel_gap, risk=risk)
    k = min(s_n, max(2 * math.ceil((1.0 - level) * s_n), 100))
    none = np.full(fut.n_accounts, fut.default, dtype=np.int64)
    strong = np.where(fut.allowed, fut.probs, np.inf).argmin(axis=1).astype(np.int64)
    keep = np.zeros(s_n, dtype=bool)
    for c in (none, strong):
        keep[np.argsort(-fut.loss(c, risk), kind="stable")[:k]] = True
    t0 = time.perf_counter()
    rounds = 0
    while True:
        rounds += 1
        left = max(time_limit - (time.perf_counter() - t0), 1.0)
        sol = _solve(fut, budget, objective=objective, risk_aversion=risk_aversion,
                     level=level, npv_floor=npv_floor, time_limit=left,
                     mip_rel_gap=mip_rel_gap, risk=risk, subset=np.flatnonzero(keep))
        if sol.choice is None or keep.all():
            break
        loss = fut.loss(sol.choice, risk)
        tol = 1e-9 * max(abs(sol.eta), 1.0)
        bad = ~keep & (loss > sol.eta + tol)
        if not bad.any():
            break
        keep |= bad
    return replace(sol, seconds=time.perf_counter() - t0, rounds=rounds)


def _solve(fut: RetentionFutures, budget: RetentionBudget, *, objective: Objective,
           risk_aversion: float, level: float, npv_floor: float | None, time_limit: float,
           mip_rel_gap: float, risk: Risk = "churn", use_caps: bool = True,
           tail: bool = True, subset: IntArray | None = None) -> _Solution:
    """Build and solve the MILP (``use_caps=False`` / ``tail=False``: for diagnosis).

    ``subset``: the futures whose tail rows ``u_s >= L_s - eta`` enter (default all); the
    others keep ``u_s = 0``, which makes the programme a relaxation of the full one.
    """
    n, nplans, s_all = fut.n_accounts, fut.n_plans, fut.n_paths
    rows_s = np.arange(s_all) if subset is None else np.asarray(subset, dtype=np.int64)
    s_n = rows_s.size
    scale = max(abs(fut.reference), 1.0) / 1e3
    bnd = _x_bounds(fut, budget)
    has_fixed = (fut.fixed_npv > 0) | (fut.fixed_spend > 0)
    nx = n * nplans
    iy = nx
    need_tail = tail and (objective == "min_es" or risk_aversion > 0)
    ia, ie, iu = nx + nplans, nx + nplans + 1, nx + nplans + 2
    nvar = iu + s_n if need_tail else nx + nplans
    c = np.zeros(nvar)
    lb = np.zeros(nvar)
    ub = np.ones(nvar)
    integrality = np.zeros(nvar)
    lb[:nx], ub[:nx] = bnd.lo.ravel(), bnd.hi.ravel()
    ub[iy:iy + nplans] = has_fixed.astype(np.float64)
    integrality[:nx + nplans] = 1
    exp_x = fut.expected.ravel() / scale
    fixed = fut.fixed_npv / scale
    rows: list[sparse.coo_array] = []
    rlo: list[FloatArray] = []
    rhi: list[FloatArray] = []

    def block(r: npt.ArrayLike, cidx: npt.ArrayLike, v: npt.ArrayLike, nrows: int,
              lo: npt.ArrayLike, hi: npt.ArrayLike) -> None:
        rows.append(sparse.coo_array((np.asarray(v, dtype=np.float64),
                                      (np.asarray(r), np.asarray(cidx))),
                                     shape=(nrows, nvar)))
        rlo.append(np.broadcast_to(np.asarray(lo, dtype=np.float64), (nrows,)))
        rhi.append(np.broadcast_to(np.asarray(hi, dtype=np.float64), (nrows,)))

    acc = np.repeat(np.arange(n), nplans)
    block(acc, np.arange(nx), np.ones(nx), n, 1.0, 1.0)  # one plan per account
    block(np.zeros(nx + nplans, dtype=np.int64), np.arange(nx + nplans),
          np.concatenate([fut.spend.ravel(), fut.fixed_spend]) / scale, 1, -np.inf,
          budget.amount / scale * (1 + 1e-12) + 1e-9)
    if use_caps:
        names = list(fut.plan_names)
        for p, cap in budget.caps.items():
            j = names.index(p)
            block(np.zeros(n, dtype=np.int64), np.arange(n) * nplans + j, np.ones(n), 1,
                  -np.inf, float(cap))
    jf = np.flatnonzero(has_fixed)
    if jf.size:  # x_ij <= y_j
        grid_i, grid_j = np.meshgrid(np.arange(n), jf, indexing="ij")
        ii, jj = grid_i.ravel(), grid_j.ravel()
        k = ii.size
        r = np.arange(k)
        block(np.concatenate([r, r]), np.concatenate([ii * nplans + jj, iy + jj]),
              np.concatenate([np.ones(k), -np.ones(k)]), k, -np.inf, 0.0)
    if need_tail:
        lb[ia], ub[ia] = -np.inf, np.inf
        lb[ie], ub[ie] = -np.inf, np.inf
        lb[iu:], ub[iu:] = 0.0, np.inf
        # A = sum full x - sum F y
        block(np.zeros(nx + nplans + 1, dtype=np.int64),
              np.concatenate([np.arange(nx), iy + np.arange(nplans), [ia]]),
              np.concatenate([-fut.full.ravel() / scale, fixed, [1.0]]), 1, 0.0, 0.0)
        lost = fut.lost[rows_s].reshape(s_n, nx) / scale
        ps, px = np.nonzero(lost)
        # u_s + eta >= L_s:  "npv": L_s = C - O_s - A + sum lost x;
        #                    "churn": L_s = (O_full - O_s) + sum lost x
        with_a = risk == "npv"
        k = 3 if with_a else 2
        rr = np.concatenate([ps, *[np.arange(s_n)] * k])
        cc = np.concatenate([px, iu + np.arange(s_n), np.full(s_n, ie),
                             *([np.full(s_n, ia)] if with_a else [])])
        vv = np.concatenate([-lost[ps, px], np.ones(k * s_n)])
        rhs = (fut.reference - fut.other) if with_a else (fut.other_full - fut.other)
        block(rr, cc, vv, s_n, rhs[rows_s] / scale, np.inf)
        w = 1.0 / ((1.0 - level) * s_all)
        if objective == "min_es":
            c[ie], c[iu:] = 1.0, w
        else:
            c[ie], c[iu:] = risk_aversion, risk_aversion * w
    if objective == "mean_es":
        c[:nx] = -exp_x
        c[iy:iy + nplans] = fixed
    if npv_floor is not None:
        block(np.zeros(nx + nplans, dtype=np.int64), np.arange(nx + nplans),
              np.concatenate([exp_x, -fixed]), 1, (npv_floor - fut.other_expected) / scale,
              np.inf)
    a = sparse.vstack(rows).tocsr()
    cons = optimize.LinearConstraint(a, np.concatenate(rlo), np.concatenate(rhi))
    t0 = time.perf_counter()
    res = optimize.milp(c, integrality=integrality, bounds=optimize.Bounds(lb, ub),
                        constraints=[cons],
                        options={"time_limit": float(time_limit),
                                 "mip_rel_gap": float(mip_rel_gap), "disp": False})
    secs = time.perf_counter() - t0
    choice = None
    eta = math.nan
    if res.x is not None:
        x = np.asarray(res.x[:nx]).reshape(n, nplans)
        choice = np.argmax(x, axis=1).astype(np.int64)
        if need_tail:
            eta = float(res.x[ie]) * scale
    fun = float(res.fun) * scale if res.fun is not None else math.nan
    dual = getattr(res, "mip_dual_bound", None)
    dual_f = float(dual) * scale if dual is not None and np.isfinite(dual) else math.nan
    gap = getattr(res, "mip_gap", None)
    return _Solution(choice=choice, status=int(res.status), message=str(res.message),
                     fun=fun, dual_bound=dual_f,
                     mip_gap=float(gap) if gap is not None else math.nan,
                     nodes=int(getattr(res, "mip_node_count", 0) or 0), seconds=secs,
                     eta=eta)


def _infeasible(fut: RetentionFutures, budget: RetentionBudget, npv_floor: float | None,
                time_limit: float) -> AssumptionError:
    """Say which constraint to relax (cheap checks first, then relaxed MILPs)."""
    bnd = _x_bounds(fut, budget)
    ids = [str(a) for a in fut.account_ids]
    names = list(fut.plan_names)
    empty = np.flatnonzero(bnd.hi.sum(axis=1) == 0)
    if empty.size:
        a = ids[int(empty[0])]
        src = ("budget.fixed" if a in budget.fixed else "budget.force_out"
               if a in budget.force_out else "budget.force_in" if a in budget.force_in
               else "plans.overrides")
        return AssumptionError(f"account {a!r} has no plan left to choose: its only "
                               "allowed plan(s) are withdrawn by plans.overrides (available: "
                               f"false); relax {src} or the override", field=src)
    for p, cap in budget.caps.items():
        j = names.index(p)
        k = int((bnd.lo[:, j] > 0).sum())
        if k > cap:
            return AssumptionError(f"budget.fixed puts {k} accounts on plan {p!r} but its "
                                   f"cap is {cap}: raise the cap or fix fewer accounts",
                                   field=f"budget.caps[{p!r}]")
    cheapest = np.where(bnd.hi > 0, fut.spend, np.inf).min(axis=1)
    fixed_plans = np.flatnonzero((bnd.lo > 0).any(axis=0))
    least = float(cheapest.sum() + fut.fixed_spend[fixed_plans].sum())
    if least > budget.amount * (1 + 1e-12) + 1e-9:
        return AssumptionError(
            f"the forced and fixed choices cost at least {least:,.0f} over the horizon, more "
            f"than the budget of {budget.amount:,.0f}: raise budget.amount to at least "
            f"{least:,.0f} or free accounts in budget.force_in / budget.fixed",
            field="budget.amount")
    kw: dict[str, Any] = {"objective": "mean_es", "risk_aversion": 0.0, "level": 0.95,
                          "time_limit": time_limit, "mip_rel_gap": 1e-6, "tail": False}
    if _solve(fut, budget, npv_floor=None, **kw).choice is None:
        if _solve(fut, budget, npv_floor=None, use_caps=False, **kw).choice is not None:
            return AssumptionError("no allocation meets the plan caps together with the "
                                   "forced choices and the budget: raise budget.caps or "
                                   "force fewer accounts in", field="budget.caps")
        return AssumptionError("no allocation meets the forced choices within the budget: "
                               "raise budget.amount or relax budget.force_in",
                               field="budget.force_in")
    if npv_floor is not None:
        best = _solve(fut, budget, npv_floor=None, **kw)
        top = fut.expected_npv(best.choice) if best.choice is not None else math.nan
        return AssumptionError(
            f"the highest expected NPV within the budget and constraints is {top:,.0f}, below "
            f"the floor of {npv_floor:,.0f}: lower npv_floor or raise budget.amount",
            field="npv_floor")
    return AssumptionError(  # pragma: no cover - every case above names its constraint
        "the constraints cannot all hold; relax budget.amount, budget.caps or "
        "budget.force_in", field="budget")


@dataclass(frozen=True, eq=False)
class RetentionOptimum:
    """The allocation chosen by :func:`optimise_retention`, with what the solver proved.

    Attributes
    ----------
    allocation : Allocation
    futures : RetentionFutures
        The futures it was chosen on (in-sample).
    budget : RetentionBudget
    objective : {"mean_es", "min_es"}
    risk_aversion : float
        ``lambda`` of ``E[NPV] - lambda ES`` (``"mean_es"``).
    level : float
        ES level (0.95 = the worst 5 % of futures).
    risk : {"churn", "npv"}
        What the ES is of (see :meth:`RetentionFutures.loss`).
    npv_floor : float or None
    value : float
        The objective at the allocation (currency): ``E[NPV] - lambda ES`` or ``ES``.
    expected_npv : float
        Exact expected NPV of the portfolio under the allocation.
    es : float
        In-sample ES of the loss (an optimistic estimate: see :func:`plan_retention` for
        an honest one).
    spend : float
        Planned spend against the budget.
    gap : float
        Proved optimality gap in currency: no allocation is better than ``value`` by
        more than this (on these futures).
    relative_gap : float
        ``gap / |value|``.
    solver_gap : float
        HiGHS's own relative gap (of the objective without constant terms).
    status : str
        ``"optimal"`` (within ``mip_rel_gap``) or ``"time limit"`` (best found, gap as
        proved).
    solve_seconds, build_seconds : float
        Wall time of the solver and of building the programme.
    nodes : int
        Branch-and-bound nodes.
    """

    allocation: Allocation
    futures: RetentionFutures = field(repr=False)
    budget: RetentionBudget
    objective: Objective
    risk_aversion: float
    level: float
    risk: Risk
    npv_floor: float | None
    value: float
    expected_npv: float
    es: float
    spend: float
    gap: float
    relative_gap: float
    solver_gap: float
    status: str
    solve_seconds: float
    build_seconds: float
    nodes: int

    def summary(self) -> pd.DataFrame:
        """Headline figures (``metric``, ``value``, ``unit``)."""
        return pd.DataFrame([
            ("objective", self.value, "currency"),
            ("expected NPV", self.expected_npv, "currency"),
            (f"ES {self.level:.0%} of {_RISK_LABEL[self.risk]} (in-sample)", self.es,
             "currency"),
            ("planned spend", self.spend, "currency"),
            ("budget", self.budget.amount, "currency"),
            ("proved optimality gap", self.gap, "currency"),
            ("proved optimality gap (relative)", self.relative_gap, "fraction"),
            ("solve time", self.solve_seconds, "seconds"),
            ("futures", float(self.futures.n_paths), "count"),
        ], columns=["metric", "value", "unit"])

    def to_frame(self) -> pd.DataFrame:
        """Where the retention budget goes: one row per account on a plan (not the default).

        Columns ``account_id, name, tier, revenue, plan, planned_spend, churn_prob``
        (annual, default plan), ``churn_prob_with_plan``, ``expected_npv_change`` (exact,
        plan minus default, after the plan's costs); sorted by spend, largest first.
        """
        return _budget_table(self.futures, self.allocation)


def _budget_table(fut: RetentionFutures, alloc: Allocation) -> pd.DataFrame:
    pf = fut.scenario.portfolio
    tiers = np.array(fut.scenario.tiers(), dtype=object)[fut.positions]
    rows = np.arange(fut.n_accounts)
    c = alloc.choice
    d = fut.default
    sel = c != d
    df = pd.DataFrame({
        "account_id": fut.account_ids, "name": pf.names[fut.positions],
        "tier": tiers, "revenue": np.asarray(pf.revenue, dtype=np.float64)[fut.positions],
        "plan": [fut.plan_names[int(k)] for k in c],
        "planned_spend": fut.spend[rows, c] - fut.spend[:, d],
        "churn_prob": fut.probs[:, d], "churn_prob_with_plan": fut.probs[rows, c],
        "expected_npv_change": fut.expected[rows, c] - fut.expected[:, d],
    })[sel]
    out: pd.DataFrame = df.sort_values(["planned_spend", "revenue"], ascending=False)
    return out.reset_index(drop=True)


def _check_common(objective: str, risk_aversion: float, level: float,
                  npv_floor: float | None, risk: str) -> tuple[float, float, float | None]:
    if objective not in ("mean_es", "min_es"):
        msg = f"objective must be 'mean_es' or 'min_es', got {objective!r}"
        raise AssumptionError(msg)
    if risk not in ("churn", "npv"):
        msg = f"risk must be 'churn' or 'npv', got {risk!r}"
        raise AssumptionError(msg)
    lam = _number(risk_aversion, "risk_aversion", lo=0.0)
    lev = _number(level, "level", lo=0.0, hi=1.0, lo_open=True, hi_open=True)
    floor = None if npv_floor is None else _number(npv_floor, "npv_floor")
    if objective == "mean_es" and floor is not None:
        raise AssumptionError("a floor on expected NPV goes with objective='min_es'",
                              field="npv_floor")
    return lam, lev, floor


def optimise_retention(
    futures: RetentionFutures,
    budget: RetentionBudget | float | None = None,
    *,
    objective: Objective = "mean_es",
    risk_aversion: float = 1.0,
    level: float = 0.95,
    risk: Risk = "churn",
    npv_floor: float | None = None,
    time_limit: float = 60.0,
    mip_rel_gap: float = 1e-6,
) -> RetentionOptimum:
    """Choose one plan per account: mean-CVaR as a mixed-integer linear programme.

    Parameters
    ----------
    futures : RetentionFutures
        From :func:`retention_futures`.
    budget : RetentionBudget or float, optional
        The constraints (a number is the amount alone); default the scenario's.
    objective : {"mean_es", "min_es"}
        ``"mean_es"``: maximise ``E[NPV] - risk_aversion * ES``. ``"min_es"``: minimise
        ``ES``, with ``E[NPV] >= npv_floor`` if a floor is given.
    risk_aversion : float
        ``lambda >= 0``; 0 maximises expected NPV alone.
    level : float
        ES level in (0, 1).
    risk : {"churn", "npv"}
        What the ES is of (:meth:`RetentionFutures.loss`): ``"churn"`` (default) the NPV
        that churn takes away in the bad futures, with the plans' costs charged to the
        expected NPV and the budget; ``"npv"`` the shortfall of the portfolio's NPV with
        the costs in it too (then a plan lowers ES only if what it saves in the bad
        futures exceeds what it costs).
    npv_floor : float, optional
        Floor on the exact expected NPV (``"min_es"`` only).
    time_limit : float
        Seconds for HiGHS; on hitting it the best allocation found is returned with the
        gap proved so far (``status="time limit"``).
    mip_rel_gap : float
        Relative gap at which HiGHS stops.

    Returns
    -------
    RetentionOptimum

    Raises
    ------
    AssumptionError
        For infeasible constraints, naming the one to relax (``budget.amount``,
        ``budget.caps[...]``, ``budget.force_in``, ``npv_floor``, ...).

    Examples
    --------
    >>> from kamsim.portfolio.datasets import load_sample
    >>> from kamsim.model.plans import RetentionPlan, RetentionPlans
    >>> sc = Scenario(portfolio=load_sample(), horizon_months=24)
    >>> menu = RetentionPlans(plans=[RetentionPlan(name="KAM", monthly_cost=1_000,
    ...                                            hazard_multiplier=0.6)], tiers=["key"])
    >>> fut = retention_futures(sc, menu, n_paths=500, rng=1)
    >>> opt = optimise_retention(fut, 100_000, risk_aversion=1.0)
    >>> opt.spend <= 100_000, opt.gap <= 1e-6 * abs(opt.value) + 1.0
    (True, True)
    """
    lam, lev, floor = _check_common(objective, risk_aversion, level, npv_floor, risk)
    b = _scenario_budget(futures, budget)
    t0 = time.perf_counter()
    sol = _tail_rows(futures, b, objective=objective, risk_aversion=lam, level=lev,
                     npv_floor=floor, time_limit=time_limit, mip_rel_gap=mip_rel_gap,
                     risk=risk)
    total = time.perf_counter() - t0
    if sol.choice is None:
        if sol.status == 2:
            raise _infeasible(futures, b, floor, time_limit)
        msg = (f"the solver found no allocation ({sol.message}); raise time_limit "
               f"(now {time_limit:g} s)")
        raise AssumptionError(msg, field="time_limit")
    alloc = futures.allocation(sol.choice, label="optimised")
    e = futures.expected_npv(alloc)
    es = expected_shortfall(futures.loss(alloc, risk), lev)
    value = es if objective == "min_es" else e - lam * es
    gap = max(sol.fun - sol.dual_bound, 0.0) if np.isfinite(sol.dual_bound) else math.inf
    return RetentionOptimum(
        allocation=alloc, futures=futures, budget=b, objective=objective, risk_aversion=lam,
        level=lev, risk=risk, npv_floor=floor, value=float(value), expected_npv=e, es=float(es),
        spend=futures.spend_of(alloc), gap=float(gap),
        relative_gap=float(gap / max(abs(value), 1e-300)), solver_gap=sol.mip_gap,
        status="optimal" if sol.status == 0 else "time limit",
        solve_seconds=sol.seconds, build_seconds=max(total - sol.seconds, 0.0),
        nodes=sol.nodes)


# ---------------------------------------------------------------------------------------
# simple rules


def _objective_of(fut: RetentionFutures, c: IntArray, objective: Objective, lam: float,
                  level: float, risk: Risk) -> float:
    es = expected_shortfall(fut.loss(c, risk), level)
    return -es if objective == "min_es" else fut.expected_npv(c) - lam * es


def _greedy(fut: RetentionFutures, budget: RetentionBudget, order: IntArray,
            plan_for: npt.ArrayLike) -> IntArray | None:
    """Give accounts, in ``order``, the plan ``plan_for[i]`` while budget and caps allow."""
    bnd = _x_bounds(fut, budget)
    names = list(fut.plan_names)
    target = np.asarray(plan_for, dtype=np.int64)
    d = fut.default
    c = np.where(bnd.hi[:, d] > 0, d, np.argmax(bnd.hi, axis=1)).astype(np.int64)
    fixed = bnd.lo.max(axis=1) > 0
    c[fixed] = np.argmax(bnd.lo[fixed], axis=1)
    caps = {names.index(p): v for p, v in budget.caps.items()}

    def fits(c_new: IntArray) -> bool:
        if fut.spend_of(c_new) > budget.amount * (1 + 1e-12) + 1e-9:
            return False
        counts = np.bincount(c_new, minlength=fut.n_plans)
        return all(counts[j] <= v for j, v in caps.items())

    forced_in = bnd.hi[:, d] == 0
    for i in np.concatenate([order[forced_in[order]], order[~forced_in[order]]]):
        if fixed[i]:
            continue
        j = int(target[i])
        if bnd.hi[i, j] == 0 or j == c[i]:
            continue
        trial = c.copy()
        trial[i] = j
        if fits(trial):
            c = trial
    if not fits(c) or np.any(bnd.hi[np.arange(fut.n_accounts), c] == 0):
        return None
    return c


def simple_rules(
    futures: RetentionFutures,
    budget: RetentionBudget | float | None = None,
    *,
    objective: Objective = "mean_es",
    risk_aversion: float = 1.0,
    level: float = 0.95,
    risk: Risk = "churn",
) -> dict[str, Allocation]:
    """The allocations a strategist would make without an optimiser, at the same budget.

    * ``top-k by revenue (PLAN)``: accounts in descending revenue get ``PLAN`` while the
      budget (and the plan's cap) allows; an account that does not fit is skipped.
    * ``top-k by key-account score (PLAN)``: the same in the order of
      :func:`kamsim.analysis.key_accounts.key_account_scores` (default, illustrative weights).
    * ``pro rata``: each account gets a share of the budget in proportion to its revenue
      and the most expensive plan its share pays for.

    For the two top-k rules every non-default plan is tried and the one with the best
    objective on ``futures`` is kept (the rule gets the same information as the
    optimiser). Forced and fixed choices are respected; a rule that cannot meet them
    within the budget is left out.

    Returns
    -------
    dict of str to Allocation

    Examples
    --------
    >>> from kamsim.portfolio.datasets import load_sample
    >>> from kamsim.model.plans import RetentionPlan, RetentionPlans
    >>> sc = Scenario(portfolio=load_sample(), horizon_months=24)
    >>> menu = RetentionPlans(plans=[RetentionPlan(name="KAM", monthly_cost=1_000,
    ...                                            hazard_multiplier=0.6)])
    >>> fut = retention_futures(sc, menu, n_paths=500, rng=1)
    >>> sorted(simple_rules(fut, 100_000))
    ['pro rata', 'top-k by key-account score (KAM)', 'top-k by revenue (KAM)']
    """
    lam, lev, _ = _check_common(objective, risk_aversion, level, None, risk)
    b = _scenario_budget(futures, budget)
    pf = futures.scenario.portfolio
    rev = np.asarray(pf.revenue, dtype=np.float64)[futures.positions]
    scores = key_account_scores(pf).score[futures.positions]
    orders = {"top-k by revenue": np.argsort(-rev, kind="stable"),
              "top-k by key-account score": np.lexsort((-rev, -scores))}
    out: dict[str, Allocation] = {}
    plans = [j for j in range(futures.n_plans) if j != futures.default]
    for label, order in orders.items():
        best: tuple[float, str, IntArray] | None = None
        for j in plans:
            c = _greedy(futures, b, order.astype(np.int64), np.full(futures.n_accounts, j))
            if c is None:
                continue
            v = _objective_of(futures, c, objective, lam, lev, risk)
            if best is None or v > best[0]:
                best = (v, f"{label} ({futures.plan_names[j]})", c)
        if best is not None:
            out[best[1]] = futures.allocation(best[2], label=best[1])
    # pro rata: the most expensive plan each account's revenue share pays for
    share = b.amount * rev / max(float(rev.sum()), 1e-300)
    extra = futures.spend - futures.spend[:, [futures.default]]
    ok = futures.allowed & (extra <= share[:, None] + 1e-9)
    pick = np.where(ok, extra, -np.inf).argmax(axis=1)
    c = _greedy(futures, b, np.argsort(-rev, kind="stable").astype(np.int64), pick)
    if c is not None:
        out["pro rata"] = futures.allocation(c, label="pro rata")
    return out


# ---------------------------------------------------------------------------------------
# evaluation


def _es_influence(loss: FloatArray, level: float) -> FloatArray:
    """Per-future terms whose mean is the ES estimate: ``VaR + (L - VaR)+ / (1 - level)``."""
    var = value_at_risk(loss, level)
    return np.asarray(var + np.maximum(loss - var, 0.0) / (1.0 - level), dtype=np.float64)


def evaluate_allocations(
    futures: RetentionFutures,
    allocations: Mapping[str, Allocation] | Sequence[Allocation],
    *,
    level: float = 0.95,
    risk_aversion: float = 1.0,
    risk: Risk = "churn",
    reference: str | None = None,
) -> pd.DataFrame:
    """Expected NPV and ES of allocations on a set of futures, with Monte Carlo errors.

    Use fresh futures (another seed) for an honest, out-of-sample comparison.

    Parameters
    ----------
    futures : RetentionFutures
    allocations : mapping of label to Allocation, or sequence of Allocation
    level : float
        ES level.
    risk_aversion : float
        ``lambda`` of the ``objective`` column ``E[NPV] - lambda ES``.
    risk : {"churn", "npv"}
        What the ES is of (see :meth:`RetentionFutures.loss`).
    reference : str, optional
        Label that the difference columns compare against (default: the first).

    Returns
    -------
    pandas.DataFrame
        One row per allocation: ``allocation, spend, expected_npv`` (exact), ``mc_mean,
        mc_se`` (Monte Carlo mean of NPV and its error), ``es, es_se`` (ES of the loss and
        its asymptotic error), ``objective``, ``es_minus_reference, es_diff_se`` and
        ``npv_minus_reference`` (exact), ``npv_diff_se`` (paired Monte Carlo error).

    Notes
    -----
    ES errors use the influence function ``VaR + (L - VaR)+ / (1 - level)`` of the ES
    estimator; for a difference the two allocations' terms are paired future by future
    (Hong & Liu 2009), which is what makes small differences measurable.

    Examples
    --------
    >>> from kamsim.portfolio.datasets import load_sample
    >>> from kamsim.model.plans import RetentionPlan, RetentionPlans
    >>> sc = Scenario(portfolio=load_sample(), horizon_months=24)
    >>> menu = RetentionPlans(plans=[RetentionPlan(name="KAM", monthly_cost=1_000,
    ...                                            hazard_multiplier=0.6)])
    >>> fut = retention_futures(sc, menu, n_paths=2000, rng=3)
    >>> a = fut.allocation({"A0042": "KAM"}, label="biggest")
    >>> df = evaluate_allocations(fut, [fut.allocation({}, label="none"), a])
    >>> bool(df.es_minus_reference[1] < 0)
    True
    """
    items = list(allocations.values()) if isinstance(allocations, Mapping) \
        else list(allocations)
    if not items:
        raise AssumptionError("no allocation to evaluate", field="allocations")
    labels = [a.label for a in items]
    ref = labels[0] if reference is None else reference
    if ref not in labels:
        raise AssumptionError(f"unknown reference {ref!r}; labels are {labels}",
                              field="reference")
    s_n = futures.n_paths
    npv = np.vstack([futures.npv(a) for a in items])
    loss = np.vstack([futures.loss(a, risk) for a in items])
    psi = np.vstack([_es_influence(x, level) for x in loss])
    k = labels.index(ref)
    exp = np.array([futures.expected_npv(a) for a in items])
    es = np.array([expected_shortfall(x, level) for x in loss])
    sq = math.sqrt(s_n)
    return pd.DataFrame({
        "allocation": labels,
        "spend": [futures.spend_of(a) for a in items],
        "expected_npv": exp,
        "mc_mean": npv.mean(axis=1),
        "mc_se": npv.std(axis=1, ddof=1) / sq,
        "es": es,
        "es_se": psi.std(axis=1, ddof=1) / sq,
        "objective": exp - risk_aversion * es,
        "es_minus_reference": es - es[k],
        "es_diff_se": (psi - psi[k]).std(axis=1, ddof=1) / sq,
        "npv_minus_reference": exp - exp[k],
        "npv_diff_se": (npv - npv[k]).std(axis=1, ddof=1) / sq,
    })


@dataclass(frozen=True, eq=False)
class RetentionStudy:
    """The optimum beside the simple rules, in-sample and on fresh futures.

    Attributes
    ----------
    optimum : RetentionOptimum
    rules : dict of str to Allocation
    fresh : RetentionFutures
        Independent futures for the honest comparison.
    in_sample : pandas.DataFrame
        :func:`evaluate_allocations` on the optimisation futures.
    out_of_sample : pandas.DataFrame
        The same on the fresh futures, differences against ``"optimised"``.
    seed : int
        Root seed (reproduces both sets of futures).
    """

    optimum: RetentionOptimum
    rules: dict[str, Allocation] = field(repr=False)
    fresh: RetentionFutures = field(repr=False)
    in_sample: pd.DataFrame = field(repr=False)
    out_of_sample: pd.DataFrame = field(repr=False)
    seed: int = 0

    def best_rule(self) -> str | None:
        """Label of the simple rule with the lowest out-of-sample ES (None: no rule fits)."""
        df = self.out_of_sample[self.out_of_sample.allocation != "optimised"]
        if df.empty:
            return None
        return str(df.sort_values("es").allocation.iloc[0])

    def improvement(self) -> pd.Series:
        """Out-of-sample gain of the optimum over the best simple rule at the same budget.

        ``es_improvement`` (ES of the rule minus ES of the optimum: positive = the optimum
        makes the bad years less bad) with ``es_improvement_se`` (paired), and
        ``npv_improvement`` (exact) with ``npv_improvement_se``.
        """
        best = self.best_rule()
        if best is None:
            return pd.Series({"best_rule": None, "es_improvement": math.nan,
                              "es_improvement_se": math.nan, "npv_improvement": math.nan,
                              "npv_improvement_se": math.nan})
        df = self.out_of_sample
        k = int(np.flatnonzero(df.allocation.to_numpy() == best)[0])

        def col(name: str) -> float:
            return float(df[name].to_numpy(dtype=np.float64)[k])

        out: dict[str, Any] = {
            "best_rule": best, "es_improvement": col("es_minus_reference"),
            "es_improvement_se": col("es_diff_se"),
            "npv_improvement": -col("npv_minus_reference"),
            "npv_improvement_se": col("npv_diff_se")}
        return pd.Series(out)


def plan_retention(
    scenario: Scenario,
    plans: RetentionPlans | None = None,
    budget: RetentionBudget | float | None = None,
    *,
    n_paths: int = 5_000,
    n_eval_paths: int = 20_000,
    rng: np.random.Generator | int | None = None,
    objective: Objective = "mean_es",
    risk_aversion: float = 1.0,
    level: float = 0.95,
    risk: Risk = "churn",
    npv_floor: float | Literal["rules"] | None = None,
    tactics: Sequence[Tactic] = DEFAULT_TACTICS,
    time_limit: float = 60.0,
    mip_rel_gap: float = 1e-6,
) -> RetentionStudy:
    """Optimise on ``n_paths`` futures, then compare with the simple rules on fresh ones.

    The root seed is split with :meth:`numpy.random.SeedSequence.spawn` into one stream
    for the optimisation futures and an independent one for the evaluation futures.

    Parameters
    ----------
    scenario, plans, budget
        As :func:`retention_futures` and :func:`optimise_retention` (default: the
        scenario's own ``plans:`` and ``budget:``).
    n_paths : int
        Futures the allocation is chosen on.
    n_eval_paths : int
        Fresh, independent futures it is judged on.
    rng : numpy.random.Generator, int or None
        Root seed (SPEC 7), recorded in ``seed``.
    objective, risk_aversion, level, risk, time_limit, mip_rel_gap
        As :func:`optimise_retention`.
    npv_floor : float, "rules" or None
        Floor on expected NPV for ``objective="min_es"``. ``"rules"``: the exact expected
        NPV of the simple rule with the lowest ES on the optimisation futures, so the
        optimum must earn at least what that rule of thumb earns on average, and the
        question is how much less bad its bad years are.
    tactics : sequence of Tactic

    Returns
    -------
    RetentionStudy

    Examples
    --------
    >>> from kamsim.portfolio.datasets import load_sample
    >>> from kamsim.model.plans import RetentionPlan, RetentionPlans
    >>> sc = Scenario(portfolio=load_sample(), horizon_months=24)
    >>> menu = RetentionPlans(plans=[RetentionPlan(name="KAM", monthly_cost=1_000,
    ...                                            hazard_multiplier=0.6)])
    >>> st = plan_retention(sc, menu, 100_000, n_paths=500, n_eval_paths=2000, rng=2)
    >>> list(st.out_of_sample.allocation)[0]
    'optimised'
    """
    seed = root_seed(rng)
    ss_fit, ss_eval = np.random.SeedSequence(seed).spawn(2)
    fut = retention_futures(scenario, plans, n_paths=n_paths, rng=ss_fit, tactics=tactics)
    b = _scenario_budget(fut, budget)
    rules = simple_rules(fut, b, objective=objective, risk_aversion=risk_aversion,
                         level=level, risk=risk)
    floor: float | None
    if isinstance(npv_floor, str):
        if npv_floor != "rules":
            msg = f"npv_floor must be a number, 'rules' or None, got {npv_floor!r}"
            raise ValueError(msg)
        if not rules:
            raise AssumptionError("no simple rule fits the budget, so there is no rule's "
                                  "expected NPV to match; give a number", field="npv_floor")
        safest = min(rules.values(),
                     key=lambda a: expected_shortfall(fut.loss(a, risk), level))
        floor = fut.expected_npv(safest)
    else:
        floor = npv_floor
    opt = optimise_retention(fut, b, objective=objective, risk_aversion=risk_aversion,
                             level=level, risk=risk, npv_floor=floor,
                             time_limit=time_limit, mip_rel_gap=mip_rel_gap)
    fresh = retention_futures(scenario, fut.plans, n_paths=n_eval_paths, rng=ss_eval,
                              tactics=tactics)
    allocs = {"optimised": opt.allocation, **rules}
    fresh_allocs = {k: fresh.allocation(a.choice, label=k) for k, a in allocs.items()}
    ins = evaluate_allocations(fut, allocs, level=level, risk_aversion=opt.risk_aversion,
                               risk=risk)
    oos = evaluate_allocations(fresh, fresh_allocs, level=level,
                               risk_aversion=opt.risk_aversion, risk=risk)
    return RetentionStudy(optimum=opt, rules=rules, fresh=fresh, in_sample=ins,
                          out_of_sample=oos, seed=seed)


# ---------------------------------------------------------------------------------------
# the efficient frontier


@dataclass(frozen=True, eq=False)
class RetentionFrontier:
    """Optima over a range of budgets (or of risk aversions) on the same futures.

    Attributes
    ----------
    points : pandas.DataFrame
        One row per point: ``budget, risk_aversion, objective, expected_npv, es, spend,
        gap, carried_forward`` (the optimum at a smaller budget was at least as good and
        is kept, so the frontier never gets worse with more budget), ``solve_seconds``.
    allocations : list of Allocation
        The allocation of each point.
    futures : RetentionFutures
    level : float
        ES level.
    risk : {"churn", "npv"}
        What the ES is of.
    """

    points: pd.DataFrame = field(repr=False)
    allocations: list[Allocation] = field(repr=False)
    futures: RetentionFutures = field(repr=False)
    level: float = 0.95
    risk: Risk = "churn"

    def to_frame(self) -> pd.DataFrame:
        """The points, with the number of accounts on each plan (``n_<plan>``)."""
        counts = pd.DataFrame([a.counts().to_numpy() for a in self.allocations],
                              columns=[f"n_{p}" for p in self.futures.plan_names])
        return pd.concat([self.points.reset_index(drop=True), counts], axis=1)

    def assignments(self, *, tidy: bool = False) -> pd.DataFrame:
        """Which account gets which plan at each point.

        Wide (default): index ``account_id``, one column per point (its label), plan names
        as values; accounts that stay on the default everywhere are left out. ``tidy=True``:
        long form ``point, budget, risk_aversion, account_id, plan``.
        """
        labels = [a.label for a in self.allocations]
        wide = pd.DataFrame({lab: a.plans() for lab, a in zip(labels, self.allocations,
                                                               strict=True)},
                            index=pd.Index(self.futures.account_ids, name="account_id"))
        default = self.futures.plan_names[self.futures.default]
        if tidy:
            long = wide.reset_index().melt(id_vars="account_id", var_name="point",
                                           value_name="plan")
            info = self.points.assign(point=labels)[["point", "budget", "risk_aversion"]]
            return long.merge(info, on="point")[["point", "budget", "risk_aversion",
                                                 "account_id", "plan"]]
        return wide[(wide != default).any(axis=1)]


def retention_frontier(
    futures: RetentionFutures,
    budget: RetentionBudget | float | None = None,
    *,
    budgets: Sequence[float] | None = None,
    risk_aversions: Sequence[float] | None = None,
    objective: Objective = "mean_es",
    risk_aversion: float = 1.0,
    level: float = 0.95,
    risk: Risk = "churn",
    npv_floor: float | None = None,
    time_limit: float = 60.0,
    mip_rel_gap: float = 1e-6,
) -> RetentionFrontier:
    """The efficient frontier: optima as the budget (or the risk aversion) varies.

    Parameters
    ----------
    futures : RetentionFutures
    budget : RetentionBudget or float, optional
        Caps and forced choices (and the amount for a risk-aversion sweep); default the
        scenario's.
    budgets : sequence of float, optional
        Amounts to sweep (default: nine from 0 to twice ``budget.amount``).
    risk_aversions : sequence of float, optional
        Sweep ``lambda`` at ``budget.amount`` instead.
    objective, risk_aversion, level, risk, npv_floor, time_limit, mip_rel_gap
        As :func:`optimise_retention`.

    Returns
    -------
    RetentionFrontier

    Notes
    -----
    A bigger budget keeps every allocation a smaller one allowed, so the optimum cannot
    get worse; points are solved in increasing budget and, should the solver stop within
    its gap at a worse allocation, the previous point's allocation is kept
    (``carried_forward``). Budgets at which the forced choices do not fit are skipped.

    Examples
    --------
    >>> from kamsim.portfolio.datasets import load_sample
    >>> from kamsim.model.plans import RetentionPlan, RetentionPlans
    >>> sc = Scenario(portfolio=load_sample(), horizon_months=24)
    >>> menu = RetentionPlans(plans=[RetentionPlan(name="KAM", monthly_cost=1_000,
    ...                                            hazard_multiplier=0.6)], tiers=["key"])
    >>> fut = retention_futures(sc, menu, n_paths=500, rng=1)
    >>> fr = retention_frontier(fut, 50_000, budgets=[0, 50_000, 100_000])
    >>> bool(fr.points.objective.is_monotonic_increasing)
    True
    """
    lam, lev, floor = _check_common(objective, risk_aversion, level, npv_floor, risk)
    b = _scenario_budget(futures, budget)
    if budgets is not None and risk_aversions is not None:
        raise AssumptionError("sweep either budgets or risk_aversions, not both",
                              field="risk_aversions")
    rows: list[dict[str, Any]] = []
    allocs: list[Allocation] = []
    if risk_aversions is not None:
        for lam_k in sorted(float(x) for x in risk_aversions):
            opt = optimise_retention(futures, b, objective="mean_es", risk_aversion=lam_k,
                                     level=lev, risk=risk, time_limit=time_limit,
                                     mip_rel_gap=mip_rel_gap)
            allocs.append(replace(opt.allocation, label=f"lambda {lam_k:g}"))
            rows.append({"budget": b.amount, "risk_aversion": lam_k, "objective": opt.value,
                         "expected_npv": opt.expected_npv, "es": opt.es, "spend": opt.spend,
                         "gap": opt.gap, "carried_forward": False,
                         "solve_seconds": opt.solve_seconds})
        return RetentionFrontier(points=pd.DataFrame(rows), allocations=allocs,
                                 futures=futures, level=lev, risk=risk)
    if budgets is None:
        top = b.amount * 2 if b.amount > 0 else float(futures.spend.max(axis=1).sum()
                                                      + futures.fixed_spend.sum())
        budgets = list(np.linspace(0.0, top, 9))
    prev: tuple[float, IntArray] | None = None
    for amount in sorted(float(x) for x in budgets):
        bk = b.with_amount(amount)
        try:
            opt = optimise_retention(futures, bk, objective=objective, risk_aversion=lam,
                                     level=lev, risk=risk, npv_floor=floor,
                                     time_limit=time_limit, mip_rel_gap=mip_rel_gap)
        except AssumptionError as e:
            if e.field in ("budget.amount", "budget.force_in", "npv_floor"):
                continue
            raise
        c, value, carried = opt.allocation.choice, opt.value, False
        sign = -1.0 if objective == "min_es" else 1.0  # min_es: lower ES is better
        if prev is not None and sign * prev[0] > sign * value:
            c, value, carried = prev[1], prev[0], True
        es = expected_shortfall(futures.loss(c, risk), lev)
        allocs.append(futures.allocation(c, label=f"budget {amount:,.0f}"))
        rows.append({"budget": amount, "risk_aversion": lam, "objective": value,
                     "expected_npv": futures.expected_npv(c), "es": float(es),
                     "spend": futures.spend_of(c), "gap": opt.gap,
                     "carried_forward": carried, "solve_seconds": opt.solve_seconds})
        prev = (value, c)
    return RetentionFrontier(points=pd.DataFrame(rows), allocations=allocs, futures=futures,
                             level=lev, risk=risk)


def retention_budget_table(
    scenario: Scenario,
    *,
    n_paths: int = 5_000,
    rng: np.random.Generator | int | None = None,
    risk_aversion: float = 1.0,
    level: float = 0.95,
    risk: Risk = "churn",
    time_limit: float = 60.0,
) -> pd.DataFrame:
    """"Where the retention budget goes": the optimised plan per account, for reports.

    Uses the scenario's own ``plans:`` and ``budget:`` (its YAML); maximises
    ``E[NPV] - risk_aversion * ES`` on ``n_paths`` futures.

    Returns
    -------
    pandas.DataFrame
        :meth:`RetentionOptimum.to_frame`: one row per account on a plan, columns
        ``account_id, name, tier, revenue, plan, planned_spend, churn_prob,
        churn_prob_with_plan, expected_npv_change``. Its ``attrs`` hold ``budget``,
        ``spend``, ``expected_npv``, ``es``, ``gap`` and ``level`` of the optimum.

    Raises
    ------
    AssumptionError
        If the scenario names no plans or no budget.

    Examples
    --------
    >>> from kamsim.model import Scenario
    >>> from kamsim.portfolio.datasets import data_dir
    >>> sc = Scenario.from_yaml(data_dir() / "sample_scenario.yaml")
    >>> t = retention_budget_table(sc, n_paths=1000, rng=1)
    >>> bool(t.planned_spend.sum() <= sc.budget.amount)
    True
    """
    fut = retention_futures(scenario, None, n_paths=n_paths, rng=rng)
    opt = optimise_retention(fut, None, risk_aversion=risk_aversion, level=level, risk=risk,
                             time_limit=time_limit)
    table = opt.to_frame()
    table.attrs.update({"budget": opt.budget.amount, "spend": opt.spend,
                        "expected_npv": opt.expected_npv, "es": opt.es, "gap": opt.gap,
                        "level": opt.level})
    return table
