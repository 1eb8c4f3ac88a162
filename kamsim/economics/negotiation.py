"""Concede or refuse? The walk-away concession when a key account threatens to leave.

A key account demands a price cut ``d`` (fraction of its revenue) and threatens to leave.
Some threats are bluffs (a negotiating bully's often are), so the user sets the
*credibility* ``pi``: the probability that the account really leaves if refused.

Per account, over the scenario's horizon and with monthly discounting
``D_t = (1 + r)^(-t/12)``::

    EV(concede d) = sum_t (c_t - d R / 12) S'_t D_t
    EV(refuse)    = (1 - pi) sum_t c_t S_t D_t
                  + pi [ sum_{t < s} c_t S_t D_t + sum_{t >= s} rep_t D_t ]

``c_t`` is the account's monthly contribution (gross profit minus cost to serve), ``R``
its annual revenue, ``S_t`` its survival under the scenario's ordinary churn (1 with
``baseline_churn=False``; ``S'`` uses ``concede_hazard_multiplier``), ``s = 1 + notice``
the first month without its revenue if it leaves, and ``rep_t`` the profit of the
replacement business won after the loss. The **walk-away concession** is the largest
``d`` at which conceding still beats refusing; in the simple case (no ordinary churn,
no replacement, no notice) it is ``pi`` times the account's contribution margin, and in
general

    d* = pi (L - Rep) / A,  A = sum_t (R / 12) S'_t D_t,

with ``L`` the NPV of the contribution lost if it leaves and ``Rep`` the NPV of the
replacement profit (when ``S' = S``). :func:`evaluate_concession` finds it numerically
(:func:`scipy.optimize.brentq` on the two expected values) and the tests check it against
this closed form.

Replacement. Built in: ``"none"`` or ``"linear"`` (``replacement_share`` of the lost
run-rate replaced linearly over ``replacement_months`` after ``replacement_delay_months``).
Pass ``replacement=ReplacementAssumptions(...)`` to use the sales-capacity model of
:func:`kamsim.analysis.timelines.replacement_timeline` instead (its expected replacement
run-rate by month; imported lazily).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import optimize

from kamsim._util.validate import from_dict
from kamsim._util.validate import number as _number
from kamsim._util.validate import whole as _whole
from kamsim.analysis.timelines import replacement_timeline
from kamsim.economics.npv import discount_factors, hazard_scaled_probs, survival
from kamsim.economics.pricing import base_contribution
from kamsim.exceptions import ArgumentTypeError, AssumptionError
from kamsim.model import Scenario

if TYPE_CHECKING:
    from kamsim.model import ReplacementAssumptions

__all__ = [
    "ConcessionDecision",
    "NegotiationAssumptions",
    "evaluate_concession",
    "negotiation_table",
    "replacement_curve",
    "walk_away_curve",
]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True, kw_only=True)
class NegotiationAssumptions:
    """What the supplier assumes when an account threatens to leave.

    Parameters
    ----------
    credibility : float
        Probability the account really leaves if refused, in [0, 1] (0 = pure bluff).
    discount_rate : float
        Annual discount rate, in [0, 1].
    notice_months : int, optional
        Months the account keeps buying after a refusal before it goes; None = the
        scenario's ``churn.notice_months``.
    replacement : {"none", "linear"}
        Built-in replacement of the lost business (ignored when a
        ``ReplacementAssumptions`` is passed to the functions). The defaults are
        illustrative: from month 4 after the loss, linearly to the full run-rate over
        24 months; set your own.
    replacement_months : int
        ``"linear"``: months to replace ``replacement_share`` of the lost run-rate
        (0 = at once).
    replacement_delay_months : int
        ``"linear"``: months after the loss before replacement revenue starts.
    replacement_share : float
        ``"linear"``: fraction of the lost run-rate eventually replaced, in [0, 1].
    replacement_margin : float, optional
        Contribution margin of replacement revenue, in [-1, 1]; None = the lost
        account's own (gross margin minus cost to serve over revenue).
    baseline_churn : bool
        Apply the scenario's ordinary churn to the account whether it stays or not.
    concede_hazard_multiplier : float
        Hazard multiplier on ordinary churn after conceding (> 0; 1 = unchanged).
    include_cost_to_serve : bool
        Subtract ``cost_to_serve`` from gross profit.

    Examples
    --------
    >>> a = NegotiationAssumptions(credibility=0.3, replacement_months=18)
    >>> NegotiationAssumptions.from_dict(a.to_dict()) == a
    True
    >>> NegotiationAssumptions(credibility=2)
    Traceback (most recent call last):
    ...
    kamsim.exceptions.AssumptionError: credibility: must be in [0, 1], got 2
    """

    credibility: float = 0.5
    discount_rate: float = 0.08
    notice_months: int | None = None
    replacement: Literal["none", "linear"] = "linear"
    replacement_months: int = 24
    replacement_delay_months: int = 3
    replacement_share: float = 1.0
    replacement_margin: float | None = None
    baseline_churn: bool = True
    concede_hazard_multiplier: float = 1.0
    include_cost_to_serve: bool = True

    def __post_init__(self) -> None:
        def put(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)

        put("credibility", _number(self.credibility, "credibility", lo=0.0, hi=1.0))
        put("discount_rate", _number(self.discount_rate, "discount_rate", lo=0.0, hi=1.0))
        if self.notice_months is not None:
            put("notice_months", _whole(self.notice_months, "notice_months"))
        if self.replacement not in ("none", "linear"):
            raise AssumptionError(
                f"must be 'none' or 'linear' (pass ReplacementAssumptions for the sales "
                f"model), got {self.replacement!r}", field="replacement")
        put("replacement_months", _whole(self.replacement_months, "replacement_months"))
        put("replacement_delay_months", _whole(self.replacement_delay_months,
                                               "replacement_delay_months"))
        put("replacement_share", _number(self.replacement_share, "replacement_share",
                                         lo=0.0, hi=1.0))
        if self.replacement_margin is not None:
            put("replacement_margin", _number(self.replacement_margin, "replacement_margin",
                                              lo=-1.0, hi=1.0))
        put("concede_hazard_multiplier", _number(
            self.concede_hazard_multiplier, "concede_hazard_multiplier", lo=0.0))
        for name in ("baseline_churn", "include_cost_to_serve"):
            if not isinstance(getattr(self, name), bool):
                raise AssumptionError("must be True or False", field=name)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (YAML-safe)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> NegotiationAssumptions:
        """Build from a plain dict; unknown keys raise :class:`AssumptionError`."""
        return from_dict(cls, d, "negotiation")


def replacement_curve(
    horizon_months: int,
    assumptions: NegotiationAssumptions,
    *,
    lost_revenue: float = 1.0,
    replacement: ReplacementAssumptions | None = None,
    size_pool: npt.ArrayLike | None = None,
    n_paths: int = 2_000,
    rng: np.random.Generator | int | None = None,
) -> FloatArray:
    """Expected share of a lost run-rate replaced ``k = 1..H`` months after the loss.

    ``k = 1`` is the first month without the lost revenue. Built-in ``"linear"``:
    ``share * clip((k - delay) / months, 0, 1)``; ``"none"``: 0. With ``replacement``
    (a :class:`kamsim.model.ReplacementAssumptions`): the mean replacement run-rate
    of :func:`kamsim.analysis.timelines.replacement_timeline` divided by ``lost_revenue`` (it can
    exceed 1 when won accounts overshoot).

    Examples
    --------
    >>> a = NegotiationAssumptions(replacement_months=4, replacement_share=0.5,
    ...                            replacement_delay_months=0)
    >>> replacement_curve(6, a).tolist()
    [0.125, 0.25, 0.375, 0.5, 0.5, 0.5]
    """
    h = int(horizon_months)
    if replacement is not None:

        if lost_revenue <= 0:
            return np.zeros(h)
        tl = replacement_timeline(lost_revenue, replacement, horizon_months=h,
                                  n_paths=n_paths, rng=rng, size_pool=size_pool)
        return np.asarray(tl.mean_run_rate_by_month / lost_revenue, dtype=np.float64)
    k = np.arange(1, h + 1, dtype=np.float64)
    match assumptions.replacement:
        case "none":
            return np.zeros(h)
        case "linear":
            m = assumptions.replacement_months
            after = k - assumptions.replacement_delay_months
            frac = (after > 0).astype(np.float64) if m == 0 else np.clip(after / m, 0.0, 1.0)
            return np.asarray(assumptions.replacement_share * frac, dtype=np.float64)
        case _:  # pragma: no cover - validated in NegotiationAssumptions
            msg = f"replacement must be 'none' or 'linear', got {assumptions.replacement!r}"
            raise AssumptionError(msg)


@dataclass(frozen=True, slots=True)
class _Parts:
    """Credibility-free building blocks of one account's decision (NPVs, currency)."""

    annuity: float  # A: NPV of one unit of price cut (fraction) on the account's revenue
    concede_base: float  # NPV of the contribution after conceding, before the cut
    stay: float  # NPV if refused and it stays
    leave: float  # NPV if refused and it leaves (incl. replacement)
    replaced: float  # NPV of the replacement profit alone
    lost: float  # NPV of the contribution lost by leaving


