"""Benchmark: the engine with replacement vs the churn-only engine, same run.

1,000 accounts x 100,000 paths x 60 months, one process, and (``--sample``) the bundled
sample scenario. Target (issue 19, sample scenario): the replacement run costs at most
1.3x the churn-only run. Times are CPU times of one thread (``threads=1``), so other
processes on the machine disturb them less. Run::

    .venv/bin/python benchmarks/bench_replacement.py [--paths 100000] [--accounts 1000]
"""

from __future__ import annotations

import argparse
import dataclasses
import time

from kamsim.engine import simulate
from kamsim.model import ChurnAssumptions, ReplacementAssumptions, Scenario
from kamsim.portfolio.datasets import data_dir, synthetic_portfolio


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--paths", type=int, default=100_000)
    ap.add_argument("--accounts", type=int, default=1_000)
    ap.add_argument("--months", type=int, default=60)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--sample", action="store_true", help="the bundled sample scenario")
    args = ap.parse_args()
    if args.sample:
        repl = Scenario.from_yaml(data_dir() / "sample_scenario.yaml")
        base = dataclasses.replace(repl, replacement=None)
    else:
        pf = synthetic_portfolio(args.accounts, rng=7)
        base = Scenario(portfolio=pf, churn=ChurnAssumptions(correlation=0.2),
                        horizon_months=args.months, fixed_costs=0.85 * pf.gross_profit.sum())
        repl = dataclasses.replace(
            base, opening_cash=0.1 * pf.total_revenue,
            replacement=ReplacementAssumptions(opportunities_per_month=6, win_rate=0.25,
                                               acquisition_cost=10_000.0))
    simulate(base, n_paths=4096, rng=0)  # warm up imports and caches
    simulate(repl, n_paths=4096, rng=0)
    times: dict[str, list[float]] = {"churn only": [], "with replacement": []}
    for _ in range(args.repeat):
        for label, sc in (("churn only", base), ("with replacement", repl)):
            t0 = time.process_time()
            res = simulate(sc, n_paths=args.paths, rng=1, progress=False, threads=1)
            times[label].append(time.process_time() - t0)
    t_base, t_repl = min(times["churn only"]), min(times["with replacement"])
    wins = float(res.per_path["replacement_wins"].mean())
    print(f"{base.portfolio.n_accounts} accounts x {args.paths} paths x "
          f"{base.horizon_months} months (best of {args.repeat}, CPU time, one thread)")
    print(f"churn only:        {t_base:8.2f} s")
    print(f"with replacement:  {t_repl:8.2f} s   (mean wins per path {wins:.1f})")
    print(f"ratio:             {t_repl / t_base:8.2f}x   (target <= 1.3x on the sample)")


if __name__ == "__main__":
    main()
