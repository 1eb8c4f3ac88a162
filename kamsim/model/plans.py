"""Retention plans and the retention budget: the frozen inputs of the budget optimiser.

A strategist with a retention budget chooses, for each key account in scope, **one** plan
from a small menu (say "none", "standard KAM", "dedicated team", "price concession 2 %").
This module holds what those choices are made of; :mod:`kamsim.economics.retention` values them on
simulated futures and chooses.

* :class:`RetentionPlan`: one plan's costs (one-off and per month per account, plus a
  fixed monthly cost of running the plan at all) and effects (a churn-hazard multiplier,
  a price concession, margin, volume and cost-to-serve changes). A plan may also name
  KAM tactics (:data:`kamsim.economics.program.DEFAULT_TACTICS` by default); their costs and
  effects are combined with the plan's own as in :class:`kamsim.economics.program.KamProgram`.
* :class:`PlanOverride`: a per-account exception (the dedicated team costs more for a
  multi-site account, a concession is not on offer for another).
* :class:`RetentionPlans`: the menu, the default plan (what an account gets when it gets
  nothing), the accounts in scope (by tier), overrides and valuation settings.
* :class:`RetentionBudget`: the constraints: a total budget, optional caps on how many
  accounts a plan can take, accounts forced in (must get some plan) or out (must stay on
  the default), and fixed choices.

Spend against the budget
------------------------
The budget is the **planned spend over the scenario's horizon**: for each account on plan
``j``, ``one_off_cost + monthly_cost * H`` plus the concession at today's revenue,
``price_cut * revenue * H / 12``; for each plan used at all, ``fixed_monthly_cost * H``.
The valuation (:mod:`kamsim.economics.retention`) is more careful (monthly costs and concessions
stop when an account leaves, everything is discounted); the budget is what a finance
team would sign off before knowing who leaves.

All values are assumptions to be set from the user's own experience; the bundled sample
scenario's plans are illustrative (``data/README.md`` says where their numbers come from).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from kamsim._util.validate import from_dict
from kamsim._util.validate import number as _number
from kamsim._util.validate import whole as _whole
from kamsim.exceptions import AssumptionError

__all__ = [
    "PLAN_EFFECTS",
    "PlanOverride",
    "RetentionBudget",
    "RetentionPlan",
    "RetentionPlans",
    "check_plan_inputs",
]

#: Plan fields that a :class:`PlanOverride` can replace for one account.
PLAN_EFFECTS = ("one_off_cost", "monthly_cost", "hazard_multiplier", "price_cut",
                "margin_change", "volume_change", "efficiency_gain")


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise AssumptionError(f"must be a non-empty text, got {value!r}", field=name)
    return value


def _texts(value: Any, name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = (value,)
    try:
        items = tuple(value)
    except TypeError:
        raise AssumptionError(f"must be a list of names, got {value!r}", field=name) from None
    out = tuple(_text(v, f"{name}[{i}]") for i, v in enumerate(items))
    dup = sorted({v for v in out if out.count(v) > 1})
    if dup:
        raise AssumptionError(f"names must be unique, repeated: {dup}", field=name)
    return out


def _check_effects(obj: Any, prefix: str, optional: bool) -> None:
    rules: dict[str, dict[str, Any]] = {
        "one_off_cost": {"lo": 0.0},
        "monthly_cost": {"lo": 0.0},
        "hazard_multiplier": {"lo": 0.0},
        "price_cut": {"lo": 0.0, "hi": 1.0, "hi_open": True},
        "margin_change": {"lo": -1.0, "hi": 1.0, "lo_open": True, "hi_open": True},
        "volume_change": {"lo": -1.0, "lo_open": True},
        "efficiency_gain": {"lo": 0.0, "hi": 1.0, "hi_open": True},
    }
    for name, kw in rules.items():
        value = getattr(obj, name)
        if optional and value is None:
            continue
        object.__setattr__(obj, name, _number(value, prefix + name, **kw))


@dataclass(frozen=True, slots=True, kw_only=True)
class RetentionPlan:
    """One retention plan: what it costs per account and what it changes.

    Parameters
    ----------
    name : str
        Short label, unique in the menu.
    description : str
        What the plan is.
    tactics : sequence of str
        Names of KAM tactics (default catalogue :data:`kamsim.economics.program.DEFAULT_TACTICS`)
        whose costs and effects add to the plan's own: hazard multipliers and volume
        factors multiply, margin changes and efficiency gains add, a tactic's annual
        ``cost_per_account`` adds ``/ 12`` to ``monthly_cost`` and its annual
        ``fixed_cost`` ``/ 12`` to ``fixed_monthly_cost``. Names are checked against the
        catalogue when the plans are valued.
    one_off_cost : float
        Cost per account at the start (currency, >= 0), e.g. an account-plan workshop or
        integrating ordering systems.
    monthly_cost : float
        Cost per account per month while the account buys (currency, >= 0), e.g. the
        share of a key-account manager's loaded salary.
    fixed_monthly_cost : float
        Cost per month of running the plan at all, whatever the number of accounts on it
        (currency, >= 0; the optimiser pays it only if some account gets the plan).
    hazard_multiplier : float
        Multiplier on the account's churn hazard (>= 0; 0.7 = 30 % less likely to leave
        in any month).
    price_cut : float
        Price concession as a fraction of revenue, in [0, 1): revenue and gross profit
        fall by ``price_cut * revenue`` while the account buys.
    margin_change : float
        Change in gross margin as a fraction of revenue, in (-1, 1).
    volume_change : float
        Relative change in volume (0.02 = 2 % more), > -1.
    efficiency_gain : float
        Reduction in cost to serve as a fraction of revenue, in [0, 1).

    Examples
    --------
    >>> p = RetentionPlan(name="standard KAM", monthly_cost=1_000, hazard_multiplier=0.85)
    >>> RetentionPlan.from_dict(p.to_dict()) == p
    True
    >>> RetentionPlan(name="bad", monthly_cost=-1)
    Traceback (most recent call last):
    ...
    kamsim.exceptions.AssumptionError: plan 'bad'.monthly_cost: must be >= 0, got -1
    """

    name: str
    description: str = ""
    tactics: tuple[str, ...] = ()
    one_off_cost: float = 0.0
    monthly_cost: float = 0.0
    fixed_monthly_cost: float = 0.0
    hazard_multiplier: float = 1.0
    price_cut: float = 0.0
    margin_change: float = 0.0
    volume_change: float = 0.0
    efficiency_gain: float = 0.0

    def __post_init__(self) -> None:
        _text(self.name, "plan.name")
        p = f"plan {self.name!r}."
        if not isinstance(self.description, str):
            raise AssumptionError(f"must be a text, got {self.description!r}",
                                  field=p + "description")
        object.__setattr__(self, "tactics", _texts(self.tactics, p + "tactics"))
        object.__setattr__(self, "fixed_monthly_cost", _number(
            self.fixed_monthly_cost, p + "fixed_monthly_cost", lo=0.0))
        _check_effects(self, p, optional=False)

    @property
    def is_free(self) -> bool:
        """No cost, no concession and no effect at all (a pure "do nothing")."""
        return (self.one_off_cost == 0 and self.monthly_cost == 0
                and self.fixed_monthly_cost == 0 and self.price_cut == 0
                and self.hazard_multiplier == 1 and self.margin_change == 0
                and self.volume_change == 0 and self.efficiency_gain == 0
                and not self.tactics)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (YAML-safe)."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["tactics"] = list(self.tactics)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RetentionPlan:
        """Build from a plain dict; unknown keys raise :class:`AssumptionError`."""
        kw = dict(d) if isinstance(d, Mapping) else d
        if isinstance(kw, dict) and kw.get("tactics") is not None:
            kw["tactics"] = _texts(kw["tactics"], f"plan {kw.get('name')!r}.tactics")
        return from_dict(cls, kw, "plan")


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanOverride:
    """A per-account exception to one plan of the menu.

    Parameters
    ----------
    account_id : str
        The account (must be in scope).
    plan : str
        The plan it concerns (must be on the menu).
    available : bool
        False: this plan is not on offer for this account.
    one_off_cost, monthly_cost, hazard_multiplier, price_cut, margin_change, \
