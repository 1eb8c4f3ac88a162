"""Bitwise reproducibility of every output of the engine for any chunk size and executor.

Every field of :class:`~kamsim.engine.SimulationResult` (``dataclasses.fields``, so a new
field is covered without editing this file; per-path columns one by one, and every field
of its :class:`~kamsim.engine.ReplacementOutcome`) and the tables derived from them
(``account_table``, ``summary``, ``monthly_quantiles``, ``recovery_summary``,
``risk_contributions``) must be *bitwise* equal for chunk sizes 1,
2,048, 3 x 2,048 and the default, serially, on a thread pool and on a dask cluster, and
for any number of engine threads. Floating-point sums are added block by block in block
order, so grouping blocks into tasks cannot change a rounding.
"""

from __future__ import annotations

import dataclasses
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
import pytest

from kamsim.engine import BLOCK_SIZE, SimulationResult, simulate
from kamsim.model import ChurnAssumptions, ReplacementAssumptions, Scenario
from kamsim.portfolio.datasets import synthetic_portfolio

N_PATHS = 7 * BLOCK_SIZE + 5  # eight blocks (the last one short): 3 x 2,048 splits 3 + 3 + 2
CHUNKS = [1, BLOCK_SIZE, 3 * BLOCK_SIZE, None]  # None: the default chunk size


@pytest.fixture(scope="module")
def scenarios() -> dict[str, tuple[Scenario, dict[str, Any]]]:
    pf = synthetic_portfolio(60, rng=11)
    base = Scenario(portfolio=pf, horizon_months=12,
                    churn=ChurnAssumptions(correlation=0.25, partial_prob=0.3),
                    fixed_costs=0.85 * pf.gross_profit.sum())
    repl = dataclasses.replace(
        base, opening_cash=0.05 * pf.total_revenue,
        replacement=ReplacementAssumptions(opportunities_per_month=3, win_rate=0.3,
                                           acquisition_cost=5_000.0))
    full = base.with_churn(partial_prob=0.0)
    return {
        "correlated, partial, replacement, kept paths": (repl, {"keep_paths": True}),
        "independent, full": (base.with_churn(correlation=0.0, partial_prob=0.0), {}),
        "importance sampling": (full, {"sampler": "importance"}),
    }


def bitwise_equal(a: Any, b: Any, where: str) -> None:
    """Assert ``a`` and ``b`` are the same bits (arrays: dtype, shape and bytes)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        assert a.dtype == b.dtype, where
        assert a.shape == b.shape, where
        assert a.tobytes() == b.tobytes(), f"{where}: values differ"
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            bitwise_equal(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            bitwise_equal(x, y, f"{where}[{i}]")
    elif isinstance(a, float):
        assert np.float64(a).tobytes() == np.float64(b).tobytes(), where
    elif dataclasses.is_dataclass(a) and not isinstance(a, type):
        assert type(a) is type(b), where
        for f in dataclasses.fields(a):
            if f.name != "scenario":
                bitwise_equal(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
    elif isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b, check_exact=True, obj=where)
        for c in a.columns:
            if a[c].dtype.kind == "f":
                bitwise_equal(a[c].to_numpy(), b[c].to_numpy(), f"{where}.{c}")
    else:
        assert a == b, where


def compare_results(ref: SimulationResult, res: SimulationResult, label: str) -> None:
    for f in dataclasses.fields(SimulationResult):
        if f.name == "scenario":
            assert ref.scenario is res.scenario
            continue
        bitwise_equal(getattr(ref, f.name), getattr(res, f.name), f"{label}: {f.name}")
    bitwise_equal(ref.account_table(), res.account_table(), f"{label}: account_table")
    bitwise_equal(ref.summary(), res.summary(), f"{label}: summary")
    bitwise_equal(ref.monthly_quantiles(), res.monthly_quantiles(),
                  f"{label}: monthly_quantiles")
    if ref.replacement is not None:
        assert res.replacement is not None
        bitwise_equal(ref.monthly_quantiles(measure="cash"),
                      res.monthly_quantiles(measure="cash"), f"{label}: cash quantiles")
        bitwise_equal(ref.replacement.recovery_summary(), res.replacement.recovery_summary(),
                      f"{label}: recovery_summary")


@pytest.mark.parametrize("name", [
    "correlated, partial, replacement, kept paths", "independent, full",
    "importance sampling"])
def test_every_field_bitwise_for_any_chunk_and_thread_pool(scenarios, name):
    sc, kw = scenarios[name]
    ref = simulate(sc, n_paths=N_PATHS, rng=2024, threads=1, **kw)
    contrib = ref.risk_contributions(0.9)
    for chunk in CHUNKS:
        ck = {} if chunk is None else {"chunk_size": chunk}
        res = simulate(sc, n_paths=N_PATHS, rng=2024, threads=1, **ck, **kw)
        compare_results(ref, res, f"{name}, chunk {chunk}")
        with ThreadPoolExecutor(3) as ex:
            res = simulate(sc, n_paths=N_PATHS, rng=2024, executor=ex, **ck, **kw)
            compare_results(ref, res, f"{name}, chunk {chunk}, thread pool")
            bitwise_equal(contrib, res.risk_contributions(0.9, executor=ex),
                          f"{name}, chunk {chunk}: risk_contributions")
    for threads in (2, 3):  # the engine's own thread pool
        res = simulate(sc, n_paths=N_PATHS, rng=2024, threads=threads, **kw)
        compare_results(ref, res, f"{name}, {threads} engine threads")
    running = threading.active_count()  # the engine's pools are kept, not made again
    res = simulate(sc, n_paths=N_PATHS, rng=2024, threads=3, **kw)
    compare_results(ref, res, f"{name}, 3 engine threads again")
    assert threading.active_count() == running


@pytest.mark.slow
def test_every_field_bitwise_on_a_dask_cluster(scenarios):
    import distributed

    with distributed.Client(processes=True, n_workers=2, threads_per_worker=1,
                            dashboard_address="127.0.0.1:0") as client:
        for name, (sc, kw) in scenarios.items():
            ref = simulate(sc, n_paths=N_PATHS, rng=7, threads=1, **kw)
            for chunk in (1, 3 * BLOCK_SIZE):
                res = simulate(sc, n_paths=N_PATHS, rng=7, chunk_size=chunk,
                               executor=client.get_executor(), **kw)
                compare_results(ref, res, f"{name}, dask, chunk {chunk}")
            bitwise_equal(ref.risk_contributions(0.9),
                          res.risk_contributions(0.9, executor=client.get_executor()),
                          f"{name}, dask: risk_contributions")
