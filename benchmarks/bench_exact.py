"""Benchmark kamsim.risk.exact: run with ``.venv/bin/python benchmarks/bench_exact.py``.

``--models`` times the heavier models of issue 17 instead (t, double-t, factors, partial).

Prints absolute times (best of several runs, after one warm-up) for the exact loss
distribution of 1,000 accounts on a 10,000-point lattice, independent and with shared
shocks (adaptive Gauss–Kronrod over the factor), relative to scipy.stats.poisson_binom
(count only, the same probabilities), plus widget-sized cases and the FFT-vs-recursion
tail agreement.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable

import numpy as np
import scipy
from scipy import stats

from kamsim.risk.exact import loss_distribution_from_arrays


def best_of(fn: Callable[[], object], repeat: int = 5) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def best_cpu(fn: Callable[[], object], repeat: int = 5) -> float:
    """Smallest CPU time of this process over ``repeat`` calls (robust on a busy machine)."""
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return min(times)


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:8.1f} ms"


def main() -> None:
    print(f"python {platform.python_version()}, numpy {np.__version__}, "
          f"scipy {scipy.__version__}, {platform.machine()}")
    rng = np.random.default_rng(20_261_127)
    n = 1000
    w = rng.lognormal(0.0, 1.3, n)  # revenue-like weights
    q = rng.uniform(0.01, 0.3, n)
    k = np.arange(n + 1)

    t_scipy = best_of(lambda: stats.poisson_binom(q).pmf(k))
    print("\n1,000 accounts, lattice max_points=10,000")
    print(f"  scipy.stats.poisson_binom(q).pmf (count only) {ms(t_scipy)}")
    try:
        from fast_poibin import PoiBin

        print(f"  fast_poibin.PoiBin(q).pmf (count only)        "
              f"{ms(best_of(lambda: PoiBin(q).pmf))}")
    except ImportError:
        pass

    d = loss_distribution_from_arrays(w, q, max_points=10_000)
    print(f"  lattice points {d.support.size}, step {d.step:.4g}, error_bound "
          f"{d.error_bound:.4g} ({d.error_bound / w.sum():.2%} of exposure)")
    for rho, label in ((None, "independent"), (0.2, "rho=0.2, adaptive"),
                       (0.999, "rho=0.999, adaptive")):
        for method in ("auto", "dp", "fft"):
            def run(rho: float | None = rho, method: str = method) -> object:
                return loss_distribution_from_arrays(w, q, correlations=rho,
                                                     max_points=10_000,
                                                     method=method)  # type: ignore[arg-type]
            used = loss_distribution_from_arrays(w, q, correlations=rho, max_points=10_000,
                                                 method=method).method  # type: ignore[arg-type]
            t = best_of(run, 3 if rho else 5)
            print(f"  exact {label:18s} method={method:4s} ({used:3s}) {ms(t)}"
                  f"   x{t / t_scipy:5.2f} scipy count-only")

    # tail agreement FFT vs recursion (correlated)
    a = loss_distribution_from_arrays(w, q, correlations=0.2, method="dp")
    b = loss_distribution_from_arrays(w, q, correlations=0.2, method="fft")
    big = a.pmf > 1e-12
    print(f"  fft vs dp: max abs pmf diff {np.max(np.abs(a.pmf - b.pmf)):.2e}, "
          f"max rel diff where pmf > 1e-12 {np.max(np.abs(a.pmf - b.pmf)[big] / a.pmf[big]):.2e}"
          f", ES99.5 {a.es(0.995):.6g} vs {b.es(0.995):.6g}")

    print("\nwidget-sized (50 accounts, 10,000-point lattice)")
    w50 = rng.lognormal(0.0, 1.3, 50)
    q50 = rng.uniform(0.02, 0.2, 50)
    for rho in (None, 0.2):
        t = best_of(lambda rho=rho: loss_distribution_from_arrays(w50, q50, correlations=rho))
        print(f"  loss distribution rho={rho!s:4s}              {ms(t)}")
    d50 = loss_distribution_from_arrays(w50, q50, correlations=0.2)
    t = best_of(lambda: d50.risk_contributions(0.99), 2)
    print(f"  risk_contributions(0.99), rho=0.2          {ms(t)}")
    d50i = loss_distribution_from_arrays(w50, q50)
    t = best_of(lambda: d50i.risk_contributions(0.99), 3)
    print(f"  risk_contributions(0.99), independent      {ms(t)}")



def model_cases() -> dict[str, dict[str, object]]:
    """The heavier models of issue 17 on 1,000 accounts (keyword arguments of the twin)."""
    rng = np.random.default_rng(20_261_127)
    n = 1000
    seg = rng.integers(0, 3, n)
    reg = rng.integers(0, 2, n)
    groups = np.zeros((n, 4))
    groups[:, 0] = np.sqrt(0.15)
    groups[np.arange(n), 1 + seg] = np.sqrt(0.1)
    two = np.zeros((n, 3))
    two[:, 0] = np.sqrt(0.15)
    two[:, 1] = np.sqrt(0.05)
    two[:, 2] = np.where(seg == 0, np.sqrt(0.1), 0.0)
    crossed = np.zeros((n, 6))  # global, 3 segments, 2 regions (crossed families)
    crossed[:, 0] = np.sqrt(0.1)
    crossed[np.arange(n), 1 + seg] = np.sqrt(0.05)
    crossed[np.arange(n), 4 + reg] = np.sqrt(0.05)
    return {
        "independent": {},
        "gaussian rho=0.2 (adaptive)": {"correlations": 0.2},
        "gaussian rho=0.2 (fixed 64 Gauss-Hermite)": {"correlations": 0.2,
                                                      "n_quadrature": 64},
        "gaussian rho=0.999 (adaptive)": {"correlations": 0.999},
        "t copula nu=4, rho=0.2": {"correlations": 0.2, "copula": "t", "nu": 4.0},
        "double-t nu=4, rho=0.2": {"correlations": 0.2, "copula": "double_t", "nu": 4.0},
        "global + 3 segment factors (nested)": {"loadings": groups},
        "3 factors: 2 common + 1 group": {"loadings": two},
        "crossed: global + 3 segments x 2 regions": {"loadings": crossed},
        "partial churn 30 %, independent": {"partial_probs": 0.3},
        "partial churn 30 %, rho=0.2": {"correlations": 0.2, "partial_probs": 0.3},
    }


def models(only: str | None = None) -> None:
    """Timings of the heavier models for 1,000 accounts (issue 17).

    Best of 3 after a warm-up for cases under a second, else one run. ``only`` times the
    cases whose label contains it (``--case TEXT``).
    """
    from kamsim.exceptions import AssumptionError

    rng = np.random.default_rng(20_261_127)
    n = 1000
    w = rng.lognormal(0.0, 1.3, n)
    q = rng.uniform(0.01, 0.3, n)
    print("\n1,000 accounts, 10,000-point lattice: the models of issue 17")
    for label, kw in model_cases().items():
        if only is not None and only not in label:
            continue

        def run(kw: dict[str, object] = kw) -> object:
            return loss_distribution_from_arrays(w, q, max_points=10_000,
                                                 **kw)  # type: ignore[arg-type]
        try:
            t0, c0 = time.perf_counter(), time.process_time()
            d = run()
            t, cpu = time.perf_counter() - t0, time.process_time() - c0
        except AssumptionError as exc:
            print(f"  {label:44s}   refused ({str(exc)[:60]}...)")
            continue
        if t < 1.0:
            t, cpu = best_of(run, 3), best_cpu(run, 3)
        print(f"  {label:44s} {ms(t)} (CPU {ms(cpu).strip()})  "
              f"nodes {d.n_quadrature:6d}  "  # type: ignore[attr-defined]
              f"integration_error {d.integration_error:.1e}", flush=True)  # type: ignore[attr-defined]
    if only is None or "sample" in only:
        from kamsim.model import Scenario
        from kamsim.risk.exact import loss_distribution

        sc = Scenario.from_yaml("data/sample_scenario.yaml")
        for mp in (2_000, 10_000):
            t = best_of(lambda mp=mp: loss_distribution(sc, max_points=mp), 5)
            cpu = best_cpu(lambda mp=mp: loss_distribution(sc, max_points=mp), 5)
            print(f"  sample scenario (300 accounts, rho 0.2), {mp:,} points  {ms(t)} "
                  f"(CPU {ms(cpu).strip()})")


if __name__ == "__main__":
    import sys

    if "--models" in sys.argv:
        models(sys.argv[sys.argv.index("--case") + 1] if "--case" in sys.argv else None)
    else:
        main()
