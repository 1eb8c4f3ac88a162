"""The Monte Carlo account-churn engine: :func:`simulate` and :class:`SimulationResult`.

Event-based: for each simulated future (a *path*) the engine draws, per account, whether
and in which month the account decides to leave, and how much of its revenue goes; monthly
revenue and gross-profit paths are then built by cumulative sums over the stop months.
The expensive part grows with paths x accounts; the monthly part with paths x months.

Reproducibility (SPEC 7). Paths are generated in fixed blocks of :data:`BLOCK_SIZE`; block
``b`` draws from its own generator seeded by ``SeedSequence(entropy, spawn_key=(b,))``.
Tasks handed to an executor are runs of whole blocks and results are assembled in block
order, so for a given seed the output is bitwise identical whatever ``chunk_size``, the
number of workers or the ``concurrent.futures.Executor`` (a ``dask.distributed`` client's
``get_executor()`` included).

Replacement. When the scenario has ``replacement`` assumptions, each block also runs the
replacement process of :mod:`kamsim.model.replacement` on the block's lost run-rate, with its
own stream ``SeedSequence(entropy, spawn_key=(*spawn_key, b, 1))``: the churn draws are
the same as without replacement (paired comparisons), and the churn loss columns are
unchanged. Monthly revenue and gross profit (histograms, means, kept paths, break-even)
are then net of replacement and organic growth, and per-path recovery, gap and cash
columns are added (see :class:`SimulationResult`). Without replacement the engine runs
exactly as before.

Memory. Per-path totals are kept (a few float64 per path); monthly paths are reduced to
fixed-grid histograms per month (mergeable, so quantiles for fan charts do not depend on
chunking) unless ``keep_paths=True``.
"""

from __future__ import annotations

import collections
import functools
import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from scipy import special

import kamsim.engine.ckernel as _ck
import kamsim.engine.samplers as _samplers
from kamsim._util.tables import count_in_rows
from kamsim.engine.replacement import (
    ReplacementParams,
    compiled_sizes,
    kernel_params,
    recovery_months,
    replace_lost,
    replacement_params,
)
from kamsim.model.copulas import double_t_cdf, latent_thresholds, t_scale
from kamsim.model.scenario import Scenario

