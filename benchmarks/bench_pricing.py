"""Benchmark pricing, program and negotiation (run: python benchmarks/bench_pricing.py).

Prints, on the bundled 300-account sample over 36 months:

* exact expected NPV of one pass-through policy vs one Monte Carlo evaluation (10,000
  paths), as a time ratio;
* the variance reduction of common random numbers: independent-streams over CRN standard
  error of a policy difference, and the number of independent paths that would give the
  CRN precision;
* the full program evaluation (16 variants) with and without sharing churn events
  between variants with equal churn probabilities;
* a negotiation table for the top 10 accounts.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable

import numpy as np

from kamsim.economics.negotiation import NegotiationAssumptions, negotiation_table
from kamsim.economics.npv import discount_factors, expected_npv, path_npv
from kamsim.economics.pricing import (
    PricingAssumptions,
    RetentionResponse,
    _pricing_plan,
    compare_pass_through,
    pass_through_breakdown,
)
from kamsim.economics.program import KamProgram, evaluate_program, program_plan
from kamsim.model import Scenario
from kamsim.portfolio.datasets import load_sample


def best_of(fn: Callable[[], object], repeat: int = 3) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    print(f"python {platform.python_version()}, numpy {np.__version__}, {platform.machine()}")
    sc = Scenario(portfolio=load_sample(), horizon_months=36)
    a = PricingAssumptions(response=RetentionResponse(hazard_change_per_point=-0.1))
    disc = discount_factors(36, a.discount_rate)
    plan, _ = _pricing_plan(sc, a, 0.5)
    t_exact = best_of(lambda: expected_npv(sc, plan, disc), 10)
    t_mc = best_of(lambda: path_npv(sc, plan, disc, n_paths=10_000, rng=1))
    t_breakdown = best_of(lambda: pass_through_breakdown(sc, a, 0.5), 10)
    print(f"\nexact expected NPV, one policy     {t_exact * 1e3:8.2f} ms")
    print(f"full exact breakdown (2 policies)  {t_breakdown * 1e3:8.2f} ms")
    print(f"Monte Carlo, 10,000 paths          {t_mc * 1e3:8.2f} ms "
          f"(ratio MC / exact: {t_mc / t_exact:,.0f}x)")

    n = 10_000
    crn = compare_pass_through(sc, a, (0.0, 0.5), n_paths=n, rng=11)
    ind = compare_pass_through(sc, a, (0.0, 0.5), n_paths=n, rng=11, crn=False)
    ratio = ind.difference_se()[1] / crn.difference_se()[1]
    print(f"\ncommon random numbers, {n:,} paths: SE(independent) / SE(CRN) = {ratio:.1f}; "
          f"independent runs would need about {ratio ** 2:,.0f}x the paths")

    prog = KamProgram()
    t_prog = best_of(lambda: evaluate_program(sc, prog, n_paths=n, rng=1), 1)
    plans = [program_plan(sc, None, "none"), program_plan(sc, prog, "program")]
    for t in prog.tactics:
        plans.append(program_plan(sc, prog.with_tactics([t]), t.name))
        plans.append(program_plan(sc, prog.with_tactics(
            [u for u in prog.tactics if u is not t]), "w/o " + t.name))
    d = discount_factors(36, prog.discount_rate)
    t_nocache = best_of(lambda: [path_npv(sc, p, d, n_paths=n, rng=1) for p in plans], 1)
    print(f"\nprogram ROI, 16 variants x {n:,} paths: {t_prog:.2f} s with shared events, "
          f"{t_nocache:.2f} s without (ratio {t_nocache / t_prog:.1f}x)")

    t_neg = best_of(lambda: negotiation_table(sc, 0.05, NegotiationAssumptions(), top=10))
    print(f"negotiation table, top 10 accounts: {t_neg * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