def _account_parts(scenario: Scenario, i: int, a: NegotiationAssumptions,
                   rep_curve: FloatArray, rep_margin: float | None,
                   acquisition_cost: float = 0.0) -> _Parts:
    """NPV parts; ``acquisition_cost`` (expected, currency) is paid in the loss month."""
    h = scenario.horizon_months
    disc = discount_factors(h, a.discount_rate)
    pf = scenario.portfolio
    rev = float(pf.revenue[i])
    gp, cts = base_contribution(scenario, a.include_cost_to_serve)
    contrib = float(gp[i] - cts[i]) / 12.0
    notice = scenario.churn.notice_months if a.notice_months is None else a.notice_months
    probs = scenario.annual_probs()[i:i + 1]
    if a.baseline_churn:
        s = survival(scenario, probs)[0]
        s_c = survival(scenario, hazard_scaled_probs(probs, a.concede_hazard_multiplier))[0]
    else:
        s = s_c = np.ones(h)
    stop = 1 + notice  # first month without the account's revenue if it leaves
    before = np.arange(1, h + 1) < stop
    margin = (contrib * 12.0 / rev if rev > 0 else 0.0) if rep_margin is None else rep_margin
    k = np.arange(1, h + 1) - stop  # 0-based months since the loss
    rep = np.where(k >= 0, rev * rep_curve[np.clip(k, 0, h - 1)] / 12.0 * margin, 0.0)
    replaced = float((rep * disc).sum())
    if acquisition_cost and stop <= h:
        replaced -= acquisition_cost * float(disc[stop - 1])
    full = float((contrib * s * disc).sum())
    kept = float((contrib * s * disc * before).sum())
    return _Parts(annuity=float((rev / 12.0 * s_c * disc).sum()),
                  concede_base=float((contrib * s_c * disc).sum()), stay=full,
                  leave=kept + replaced, replaced=replaced, lost=full - kept)


