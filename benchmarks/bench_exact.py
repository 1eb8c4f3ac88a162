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



def models() -> None:
    """Timings of the heavier models for 1,000 accounts (issue 17), one run each."""
    rng = np.random.default_rng(20_261_127)
    n = 1000
    w = rng.lognormal(0.0, 1.3, n)
    q = rng.uniform(0.01, 0.3, n)
    seg = rng.integers(0, 3, n)
    groups = np.zeros((n, 4))
    groups[:, 0] = np.sqrt(0.15)
    groups[np.arange(n), 1 + seg] = np.sqrt(0.1)
    two = np.zeros((n, 3))
    two[:, 0] = np.sqrt(0.15)
    two[:, 1] = np.sqrt(0.05)
    two[:, 2] = np.where(seg == 0, np.sqrt(0.1), 0.0)
    cases: list[tuple[str, dict[str, object]]] = [
        ("independent", {}),
        ("gaussian rho=0.2 (adaptive)", {"correlations": 0.2}),
        ("gaussian rho=0.2 (fixed 64 Gauss-Hermite)", {"correlations": 0.2,
                                                       "n_quadrature": 64}),
        ("gaussian rho=0.999 (adaptive)", {"correlations": 0.999}),
        ("t copula nu=4, rho=0.2", {"correlations": 0.2, "copula": "t", "nu": 4.0}),
        ("double-t nu=4, rho=0.2", {"correlations": 0.2, "copula": "double_t", "nu": 4.0}),
        ("global + 3 segment factors (nested)", {"loadings": groups}),
        ("3 factors: 2 common + 1 group", {"loadings": two}),
        ("partial churn 30 %, independent", {"partial_probs": 0.3}),
        ("partial churn 30 %, rho=0.2", {"correlations": 0.2, "partial_probs": 0.3}),
    ]
    print("\n1,000 accounts, 10,000-point lattice: the models of issue 17 (one run each)")
    for label, kw in cases:
        t0 = time.perf_counter()
        d = loss_distribution_from_arrays(w, q, max_points=10_000, **kw)  # type: ignore[arg-type]
        t = time.perf_counter() - t0
        print(f"  {label:44s} {ms(t)}  nodes {d.n_quadrature:6d}  "
              f"integration_error {d.integration_error:.1e}")


if __name__ == "__main__":
    import sys

    models() if "--models" in sys.argv else main()
