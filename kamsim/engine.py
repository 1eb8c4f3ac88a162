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
replacement process of :mod:`kamsim.replacement` on the block's lost run-rate, with its
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

import itertools
import math
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import special

from kamsim import _samplers, risk
from kamsim.exceptions import AssumptionError
from kamsim.replacement import (
    _Params,
    _params,
    _recovery,
    _replace,
    recovery_summary,
    survival_curve,
)
from kamsim.scenario import Scenario

__all__ = [
    "BLOCK_SIZE",
    "LOSS_MEASURES",
    "REPLACEMENT_COLUMNS",
    "SAMPLERS",
    "SimulationResult",
    "churn_events",
    "risk_contributions",
    "simulate",
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
class _Spec:
    """Everything a worker needs, as plain arrays (picklable, small)."""

    revenue: FloatArray
    gross_profit: FloatArray
    thresholds: FloatArray  # lost iff X_i < threshold_i (normal) / U_i < q_i (uniform)
    q: FloatArray
    log1m_p: FloatArray  # log(1 - p_i), for the decision month
    month_scale: FloatArray  # 12 / log(1 - p_i) (0 where p_i = 1)
    q32: npt.NDArray[np.float32]
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
    repl: _Params | None = None
    opening_cash: float = 0.0
    cash_bottom: float = 0.0
    cash_top: float = 1.0
    sampler: str = "mc"
    qmc_rep_paths: int = 0
    plan: _samplers.ImportancePlan | None = None

    @property
    def correlated(self) -> bool:
        return bool(np.any(self.loadings > 0))


@dataclass(frozen=True, slots=True)
class _Events:
    """Sparse churn events of one block: (path, account, stop month, fraction lost)."""

    path: IntArray
    account: IntArray
    stop: IntArray
    frac: FloatArray
    weight: FloatArray | None = None  # per-path likelihood ratio (importance sampling)


def _block_rng(spec: _Spec, block: int) -> np.random.Generator:
    ss = np.random.SeedSequence(entropy=spec.entropy, spawn_key=(*spec.spawn_key, block))
    return np.random.default_rng(ss)


def _draw_events(spec: _Spec, block: int, n: int) -> _Events:
    """Draw the churn events of ``n`` paths of block ``block`` (fixed draw order).

    Draws are float32 (24-bit uniforms / normals): probabilities are resolved to 6e-8,
    far below Monte Carlo error, at half the memory traffic of float64. The ``"sobol"``
    and ``"importance"`` samplers draw the loss indicators (float64) in
    :mod:`kamsim._samplers`; decision months and partial losses are then drawn alike.
    """
    g = _block_rng(spec, block)
    m = spec.revenue.size
    weight = None
    u: npt.NDArray[Any]
    if spec.sampler == "sobol":
        dim = m + 1 if spec.correlated else m
        uq = _samplers.sobol_uniforms(spec.entropy, spec.spawn_key, block * BLOCK_SIZE, n,
                                      spec.qmc_rep_paths, dim)
        idx, u = _samplers.sobol_losses(uq, spec.q, spec.thresholds, spec.loadings,
                                        spec.correlated)
    elif spec.sampler == "importance":
        assert spec.plan is not None
        idx, u, weight = _samplers.importance_draws(spec.plan, g, n, spec.q,
                                                    spec.thresholds, spec.loadings)
    elif spec.correlated:
        z = g.standard_normal(n, dtype=np.float32)
        x = g.standard_normal((n, m), dtype=np.float32)
        x *= spec.idio32
        x += z[:, None] * spec.loadings32
        idx = np.flatnonzero(x < spec.thresholds32)
        u = special.ndtr(x.ravel()[idx])
    else:
        x = g.random((n, m), dtype=np.float32)
        idx = np.flatnonzero(x < spec.q32)
        u = x.ravel()[idx]
    path, account = np.divmod(idx, m)
    # decision month: T = 12 log(1-U) / log(1-p), month = ceil(T), at least 1
    t = np.log1p(-u)
    t *= spec.month_scale[account]
    stop = np.ceil(t).astype(np.int64)
    np.maximum(stop, 1, out=stop)  # decision month
    if spec.notice:
        stop += spec.notice
    np.minimum(stop, spec.horizon, out=stop)  # q guarantees <= horizon; guards rounding
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
    return _Events(path, account, stop, frac, weight)


def _with_replacement(spec: _Spec, block: int, ev: _Events, d_rev: npt.NDArray[Any],
                      d_gp: npt.NDArray[Any]) -> dict[str, Any]:
    """Net monthly paths and per-path recovery/cash outcomes of one block."""
    rp = spec.repl
    assert rp is not None
    n, h = d_rev.shape
    g = np.random.default_rng(np.random.SeedSequence(
        entropy=spec.entropy, spawn_key=(*spec.spawn_key, block, 1)))
    lost_m = np.cumsum(d_rev, axis=1)
    out = _replace(rp, lost_m * 12.0, g)
    base_rev_m = spec.revenue.sum() / 12.0
    base_gp_m = spec.gross_profit.sum() / 12.0
    gf = (1.0 + rp.growth) ** (np.arange(1, h + 1) / 12.0)
    repl_m = out.run_rate / 12.0
    rev_path = (base_rev_m - lost_m) * gf + repl_m
    gp_path = (base_gp_m - np.cumsum(d_gp, axis=1)) * gf + repl_m * rp.margin
    first = np.full(n, h + 1, dtype=np.int64)
    np.minimum.at(first, ev.path, ev.stop)
    months, recovered = _recovery(rev_path, base_rev_m, first)
    acq = out.wins * rp.acquisition_cost
    cash = spec.opening_cash + np.cumsum(gp_path - spec.fixed_monthly - acq, axis=1)
    min_cash = np.minimum(cash.min(axis=1), spec.opening_cash)
    return {
        "rev_path": rev_path, "gp_path": gp_path, "cash": cash,
        "repl_rr": out.run_rate,
        "first_loss_month": np.where(first <= h, first, 0),
        "months_to_recover": months, "recovered": recovered,
        "revenue_gap": np.maximum(base_rev_m - rev_path, 0.0).sum(axis=1),
        "gross_profit_gap": np.maximum(base_gp_m - gp_path, 0.0).sum(axis=1),
        "min_cash": min_cash, "out_of_cash": min_cash < 0,
        "replacement_wins": out.wins.sum(axis=1), "acquisition_costs": acq.sum(axis=1),
    }


def _hist(values: FloatArray, top: float, bottom: float = 0.0,
          weights: FloatArray | None = None) -> npt.NDArray[Any]:
    """Histogram per column (month) of ``values`` (paths x months) on a fixed grid.

    Counts (int) without ``weights``; with per-path ``weights``, summed weights (float).
    """
    h = values.shape[1]
    width = (top - bottom) / HIST_BINS
    idx = np.clip(((values - bottom) / width).astype(np.int64), 0, HIST_BINS - 1)
    flat = idx + (np.arange(h, dtype=np.int64) * HIST_BINS)[None, :]
    if weights is None:
        return np.bincount(flat.ravel(), minlength=h * HIST_BINS).reshape(h, HIST_BINS)
    wf = np.broadcast_to(weights[:, None], values.shape).ravel()
    return np.bincount(flat.ravel(), wf, minlength=h * HIST_BINS).reshape(h, HIST_BINS)


def _run_blocks(spec: _Spec, first_block: int, n_blocks: int, n_total: int) -> dict[str, Any]:
    """Simulate blocks ``first_block .. first_block + n_blocks - 1``; return their outputs."""
    h = spec.horizon
    m = spec.revenue.size
    outs: dict[str, list[Any]] = {k: [] for k in (
        "run_rate_lost", "revenue_lost", "gross_profit_lost", "run_rate_gross_profit_lost",
        "accounts_lost", "partial_losses", "first_month_below_break_even", "paths",
        "cash_paths", "weights", *REPLACEMENT_COLUMNS)}
    weighted = spec.sampler == "importance"
    hist_type = np.float64 if weighted else np.int64
    lost_count = np.zeros(m, dtype=np.int64)
    lost_weight = np.zeros(m)
    weight_sum = 0.0
    lost_rev = np.zeros(m)
    rev_hist = np.zeros((h, HIST_BINS), dtype=hist_type)
    gp_hist = np.zeros((h, HIST_BINS), dtype=hist_type)
    rev_sum = np.zeros(h)
    gp_sum = np.zeros(h)
    cash_sum = np.zeros(h)
    repl_sum = np.zeros(h)
    cash_hist = np.zeros((h, HIST_BINS), dtype=np.int64)
    base_rev_m = spec.revenue.sum() / 12.0
    base_gp_m = spec.gross_profit.sum() / 12.0
    for b in range(first_block, first_block + n_blocks):
        n = min(BLOCK_SIZE, n_total - b * BLOCK_SIZE)
        if n <= 0:
            break
        ev = _draw_events(spec, b, n)
        pw = ev.weight
        has_partial = bool(np.any(spec.partial > 0))
        r_loss = spec.revenue[ev.account]
        g_loss = spec.gross_profit[ev.account]
        if has_partial:
            r_loss *= ev.frac
            g_loss *= ev.frac
        # annual run-rate lost from each stop month (1-based) on, per path: (n, h)
        flat = ev.path * h + (ev.stop - 1)
        d_rev12 = np.bincount(flat, r_loss, minlength=n * h).reshape(n, h)
        d_gp12 = np.bincount(flat, g_loss, minlength=n * h).reshape(n, h)
        months_left = (h - np.arange(h, dtype=np.float64)) / 12.0  # years lost from month s
        outs["run_rate_lost"].append(d_rev12.sum(axis=1))
        outs["run_rate_gross_profit_lost"].append(d_gp12.sum(axis=1))
        outs["revenue_lost"].append(d_rev12 @ months_left)
        outs["gross_profit_lost"].append(d_gp12 @ months_left)
        outs["accounts_lost"].append(np.bincount(ev.path, minlength=n).astype(np.int64))
        outs["partial_losses"].append(
            np.bincount(ev.path, (ev.frac < 1.0).astype(np.float64), minlength=n)
            .astype(np.int64) if has_partial else np.zeros(n, dtype=np.int64))
        counts = np.bincount(ev.account, minlength=m)
        lost_count += counts
        if pw is None:
            # full losses: each lost account loses its whole revenue
            lost_rev += (np.bincount(ev.account, r_loss, minlength=m) if has_partial
                         else counts * spec.revenue)
        else:
            outs["weights"].append(pw)
            weight_sum += float(pw.sum())
            lost_weight += np.bincount(ev.account, pw[ev.path], minlength=m)
            lost_rev += np.bincount(ev.account, r_loss * pw[ev.path], minlength=m)
        d_rev = d_rev12 / 12.0
        d_gp = d_gp12 / 12.0
        rev_path = base_rev_m - np.cumsum(d_rev, axis=1)
        gp_path = base_gp_m - np.cumsum(d_gp, axis=1)
        if spec.repl is not None:
            extra = _with_replacement(spec, b, ev, d_rev, d_gp)
            rev_path, gp_path = extra["rev_path"], extra["gp_path"]
            for k in REPLACEMENT_COLUMNS:
                outs[k].append(extra[k])
            cash_sum += extra["cash"].sum(axis=0)
            repl_sum += extra["repl_rr"].sum(axis=0)
            cash_hist += _hist(extra["cash"], spec.cash_top, spec.cash_bottom)
            if spec.keep_paths:
                outs["cash_paths"].append(extra["cash"])
        below = gp_path < spec.fixed_monthly - 1e-9 * abs(spec.fixed_monthly)
        any_below = below.any(axis=1)
        first = np.where(any_below, below.argmax(axis=1) + 1, 0).astype(np.int64)
        outs["first_month_below_break_even"].append(first)
        rev_hist += _hist(rev_path, spec.rev_top, weights=pw)
        gp_hist += _hist(gp_path, spec.gp_top, spec.gp_bottom, weights=pw)
        if pw is None:
            rev_sum += rev_path.sum(axis=0)
            gp_sum += gp_path.sum(axis=0)
        else:  # weighted losses below base (unnormalised IS estimate of the mean gap)
            rev_sum += pw @ (base_rev_m - rev_path)
            gp_sum += pw @ (base_gp_m - gp_path)
        if spec.keep_paths:
            outs["paths"].append(rev_path)
    result: dict[str, Any] = {k: (np.concatenate(v) if v else None) for k, v in outs.items()}
    result.update(lost_count=lost_count, lost_weight=lost_weight, weight_sum=weight_sum,
                  lost_rev=lost_rev, rev_hist=rev_hist,
                  gp_hist=gp_hist, rev_sum=rev_sum, gp_sum=gp_sum, cash_sum=cash_sum,
                  repl_sum=repl_sum, cash_hist=cash_hist)
    return result


def _account_losses_in_tail(spec: _Spec, first_block: int, n_blocks: int, n_total: int,
                            measure: str, cutoff: float, totals: FloatArray
                            ) -> tuple[FloatArray, FloatArray, float, float]:
    """Each account's summed loss over paths with total > cutoff, and == cutoff.

    ``totals`` are the run's per-path totals of ``measure`` for these blocks (from the
    result, so that the tail is classified exactly as the VaR was computed). Returns the
    two sums and the number of paths in each set; under importance sampling losses and
    path counts are weighted by the paths' likelihood ratios.
    """
    h = spec.horizon
    m = spec.revenue.size
    acc_gt = np.zeros(m)
    acc_eq = np.zeros(m)
    n_gt: float = 0
    n_eq: float = 0
    offset = 0
    for b in range(first_block, first_block + n_blocks):
        n = min(BLOCK_SIZE, n_total - b * BLOCK_SIZE)
        if n <= 0:
            break
        ev = _draw_events(spec, b, n)
        base = spec.gross_profit if "gross_profit" in measure else spec.revenue
        loss = base[ev.account] * ev.frac
        if measure in ("revenue_lost", "gross_profit_lost"):
            loss = loss * (h - ev.stop + 1) / 12.0
        total = totals[offset:offset + n]
        offset += n
        gt = total > cutoff
        eq = total == cutoff
        if ev.weight is not None:
            loss = loss * ev.weight[ev.path]
            n_gt += float(ev.weight[gt].sum())
            n_eq += float(ev.weight[eq].sum())
        else:
            n_gt += int(gt.sum())
            n_eq += int(eq.sum())
        sel = gt[ev.path]
        acc_gt += np.bincount(ev.account[sel], loss[sel], minlength=m)
        sel = eq[ev.path]
        acc_eq += np.bincount(ev.account[sel], loss[sel], minlength=m)
    return acc_gt, acc_eq, n_gt, n_eq


def _resolve_entropy(rng: np.random.Generator | np.random.SeedSequence | int | None
                     ) -> tuple[int | tuple[int, ...], tuple[int, ...]]:
    if isinstance(rng, np.random.Generator):
        ent = rng.integers(0, 2**63, size=4, dtype=np.uint64)
        return tuple(int(e) for e in ent), ()
    if isinstance(rng, np.random.SeedSequence):
        ent_ss = rng.entropy
        if isinstance(ent_ss, int):
            return ent_ss, tuple(rng.spawn_key)
        return tuple(int(e) for e in (ent_ss or ())), tuple(rng.spawn_key)
    if rng is None:
        ss = np.random.SeedSequence()
        assert isinstance(ss.entropy, int)
        return ss.entropy, ()
    if isinstance(rng, int | np.integer) and not isinstance(rng, bool):
        if rng < 0:
            msg = f"rng seed must be >= 0, got {rng}"
            raise ValueError(msg)
        return int(rng), ()
    msg = f"rng must be a numpy Generator, an int seed or None, got {type(rng).__name__}"
    raise TypeError(msg)


def _make_spec(scenario: Scenario, entropy: int | tuple[int, ...], spawn_key: tuple[int, ...],
               keep_paths: bool) -> _Spec:
    pf = scenario.portfolio
    p = scenario.annual_probs()
    q = scenario.horizon_probs()
    with np.errstate(divide="ignore"):
        thresholds = special.ndtri(q)
        log1m_p = np.log1p(-p)
    gp = pf.gross_profit if pf.has_gross_profit else np.zeros(pf.n_accounts)
    loadings = scenario.factor_loadings()
    a, b = scenario.churn.partial_beta
    rev_m = pf.total_revenue / 12.0
    gp_m = float(gp.sum()) / 12.0
    h = int(scenario.horizon_months)
    fixed_m = scenario.fixed_costs / 12.0
    repl = None
    cash0 = float(scenario.opening_cash or 0.0)
    cash_bottom, cash_top = 0.0, 1.0
    if scenario.replacement is not None:
        repl = _params(scenario.replacement, scenario.replacement_size_pool(),
                       scenario.replacement_margin())
        # fixed grid for cash histograms: worst case spends fixed costs and acquisition
        # costs with no gross profit; best case earns 1.5x the base gross profit
        acq = repl.acquisition_cost * (repl.rate * 1.5 + 1.0)
        low_gp = min(0.0, float(gp[gp < 0].sum()) / 12)
        cash_bottom = min(cash0, 0.0) - h * (fixed_m + acq - low_gp) - 1.0
        cash_top = max(cash0, 0.0) + h * max(HIST_TOP * gp_m - fixed_m, 0.0) + 1.0
    return _Spec(
        revenue=np.asarray(pf.revenue, dtype=np.float64),
        gross_profit=np.asarray(gp, dtype=np.float64),
        thresholds=thresholds, q=q, log1m_p=log1m_p,
        # 12 / log(1 - p); 0 where p = 1 (decision in month 1); tiny p kept finite
        month_scale=np.where(np.isfinite(log1m_p),
                             12.0 / np.minimum(log1m_p, -1e-300), 0.0),
        q32=q.astype(np.float32), thresholds32=thresholds.astype(np.float32),
        loadings32=loadings.astype(np.float32),
        idio32=np.sqrt(1.0 - loadings * loadings).astype(np.float32),
        loadings=loadings, partial=scenario.partial_probs(),
        beta_a=a, beta_b=b, notice=int(scenario.churn.notice_months),
        horizon=h, fixed_monthly=fixed_m,
        entropy=entropy, spawn_key=spawn_key, rev_top=HIST_TOP * rev_m,
        gp_top=HIST_TOP * max(gp_m, 1e-12), gp_bottom=min(0.0, float(gp[gp < 0].sum()) / 12),
        keep_paths=keep_paths, repl=repl, opening_cash=cash0,
        cash_bottom=cash_bottom, cash_top=cash_top,
    )


def _map(executor: Executor | None, fn: Callable[..., Any], tasks: Sequence[tuple[Any, ...]],
         progress: bool, desc: str) -> Iterable[Any]:
    if executor is None:
        it: Iterable[Any] = (fn(*t) for t in tasks)
    else:
        it = executor.map(fn, *zip(*tasks, strict=True))
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(it, total=len(tasks), desc=desc, unit="chunk")
    return it


def simulate(
    scenario: Scenario,
    *,
    n_paths: int = 10_000,
    rng: np.random.Generator | np.random.SeedSequence | int | None = None,
    executor: Executor | None = None,
    progress: bool | None = None,
    chunk_size: int = 32 * BLOCK_SIZE,
    keep_paths: bool = False,
    sampler: Sampler = "mc",
    tail_threshold: float | None = None,
    qmc_replicates: int | None = None,
) -> SimulationResult:
    """Simulate account churn over the scenario's horizon.

    Parameters
    ----------
    scenario : Scenario
        Portfolio and assumptions.
    n_paths : int
        Number of simulated futures (>= 1).
    rng : numpy.random.Generator, int or None
        Randomness (SPEC 7). An int seed, or a Generator from which the run's root seed
        is drawn. The root seed is recorded in the result (``result.seed``).
    executor : concurrent.futures.Executor, optional
        Runs chunks in parallel (e.g. ``ProcessPoolExecutor`` or a dask client's
        ``get_executor()``); results do not depend on it.
    progress : bool, optional
        Show a tqdm progress bar; default: only for large runs (>= 10^8 account-paths).
    chunk_size : int
        Paths per task (rounded up to whole blocks of 2,048); affects memory and
        scheduling only, never the numbers.
    keep_paths : bool
        Keep every path's monthly revenue (``n_paths x horizon`` floats) in
        ``result.monthly_revenue_paths``; otherwise only per-month histograms are kept.
    sampler : {"mc", "sobol", "importance"}
        How the churn indicators are drawn (see Notes). ``"mc"``: plain Monte Carlo
        (the default; its numbers never change). ``"sobol"``: randomised quasi-Monte
        Carlo with scrambled Sobol' points. ``"importance"``: importance sampling of the
        deep tail of ``run_rate_lost`` (Glasserman & Li 2005); paths carry likelihood-ratio
        ``weights`` that every risk method of the result uses.
    tail_threshold : float, optional
        ``"importance"`` only: the run-rate loss (currency per year) whose exceedance the
        change of measure targets; estimates of ``P(loss > x)`` and VaR / ES for ``x``
        near it are the most accurate. Default: the exact 99.9 % VaR of the run-rate
        loss (:func:`kamsim.exact.loss_distribution`).
    qmc_replicates : int, optional
        ``"sobol"`` only: number ``R >= 2`` of independently scrambled replicates
        (default 16). ``n_paths`` must be ``R`` times a power of two (Sobol' balance);
        the spread of the replicate estimates gives the standard errors.

    Returns
    -------
    SimulationResult

    Raises
    ------
    AssumptionError
        For an unknown ``sampler``; ``tail_threshold`` / ``qmc_replicates`` given to a
        sampler that does not use them; ``"sobol"`` with ``n_paths`` not ``R x 2^k``;
        ``"importance"`` with partial churn, replacement, or a threshold outside
        ``(0, total revenue of accounts that can be lost)``.

    Notes
    -----
    *Quasi-Monte Carlo.* Path ``p`` is point ``p mod 2^k`` of replicate ``p // 2^k``;
    replicate ``r`` is a Sobol' sequence in ``accounts`` dimensions (``+ 1`` for the
    shared factor when churn is correlated, normals by the inverse normal CDF), scrambled
    with the stream ``SeedSequence(entropy, spawn_key=(*spawn_key, r, 2))`` and
    fast-forwarded block by block, so results do not depend on ``chunk_size`` or the
    executor. Only the churn indicators (and so the decision months, which come from the
    same uniforms) are quasi-random; partial-loss fractions and replacement draw from the
    usual pseudo-random block streams. With a few dominant accounts the loss is a step
    function of the points, so the gain over plain Monte Carlo is largest for means and
    moderate tail probabilities.

    *Importance sampling* (full churn only, no replacement). The factor is drawn from
    ``N(mu, 1)``, ``mu`` maximising ``F(z) - z^2 / 2`` with ``F(z) = min_theta psi(theta, z)
    - theta x`` the conditional large-deviation bound at the threshold ``x``; given the
    factor, account ``i`` is lost with the exponentially tilted probability
    ``p_i e^{theta w_i} / (1 + p_i (e^{theta w_i} - 1))``, ``w_i`` its revenue and
    ``theta = theta_x(z) >= 0`` solving ``psi'(theta, z) = x``. Given the factor and the
    loss, decision months follow the original conditional law, so ``revenue_lost`` and
    the monthly paths stay right in law. Each path's likelihood ratio is in
    ``result.weights``; estimates are self-normalised (weights divided by their sum),
    and ``result.effective_sample_size`` reports ``(sum w)^2 / sum w^2``.

    References
    ----------
    Glasserman, P. and Li, J. (2005). Importance sampling for portfolio credit risk.
    Management Science 51(11), 1643-1656.

    Owen, A. B. (1997). Scrambled net variance for integrals of smooth functions.
    Annals of Statistics 25(4), 1541-1562.

    Examples
    --------
    >>> from kamsim.datasets import synthetic_portfolio
    >>> from kamsim.scenario import ChurnAssumptions, Scenario
    >>> sc = Scenario(portfolio=synthetic_portfolio(50, rng=0),
    ...               churn=ChurnAssumptions(correlation=0.2), horizon_months=12)
    >>> res = simulate(sc, n_paths=4000, rng=42)
    >>> res.n_paths
    4000
    >>> res2 = simulate(sc, n_paths=4000, rng=42, chunk_size=2048)
    >>> bool((res.to_frame() == res2.to_frame()).all().all())
    True

    Randomised QMC (16 replicates of 256 points) and tail importance sampling:

    >>> qmc = simulate(sc, n_paths=4096, rng=42, sampler="sobol")
    >>> qmc.qmc_replicates, qmc.standard_error("mean") > 0
    (16, True)
    >>> tail = simulate(sc, n_paths=4096, rng=42, sampler="importance")
    >>> bool(tail.sf(tail.tail_threshold) < 0.01), tail.weights.shape
    (True, (4096,))
    """
    if not isinstance(scenario, Scenario):
        msg = f"scenario must be a Scenario, got {type(scenario).__name__}"
        raise TypeError(msg)
    if not isinstance(n_paths, int | np.integer) or n_paths < 1:
        msg = f"n_paths must be a whole number >= 1, got {n_paths!r}"
        raise ValueError(msg)
    if chunk_size < 1:
        msg = f"chunk_size must be >= 1, got {chunk_size}"
        raise ValueError(msg)
    n_paths = int(n_paths)
    entropy, spawn_key = _resolve_entropy(rng)
    spec = _make_spec(scenario, entropy, spawn_key, keep_paths)
    sampler, n_rep, threshold = _check_sampler(scenario, spec, n_paths, sampler,
                                               tail_threshold, qmc_replicates)
    spec = _with_sampler(spec, sampler, n_paths // n_rep if n_rep else 0, threshold)
    n_blocks = math.ceil(n_paths / BLOCK_SIZE)
    per_task = max(1, math.ceil(chunk_size / BLOCK_SIZE))
    tasks = [(spec, b, min(per_task, n_blocks - b), n_paths)
             for b in range(0, n_blocks, per_task)]
    if progress is None:
        progress = n_paths * spec.revenue.size >= 10**8
    parts = list(_map(executor, _run_blocks, tasks, progress, "simulate"))

    def cat(key: str) -> Any:
        return np.concatenate([p[key] for p in parts])

    def add(key: str) -> Any:
        out = parts[0][key].copy()
        for p in parts[1:]:
            out += p[key]
        return out

    per_path = {k: cat(k) for k in (
        "run_rate_lost", "revenue_lost", "gross_profit_lost", "run_rate_gross_profit_lost",
        "accounts_lost", "partial_losses", "first_month_below_break_even")}
    has_repl = spec.repl is not None
    if has_repl:
        per_path.update({k: cat(k) for k in REPLACEMENT_COLUMNS})
    if sampler == "importance":
        assert spec.plan is not None
        weights = cat("weights")
        return SimulationResult(
            scenario=scenario, n_paths=n_paths, seed=entropy, spawn_key=spawn_key,
            per_path=per_path, account_lost_count=add("lost_count"),
            account_revenue_lost=add("lost_rev"),
            monthly_revenue_hist=add("rev_hist"),
            monthly_gross_profit_hist=add("gp_hist"),
            monthly_revenue_mean=spec.revenue.sum() / 12.0 - add("rev_sum") / n_paths,
            monthly_gross_profit_mean=(spec.gross_profit.sum() / 12.0
                                       - add("gp_sum") / n_paths),
            hist_range=(0.0, spec.rev_top, spec.gp_bottom, spec.gp_top),
            monthly_revenue_paths=cat("paths") if keep_paths else None,
            sampler="importance", weights=weights, tail_threshold=threshold,
            factor_shift=spec.plan.mu, account_lost_weight=add("lost_weight"),
        )
    return SimulationResult(
        scenario=scenario,
        n_paths=n_paths,
        seed=entropy,
        spawn_key=spawn_key,
        per_path=per_path,
        account_lost_count=add("lost_count"),
        account_revenue_lost=add("lost_rev"),
        monthly_revenue_hist=add("rev_hist"),
        monthly_gross_profit_hist=add("gp_hist"),
        monthly_revenue_mean=add("rev_sum") / n_paths,
        monthly_gross_profit_mean=add("gp_sum") / n_paths,
        hist_range=(0.0, spec.rev_top, spec.gp_bottom, spec.gp_top),
        monthly_revenue_paths=cat("paths") if keep_paths else None,
        monthly_cash_mean=add("cash_sum") / n_paths if has_repl else None,
        monthly_replacement_mean=add("repl_sum") / n_paths if has_repl else None,
        monthly_cash_hist=add("cash_hist") if has_repl else None,
        cash_range=(spec.cash_bottom, spec.cash_top),
        monthly_cash_paths=cat("cash_paths") if keep_paths and has_repl else None,
        sampler=sampler, qmc_replicates=n_rep,
    )


def _check_sampler(scenario: Scenario, spec: _Spec, n_paths: int, sampler: str,
                   tail_threshold: float | None, qmc_replicates: int | None
                   ) -> tuple[Sampler, int, float | None]:
    """Validate the sampler options; return (sampler, QMC replicates or 0, IS threshold)."""
    if sampler != "importance" and tail_threshold is not None:
        msg = (f"tail_threshold is used by sampler='importance' only, got it with "
               f"sampler={sampler!r}; drop it or set sampler='importance'")
        raise AssumptionError(msg, field="tail_threshold")
    if sampler != "sobol" and qmc_replicates is not None:
        msg = (f"qmc_replicates is used by sampler='sobol' only, got it with "
               f"sampler={sampler!r}; drop it or set sampler='sobol'")
        raise AssumptionError(msg, field="qmc_replicates")
    match sampler:
        case "mc":
            return "mc", 0, None
        case "sobol":
            r = DEFAULT_QMC_REPLICATES if qmc_replicates is None else qmc_replicates
            if not isinstance(r, int | np.integer) or isinstance(r, bool) or r < 2:
                msg = f"qmc_replicates must be a whole number >= 2, got {r!r}"
                raise AssumptionError(msg, field="qmc_replicates")
            r = int(r)
            per = n_paths // r
            if n_paths % r or per & (per - 1):
                k = max(round(math.log2(max(n_paths / r, 1.0))), 0)
                msg = (f"sampler='sobol' needs n_paths = qmc_replicates x a power of two "
                       f"(Sobol' balance), got n_paths={n_paths} with {r} replicates; "
                       f"use e.g. n_paths={r * 2**k}")
                raise AssumptionError(msg, field="n_paths")
            dim = spec.revenue.size + (1 if spec.correlated else 0)
            if dim > _samplers.SOBOL_MAX_DIM:
                msg = (f"sampler='sobol' supports at most {_samplers.SOBOL_MAX_DIM} "
                       f"dimensions, this scenario needs {dim}; use sampler='mc'")
                raise AssumptionError(msg, field="sampler")
            return "sobol", r, None
        case "importance":
            return "importance", 0, _check_importance(scenario, spec, tail_threshold)
        case _:
            msg = f"sampler must be one of {SAMPLERS}, got {sampler!r}"
            raise AssumptionError(msg, field="sampler")


def _check_importance(scenario: Scenario, spec: _Spec, tail_threshold: float | None
                      ) -> float:
    if scenario.churn.has_partial:
        msg = ("sampler='importance' covers full churn only (its change of measure is on "
               "the run-rate loss), but partial_prob > 0; set partial_prob=0 or use "
               "sampler='mc' or 'sobol'")
        raise AssumptionError(msg, field="churn.partial_prob")
    if scenario.replacement is not None:
        msg = ("sampler='importance' does not support replacement (the replacement "
               "process is not reweighted); drop Scenario.replacement or use sampler='mc' "
               "or 'sobol'")
        raise AssumptionError(msg, field="replacement")
    reach = float(spec.revenue[spec.q > 0].sum())
    if tail_threshold is None:
        from kamsim.exact import loss_distribution

        x = loss_distribution(scenario).var(0.999)
        if not x > 0:
            msg = ("the 99.9 % run-rate loss is 0 (losses are too unlikely for a default "
                   "threshold); pass tail_threshold explicitly")
            raise AssumptionError(msg, field="tail_threshold")
        return float(min(x, 0.999 * reach))
    try:
        x = float(tail_threshold)
    except (TypeError, ValueError):
        msg = f"tail_threshold must be a number, got {tail_threshold!r}"
        raise AssumptionError(msg, field="tail_threshold") from None
    if not 0.0 < x < reach:
        msg = (f"tail_threshold must be in (0, {reach:g}) (the revenue of the accounts "
               f"that can be lost), got {tail_threshold!r}")
        raise AssumptionError(msg, field="tail_threshold")
    return x


def _with_sampler(spec: _Spec, sampler: str, rep_paths: int, threshold: float | None
                  ) -> _Spec:
    """The spec with the sampler's settings (and the importance-sampling plan) filled in."""
    match sampler:
        case "sobol":
            return replace(spec, sampler="sobol", qmc_rep_paths=rep_paths)
        case "importance":
            assert threshold is not None
            plan = _samplers.plan_importance(spec.revenue, spec.q, spec.thresholds,
                                             spec.loadings, threshold)
            return replace(spec, sampler="importance", plan=plan)
        case _:
            return spec


def churn_events(
    scenario: Scenario,
    *,
    n_paths: int,
    rng: np.random.Generator | np.random.SeedSequence | int | None = None,
) -> pd.DataFrame:
    """The individual churn events behind :func:`simulate`, one row per lost account.

    With the same ``rng`` (an int seed, or a recorded ``SimulationResult.seed``) these are
    exactly the events of ``simulate(scenario, n_paths=n_paths, rng=rng)``, so models
    built on top (pricing, programs, negotiation) share its common random numbers. Two
    scenarios that differ only in churn probabilities see the same draws, so an account
    lost under the lower probability is also lost under the higher one.

    Returns
    -------
    pandas.DataFrame
        Columns ``path`` (0-based), ``account`` (0-based position in the portfolio),
        ``account_id``, ``decision_month``, ``stop_month`` (first month without the
        revenue, 1-based, <= horizon) and ``fraction`` (1 = full loss).

    Examples
    --------
    >>> from kamsim.datasets import synthetic_portfolio
    >>> from kamsim.scenario import ChurnAssumptions, Scenario
    >>> sc = Scenario(portfolio=synthetic_portfolio(30, rng=0), horizon_months=12,
    ...               churn=ChurnAssumptions(notice_months=2))
    >>> ev = churn_events(sc, n_paths=1000, rng=1)
    >>> bool((ev["stop_month"] == ev["decision_month"] + 2).all())
    True
    >>> int(simulate(sc, n_paths=1000, rng=1).per_path["accounts_lost"].sum()) == len(ev)
    True
    """
    entropy, spawn_key = _resolve_entropy(rng)
    spec = _make_spec(scenario, entropy, spawn_key, keep_paths=False)
    parts = []
    for b in range(math.ceil(n_paths / BLOCK_SIZE)):
        n = min(BLOCK_SIZE, n_paths - b * BLOCK_SIZE)
        ev = _draw_events(spec, b, n)
        parts.append(pd.DataFrame({
            "path": ev.path + b * BLOCK_SIZE, "account": ev.account,
            "stop_month": ev.stop, "fraction": np.array(ev.frac)}))
    df = pd.concat(parts, ignore_index=True)
    df.insert(2, "account_id", scenario.portfolio.account_ids[df["account"].to_numpy()])
    df.insert(3, "decision_month", df["stop_month"] - spec.notice)
    return df


@dataclass(frozen=True, eq=False)
class SimulationResult:
    """What :func:`simulate` returns: per-path outcomes and monthly distributions.

    Per-path columns (``to_frame()``), all in currency unless stated:

    ``run_rate_lost``
        Annual revenue of the accounts lost by the horizon's end, partial losses pro rata:
        how much of the revenue base is gone.
    ``run_rate_gross_profit_lost``
        The same for annual gross profit.
    ``revenue_lost``, ``gross_profit_lost``
        Revenue / gross profit actually forgone month by month within the horizon.
    ``accounts_lost``
        Accounts with a full or partial loss by the horizon (count);
        ``partial_losses`` how many of them were partial.
    ``first_month_below_break_even``
        First month (1-based) in which monthly gross profit is below
        ``fixed_costs / 12``; ``<NA>`` if never within the horizon.

    With replacement assumptions (``has_replacement``), monthly revenue and gross profit
    (and so ``first_month_below_break_even``) are net of replacement and growth, and
    these columns are added:

    ``first_loss_month``
        First month without some lost revenue (0 if no loss).
    ``months_to_recover``
        Months in the hole, from ``first_loss_month`` to the last month with revenue below
        the pre-loss level (0 without a loss); a lower bound when not ``recovered``.
    ``recovered``
        False if revenue is still below the pre-loss level in the last month (censored).
    ``revenue_gap``, ``gross_profit_gap``
        Area of the hole: sum over months of the shortfall below the pre-loss monthly
        revenue / gross profit (currency).
    ``min_cash``
        Lowest cash balance, opening balance included (currency; with no
        ``opening_cash`` the lowest cumulative cash flow, i.e. minus the buffer needed).
    ``out_of_cash``
        Whether cash ever goes below zero.
    ``replacement_wins``, ``acquisition_costs``
        Accounts won and their acquisition costs within the horizon.

    Samplers (``sampler``, see :func:`simulate`). ``"mc"`` and ``"sobol"`` paths weigh
    equally (``weights`` is None). ``"sobol"`` paths form ``qmc_replicates`` consecutive
    equal replicates, whose spread gives :meth:`standard_error`. ``"importance"`` paths
    carry likelihood ratios ``weights`` (``E[w] = 1``), which every risk method, mean and
    table uses, *unnormalised*: path ``p`` has probability ``w_p / n``, so tail
    probabilities ``(1/n) sum w_p 1{L_p > x}`` are unbiased and use tail paths only. The
    leftover mass ``1 - sum w / n`` (or the excess, taken from the smallest losses) sits at
    the smallest loss, so VaR / ES come from a proper distribution that agrees with the
    tail estimate above the body (Glynn 1996). ``tail_threshold`` and ``factor_shift``
    record the change of measure, ``effective_sample_size`` its cost to the body.
    """

    scenario: Scenario
    n_paths: int
    seed: int | tuple[int, ...]
    spawn_key: tuple[int, ...]
    per_path: dict[str, npt.NDArray[Any]] = field(repr=False)
    account_lost_count: IntArray = field(repr=False)
    account_revenue_lost: FloatArray = field(repr=False)
    monthly_revenue_hist: IntArray = field(repr=False)
    monthly_gross_profit_hist: IntArray = field(repr=False)
    monthly_revenue_mean: FloatArray = field(repr=False)
    monthly_gross_profit_mean: FloatArray = field(repr=False)
    hist_range: tuple[float, float, float, float] = field(repr=False)
    monthly_revenue_paths: FloatArray | None = field(default=None, repr=False)
    monthly_cash_mean: FloatArray | None = field(default=None, repr=False)
    monthly_replacement_mean: FloatArray | None = field(default=None, repr=False)
    monthly_cash_hist: IntArray | None = field(default=None, repr=False)
    cash_range: tuple[float, float] = field(default=(0.0, 1.0), repr=False)
    monthly_cash_paths: FloatArray | None = field(default=None, repr=False)
    sampler: str = "mc"
    weights: FloatArray | None = field(default=None, repr=False)
    qmc_replicates: int = 0
    tail_threshold: float | None = None
    factor_shift: float = 0.0
    account_lost_weight: FloatArray | None = field(default=None, repr=False)

    # -- weights and errors ---------------------------------------------------------------
    @property
    def effective_sample_size(self) -> float:
        """Kish's effective sample size ``(sum w)^2 / sum w^2`` (``n_paths`` if unweighted).

        Of the whole run: importance sampling spends paths on the tail, so this is small
        even when tail estimates are far more precise than plain Monte Carlo's.
        """
        if self.weights is None:
            return float(self.n_paths)
        w = self.weights
        return float(w.sum() ** 2 / np.sum(w * w))

    def _mean_of(self, values: npt.NDArray[Any]) -> float:
        """Mean over paths, weighted by the likelihood ratios (unnormalised) if any."""
        if self.weights is None:
            return float(np.mean(values))
        return float(np.sum(self.weights * values) / self.n_paths)

    def _probs(self, measure: LossMeasure) -> FloatArray | None:
        """Path probabilities for distributional estimates (None: equal weights)."""
        if self.weights is None:
            return None
        return _tail_anchored(self.losses(measure), self.weights / self.n_paths)

    def mean(self, measure: LossMeasure = "run_rate_lost") -> float:
        """Expected value of one loss measure (weighted under importance sampling)."""
        return self._mean_of(self.losses(measure))

    def _groups(self) -> list[slice]:
        """Path groups for standard errors: QMC replicates, else 16 contiguous batches."""
        if self.sampler == "sobol":
            per = self.n_paths // self.qmc_replicates
            return [slice(r * per, (r + 1) * per) for r in range(self.qmc_replicates)]
        edges = np.linspace(0, self.n_paths, min(SE_BATCHES, self.n_paths) + 1).astype(int)
        return [slice(int(a), int(b)) for a, b in itertools.pairwise(edges)]

    def standard_error(self, statistic: Literal["mean", "sf", "var", "es"] = "mean", *,
                       measure: LossMeasure = "run_rate_lost", x: float | None = None,
                       level: float = 0.95) -> float:
        """Standard error of the run's estimate of ``mean``, ``sf(x)``, ``var`` or ``es``.

        * ``"sobol"``: the standard deviation of the ``R`` replicate estimates over
          ``sqrt(R)`` (replicates are i.i.d.; exact in expectation for ``mean`` and
          ``sf``, whose pooled estimate is the replicate mean).
        * ``"mc"`` / ``"importance"``, ``mean`` and ``sf``: ``sd(w h) / sqrt(n)`` with
          ``h`` the loss or the indicator ``loss > x`` and ``w`` the likelihood ratios
          (1 for plain Monte Carlo).
        * ``"mc"`` / ``"importance"``, ``var`` and ``es``: batch means over 16 contiguous
          batches of paths (rough for levels whose tail holds few paths per batch).

        Examples
        --------
        >>> from kamsim.datasets import synthetic_portfolio
        >>> from kamsim.scenario import Scenario
        >>> sc = Scenario(portfolio=synthetic_portfolio(40, rng=0), horizon_months=12)
        >>> res = simulate(sc, n_paths=4096, rng=3, sampler="sobol", qmc_replicates=8)
        >>> bool(res.standard_error("mean") < res.losses().std() / 64)  # below plain MC's
        True
        """
        values = self.losses(measure)
        match statistic:
            case "mean" | "sf":
                if statistic == "sf":
                    if x is None:
                        msg = "statistic 'sf' needs the threshold x"
                        raise ValueError(msg)
                    h = (values > x).astype(np.float64)
                else:
                    h = values
                if self.sampler == "sobol":
                    ests = np.array([h[g].mean() for g in self._groups()])
                    return float(ests.std(ddof=1) / math.sqrt(ests.size))
                if self.weights is not None:
                    h = self.weights * h
                return float(h.std(ddof=1) / math.sqrt(h.size))
            case "var" | "es":
                fn = risk.value_at_risk if statistic == "var" else risk.expected_shortfall
                ests = np.array([
                    fn(values[g], level, weights=None if self.weights is None else
                       _tail_anchored(values[g], self.weights[g] / (g.stop - g.start)))
                    for g in self._groups()])
                return float(ests.std(ddof=1) / math.sqrt(ests.size))
            case _:
                msg = (f"statistic must be one of ('mean', 'sf', 'var', 'es'), "
                       f"got {statistic!r}")
                raise ValueError(msg)

    @property
    def has_replacement(self) -> bool:
        """Whether the run simulated replacement (the scenario has assumptions for it)."""
        return self.monthly_cash_mean is not None

    def _need_replacement(self) -> None:
        if not self.has_replacement:
            msg = ("this result has no replacement outcomes; set Scenario(replacement="
                   "ReplacementAssumptions(...)) and simulate again")
            raise ValueError(msg)

    def recovery_summary(self, quantiles: Sequence[float] = (0.5, 0.8, 0.9),
                         *, given_loss: bool = True) -> pd.DataFrame:
        """Distribution of months to recover (see :func:`kamsim.replacement.recovery_summary`).

        ``given_loss=True`` uses only the paths with a loss (the others have nothing to
        recover); censored paths are kept and reported, never dropped.
        """
        self._need_replacement()
        m, r = self._recovery_arrays(given_loss)
        return recovery_summary(m, r, quantiles)

    def recovery_survival(self, *, given_loss: bool = True) -> pd.DataFrame:
        """Share of paths still not recovered after each month (survival-style curve)."""
        self._need_replacement()
        m, r = self._recovery_arrays(given_loss)
        return survival_curve(m, r, self.scenario.horizon_months)

    def _recovery_arrays(self, given_loss: bool) -> tuple[IntArray, npt.NDArray[np.bool_]]:
        m = self.per_path["months_to_recover"]
        r = self.per_path["recovered"]
        if given_loss:
            sel = self.per_path["first_loss_month"] > 0
            return m[sel], r[sel]
        return m, r

    def prob_out_of_cash(self) -> float:
        """Probability that cash goes below zero within the horizon.

        NaN when the scenario has no ``opening_cash``.
        """
        self._need_replacement()
        if self.scenario.opening_cash is None:
            return math.nan
        return self._mean_of(self.per_path["out_of_cash"])

    def expected_gap(self, measure: Literal["revenue", "gross_profit"] = "revenue"
                     ) -> float:
        """Expected area of the hole: mean cumulative revenue (or gross-profit) gap."""
        self._need_replacement()
        match measure:
            case "revenue":
                return self._mean_of(self.per_path["revenue_gap"])
            case "gross_profit":
                return self._mean_of(self.per_path["gross_profit_gap"])
            case _:
                msg = f"measure must be 'revenue' or 'gross_profit', got {measure!r}"
                raise ValueError(msg)

    # -- tables -------------------------------------------------------------------------
    def to_frame(self) -> pd.DataFrame:
        """Per-path outcomes, one row per path (index ``path``).

        Adds ``weight`` (likelihood ratio) under importance sampling and ``replicate``
        under quasi-Monte Carlo.
        """
        df = pd.DataFrame({k: v for k, v in self.per_path.items()})
        fm = df["first_month_below_break_even"]
        df["first_month_below_break_even"] = fm.astype("Int64").where(fm > 0)
        if self.weights is not None:
            df["weight"] = self.weights
        if self.sampler == "sobol":
            df["replicate"] = np.arange(self.n_paths) // (self.n_paths // self.qmc_replicates)
        df.index.name = "path"
        return df

    def losses(self, measure: LossMeasure = "run_rate_lost") -> FloatArray:
        """Per-path values of one loss measure."""
        if measure not in LOSS_MEASURES:
            msg = f"measure must be one of {LOSS_MEASURES}, got {measure!r}"
            raise ValueError(msg)
        return np.asarray(self.per_path[measure], dtype=np.float64)

    def var(self, level: float = 0.95, measure: LossMeasure = "run_rate_lost") -> float:
        """Value-at-Risk of ``measure`` (see :func:`kamsim.risk.value_at_risk`)."""
        return risk.value_at_risk(self.losses(measure), level, weights=self._probs(measure))

    def es(self, level: float = 0.95, measure: LossMeasure = "run_rate_lost") -> float:
        """Expected Shortfall of ``measure`` (see :func:`kamsim.risk.expected_shortfall`)."""
        return risk.expected_shortfall(self.losses(measure), level,
                                       weights=self._probs(measure))

    def sf(self, x: float, measure: LossMeasure = "run_rate_lost") -> float:
        """``P(loss > x)`` estimated from the paths (error: :meth:`standard_error`)."""
        if self.weights is None:
            return risk.exceedance_probability(self.losses(measure), x)
        return float(np.sum(self.weights[self.losses(measure) > x]) / self.n_paths)

    def risk_table(self, levels: Sequence[float] = risk.DEFAULT_LEVELS,
                   measure: LossMeasure = "run_rate_lost") -> pd.DataFrame:
        """VaR (with a confidence interval) and ES (with standard error).

        Plain Monte Carlo: a distribution-free order-statistic interval and the asymptotic
        ES error (:func:`kamsim.risk.risk_table`). QMC and importance sampling: the
        interval is ``var +- 1.96 se`` and ``es_se`` the error, both from
        :meth:`standard_error` (replicate spread, or batch means).
        """
        if self.sampler == "mc":
            t = risk.risk_table(self.losses(measure), levels)
        else:
            probs = self._probs(measure)
            t = risk.risk_table(self.losses(measure), levels,
                                weights=np.ones(self.n_paths) if probs is None else probs)
            se_var = np.array([self.standard_error("var", measure=measure, level=a)
                               for a in levels])
            t["var_low"] = t["var"].to_numpy() - 1.96 * se_var
            t["var_high"] = t["var"].to_numpy() + 1.96 * se_var
            t["es_se"] = [self.standard_error("es", measure=measure, level=a)
                          for a in levels]
        t.insert(0, "measure", measure)
        return t

    def prob_below_break_even(self) -> float:
        """Probability that monthly gross profit falls below fixed costs within the horizon."""
        return self._mean_of(self.per_path["first_month_below_break_even"] > 0)

    def account_table(self) -> pd.DataFrame:
        """Per account: simulated probability of loss by the horizon and expected loss.

        Columns ``account_id, name, revenue, churn_prob_annual, horizon_prob,
        simulated_loss_freq, expected_run_rate_lost``.
        """
        sc = self.scenario
        pf = sc.portfolio
        if self.weights is not None:
            assert self.account_lost_weight is not None
            freq = self.account_lost_weight / self.n_paths
            expected = self.account_revenue_lost / self.n_paths
        else:
            freq = self.account_lost_count / self.n_paths
            expected = self.account_revenue_lost / self.n_paths
        return pd.DataFrame({
            "account_id": pf.account_ids,
            "name": pf.names,
            "revenue": pf.revenue,
            "churn_prob_annual": sc.annual_probs(),
            "horizon_prob": sc.horizon_probs(),
            "simulated_loss_freq": freq,
            "expected_run_rate_lost": expected,
        })

    def monthly_quantiles(self, quantiles: Sequence[float] = (0.05, 0.25, 0.5, 0.75, 0.95),
                          measure: Literal["revenue", "gross_profit", "cash"] = "revenue"
                          ) -> pd.DataFrame:
        """Quantiles of monthly revenue (or gross profit, or cash) per month, for fan charts.

        Computed from fixed-grid histograms (resolution 1.5 x base / 4,000 = 0.0375 % of
        the base monthly value), so they do not depend on chunking. Cash (replacement runs
        only) uses a grid from the worst case (fixed and acquisition costs with no gross
        profit) to the best (1.5 x base gross profit) over the horizon, 4,000 bins.

        Returns
        -------
        pandas.DataFrame
            Index ``month`` (1..H), one column per quantile, plus ``mean``.
        """
        match measure:
            case "revenue":
                hist, lo, hi = self.monthly_revenue_hist, 0.0, self.hist_range[1]
                mean = self.monthly_revenue_mean
            case "gross_profit":
                hist = self.monthly_gross_profit_hist
                lo, hi = self.hist_range[2], self.hist_range[3]
                mean = self.monthly_gross_profit_mean
            case "cash":
                self._need_replacement()
                assert self.monthly_cash_hist is not None
                assert self.monthly_cash_mean is not None
                hist, (lo, hi) = self.monthly_cash_hist, self.cash_range
                mean = self.monthly_cash_mean
            case _:
                msg = f"measure must be 'revenue', 'gross_profit' or 'cash', got {measure!r}"
                raise ValueError(msg)
        width = (hi - lo) / HIST_BINS
        if self.weights is None:
            cdf = np.cumsum(hist, axis=1) / self.n_paths
        else:  # unnormalised IS cdf from the worst outcomes; leftover mass at the top
            cdf = np.minimum(np.cumsum(hist, axis=1) / self.n_paths, 1.0)
            cdf[:, -1] = 1.0
        data: dict[str, Any] = {}
        for qq in quantiles:
            idx = np.array([int(np.searchsorted(row, qq - 1e-12)) for row in cdf])
            data[f"q{qq:g}"] = lo + (np.minimum(idx, HIST_BINS - 1) + 0.5) * width
        data["mean"] = mean
        df = pd.DataFrame(data, index=pd.RangeIndex(1, len(mean) + 1, name="month"))
        return df

    def summary(self, levels: Sequence[float] = risk.DEFAULT_LEVELS) -> pd.DataFrame:
        """Headline figures as a tidy table (``metric``, ``value``, ``unit``).

        ``attrs["sampler"]`` names the sampler; QMC and importance-sampling runs add rows
        saying so (replicates; threshold, factor shift and effective sample size).
        """
        sc = self.scenario
        rows: list[tuple[str, float, str]] = [
            ("paths", float(self.n_paths), "count"),
            ("horizon", float(sc.horizon_months), "months"),
            ("base annual revenue", sc.portfolio.total_revenue, "currency"),
            ("expected run-rate revenue lost", self.mean("run_rate_lost"),
             "currency per year"),
            ("expected revenue lost within horizon", self.mean("revenue_lost"), "currency"),
            ("expected gross profit lost within horizon", self.mean("gross_profit_lost"),
             "currency"),
            ("expected accounts lost", self._mean_of(self.per_path["accounts_lost"]),
             "count"),
            ("P(no account lost)", self._mean_of(self.per_path["accounts_lost"] == 0),
             "probability"),
            ("P(below break-even within horizon)", self.prob_below_break_even(),
             "probability"),
        ]
        if self.has_replacement:
            rec = self.recovery_summary()
            for st, v, disp in rec[["statistic", "value", "display"]].itertuples(index=False):
                if st == "share_not_recovered":
                    rows.append(("share of paths with a loss not recovered", v,
                                 "probability"))
                else:
                    unit = "months" if math.isfinite(v) else f"months ({disp})"
                    rows.append((f"{st} months to recover (paths with a loss)", v, unit))
            rows += [
                ("expected revenue gap", self.expected_gap("revenue"), "currency"),
                ("expected gross profit gap", self.expected_gap("gross_profit"),
                 "currency"),
                ("expected lowest cash", float(np.mean(self.per_path["min_cash"])),
                 "currency"),
                ("P(out of cash within horizon)", self.prob_out_of_cash(), "probability"),
            ]
        for a in levels:
            rows.append((f"VaR {a:.1%} run-rate revenue lost", self.var(a), "currency per year"))
            rows.append((f"ES {a:.1%} run-rate revenue lost", self.es(a), "currency per year"))
        match self.sampler:
            case "sobol":
                rows.append(("sampler: scrambled Sobol' QMC replicates",
                             float(self.qmc_replicates), "count"))
            case "importance":
                rows += [
                    ("sampler: importance sampling threshold (run-rate loss)",
                     float(self.tail_threshold or 0.0), "currency per year"),
                    ("sampler: importance sampling factor shift", self.factor_shift,
                     "standard deviations"),
                    ("sampler: importance sampling effective sample size",
                     self.effective_sample_size, "paths"),
                ]
        df = pd.DataFrame(rows, columns=["metric", "value", "unit"])
        df.attrs["sampler"] = self.sampler
        return df

    def risk_contributions(self, level: float = 0.95,
                           measure: LossMeasure = "run_rate_lost",
                           executor: Executor | None = None) -> pd.DataFrame:
        """Which accounts drive the tail; see :func:`risk_contributions`."""
        return risk_contributions(self, level, measure=measure, executor=executor)


def _tail_anchored(values: FloatArray, mass: FloatArray) -> FloatArray:
    """Importance-sampling masses ``w / n`` made into probabilities, keeping the tail.

    The leftover ``1 - sum`` is added to the smallest value; an excess is removed from
    the smallest values upwards. Masses of the largest values are untouched, so tail
    probabilities, VaR and ES equal the unnormalised (tail) estimates.
    """
    m = np.array(mass, dtype=np.float64)
    order = np.argsort(values, kind="stable")
    total = float(m.sum())
    if total <= 1.0:
        m[order[0]] += 1.0 - total
    else:
        ms = m[order]
        before = np.cumsum(ms) - ms
        m[order] = ms - np.clip(total - 1.0 - before, 0.0, ms)
    return m


def risk_contributions(result: SimulationResult, level: float = 0.95, *,
                       measure: LossMeasure = "run_rate_lost",
                       executor: Executor | None = None) -> pd.DataFrame:
    """Each account's contribution to Expected Shortfall, ranked (which accounts drive the tail).

    Contributions follow Acerbi & Tasche (2002): each path beyond VaR weighs
    ``1 / (n (1 - level))``, and paths exactly at VaR share the remaining
    ``(F(VaR) - level) / (1 - level)``, so the contributions add up to the Monte Carlo
    Expected Shortfall exactly, as :meth:`kamsim.exact.ExactLossDistribution.risk_contributions`
    does for the exact distribution (the two can be swapped). Without ties at VaR this
    is each account's expected loss given ``L > VaR``, scaled by ``P(L > VaR) / (1 - level)``.

    The per-account losses are not stored by :func:`simulate` (that would cost
    paths x accounts memory): the run's random streams are regenerated from its recorded
    seed, block by block, which reproduces the same paths exactly.

    Returns
    -------
    pandas.DataFrame
        Columns ``rank, account_id, name, revenue, contribution, share_of_tail_loss``,
        sorted by contribution (largest first); ``attrs`` hold ``level``, ``measure``,
        ``es`` and ``tail_paths``.
    """
    if measure not in LOSS_MEASURES:
        msg = f"measure must be one of {LOSS_MEASURES}, got {measure!r}"
        raise ValueError(msg)
    totals = result.losses(measure)
    cutoff = result.var(level, measure)
    spec = _make_spec(result.scenario, result.seed, result.spawn_key, keep_paths=False)
    n_rep = result.qmc_replicates
    spec = _with_sampler(spec, result.sampler, result.n_paths // n_rep if n_rep else 0,
                         result.tail_threshold)
    n_blocks = math.ceil(result.n_paths / BLOCK_SIZE)
    per_task = 32
    tasks = [(spec, b, min(per_task, n_blocks - b), result.n_paths, measure, cutoff,
              totals[b * BLOCK_SIZE:(b + per_task) * BLOCK_SIZE])
             for b in range(0, n_blocks, per_task)]
    acc_gt = np.zeros(spec.revenue.size)
    acc_eq = np.zeros(spec.revenue.size)
    n_gt: float = 0
    n_eq: float = 0
    for a_gt, a_eq, c_gt, c_eq in _map(executor, _account_losses_in_tail, tasks, False,
                                       "contributions"):
        acc_gt += a_gt
        acc_eq += a_eq
        n_gt += c_gt
        n_eq += c_eq
    n = result.n_paths  # IS: tail sums are weighted, probabilities unnormalised (w / n)
    tail = 1.0 - level
    contrib = acc_gt / (n * tail)
    if n_eq:
        share_at_var = ((n - n_gt) / n - level) / tail  # F(VaR) - level, over 1 - level
        contrib += acc_eq * share_at_var / n_eq
    pf = result.scenario.portfolio
    total = contrib.sum()
    df = pd.DataFrame({
        "account_id": pf.account_ids,
        "name": pf.names,
        "revenue": pf.revenue,
        "contribution": contrib,
        "share_of_tail_loss": contrib / total if total > 0 else np.zeros_like(contrib),
    }).sort_values("contribution", ascending=False, kind="stable").reset_index(drop=True)
    df.insert(0, "rank", np.arange(1, len(df) + 1))
    df.attrs.update(level=level, measure=measure, es=float(contrib.sum()),
                    tail_paths=int(np.sum(totals >= cutoff)))
    return df