def _walk_away(p: _Parts, pi: float) -> float:
    """Largest concession (fraction, in [0, 1]) at which conceding still beats refusing."""
    refuse = (1.0 - pi) * p.stay + pi * p.leave

    def g(d: float) -> float:
        return p.concede_base - d * p.annuity - refuse

    if p.annuity <= 0:
        return math.inf if g(0.0) >= 0 else 0.0
    if g(0.0) <= 0:
        return 0.0
    if g(1.0) >= 0:
        return 1.0
    return float(optimize.brentq(g, 0.0, 1.0, xtol=1e-14, rtol=1e-12))


@dataclass(frozen=True, slots=True)
class ConcessionDecision:
    """What :func:`evaluate_concession` returns for one account (NPVs in currency).

    Attributes
    ----------
    account_id, name : str
    revenue : float
        Annual revenue.
    demand : float
        Price cut demanded (fraction of revenue).
    credibility : float
    ev_concede, ev_refuse : float
        Expected NPV of the account's contribution over the horizon if conceding or
        refusing (refusing includes the replacement business if it leaves).
    ev_refuse_if_leaves, ev_refuse_if_stays : float
        The two outcomes of refusing.
    cost_of_conceding : float
        NPV of the price cut paid while the account buys.
    walk_away : float
        Largest concession at which conceding still beats refusing (capped to [0, 1]).
    break_even_credibility : float
        Credibility above which conceding ``demand`` beats refusing (inf if never).
    """

    account_id: str
    name: str
    revenue: float
    demand: float
    credibility: float
    ev_concede: float
    ev_refuse: float
    ev_refuse_if_leaves: float
    ev_refuse_if_stays: float
    cost_of_conceding: float
    walk_away: float
    break_even_credibility: float

    @property
    def decision(self) -> str:
        """``"concede"`` if conceding has the higher expected value, else ``"refuse"``."""
        return "concede" if self.ev_concede > self.ev_refuse else "refuse"

    @property
    def advantage_of_conceding(self) -> float:
        """``ev_concede - ev_refuse``."""
        return self.ev_concede - self.ev_refuse

    def to_dict(self) -> dict[str, Any]:
        """All fields plus ``decision`` and ``advantage_of_conceding``."""
        d = asdict(self)
        d.update(decision=self.decision, advantage_of_conceding=self.advantage_of_conceding)
        return d

    def summary(self) -> pd.DataFrame:
        """Headline figures (``metric``, ``value``)."""
        return pd.DataFrame(list(self.to_dict().items()), columns=["metric", "value"])


