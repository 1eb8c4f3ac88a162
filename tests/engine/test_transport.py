"""What tasks hand back to the client (the bytes a dask worker sends) and how they are run.

A task's output is what a ``dask.distributed`` worker sends over the network for every
task, so it is kept small: per-path integers in the smallest unsigned type that holds
them, histograms trimmed to the bins any path reached, per-block sums as one array per
key. :func:`~kamsim.engine.kernel.fold_blocks` must give the same bits from every form.
On a dask client, the spec goes to the workers once and results come straight from the
workers; the numbers never depend on it (``test_reproducible`` checks every field).
"""

from __future__ import annotations

import pickle
from concurrent.futures import Future
from typing import Any

import numpy as np
import pytest

from kamsim._util.rng import resolve_entropy
from kamsim.engine import BLOCK_SIZE, simulate
from kamsim.engine.kernel import (
    FUSED_COLUMNS,
    HIST_BINS,
    fold_blocks,
    fused,
    make_spec,
    map_tasks,
    run_blocks,
)
from kamsim.model import ChurnAssumptions, Scenario
from kamsim.portfolio.datasets import synthetic_portfolio
from tests.engine.test_reproducible import compare_results

N_BLOCKS = 3
N_PATHS = N_BLOCKS * BLOCK_SIZE - 100  # the last block short


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    pf = synthetic_portfolio(300, rng=3)
    return Scenario(portfolio=pf, horizon_months=24,
                    churn=ChurnAssumptions(correlation=0.2),
                    fixed_costs=0.8 * pf.gross_profit.sum())


def task(sc: Scenario, **kw: Any) -> dict[str, Any]:
    entropy, key = resolve_entropy(7)
    return run_blocks(make_spec(sc, entropy, key, **kw), 0, N_BLOCKS, N_PATHS)


def shapes(h: int) -> dict[str, tuple[int, ...]]:
    return {"rev_sum": (h,), "gp_sum": (h,)}


def test_a_task_hands_back_about_35_bytes_a_path(scenario):
    out = task(scenario, keep_paths=False)
    assert out["accounts_lost"].dtype == np.uint16  # 300 accounts
    assert out["first_month_below_break_even"].dtype == np.uint8  # 24 months
    assert "partial_losses" not in out  # full losses only: no column of zeros
    assert all(v is not None for v in out.values())
    assert isinstance(out["blocks"], dict)  # one (blocks x months) array per sum
    assert out["blocks"]["rev_sum"].shape == (N_BLOCKS, 24)
    lo, counts = out["rev_hist"]
    assert counts.shape[0] == 24
    assert lo >= 0
    assert lo + counts.shape[1] <= HIST_BINS
    assert counts.dtype == np.uint16  # at most 6,044 paths in a bin
    assert int(counts.sum()) == 24 * N_PATHS
    # 4 float64 + uint16 + uint8 per path; histograms, counts and pickle framing on top
    size = len(pickle.dumps(out, protocol=5))
    assert 35 * N_PATHS < size < 35 * N_PATHS + 24 * HIST_BINS * 2 * 2 + 20_000


def as_sent_before(out: dict[str, Any]) -> dict[str, Any]:
    """The same output in the old forms: per-block dicts, full int32 histograms, int32."""
    old = {k: v for k, v in out.items() if k != "blocks"}
    b = out["blocks"]
    old["blocks"] = [{k: b[k][i] for k in b} for i in range(len(next(iter(b.values()))))]
    for k, v in out.items():
        if isinstance(v, tuple):
            full = np.zeros((v[1].shape[0], HIST_BINS), dtype=np.int32)
            full[:, v[0]:v[0] + v[1].shape[1]] = v[1]
            old[k] = full
        elif isinstance(v, np.ndarray) and v.dtype.kind == "u":
            old[k] = v.astype(np.int32)
    return old


def test_fold_gives_the_same_bits_from_every_form(scenario):
    entropy, key = resolve_entropy(11)
    spec = make_spec(scenario, entropy, key, keep_paths=False)
    n = 5 * BLOCK_SIZE + 7
    parts = [run_blocks(spec, b, 2, n) for b in (0, 2, 4)]
    new = fold_blocks(parts, shapes(24), n)
    old = fold_blocks([as_sent_before(p) for p in parts], shapes(24), n)
    mixed = fold_blocks([parts[0], as_sent_before(parts[1]), parts[2]], shapes(24), n)
    for other in (old, mixed):
        assert new.keys() == other.keys()
        for k in new:
            assert new[k].dtype == other[k].dtype, k
            assert new[k].tobytes() == other[k].tobytes(), k
    assert new["accounts_lost"].dtype == np.int64
    assert new["rev_hist"].shape == (24, HIST_BINS)


