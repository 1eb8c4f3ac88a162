"""Monte Carlo entry points: :func:`simulate` and :func:`churn_events`."""

from __future__ import annotations

import math
import os
import threading
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

import kamsim.engine.samplers as _samplers
from kamsim._util.rng import resolve_entropy
from kamsim._util.validate import whole
from kamsim.engine.kernel import (
    BLOCK_SIZE,
    DEFAULT_QMC_REPLICATES,
    HIST_BINS,
    REPLACEMENT_COLUMNS,
    SAMPLERS,
    Sampler,
    Spec,
    draw_events,
    fold_blocks,
    fused,
    fused_columns,
    make_spec,
    map_tasks,
    run_blocks,
    sobol_dim,
    with_sampler,
)
from kamsim.engine.result import ReplacementOutcome, SimulationResult
from kamsim.exceptions import ArgumentTypeError, AssumptionError
from kamsim.model.scenario import Scenario
from kamsim.risk.exact import loss_distribution

__all__ = [
    "DASK_CONFIG",
    "churn_events",
    "dask_client",
    "simulate",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Runs of at least this many account-paths use every core by default (``threads``).
AUTO_THREADS_MIN = 2**20


def simulate(
    scenario: Scenario,
    *,
    n_paths: int = 10_000,
    rng: np.random.Generator | np.random.SeedSequence | int | None = None,
    executor: Executor | None = None,
    threads: int | None = None,
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
        ``get_executor()``); results do not depend on it. On a dask client the spec is
        sent to every worker once and results are fetched straight from the workers
        (a client that can reach only the scheduler needs ``direct_to_workers=False``).
    threads : int, optional
        Without ``executor``: threads that run blocks (numpy releases the GIL in the
        random-number generator and the array kernels). Default: every core the process
        may use for runs of at least 2^20 account-paths, else 1. Results are bitwise
        identical for any number of threads.
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
        loss (:func:`kamsim.risk.exact.loss_distribution`).
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
        ``"importance"`` with replacement, the double-t model, or a threshold outside
        ``(0, total revenue of accounts that can be lost)``; ``"sobol"`` with more
        dimensions than the Sobol' generator supports.

    Notes
    -----
    *Quasi-Monte Carlo.* Path ``p`` is point ``p mod 2^k`` of replicate ``p // 2^k``;
    replicate ``r`` is a Sobol' sequence in ``accounts`` dimensions plus one per shared
    factor (the factors first, then, for the t copula, one for its chi-square mixing
    variable, then the accounts' own noise; normals by the inverse normal CDF, the
    chi-square and Student-t terms by their inverse CDFs), scrambled
    with the stream ``SeedSequence(entropy, spawn_key=(*spawn_key, r, 2))`` and
    fast-forwarded block by block, so results do not depend on ``chunk_size`` or the
    executor. Only the churn indicators (and so the decision months, which come from the
    same uniforms) are quasi-random; partial-loss fractions and replacement draw from the
    usual pseudo-random block streams. With a few dominant accounts the loss is a step
    function of the points, so the gain over plain Monte Carlo is largest for means and
    moderate tail probabilities.

    *Importance sampling* (one-factor Gaussian, several factors and the t copula; full
    or partial churn; no replacement). The factor is drawn from
    ``N(mu, 1)``, ``mu`` maximising ``F(z) - z^2 / 2`` with ``F(z) = min_theta psi(theta, z)
    - theta x`` the conditional large-deviation bound at the threshold ``x``; given the
    factor, account ``i`` is lost with the exponentially tilted probability
    ``p_i e^{theta w_i} / (1 + p_i (e^{theta w_i} - 1))``, ``w_i`` its revenue and
    ``theta = theta_x(z) >= 0`` solving ``psi'(theta, z) = x``. Given the factor and the
    loss, decision months follow the original conditional law, so ``revenue_lost`` and
    the monthly paths stay right in law. With partial churn, each loss's fraction is
    drawn after the indicators from its original law (partial with probability
    ``partial_prob``, then ``Beta(*partial_beta)``), independent of the indicator and not
    tilted, so the likelihood ratio is the same; the twist targets the full-loss revenue,
    so it tilts a little less than the partial loss would need (on the 30-account test
    portfolio the variance reduction at the 99.9 % tail probability is about 70x with
    ``partial_prob=0.3``, against about 400x with full churn). Several factors and the t
    copula shift the factors (and tilt the chi-square) to the design point instead of
    one factor (``kamsim.engine.samplers``). Each path's likelihood ratio is in
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
    >>> from kamsim.portfolio.datasets import synthetic_portfolio
    >>> from kamsim.model import ChurnAssumptions, Scenario
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

    Importance sampling with partial churn (a lost account may only cut its spend):

    >>> cut = simulate(sc.with_churn(partial_prob=0.3), n_paths=4096, rng=42,
    ...                sampler="importance")
    >>> bool(cut.per_path["partial_losses"].sum() > 0), cut.sampler
    (True, 'importance')
    """
    if not isinstance(scenario, Scenario):
        msg = f"scenario must be a Scenario, got {type(scenario).__name__}"
        raise ArgumentTypeError(msg)
    whole(n_paths, "n_paths", lo=1)
    if chunk_size < 1:
        msg = f"chunk_size must be >= 1, got {chunk_size}"
        raise AssumptionError(msg)
    n_paths = int(n_paths)
    entropy, spawn_key = resolve_entropy(rng)
    spec = make_spec(scenario, entropy, spawn_key, keep_paths)
    sampler, n_rep, threshold = _check_sampler(scenario, spec, n_paths, sampler,
                                               tail_threshold, qmc_replicates)
    spec = with_sampler(spec, sampler, n_paths // n_rep if n_rep else 0, threshold)
    n_blocks = math.ceil(n_paths / BLOCK_SIZE)
    per_task = max(1, math.ceil(chunk_size / BLOCK_SIZE))
    n_threads = 1 if executor is not None else _threads(threads, n_paths * spec.revenue.size)
    if n_threads > 1:  # smaller tasks balance the threads (never changes the numbers)
        per_task = min(per_task, max(1, n_blocks // (4 * n_threads)))
    tasks: list[tuple[Any, ...]] = [(spec, b, min(per_task, n_blocks - b), n_paths)
                                    for b in range(0, n_blocks, per_task)]
    # in this process the kernel writes the per-path columns where they end up (no copy)
    columns: dict[str, Any] = {}
    if (executor is None or isinstance(executor, ThreadPoolExecutor)) and fused(spec):
        columns = {k: np.empty(n_paths, dtype=t) for k, t in fused_columns(spec).items()}
        tasks = [(*t, {k: c[t[1] * BLOCK_SIZE:min((t[1] + t[2]) * BLOCK_SIZE, n_paths)]
                       for k, c in columns.items()}) for t in tasks]
    if progress is None:
        progress = n_paths * spec.revenue.size >= 10**8
    if n_threads > 1:
        return _simulate_tasks(scenario, spec, tasks, _thread_pool(n_threads), progress,
                               n_paths, entropy, spawn_key, sampler, n_rep, threshold,
                               keep_paths, window=2 * n_threads, columns=columns)
    return _simulate_tasks(scenario, spec, tasks, executor, progress, n_paths, entropy,
                           spawn_key, sampler, n_rep, threshold, keep_paths,
                           columns=columns)


#: Thread pools of this process by size, kept between runs (pid: not after a fork).
_POOLS: dict[int, tuple[int, ThreadPoolExecutor]] = {}
_POOLS_LOCK = threading.Lock()


def _thread_pool(n: int) -> ThreadPoolExecutor:
    """A pool of ``n`` threads for the blocks of runs in this process, made once.

    Starting threads for every run costs a run of 100,000 paths over 35 accounts about a
    tenth of its time; the pool's threads wait idle in between. Its tasks never wait on
    each other, so runs from several threads at once can share it.
    """
    with _POOLS_LOCK:
        hit = _POOLS.get(n)
        if hit is None or hit[0] != os.getpid():
            hit = (os.getpid(), ThreadPoolExecutor(n, thread_name_prefix="kamsim"))
            _POOLS[n] = hit
        return hit[1]


def _threads(threads: int | None, account_paths: int) -> int:
    """Threads for a run: as asked, else all usable cores for large runs."""
    if threads is None:
        if account_paths < AUTO_THREADS_MIN:
            return 1
        return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                   else os.cpu_count() or 1)
    if not isinstance(threads, int | np.integer) or isinstance(threads, bool) or threads < 1:
        msg = f"threads must be a whole number >= 1, got {threads!r}"
        raise AssumptionError(msg, field="threads")
    return int(threads)


def _simulate_tasks(scenario: Scenario, spec: Spec, tasks: list[tuple[Any, ...]],
                    executor: Executor | None, progress: bool, n_paths: int,
                    entropy: int | tuple[int, ...], spawn_key: tuple[int, ...],
                    sampler: Sampler, n_rep: int, threshold: float | None,
                    keep_paths: bool, window: int = 32,
                    columns: dict[str, Any] | None = None) -> SimulationResult:
    """Run the tasks and assemble the result (sums folded in block order).

    At most ``window`` tasks run or wait ahead of the one being added in. ``columns``:
    per-path columns the tasks write in place (their views are the tasks' last
    argument).
    """
    h = spec.horizon
    m = spec.revenue.size
    weighted = sampler == "importance"
    shapes: dict[str, tuple[int, ...]] = {
        "lost_rev": (m,), "lost_weight": (m,), "weight_sum": (), "rev_sum": (h,),
        "gp_sum": (h,), "cash_sum": (h,), "repl_sum": (h,)}
    if weighted:
        shapes.update(rev_hist=(h, HIST_BINS), gp_hist=(h, HIST_BINS))
    # outputs from other processes (dask, a process pool) land in small pages
    tot = fold_blocks(map_tasks(executor, run_blocks, tasks, progress, "simulate", window),
                      shapes, n_paths, small_pages=executor is not None
                      and not isinstance(executor, ThreadPoolExecutor), columns=columns)
    if "partial_losses" not in tot:  # full losses only (tasks send no column of zeros)
        tot["partial_losses"] = np.zeros(n_paths, dtype=np.int64)
    per_path = {k: tot[k] for k in (
        "run_rate_lost", "revenue_lost", "gross_profit_lost", "run_rate_gross_profit_lost",
        "accounts_lost", "partial_losses", "first_month_below_break_even")}
    has_repl = spec.repl is not None
    if has_repl:
        per_path.update({k: tot[k] for k in REPLACEMENT_COLUMNS})
    lost_rev = tot["lost_rev"]
    if not weighted and not np.any(spec.partial > 0):
        lost_rev = tot["lost_count"] * spec.revenue  # full losses: exact from the counts
    if weighted:
        assert spec.plan is not None
        return SimulationResult(
            scenario=scenario, n_paths=n_paths, seed=entropy, spawn_key=spawn_key,
            per_path=per_path, account_lost_count=tot["lost_count"],
            account_revenue_lost=lost_rev,
            monthly_revenue_hist=tot["rev_hist"],
            monthly_gross_profit_hist=tot["gp_hist"],
            monthly_revenue_mean=spec.revenue.sum() / 12.0 - tot["rev_sum"] / n_paths,
            monthly_gross_profit_mean=(spec.gross_profit.sum() / 12.0
                                       - tot["gp_sum"] / n_paths),
            hist_range=(0.0, spec.rev_top, spec.gp_bottom, spec.gp_top),
            monthly_revenue_paths=tot["paths"] if keep_paths else None,
            sampler="importance", weights=tot["weights"], tail_threshold=threshold,
            factor_shift=(spec.plan.mu if isinstance(spec.plan.mu, float)
                          else float(spec.plan.mu[0])),  # the global factor's shift
            account_lost_weight=tot["lost_weight"],
        )
    return SimulationResult(
        scenario=scenario,
        n_paths=n_paths,
        seed=entropy,
        spawn_key=spawn_key,
        per_path=per_path,
        account_lost_count=tot["lost_count"],
        account_revenue_lost=lost_rev,
        monthly_revenue_hist=tot["rev_hist"],
        monthly_gross_profit_hist=tot["gp_hist"],
        monthly_revenue_mean=tot["rev_sum"] / n_paths,
        monthly_gross_profit_mean=tot["gp_sum"] / n_paths,
        hist_range=(0.0, spec.rev_top, spec.gp_bottom, spec.gp_top),
        monthly_revenue_paths=tot["paths"] if keep_paths else None,
        replacement=ReplacementOutcome(
            scenario=scenario, n_paths=n_paths,
            per_path={k: per_path[k] for k in REPLACEMENT_COLUMNS},
            monthly_cash_mean=tot["cash_sum"] / n_paths,
            monthly_replacement_mean=tot["repl_sum"] / n_paths,
            monthly_cash_hist=tot["cash_hist"],
            cash_range=(spec.cash_bottom, spec.cash_top),
            monthly_cash_paths=tot["cash_paths"] if keep_paths else None,
        ) if has_repl else None,
        sampler=sampler, qmc_replicates=n_rep,
    )


#: dask settings of :func:`dask_client`: dask's background bookkeeping, slowed down (dask's
#: defaults: a tick of every event loop each 20 ms, the memory monitor each 100 ms, the
#: system monitor each 500 ms, a statistical profile of every worker each 10 ms).
DASK_CONFIG: dict[str, Any] = {
    "distributed.admin.tick.interval": "1s",
    "distributed.worker.memory.monitor-interval": "1s",
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.worker.profile.enabled": False,
}


def dask_client(n_workers: int | None = None, **kwargs: Any) -> Any:
    """A ``dask.distributed`` client of a new local cluster, set up for :func:`simulate`.

    One worker process of one thread per core (a task runs compiled code or numpy in one
    thread; more threads per process would share one interpreter), with dask's
    background bookkeeping slowed down (:data:`DASK_CONFIG`): with dask's defaults an
    idle two-worker cluster keeps about 9 % of a core busy (the client's process, which
    runs the scheduler, about 3 %, each worker about 2.5 %), with these about 1.5 %.
    That is the share taken from the simulation on a machine whose every core runs a
    worker. Pass the client as ``simulate(..., executor=client)``; closing it (or
    leaving its ``with`` block) closes the cluster. Needs the ``dask`` extra.

    Parameters
    ----------
    n_workers : int, optional
        Worker processes; default: every core the process may use.
    **kwargs
        Passed on to ``distributed.Client`` (and so to ``distributed.LocalCluster``),
        e.g. ``dashboard_address=":8787"`` or ``memory_limit="4GiB"``; they override
        the defaults above (``threads_per_worker=1``, ``processes=True``).

    Returns
    -------
    distributed.Client

    Raises
    ------
    AssumptionError
        If ``n_workers`` is not a whole number >= 1.

    Examples
    --------
    >>> from kamsim.portfolio.datasets import synthetic_portfolio
    >>> from kamsim.model import Scenario
    >>> sc = Scenario(portfolio=synthetic_portfolio(50, rng=0), horizon_months=12)
    >>> with dask_client(n_workers=2) as client:  # doctest: +SKIP
    ...     res = simulate(sc, n_paths=10**6, rng=1, executor=client)
    >>> res.n_paths  # doctest: +SKIP
    1000000
    """
    import dask
    import distributed

    n = _threads(None, AUTO_THREADS_MIN) if n_workers is None else n_workers
    if not isinstance(n, int | np.integer) or isinstance(n, bool) or n < 1:
        msg = f"n_workers must be a whole number >= 1, got {n_workers!r}"
        raise AssumptionError(msg, field="n_workers")
    options: dict[str, Any] = {"n_workers": int(n), "threads_per_worker": 1,
                               "processes": True, **kwargs}
    with dask.config.set(DASK_CONFIG):  # read by the cluster, its workers and the client
        return distributed.Client(**options)  # type: ignore[no-untyped-call]


def _check_sampler(scenario: Scenario, spec: Spec, n_paths: int, sampler: str,
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
    if spec.copula == "double_t" and sampler == "importance":
        what = f"copula={spec.copula!r}"
        covers = "the Gaussian and t copulas (one or several factors)"
        msg = (f"sampler={sampler!r} covers {covers}; this scenario has {what}: use "
               "sampler='mc' (the exact twin, kamsim.risk.exact, gives its tail exactly)")
        raise AssumptionError(msg, field="sampler")
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
            dim = sobol_dim(spec)
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


def _check_importance(scenario: Scenario, spec: Spec, tail_threshold: float | None
                      ) -> float:
    """Validate an importance-sampling run; return its threshold (run-rate loss).

    Partial churn needs no check: the kernel draws the fractions after the weighted loss
    indicators, from the block generator under the original law, so they do not enter
    the likelihood ratio (``kamsim.engine.kernel.draw_events``).
    """
    if scenario.replacement is not None:
        msg = ("sampler='importance' does not support replacement (the replacement "
               "process is not reweighted); drop Scenario.replacement or use sampler='mc' "
               "or 'sobol'")
        raise AssumptionError(msg, field="replacement")
    reach = float(spec.revenue[spec.q > 0].sum())
    if tail_threshold is None:
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
    >>> from kamsim.portfolio.datasets import synthetic_portfolio
    >>> from kamsim.model import ChurnAssumptions, Scenario
    >>> sc = Scenario(portfolio=synthetic_portfolio(30, rng=0), horizon_months=12,
    ...               churn=ChurnAssumptions(notice_months=2))
    >>> ev = churn_events(sc, n_paths=1000, rng=1)
    >>> bool((ev["stop_month"] == ev["decision_month"] + 2).all())
    True
    >>> int(simulate(sc, n_paths=1000, rng=1).per_path["accounts_lost"].sum()) == len(ev)
    True
    """
    entropy, spawn_key = resolve_entropy(rng)
    spec = make_spec(scenario, entropy, spawn_key, keep_paths=False)
    parts = []
    for b in range(math.ceil(n_paths / BLOCK_SIZE)):
        n = min(BLOCK_SIZE, n_paths - b * BLOCK_SIZE)
        ev = draw_events(spec, b, n)
        parts.append(pd.DataFrame({
            "path": ev.path + b * BLOCK_SIZE, "account": ev.account,
            "stop_month": ev.stop, "fraction": np.array(ev.frac)}))
    df = pd.concat(parts, ignore_index=True)
    df.insert(2, "account_id", scenario.portfolio.account_ids[df["account"].to_numpy()])
    df.insert(3, "decision_month", df["stop_month"] - spec.notice)
    return df


