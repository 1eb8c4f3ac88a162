"""The replacement kernel: effort, opportunities, wins, ramp-up and recovery per path.

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

import kamsim.engine.ckernel as _ck
from kamsim._util.tables import count_in_rows
from kamsim.exceptions import AssumptionError
from kamsim.model.replacement import ReplacementAssumptions

if TYPE_CHECKING:
    pass


FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

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
def cycle_table(mean: float, cv: float, gamma: bool, horizon: int
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
    steps, table, mixed = cycle_table(p.cycle_mean, p.cycle_cv, p.cycle_gamma, horizon)
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


# --- random numbers of the replacement process ------------------------------------------
#
# Each path has its own 64-bit key, drawn from the block's replacement stream. Its draws
# are SplitMix64 outputs (Steele, Lea & Flood 2014) at fixed counters: the state
# ``key + c * GAMMA`` mixed by Stafford's "Mix13" finaliser. Counter ``e << 32`` is effort
# level ``e`` (its low 32 bits give the opportunities opened, its high 32 bits the wins);
# counter ``(e << 32) + i + 1`` is the ``i``-th win of level ``e`` (low 32 bits: its sales
# cycle, high 32 bits: its size). A draw depends only on the path and its counter, never
# on the assumptions or on how much other paths drew: common random numbers, and every
# path draws only what its own effort needs.

GAMMA = 0x9E3779B97F4A7C15
_MIX1 = 0xBF58476D1CE4E5B9
_MIX2 = 0x94D049BB133111EB
_U32 = 0xFFFFFFFF


def mix64(z: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """Stafford's Mix13 finaliser of SplitMix64, elementwise (a bijection of uint64).

    Examples
    --------
    >>> int(mix64(np.array([GAMMA], dtype=np.uint64))[0])  # SplitMix64(0), first output
    16294208416658607535
    """
    z = z ^ (z >> np.uint64(30))
    z *= np.uint64(_MIX1)
    z ^= z >> np.uint64(27)
    z *= np.uint64(_MIX2)
    z ^= z >> np.uint64(31)
    return z


def path_draws(keys: npt.NDArray[np.uint64], counter: npt.NDArray[np.uint64]
               ) -> npt.NDArray[np.uint64]:
    """The draws ``mix64(key + counter * GAMMA)`` (wrapping uint64 arithmetic)."""
    return mix64(keys + counter * np.uint64(GAMMA))


def inversion_thresholds(cdf: FloatArray) -> tuple[int, npt.NDArray[np.uint64]]:
    """Integer thresholds for drawing a count ``X`` with CDF ``cdf[k] = P(X <= k)``.

    With a raw 32-bit draw ``r`` and ``u = (r + 1/2) / 2^32``, ``X = #{k : F(k) <= u}``
    (inversion), i.e. ``X = lo + #{j : t[j] <= r}`` with ``t_k = ceil(F(k) 2^32 - 1/2)``:
    ``lo`` counts the ``k`` with ``t_k <= 0`` (always counted) and ``t`` holds the
    thresholds strictly between 0 and ``2^32`` (those at ``2^32`` are never reached).
    Exact integer comparisons, so the count is the same on every platform.

    Examples
    --------
    >>> inversion_thresholds(np.array([0.0, 0.5, 1.0]))
    (1, array([2147483648], dtype=uint64))
    """
    t = np.ceil(np.maximum.accumulate(np.asarray(cdf, dtype=np.float64)) * 2.0**32 - 0.5)
    np.clip(t, 0.0, 2.0**32, out=t)
    lo = int(np.count_nonzero(t <= 0.0))
    mid = t[(t > 0.0) & (t < 2.0**32)]
    return lo, mid.astype(np.uint64)


@dataclass(frozen=True, slots=True)
class LevelTables:
    """How many opportunities open and are won per month of effort, by inversion.

    Opened: Poisson(``rate``) from the low 32 bits of the level's draw (``p_lo``,
    ``p_thr``: :func:`inversion_thresholds`), or the fixed ``counts[e - 1]``. Won:
    Binomial(``admitted``, ``win_rate``) from the high 32 bits, row ``admitted - row0`` of
    ``b_lo`` / ``b_thr`` (rows padded with ``2^32``, never reached; the last column is a
    sentinel). ``admitted`` is what the cap on opportunities lets open of those.
    """

    fixed: bool
    counts: IntArray  # fixed arrivals: opportunities opening at each level (levels,)
    p_lo: int
    p_thr: npt.NDArray[np.uint64]
    row0: int
    b_lo: IntArray
    b_thr: npt.NDArray[np.uint64]  # (rows, width + 1), ascending, padded with 2^32
    p_guess: npt.NDArray[np.uint32]  # #{p_thr < b 2^20}, b < 4096 (the kernel's start)
    b_guess: npt.NDArray[np.uint32]  # (rows, 256): #{row < b 2^24}


@functools.lru_cache(maxsize=32)
def _level_tables(rate: float, fixed: bool, win_rate: float, capped: bool, levels: int
                  ) -> LevelTables:
    counts = np.zeros(0, dtype=np.int64)
    p_thr = np.zeros(0, dtype=np.uint64)
    p_lo = 0
    if fixed:
        # the j-th opportunity opens at effort level max(1, ceil(j / rate))
        scale = 1.0 / (rate * (1.0 + 1e-12))
        j = np.arange(1, math.ceil(rate * levels) + 3, dtype=np.float64)
        lev = np.maximum(np.ceil(j * scale), 1.0).astype(np.int64)
        counts = np.bincount(np.minimum(lev, levels + 1), minlength=levels + 2)[1:levels + 1]
        lo_n, hi_n = int(counts.min()), int(counts.max())
    else:
        k = np.arange(math.ceil(rate + 14.0 * math.sqrt(rate) + 40.0) + 1, dtype=np.float64)
        p_lo, p_thr = inversion_thresholds(special.pdtr(k, rate))
        lo_n, hi_n = p_lo, p_lo + p_thr.size
    row0 = 0 if capped else lo_n
    rows = []
    for n_open in range(row0, hi_n + 1):
        rows.append(inversion_thresholds(
            special.bdtr(np.arange(n_open + 1, dtype=np.float64), n_open, win_rate)))
    width = max(t.size for _, t in rows)
    b_thr = np.full((len(rows), width + 1), 2**32, dtype=np.uint64)
    for i, (_, t) in enumerate(rows):
        b_thr[i, :t.size] = t
    b_lo = np.array([lo for lo, _ in rows], dtype=np.int64)
    edges = np.arange(4096, dtype=np.uint64) << np.uint64(20)
    p_guess = np.searchsorted(p_thr, edges, side="left").astype(np.uint32)
    edges = np.arange(256, dtype=np.uint64) << np.uint64(24)
    b_guess = np.stack([np.searchsorted(t[:-1], edges, side="left") for t in b_thr]
                       ).astype(np.uint32)
    return LevelTables(fixed, counts, p_lo, p_thr, row0, b_lo, b_thr, p_guess, b_guess)


def level_tables(p: ReplacementParams, levels: int) -> LevelTables:
    """The :class:`LevelTables` of ``p`` for ``levels`` months of effort (cached)."""
    return _level_tables(p.rate, p.fixed_arrivals, min(p.win_rate, 1.0), p.cap < 2**62,
                         levels)


def level_counts(p: ReplacementParams, keys: npt.NDArray[np.uint64], levels: int
                 ) -> tuple[IntArray, IntArray]:
    """Opportunities admitted and won at each effort level, ``(n, levels)`` each.

    Level ``e`` of a path opens ``O_e`` opportunities (Poisson or fixed); the cap lets
    ``min(O_e, cap - opened before)`` of them open; each is won with probability
    ``win_rate``, so the wins are Binomial(admitted, win_rate). Both by inversion of the
    level's own draw, so more capacity or a higher win rate never opens or wins fewer.
    """
    tb = level_tables(p, levels)
    n = keys.size
    e = np.arange(1, levels + 1, dtype=np.uint64) << np.uint64(32)
    r = path_draws(keys[:, None], e[None, :])
    opened: IntArray
    if tb.fixed:
        opened = np.broadcast_to(tb.counts, (n, levels)).copy()
    else:
        lo32 = r & np.uint64(_U32)
        opened = tb.p_lo + np.searchsorted(tb.p_thr, lo32.ravel(), side="right"
                                           ).reshape(n, levels).astype(np.int64)
    admitted = opened
    if p.cap < 2**62:
        before = np.cumsum(opened, axis=1) - opened
        admitted = np.clip(p.cap - before, 0, opened)
    row = (admitted - tb.row0).ravel()
    won = tb.b_lo[row] + count_in_rows(tb.b_thr, row, (r >> np.uint64(32)).ravel(), strict=False)
    return admitted, won.reshape(n, levels)


@functools.lru_cache(maxsize=64)
def _kernel_cycle_table(mean: float, cv: float, gamma: bool, horizon: int
                        ) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.int16]]:
    """The compiled kernel's cycle lookup: the steps of :func:`cycle_table` and a sentinel.

    ``steps`` ends with ``2^64 - 1`` (above every draw); ``first[b]`` is the number of
    steps below ``b 2^20``, for the 4,096 buckets of a draw's top 12 bits (8 KB, which
    stays in the first-level cache). The kernel counts on from ``first[r >> 20]`` while
    ``steps[m] < r``: the same count as ``searchsorted(steps, r, side="left")``.
    """
    steps = cycle_table(mean, cv, gamma, horizon)[0]
    padded = np.append(steps, np.uint64(2**64 - 1))
    edges = np.arange(4096, dtype=np.uint64) << np.uint64(20)
    return padded, np.searchsorted(steps, edges, side="left").astype(np.int16)


def compiled_sizes(p: ReplacementParams) -> bool:
    """Whether the compiled kernel can draw these sizes bitwise as numpy does.

    Resampled or fixed sizes: yes. Lognormal sizes with a spread need ``exp``, whose last
    bit may differ between numpy and the C library, so they stay on numpy.
    """
    return p.pool is not None or p.size_sigma == 0


def kernel_params(p: ReplacementParams, h: int) -> dict[str, Any]:
    """The process's fields of the kernel's ``repl_args`` (:data:`ckernel.REPLACE_FIELDS`).

    Over ``h`` months; the paths (``n``, ``keys``), the economic fields and the outputs
    are the caller's.
    """
    levels = h - p.lag
    active = p.rate > 0 and p.cap > 0 and levels >= 1
    tb = level_tables(p, levels) if active else None
    cyc_const = 0
    steps = table = None
    if p.cycle_cv == 0 or p.cycle_mean == 0:
        cyc_const = min(max(math.ceil(p.cycle_mean - 1e-9), 1), h + 1)
    else:
        steps, table = _kernel_cycle_table(p.cycle_mean, p.cycle_cv, p.cycle_gamma, h)
    return {
        "h": h, "lag": p.lag, "levels": levels, "active": int(active),
        "fixed": int(tb is not None and tb.fixed),
        "counts": tb.counts if tb is not None and tb.fixed else None,
        "p_lo": tb.p_lo if tb is not None else 0,
        "p_len": tb.p_thr.size if tb is not None else 0,
        "p_thr": tb.p_thr if tb is not None else None,
        "p_guess": tb.p_guess if tb is not None else None,
        "row0": tb.row0 if tb is not None else 0,
        "b_width1": tb.b_thr.shape[1] if tb is not None else 0,
        "b_lo": tb.b_lo if tb is not None else None,
        "b_thr": tb.b_thr if tb is not None else None,
        "b_guess": tb.b_guess if tb is not None else None,
        "cap": p.cap if p.cap < 2**62 else -1,
        "cyc_const": cyc_const, "cyc_nsteps": 0 if steps is None else steps.size,
        "cyc_steps": steps, "cyc_table": table,
        "pool": p.pool, "pool_n": 0 if p.pool is None else p.pool.size,
        "size_const": p.size_median, "ramp": p.ramp_steps,
        "n_ramp": min(p.ramp_steps.size, h), "rel_tol": _REL_TOL}


def replace_lost(p: ReplacementParams, lost: FloatArray, g: np.random.Generator,
                 opportunities: bool = True) -> _Paths:
    """Run the replacement process on ``n`` paths with lost run-rate ``lost`` (n x H).

    ``lost[:, t-1]`` is the run-rate lost by month ``t`` (non-decreasing in ``t``).

    Each month ``t`` a path whose known loss (``lag`` months ago) exceeds the run-rate
    won so far puts in one more month of effort, its ``e``-th; that level opens and wins
    the opportunities of :func:`level_counts`; each win orders ``max(1, ceil(cycle))``
    months later with a size of its own (its draw: see the comment above :func:`mix64`).
    ``opportunities=False`` skips counting the opportunities opened
    (``_Paths.opportunities`` is then zeros). The compiled kernel
    (``kamsim_replace`` in ``_ckernel.c``) follows the same steps in the same order.
    """
    n, h = lost.shape
    keys = g.bit_generator.random_raw(n)
    assert isinstance(keys, np.ndarray)
    if _ck.available() and compiled_sizes(p):
        rr_c = np.empty((n, h))
        wins_c = np.empty((n, h), dtype=np.int64)
        opened_c = np.empty(n, dtype=np.int64)
        args: dict[str, Any] = {k: (None if t == "p" else 0)
                                for k, t in _ck.REPLACE_FIELDS}
        args.update(kernel_params(p, h), n=n, keys=keys, work=np.empty(8 * h + 8))
        _ck.replace_lost(args, np.ascontiguousarray(lost, dtype=np.float64), rr_c, wins_c,
                         opened_c)
        return _Paths(rr_c, wins_c, opened_c if opportunities else np.zeros(n, np.int64))
    won_by_month = np.zeros((n, h + 2))  # run-rate by first-order month (1-based)
    effort = np.zeros(n, dtype=np.int64)  # months of effort so far
    won = np.zeros(n)
    levels = h - p.lag  # the most effort a path can put in within the horizon
    flats: list[IntArray] = []
    opened = np.zeros(n, dtype=np.int64)
    if p.rate > 0 and p.cap > 0 and levels >= 1:
        admitted, wins_at = level_counts(p, keys, levels)
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
            cnt = wins_at[act, e - 1]
            tot = int(cnt.sum())
            if tot == 0:
                continue
            pa = np.repeat(act, cnt)
            ctr = (np.repeat(e, cnt).astype(np.uint64) << np.uint64(32)) + (
                np.arange(1, tot + 1) - np.repeat(np.cumsum(cnt) - cnt, cnt)
            ).astype(np.uint64)
            x = path_draws(keys[pa], ctr)
            f = _cycle_months(p, (x & np.uint64(_U32)).astype(np.uint32), h) + t
            inside = f <= h
            if not inside.all():
                pa, f, x = pa[inside], f[inside], x[inside]
            np.add.at(won_by_month, (pa, f), _sizes(p, x >> np.uint64(32)))
            flats.append(pa * (h + 2) + f)
        if opportunities:
            cum = np.cumsum(admitted, axis=1)
            at = np.flatnonzero(effort > 0)
            opened[at] = cum[at, effort[at] - 1]
    wins = (np.bincount(np.concatenate(flats), minlength=n * (h + 2)).reshape(n, h + 2)
            if flats else np.zeros((n, h + 2), dtype=np.int64))
    cum_won = np.cumsum(won_by_month[:, 1:h + 1], axis=1)
    rr = np.zeros((n, h))
    for k, step in enumerate(p.ramp_steps):
        if k >= h:
            break
        if step != 0:
            rr[:, k:] += step * cum_won[:, :h - k]
    return _Paths(rr, wins[:, 1:h + 1], opened)



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