def test_columns_written_in_place_are_the_bits_a_task_would_send(scenario):
    """``run_blocks(out=)`` (runs in this process) writes what it would have returned."""
    entropy, key = resolve_entropy(11)
    spec = make_spec(scenario, entropy, key, keep_paths=False)
    if not fused(spec):
        pytest.skip("the compiled kernel is not built")
    n = 5 * BLOCK_SIZE + 7
    starts = (0, 2, 4)
    sent = fold_blocks([run_blocks(spec, b, 2, n) for b in starts], shapes(24), n)
    columns = {k: np.full(n, -1, dtype=t) for k, t in FUSED_COLUMNS.items()}
    parts = [run_blocks(spec, b, 2, n, {k: c[b * BLOCK_SIZE:(b + 2) * BLOCK_SIZE]
                                        for k, c in columns.items()}) for b in starts]
    assert parts[-1]["rows"] == BLOCK_SIZE + 7
    assert not set(FUSED_COLUMNS) & set(parts[0])  # nothing sent twice
    in_place = fold_blocks(parts, shapes(24), n, columns=columns)
    assert in_place.keys() == sent.keys()
    for k in sent:
        assert in_place[k].dtype == sent[k].dtype, k
        assert in_place[k].tobytes() == sent[k].tobytes(), k
    assert all(in_place[k] is columns[k] for k in FUSED_COLUMNS)
    with pytest.raises(AssertionError, match="fused"):  # only for runs it can write
        run_blocks(make_spec(scenario, entropy, key, keep_paths=True), 0, 1, n,
                   {k: c[:BLOCK_SIZE] for k, c in columns.items()})


def test_fold_into_small_pages_gives_the_same_bits(scenario):
    entropy, key = resolve_entropy(11)
    spec = make_spec(scenario, entropy, key, keep_paths=False)
    n = 2 * BLOCK_SIZE
    rows = 2**20  # columns of 8 MiB: big enough for the small pages (the rest unused)
    parts = [run_blocks(spec, 0, 1, n), run_blocks(spec, 1, 1, n)]
    huge = fold_blocks(parts, shapes(24), rows)
    small = fold_blocks(parts, shapes(24), rows, small_pages=True)
    for k in huge:
        a, b = (huge[k][:n], small[k][:n]) if huge[k].shape[:1] == (rows,) else (huge[k], small[k])
        assert a.dtype == b.dtype, k
        assert a.tobytes() == b.tobytes(), k


class FakeClient:
    """Stands in for a ``distributed.Client``: records what it is asked to do."""

    __module__ = "distributed.client"

    def __init__(self, direct_to_workers: bool | None = None) -> None:
        self.direct_to_workers = direct_to_workers
        self.held: list[Future[Any]] = []  # futures of single tasks (shared arguments)
        self.batches: list[list[tuple[Any, ...]]] = []  # arguments of each graph update
        self.gathered: list[tuple[int, bool | None]] = []  # (futures, direct) per call

    def submit(self, fn: Any, *args: Any, pure: bool = True, **kw: Any) -> Future[Any]:
        assert not pure
        f: Future[Any] = Future()
        f.set_result(fn(*args))
        self.held.append(f)
        return f

    def map(self, fn: Any, *iterables: Any, pure: bool = True, **kw: Any) -> list[Future[Any]]:
        assert not pure
        batch = list(zip(*iterables, strict=True))
        self.batches.append(batch)
        out = []
        for args in batch:  # dask passes a future's result in its place
            real = [a.result() if isinstance(a, Future) else a for a in args]
            f: Future[Any] = Future()
            f.set_result(fn(*real))
            out.append(f)
        return out

    def gather(self, futures: list[Future[Any]], direct: bool | None = None) -> list[Any]:
        self.gathered.append((len(futures), direct))
        return [f.result() for f in futures]


class FakeExecutor:
    """Stands in for ``Client.get_executor()`` (``distributed.cfexecutor``)."""

    __module__ = "distributed.cfexecutor"

    def __init__(self, client: FakeClient) -> None:
        self._client = client
        self._kwargs: dict[str, Any] = {}


def add(spec: dict[str, int], i: int, j: float) -> float:
    return spec["x"] + i + j


