"""The replacement kernel: opportunity slots, wins, ramp-up and recovery per path.

The model is documented in :mod:`kamsim.model.replacement`; this module is the simulation
core that :func:`kamsim.engine.simulate` runs per block, and the recovery statistics
(:func:`survival_curve`, :func:`recovery_summary`) shared by the engine and the timelines.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import special

from kamsim.exceptions import AssumptionError
from kamsim.model.replacement import ReplacementAssumptions

if TYPE_CHECKING:
    pass


FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

#: Opportunity slots drawn per path at a time.
_SLOTS = 32
_REL_TOL = 1e-9





@dataclass(frozen=True, slots=True)
class ReplacementParams:
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


def replacement_params(a: ReplacementAssumptions, pool: npt.ArrayLike | None = None,
            margin: float | None = None) -> ReplacementParams:
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
    return ReplacementParams(
        rate=a.opportunities_per_month, lag=a.response_lag_months,
        cap=a.max_opportunities if a.max_opportunities is not None else 2**62,
        fixed_arrivals=a.arrivals == "fixed", win_rate=a.win_rate,
        cycle_mean=a.cycle_mean_months, cycle_cv=a.cycle_cv,
        cycle_gamma=a.cycle_distribution == "gamma", pool=pool_arr,
        size_median=a.size_median or 0.0, size_sigma=a.size_sigma,
        ramp_steps=np.diff(r, prepend=0.0), acquisition_cost=a.acquisition_cost,
        margin=float(m), growth=a.organic_growth)


def _cycle_months(p: ReplacementParams, u: FloatArray, horizon: int) -> FloatArray:
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


def _sizes(p: ReplacementParams, u: FloatArray) -> FloatArray:
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


def replace_lost(p: ReplacementParams, lost: FloatArray, g: np.random.Generator) -> _Paths:
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
                start = ptr[act]
                cols = start[:, None] + offsets
                slots.ensure(int(cols[:, -1].max()) + 1)
                ncol = slots.arrival.shape[1]
                # flat positions of the window's slots (rows of the slot arrays are paths)
                ok = np.take(slots.arrival, (act * ncol)[:, None] + cols) <= limit[:, None]
                if p.cap < slots.size + window:
                    ok &= cols < p.cap
                # arrivals are sorted along a row, so the opened slots are a prefix
                cnt = ok.sum(axis=1)
                ptr[act] += cnt
                pa = np.repeat(act, cnt)
                j = np.repeat(start - (np.cumsum(cnt) - cnt), cnt) + np.arange(pa.size)
                pos = pa * ncol + j
                win = np.take(slots.win, pos) < p.win_rate
                if win.any():
                    aw, pw = pa[win], pos[win]
                    first = t + _cycle_months(p, np.take(slots.cycle, pw), h)
                    inside = first <= h
                    aw, pw = aw[inside], pw[inside]
                    f = first[inside].astype(np.int64)
                    np.add.at(won_by_month, (aw, f), _sizes(p, np.take(slots.account, pw)))
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


def recovery_months(revenue_m: FloatArray, base_m: float, first_loss: IntArray
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
            raise AssumptionError(msg)
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