volume_change, efficiency_gain : float, optional
        Replace the plan's *combined* value (own and tactics') for this account; None
        keeps it.

    Examples
    --------
    >>> o = PlanOverride(account_id="A0042", plan="dedicated team", monthly_cost=12_000)
    >>> PlanOverride.from_dict(o.to_dict()) == o
    True
    """

    account_id: str
    plan: str
    available: bool = True
    one_off_cost: float | None = None
    monthly_cost: float | None = None
    hazard_multiplier: float | None = None
    price_cut: float | None = None
    margin_change: float | None = None
    volume_change: float | None = None
    efficiency_gain: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "account_id", _text(str(self.account_id),
                                                     "override.account_id"))
        _text(self.plan, "override.plan")
        if not isinstance(self.available, bool):
            raise AssumptionError(f"must be True or False, got {self.available!r}",
                                  field="override.available")
        _check_effects(self, f"override {self.account_id!r}/{self.plan!r}.", optional=True)

    def changes(self) -> dict[str, float]:
        """The values this override replaces (field name to value)."""
        return {k: float(v) for k in PLAN_EFFECTS if (v := getattr(self, k)) is not None}

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (YAML-safe); unset fields are left out."""
        d: dict[str, Any] = {"account_id": self.account_id, "plan": self.plan}
        if not self.available:
            d["available"] = False
        return d | self.changes()

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PlanOverride:
        """Build from a plain dict; unknown keys raise :class:`AssumptionError`."""
        return from_dict(cls, d, "override")