@pytest.mark.parametrize("direct", [None, False])
def test_dask_clients_get_the_spec_once_and_tasks_in_batches(direct):
    spec = {"x": 100}
    tasks = [(spec, i, 0.5) for i in range(21)]
    for client in (FakeClient(direct), FakeClient(direct)):
        ex = client if direct is None else FakeExecutor(client)
        out = list(map_tasks(ex, add, tasks, progress=False, desc="", window=8))  # type: ignore[arg-type]
        assert out == [100.5 + i for i in range(21)]
        assert [f.result() for f in client.held] == [spec]  # once, not with each task
        # the window, then a quarter of it at a time
        assert [len(b) for b in client.batches] == [8, 2, 2, 2, 2, 2, 2, 1]
        args = [a for b in client.batches for a in b]
        assert [a[1:] for a in args] == [t[1:] for t in tasks]
        assert all(a[0] is client.held[0] for a in args)
        # every future is done at once here: each gather takes all that are pending
        assert sum(n for n, _ in client.gathered) == 21
        assert {d for _, d in client.gathered} == {direct is not False}


def test_a_dask_executor_without_its_client_is_driven_as_any_executor():
    from concurrent.futures import ThreadPoolExecutor

    class Opaque(ThreadPoolExecutor):
        """A ``distributed`` executor whose client cannot be found (renamed attribute)."""

    Opaque.__module__ = "distributed.cfexecutor"
    tasks = [({"x": 2}, i, 0.0) for i in range(5)]
    with Opaque(2) as ex:
        assert list(map_tasks(ex, add, tasks, False, "", window=2)) == [2.0 + i for i in range(5)]


def test_other_executors_keep_the_window(scenario):
    from concurrent.futures import ThreadPoolExecutor

    spec = {"x": 1}
    tasks = [(spec, i, 0.0) for i in range(10)]
    with ThreadPoolExecutor(2) as ex:
        assert list(map_tasks(ex, add, tasks, False, "", window=3)) == [1.0 + i for i in range(10)]


@pytest.mark.slow
def test_a_client_passed_as_such_or_relaying_through_the_scheduler(scenario):
    import distributed

    n = 4 * BLOCK_SIZE + 3
    ref = simulate(scenario, n_paths=n, rng=5, threads=1)
    for direct in (None, False):
        with distributed.Client(processes=True, n_workers=2, threads_per_worker=1,
                                dashboard_address="127.0.0.1:0",
                                direct_to_workers=direct) as client:
            res = simulate(scenario, n_paths=n, rng=5, chunk_size=BLOCK_SIZE,
                           executor=client)  # type: ignore[arg-type]
            compare_results(ref, res, f"client itself, direct_to_workers={direct}")
            res = simulate(scenario, n_paths=n, rng=5, chunk_size=BLOCK_SIZE,
                           executor=client.get_executor())
            compare_results(ref, res, f"get_executor(), direct_to_workers={direct}")


def test_dask_client_checks_n_workers():
    from kamsim.engine.simulate import dask_client
    from kamsim.exceptions import AssumptionError

    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(AssumptionError, match="n_workers"):
            dask_client(n_workers=bad)  # type: ignore[arg-type]


@pytest.mark.slow
def test_dask_client_slows_down_the_bookkeeping_and_gives_the_same_bits(scenario):
    import dask

    from kamsim.engine.simulate import DASK_CONFIG, dask_client

    n = 3 * BLOCK_SIZE + 1
    ref = simulate(scenario, n_paths=n, rng=9, threads=1)
    before = dask.config.get("distributed.admin.tick.interval")
    with dask_client(n_workers=2, dashboard_address="127.0.0.1:0") as client:
        assert len(client.scheduler_info()["workers"]) == 2
        seen = client.run(lambda: {k: dask.config.get(k) for k in DASK_CONFIG})
        assert all(v == DASK_CONFIG for v in seen.values())
        res = simulate(scenario, n_paths=n, rng=9, chunk_size=BLOCK_SIZE, executor=client)
        compare_results(ref, res, "dask_client")
    assert dask.config.get("distributed.admin.tick.interval") == before  # left as it was


@pytest.mark.slow
def test_a_cluster_without_workers_yet_runs_once_they_come(scenario):
    """An adaptive cluster may start with no worker: the tasks wait for one."""
    import threading

    import distributed

    n = 2 * BLOCK_SIZE
    ref = simulate(scenario, n_paths=n, rng=3, threads=1)
    with distributed.LocalCluster(n_workers=0, threads_per_worker=1, processes=True,
                                  dashboard_address="127.0.0.1:0") as cluster, \
            distributed.Client(cluster) as client:
        out: dict[str, Any] = {}
        run = threading.Thread(target=lambda: out.update(res=simulate(
            scenario, n_paths=n, rng=3, chunk_size=BLOCK_SIZE, executor=client)))
        run.start()
        run.join(3.0)  # longer than scatter's wait for workers (2 s)
        assert run.is_alive()
        cluster.scale(1)
        run.join(60.0)
        assert not run.is_alive()
    compare_results(ref, out["res"], "workers after the tasks")