def _resolve(scenario: Scenario, account_id: str) -> int:
    ids = [str(x) for x in scenario.portfolio.account_ids]
    try:
        return ids.index(str(account_id))
    except ValueError:
        raise AssumptionError(f"unknown account id {account_id!r}",
                              field="account_id") from None


def _parts_for(scenario: Scenario, i: int, a: NegotiationAssumptions,
               replacement: ReplacementAssumptions | None, n_paths: int,
               rng: np.random.Generator | int | None) -> _Parts:
    if not isinstance(scenario, Scenario):
        msg = f"scenario must be a Scenario, got {type(scenario).__name__}"
        raise ArgumentTypeError(msg)
    if not isinstance(a, NegotiationAssumptions):
        msg = f"assumptions must be NegotiationAssumptions, got {type(a).__name__}"
        raise ArgumentTypeError(msg)
    rev = float(scenario.portfolio.revenue[i])
    h = scenario.horizon_months
    if replacement is None:
        curve = replacement_curve(h, a)
        return _account_parts(scenario, i, a, curve, a.replacement_margin)

    rep_margin = a.replacement_margin
    if rep_margin is None and replacement.gross_margin is not None:
        rep_margin = replacement.gross_margin
    tiers = np.array(scenario.tiers())
    pool = np.asarray(scenario.portfolio.revenue)[tiers != "key"]
    if rev <= 0:
        return _account_parts(scenario, i, a, np.zeros(h), rep_margin)
    tl = replacement_timeline(rev, replacement, horizon_months=h, n_paths=n_paths, rng=rng,
                              size_pool=pool)
    curve = np.asarray(tl.mean_run_rate_by_month / rev, dtype=np.float64)
    acq = float(tl.acquisition_costs.mean())
    return _account_parts(scenario, i, a, curve, rep_margin, acq)


def _decision(scenario: Scenario, i: int, demand: float, pi: float, p: _Parts
              ) -> ConcessionDecision:
    pf = scenario.portfolio
    ev_c = p.concede_base - demand * p.annuity
    ev_r = (1.0 - pi) * p.stay + pi * p.leave
    gap = p.stay - p.leave  # what a real walk-out costs
    cost = demand * p.annuity + (p.stay - p.concede_base)
    be = cost / gap if gap > 0 else math.inf
    return ConcessionDecision(
        account_id=str(pf.account_ids[i]), name=str(pf.names[i]),
        revenue=float(pf.revenue[i]), demand=float(demand), credibility=float(pi),
        ev_concede=ev_c, ev_refuse=ev_r, ev_refuse_if_leaves=p.leave,
        ev_refuse_if_stays=p.stay, cost_of_conceding=demand * p.annuity,
        walk_away=_walk_away(p, pi), break_even_credibility=be)


def evaluate_concession(
    scenario: Scenario,
    account_id: str,
    demand: float,
    assumptions: NegotiationAssumptions | None = None,
    *,
    replacement: ReplacementAssumptions | None = None,
    n_paths: int = 2_000,
    rng: np.random.Generator | int | None = None,
) -> ConcessionDecision:
    """Concede or refuse a demanded price cut: expected values and the walk-away point.

    Parameters
    ----------
    scenario : Scenario
        Portfolio (the account's revenue, margin, cost to serve and churn), horizon.
    account_id : str
    demand : float
        Price cut demanded, as a fraction of the account's revenue, in [0, 1].
    assumptions : NegotiationAssumptions, optional
    replacement : kamsim.model.ReplacementAssumptions, optional
        Use the sales-capacity replacement model instead of the built-in curve.
    n_paths, rng
        Only for ``replacement``: paths and seed of its timeline (SPEC 7).

    Returns
    -------
    ConcessionDecision

    Examples
    --------
    No ordinary churn, no replacement: the walk-away cut is credibility x contribution
    margin.

    >>> import pandas as pd
    >>> from kamsim.portfolio import Portfolio
    >>> from kamsim.model import ChurnAssumptions
    >>> pf = Portfolio(pd.DataFrame({"account_id": ["K1"], "revenue": [1e6],
    ...                              "gross_margin": [0.25]}))
    >>> sc = Scenario(portfolio=pf, churn=ChurnAssumptions(annual_prob=0.0),
    ...               horizon_months=24)
    >>> a = NegotiationAssumptions(credibility=0.4, replacement="none")
    >>> d = evaluate_concession(sc, "K1", 0.05, a)
    >>> round(d.walk_away, 6), d.decision
    (0.1, 'concede')
    """
    a = NegotiationAssumptions() if assumptions is None else assumptions
    demand = _number(demand, "demand", lo=0.0, hi=1.0)
    i = _resolve(scenario, account_id)
    p = _parts_for(scenario, i, a, replacement, n_paths, rng)
    return _decision(scenario, i, demand, a.credibility, p)