@dataclass(frozen=True, slots=True, kw_only=True)
class RetentionPlans:
    """The menu of retention plans, who it is for, and how plans are valued.

    Parameters
    ----------
    plans : sequence of RetentionPlan
        The menu (names unique). If no plan is named ``default``, a free "do nothing"
        plan of that name is put first.
    default : str
        The plan an account gets when it gets nothing (forced-out accounts stay on it).
    tiers : sequence of str or None
        Tiers whose accounts are in scope (see :meth:`kamsim.model.Scenario.tiers`);
        None = every account.
    overrides : sequence of PlanOverride
        Per-account exceptions (at most one per account and plan).
    ramp_months : int
        Months over which margin, volume and efficiency effects phase in linearly (0 =
        in full from month 1). Costs, concessions and the hazard effect start in month 1.
    discount_rate : float
        Annual discount rate of the NPVs, in [0, 1].
    include_cost_to_serve : bool
        Subtract the portfolio's ``cost_to_serve`` from gross profit.

    Examples
    --------
    >>> menu = RetentionPlans(plans=[RetentionPlan(name="standard KAM", monthly_cost=1e3,
    ...                                            hazard_multiplier=0.85)])
    >>> menu.names
    ('none', 'standard KAM')
    >>> RetentionPlans.from_dict(menu.to_dict()) == menu
    True
    """

    plans: tuple[RetentionPlan, ...] = ()
    default: str = "none"
    tiers: tuple[str, ...] | None = ("key", "strategic")
    overrides: tuple[PlanOverride, ...] = ()
    ramp_months: int = 0
    discount_rate: float = 0.08
    include_cost_to_serve: bool = True

    def __post_init__(self) -> None:
        try:
            plans = tuple(self.plans)
        except TypeError:
            raise AssumptionError("must be a list of RetentionPlan", field="plans") from None
        for i, p in enumerate(plans):
            if not isinstance(p, RetentionPlan):
                raise AssumptionError(f"must be a RetentionPlan, got {type(p).__name__}",
                                      field=f"plans[{i}]")
        _text(self.default, "plans.default")
        names = [p.name for p in plans]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise AssumptionError(f"plan names must be unique, repeated: {dup}",
                                  field="plans")
        if self.default not in names:
            plans = (RetentionPlan(name=self.default,
                                   description="no retention plan (do nothing)"), *plans)
        if len(plans) < 2:
            raise AssumptionError("the menu needs at least one plan besides the default "
                                  f"{self.default!r}", field="plans")
        object.__setattr__(self, "plans", plans)
        if self.tiers is not None:
            tiers = _texts(self.tiers, "plans.tiers")
            if not tiers:
                raise AssumptionError("must name at least one tier (or be None for all "
                                      "accounts)", field="plans.tiers")
            object.__setattr__(self, "tiers", tiers)
        try:
            overrides = tuple(self.overrides)
        except TypeError:
            raise AssumptionError("must be a list of PlanOverride",
                                  field="plans.overrides") from None
        seen: set[tuple[str, str]] = set()
        known = set(self.names)
        for i, o in enumerate(overrides):
            f = f"plans.overrides[{i}]"
            if not isinstance(o, PlanOverride):
                raise AssumptionError(f"must be a PlanOverride, got {type(o).__name__}",
                                      field=f)
            if o.plan not in known:
                raise AssumptionError(f"unknown plan {o.plan!r}; the menu has "
                                      f"{sorted(known)}", field=f + ".plan")
            if (o.account_id, o.plan) in seen:
                raise AssumptionError(f"a second override of plan {o.plan!r} for account "
                                      f"{o.account_id!r}; merge them into one", field=f)
            seen.add((o.account_id, o.plan))
        object.__setattr__(self, "overrides", overrides)
        object.__setattr__(self, "ramp_months", _whole(self.ramp_months,
                                                       "plans.ramp_months"))
        object.__setattr__(self, "discount_rate", _number(
            self.discount_rate, "plans.discount_rate", lo=0.0, hi=1.0))
        if not isinstance(self.include_cost_to_serve, bool):
            raise AssumptionError("must be True or False",
                                  field="plans.include_cost_to_serve")

    @property
    def names(self) -> tuple[str, ...]:
        """Plan names in menu order."""
        return tuple(p.name for p in self.plans)

    @property
    def default_index(self) -> int:
        """Position of the default plan in :attr:`names`."""
        return self.names.index(self.default)

    def plan(self, name: str) -> RetentionPlan:
        """The plan called ``name``."""
        for p in self.plans:
            if p.name == name:
                return p
        raise AssumptionError(f"unknown plan {name!r}; the menu has {list(self.names)}",
                              field="plans")

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (YAML-safe)."""
        d: dict[str, Any] = {
            "menu": [p.to_dict() for p in self.plans], "default": self.default,
            "tiers": None if self.tiers is None else list(self.tiers),
            "ramp_months": self.ramp_months, "discount_rate": self.discount_rate,
            "include_cost_to_serve": self.include_cost_to_serve}
        if self.overrides:
            d["overrides"] = [o.to_dict() for o in self.overrides]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RetentionPlans:
        """Build from a plain dict (the ``plans:`` block of a scenario YAML).

        ``menu`` is the list of plans; the other keys are this class's fields.
        """
        if not isinstance(d, Mapping):
            raise AssumptionError(f"must be a mapping with a 'menu' list, got {d!r}",
                                  field="plans")
        known = {"menu", "default", "tiers", "overrides", "ramp_months", "discount_rate",
                 "include_cost_to_serve"}
        unknown = sorted(set(d) - known)
        if unknown:
            raise AssumptionError(f"unknown field(s) {unknown}; valid fields are "
                                  f"{sorted(known)}", field="plans")
        kw: dict[str, Any] = {k: v for k, v in d.items() if k not in ("menu", "overrides")}
        menu = d.get("menu") or []
        if not isinstance(menu, Sequence) or isinstance(menu, str):
            raise AssumptionError("must be a list of plans", field="plans.menu")
        kw["plans"] = tuple(_plan_from(p, i) for i, p in enumerate(menu))
        ovr = d.get("overrides") or []
        if not isinstance(ovr, Sequence) or isinstance(ovr, str):
            raise AssumptionError("must be a list of overrides", field="plans.overrides")
        kw["overrides"] = tuple(_override_from(o, i) for i, o in enumerate(ovr))
        return cls(**kw)


def _plan_from(d: Any, i: int) -> RetentionPlan:
    try:
        return RetentionPlan.from_dict(d)
    except AssumptionError as e:
        raise AssumptionError(e.message, field=f"plans.menu[{i}]: {e.field}") from None


def _override_from(d: Any, i: int) -> PlanOverride:
    try:
        return PlanOverride.from_dict(d)
    except AssumptionError as e:
        raise AssumptionError(e.message, field=f"plans.overrides[{i}]: {e.field}") from None


@dataclass(frozen=True, slots=True, kw_only=True)
class RetentionBudget:
    """What the retention budget allows: a total, caps, forced and fixed choices.

    Parameters
    ----------
    amount : float
        Total planned spend over the horizon (currency, >= 0; see the module notes for
        what counts).
    caps : mapping of str to int
        Largest number of accounts a plan may take (e.g. only 3 dedicated teams can be
        staffed).
    force_in : sequence of str
        Accounts that must get some plan other than the default.
    force_out : sequence of str
        Accounts that must stay on the default plan.
    fixed : mapping of str to str
        Accounts whose plan is decided already (account id to plan name).

    Examples
    --------
    >>> b = RetentionBudget(amount=400_000, caps={"dedicated team": 2})
    >>> RetentionBudget.from_dict(b.to_dict()) == b
    True
    >>> RetentionBudget(amount=-1)
    Traceback (most recent call last):
    ...
    kamsim.exceptions.AssumptionError: budget.amount: must be >= 0, got -1
    """

    amount: float
    caps: Mapping[str, int] = field(default_factory=dict)
    force_in: tuple[str, ...] = ()
    force_out: tuple[str, ...] = ()
    fixed: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "amount", _number(self.amount, "budget.amount", lo=0.0))
        if not isinstance(self.caps, Mapping):
            raise AssumptionError(f"must be a mapping of plan name to a whole number, got "
                                  f"{self.caps!r}", field="budget.caps")
        object.__setattr__(self, "caps", {
            _text(k, "budget.caps"): _whole(v, f"budget.caps[{k!r}]")
            for k, v in self.caps.items()})
        object.__setattr__(self, "force_in", _texts(
            _as_ids(self.force_in), "budget.force_in"))
        object.__setattr__(self, "force_out", _texts(
            _as_ids(self.force_out), "budget.force_out"))
        both = sorted(set(self.force_in) & set(self.force_out))
        if both:
            raise AssumptionError(f"account(s) {both} are in both force_in and force_out; "
                                  "keep each in one list", field="budget.force_out")
        if not isinstance(self.fixed, Mapping):
            raise AssumptionError(f"must be a mapping of account id to plan name, got "
                                  f"{self.fixed!r}", field="budget.fixed")
        object.__setattr__(self, "fixed", {
            _text(str(k), "budget.fixed"): _text(v, f"budget.fixed[{k!r}]")
            for k, v in self.fixed.items()})

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (YAML-safe)."""
        d: dict[str, Any] = {"amount": self.amount}
        if self.caps:
            d["caps"] = dict(self.caps)
        if self.force_in:
            d["force_in"] = list(self.force_in)
        if self.force_out:
            d["force_out"] = list(self.force_out)
        if self.fixed:
            d["fixed"] = dict(self.fixed)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | float) -> RetentionBudget:
        """Build from a plain dict, or from a number (the amount alone)."""
        if isinstance(d, int | float) and not isinstance(d, bool):
            return cls(amount=d)
        return from_dict(cls, d, "budget")

    def with_amount(self, amount: float) -> RetentionBudget:
        """Copy with another total."""
        return RetentionBudget(amount=amount, caps=self.caps, force_in=self.force_in,
                               force_out=self.force_out, fixed=self.fixed)