__all__ = [
    "BLOCK_SIZE",
    "DEFAULT_QMC_REPLICATES",
    "FUSED_COLUMNS",
    "HIST_BINS",
    "HIST_TOP",
    "LOSS_MEASURES",
    "REPLACEMENT_COLUMNS",
    "SAMPLERS",
    "SE_BATCHES",
    "Events",
    "LossMeasure",
    "Sampler",
    "Spec",
    "account_losses_in_tail",
    "block_rng",
    "draw_events",
    "fold_blocks",
    "fused",
    "fused_columns",
    "latent_idio",
    "make_spec",
    "map_tasks",
    "run_blocks",
    "sobol_dim",
    "with_sampler",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Paths per random-number block. Fixed: changing it changes the random streams.
BLOCK_SIZE = 2048
#: Bins of the per-month histograms used for fan-chart quantiles.
HIST_BINS = 4000
#: Upper edge of the monthly histograms, as a multiple of the base monthly value.
HIST_TOP = 1.5

#: Per-path columns added when the scenario has replacement assumptions.
REPLACEMENT_COLUMNS = (
    "first_loss_month",
    "months_to_recover",
    "recovered",
    "revenue_gap",
    "gross_profit_gap",
    "min_cash",
    "out_of_cash",
    "replacement_wins",
    "acquisition_costs",
)

#: Per-path loss measures accepted by the risk methods.
LOSS_MEASURES = (
    "run_rate_lost",
    "revenue_lost",
    "gross_profit_lost",
    "run_rate_gross_profit_lost",
)
LossMeasure = Literal[
    "run_rate_lost", "revenue_lost", "gross_profit_lost", "run_rate_gross_profit_lost"
]

#: Samplers of the churn draws accepted by :func:`simulate`.
SAMPLERS = ("mc", "sobol", "importance")
Sampler = Literal["mc", "sobol", "importance"]
#: Default number of randomised QMC replicates.
DEFAULT_QMC_REPLICATES = 16
#: Batches used for batch-means standard errors of VaR / ES (plain MC and IS).
SE_BATCHES = 16


@dataclass(frozen=True, slots=True)
class Spec:
    """Everything a worker needs, as plain arrays (picklable, small)."""

    revenue: FloatArray
    gross_profit: FloatArray
    thresholds: FloatArray  # lost iff X_i < threshold_i (normal) / U_i < q_i (uniform)
    q: FloatArray
    log1m_p: FloatArray  # log(1 - p_i), for the decision month
    month_scale: FloatArray  # 12 / log(1 - p_i) (0 where p_i = 1)
    q_u32: npt.NDArray[np.uint32]  # lost iff a raw 32-bit draw r < q_u32 (= ceil(q 2^32))
    certain: npt.NDArray[np.bool_]  # q = 1: lost whatever the draw
    month_scale32: npt.NDArray[np.float32]
    thresholds32: npt.NDArray[np.float32]
    loadings32: npt.NDArray[np.float32]
    idio32: npt.NDArray[np.float32]  # sqrt(1 - loading^2)
    loadings: FloatArray
    partial: FloatArray
    beta_a: float
    beta_b: float
    notice: int
    horizon: int
    fixed_monthly: float
    entropy: int | tuple[int, ...]
    spawn_key: tuple[int, ...]
    rev_top: float
    gp_top: float
    gp_bottom: float
    keep_paths: bool
    repl: ReplacementParams | None = None
    opening_cash: float = 0.0
    cash_bottom: float = 0.0
    cash_top: float = 1.0
    sampler: str = "mc"
    qmc_rep_paths: int = 0
    plan: _samplers.ImportancePlan | _samplers.LatentImportancePlan | None = None
    copula: str = "independent"  # key of LOSS_DRAWERS for plain Monte Carlo
    factor_loadings32: npt.NDArray[np.float32] | None = None  # (m, K), latent drawers
    factor_loadings: FloatArray | None = None  # (m, K) float64 (double-t CDFs)
    nu: float = np.inf  # t copula / double-t factor degrees of freedom
    nu_idio: float = np.inf  # double-t idiosyncratic degrees of freedom
    # decision months of raw 32-bit draws (see :func:`month_tables`)
    month_t: npt.NDArray[np.uint64] | None = None  # (m, K): month <= k iff r < T_k
    month_guess: npt.NDArray[np.float32] | None = None  # 12 / log2(1 - p_i)
    month_tol: npt.NDArray[np.float32] | None = None  # see month_tolerance
    month_t32: npt.NDArray[np.uint32] | None = None  # (m, K + 1): 0, T clipped to 2^32 - 1
    # one-factor Gaussian latent model (see :func:`draw_gaussian`)
    idio: FloatArray | None = None  # s_i = sqrt(1 - a_i^2)
    tau: FloatArray | None = None  # t_i / s_i
    beta: FloatArray | None = None  # a_i / s_i
    month_x: FloatArray | None = None  # (m, K): month <= k iff X_i <= x_ik (then inf)
    month_xpad: FloatArray | None = None  # (m, K + 1): -inf, then month_x (the kernel's)
    month_gtol: npt.NDArray[np.float32] | None = None  # see latent_month_tolerance

    @property
    def correlated(self) -> bool:
        """Whether any account loads on the shared factor."""
        return bool(np.any(self.loadings > 0))


@dataclass(frozen=True, slots=True)
class Events:
    """Sparse churn events of one block: (path, account, stop month, fraction lost)."""

    path: IntArray
    account: IntArray
    stop: IntArray
    frac: FloatArray
    weight: FloatArray | None = None  # per-path likelihood ratio (importance sampling)


#: What a loss drawer yields per sub-block (see :data:`LOSS_DRAWERS`).
Drawn = tuple[int, IntArray, IntArray, npt.NDArray[np.integer[Any]] | None]


def block_rng(spec: Spec, block: int) -> np.random.Generator:
    """The churn generator of block ``block``: ``SeedSequence(entropy, (*spawn_key, block))``."""
    ss = np.random.SeedSequence(entropy=spec.entropy, spawn_key=(*spec.spawn_key, block))
    return np.random.default_rng(ss)


def raw_u32(g: np.random.Generator, k: int) -> npt.NDArray[np.uint32]:
    """``k`` raw 32-bit draws of ``g``'s bit generator (two per 64-bit output, low half first).

    The cheapest randomness numpy offers: no conversion to floating point. ``r / 2^32`` is
    uniform on ``[0, 1)`` with 32-bit resolution.
    """
    raw = g.bit_generator.random_raw((k + 1) // 2)
    assert isinstance(raw, np.ndarray)
    return raw.view(np.uint32)[:k]


def thresholds_u32(p: FloatArray) -> npt.NDArray[np.uint32]:
    """``ceil(p 2^32)`` clipped to uint32: a raw draw ``r`` has ``r / 2^32 < p`` iff below it.

    Probabilities of 1 clip to ``2^32 - 1``; callers treat them as certain separately.
    """
    t = np.ceil(np.clip(p, 0.0, 1.0) * 2.0**32)
    return np.minimum(t, 2.0**32 - 1).astype(np.uint32)


#: Account-paths per sub-block: the plain Monte Carlo drawers draw and hand over the
#: events of a block a few paths at a time (:func:`sub_block`), so that the per-event
#: arrays stay in the CPU caches. The random stream is sequential, so the sub-block size
#: never changes the numbers.
SUB_BLOCK_SIZE = 2**16


def sub_block(m: int) -> int:
    """Paths per sub-block for ``m`` accounts.

    The whole block up to twice :data:`SUB_BLOCK_SIZE` account-paths (small portfolios:
    fewer calls), else the largest power-of-two share of it within that size, at least 64.
    """
    sub = BLOCK_SIZE
    if sub * m <= 2 * SUB_BLOCK_SIZE:
        return sub
    while sub > 64 and sub * m > SUB_BLOCK_SIZE:
        sub //= 2
    return sub


def month_tables(p: FloatArray, horizon: int, notice: int
                 ) -> tuple[npt.NDArray[np.uint64], FloatArray]:
    """Decision-month thresholds of each account: ``(T, c)``.

    The decision month of a loss is ``ceil(12 log(1 - U) / log(1 - p))``, at least 1: month
    ``<= k`` iff ``U <= c_k = 1 - (1 - p)^(k / 12)``. For ``K = horizon - notice``
    decision months, ``c`` holds ``c_1 .. c_{K-1}`` per account (``m x (K - 1)``). With
    ``U = r / 2^32`` of a raw 32-bit draw ``r``, month ``<= k`` iff ``r < T_k =
    floor(c_k 2^32) + 1``, so the month is ``1 + #{k : T_k <= r}``: integer comparisons,
    exact. ``T`` has a last column ``2^64 - 1`` (above every draw: a search's sentinel).
    """
    k1 = max(horizon - notice - 1, 0)
    m = p.size
    with np.errstate(divide="ignore"):
        c = -np.expm1(np.log1p(-np.clip(p, 0.0, 1.0))[:, None]
                      * (np.arange(1, k1 + 1) / 12.0)[None, :])
    t = np.full((m, k1 + 1), np.iinfo(np.uint64).max, dtype=np.uint64)
    t[:, :k1] = np.floor(c * 2.0**32) + 1.0  # at most 2^32 + 1
    return t, c


def month_guess_scale(p: FloatArray) -> npt.NDArray[np.float32]:
    """``12 / log2(1 - p)`` (0 where ``p`` is 0 or 1), float32: months per unit of log2.

    The decision month of a marginal uniform ``U`` is ``1 + floor(f)`` with ``f =
    log2(1 - U) * 12 / log2(1 - p)`` (away from integers): see :func:`month_tolerance`.
    """
    with np.errstate(divide="ignore"):
        lg = np.log2(1.0 - np.clip(p, 0.0, 1.0))
    ok = np.isfinite(lg) & (lg < 0)
    return np.where(ok, 12.0 / np.where(ok, lg, -1.0), 0.0).astype(np.float32)


@functools.lru_cache(maxsize=1)
def log2_table() -> npt.NDArray[np.float32]:
    """``log2(1 + j / 1024)``, ``j = 0 .. 1024`` (float32), for :func:`log2_1mu`."""
    t: npt.NDArray[np.float32] = np.log2(1.0 + np.arange(1025) / 1024.0).astype(np.float32)
    return t


#: A bound of ``|log2_1mu(r) - log2(w 2^-24)|`` over every ``w = 2^24 - (r >> 8)`` (9.7e-7; the
#: test suite measures the maximum exhaustively over all 2^24 values and checks it is
#: below this).
LOG2_1MU_ERROR = 1.5e-6


def log2_1mu(r: npt.NDArray[np.uint32]) -> npt.NDArray[np.float32]:
    """``log2(1 - U)`` of raw draws from their top 24 bits, in float32 (the compiled kernel's).

    ``log2(w) - 24`` with ``w = 2^24 - (r >> 8)``: the exponent of ``w`` plus
    :func:`log2_table` interpolated in its mantissa, the same float32 operations in the same
    order as ``log2_1mu`` in ``_ckernel.c``.
    """
    w = (np.uint32(1 << 24) - (r >> np.uint32(8))).astype(np.int32).astype(np.float32)
    b = w.view(np.uint32)
    e = ((b >> np.uint32(23)).astype(np.int32) - (127 + 24)).astype(np.float32)
    j = (b >> np.uint32(13)) & np.uint32(1023)
    fr = (b & np.uint32(0x1FFF)).astype(np.int32).astype(np.float32)
    fr *= np.float32(2.0**-13)
    t = log2_table()
    lo = t.take(j)
    fr *= t.take(j + np.uint32(1)) - lo
    lo += fr
    e += lo
    return e


def month_tolerance(q: FloatArray, mscale: npt.NDArray[np.float32], k1: int
                    ) -> npt.NDArray[np.float32]:
    """How far ``f`` (:func:`month_guess_scale`) may be from ``12 log(1 - U) / log(1 - p)``.

    The error of :func:`log2_1mu` (:data:`LOG2_1MU_ERROR`) and of its dropping the low 8
    bits of the draw (at most ``2^-24 / ((1 - U) ln 2)`` in log2, with ``U < q`` for a
    loss), times ``|mscale|``; float32 rounding of the product; and ``1e-6`` for the
    rounding of the month thresholds. Where ``f`` is farther than this from an integer,
    ``1 + floor(f)`` *is* the month; else the compiled kernel searches the thresholds.
    At least 0.4: always search.
    """
    ms = np.abs(mscale.astype(np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        trunc = 1.01 * 2.0**-24 / ((1.0 - q) * np.log(2.0))
        tol = ((LOG2_1MU_ERROR + trunc) * ms + 1.2e-7 * (k1 + 1) + 1e-6) * 1.01
    tol = np.where(np.isfinite(tol) & (tol < 0.4), tol, 1.0)
    out: npt.NDArray[np.float32] = tol.astype(np.float32)
    return out


#: Grid of the compiled kernel's Gaussian month guess (as ``LS_*`` in ``_ckernel.c``).
LS_CELLS, LS_MIN, LS_INV = 4096, -8.0, 4096.0 / 16.0


@functools.lru_cache(maxsize=1)
def ndtri_cells() -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """``ndtri`` at the 4,097 edges of 4,096 equal cells of (0, 1), float32, and error bounds.

    Between two edges the compiled kernel reads a draw's normal score off the chord. The
    chord of a function with ``|f''| <= M`` on a cell of width ``h`` is within ``h^2 M / 8``
    of it; ``ndtri''(v) = 2 pi x exp(x^2)`` at ``x = ndtri(v)`` is largest in size at the
    cell's edge farther from 1/2 (no cell straddles 1/2). The bound adds the float32
    rounding of both edges and 1e-12; the outermost cells (unbounded) are ``inf``, which the
    kernel computes exactly.
    """
    edges = special.ndtri(np.arange(4097) / 4096.0)
    e32 = edges.astype(np.float32)
    err = np.full(4096, np.inf)
    with np.errstate(over="ignore", invalid="ignore"):
        curv = 2.0 * np.pi * np.abs(edges) * np.exp(edges * edges)
    inner = slice(1, 4095)
    m2 = np.maximum(curv[1:4095], curv[2:4096])
    err[inner] = ((2.0**-12) ** 2 * m2 / 8.0 + np.abs(e32[1:4095] - edges[1:4095])
                  + np.abs(e32[2:4096] - edges[2:4096]) + 1e-12)
    return e32, np.minimum(err, 3e38).astype(np.float32)


@functools.lru_cache(maxsize=1)
def screen_bounds() -> npt.NDArray[np.uint64]:
    """The compiled kernel's Gaussian screen: ``ceil(2^32 Phi(g_{v+1} + 2 delta)) + 1``.

    ``g_v`` is the lower edge of latent cell ``v`` (the grid of
    :func:`log2_survival_table`); from ``2^32 - 1`` on it is ``2^32``, above every draw
    ("every draw"); the last cell (unbounded above) is every draw. A draw ``r`` whose normal score
    ``ndtri((r + 1/2) 2^-32)`` is below ``c + delta`` has ``r < 2^32 Phi(c + delta)``, so
    for ``c`` in cell ``v`` it is below ``ubound[v]``: the bound loses no loss.
    """
    upper = LS_MIN + np.arange(1, LS_CELLS + 1) / LS_INV + 2 * GAUSS_DELTA
    b = np.ceil(special.ndtr(upper) * 2.0**32) + 1.0
    b[-1] = 2.0**32
    out: npt.NDArray[np.uint64] = np.where(b >= 2.0**32 - 1, 2.0**32, b).astype(np.uint64)
    return out


#: A bound of ``|ls_at(x) - log2(1 - Phi(x))|`` on the grid's range (the test suite
#: measures it on 64 points per cell and checks it is below this).
LS_ERROR = 1.5e-5


def ls_at(x: FloatArray) -> npt.NDArray[np.float32]:
    """:func:`log2_survival_table` at ``x`` in ``[-8, 8)`` (the kernel's float operations)."""
    t = log2_survival_table()
    v = (x - LS_MIN) * LS_INV
    c = v.astype(np.int32)
    fr = (v - c).astype(np.float32)
    out: npt.NDArray[np.float32] = t[c] + fr * (t[c + 1] - t[c])
    return out


def latent_month_tolerance(mscale: npt.NDArray[np.float32], k1: int
                           ) -> npt.NDArray[np.float32]:
    """The Gaussian counterpart of :func:`month_tolerance`: :data:`LS_ERROR` times ``|mscale|``.

    Plus float32 rounding of the product and ``1e-6`` for the rounding of the latent month
    thresholds; at least 0.4: always search.
    """
    ms = np.abs(mscale.astype(np.float64))
    tol = (LS_ERROR * ms + 1.2e-7 * (k1 + 1) + 1e-6) * 1.01
    out: npt.NDArray[np.float32] = np.where(tol < 0.4, tol, 1.0).astype(np.float32)
    return out


@functools.lru_cache(maxsize=1)
def log2_survival_table() -> npt.NDArray[np.float32]:
    """``log2(1 - Phi(x))`` on the compiled kernel's grid (its Gaussian months)."""
    x = LS_MIN + np.arange(LS_CELLS + 1) / LS_INV
    t: npt.NDArray[np.float32] = (special.log_ndtr(-x) / np.log(2.0)).astype(np.float32)
    return t


def month_guess(spec: Spec, account: IntArray, log2_surv: npt.NDArray[Any]) -> IntArray:
    """A first guess of ``#{k : c_k < U}`` from ``log2(1 - U)``: ``12 log2(1 - U) / log2(1 - p)``.

    Float32 arithmetic; only where a search starts (:func:`count_in_rows`), never a month.
    """
    assert spec.month_guess is not None
    f = log2_surv.astype(np.float32)
    f *= spec.month_guess.take(account)
    np.clip(f, 0.0, np.float32(2**30), out=f)
    return f.astype(np.int64)


def months_of_draws(spec: Spec, account: IntArray, r: npt.NDArray[np.uint32]) -> IntArray:
    """``#{k : T_k <= r}`` of lost accounts' raw draws (their decision month minus one).

    As the compiled kernel: ``f = log2_1mu(r) * mscale``; where ``f`` is farther than the
    account's :func:`month_tolerance` from an integer the count is ``floor(f)`` (at most
    ``K - 1``), elsewhere it is searched in the thresholds from that guess.
    """
    assert spec.month_t is not None
    assert spec.month_guess is not None
    assert spec.month_tol is not None
    k1 = spec.month_t.shape[1] - 1
    f = log2_1mu(r)
    f *= spec.month_guess.take(account)
    np.clip(f, np.float32(0.0), np.float32(k1 + 1), out=f)
    whole = np.trunc(f)
    fr = f - whole
    tol = spec.month_tol.take(account)
    count: IntArray = np.minimum(whole.astype(np.int64), k1)
    near = np.flatnonzero(~((fr > tol) & (fr < np.float32(1.0) - tol)))
    if near.size:
        count[near] = count_in_rows(spec.month_t, account[near],
                                    r[near].astype(np.uint64), strict=False,
                                    guess=count[near])
    return count


def latent_months(spec: Spec, account: IntArray, x: FloatArray) -> IntArray:
    """``#{k : x_k < X}`` of lost accounts' latent values (decision month minus one).

    As the compiled kernel: ``f = ls_at(X) * mscale`` is within the account's
    :func:`latent_month_tolerance` of ``12 log2(1 - Phi(X)) / log2(1 - p)``; where that
    interval holds no integer the count is its whole part (at most ``K - 1``), elsewhere
    it is searched in the latent thresholds.
    """
    assert spec.month_x is not None
    assert spec.month_guess is not None
    assert spec.month_gtol is not None
    k1 = spec.month_x.shape[1] - 1
    inside = (x >= LS_MIN) & (x < LS_MIN + LS_CELLS / LS_INV)
    f = ls_at(np.where(inside, x, 0.0))
    f *= spec.month_guess.take(account)
    tol = spec.month_gtol.take(account)
    lo = np.minimum(f - tol, np.float32(k1 + 1))
    hi = np.minimum(f + tol, np.float32(k1 + 1))
    count: IntArray = np.minimum(np.maximum(lo, 0).astype(np.int64), k1)
    sure = inside & ((lo >= k1) | ((lo > 0) & (lo.astype(np.int64) == hi.astype(np.int64)))
                     | (hi < 1))
    count[hi < 1] = 0
    near = np.flatnonzero(~sure)
    if near.size:
        count[near] = count_in_rows(spec.month_x, account[near], x[near], strict=True,
                                    guess=count[near])
    return count


def stops_of_months(spec: Spec, month: IntArray) -> IntArray:
    """First month without the revenue from the decision month: plus notice, <= horizon."""
    if spec.notice:
        month += spec.notice
    return np.minimum(month, spec.horizon, out=month)


def ckernel_arrays(spec: Spec) -> dict[str, Any]:
    """The spec's tables as the compiled kernel takes them (:func:`ckernel.scan`)."""
    assert spec.month_t is not None
    a: dict[str, Any] = {
        "m": spec.revenue.size, "h": spec.horizon, "k1": spec.month_t.shape[1] - 1,
        "notice": spec.notice,
        # lost iff r < q64: the 32-bit threshold, 2^32 (above every draw) where certain
        "q64": np.where(spec.certain, np.uint64(2**32), spec.q_u32.astype(np.uint64)),
        "mscale": spec.month_guess, "tol": spec.month_tol, "l2tab": log2_table(),
        "t": spec.month_t, "t32": spec.month_t32, "rev": spec.revenue,
        "gp": spec.gross_profit}
    if spec.copula == "gaussian":
        a.update(load=spec.loadings, idio=spec.idio, thr=spec.thresholds, tau=spec.tau,
                 beta=spec.beta, xk=spec.month_xpad, lsurv=log2_survival_table(),
                 gtol=spec.month_gtol, ubound=screen_bounds(), ecell=ndtri_cells()[0],
                 eerr=ndtri_cells()[1],
                 delta=GAUSS_DELTA)
    return a


def compiled(spec: Spec) -> bool:
    """Whether the compiled kernel draws this spec's plain Monte Carlo churn."""
    if not _ck.available() or spec.month_t is None:
        return False
    if spec.copula == "independent":
        return True
    return spec.copula == "gaussian" and spec.idio is not None and bool(
        np.all(spec.idio >= MIN_IDIO))


def draw_independent(spec: Spec, g: np.random.Generator, n: int
                     ) -> Iterator[Drawn]:
    """Independent churn: one raw 32-bit draw ``r`` per account-path (``U_i = r / 2^32``).

    Account ``i`` is lost iff ``U_i < q_i``; its decision month comes from the same draw
    (:func:`month_tables`, exact). Yields sub-blocks (first path, flat indices, stop
    months, losses per account or ``None``).
    """
    m = spec.revenue.size
    sub = sub_block(m)
    if compiled(spec):
        yield from _compiled_events(spec, g, n, None)
        return
    assert spec.month_t is not None
    certain = bool(spec.certain.any())
    for p0 in range(0, n, sub):
        k = min(sub, n - p0)
        r = raw_u32(g, k * m).reshape(k, m)
        lost = r < spec.q_u32
        if certain:
            lost |= spec.certain
        idx = np.flatnonzero(lost)
        acc = idx % m
        rl = r.ravel()[idx]
        month = months_of_draws(spec, acc, rl) + 1
        yield p0, idx, stops_of_months(spec, month), loss_counts(lost, idx)


def _compiled_events(spec: Spec, g: np.random.Generator, n: int, z: FloatArray | None
                     ) -> Iterator[Drawn]:
    """The drawers' events from the compiled kernel: the whole block in one call.

    Yields one "sub-block" from path 0 (flat indices ``path * m + account``): the kernel
    runs the sub-blocks itself, with the same draws as one call per sub-block. The event
    buffers are sized for every account-path to be lost, but only the pages the events
    fill are ever touched.
    """
    m = spec.revenue.size
    arrays = ckernel_arrays(spec)
    if z is not None:
        arrays["z"] = z
    ev_idx = np.empty(max(n * m, 1), dtype=np.int64)
    ev_stop = np.empty_like(ev_idx)
    counts = np.zeros(m, dtype=np.int64)
    out = {"n_lost": np.empty(n, dtype=np.int64), "counts": counts,
           "first_stop": np.empty(n, dtype=np.int64), "work": np.empty(2 * spec.horizon),
           "ev_idx": ev_idx, "ev_stop": ev_stop}
    e = _ck.scan(g, n, sub_block(m), arrays, out)
    yield 0, ev_idx[:e].copy(), ev_stop[:e].copy(), counts


def loss_counts(lost: npt.NDArray[np.bool_], idx: IntArray) -> npt.NDArray[np.int32] | None:
    """Losses per account (column) of a paths x accounts indicator matrix, if many.

    With at least one loss in 8 account-paths, a sum of bytes down the columns (about
    3x cheaper than ``bincount`` of the lost accounts); with fewer losses ``None``: the
    caller counts the lost accounts (``idx`` are the flat indices of the losses).
    """
    if 8 * idx.size < lost.size:
        return None
    counts: npt.NDArray[np.int32] = np.add.reduce(lost.view(np.uint8), axis=0,
                                                  dtype=np.int32)
    return counts


def box_muller(g: np.random.Generator, k: int, scale: float = 1.0
               ) -> npt.NDArray[np.float32]:
    """``k`` standard normals (float32) from raw 32-bit draws, by Box and Muller (1958).

    Pairs ``(r1, r2)`` of raw draws give ``R = sqrt(-2 log((r1 + 1) 2^-32))`` and
    ``theta = 2 pi r2 2^-32``; ``R cos(theta)`` and ``R sin(theta)`` are independent
    standard normals (exactly, up to float32 rounding; ``R`` is at most 6.66, so a normal
    beyond that is never drawn: probability 2e-10). Draw order: the ``r1`` of all pairs,
    then their ``r2``; the cosines fill the first half of the output, the sines the rest.
    Several times cheaper than numpy's ziggurat in numpy code (vectorised ``log``,
    ``sqrt``, ``cos`` and ``sin``). ``scale`` multiplies ``R`` (normals of that standard
    deviation, for one multiplication per pair instead of one per normal).
    """
    half = (k + 1) // 2
    r = raw_u32(g, 2 * half)
    rad = r[:half].astype(np.float32)
    rad += np.float32(1.0)
    rad *= np.float32(2.0**-32)
    np.log(rad, out=rad)
    rad *= np.float32(-2.0 * scale * scale)
    np.sqrt(rad, out=rad)
    theta = r[half:].astype(np.float32)
    theta *= np.float32(2.0 * np.pi * 2.0**-32)
    out = np.empty(2 * half, dtype=np.float32)
    np.cos(theta, out=out[:half])
    np.sin(theta, out=out[half:])
    out[:half] *= rad
    out[half:] *= rad
    return out[:k]


#: Bounds margin of the Gaussian kernel's table decisions (far above rounding errors).
GAUSS_DELTA = 1e-9
#: Below this noise coefficient (correlation above 0.999999) the compiled kernel is not
#: used: its bounds margin would no longer cover rounding errors.
MIN_IDIO = 1e-3


@functools.lru_cache(maxsize=1)
def ndtri_table() -> FloatArray:
    """``ndtri(j 2^-16)`` for ``j = 0 .. 2^16`` (``-inf`` and ``inf`` at the ends).

    A raw draw ``r`` in cell ``j = r >> 16`` has ``(r + 1/2) 2^-32`` strictly inside
    ``(j 2^-16, (j + 1) 2^-16)``, so its normal score lies between two table values.
    """
    t: FloatArray = special.ndtri(np.arange(2**16 + 1) * 2.0**-16)
    return t


def draw_gaussian(spec: Spec, g: np.random.Generator, n: int
                  ) -> Iterator[Drawn]:
    """One-factor Gaussian copula: ``X_i = a_i Z + s_i eps_i``, lost iff ``X_i < t_i``.

    Draw order: the factor ``Z`` (one float64 normal per path), then per sub-block one raw
    32-bit draw ``r`` per account-path, path by path, with ``eps = ndtri((r + 1/2)
    2^-32)``. The decision month is ``1 + #{k : x_ik < X_i}`` with ``x_ik = ndtri(c_ik)``
    (:func:`month_tables`): the month of the marginal uniform ``Phi(X_i)``, exact.
    ``eps`` is computed only where a table of ``ndtri`` at the 2^16 cell edges
    (:func:`ndtri_table`) cannot rule the loss out. Yields sub-blocks (first path, flat
    indices, stop months, losses per account or ``None``).
    """
    m = spec.revenue.size
    z = g.standard_normal(n)
    if compiled(spec):
        yield from _compiled_events(spec, g, n, z)
        return
    assert spec.idio is not None
    assert spec.tau is not None
    assert spec.beta is not None
    assert spec.month_x is not None
    etab = ndtri_table()
    screen = bool(np.all(spec.idio >= MIN_IDIO))
    sub = sub_block(m)
    for p0 in range(0, n, sub):
        k = min(sub, n - p0)
        r = raw_u32(g, k * m).reshape(k, m)
        zz = z[p0:p0 + k, None]
        if screen:  # rule out what the table bounds rule out (as the compiled kernel)
            c = spec.tau - spec.beta * zz
            c += GAUSS_DELTA
            maybe = np.flatnonzero(~(etab.take(r >> np.uint32(16)) >= c))
        else:
            maybe = np.arange(k * m)
        rc = r.ravel()[maybe].astype(np.float64)
        rc += 0.5
        rc *= 2.0**-32
        acc = maybe % m
        x = spec.loadings[acc] * zz.ravel()[maybe // m]
        x += spec.idio[acc] * special.ndtri(rc)
        keep = x < spec.thresholds[acc]
        idx = maybe[keep]
        acc = acc[keep]
        month = latent_months(spec, acc, x[keep]) + 1
        counts = np.bincount(acc, minlength=m) if 8 * idx.size >= k * m else None
        yield p0, idx, stops_of_months(spec, month), counts


def draw_latent(spec: Spec, g: np.random.Generator, n: int
                ) -> Iterator[Drawn]:
    """Several factors, the t copula and the double-t model (:mod:`kamsim.model.copulas`).

    ``X_i = sum_k a_ik Z_k + b_i eps_i``, lost iff ``X_i < c_i`` (latent thresholds):

    * ``"multifactor"``: Gaussian factors and noise; ``U_i = Phi(X_i)``;
    * ``"t"``: the same divided by ``sqrt(S / nu)``, one chi-square ``S`` per path;
      ``U_i = t_nu(X_i)``;
    * ``"double_t"``: one Student-t factor and Student-t noise, each scaled to unit
      variance; ``U_i = H_i(X_i)`` by quadrature (:func:`kamsim.model.copulas.double_t_cdf`).

    Draw order: the factors (float32 normals, ``n x K``; double-t: ``n`` float64 Student-t
    draws), then for the t copula ``n`` chi-square draws, then per sub-block the noise
    (float32 normals by :func:`box_muller`, or float64 Student-t draws for the
    double-t), path by path. Yields
    sub-blocks (first path, flat indices, ``log(1 - U_i)``).
    """
    m = spec.revenue.size
    a32 = spec.factor_loadings32
    assert a32 is not None
    k_f = a32.shape[1]
    double_t = spec.copula == "double_t"
    if double_t:
        sf = t_scale(spec.nu)
        z = (g.standard_t(spec.nu, n) * sf).astype(np.float32)[:, None]
    else:
        z = g.standard_normal((n, k_f), dtype=np.float32)
    common = z @ a32.T  # (n, m) float32
    scale = None
    if spec.copula == "t":
        scale = np.sqrt(spec.nu / g.chisquare(spec.nu, n)).astype(np.float32)
    sub = sub_block(m)
    for p0 in range(0, n, sub):
        k = min(sub, n - p0)
        if double_t:
            x = (g.standard_t(spec.nu_idio, (k, m)) * t_scale(spec.nu_idio)).astype(np.float32)
        else:
            x = box_muller(g, k * m).reshape(k, m)
        x *= spec.idio32
        x += common[p0:p0 + k]
        if scale is not None:
            x *= scale[p0:p0 + k, None]
        lost = x < spec.thresholds32
        idx = np.flatnonzero(lost)
        xv = x.ravel()[idx].astype(np.float64)
        if spec.copula == "t":
            u = special.stdtr(spec.nu, xv)
        elif double_t:
            assert spec.factor_loadings is not None
            acc = idx % m
            u = np.empty(idx.size)
            load = spec.factor_loadings[:, 0]
            for a in np.unique(load[acc]):
                sel = load[acc] == a
                u[sel] = double_t_cdf(xv[sel], float(a), spec.nu, spec.nu_idio, tol=1e-9)
        else:
            u = special.ndtr(xv)
        u32 = u.astype(np.float32)
        np.minimum(u32, np.float32(1.0 - 2.0**-24), out=u32)  # float32 never rounds to 1
        np.negative(u32, out=u32)
        stop = stop_months(spec, idx % m, np.log1p(u32, out=u32))
        yield p0, idx, stop, loss_counts(lost, idx)


#: How churn indicators and marginal uniforms are drawn, by dependence structure. A
#: drawer takes (spec, block generator, paths) and yields, sub-block by sub-block of
#: :func:`sub_block` paths, ``(first path, idx, stop, counts)``: the sorted flat indices
#: ``local path * accounts + account`` of the lost account-paths, each loss's stop month
#: (the decision month of its marginal uniform ``U_i = F_i(T_i)``, plus notice), and the
#: losses per account (:func:`loss_counts`; ``None``: count the lost accounts). New
#: copulas register here.
LOSS_DRAWERS: dict[str, Callable[[Spec, np.random.Generator, int],
                                 Iterator[Drawn]]] = {
    "independent": draw_independent,
    "gaussian": draw_gaussian,
    "multifactor": draw_latent,
    "t": draw_latent,
    "double_t": draw_latent,
}


#: Copulas drawn by :func:`draw_latent` (and by ``samplers.sobol_latent_losses``
#: under ``sampler="sobol"``).
LATENT_COPULAS = ("multifactor", "t", "double_t")


def latent_idio(spec: Spec) -> FloatArray:
    """Noise coefficients ``b_i`` of the latent variables, float64 (as ``spec.idio32``)."""
    if spec.copula == "double_t":
        return np.sqrt(1.0 - spec.loadings * spec.loadings)
    assert spec.factor_loadings is not None
    b: FloatArray = np.sqrt(np.maximum(1.0 - np.sum(spec.factor_loadings**2, axis=1), 0.0))
    return b


def sobol_dim(spec: Spec) -> int:
    """Dimensions of the Sobol' points of a path under ``sampler="sobol"``."""
    m = spec.revenue.size
    if spec.copula in LATENT_COPULAS:
        assert spec.factor_loadings is not None
        return _samplers.latent_sobol_dim(spec.copula, m, spec.factor_loadings.shape[1])
    return m + 1 if spec.correlated else m


def split_index(idx: IntArray, n: int, m: int) -> tuple[IntArray, IntArray, IntArray]:
    """(path, account, events per path) of sorted flat indices ``path * m + account``."""
    if idx.size < 16 * n:  # few losses per path: one integer division is cheaper
        path = idx // m
        counts = np.bincount(path, minlength=n)
    else:
        counts = np.diff(np.searchsorted(idx, np.arange(0, n + 1, dtype=np.int64) * m))
        path = np.repeat(np.arange(n, dtype=np.int64), counts)
    account = idx - path * m
    return path, account, counts


def stop_months(spec: Spec, account: IntArray, lsurv: npt.NDArray[Any]) -> IntArray:
    """First month without the revenue (decision month plus notice, at most the horizon).

    ``lsurv`` is each loss's ``log(1 - U)`` (:data:`LOSS_DRAWERS`); the decision month
    is ``ceil(12 log(1 - U) / log(1 - p))``, at least 1.
    """
    t: npt.NDArray[Any]
    if lsurv.dtype == np.float32:
        t = lsurv * spec.month_scale32.take(account)
    else:
        t = lsurv * spec.month_scale.take(account)
    np.ceil(t, out=t)
    stop: IntArray = t.astype(np.int64)
    np.maximum(stop, 1, out=stop)  # decision month
    if spec.notice:
        stop += spec.notice
    np.minimum(stop, spec.horizon, out=stop)  # q guarantees <= horizon; guards rounding
    return stop


def draw_events(spec: Spec, block: int, n: int) -> Events:
    """Draw the churn events of ``n`` paths of block ``block`` (fixed draw order).

    Plain Monte Carlo draws through :data:`LOSS_DRAWERS` (see :func:`draw_independent`
    and :func:`draw_gaussian`: exact decision months of 32-bit draws; the latent
    drawers resolve the marginal uniform to float32 precision, about 1e-7, far below Monte
    Carlo error). The ``"sobol"`` and ``"importance"`` samplers draw the loss indicators
    (float64) in :mod:`kamsim.engine.samplers`. Partial-loss fractions come last.
    """
    g = block_rng(spec, block)
    m = spec.revenue.size
    weight = None
    u: npt.NDArray[Any] | None
    if spec.sampler == "sobol" and spec.copula in LATENT_COPULAS:
        assert spec.factor_loadings is not None
        uq = _samplers.sobol_uniforms(spec.entropy, spec.spawn_key, block * BLOCK_SIZE, n,
                                      spec.qmc_rep_paths, sobol_dim(spec))
        idx, u = _samplers.sobol_latent_losses(uq, spec.thresholds, spec.factor_loadings,
                                               latent_idio(spec), spec.copula, spec.nu,
                                               spec.nu_idio)
        u = np.log1p(-u)
    elif spec.sampler == "sobol":
        dim = m + 1 if spec.correlated else m
        uq = _samplers.sobol_uniforms(spec.entropy, spec.spawn_key, block * BLOCK_SIZE, n,
                                      spec.qmc_rep_paths, dim)
        idx, u = _samplers.sobol_losses(uq, spec.q, spec.thresholds, spec.loadings,
                                        spec.correlated)
        u = np.log1p(-u)
    elif spec.sampler == "importance" and isinstance(spec.plan,
                                                     _samplers.LatentImportancePlan):
        assert spec.factor_loadings is not None
        idx, u, weight = _samplers.latent_importance_draws(
            spec.plan, g, n, spec.q, spec.thresholds, spec.factor_loadings,
            np.sqrt(1.0 - np.sum(spec.factor_loadings**2, axis=1)))
        u = np.log1p(-u)
    elif spec.sampler == "importance":
        assert isinstance(spec.plan, _samplers.ImportancePlan)
        idx, u, weight = _samplers.importance_draws(spec.plan, g, n, spec.q,
                                                    spec.thresholds, spec.loadings)
        u = np.log1p(-u)
    else:
        parts = [(p0 * m + i, v) for p0, i, v, _ in LOSS_DRAWERS[spec.copula](spec, g, n)]
        idx = np.concatenate([i for i, _ in parts])
        stop = np.concatenate([v for _, v in parts])
        u = None
    path, account, _ = split_index(idx, n, m)
    if u is not None:
        stop = stop_months(spec, account, u)
    k = path.size
    frac: FloatArray
    if k and np.any(spec.partial > 0):
        frac = np.ones(k)
        is_partial = g.random(k) < spec.partial[account]
        n_part = int(is_partial.sum())
        if n_part:
            frac[is_partial] = g.beta(spec.beta_a, spec.beta_b, n_part)
    else:  # full losses only: a read-only view, no allocation
        frac = np.broadcast_to(np.float64(1.0), (k,))
    return Events(path, account, stop, frac, weight)


def scan_block(spec: Spec, block: int, n: int
               ) -> tuple[FloatArray, FloatArray, IntArray, IntArray, IntArray]:
    """Plain Monte Carlo with full losses, sub-block by sub-block (cache-sized arrays).

    The same draws and events as :func:`draw_events`, reduced as they come: annual
    revenue and gross profit lost from each stop month per path (months x paths: ``H x
    n``), losses per path, losses per account and each path's first stop month (``H + 1``
    if none). One call of the compiled kernel when it is available (:func:`compiled`).
    """
    g = block_rng(spec, block)
    m = spec.revenue.size
    h = spec.horizon
    d_rev12 = np.empty((h, n))
    d_gp12 = np.empty((h, n))
    n_lost = np.empty(n, dtype=np.int64)
    counts = np.zeros(m, dtype=np.int64)
    first = np.full(n, h + 1, dtype=np.int64)
    sub = sub_block(m)
    if compiled(spec):
        arrays = ckernel_arrays(spec)
        if spec.copula == "gaussian":
            arrays["z"] = g.standard_normal(n)
        _ck.scan(g, n, sub, arrays, {
            "d_rev12": d_rev12, "d_gp12": d_gp12, "n_lost": n_lost, "counts": counts,
            "first_stop": first, "work": np.empty(2 * h)})
        return d_rev12, d_gp12, n_lost, counts, first
    for p0, idx, stop, acc_counts in LOSS_DRAWERS[spec.copula](spec, g, n):
        k = min(sub, n - p0)
        path, account, per_path = split_index(idx, k, m)
        flat = stop - 1
        flat *= k
        flat += path
        d_rev12[:, p0:p0 + k] = np.bincount(flat, spec.revenue.take(account),
                                            minlength=k * h).reshape(h, k)
        d_gp12[:, p0:p0 + k] = np.bincount(flat, spec.gross_profit.take(account),
                                           minlength=k * h).reshape(h, k)
        n_lost[p0:p0 + k] = per_path
        counts += (np.bincount(account, minlength=m) if acc_counts is None
                   else acc_counts)
        if spec.repl is not None and idx.size:
            has = per_path > 0
            starts = np.cumsum(per_path) - per_path
            first[p0:p0 + k][has] = np.minimum.reduceat(stop, starts[has])
    return d_rev12, d_gp12, n_lost, counts, first


#: :func:`reduce_arrays` of recent specs (id -> (spec, arrays)): built once per spec, not
#: once per task.
_REDUCE_ARRAYS: dict[int, tuple[Spec, dict[str, Any]]] = {}


def reduce_arrays(spec: Spec) -> dict[str, Any]:
    """What :func:`reduce_compiled` passes on every block of a spec (addresses, once).

    The result keeps its arrays alive (``"_keep"``); callers copy it before adding to it.
    """
    hit = _REDUCE_ARRAYS.get(id(spec))
    if hit is not None and hit[0] is spec:
        return hit[1]
    h = spec.horizon
    arrays = ckernel_arrays(spec)
    arrays.update(
        months_left=(h - np.arange(h, dtype=np.float64)) / 12.0,
        base_rev_m=spec.revenue.sum() / 12.0, base_gp_m=spec.gross_profit.sum() / 12.0,
        below_thr=spec.fixed_monthly - 1e-9 * abs(spec.fixed_monthly),
        rev_top=spec.rev_top, gp_top=spec.gp_top, gp_bottom=spec.gp_bottom)
    out = _ck.pointers(arrays)
    if len(_REDUCE_ARRAYS) > 16:
        _REDUCE_ARRAYS.clear()
    _REDUCE_ARRAYS[id(spec)] = (spec, out)
    return out


def reduce_compiled(spec: Spec, block: int, n: int, rev_hist: HistCounter,
                    gp_hist: HistCounter) -> tuple[dict[str, Any], dict[str, Any]]:
    """One block (``n`` paths) of :func:`reduce_compiled_task`: (columns, its sums)."""
    cols, sums = reduce_compiled_task(spec, block, 1, block * BLOCK_SIZE + n, rev_hist,
                                      gp_hist)
    return cols, sums[0]


#: The per-path columns of the fused compiled path (:func:`reduce_compiled_task`), with
#: their types: what a run in this process can have written in place (``run_blocks(out=)``).
FUSED_COLUMNS: dict[str, type] = {
    "run_rate_lost": np.float64, "run_rate_gross_profit_lost": np.float64,
    "revenue_lost": np.float64, "gross_profit_lost": np.float64,
    "accounts_lost": np.int64, "first_month_below_break_even": np.int64}


def fused(spec: Spec) -> bool:
    """Whether :func:`run_blocks` runs the spec's blocks in one kernel call per task.

    Plain Monte Carlo, full losses, no kept paths, and the compiled kernel, for the
    replacement stage too if there is one (:func:`replacement_compiled`); the per-path
    outputs are then :func:`fused_columns`.
    """
    return (spec.sampler == "mc" and not bool(np.any(spec.partial > 0)) and compiled(spec)
            and not spec.keep_paths
            and (spec.repl is None or replacement_compiled(spec)))


def fused_columns(spec: Spec) -> dict[str, type]:
    """The per-path columns (and types) of a :func:`fused` run of the spec."""
    if spec.repl is None:
        return FUSED_COLUMNS
    return {**REPLACE_FIELD_COLUMNS, "accounts_lost": np.int64}


def _task_blocks(spec: Spec, first_block: int, n_blocks: int, n_total: int
                 ) -> tuple[list[np.random.Generator], IntArray, dict[str, Any]]:
    """A task's blocks for ``kamsim_scan_blocks``: (generators, paths, the kernel's arrays).

    Each block gets its own generator, from which a Gaussian model's factor values are
    drawn first (in block order, into ``arrays["zs"]``).
    """
    ns: list[int] = []
    gens = []
    zs = []
    for b in range(first_block, first_block + n_blocks):
        n = min(BLOCK_SIZE, n_total - b * BLOCK_SIZE)
        if n <= 0:
            break
        g = block_rng(spec, b)
        if spec.copula == "gaussian":
            zs.append(g.standard_normal(n))
        gens.append(g)
        ns.append(n)
    arrays = dict(reduce_arrays(spec))
    if zs:
        arrays["zs"] = np.concatenate(zs)
    return gens, np.array(ns, dtype=np.int64), arrays


def reduce_compiled_task(spec: Spec, first_block: int, n_blocks: int, n_total: int,
                         rev_hist: HistCounter, gp_hist: HistCounter,
                         out: dict[str, npt.NDArray[Any]] | None = None
                         ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """:func:`reduce_compiled` on every block of a task in one call of the kernel.

    The same results, bit for bit: each block draws from its own generator (its factor
    values first), in block order. Returns (per-path columns of the task, per-block sums).
    The columns are written into ``out`` (the :data:`FUSED_COLUMNS` of the task's rows)
    if given.
    """
    h = spec.horizon
    m = spec.revenue.size
    gens, ns, arrays = _task_blocks(spec, first_block, n_blocks, n_total)
    total = int(ns.sum())
    cols: dict[str, npt.NDArray[Any]] = (
        {k: np.empty(total, dtype=t) for k, t in FUSED_COLUMNS.items()} if out is None
        else dict(out))
    assert all(cols[k].shape == (total,) and cols[k].dtype == t
               and cols[k].flags.c_contiguous for k, t in FUSED_COLUMNS.items())
    counts = np.zeros(m, dtype=np.int64)
    rev_sum = np.empty((ns.size, h))
    gp_sum = np.empty((ns.size, h))
    _ck.scan_blocks(gens, ns, sub_block(m), arrays, {
        "n_lost": cols["accounts_lost"], "counts": counts,
        "first_stop": np.empty(total, dtype=np.int64), "work": np.empty(2 * h),
        "rr_lost": cols["run_rate_lost"], "rr_gp_lost": cols["run_rate_gross_profit_lost"],
        "rev_lost": cols["revenue_lost"], "gp_lost": cols["gross_profit_lost"],
        "first_below": cols["first_month_below_break_even"],
        "rev_hist": rev_hist.small(total), "gp_hist": gp_hist.small(total),
        "rev_sum": rev_sum, "gp_sum": gp_sum})
    cols["lost_count"] = counts
    return cols, [{"rev_sum": rev_sum[i], "gp_sum": gp_sum[i]} for i in range(ns.size)]


def sum_paths(x: npt.NDArray[Any]) -> FloatArray:
    """Sums over paths (the last axis) of months x paths, path by path in order.

    Not ``x.sum(axis=1)``: numpy's pairwise summation would differ from the compiled
    kernel's running sums in the last bits.
    """
    out: FloatArray = np.cumsum(x, axis=1)[:, -1] if x.shape[1] else np.zeros(x.shape[0])
    return out


def with_replacement(spec: Spec, block: int, first: IntArray, d_rev: npt.NDArray[Any],
                      d_gp: npt.NDArray[Any]) -> dict[str, Any]:
    """Net monthly paths and per-path recovery/cash outcomes of one block.

    ``first`` is each path's first stop month (``H + 1`` without a loss).
    """
    rp = spec.repl
    assert rp is not None
    h = d_rev.shape[1]
    g = np.random.default_rng(np.random.SeedSequence(
        entropy=spec.entropy, spawn_key=(*spec.spawn_key, block, 1)))
    lost_m = np.cumsum(d_rev, axis=1)
    out = replace_lost(rp, lost_m * 12.0, g, opportunities=False)
    base_rev_m = spec.revenue.sum() / 12.0
    base_gp_m = spec.gross_profit.sum() / 12.0
    gf = (1.0 + rp.growth) ** (np.arange(1, h + 1) / 12.0)
    repl_m = out.run_rate / 12.0
    rev_path = (base_rev_m - lost_m) * gf + repl_m
    gp_path = (base_gp_m - np.cumsum(d_gp, axis=1)) * gf + repl_m * rp.margin
    months, recovered = recovery_months(rev_path, base_rev_m, first)
    acq = out.wins * rp.acquisition_cost
    cash = spec.opening_cash + np.cumsum(gp_path - spec.fixed_monthly - acq, axis=1)
    min_cash = np.minimum(cash.min(axis=1), spec.opening_cash)
    return {
        "rev_path": rev_path, "gp_path": gp_path, "cash": cash,
        "repl_rr": out.run_rate,
        "first_loss_month": np.where(first <= h, first, 0),
        "months_to_recover": months, "recovered": recovered,
        "revenue_gap": sum_paths(np.maximum(base_rev_m - rev_path, 0.0)),
        "gross_profit_gap": sum_paths(np.maximum(base_gp_m - gp_path, 0.0)),
        "min_cash": min_cash, "out_of_cash": min_cash < 0,
        "replacement_wins": out.wins.sum(axis=1), "acquisition_costs": sum_paths(acq),
    }


def replacement_compiled(spec: Spec) -> bool:
    """Whether the compiled kernel runs this spec's replacement stage (``kamsim_replace``).

    Not for lognormal sizes with a spread (``exp`` of numpy and of C may differ in the last
    bit) nor for importance sampling (weighted histograms): those stay on numpy.
    """
    rp = spec.repl
    return (_ck.available() and rp is not None and spec.sampler != "importance"
            and compiled_sizes(rp))


#: The per-spec fields of ``kamsim_replace`` (built once per spec; blocks copy them).
_REPLACE_STATIC: dict[int, tuple[Spec, Any]] = {}


def replace_static(spec: Spec) -> Any:
    """The fields of ``repl_args`` that every block of ``spec`` shares, as a struct."""
    hit = _REPLACE_STATIC.get(id(spec))
    if hit is not None and hit[0] is spec:
        return hit[1]
    rp = spec.repl
    assert rp is not None
    h = spec.horizon
    base_rev_m = spec.revenue.sum() / 12.0
    base_gp_m = spec.gross_profit.sum() / 12.0
    args: dict[str, Any] = {k: (None if t == "p" else 0) for k, t in _ck.REPLACE_FIELDS}
    args.update(kernel_params(rp, h))
    args.update({
        "gf": (1.0 + rp.growth) ** (np.arange(1, h + 1) / 12.0),
        "base_rev_m": base_rev_m, "base_gp_m": base_gp_m,
        "rev_below": base_rev_m * (1 - 1e-9), "margin": rp.margin,
        "acq_cost": rp.acquisition_cost, "opening": spec.opening_cash,
        "fixed_m": spec.fixed_monthly,
        "be_thr": spec.fixed_monthly - 1e-9 * abs(spec.fixed_monthly),
        "rev_iw": HIST_BINS / (spec.rev_top - 0.0),
        "gp_iw": HIST_BINS / (spec.gp_top - spec.gp_bottom), "gp_bottom": spec.gp_bottom,
        "cash_iw": HIST_BINS / (spec.cash_top - spec.cash_bottom),
        "cash_bottom": spec.cash_bottom,
        "months_left": (h - np.arange(h, dtype=np.float64)) / 12.0})
    static = _ck.replace_struct(args)
    if len(_REPLACE_STATIC) > 16:
        _REPLACE_STATIC.clear()
    _REPLACE_STATIC[id(spec)] = (spec, static)
    return static


#: The per-path columns of the compiled replacement stage (:func:`replace_compiled`,
#: :func:`scan_replace_task`), with their types.
REPLACE_FIELD_COLUMNS: dict[str, type] = {
    **{k: np.float64 for k in (
        "run_rate_lost", "run_rate_gross_profit_lost", "revenue_lost", "gross_profit_lost",
        "revenue_gap", "gross_profit_gap", "min_cash", "acquisition_costs")},
    **{k: np.int64 for k in (
        "first_loss_month", "months_to_recover", "replacement_wins",
        "first_month_below_break_even")},
    **{k: np.bool_ for k in ("recovered", "out_of_cash")}}


def replacement_keys(spec: Spec, block: int, n: int) -> npt.NDArray[np.uint64]:
    """The replacement stage's path keys of block ``block`` (its ``(block, 1)`` stream)."""
    g = np.random.default_rng(np.random.SeedSequence(
        entropy=spec.entropy, spawn_key=(*spec.spawn_key, block, 1)))
    keys = g.bit_generator.random_raw(n)
    assert isinstance(keys, np.ndarray)
    return keys


def _replace_fields(spec: Spec, keys: npt.NDArray[np.uint64],
                    hists: tuple[HistCounter, HistCounter, HistCounter], n_blocks: int = 1,
                    out: dict[str, npt.NDArray[Any]] | None = None
                    ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The fields of ``kamsim_replace`` for paths with these ``keys``: (columns, sums, fields).

    ``n_blocks`` blocks' monthly sums (``n_blocks x h``; the kernel adds each block's in
    its row); the columns are written into ``out`` (:data:`REPLACE_FIELD_COLUMNS`) if
    given.
    """
    rp = spec.repl
    assert rp is not None
    h = spec.horizon
    n = keys.size
    cols: dict[str, Any] = (
        {k: np.empty(n, dtype=t) for k, t in REPLACE_FIELD_COLUMNS.items()} if out is None
        else {k: out[k] for k in REPLACE_FIELD_COLUMNS})
    sums = {k: np.zeros((n_blocks, h)) for k in ("rev_sum", "gp_sum", "cash_sum", "repl_sum")}
    if spec.keep_paths:
        cols["paths"] = np.empty((n, h))
        cols["cash_paths"] = np.empty((n, h))
    rev_hist, gp_hist, cash_hist = hists
    n_max = min(n, BLOCK_SIZE) if n_blocks > 1 else n  # the bins of one block at a time
    fields = {
        "n": n, "keys": keys,
        "rev_hist": rev_hist.small(n), "gp_hist": gp_hist.small(n),
        "cash_hist": cash_hist.small(n), **sums,
        "first_loss": cols["first_loss_month"], "months": cols["months_to_recover"],
        "wins_total": cols["replacement_wins"],
        "first_below": cols["first_month_below_break_even"],
        "recovered": cols["recovered"].view(np.uint8),
        "out_of_cash": cols["out_of_cash"].view(np.uint8),
        "rev_gap": cols["revenue_gap"], "gp_gap": cols["gross_profit_gap"],
        "min_cash": cols["min_cash"], "acq_total": cols["acquisition_costs"],
        "rr_lost": cols["run_rate_lost"], "rr_gp_lost": cols["run_rate_gross_profit_lost"],
        "rev_lost": cols["revenue_lost"], "gp_lost": cols["gross_profit_lost"],
        "rev_paths": cols.get("paths"), "cash_paths": cols.get("cash_paths"),
        "work": np.empty(10 * h + 8), "bins": np.empty(3 * h * n_max, dtype=np.uint16)}
    return cols, sums, fields


def replace_compiled(spec: Spec, block: int, first: IntArray, d_rev12: FloatArray,
                     d_gp12: FloatArray, hists: tuple[HistCounter, HistCounter, HistCounter]
                     ) -> tuple[dict[str, Any], dict[str, Any]]:
    """:func:`with_replacement` and the block's reductions in :func:`run_blocks`, in C.

    ``d_rev12``, ``d_gp12`` are months x paths. Returns the per-path columns (the loss
    totals, the replacement columns, ``first_month_below_break_even``, and ``paths`` /
    ``cash_paths`` when kept) and the block's monthly sums. Bitwise the same as the numpy
    code (tested).
    """
    cols, sums, fields = _replace_fields(
        spec, replacement_keys(spec, block, d_rev12.shape[1]), hists)
    fields.update(d_rev12=d_rev12, d_gp12=d_gp12, first_stop=first)
    static = replace_static(spec)  # held: its arrays are the struct's (not only the cache's)
    _ck.replace_block(static, fields)
    del static
    return cols, {k: v[0] for k, v in sums.items()}


def scan_replace(spec: Spec, block: int, n: int,
                 hists: tuple[HistCounter, HistCounter, HistCounter]
                 ) -> tuple[IntArray, IntArray, tuple[dict[str, Any], dict[str, Any]]]:
    """:func:`scan_block` and :func:`replace_compiled` of a block in one kernel call.

    Each path's replacement stage runs as soon as its losses are drawn (no months x paths
    arrays in between). Returns (losses per path, losses per account, (columns, sums)).
    """
    g = block_rng(spec, block)
    m = spec.revenue.size
    h = spec.horizon
    n_lost = np.empty(n, dtype=np.int64)
    counts = np.zeros(m, dtype=np.int64)
    first = np.full(n, h + 1, dtype=np.int64)
    cols, sums, fields = _replace_fields(spec, replacement_keys(spec, block, n), hists)
    static = replace_static(spec)  # held: its arrays are the struct's (not only the cache's)
    repl = _ck.block_struct(static, fields)
    arrays = ckernel_arrays(spec)
    if spec.copula == "gaussian":
        arrays["z"] = g.standard_normal(n)
    _ck.scan(g, n, sub_block(m), arrays, {
        "n_lost": n_lost, "counts": counts, "first_stop": first,
        "work": np.empty(2 * h), "repl": repl})
    del static
    return n_lost, counts, (cols, {k: v[0] for k, v in sums.items()})


def scan_replace_task(spec: Spec, first_block: int, n_blocks: int, n_total: int,
                      hists: tuple[HistCounter, HistCounter, HistCounter],
                      out: dict[str, npt.NDArray[Any]] | None = None
                      ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """:func:`scan_replace` on every block of a task in one kernel call.

    The same results, bit for bit: each block draws its churn from its own generator
    (factor values first) and its replacement keys from its own stream, in block order.
    Returns (per-path columns, per-block sums, in order); the columns are written into
    ``out`` (:func:`fused_columns`) if given.
    """
    m = spec.revenue.size
    gens, ns, arrays = _task_blocks(spec, first_block, n_blocks, n_total)
    total = int(ns.sum())
    keys = np.concatenate([replacement_keys(spec, first_block + i, int(n))
                           for i, n in enumerate(ns)])
    cols, sums, fields = _replace_fields(spec, keys, hists, ns.size, out)
    accounts = (np.empty(total, dtype=np.int64) if out is None else out["accounts_lost"])
    counts = np.zeros(m, dtype=np.int64)
    static = replace_static(spec)  # held: its arrays are the struct's (not only the cache's)
    repl = _ck.block_struct(static, fields)
    _ck.scan_blocks(gens, ns, sub_block(m), arrays, {
        "n_lost": accounts, "counts": counts,
        "first_stop": np.empty(total, dtype=np.int64), "work": np.empty(2 * spec.horizon),
        "repl": repl})
    del static
    cols.update(accounts_lost=accounts, lost_count=counts)
    return cols, [{k: v[i] for k, v in sums.items()} for i in range(ns.size)]


def hist_index(values: FloatArray, top: float, bottom: float = 0.0) -> IntArray:
    """Flat bin of each value of ``values`` (paths x months): ``month * HIST_BINS + bin``."""
    h = values.shape[1]
    idx = ((values - bottom) * (HIST_BINS / (top - bottom))).astype(np.int64)
    np.clip(idx, 0, HIST_BINS - 1, out=idx)
    idx += (np.arange(h, dtype=np.int64) * HIST_BINS)[None, :]
    return idx.ravel()


def cumsum_months(d: FloatArray) -> FloatArray:
    """Cumulative sums over months of ``d`` (months x paths), one row at a time.

    The same additions in the same order as ``np.cumsum(d, axis=0)``, but along whole
    rows (numpy accumulates a non-last axis column by column, about 3x slower).
    """
    out = np.empty_like(d)
    if d.shape[0]:
        out[0] = d[0]
    for t in range(1, d.shape[0]):
        np.add(out[t - 1], d[t], out=out[t])
    return out


def hist_index_months(values: FloatArray, top: float, bottom: float = 0.0) -> IntArray:
    """:func:`hist_index` of ``values`` laid out months x paths (the same flat bins)."""
    h = values.shape[0]
    idx = ((values - bottom) * (HIST_BINS / (top - bottom))).astype(np.int64)
    np.clip(idx, 0, HIST_BINS - 1, out=idx)
    idx += (np.arange(h, dtype=np.int64) * HIST_BINS)[:, None]
    return idx.ravel()


class HistCounter:
    """Per-month histogram counts of many blocks (integers: exact in any order).

    Bin indices are pooled and counted with one ``bincount`` per ``months x HIST_BINS``
    values or so, so that small blocks do not each pay for a full-size histogram. The
    compiled kernel adds to int32 counts instead (:meth:`small`). Nothing is allocated
    before it is needed.
    """

    def __init__(self, h: int) -> None:
        self.h = h
        self.counts: IntArray | None = None
        self.pending: list[IntArray] = []
        self.size = 0
        self._small: npt.NDArray[np.int32] | None = None
        self._small_paths = 0

    def small(self, paths: int) -> npt.NDArray[np.int32]:
        """int32 counts the compiled kernel adds ``paths`` paths to (half the cache).

        Folded into the int64 counts before they could overflow and by :meth:`flush`.
        """
        if self._small is None:
            self._small = np.zeros(self.h * HIST_BINS, dtype=np.int32)
        elif self._small_paths + paths >= 2**31 - 1:
            self._fold()
            assert self._small is not None
        self._small_paths += paths
        return self._small

    def _total(self) -> IntArray:
        if self.counts is None:
            self.counts = np.zeros(self.h * HIST_BINS, dtype=np.int64)
        return self.counts

    def _fold(self) -> None:
        if self._small is not None and self._small_paths:
            self._total()[:] += self._small
            self._small.fill(0)
            self._small_paths = 0

    def add(self, flat: IntArray) -> None:
        self.pending.append(flat)
        self.size += flat.size
        if self.size >= self.h * HIST_BINS:
            self.flush()

    def flush(self) -> None:
        self._fold()
        if self.pending:
            self._total()[:] += np.bincount(np.concatenate(self.pending),
                                            minlength=self.h * HIST_BINS)
            self.pending, self.size = [], 0

    def result(self) -> IntArray:
        self.flush()
        return self._total().reshape(self.h, HIST_BINS)

    def result32(self) -> npt.NDArray[np.int32]:
        """:meth:`result` as int32, for counts of fewer than 2^31 paths (to hand back).

        Without a copy when only the compiled kernel counted.
        """
        if self.counts is None and not self.pending and self._small is not None:
            return self._small.reshape(self.h, HIST_BINS)
        return self.result().astype(np.int32)


def hist(values: FloatArray, top: float, bottom: float = 0.0,
          weights: FloatArray | None = None) -> npt.NDArray[Any]:
    """Histogram per column (month) of ``values`` (paths x months) on a fixed grid.

    Counts (int) without ``weights``; with per-path ``weights``, summed weights (float).
    """
    h = values.shape[1]
    idx = np.clip(((values - bottom) * (HIST_BINS / (top - bottom))).astype(np.int64), 0,
                  HIST_BINS - 1)
    flat = idx + (np.arange(h, dtype=np.int64) * HIST_BINS)[None, :]
    if weights is None:
        return np.bincount(flat.ravel(), minlength=h * HIST_BINS).reshape(h, HIST_BINS)
    wf = np.broadcast_to(weights[:, None], values.shape).ravel()
    return np.bincount(flat.ravel(), wf, minlength=h * HIST_BINS).reshape(h, HIST_BINS)


#: Sums that are floating point: kept per block and added in block order (see
#: :func:`fold_blocks`), so that they do not depend on how blocks are grouped into tasks.
FLOAT_SUMS = ("lost_rev", "lost_weight", "weight_sum", "rev_sum", "gp_sum", "cash_sum",
              "repl_sum")
#: Sums that are integers (exact whatever the order): added within a task.
INT_SUMS = ("lost_count", "cash_hist")


def run_blocks(spec: Spec, first_block: int, n_blocks: int, n_total: int,
               out: dict[str, npt.NDArray[Any]] | None = None) -> dict[str, Any]:
    """Simulate ``n_blocks`` blocks from ``first_block`` on; return their outputs.

    Per-path columns are concatenated; integer sums (counts, unweighted histograms) are
    added; floating-point sums are returned per block (``"blocks"``: one dict per block,
    in order), for :func:`fold_blocks` to add in block order.

    ``out`` (runs in this process, where :func:`fused`): the run's columns
    (:func:`fused_columns`) at this task's rows, written in place by the kernel instead
    of returned (``"rows"`` says how many there are).
    """
    h = spec.horizon
    m = spec.revenue.size
    outs: dict[str, list[Any]] = {k: [] for k in (
        "run_rate_lost", "revenue_lost", "gross_profit_lost", "run_rate_gross_profit_lost",
        "accounts_lost", "partial_losses", "first_month_below_break_even", "paths",
        "cash_paths", "weights", *REPLACEMENT_COLUMNS)}
    weighted = spec.sampler == "importance"
    lost_count = np.zeros(m, dtype=np.int64)
    rev_hist = HistCounter(h)
    gp_hist = HistCounter(h)
    cash_hist = HistCounter(h)
    blocks: list[dict[str, Any]] = []
    base_rev_m = spec.revenue.sum() / 12.0
    base_gp_m = spec.gross_profit.sum() / 12.0
    months_left = (h - np.arange(h, dtype=np.float64)) / 12.0  # years lost from month s
    month_no = np.arange(1, h + 1, dtype=np.int64)[:, None]
    has_partial = bool(np.any(spec.partial > 0))
    fast = spec.sampler == "mc" and not has_partial  # events never leave the sub-blocks
    # the compiled kernel does the whole block, histograms and sums included
    in_place = 0  # rows written into ``out``
    one_call = fused(spec)
    if one_call:  # every block of the task in one call
        cols, blocks = (
            reduce_compiled_task(spec, first_block, n_blocks, n_total, rev_hist, gp_hist,
                                 out) if spec.repl is None
            else scan_replace_task(spec, first_block, n_blocks, n_total,
                                   (rev_hist, gp_hist, cash_hist), out))
        lost_count += cols.pop("lost_count")
        if out is not None:
            in_place = len(cols["run_rate_lost"])
        else:
            for k, v in cols.items():
                outs[k].append(v)
    else:
        assert out is None, "out= is for fused runs"
    for b in range(first_block, first_block + (0 if one_call else n_blocks)):
        n = min(BLOCK_SIZE, n_total - b * BLOCK_SIZE)
        if n <= 0:
            break
        part: dict[str, Any] = {}
        pw: FloatArray | None = None
        done: tuple[dict[str, Any], dict[str, Any]] | None = None  # the block, in C
        if fast and compiled(spec) and replacement_compiled(spec):
            n_lost, counts, done = scan_replace(spec, b, n, (rev_hist, gp_hist, cash_hist))
        elif fast:
            d_rev12, d_gp12, n_lost, counts, first_stop = scan_block(spec, b, n)
        else:
            ev = draw_events(spec, b, n)
            pw = ev.weight
            r_loss = spec.revenue[ev.account]
            g_loss = spec.gross_profit[ev.account]
            if has_partial:
                r_loss *= ev.frac
                g_loss *= ev.frac
            # annual run-rate lost from each stop month (1-based) on, per path: (h, n)
            flat = (ev.stop - 1) * n + ev.path
            d_rev12 = np.asarray(np.bincount(flat, r_loss, minlength=n * h),
                                 dtype=np.float64).reshape(h, n)
            d_gp12 = np.asarray(np.bincount(flat, g_loss, minlength=n * h),
                                dtype=np.float64).reshape(h, n)
            n_lost = np.bincount(ev.path, minlength=n).astype(np.int64)
            outs["partial_losses"].append(
                np.bincount(ev.path, (ev.frac < 1.0).astype(np.float64), minlength=n)
                .astype(np.int64) if has_partial else np.zeros(n, dtype=np.int64))
            counts = np.bincount(ev.account, minlength=m)
            first_stop = np.full(n, h + 1, dtype=np.int64)
            np.minimum.at(first_stop, ev.path, ev.stop)
            if pw is None:
                if has_partial:
                    part["lost_rev"] = np.bincount(ev.account, r_loss, minlength=m)
            else:
                outs["weights"].append(pw)
                part["weight_sum"] = np.array(pw.sum())
                part["lost_weight"] = np.bincount(ev.account, pw[ev.path], minlength=m)
                part["lost_rev"] = np.bincount(ev.account, r_loss * pw[ev.path],
                                               minlength=m)
        if done is None and pw is None and replacement_compiled(spec):  # the rest in C
            done = replace_compiled(spec, b, first_stop, d_rev12, d_gp12,
                                    (rev_hist, gp_hist, cash_hist))
        if done is not None:
            for k, v in done[0].items():
                outs[k].append(v)
            outs["accounts_lost"].append(n_lost)
            lost_count += counts
            part.update(done[1])
            blocks.append(part)
            continue
        # months x paths: sums over months and cumulative sums run across paths.
        # Elementwise, not BLAS: reproducible whatever the thread count.
        outs["run_rate_lost"].append(d_rev12.sum(axis=0))
        outs["run_rate_gross_profit_lost"].append(d_gp12.sum(axis=0))
        outs["revenue_lost"].append((d_rev12 * months_left[:, None]).sum(axis=0))
        outs["gross_profit_lost"].append((d_gp12 * months_left[:, None]).sum(axis=0))
        outs["accounts_lost"].append(n_lost)
        lost_count += counts
        d_rev = d_rev12 * (1.0 / 12.0)  # a multiplication, as the compiled kernel
        d_gp = d_gp12 * (1.0 / 12.0)
        rev_path = base_rev_m - cumsum_months(d_rev)  # months x paths
        gp_path = base_gp_m - cumsum_months(d_gp)
        if spec.repl is not None:
            extra = with_replacement(spec, b, first_stop, np.ascontiguousarray(d_rev.T),
                                     np.ascontiguousarray(d_gp.T))
            rev_path, gp_path = extra["rev_path"].T, extra["gp_path"].T
            for k in REPLACEMENT_COLUMNS:
                outs[k].append(extra[k])
            part["cash_sum"] = extra["cash"].sum(axis=0)
            part["repl_sum"] = extra["repl_rr"].sum(axis=0)
            cash_hist.add(hist_index(extra["cash"], spec.cash_top, spec.cash_bottom))
            if spec.keep_paths:
                outs["cash_paths"].append(extra["cash"])
        below = gp_path < spec.fixed_monthly - 1e-9 * abs(spec.fixed_monthly)
        # first month below (1-based; 0 if never): a minimum along rows, not an argmax
        first = np.where(below, month_no, h + 1).min(axis=0)
        first[first > h] = 0
        outs["first_month_below_break_even"].append(first)
        if weighted:  # summed weights: floating point, so per block
            part["rev_hist"] = hist(rev_path.T, spec.rev_top, weights=pw)
            part["gp_hist"] = hist(gp_path.T, spec.gp_top, spec.gp_bottom, weights=pw)
        else:
            rev_hist.add(hist_index_months(rev_path, spec.rev_top))
            gp_hist.add(hist_index_months(gp_path, spec.gp_top, spec.gp_bottom))
        if pw is None:
            part["rev_sum"] = sum_paths(rev_path)
            part["gp_sum"] = sum_paths(gp_path)
        else:  # weighted losses below base (unnormalised IS estimate of the mean gap)
            part["rev_sum"] = ((base_rev_m - rev_path) * pw[None, :]).sum(axis=1)
            part["gp_sum"] = ((base_gp_m - gp_path) * pw[None, :]).sum(axis=1)
        if spec.keep_paths:
            outs["paths"].append(np.ascontiguousarray(rev_path.T))
        blocks.append(part)
    # what a task hands back is what a dask worker sends over the network: no empty
    # columns, integers as the smallest unsigned type that holds them (at most m losses
    # per path, first months at most h; fold_blocks widens them to int64 again), no
    # column of zeros without partial churn, and the per-block sums as one (blocks x
    # ...) array per key, not two small arrays per block
    result: dict[str, Any] = {k: v[0] if len(v) == 1 else np.concatenate(v)
                              for k, v in outs.items() if v}
    for k, bound in (("accounts_lost", m), ("partial_losses", m),
                     ("first_month_below_break_even", h)):
        if k in result:
            result[k] = result[k].astype(np.min_scalar_type(bound))
    if not has_partial:
        result.pop("partial_losses", None)
    if blocks and all(blk.keys() == blocks[0].keys() for blk in blocks):
        result.update(blocks={k: np.stack([blk[k] for blk in blocks]) for k in blocks[0]})
    else:
        result.update(blocks=blocks)
    result.update(lost_count=lost_count)
    if in_place:
        result.update(rows=in_place)
    # histogram counts (months x bins) as (first bin, counts of the bins from the first
    # to the last that any path reached), in the smallest unsigned type that holds them
    hists: dict[str, npt.NDArray[Any]] = (
        {"cash_hist": cash_hist.result()} if spec.repl is not None else {})
    if not weighted:  # weighted: summed weights, per block (in "blocks")
        hists.update(rev_hist=rev_hist.result32(), gp_hist=gp_hist.result32())
    for k, c in hists.items():
        used = np.flatnonzero(c.any(axis=0))
        lo, hi = (int(used[0]), int(used[-1]) + 1) if used.size else (0, 0)
        result[k] = (lo, c[:, lo:hi].astype(np.min_scalar_type(int(c.max()))))
    return result


def fold_blocks(parts: Iterable[dict[str, Any]], shapes: dict[str, tuple[int, ...]],
                n_paths: int, small_pages: bool = False,
                columns: dict[str, npt.NDArray[Any]] | None = None) -> dict[str, Any]:
    """Add the outputs of tasks (in block order) into run totals, in a fixed order.

    Integer sums are added as they come (exact). Floating-point sums are added one block
    at a time, in block order, starting from zeros of ``shapes[key]``: the same additions
    in the same order whatever the chunk size or executor, so the totals are bitwise
    identical. A key a block does not report counts as zero for it (nothing is added).
    Per-path columns are copied into arrays of ``n_paths`` rows as they come. Consumes
    ``parts`` as a stream (bounded memory).

    ``small_pages`` (Linux; for outputs computed in other processes): the per-path
    columns are kept in 4 KiB pages, not the 2 MiB transparent huge pages numpy asks
    for. Their memory is new and written once, while every core may be running a
    worker; a virtual machine that hands free 2 MiB blocks back to its host (free page
    reporting) backs a huge page only as it is zeroed, about 0.45 GB/s on the 2-core
    test machine against 2.1 GB/s for small pages: 1 s of the client's CPU for the
    480 MB of columns of 10^7 paths. Not for threads of this process: their page
    faults would wait on each other's.

    ``columns``: per-path columns of ``n_paths`` rows that the tasks write in place
    (``run_blocks(out=)``; a part then says how many ``"rows"`` it wrote); they are
    returned as they are.
    """
    floats = {k: np.zeros(shape) for k, shape in shapes.items()}
    ints: dict[str, Any] = {}
    cols: dict[str, Any] = dict(columns or {})
    offset = 0

    def column(shape: tuple[int, ...], dtype: Any) -> npt.NDArray[Any]:
        import ctypes
        import mmap
        import sys

        out: npt.NDArray[Any] = np.empty(shape, dtype=dtype)
        if small_pages and sys.platform.startswith("linux") and out.nbytes >= 1 << 22:
            page = mmap.PAGESIZE
            start = -(-out.ctypes.data // page) * page
            end = (out.ctypes.data + out.nbytes) // page * page
            ctypes.CDLL(None).madvise(ctypes.c_void_p(start), ctypes.c_size_t(end - start),
                                      15)  # MADV_NOHUGEPAGE (Linux); if it fails: huge pages
        return out

    for p in parts:
        blocks = p["blocks"]  # a list of per-block dicts, or one row per block and key
        for blk in ([] if isinstance(blocks, dict) else blocks):
            for k, v in blk.items():
                floats[k] += v
        for k, rows in (blocks.items() if isinstance(blocks, dict) else ()):
            total = floats[k]
            for row in rows:  # block by block, as above
                total += row
        rows = p.get("rows", 0)
        for k, v in p.items():
            if k in ("blocks", "rows"):
                continue
            if isinstance(v, tuple):  # histogram counts: (first bin, counts from there on)
                lo, c = v
                if k not in ints:
                    ints[k] = np.zeros((c.shape[0], HIST_BINS), dtype=np.int64)
                ints[k][:, lo:lo + c.shape[1]] += c
            elif k in INT_SUMS or k in ("rev_hist", "gp_hist"):
                if k not in ints:
                    ints[k] = v.astype(np.int64)
                else:
                    ints[k] += v
            elif v is not None:
                if k not in cols:  # integers as int64, whatever a task sent
                    dtype = np.int64 if v.dtype.kind in "iu" else v.dtype
                    cols[k] = column((n_paths, *v.shape[1:]), dtype)
                cols[k][offset:offset + len(v)] = v
                rows = len(v)
        offset += rows
    out: dict[str, Any] = dict(cols)
    out.update(ints)
    out.update(floats)
    return out


def account_losses_in_tail(spec: Spec, first_block: int, n_blocks: int, n_total: int,
                            measure: str, cutoff: float, totals: FloatArray
                            ) -> list[tuple[FloatArray, FloatArray, float, float]]:
    """Per block: each account's summed loss over paths with total > cutoff, and == cutoff.

    ``totals`` are the run's per-path totals of ``measure`` for these blocks (from the
    result, so that the tail is classified exactly as the VaR was computed). Returns, for
    each block in order, the two sums and the number of paths in each set (under
    importance sampling losses and path counts are weighted by the paths' likelihood
    ratios), for the caller to add in block order.
    """
    h = spec.horizon
    m = spec.revenue.size
    out: list[tuple[FloatArray, FloatArray, float, float]] = []
    offset = 0
    for b in range(first_block, first_block + n_blocks):
        n = min(BLOCK_SIZE, n_total - b * BLOCK_SIZE)
        if n <= 0:
            break
        ev = draw_events(spec, b, n)
        base = spec.gross_profit if "gross_profit" in measure else spec.revenue
        loss = base[ev.account] * ev.frac
        if measure in ("revenue_lost", "gross_profit_lost"):
            loss = loss * (h - ev.stop + 1) / 12.0
        total = totals[offset:offset + n]
        offset += n
        gt = total > cutoff
        eq = total == cutoff
        n_gt: float
        n_eq: float
        if ev.weight is not None:
            loss = loss * ev.weight[ev.path]
            n_gt = float(ev.weight[gt].sum())
            n_eq = float(ev.weight[eq].sum())
        else:
            n_gt = int(gt.sum())
            n_eq = int(eq.sum())
        sel = gt[ev.path]
        acc_gt = np.bincount(ev.account[sel], loss[sel], minlength=m).astype(np.float64)
        sel = eq[ev.path]
        acc_eq = np.bincount(ev.account[sel], loss[sel], minlength=m).astype(np.float64)
        out.append((acc_gt, acc_eq, n_gt, n_eq))
    return out


def make_spec(scenario: Scenario, entropy: int | tuple[int, ...], spawn_key: tuple[int, ...],
               keep_paths: bool) -> Spec:
    """Resolve a scenario into the plain arrays every worker needs."""
    pf = scenario.portfolio
    p = scenario.annual_probs()
    q = scenario.horizon_probs()
    with np.errstate(divide="ignore"):
        thresholds = special.ndtri(q)
        log1m_p = np.log1p(-p)
    gp = pf.gross_profit if pf.has_gross_profit else np.zeros(pf.n_accounts)
    loadings = scenario.factor_loadings()
    churn = scenario.churn
    amat = scenario.loading_matrix()
    nu = np.inf if churn.nu is None else float(churn.nu)
    nu_e = nu if churn.nu_idio is None else float(churn.nu_idio)
    copula = "gaussian" if np.any(loadings != 0) else "independent"
    if churn.copula == "t":
        copula = "t"
        thresholds = latent_thresholds(q, "t", nu=nu)
    elif churn.copula == "double_t":
        copula = "double_t"
        thresholds = latent_thresholds(q, "double_t", loadings=amat[:, 0], nu=nu,
                                       nu_idio=nu_e)
    elif amat.shape[1] > 1 and np.any(amat[:, 1:] > 0):
        copula = "multifactor"
    idio = np.sqrt(np.maximum(1.0 - np.sum(amat * amat, axis=1), 0.0))
    if copula == "double_t":
        idio = np.sqrt(1.0 - loadings * loadings)
    a, b = scenario.churn.partial_beta
    h = int(scenario.horizon_months)
    month_t, c_month = month_tables(p, h, int(scenario.churn.notice_months))
    gauss: dict[str, Any] = {}
    if copula == "gaussian":
        with np.errstate(divide="ignore", invalid="ignore"):
            month_x = np.full((c_month.shape[0], c_month.shape[1] + 1), np.inf)
            month_x[:, :-1] = special.ndtri(c_month)
            gauss = {"idio": idio, "tau": thresholds / idio, "beta": loadings / idio,
                     "month_x": month_x,
                     "month_xpad": np.hstack([np.full((p.size, 1), -np.inf), month_x]),
                     "month_gtol": latent_month_tolerance(month_guess_scale(p),
                                                          c_month.shape[1])}
    rev_m = pf.total_revenue / 12.0
    gp_m = float(gp.sum()) / 12.0
    fixed_m = scenario.fixed_costs / 12.0
    repl = None
    cash0 = float(scenario.opening_cash or 0.0)
    cash_bottom, cash_top = 0.0, 1.0
    if scenario.replacement is not None:
        repl = replacement_params(scenario.replacement, scenario.replacement_size_pool(),
                       scenario.replacement_margin())
        # fixed grid for cash histograms: worst case spends fixed costs and acquisition
        # costs with no gross profit; best case earns 1.5x the base gross profit
        acq = repl.acquisition_cost * (repl.rate * 1.5 + 1.0)
        low_gp = min(0.0, float(gp[gp < 0].sum()) / 12)
        cash_bottom = min(cash0, 0.0) - h * (fixed_m + acq - low_gp) - 1.0
        cash_top = max(cash0, 0.0) + h * max(HIST_TOP * gp_m - fixed_m, 0.0) + 1.0
    return Spec(
        revenue=np.asarray(pf.revenue, dtype=np.float64),
        gross_profit=np.asarray(gp, dtype=np.float64),
        thresholds=thresholds, q=q, log1m_p=log1m_p,
        # 12 / log(1 - p); 0 where p = 1 (decision in month 1); tiny p kept finite
        month_scale=np.where(np.isfinite(log1m_p),
                             12.0 / np.minimum(log1m_p, -1e-300), 0.0),
        q_u32=thresholds_u32(q), certain=q >= 1.0,
        month_scale32=np.maximum(np.where(np.isfinite(log1m_p),  # p = 0: never lost
                                          12.0 / np.minimum(log1m_p, -1e-300), 0.0),
                                 -1e38).astype(np.float32),
        thresholds32=thresholds.astype(np.float32), loadings32=loadings.astype(np.float32),
        idio32=idio.astype(np.float32), loadings=loadings,
        copula=copula, factor_loadings32=amat.astype(np.float32), factor_loadings=amat,
        nu=nu, nu_idio=nu_e,
        partial=scenario.partial_probs(),
        beta_a=a, beta_b=b, notice=int(scenario.churn.notice_months),
        horizon=h, fixed_monthly=fixed_m,
        entropy=entropy, spawn_key=spawn_key, rev_top=HIST_TOP * rev_m,
        gp_top=HIST_TOP * max(gp_m, 1e-12), gp_bottom=min(0.0, float(gp[gp < 0].sum()) / 12),
        keep_paths=keep_paths, repl=repl, opening_cash=cash0,
        cash_bottom=cash_bottom, cash_top=cash_top,
        month_t=month_t, month_guess=month_guess_scale(p),
        month_tol=month_tolerance(q, month_guess_scale(p), month_t.shape[1] - 1),
        month_t32=np.hstack([np.zeros((p.size, 1), dtype=np.uint32),
                             np.minimum(month_t, 2**32 - 1).astype(np.uint32)]),
        **gauss,
    )


def _bounded_map(executor: Executor, fn: Callable[..., Any],
                 tasks: Sequence[tuple[Any, ...]], window: int) -> Iterator[Any]:
    """``executor.map`` with at most ``window`` tasks submitted ahead of the one consumed.

    Results come in task order; holding only a window of them bounds memory.

    A ``dask.distributed`` client (or its ``get_executor()``) is driven through the
    client itself, so that the client and scheduler have little to do per task and
    results take the shortest way: arguments that every task shares (the spec) go to
    each worker once (as the result of a task) instead of with each task; tasks are
    not hashed (``pure=False``, unless the executor was made with ``pure``) and are
    submitted a quarter of the window at a time (one graph update each); finished
    results are fetched together, straight from the workers that hold them
    (``gather(direct=True)``), not relayed by the scheduler, unless the client was
    made with ``direct_to_workers=False`` (for a client that can reach only the
    scheduler).
    """
    client: Any = (getattr(executor, "_client", executor)
                   if type(executor).__module__.split(".")[0] == "distributed" else None)
    step = 1  # tasks submitted at a time
    if client is not None and all(callable(getattr(client, m, None)) for m in (
            "submit", "map", "gather")):  # a distributed.Client
        kwargs = {"pure": False, **getattr(executor, "_kwargs", {})}
        direct = client.direct_to_workers is not False
        step = max(1, window // 4)

        def held(a: Any) -> Any:  # a task whose result is its argument, kept on a worker
            return a

        # an argument of every task is sent once, as the result of a task of its own:
        # workers fetch it from each other, and dask recomputes it if a worker is lost
        # (not ``scatter``: it needs workers at once and its data cannot be recomputed)
        shared: dict[int, Any] = {}  # id of an argument of every task -> its dask future
        for i, a in enumerate(tasks[0] if tasks else ()):
            if not isinstance(a, int | float | str | None) and all(t[i] is a for t in tasks):
                shared[id(a)] = client.submit(held, a, **kwargs)

        def submit(batch: list[tuple[Any, ...]]) -> list[Any]:
            args = [[shared.get(id(a), a) for a in t] for t in batch]
            return list(client.map(fn, *zip(*args, strict=True), **kwargs)) if args else []

        def gather(futures: list[Any]) -> list[Any]:
            return list(client.gather(futures, direct=direct))
    else:
        def submit(batch: list[tuple[Any, ...]]) -> list[Any]:
            return [executor.submit(fn, *t) for t in batch]

        def gather(futures: list[Any]) -> list[Any]:
            return [f.result() for f in futures]

    it = iter(tasks)
    pending: collections.deque[Any] = collections.deque(submit(list(itertools.islice(it, window))))
    ready: collections.deque[Any] = collections.deque()
    while pending or ready:
        if not ready:  # the next result, and those after it that are done already
            n = 1
            while n < len(pending) and pending[n].done():
                n += 1
            ready.extend(gather([pending.popleft() for _ in range(n)]))
        if len(pending) + len(ready) <= window - step:
            pending.extend(submit(list(itertools.islice(it, step))))
        yield ready.popleft()


def map_tasks(executor: Executor | None, fn: Callable[..., Any], tasks: Sequence[tuple[Any, ...]],
         progress: bool, desc: str, window: int = 32) -> Iterable[Any]:
    """Run ``fn`` over ``tasks`` in order (serially or on ``executor``), with a progress bar.

    On an executor at most ``window`` tasks run or wait ahead of the one being consumed.
    """
    if executor is None:
        it: Iterable[Any] = (fn(*t) for t in tasks)
    else:
        it = _bounded_map(executor, fn, tasks, window)
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(it, total=len(tasks), desc=desc, unit="chunk")
    return it


def with_sampler(spec: Spec, sampler: str, rep_paths: int, threshold: float | None
                 ) -> Spec:
    """The spec with the sampler's settings (and the importance-sampling plan) filled in."""
    match sampler:
        case "sobol":
            return replace(spec, sampler="sobol", qmc_rep_paths=rep_paths)
        case "importance":
            assert threshold is not None
            plan: _samplers.ImportancePlan | _samplers.LatentImportancePlan
            if spec.copula in ("t", "multifactor"):
                assert spec.factor_loadings is not None
                plan = _samplers.plan_latent_importance(
                    spec.revenue, spec.thresholds, spec.factor_loadings,
                    np.sqrt(1.0 - np.sum(spec.factor_loadings**2, axis=1)), spec.nu,
                    threshold)
            else:
                plan = _samplers.plan_importance(spec.revenue, spec.q, spec.thresholds,
                                                 spec.loadings, threshold)
            return replace(spec, sampler="importance", plan=plan)
        case _:
            return spec