def _top_ids(scenario: Scenario, top: int, account_ids: Sequence[str] | None) -> list[str]:
    if account_ids is not None:
        return [str(x) for x in account_ids]
    order = np.argsort(-np.asarray(scenario.portfolio.revenue), kind="stable")[:top]
    return [str(scenario.portfolio.account_ids[j]) for j in order]


def negotiation_table(
    scenario: Scenario,
    demand: float,
    assumptions: NegotiationAssumptions | None = None,
    *,
    top: int = 10,
    account_ids: Sequence[str] | None = None,
    replacement: ReplacementAssumptions | None = None,
    n_paths: int = 2_000,
    rng: np.random.Generator | int | None = None,
) -> pd.DataFrame:
    """Concede-or-refuse for the largest accounts (or the given ones), one row each.

    Returns
    -------
    pandas.DataFrame
        Columns ``account_id, name, revenue, demand, credibility, ev_concede, ev_refuse,
        ev_refuse_if_leaves, ev_refuse_if_stays, cost_of_conceding, walk_away,
        break_even_credibility, decision, advantage_of_conceding``.

    Examples
    --------
    >>> from kamsim.portfolio.datasets import load_sample
    >>> sc = Scenario(portfolio=load_sample(), horizon_months=36)
    >>> t = negotiation_table(sc, 0.03, top=3)
    >>> len(t), bool((t.walk_away >= 0).all())
    (3, True)
    """
    a = NegotiationAssumptions() if assumptions is None else assumptions
    demand = _number(demand, "demand", lo=0.0, hi=1.0)
    seed = np.random.default_rng(rng)
    rows = []
    for acc in _top_ids(scenario, top, account_ids):
        i = _resolve(scenario, acc)
        p = _parts_for(scenario, i, a, replacement, n_paths, seed)
        rows.append(_decision(scenario, i, demand, a.credibility, p).to_dict())
    return pd.DataFrame(rows)


def walk_away_curve(
    scenario: Scenario,
    assumptions: NegotiationAssumptions | None = None,
    *,
    credibilities: Sequence[float] | None = None,
    top: int = 5,
    account_ids: Sequence[str] | None = None,
    replacement: ReplacementAssumptions | None = None,
    n_paths: int = 2_000,
    rng: np.random.Generator | int | None = None,
) -> pd.DataFrame:
    """Walk-away concession against the threat's credibility, per account.

    Returns
    -------
    pandas.DataFrame
        Long form: ``account_id, name, credibility, walk_away`` (fraction of revenue).

    Examples
    --------
    >>> from kamsim.portfolio.datasets import load_sample
    >>> sc = Scenario(portfolio=load_sample(), horizon_months=36)
    >>> c = walk_away_curve(sc, top=2, credibilities=[0.0, 0.5, 1.0])
    >>> c.groupby("account_id").walk_away.is_monotonic_increasing.all()
    np.True_
    """
    a = NegotiationAssumptions() if assumptions is None else assumptions
    cred = np.linspace(0.0, 1.0, 21) if credibilities is None else np.asarray(credibilities)
    for c in cred:
        _number(c, "credibility", lo=0.0, hi=1.0)
    seed = np.random.default_rng(rng)
    rows: list[dict[str, Any]] = []
    for acc in _top_ids(scenario, top, account_ids):
        i = _resolve(scenario, acc)
        p = _parts_for(scenario, i, a, replacement, n_paths, seed)
        name = str(scenario.portfolio.names[i])
        rows.extend({"account_id": acc, "name": name, "credibility": float(c),
                     "walk_away": _walk_away(p, float(c))} for c in cred)
    return pd.DataFrame(rows)
