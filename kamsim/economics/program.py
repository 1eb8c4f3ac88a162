"""The seven KAM tactics as levers with costs and effects, and the program's ROI.

Each :class:`Tactic` has an annual cost (fixed, and per targeted account) and effects on
the targeted accounts: a churn-hazard multiplier (exit barriers), an efficiency gain
(lower cost to serve), a change in gross margin and a change in volume. A
:class:`KamProgram` combines tactics (hazard multipliers multiply; gains, margin changes
and costs add; volume factors multiply) for the accounts of some tiers.

:data:`DEFAULT_TACTICS` lists the seven classic KAM tactics with **illustrative
numbers only**: they are placeholders that show the mechanics, not facts about any
business. Replace every cost and effect with your own estimates before drawing
conclusions.

:func:`evaluate_program` values "program" against "no program" on common random numbers
(:func:`kamsim.engine.churn_events` with one seed), with the same profit model as
:mod:`kamsim.economics.pricing` (gross profit minus cost to serve, monthly NPV), and tests every
tactic alone (vs no program) and at the margin (full program vs program without it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from kamsim._util.validate import from_dict
from kamsim._util.validate import number as _number
from kamsim._util.validate import whole as _whole
from kamsim.economics.npv import (
    Plan,
    discount_factors,
    hazard_scaled_probs,
    scope_mask,
    survival,
    tiers_field,
)
from kamsim.economics.pricing import PolicyComparison, base_contribution, evaluate_plans
from kamsim.exceptions import AssumptionError
from kamsim.model import Scenario

__all__ = [
    "DEFAULT_TACTICS",
    "ILLUSTRATIVE_NOTE",
    "KamProgram",
    "ProgramResult",
    "Tactic",
    "evaluate_program",
]

FloatArray = npt.NDArray[np.float64]

#: Shown wherever the default tactics are used.
ILLUSTRATIVE_NOTE = (
    "Illustrative assumptions, not facts: the default costs and effects of the seven "
    "tactics only show the mechanics. Replace them with your own estimates.")


@dataclass(frozen=True, slots=True, kw_only=True)
class Tactic:
    """One KAM tactic: what it costs per year and what it changes for targeted accounts.

    Parameters
    ----------
    name : str
        Short label.
    description : str
        What the tactic is.
    fixed_cost : float
        Annual cost independent of the number of accounts (currency, >= 0).
    cost_per_account : float
        Annual cost per targeted account while it buys (currency, >= 0).
    hazard_multiplier : float
        Multiplier on the churn hazard of targeted accounts (> 0; below 1 = exit
        barriers that make leaving harder).
    efficiency_gain : float
        Reduction in cost to serve as a fraction of revenue, in [0, 1).
    margin_change : float
        Change in gross margin as a fraction of revenue (negative for a rebate or
        discount, positive for premium customised products), in (-1, 1).
    volume_change : float
        Relative change in volume (e.g. 0.02 = 2 % more), > -1.

    Examples
    --------
    >>> t = Tactic(name="KAM", cost_per_account=50_000, hazard_multiplier=0.8)
    >>> Tactic.from_dict(t.to_dict()) == t
    True
    >>> Tactic(name="bad", hazard_multiplier=-1)
    Traceback (most recent call last):
    ...
    kamsim.exceptions.AssumptionError: tactic 'bad'.hazard_multiplier: must be >= 0, got -1
    """

    name: str
    description: str = ""
    fixed_cost: float = 0.0
    cost_per_account: float = 0.0
    hazard_multiplier: float = 1.0
    efficiency_gain: float = 0.0
    margin_change: float = 0.0
    volume_change: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise AssumptionError("must be a non-empty text", field="tactic.name")
        p = f"tactic {self.name!r}."

        def put(name: str, value: float) -> None:
            object.__setattr__(self, name, value)

        put("fixed_cost", _number(self.fixed_cost, p + "fixed_cost", lo=0.0))
        put("cost_per_account", _number(self.cost_per_account, p + "cost_per_account",
                                        lo=0.0))
        put("hazard_multiplier", _number(self.hazard_multiplier, p + "hazard_multiplier",
                                         lo=0.0))
        put("efficiency_gain", _number(self.efficiency_gain, p + "efficiency_gain", lo=0.0,
                                       hi=1.0, hi_open=True))
        put("margin_change", _number(self.margin_change, p + "margin_change", lo=-1.0,
                                     hi=1.0, lo_open=True, hi_open=True))
        put("volume_change", _number(self.volume_change, p + "volume_change", lo=-1.0,
                                     lo_open=True))

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (YAML-safe)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Tactic:
        """Build from a plain dict; unknown keys raise :class:`AssumptionError`."""
        return from_dict(cls, d, "tactic")


#: The seven classic KAM tactics, with ILLUSTRATIVE costs and effects (see
#: :data:`ILLUSTRATIVE_NOTE`): replace them with your own numbers.
DEFAULT_TACTICS: tuple[Tactic, ...] = (
    Tactic(name="1 key-account manager",
           description="One point of contact with dedicated service, scheduling and "
                       "inventory staff (salary).",
           cost_per_account=30_000.0, hazard_multiplier=0.80, efficiency_gain=0.005),
    Tactic(name="2 volume discounts / rebates",
           description="Tiered discounts and rebates; expected by every key account.",
           margin_change=-0.01, hazard_multiplier=0.95, volume_change=0.02),
    Tactic(name="3 priority ordering",
           description="Privileged access to the online ordering system.",
           fixed_cost=20_000.0, cost_per_account=1_000.0, hazard_multiplier=0.97,
           efficiency_gain=0.002),
    Tactic(name="4 customised products",
           description="Private label and modified features.",
           cost_per_account=8_000.0, hazard_multiplier=0.90, margin_change=0.005),
    Tactic(name="5 account's own units",
           description="Selling in the account's units (piece, carton, ...).",
           cost_per_account=2_000.0, hazard_multiplier=0.98, efficiency_gain=0.001),
    Tactic(name="6 cross-business teams",
           description="Joint product development, quality and branding initiatives.",
           cost_per_account=8_000.0, hazard_multiplier=0.92, volume_change=0.01),
    Tactic(name="7 integrated delivery",
           description="Integrated delivery, fulfilment, reorder points, inventory and "
                       "invoicing: strong exit barriers.",
           fixed_cost=50_000.0, cost_per_account=10_000.0, hazard_multiplier=0.75,
           efficiency_gain=0.01),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class KamProgram:
    """A KAM program: tactics applied to the accounts of some tiers.

    Parameters
    ----------
    tactics : sequence of Tactic
        The tactics (names must be unique). Default: :data:`DEFAULT_TACTICS`
        (illustrative).
    tiers : sequence of str or None
        Tiers targeted by the program; None = every account.
    ramp_months : int
        Months over which efficiency, margin and volume effects phase in linearly (0 =
        immediately). Costs and the hazard effect start in month 1.
    pass_through : float
        Fraction of the efficiency gains handed back as price cuts, in [0, 1].
    discount_rate : float
        Annual discount rate of NPVs, in [0, 1].
    include_cost_to_serve : bool
        Subtract the portfolio's ``cost_to_serve`` from gross profit.

    Examples
    --------
    >>> prog = KamProgram(tactics=DEFAULT_TACTICS[:2])
    >>> round(prog.hazard_multiplier, 4)
    0.76
    >>> KamProgram.from_dict(prog.to_dict()) == prog
    True
    """

    tactics: tuple[Tactic, ...] = DEFAULT_TACTICS
    tiers: tuple[str, ...] | None = ("key",)
    ramp_months: int = 6
    pass_through: float = 0.0
    discount_rate: float = 0.08
    include_cost_to_serve: bool = True

    def __post_init__(self) -> None:
        tactics = tuple(self.tactics)
        if not all(isinstance(t, Tactic) for t in tactics):
            raise AssumptionError("must be a sequence of Tactic", field="tactics")
        names = [t.name for t in tactics]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise AssumptionError(f"tactic names must be unique, repeated: {dup}",
                                  field="tactics")
        object.__setattr__(self, "tactics", tactics)
        object.__setattr__(self, "tiers", tiers_field(self.tiers, "tiers"))
        object.__setattr__(self, "ramp_months", _whole(self.ramp_months, "ramp_months"))
        object.__setattr__(self, "pass_through", _number(self.pass_through, "pass_through",
                                                         lo=0.0, hi=1.0))
        object.__setattr__(self, "discount_rate", _number(self.discount_rate,
                                                          "discount_rate", lo=0.0, hi=1.0))
        if not isinstance(self.include_cost_to_serve, bool):
            raise AssumptionError("must be True or False", field="include_cost_to_serve")

    # combined effects
    @property
    def hazard_multiplier(self) -> float:
        """Product of the tactics' hazard multipliers."""
        return float(np.prod([t.hazard_multiplier for t in self.tactics]))

    @property
    def efficiency_gain(self) -> float:
        """Sum of the tactics' efficiency gains (fraction of revenue)."""
        return float(sum(t.efficiency_gain for t in self.tactics))

    @property
    def margin_change(self) -> float:
        """Sum of the tactics' margin changes (fraction of revenue)."""
        return float(sum(t.margin_change for t in self.tactics))

    @property
    def volume_factor(self) -> float:
        """Product of ``1 + volume_change``."""
        return float(np.prod([1.0 + t.volume_change for t in self.tactics]))

    @property
    def fixed_cost(self) -> float:
        """Annual fixed cost of all tactics."""
        return float(sum(t.fixed_cost for t in self.tactics))

    @property
    def cost_per_account(self) -> float:
        """Annual cost per targeted account of all tactics."""
        return float(sum(t.cost_per_account for t in self.tactics))

    def with_tactics(self, tactics: Sequence[Tactic]) -> KamProgram:
        """Copy with another set of tactics."""
        from dataclasses import replace

        return replace(self, tactics=tuple(tactics))

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (YAML-safe)."""
        return {"tactics": [t.to_dict() for t in self.tactics],
                "tiers": None if self.tiers is None else list(self.tiers),
                "ramp_months": self.ramp_months, "pass_through": self.pass_through,
                "discount_rate": self.discount_rate,
                "include_cost_to_serve": self.include_cost_to_serve}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> KamProgram:
        """Build from a plain dict; unknown keys raise :class:`AssumptionError`."""
        kw = dict(d)
        if "tactics" in kw:
            kw["tactics"] = tuple(Tactic.from_dict(t) for t in kw["tactics"])
        return from_dict(cls, kw, "program")


def program_plan(scenario: Scenario, program: KamProgram | None, label: str) -> Plan:
    """The valuation plan of a program (``None`` = no program)."""
    pf = scenario.portfolio
    h = scenario.horizon_months
    rev = np.asarray(pf.revenue, dtype=np.float64)
    gp, cts = base_contribution(scenario, True if program is None
                                else program.include_cost_to_serve)
    margin = np.divide(gp, rev, out=np.zeros_like(rev), where=rev > 0)
    probs = scenario.annual_probs()
    if program is None or not program.tactics:
        profit = np.repeat(((gp - cts) / 12.0)[:, None], h, axis=1)
        revenue = np.repeat((rev / 12.0)[:, None], h, axis=1)
        return Plan(label=label, profit=profit, revenue=revenue, probs=probs,
                    overhead=np.zeros(h))
    mask = scope_mask(scenario, program.tiers, "tiers")
    t = np.arange(1, h + 1, dtype=np.float64)
    ramp = np.ones(h) if program.ramp_months == 0 else np.minimum(t / program.ramp_months, 1)
    m_ = mask[:, None] * ramp[None, :]  # effect share per account and month
    gain = program.efficiency_gain * rev
    if program.include_cost_to_serve and pf.has("cost_to_serve"):
        over = np.flatnonzero(mask & (gain > cts + 1e-9))
        if over.size:
            ids = ", ".join(str(a) for a in pf.account_ids[over[:5]])
            raise AssumptionError(
                f"the program's efficiency gain ({program.efficiency_gain:.2%} of revenue) "
                f"exceeds the cost to serve of {over.size} targeted account(s) ({ids})",
                field="tactics")
    cut = program.pass_through * program.efficiency_gain
    vol = 1.0 + (program.volume_factor - 1.0) * m_
    new_margin = margin[:, None] + (program.margin_change - cut) * m_
    revenue = vol * rev[:, None] * (1.0 - cut * m_) / 12.0
    profit = (vol * rev[:, None] * new_margin - cts[:, None] + gain[:, None] * m_) / 12.0
    profit = profit - (mask * program.cost_per_account)[:, None] / 12.0
    k = np.where(mask, program.hazard_multiplier, 1.0)
    return Plan(label=label, profit=profit, revenue=revenue,
                probs=hazard_scaled_probs(probs, k),
                overhead=np.full(h, -program.fixed_cost / 12.0))


@dataclass(frozen=True, eq=False)
class ProgramResult:
    """What :func:`evaluate_program` returns.

    Attributes
    ----------
    program : KamProgram
    comparison : PolicyComparison
        Per-path NPVs of: ``"no program"`` (reference), ``"program"``, each tactic
        alone (``"only: NAME"``) and the program without each tactic
        (``"without: NAME"``), all on common random numbers.
    tactic_costs : dict of str to float
        Expected NPV of each tactic's cost alone (fixed + per account while accounts
        stay).
    """

    program: KamProgram
    comparison: PolicyComparison
    tactic_costs: dict[str, float] = field(repr=False)

    def incremental(self) -> FloatArray:
        """Per-path incremental NPV of the program over no program (currency)."""
        return np.asarray(self.comparison.npv_paths[1] - self.comparison.npv_paths[0])

    def summary(self) -> pd.DataFrame:
        """Headline figures of program vs no program (``metric``, ``value``, ``unit``)."""
        c = self.comparison
        inc = self.incremental()
        se = float(c.difference_se(0)[1])
        cost = self._program_cost()
        rows = [
            ("expected NPV without program", float(c.expected[0]), "currency"),
            ("expected NPV with program", float(c.expected[1]), "currency"),
            ("expected incremental NPV (exact)", float(c.expected[1] - c.expected[0]),
             "currency"),
            ("incremental NPV (Monte Carlo mean)", float(inc.mean()), "currency"),
            ("standard error (common random numbers)", se, "currency"),
            ("incremental NPV 5 % quantile", float(np.quantile(inc, 0.05)), "currency"),
            ("incremental NPV 95 % quantile", float(np.quantile(inc, 0.95)), "currency"),
            ("P(program beats no program)", float(np.mean(inc > 0)), "probability"),
            ("expected NPV of program cost", cost, "currency"),
            ("ROI (incremental NPV / cost)",
             float((c.expected[1] - c.expected[0]) / cost) if cost > 0 else float("nan"),
             "ratio"),
        ]
        return pd.DataFrame(rows, columns=["metric", "value", "unit"])

    def _program_cost(self) -> float:
        return float(sum(self.tactic_costs.values()))

    def to_frame(self) -> pd.DataFrame:
        """Per tactic: does it pay for itself.

        Columns ``tactic, cost_npv`` (expected NPV of its cost), ``standalone_gain``
        (exact expected NPV of the tactic alone minus no program), ``standalone_se``
        (Monte Carlo standard error on common random numbers), ``marginal_gain`` (program
        minus program without the tactic), ``marginal_se``, ``roi`` (standalone gain /
        cost), ``pays_for_itself`` (standalone and marginal gains both > 0).
        """
        c = self.comparison
        se = c.difference_se(0)
        se_full = c.difference_se(1)
        names = [t.name for t in self.program.tactics]
        n = len(names)
        rows = []
        for j, name in enumerate(names):
            i_only, i_wo = 2 + j, 2 + n + j
            alone = float(c.expected[i_only] - c.expected[0])
            marginal = float(c.expected[1] - c.expected[i_wo])
            cost = self.tactic_costs[name]
            rows.append({
                "tactic": name, "cost_npv": cost, "standalone_gain": alone,
                "standalone_se": float(se[i_only]), "marginal_gain": marginal,
                "marginal_se": float(se_full[i_wo]),
                "roi": alone / cost if cost > 0 else float("nan"),
                "pays_for_itself": bool(alone > 0 and marginal > 0),
            })
        return pd.DataFrame(rows)


def evaluate_program(
    scenario: Scenario,
    program: KamProgram | None = None,
    *,
    n_paths: int = 10_000,
    rng: np.random.Generator | int | None = None,
    level: float = 0.95,
) -> ProgramResult:
    """Program vs no program, and every tactic alone and at the margin, on common numbers.

    Parameters
    ----------
    scenario : Scenario
        Portfolio, churn model and horizon.
    program : KamProgram, optional
        Default ``KamProgram()`` (the illustrative seven tactics on key accounts).
    n_paths : int
        Simulated futures (the same futures for every variant).
    rng : numpy.random.Generator, int or None
        Root seed (SPEC 7).
    level : float
        Expected Shortfall level for the NPV tails.

    Returns
    -------
    ProgramResult

    Examples
    --------
    >>> from kamsim.portfolio.datasets import load_sample
    >>> sc = Scenario(portfolio=load_sample(), horizon_months=36)
    >>> res = evaluate_program(sc, KamProgram(), n_paths=2000, rng=1)
    >>> list(res.to_frame().columns)[:3]
    ['tactic', 'cost_npv', 'standalone_gain']
    """
    prog = KamProgram() if program is None else program
    if not isinstance(prog, KamProgram):
        raise AssumptionError(f"must be a KamProgram, got {type(prog).__name__}",
                              field="program")
    plans = [program_plan(scenario, None, "no program"), program_plan(scenario, prog,
                                                                      "program")]
    for t in prog.tactics:
        plans.append(program_plan(scenario, prog.with_tactics([t]), f"only: {t.name}"))
    for t in prog.tactics:
        rest = [u for u in prog.tactics if u.name != t.name]
        plans.append(program_plan(scenario, prog.with_tactics(rest), f"without: {t.name}"))
    disc = discount_factors(scenario.horizon_months, prog.discount_rate)
    values = [0.0, 1.0] + [float(i) for i in range(2, len(plans))]
    cmp = evaluate_plans(scenario, plans, values, disc, n_paths=n_paths, rng=rng, level=level)
    # cost of each tactic alone: fixed + per account while the accounts stay (with its
    # own hazard effect)
    costs: dict[str, float] = {}
    mask = scope_mask(scenario, prog.tiers, "tiers").astype(np.float64)
    for j, t in enumerate(prog.tactics):
        s = survival(scenario, plans[2 + j].probs)
        per_acc = float((mask[:, None] * s * disc).sum() * t.cost_per_account / 12.0)
        costs[t.name] = per_acc + float(disc.sum() * t.fixed_cost / 12.0)
    return ProgramResult(program=prog, comparison=cmp, tactic_costs=costs)
