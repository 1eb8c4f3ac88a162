"""Benchmark: the retention-budget optimiser on the sample (issue 18's acceptance size).

The bundled sample scenario (its illustrative ``plans:`` and ``budget:``), the 30 key and
strategic accounts, 5,000 futures to choose on and 20,000 fresh, independent futures to
judge on. For each menu (the sample's four options, and three: none / standard KAM /
dedicated team) and each objective it prints the time to build the futures, the HiGHS
solve time (best of ``--repeat``), the proved optimality gap, and the out-of-sample ES
improvement over the best simple rule at the same budget, with its paired standard
error. Objectives:

* ``mean_es``: maximise E[NPV] - 1 x ES;
* ``min_es``: minimise ES subject to E[NPV] >= the best simple rule's expected NPV (the
  same budget and no less expected profit than any rule of thumb).

Target: solve under 10 s on 2 cores. Run::

    .venv/bin/python benchmarks/bench_retention.py [--paths 5000] [--eval-paths 20000]
"""

from __future__ import annotations

import argparse
import dataclasses
import time

from kamsim.economics.retention import optimise_retention, plan_retention, retention_futures
from kamsim.model import Scenario
from kamsim.portfolio.datasets import data_dir


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--paths", type=int, default=5_000)
    ap.add_argument("--eval-paths", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--seed", type=int, default=18)
    args = ap.parse_args()
    sc = Scenario.from_yaml(data_dir() / "sample_scenario.yaml")
    assert sc.plans is not None
    assert sc.budget is not None
    three = dataclasses.replace(sc.plans, plans=sc.plans.plans[:3])
    print(f"sample scenario, budget {sc.budget.amount:,.0f} over {sc.horizon_months} months, "
          f"{args.paths:,} futures to choose on, {args.eval_paths:,} fresh to judge on")
    for menu_label, menu in (("4 options", sc.plans), ("3 options", three)):
        t0 = time.perf_counter()
        fut = retention_futures(sc, menu, n_paths=args.paths, rng=args.seed)
        t_build = time.perf_counter() - t0
        print(f"\n{menu_label} {list(menu.names)}: {fut.n_accounts} accounts, "
              f"futures built in {t_build:.2f} s")
        for objective, floor in (("mean_es", None), ("min_es", "rules")):
            st = plan_retention(sc, menu, n_paths=args.paths, n_eval_paths=args.eval_paths,
                                rng=args.seed, objective=objective,  # type: ignore[arg-type]
                                npv_floor=floor)
            o = st.optimum
            times = [o.solve_seconds] + [
                optimise_retention(o.futures, objective=o.objective, npv_floor=o.npv_floor
                                   ).solve_seconds for _ in range(args.repeat - 1)]
            imp = st.improvement()
            oos = st.out_of_sample.set_index("allocation")
            print(f"  {objective:8s} solve {min(times):6.2f} s (best of {len(times)}), "
                  f"gap {o.gap:,.2f} ({o.relative_gap:.1e} relative), {o.nodes} nodes, "
                  f"spend {o.spend:,.0f}, {int((o.allocation.choice != 0).sum())} accounts "
                  "on a plan")
            print(f"           ES {o.level:.0%} in-sample {o.es:,.0f}, out-of-sample "
                  f"{oos.loc['optimised', 'es']:,.0f} ± {oos.loc['optimised', 'es_se']:,.0f}")
            print(f"           best simple rule: {imp.best_rule}; ES improvement "
                  f"{imp.es_improvement:,.0f} ± {imp.es_improvement_se:,.0f} (paired SE), "
                  f"expected NPV {imp.npv_improvement:+,.0f} ± {imp.npv_improvement_se:,.0f}")


if __name__ == "__main__":
    main()
