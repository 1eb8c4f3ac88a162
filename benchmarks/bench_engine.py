"""Benchmark of the Monte Carlo churn engine (issue 4), reported as ratios within one run.

Workload: 1,000 accounts, 100,000 paths, 60 months.

* engine time / time to draw one float64 uniform per account-path with the same generator
  (targets: <= 2x independent churn, <= 3x with shared shocks);
* speed-up over a straightforward month-by-month simulation (a vectorised loop over months
  that draws a uniform per alive account and path each month);
* peak memory (max RSS) of a 1,000,000-path x 1,000-account run, in a fresh process.

Run: ``python benchmarks/bench_engine.py [--quick]``. Timings are the minimum of repeats.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

import numpy as np

from kamsim.engine import simulate
from kamsim.model import ChurnAssumptions, Scenario
from kamsim.portfolio.datasets import synthetic_portfolio


def best(fn, repeat=3):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def month_by_month(sc: Scenario, n_paths: int, rng: np.random.Generator) -> np.ndarray:
    """Straightforward baseline: each month, each alive account churns with its hazard."""
    h = sc.monthly_hazards()
    rev = sc.portfolio.revenue
    alive = np.ones((n_paths, rev.size), dtype=bool)
    lost = np.zeros(n_paths)
    for _month in range(sc.horizon_months):
        u = rng.random((n_paths, rev.size))
        churn = alive & (u < h)
        lost += churn @ rev
        alive &= ~churn
    return lost


def peak_memory(n_paths: int, n_accounts: int) -> float:
    code = f"""
import resource
from kamsim.portfolio.datasets import synthetic_portfolio
from kamsim.engine import simulate
from kamsim.model import ChurnAssumptions, Scenario
pf = synthetic_portfolio({n_accounts}, top_share=0.05, rng=1)
sc = Scenario(portfolio=pf, churn=ChurnAssumptions(correlation=0.2), horizon_months=60)
res = simulate(sc, n_paths={n_paths}, rng=1, progress=False)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="10x fewer paths, no 1M run")
    args = ap.parse_args()
    n_paths = 10_000 if args.quick else 100_000
    pf = synthetic_portfolio(1_000, top_share=0.05, rng=1)
    indep = Scenario(portfolio=pf, churn=ChurnAssumptions(), horizon_months=60)
    corr = Scenario(portfolio=pf, churn=ChurnAssumptions(correlation=0.2), horizon_months=60)
    g = np.random.default_rng(0)
    t_draw = best(lambda: [g.random((2048, 1_000)) for _ in range(n_paths // 2048 + 1)])
    t_ind = best(lambda: simulate(indep, n_paths=n_paths, rng=1, progress=False))
    t_cor = best(lambda: simulate(corr, n_paths=n_paths, rng=1, progress=False))
    base_paths = max(n_paths // 10, 2_000)
    t_loop = best(lambda: month_by_month(indep, base_paths, np.random.default_rng(2)), 1)
    t_loop_scaled = t_loop * n_paths / base_paths
    print(f"workload: 1,000 accounts x {n_paths:,} paths x 60 months")
    print(f"draw one float64 uniform per account-path: {t_draw:.3f} s")
    print(f"engine, independent churn:  {t_ind:.3f} s  = {t_ind / t_draw:.2f}x the draw "
          "(target <= 2x)")
    print(f"engine, shared shocks 0.2:  {t_cor:.3f} s  = {t_cor / t_draw:.2f}x the draw "
          "(target <= 3x)")
    print(f"month-by-month baseline:    {t_loop_scaled:.3f} s (measured on {base_paths:,} paths, "
          f"scaled)  -> engine speed-up {t_loop_scaled / t_ind:.1f}x (target >= 20x)")
    # context: the same portfolio over 12 months, where far fewer account-paths churn
    ind12 = Scenario(portfolio=pf, churn=ChurnAssumptions(), horizon_months=12)
    cor12 = Scenario(portfolio=pf, churn=ChurnAssumptions(correlation=0.2), horizon_months=12)
    t_i12 = best(lambda: simulate(ind12, n_paths=n_paths, rng=1, progress=False))
    t_c12 = best(lambda: simulate(cor12, n_paths=n_paths, rng=1, progress=False))
    dens60 = float(np.mean(indep.horizon_probs()))
    dens12 = float(np.mean(ind12.horizon_probs()))
    print(f"share of account-paths that churn: {dens60:.0%} over 60 months, {dens12:.0%} over 12")
    print(f"12-month horizon: independent {t_i12 / t_draw:.2f}x, shared shocks "
          f"{t_c12 / t_draw:.2f}x the draw")
    t_norm = best(lambda: [g.standard_normal((2048, 1_000)) for _ in range(n_paths // 2048 + 1)])
    print(f"for scale: one standard normal per account-path costs {t_norm / t_draw:.2f}x "
          "the uniform draw")
    if not args.quick:
        mb = peak_memory(1_000_000, 1_000)
        print(f"peak memory, 1,000,000 paths x 1,000 accounts (shared shocks): {mb:,.0f} MB "
              "(target < 2,048 MB)")


if __name__ == "__main__":
    main()
