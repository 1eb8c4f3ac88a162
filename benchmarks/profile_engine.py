"""Where the engine's time goes, stage by stage, as multiples of the floor (issue 19).

The floor is one float64 uniform per account-path drawn by numpy's PCG64 into a reused
2,048-path block, on one core. Stages (CPU time of this process, so other processes on a
shared machine disturb the figures less; minimum over blocks is not taken, sums are):

* draws, loss indicators and months: the drawer of
  :data:`kamsim.engine.kernel.LOSS_DRAWERS` (random numbers, the shared-shock
  transform, the comparison, the lost indices and their stop months);
* split: (path, account) of each loss;
* scatter: losses into (path, month) and per-path / per-account sums;
* monthly accumulation: cumulative sums to monthly paths, break-even, means;
* histograms: the per-month fixed-grid histograms;
* replacement: opportunity slots, wins, ramp-up, recovery and cash (replacement runs).

It replays the pure-numpy path's steps (:func:`kamsim.engine.kernel.scan_block` and
:func:`kamsim.engine.kernel.run_blocks`, under ``ckernel.disabled()``) with timers
between them. The compiled kernel does all stages but replacement in one call; its line
gives that call (one whole block without replacement, histograms included) and, inside
it, the cost of its raw 32-bit draws alone. Run:
``python benchmarks/profile_engine.py [--blocks 6]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np

from kamsim._util.rng import resolve_entropy
from kamsim.engine import ckernel
from kamsim.engine import kernel as K
from kamsim.model import ChurnAssumptions, ReplacementAssumptions, Scenario
from kamsim.portfolio.datasets import data_dir, synthetic_portfolio

clock = time.process_time


def profile(sc: Scenario, label: str, blocks: int) -> None:
    with ckernel.disabled():
        floor = _profile(sc, label, blocks)
    spec = K.make_spec(sc, *resolve_entropy(1), keep_paths=False)
    m, h, n = spec.revenue.size, spec.horizon, K.BLOCK_SIZE
    sub = K.sub_block(m)
    if spec.repl is None and K.compiled(spec):
        t_c = t_raw = 0.0
        for b in range(blocks):
            t0 = clock()
            K.reduce_compiled(spec, b, n, K.HistCounter(h), K.HistCounter(h))
            t_c += clock() - t0
            g = K.block_rng(spec, b)
            t0 = clock()
            for p0 in range(0, n, sub):
                K.raw_u32(g, min(sub, n - p0) * m)
            t_raw += clock() - t0
        print(f"== {label}, compiled kernel: {t_c / floor:.2f}x the floor "
              f"(of which its raw 32-bit draws {t_raw / floor:.2f}x)")


def _profile(sc: Scenario, label: str, blocks: int) -> float:
    spec = K.make_spec(sc, *resolve_entropy(1), keep_paths=False)
    m, h, n = spec.revenue.size, spec.horizon, K.BLOCK_SIZE
    times: dict[str, float] = {}
    floor_rng = np.random.default_rng(0)
    buf = np.empty((n, m))
    events = 0

    def lap(name: str, t0: float) -> float:
        times[name] = times.get(name, 0.0) + clock() - t0
        return clock()

    sub = K.sub_block(m)
    for b in range(blocks):
        t0 = clock()
        floor_rng.random(out=buf)
        t0 = lap("floor", t0)
        g = K.block_rng(spec, b)
        d_rev12 = np.empty((h, n))  # months x paths, as the kernel
        d_gp12 = np.empty((h, n))
        first = np.full(n, h + 1, dtype=np.int64)
        it = K.LOSS_DRAWERS[spec.copula](spec, g, n)
        while True:
            try:
                p0, idx, stop, _counts = next(it)
            except StopIteration:
                break
            t0 = lap("draws, loss indicators, months (+ shared-shock transform)", t0)
            k = min(sub, n - p0)
            path, account, per_path = K.split_index(idx, k, m)
            events += idx.size
            t0 = lap("split into (path, account)", t0)
            flat = (stop - 1) * k + path
            d_rev12[:, p0:p0 + k] = np.bincount(flat, spec.revenue.take(account),
                                                minlength=k * h).reshape(h, k)
            d_gp12[:, p0:p0 + k] = np.bincount(flat, spec.gross_profit.take(account),
                                               minlength=k * h).reshape(h, k)
            if spec.repl is not None and idx.size:
                has = per_path > 0
                starts = np.cumsum(per_path) - per_path
                first[p0:p0 + k][has] = np.minimum.reduceat(stop, starts[has])
            t0 = lap("scatter to (path, month) + per-path/account sums", t0)
        months_left = (h - np.arange(h)) / 12.0
        for d in (d_rev12, d_gp12):
            d.sum(axis=0)
            (d * months_left[:, None]).sum(axis=0)
        t0 = lap("scatter to (path, month) + per-path/account sums", t0)
        d_rev, d_gp = d_rev12 / 12.0, d_gp12 / 12.0
        rev_path = spec.revenue.sum() / 12 - K.cumsum_months(d_rev)
        gp_path = spec.gross_profit.sum() / 12 - K.cumsum_months(d_gp)
        if spec.repl is not None:
            t0 = lap("monthly accumulation (cumsum, break-even, means)", t0)
            extra = K.with_replacement(spec, b, first, np.ascontiguousarray(d_rev.T),
                                       np.ascontiguousarray(d_gp.T))
            rev_path, gp_path = extra["rev_path"].T, extra["gp_path"].T
            extra["cash"].sum(axis=0)
            K.hist_index(extra["cash"], spec.cash_top, spec.cash_bottom)
            t0 = lap("replacement slots, recovery, cash", t0)
        below = gp_path < spec.fixed_monthly - 1e-9 * abs(spec.fixed_monthly)
        np.where(below, np.arange(1, h + 1)[:, None], h + 1).min(axis=0)
        rev_path.sum(axis=1)
        gp_path.sum(axis=1)
        t0 = lap("monthly accumulation (cumsum, break-even, means)", t0)
        counter = K.HistCounter(h)
        counter.add(K.hist_index_months(rev_path, spec.rev_top))
        counter.add(K.hist_index_months(gp_path, spec.gp_top, spec.gp_bottom))
        counter.result()
        lap("histograms", t0)
    floor = times.pop("floor")
    total = sum(times.values())
    print(f"== {label}, pure numpy: {total / floor:.2f}x the floor "
          f"({floor / blocks * 1e3:.1f} ms CPU per {n} x {m} floor block); "
          f"losses per account-path {events / (blocks * n * m):.3f}")
    for name, t in times.items():
        print(f"   {name:52s} {t / floor:6.2f}x  {t / total:6.1%}")
    return floor


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--blocks", type=int, default=6)
    args = ap.parse_args()
    pf = synthetic_portfolio(1_000, top_share=0.05, rng=1)
    for rho in (0.0, 0.2):
        sc = Scenario(portfolio=pf, churn=ChurnAssumptions(correlation=rho),
                      horizon_months=60)
        profile(sc, f"1,000 accounts x 60 months, correlation {rho}", args.blocks)
    sample = Scenario.from_yaml(data_dir() / "sample_scenario.yaml")
    profile(sample, f"sample scenario ({sample.portfolio.n_accounts} accounts x "
            f"{sample.horizon_months} months)", args.blocks * 8)
    pf7 = synthetic_portfolio(1_000, rng=7)
    base = Scenario(portfolio=pf7, churn=ChurnAssumptions(correlation=0.2),
                    horizon_months=60, fixed_costs=0.85 * pf7.gross_profit.sum())
    repl = dataclasses.replace(
        base, opening_cash=0.1 * pf7.total_revenue,
        replacement=ReplacementAssumptions(opportunities_per_month=6, win_rate=0.25,
                                           acquisition_cost=10_000.0))
    profile(repl, "1,000 accounts x 60 months with replacement", max(2, args.blocks // 3))


if __name__ == "__main__":
    main()
