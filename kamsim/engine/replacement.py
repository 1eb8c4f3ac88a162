"""The replacement kernel: opportunity slots, wins, ramp-up and recovery per path.

The model is documented in :mod:`kamsim.model.replacement`; this module is the simulation
core that :func:`kamsim.engine.simulate` runs per block, and the recovery statistics
(:func:`survival_curve`, :func:`recovery_summary`) shared by the engine and the timelines.
"""

from __future__ import annotations

import functools
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


@functools.lru_cache(maxsize=64)
def _cycle_table(mean: float, cv: float, gamma: bool, horizon: int
                 ) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.int16],
                            npt.NDArray[np.bool_]]:
    """Integer CDF steps of the cycle and a lookup table by the top 16 bits of a draw.

    ``steps[k] = floor(F(k) 2^32)`` at whole months ``k = 0..horizon``, so that
    ``F(k) < r / 2^32`` iff ``steps[k] < r`` for a raw 32-bit draw ``r``. ``table[b]`` is
    the number of steps below the draws ``b 2^16 ... (b + 1) 2^16 - 1``, ``mixed[b]``
    whether a step falls inside that range (then the draw is looked up exactly).
    """
    grid = np.arange(horizon + 1, dtype=np.float64)
    if gamma:
        k = 1.0 / cv**2
        cdf = special.gammainc(k, grid * k / mean)
    else:
        s2 = math.log1p(cv**2)
        with np.errstate(divide="ignore"):
            cdf = special.ndtr((np.log(grid / mean) + s2 / 2) / math.sqrt(s2))
    steps = np.floor(np.maximum.accumulate(cdf) * 2.0**32).astype(np.uint64)
    lo = np.arange(2**16, dtype=np.uint64) << np.uint64(16)
    first = np.searchsorted(steps, lo, side="left")
    last = np.searchsorted(steps, lo + np.uint64(2**16 - 1), side="left")
    return steps, first.astype(np.int16), first != last


def _cycle_months(p: ReplacementParams, r: npt.NDArray[np.uint32], horizon: int
                  ) -> IntArray:
    """Whole months ``max(1, ceil(C))`` to the first order, ``C`` by inversion of ``r``.

    ``r`` are raw 32-bit draws (``u = r / 2^32``). ``ceil(C) = min{m : C <= m} =
    min{m : u <= F(m)}``, so only the cycle's CDF at whole months is needed (exact, and
    monotone in the mean for fixed ``u``). Cycles longer than the horizon come back as
    ``horizon + 1``.
    """
    if p.cycle_cv == 0 or p.cycle_mean == 0:
        whole = max(math.ceil(p.cycle_mean - 1e-9), 1)
        return np.full(r.shape, min(whole, horizon + 1), dtype=np.int64)
    steps, table, mixed = _cycle_table(p.cycle_mean, p.cycle_cv, p.cycle_gamma, horizon)
    top = r >> np.uint32(16)
    m = table.take(top).astype(np.int64)
    odd = np.flatnonzero(mixed.take(top))
    if odd.size:
        m[odd] = np.searchsorted(steps, r[odd].astype(np.uint64), side="left")
    return np.maximum(m, 1, out=m)


def _sizes(p: ReplacementParams, r: npt.NDArray[np.uint64]) -> FloatArray:
    """Sizes of new accounts from raw 32-bit draws ``r`` (held in uint64).

    Bootstrap: pool entry ``floor(r n / 2^32)`` (exactly uniform over the pool);
    lognormal: ``median exp(sigma Phi^-1(u))`` with ``u = (r + 1/2) / 2^32``.
    """
    if p.pool is not None:
        idx = (r * np.uint64(p.pool.size)) >> np.uint64(32)
        sizes: FloatArray = p.pool.take(idx)
        return sizes
    u = (r.astype(np.float64) + 0.5) * 2.0**-32
    return np.asarray(p.size_median * np.exp(p.size_sigma * special.ndtri(u)),
                      dtype=np.float64)


