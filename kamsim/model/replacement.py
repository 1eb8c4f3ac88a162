"""Replacement timelines: how long until lost revenue is won back, and does cash last.

A lost key account is hard to replace at short notice: new accounts must be found, won and
ramped up. This module holds the assumptions of that process
(:class:`ReplacementAssumptions`), the standalone question "how many months to replace a
given amount of revenue" (:func:`replacement_timeline`), its inverse "what sales capacity
or win rate do we need" (:func:`required_capacity`), and the simulation core that
:func:`kamsim.engine.simulate` uses when a :class:`~kamsim.model.Scenario` has
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
That stream gives every path a 64-bit key, and the path's draws are SplitMix64 outputs at
fixed counters of that key: one per month of effort (the ``e``-th month of effort opens
``O_e`` opportunities, Poisson with mean ``opportunities_per_month`` or the fixed count,
and wins ``Binomial(O_e, win_rate)`` of them, both by inversion of that draw) and one per
win (its cycle and size, by inversion). This is the model above: a Poisson process of
opportunities in effort time, thinned by independent wins. A draw depends only on its
path and counter, so two runs with the same seed and different assumptions share common
random numbers (more capacity or a higher win rate never opens or wins fewer in any month
of effort, a shorter mean cycle shortens every cycle), and a path draws only what its own
effort needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from kamsim._util.validate import choice
from kamsim._util.validate import number as _number
from kamsim._util.validate import whole as _whole
from kamsim.exceptions import AssumptionError

if TYPE_CHECKING:
    pass

__all__ = [
    "ARRIVALS",
    "CYCLE_DISTRIBUTIONS",
    "RAMP_SHAPES",
    "SIZE_METHODS",
    "ReplacementAssumptions",
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
        choice(self.arrivals, "arrivals", ARRIVALS)
        put("cycle_mean_months", _number(self.cycle_mean_months, "cycle_mean_months", lo=0.0))
        put("cycle_cv", _number(self.cycle_cv, "cycle_cv", lo=0.0))
        choice(self.cycle_distribution, "cycle_distribution", CYCLE_DISTRIBUTIONS)
        put("win_rate", _number(self.win_rate, "win_rate", lo=0.0, lo_open=True, hi=1.0))
        choice(self.account_size, "account_size", SIZE_METHODS)
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
        choice(self.ramp_shape, "ramp_shape", RAMP_SHAPES)
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
                raise AssumptionError(msg)

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