def _as_ids(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    try:
        return tuple(str(v) for v in value)
    except TypeError:
        return value


def check_plan_inputs(plans: RetentionPlans, budget: RetentionBudget | None,
                      account_ids: Iterable[str], in_scope: Iterable[str]) -> None:
    """Check that overrides and budget name known plans and accounts in scope.

    Parameters
    ----------
    plans : RetentionPlans
    budget : RetentionBudget or None
    account_ids : iterable of str
        Every account of the portfolio.
    in_scope : iterable of str
        The accounts of ``plans.tiers``.

    Raises
    ------
    AssumptionError
        Naming the field (``plans.overrides[i].account_id``, ``budget.caps``,
        ``budget.force_in``, ``budget.fixed[...]``) with the unknown name.

    Examples
    --------
    >>> menu = RetentionPlans(plans=[RetentionPlan(name="KAM", monthly_cost=1e3)])
    >>> budget = RetentionBudget(amount=1e5, caps={"team": 1})
    >>> check_plan_inputs(menu, budget, ["A"], ["A"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    kamsim.exceptions.AssumptionError: budget.caps: unknown plan(s) ['team']; the menu ...
    """
    ids = {str(a) for a in account_ids}
    scope = {str(a) for a in in_scope}
    names = set(plans.names)

    def where(a: str) -> str:
        return ("is not in the portfolio" if a not in ids
                else f"is not in scope (tiers {list(plans.tiers or [])})")

    for i, o in enumerate(plans.overrides):
        if o.account_id not in scope:
            raise AssumptionError(f"account {o.account_id!r} {where(o.account_id)}",
                                  field=f"plans.overrides[{i}].account_id")
    if budget is None:
        return
    unknown = sorted(set(budget.caps) - names)
    if unknown:
        raise AssumptionError(f"unknown plan(s) {unknown}; the menu has {sorted(names)}",
                              field="budget.caps")
    for key in ("force_in", "force_out"):
        for a in getattr(budget, key):
            if a not in scope:
                raise AssumptionError(f"account {a!r} {where(a)}", field=f"budget.{key}")
    for a, p in budget.fixed.items():
        if a not in scope:
            raise AssumptionError(f"account {a!r} {where(a)}", field=f"budget.fixed[{a!r}]")
        if p not in names:
            raise AssumptionError(f"unknown plan {p!r}; the menu has {sorted(names)}",
                                  field=f"budget.fixed[{a!r}]")
        if a in budget.force_out and p != plans.default:
            raise AssumptionError(f"account {a!r} is forced out but fixed to plan {p!r}; "
                                  "drop it from one of the two", field=f"budget.fixed[{a!r}]")
        if a in budget.force_in and p == plans.default:
            raise AssumptionError(f"account {a!r} is forced in but fixed to the default "
                                  f"plan {p!r}; drop it from one of the two",
                                  field=f"budget.fixed[{a!r}]")
