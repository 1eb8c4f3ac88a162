"""Replacement timelines: how long until lost revenue is won back, and does cash last.

A lost key account is hard to replace at short notice: new accounts must be found, won and
ramped up. This module holds the assumptions of that process
(:class:`ReplacementAssumptions`), the standalone question "how many months to replace a
given amount of revenue" (:func:`replacement_timeline`), its inverse "what sales capacity
or win rate do we need" (:func:`required_capacity`), and the simulation core that
:func:`kamsim.engine.simulate` uses when a :class:`~kamsim.scenario.Scenario` has
``replacement`` assumptions.

The replacement model (units in brackets)
-----------------------------------------
Money is in currency; *run-rate* means annual revenue [currency per year], as in the
portfolio's ``revenue`` column; monthly revenue is run-rate / 12. Time is in whole months
1..H of the horizon.

1. **Trigger and effort.** Replacement effort is driven by losses only (new business that
   merely offsets normal churn is outside the model). Let ``L(t)`` be the run-rate lost to
   churn by month ``t`` and ``W(t)`` the run-rate of replacement accounts that have placed
   their first order by month ``t``. The sales team opens replacement opportunities in
   month ``t`` when the losses it knows about, ``L(t - response_lag_months)``, exceed
   ``W(t - 1)`` and fewer than ``max_opportunities`` have been opened so far. It stops once
   the won run-rate covers the known loss (wins in the pipeline keep closing, so the
   replacement can overshoot) and starts again if more accounts leave.
2. **Capacity** [opportunities per month]. While the effort runs, opportunities arrive at
   ``opportunities_per_month`` (``reps x opportunities per rep``; see
   :meth:`ReplacementAssumptions.from_reps`): as a Poisson process (``arrivals="poisson"``)
   or evenly (``"fixed"``: the ``j``-th opportunity opens in the ``ceil(j / rate)``-th month
   of effort). The lag models reassigning or hiring reps; the rate is the raised capacity
   after the lag and ``max_opportunities`` the budget cap.
3. **Sales cycle** [months]. Each opportunity takes ``C`` months from opening to decision,
   ``C`` gamma- or lognormal-distributed with mean ``cycle_mean_months`` and coefficient of
   variation ``cycle_cv`` (0 = always exactly the mean). An opportunity opened in month
   ``o`` that is won places its first order in month ``o + max(1, ceil(C))``. The default
   (mean 4 months, CV 0.5) is illustrative only: published B2B cycles run from about 1
   month for small deals to 6-12+ months for strategic ones; set your own.
4. **Win rate** [probability in (0, 1]]: each opportunity is won independently.
5. **Size of a won account** [currency per year]: drawn with replacement from the
   portfolio's own non-key accounts (``account_size="bootstrap"``; the ``size_pool``) or
   lognormal with median ``size_median`` and log-standard deviation ``size_sigma``.
6. **Ramp-up**: in the ``k``-th month after (and including) its first order a new account
   buys ``r(k)`` of its full run-rate, ``r(k) = min(k / N, 1)`` (``"linear"``),
   ``3x^2 - 2x^3`` with ``x = min(k / N, 1)`` (``"s_curve"``) or 1 (``"none"``), with
   ``N = ramp_months`` (>= 1 unless the shape is ``"none"``).
7. **Acquisition cost** [currency per won account], paid in the first-order month.
   **Gross margin** of replacement accounts: ``gross_margin`` or, in the engine, the
   revenue-weighted margin of the non-key accounts. **Organic growth** [per year,
   compounded monthly] scales the revenue of the accounts still in the portfolio:
   ``(R0 - L(t)) * (1 + g)^(t / 12)``.

Monthly revenue is ``(R0 - L(t)) (1 + g)^(t/12) / 12`` plus the ramped replacement
revenue; gross profit likewise; cash is opening cash plus the running sum of gross profit
minus fixed costs / 12 minus acquisition costs.

**Months to recover** counts the months in the hole: from the first month without lost
revenue ``s`` to the last month whose revenue is below the pre-loss level ``R0 / 12``
(``last - s + 1``, 0 if revenue never fell below). Revenue must be back *and stay back*
through the horizon; a path still below in month ``H`` is **censored** (flagged, never
dropped; its value ``H - s + 1`` is a lower bound). All paths share the horizon, so
censoring is at a fixed time and needs no Kaplan-Meier estimator: a quantile of the
recovery time is the exact empirical order statistic whenever it falls below the share of
censored paths, and is "not within the horizon" otherwise.

Random numbers. Each block of 2,048 paths draws its replacement randomness from its own
stream ``SeedSequence(entropy, spawn_key=(*spawn_key, block, 1))``, separate from the
churn stream ``(..., block)``; so churn draws are identical with and without replacement.
Opportunities use pre-drawn *slots* (arrival gap, win uniform, cycle uniform, size
uniform) in a fixed order, drawn 32 per path at a time, and quantities are obtained by
inversion (``win iff U < win_rate``, ``C = mean x F^-1(U)``), so two runs with the same
seed and different assumptions share common random numbers: a higher win rate wins every
opportunity a lower one wins, a shorter mean cycle shortens every cycle.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import special

from kamsim._validate import number as _number
from kamsim._validate import whole as _whole
from kamsim.exceptions import AssumptionError

if TYPE_CHECKING:
    from kamsim.scenario import Scenario

__all__ = [
    "ARRIVALS",
    "CYCLE_DISTRIBUTIONS",
    "RAMP_SHAPES",
    "SIZE_METHODS",
    "CapacityRequirement",
    "ReplacementAssumptions",
    "ReplacementTimeline",
    "recovery_summary",
    "replacement_timeline",
    "required_capacity",
    "survival_curve",
    "with_certain_loss",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

RampShape = Literal["linear", "s_curve", "none"]
CycleDistribution = Literal["gamma", "lognormal"]
SizeMethod = Literal["bootstrap", "lognormal"]
Arrivals = Literal["poisson", "fixed"]
RAMP_SHAPES: tuple[str, ...] = ("linear", "s_curve", "none")
CYCLE_DISTRIBUTIONS: tuple[str, ...] = ("gamma", "lognormal")
SIZE_METHODS: tuple[str, ...] = ("bootstrap", "lognormal")
ARRIVALS: tuple[str, ...] = ("poisson", "fixed")

#: Paths per random-number block (the same as the churn engine's).
_BLOCK = 2048
#: Opportunity slots drawn per path at a time.
_SLOTS = 32
_REL_TOL = 1e-9





def _choice(value: Any, name: str, options: tuple[str, ...]) -> str:
    if value not in options:
        raise AssumptionError(f"must be one of {list(options)}, got {value!r}", field=name)
    return str(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplacementAssumptions:
    """How the business wins back lost revenue (see the module docstring for the model).

    Parameters
    ----------
    opportunities_per_month : float
        Replacement opportunities opened per month while the effort runs (>= 0).
    response_lag_months : int
        Months from a loss to the first replacement opportunity (>= 0).
    max_opportunities : int, optional
        Cap on replacement opportunities per simulated future (budget); None = no cap.
    arrivals : {"poisson", "fixed"}
        Poisson arrivals at the given rate, or evenly spaced ones.
    cycle_mean_months : float
        Mean sales cycle, months from opportunity to decision (>= 0). Illustrative default.
    cycle_cv : float
        Coefficient of variation of the cycle (>= 0; 0 = always the mean).
    cycle_distribution : {"gamma", "lognormal"}
        Shape of the cycle distribution.
    win_rate : float
        Probability an opportunity is won, in (0, 1].
    account_size : {"bootstrap", "lognormal"}
        Sizes of won accounts: resampled from ``size_pool`` (by default the portfolio's
        non-key accounts) or lognormal.
    size_median, size_sigma : float
        Median run-rate (currency per year, > 0) and log-standard deviation (>= 0) of the
        lognormal size; ``size_median`` is required when ``account_size="lognormal"``.
    size_pool : sequence of float, optional
        Annual revenues to resample for ``"bootstrap"``; the engine uses the portfolio's
        non-key accounts when this is None.
    ramp_shape : {"linear", "s_curve", "none"}
        Ramp-up curve from first order to full run-rate.
    ramp_months : int
        Months to full run-rate (>= 1 for ``"linear"`` and ``"s_curve"``).
    acquisition_cost : float
        Cost per won account (currency, >= 0), paid in its first-order month.
    gross_margin : float, optional
        Gross margin of replacement accounts in [-1, 1]; None = non-key average.
    organic_growth : float
        Annual growth rate of the remaining accounts' revenue (> -1; 0 = none).

    Raises
    ------
    AssumptionError
        Naming the field, e.g. for a negative capacity, a win rate outside (0, 1] or a
        ramp of 0 months with a linear or S-shaped ramp.

    Examples
    --------
    >>> a = ReplacementAssumptions(opportunities_per_month=6, win_rate=0.3,
    ...                            account_size="lognormal", size_median=200_000)
    >>> ReplacementAssumptions.from_dict(a.to_dict()) == a
    True
    >>> ReplacementAssumptions(win_rate=0)
    Traceback (most recent call last):
    ...
    kamsim.exceptions.AssumptionError: win_rate: must be in (0, 1], got 0
    """

    opportunities_per_month: float = 4.0
    response_lag_months: int = 2
    max_opportunities: int | None = None
    arrivals: Arrivals = "poisson"
    cycle_mean_months: float = 4.0
    cycle_cv: float = 0.5
    cycle_distribution: CycleDistribution = "gamma"
    win_rate: float = 0.25
    account_size: SizeMethod = "bootstrap"
    size_median: float | None = None
    size_sigma: float = 0.8
    size_pool: tuple[float, ...] | None = field(default=None, repr=False)
    ramp_shape: RampShape = "linear"
    ramp_months: int = 6
    acquisition_cost: float = 0.0
    gross_margin: float | None = None
    organic_growth: float = 0.0

    def __post_init__(self) -> None:
        def put(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)

        put("opportunities_per_month", _number(
            self.opportunities_per_month, "opportunities_per_month", lo=0.0))
        put("response_lag_months", _whole(self.response_lag_months, "response_lag_months"))
        if self.max_opportunities is not None:
            put("max_opportunities", _whole(self.max_opportunities, "max_opportunities"))
        _choice(self.arrivals, "arrivals", ARRIVALS)
        put("cycle_mean_months", _number(self.cycle_mean_months, "cycle_mean_months", lo=0.0))
        put("cycle_cv", _number(self.cycle_cv, "cycle_cv", lo=0.0))
        _choice(self.cycle_distribution, "cycle_distribution", CYCLE_DISTRIBUTIONS)
        put("win_rate", _number(self.win_rate, "win_rate", lo=0.0, lo_open=True, hi=1.0))
        _choice(self.account_size, "account_size", SIZE_METHODS)
        if self.size_median is not None:
            put("size_median", _number(self.size_median, "size_median", lo=0.0, lo_open=True))
        elif self.account_size == "lognormal":
            raise AssumptionError("is required when account_size='lognormal'",
                                  field="size_median")
        put("size_sigma", _number(self.size_sigma, "size_sigma", lo=0.0))
        if self.size_pool is not None:
            pool = tuple(_number(v, "size_pool", lo=0.0) for v in self.size_pool)
            if not pool or max(pool) <= 0:
                raise AssumptionError("needs at least one size > 0", field="size_pool")
            put("size_pool", pool)
        _choice(self.ramp_shape, "ramp_shape", RAMP_SHAPES)
        put("ramp_months", _whole(self.ramp_months, "ramp_months"))
        if self.ramp_shape != "none" and self.ramp_months < 1:
            raise AssumptionError(
                f"a {self.ramp_shape} ramp needs ramp_months >= 1, got {self.ramp_months}; "
                "use ramp_shape='none' for full run-rate from the first order",
                field="ramp_months")
        put("acquisition_cost", _number(self.acquisition_cost, "acquisition_cost", lo=0.0))
        if self.gross_margin is not None:
            put("gross_margin", _number(self.gross_margin, "gross_margin", lo=-1.0, hi=1.0))
        put("organic_growth", _number(self.organic_growth, "organic_growth", lo=-1.0,
                                      lo_open=True))

    @classmethod
    def from_reps(cls, reps: float, opportunities_per_rep: float,
                  **kwargs: Any) -> ReplacementAssumptions:
        """Capacity as ``reps x opportunities_per_rep`` opportunities per month.

        Examples
        --------
        >>> ReplacementAssumptions.from_reps(3, 1.5).opportunities_per_month
        4.5
        """
        r = _number(reps, "reps", lo=0.0)
        o = _number(opportunities_per_rep, "opportunities_per_rep", lo=0.0)
        return cls(opportunities_per_month=r * o, **kwargs)

    def ramp_curve(self) -> FloatArray:
        """``r(k)`` for ``k = 1 .. max(ramp_months, 1)``: share of full run-rate by month.

        Examples
        --------
        >>> ReplacementAssumptions(ramp_months=4).ramp_curve().tolist()
        [0.25, 0.5, 0.75, 1.0]
        """
        n = max(self.ramp_months, 1)
        x = np.minimum(np.arange(1, n + 1) / n, 1.0)
        match self.ramp_shape:
            case "linear":
                return x
            case "s_curve":
                return np.asarray(3 * x**2 - 2 * x**3, dtype=np.float64)
            case "none":
                return np.ones(1)
            case _:  # pragma: no cover - validated in __post_init__
                msg = f"ramp_shape must be one of {RAMP_SHAPES}, got {self.ramp_shape!r}"
                raise ValueError(msg)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (YAML-safe)."""
        d = asdict(self)
        if self.size_pool is not None:
            d["size_pool"] = list(self.size_pool)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ReplacementAssumptions:
        """Build from a plain dict; unknown keys raise :class:`AssumptionError`."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise AssumptionError(f"unknown field(s) {unknown}; valid fields are "
                                  f"{sorted(known)}", field="replacement")
        kw = dict(d)
        if kw.get("size_pool") is not None:
            kw["size_pool"] = tuple(kw["size_pool"])
        return cls(**kw)


# --- simulation core ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Params:
    """Resolved numbers of the replacement process (plain, picklable)."""

    rate: float
    lag: int
    cap: int
    fixed_arrivals: bool
    win_rate: float
    cycle_mean: float
    cycle_cv: float
    cycle_gamma: bool
    pool: FloatArray | None
    size_median: float
    size_sigma: float
    ramp_steps: FloatArray  # r(k) - r(k-1), k = 1..N
    acquisition_cost: float
    margin: float
    growth: float


def _params(a: ReplacementAssumptions, pool: npt.ArrayLike | None = None,
            margin: float | None = None) -> _Params:
    """Resolve assumptions (with a default size pool / margin from the portfolio)."""
    pool_arr: FloatArray | None = None
    if a.account_size == "bootstrap":
        src = a.size_pool if a.size_pool is not None else pool
        if src is None:
            raise AssumptionError(
                "account_size='bootstrap' needs sizes to resample: give size_pool=[...] or "
                "use account_size='lognormal' with size_median", field="size_pool")
        pool_arr = np.asarray(src, dtype=np.float64)
        pool_arr = pool_arr[pool_arr > 0]
        if pool_arr.size == 0:
            raise AssumptionError("needs at least one size > 0", field="size_pool")
    r = a.ramp_curve()
    m = a.gross_margin if a.gross_margin is not None else (margin or 0.0)
    return _Params(
        rate=a.opportunities_per_month, lag=a.response_lag_months,
        cap=a.max_opportunities if a.max_opportunities is not None else 2**62,
        fixed_arrivals=a.arrivals == "fixed", win_rate=a.win_rate,
        cycle_mean=a.cycle_mean_months, cycle_cv=a.cycle_cv,
        cycle_gamma=a.cycle_distribution == "gamma", pool=pool_arr,
        size_median=a.size_median or 0.0, size_sigma=a.size_sigma,
        ramp_steps=np.diff(r, prepend=0.0), acquisition_cost=a.acquisition_cost,
        margin=float(m), growth=a.organic_growth)


def _cycle_months(p: _Params, u: FloatArray, horizon: int) -> FloatArray:
    """Whole months ``max(1, ceil(C))`` to the first order, ``C`` by inversion of ``u``.

    ``ceil(C) = min{m : C <= m} = min{m : u <= F(m)}``, so only the cycle's CDF at whole
    months is needed (exact, and monotone in the mean for fixed ``u``). Cycles longer than
    the horizon come back as ``horizon + 1``.
    """
    if p.cycle_cv == 0 or p.cycle_mean == 0:
        whole = max(math.ceil(p.cycle_mean - 1e-9), 1)
        return np.full(u.shape, float(min(whole, horizon + 1)))
    grid = np.arange(horizon + 1, dtype=np.float64)
    if p.cycle_gamma:
        k = 1.0 / p.cycle_cv**2
        cdf = special.gammainc(k, grid * k / p.cycle_mean)
    else:
        s2 = math.log1p(p.cycle_cv**2)
        with np.errstate(divide="ignore"):
            cdf = special.ndtr((np.log(grid / p.cycle_mean) + s2 / 2) / math.sqrt(s2))
    m = np.searchsorted(cdf, u, side="left")
    return np.asarray(np.maximum(m, 1), dtype=np.float64)


def _sizes(p: _Params, u: FloatArray) -> FloatArray:
    if p.pool is not None:
        idx = np.minimum((u * p.pool.size).astype(np.int64), p.pool.size - 1)
        return p.pool[idx]
    return np.asarray(p.size_median * np.exp(p.size_sigma * special.ndtri(u)),
                      dtype=np.float64)


@dataclass(frozen=True, slots=True)
class _Paths:
    """Replacement outcome of a block of paths."""

    run_rate: FloatArray  # (n, H) ramped replacement run-rate (currency per year) by month
    wins: IntArray  # (n, H) accounts won by first-order month
    opportunities: IntArray  # (n,)


class _Slots:
    """Pre-drawn opportunity slots of ``n`` paths, drawn ``_SLOTS`` per path at a time.

    Per batch, in this order: arrival gaps (Poisson arrivals only), win, cycle and size
    uniforms, each ``n x _SLOTS``. Columns are slot numbers, so a run with other
    assumptions but the same stream sees the same slot values.
    """

    def __init__(self, g: np.random.Generator, n: int, fixed: bool, expected: int = 0
                 ) -> None:
        self.g, self.n, self.fixed = g, n, fixed
        self.size = 0
        # room for the slots a path is expected to use, so the arrays rarely grow
        alloc = max(4, -(-int(expected) // _SLOTS)) * _SLOTS
        self.arrival = np.empty((n, alloc))
        self.win = np.empty((n, alloc))
        self.cycle = np.empty((n, alloc))
        self.account = np.empty((n, alloc))

    def ensure(self, cols: int) -> None:
        while self.size < cols:
            self._draw()

    def _draw(self) -> None:
        n, j0, j1 = self.n, self.size, self.size + _SLOTS
        if j1 > self.arrival.shape[1]:
            grow = max(2 * self.arrival.shape[1], j1)
            for name in ("arrival", "win", "cycle", "account"):
                old = getattr(self, name)
                new = np.empty((n, grow))
                new[:, :j0] = old[:, :j0]
                setattr(self, name, new)
        if self.fixed:
            self.arrival[:, j0:j1] = np.arange(j0 + 1, j1 + 1, dtype=np.float64)
        else:
            gaps = self.g.standard_exponential((n, _SLOTS))
            np.cumsum(gaps, axis=1, out=self.arrival[:, j0:j1])
            if j0:
                self.arrival[:, j0:j1] += self.arrival[:, j0 - 1:j0]
        self.win[:, j0:j1] = self.g.random((n, _SLOTS))
        self.cycle[:, j0:j1] = self.g.random((n, _SLOTS))
        self.account[:, j0:j1] = self.g.random((n, _SLOTS))
        self.size = j1


def _replace(p: _Params, lost: FloatArray, g: np.random.Generator) -> _Paths:
    """Run the replacement process on ``n`` paths with lost run-rate ``lost`` (n x H).

    ``lost[:, t-1]`` is the run-rate lost by month ``t`` (non-decreasing in ``t``).
    """
    n, h = lost.shape
    won_by_month = np.zeros((n, h + 2))  # run-rate by first-order month (1-based)
    wins = np.zeros((n, h + 2), dtype=np.int64)
    ptr = np.zeros(n, dtype=np.int64)  # opportunities opened so far
    effort = np.zeros(n, dtype=np.int64)  # months of effort so far
    won = np.zeros(n)
    expected = min(p.cap, p.rate * h + 4.0 * math.sqrt(p.rate * h) + 16.0)
    slots = _Slots(g, n, p.fixed_arrivals, int(expected) if math.isfinite(expected) else 0)
    window = int(p.rate + 4 * math.sqrt(p.rate) + 4)
    offsets = np.arange(window)
    if p.rate > 0 and p.cap > 0:
        for t in range(1, h + 1):
            won += won_by_month[:, t - 1]
            tk = t - p.lag
            if tk < 1:
                continue
            known = lost[:, tk - 1]
            act = np.flatnonzero((known > won + _REL_TOL * np.abs(known)) & (ptr < p.cap))
            if act.size == 0:
                continue
            effort[act] += 1
            limit = p.rate * effort[act] * (1 + 1e-12)
            while act.size:
                cols = ptr[act][:, None] + offsets
                slots.ensure(int(cols[:, -1].max()) + 1)
                ok = (slots.arrival[act[:, None], cols] <= limit[:, None]) & (cols < p.cap)
                cnt = ok.sum(axis=1)
                ptr[act] += cnt
                r, c = np.nonzero(ok)
                pa, j = act[r], cols[r, c]
                win = slots.win[pa, j] < p.win_rate
                if win.any():
                    aw, jw = pa[win], j[win]
                    first = t + _cycle_months(p, slots.cycle[aw, jw], h)
                    inside = first <= h
                    aw, jw = aw[inside], jw[inside]
                    f = first[inside].astype(np.int64)
                    np.add.at(won_by_month, (aw, f), _sizes(p, slots.account[aw, jw]))
                    np.add.at(wins, (aw, f), 1)
                more = cnt == window
                act, limit = act[more], limit[more]
    cum = np.cumsum(won_by_month[:, 1:h + 1], axis=1)
    rr = np.zeros((n, h))
    for k, step in enumerate(p.ramp_steps):
        if k >= h:
            break
        if step != 0:
            rr[:, k:] += step * cum[:, :h - k]
    return _Paths(rr, wins[:, 1:h + 1], ptr)


def _recovery(revenue_m: FloatArray, base_m: float, first_loss: IntArray
              ) -> tuple[IntArray, BoolArray]:
    """Months in the hole and whether revenue is back (and stays back) by the horizon.

    ``first_loss`` is the 1-based first month with lost revenue (``H + 1`` if none).
    """
    _n, h = revenue_m.shape
    below = revenue_m < base_m * (1 - _REL_TOL)
    any_below = below.any(axis=1)
    last = np.where(any_below, h - np.argmax(below[:, ::-1], axis=1), 0)
    has_loss = first_loss <= h
    months = np.where(has_loss, np.maximum(last - first_loss + 1, 0), 0).astype(np.int64)
    recovered = ~(has_loss & (last == h))
    return months, recovered


# --- summaries ---------------------------------------------------------------------------


def survival_curve(months_to_recover: npt.ArrayLike, recovered: npt.ArrayLike,
                   horizon_months: int) -> pd.DataFrame:
    """Share of paths still not recovered after each month, ``m`` from 0 to ``horizon``.

    Censoring is at a fixed time (the horizon), so the share is exact: a censored path is
    still "not recovered" at every month it was observed.

    Returns
    -------
    pandas.DataFrame
        Index ``month``; column ``not_recovered`` (share of paths with more than ``month``
        months in the hole, censored ones counted as not recovered).

    Examples
    --------
    >>> survival_curve([0, 2, 3], [True, True, False], 3)["not_recovered"].round(3).tolist()
    [0.667, 0.667, 0.333, 0.333]
    """
    m = np.asarray(months_to_recover, dtype=np.float64)
    rec = np.asarray(recovered, dtype=bool)
    t = np.where(rec, m, np.inf)
    grid = np.arange(horizon_months + 1)
    share = (t[None, :] > grid[:, None]).mean(axis=1) if t.size else np.zeros(grid.size)
    return pd.DataFrame({"not_recovered": share},
                        index=pd.RangeIndex(0, horizon_months + 1, name="month"))


def recovery_summary(months_to_recover: npt.ArrayLike, recovered: npt.ArrayLike,
                     quantiles: Sequence[float] = (0.5, 0.8, 0.9)) -> pd.DataFrame:
    """Median and other quantiles of months to recover, with censoring reported.

    A quantile ``q`` is the smallest ``m`` with at least ``q`` of the paths recovered
    within ``m`` months (inverted empirical CDF, censored paths counted as never); when
    more than ``1 - q`` of the paths are censored it is "not within the horizon"
    (``months`` NaN, ``within_horizon`` False), never a wrong number.

    Returns
    -------
    pandas.DataFrame
        Columns ``statistic`` (``median``, ``p80``, ..., ``share_not_recovered``),
        ``value`` (months, or a share for the last row), ``within_horizon`` and
        ``display`` (text such as ``"7"`` or ``"not within horizon"``).

    Examples
    --------
    >>> recovery_summary([1, 2, 9, 9], [True, True, False, False])["display"].tolist()
    ['2', 'not within horizon', 'not within horizon', '50.0%']
    """
    m = np.asarray(months_to_recover, dtype=np.float64)
    rec = np.asarray(recovered, dtype=bool)
    t = np.sort(np.where(rec, m, np.inf))
    rows: list[dict[str, Any]] = []
    for q in quantiles:
        if not 0 < q < 1:
            msg = f"quantiles must be in (0, 1), got {q}"
            raise ValueError(msg)
        k = max(math.ceil(q * t.size - 1e-9), 1) - 1 if t.size else 0
        v = float(t[k]) if t.size else math.nan
        ok = math.isfinite(v)
        name = "median" if q == 0.5 else f"p{q * 100:g}"
        rows.append({"statistic": name, "value": v if ok else math.nan,
                     "within_horizon": ok,
                     "display": f"{v:g}" if ok else "not within horizon"})
    share = float(np.mean(~rec)) if rec.size else math.nan
    rows.append({"statistic": "share_not_recovered", "value": share, "within_horizon": True,
                 "display": f"{share:.1%}"})
    return pd.DataFrame(rows)


# --- standalone timeline -----------------------------------------------------------------


def _entropy(rng: np.random.Generator | np.random.SeedSequence | int | None
             ) -> tuple[int | tuple[int, ...], tuple[int, ...]]:
    from kamsim.engine import _resolve_entropy

    return _resolve_entropy(rng)


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
        raise ValueError(msg)
    if isinstance(n_paths, bool) or not isinstance(n_paths, int | np.integer) or n_paths < 1:
        msg = f"n_paths must be a whole number >= 1, got {n_paths!r}"
        raise ValueError(msg)
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
        raise TypeError(msg)
    entropy, key = _entropy(rng)
    return _timeline(lost, assumptions, int(horizon_months), int(n_paths), entropy, key,
                     size_pool)


def _timeline(lost: float, a: ReplacementAssumptions, h: int, n_paths: int,
              entropy: int | tuple[int, ...], key: tuple[int, ...],
              size_pool: npt.ArrayLike | None) -> ReplacementTimeline:
    p = _params(a, size_pool)
    months, rec, rr, wins, opps = [], [], [], [], []
    for b in range(math.ceil(n_paths / _BLOCK)):
        n = min(_BLOCK, n_paths - b * _BLOCK)
        g = np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=(*key, b, 1)))
        lost_m = np.full((n, h), lost)
        out = _replace(p, lost_m, g)
        # remaining accounts are unchanged, so compare the replacement with the loss
        first = np.full(n, 1 if lost > 0 else h + 1, dtype=np.int64)
        m, r = _recovery(out.run_rate / 12.0, lost / 12.0, first)
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
    >>> from kamsim.datasets import synthetic_portfolio
    >>> from kamsim.scenario import ChurnAssumptions, Scenario
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
        raise ValueError(msg)
    prob = _number(probability, "probability", lo=0.0, lo_open=True, hi=1.0, hi_open=True)
    w = _whole(within_months, "within_months")
    h = w + 1 if horizon_months is None else int(horizon_months)
    if h <= w:
        msg = f"horizon_months ({h}) must exceed within_months ({w})"
        raise ValueError(msg)
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
            raise ValueError(msg)