@dataclass(frozen=True, slots=True)
class _Paths:
    """Replacement outcome of a block of paths."""

    run_rate: FloatArray  # (n, H) ramped replacement run-rate (currency per year) by month
    wins: IntArray  # (n, H) accounts won by first-order month
    opportunities: IntArray  # (n,)


#: Paths per chunk when working out the slots (the chunk's slots stay in the CPU caches).
_CHUNK_PATHS = 128


@dataclass(frozen=True, slots=True)
class _Won:
    """Won slots of some batches that can order within the horizon, by (path, level)."""

    path: IntArray
    level: IntArray  # effort level (1-based) at which the slot opens
    cycle: IntArray  # whole months from opening to the first order
    size: FloatArray
    start: IntArray  # where each (path, level) group starts: key path * (levels + 2) + level
    levels: npt.NDArray[np.int16] | None  # every slot's level (slots x n), if asked


def _draw_slots(g: np.random.Generator, n: int, batches: int) -> npt.NDArray[np.uint32]:
    """``batches`` batches of raw slot draws, as ``(batches, 2, _SLOTS, 2 n)`` uint32.

    A batch is ``2 x _SLOTS x n`` raw 64-bit draws, slot by slot (``n`` paths each):
    the first half holds each slot's arrival-gap draw (low 32 bits) and win draw (high 32
    bits), the second half its cycle draw (low) and size draw (high).
    """
    raw = g.bit_generator.random_raw(batches * 2 * _SLOTS * n)
    assert isinstance(raw, np.ndarray)
    return raw.view(np.uint32).reshape(batches, 2, _SLOTS, 2 * n)


class _SlotStream:
    """The opportunity slots of ``n`` paths, drawn batch by batch as effort needs them.

    Slots come in batches of :data:`_SLOTS` per path (:func:`_draw_slots`), in stream
    order, so slot ``j`` of a path has the same draws whatever the assumptions and
    however many batches are drawn at a time (common random numbers). A slot's arrival
    is the sum of its and the earlier slots' Exp(1) gaps ``-log(1 - r / 2^32)`` (fixed
    arrivals: ``j + 1``); it opens at the first effort level ``e`` with
    ``arrival <= rate e``; it is won iff its raw win draw is below
    ``ceil(win_rate 2^32)``; its cycle and size come from its own draws
    (:func:`_cycle_months`, :func:`_sizes`). :meth:`cover` draws batches until every
    path's slots reach past a given effort level and adds their won slots (those that
    can order within the horizon) as one more :class:`_Won` segment.
    """

    def __init__(self, p: ReplacementParams, g: np.random.Generator, n: int, levels: int,
                 horizon: int, keep_levels: bool) -> None:
        self.p, self.g, self.n, self.levels, self.horizon = p, g, n, levels, horizon
        self.keep_levels = keep_levels
        self.scale = 1.0 / (p.rate * (1.0 + 1e-12))  # open at effort e iff arrival <= rate e
        self.slots = 0  # slots per path drawn so far
        self.log_sum = np.zeros(n)  # running sum of log(2^32 - r) over the drawn slots
        self.last = np.zeros(n)  # arrival of each path's last slot
        self.covered = 0  # every path's slots reach past this effort level
        self.segments: list[_Won] = []

    def cover(self, level: int) -> None:
        """Draw batches until every path's last slot arrives after ``level`` (or the cap)."""
        p = self.p
        while self.covered < level and self.slots < p.cap:
            want = min(p.cap, p.rate * level + 4.0 * math.sqrt(p.rate * level) + 16.0)
            batches = max(1, -(-int(want - self.slots) // _SLOTS))
            self.segments.append(self._add(_draw_slots(self.g, self.n, batches)))
            low = float(np.min(self.last)) * self.scale
            self.covered = self.levels if self.slots >= p.cap else min(
                self.levels, math.ceil(low) - 1)

    def _add(self, raw: npt.NDArray[np.uint32]) -> _Won:
        p, n, levels = self.p, self.n, self.levels
        nb = raw.shape[0]
        n_new = nb * _SLOTS
        j0 = self.slots
        j1 = np.arange(j0 + 1.0, j0 + n_new + 1.0).reshape(nb, _SLOTS, 1)
        c32 = 32.0 * math.log(2.0)
        scale = self.scale
        win_u32 = np.uint32(min(math.ceil(p.win_rate * 2.0**32), 2**32 - 1))
        capped = p.cap < j0 + n_new
        parts: list[tuple[IntArray, IntArray, npt.NDArray[np.uint64]]] = []
        all_levels = np.empty((nb, _SLOTS, n), dtype=np.int16) if self.keep_levels else None
        raw64 = raw.view(np.uint64)  # (nb, 2, _SLOTS, n)
        for p0 in range(0, n, _CHUNK_PATHS):
            p1 = min(p0 + _CHUNK_PATHS, n)
            c = p1 - p0
            # (batch, slot in batch, path) arrays of this chunk; cl: running sums of logs
            arrival: npt.NDArray[np.float64]
            if p.fixed_arrivals:
                arrival = np.broadcast_to(j1, (nb, _SLOTS, c))
                self.last[p0:p1] = j0 + n_new
            else:
                cl = raw[:, 0, :, 2 * p0:2 * p1:2].astype(np.float64)
                np.subtract(2.0**32, cl, out=cl)
                np.log(cl, out=cl)
                cl[0, 0] += self.log_sum[p0:p1]
                for j in range(1, _SLOTS):  # running sums: within batches, then across
                    np.add(cl[:, j - 1], cl[:, j], out=cl[:, j])
                for b in range(1, nb):
                    cl[b] += cl[b - 1, -1]
                self.log_sum[p0:p1] = cl[-1, -1]
                self.last[p0:p1] = (j0 + n_new) * c32 - cl[-1, -1]
                arrival = cl  # arrival = j1 c32 - cl, worked out at the won slots only
            if p.win_rate >= 1.0:
                won = np.ones((nb, _SLOTS, c), dtype=bool)
            else:
                won = raw[:, 0, :, 2 * p0 + 1:2 * p1:2] < win_u32
            if capped:
                won.reshape(n_new, c)[p.cap - j0:] = False
            idx = np.flatnonzero(won.transpose(2, 0, 1))  # (path, slot) order
            path = idx // n_new
            slot = idx - path * n_new
            at = slot * c + path
            arr = arrival.ravel()[at]
            if not p.fixed_arrivals:
                arr = (slot + (j0 + 1.0)) * c32 - arr
            lev = np.ceil(arr * scale).astype(np.int64)
            np.maximum(lev, 1, out=lev)
            inside = lev <= levels  # opens within the horizon
            path, at, lev = path[inside], at[inside], lev[inside]
            cs = np.ascontiguousarray(raw64[:, 1, :, p0:p1])  # cycle/size draws
            parts.append((path + p0, lev, cs.ravel()[at]))
            if all_levels is not None:
                lv = (np.subtract(j1 * c32, arrival) if not p.fixed_arrivals
                      else arrival.copy())
                lv *= scale
                np.ceil(lv, out=lv)
                np.clip(lv, 1.0, levels + 1.0, out=lv)
                if capped:
                    lv.reshape(n_new, c)[p.cap - j0:] = levels + 1.0
                all_levels[:, :, p0:p1] = lv
        self.slots = j0 + n_new
        path = np.concatenate([q[0] for q in parts])
        lev = np.concatenate([q[1] for q in parts])
        cs_w = np.concatenate([q[2] for q in parts])
        cyc = _cycle_months(p, (cs_w & np.uint64(0xFFFFFFFF)).astype(np.uint32),
                            self.horizon)
        keep = cyc < levels - lev + 1 + p.lag  # orders within the horizon from some month
        if not keep.all():
            path, lev, cyc, cs_w = path[keep], lev[keep], cyc[keep], cs_w[keep]
        counts = np.bincount(path * (levels + 2) + lev, minlength=n * (levels + 2))
        start = np.zeros(counts.size + 1, dtype=np.int64)
        np.cumsum(counts, out=start[1:])
        return _Won(path, lev, cyc, _sizes(p, cs_w >> np.uint64(32)), start,
                    None if all_levels is None else all_levels.reshape(n_new, n))


#: Effort levels the slots first cover (then doubled as paths need more).
_FIRST_LEVELS = 8


def replace_lost(p: ReplacementParams, lost: FloatArray, g: np.random.Generator,
                 opportunities: bool = True) -> _Paths:
    """Run the replacement process on ``n`` paths with lost run-rate ``lost`` (n x H).

    ``lost[:, t-1]`` is the run-rate lost by month ``t`` (non-decreasing in ``t``).

    Each month ``t`` a path whose known loss (``lag`` months ago) exceeds the run-rate
    won so far puts in one more month of effort; the opportunities arriving within its
    effort so far open (a Poisson process in effort time of ``rate`` a month, or one
    every ``1 / rate`` months for fixed arrivals), each is won with probability
    ``win_rate`` and orders ``max(1, ceil(cycle))`` months later. The slots' effort
    levels, wins, cycles and sizes do not depend on the month loop, so they are worked
    out a segment of batches at a time (``_SlotStream``), as far as the most effort
    so far needs; the loop only adds the wins of the slots opening at each path's new
    effort level. ``opportunities=False`` skips counting the opportunities opened
    (``_Paths.opportunities`` is then zeros).
    """
    n, h = lost.shape
    won_by_month = np.zeros((n, h + 2))  # run-rate by first-order month (1-based)
    effort = np.zeros(n, dtype=np.int64)  # months of effort so far
    won = np.zeros(n)
    levels = h - p.lag  # the most effort a path can put in within the horizon
    flats: list[IntArray] = []
    opened = np.zeros(n, dtype=np.int64)
    if p.rate > 0 and p.cap > 0 and levels >= 1:
        slots = _SlotStream(p, g, n, levels, h, opportunities)
        lost_t = np.ascontiguousarray(lost.T)
        for t in range(1, h + 1):
            won += won_by_month[:, t - 1]
            tk = t - p.lag
            if tk < 1:
                continue
            known = lost_t[tk - 1]
            act = np.flatnonzero(known > won + _REL_TOL * np.abs(known))
            if act.size == 0:
                continue
            effort[act] += 1
            e = effort[act]
            top = int(e.max())
            if top > slots.covered:
                slots.cover(min(levels, max(top, 2 * slots.covered, _FIRST_LEVELS)))
            k = act * (levels + 2) + e
            for w in slots.segments:
                lo = w.start[k]
                cnt = w.start[k + 1] - lo
                tot = int(cnt.sum())
                if tot == 0:
                    continue
                pos = np.repeat(lo - (np.cumsum(cnt) - cnt), cnt) + np.arange(tot)
                f = w.cycle[pos] + t
                inside = f <= h
                if not inside.all():
                    pos, f = pos[inside], f[inside]
                pw = w.path[pos]
                np.add.at(won_by_month, (pw, f), w.size[pos])
                flats.append(pw * (h + 2) + f)
        for w in slots.segments:
            if w.levels is not None:
                opened += (w.levels <= effort[None, :]).sum(axis=0)
    wins = (np.bincount(np.concatenate(flats), minlength=n * (h + 2)).reshape(n, h + 2)
            if flats else np.zeros((n, h + 2), dtype=np.int64))
    cum = np.cumsum(won_by_month[:, 1:h + 1], axis=1)
    rr = np.zeros((n, h))
    for k, step in enumerate(p.ramp_steps):
        if k >= h:
            break
        if step != 0:
            rr[:, k:] += step * cum[:, :h - k]
    return _Paths(rr, wins[:, 1:h + 1], opened.astype(np.int64))


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


