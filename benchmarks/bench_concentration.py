"""Benchmark of kamsim.analysis.concentration (plain script; prints ratios and times).

* Full ``summary()`` (revenue and gross profit) plus key-account scoring for 100,000
  accounts, as a multiple of one ``numpy.sort`` of the revenue vector (machine-neutral).
* A weight-slider re-score of the sample portfolio, in milliseconds (target: well under
  50 ms), and, for information, a full redraw of the explorer panel.

Run: ``.venv/bin/python benchmarks/bench_concentration.py``
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable

import numpy as np

from kamsim.analysis import concentration as c
from kamsim.portfolio.datasets import load_sample, synthetic_portfolio


def best_of(fn: Callable[[], object], repeat: int = 7, number: int = 1) -> float:
    """Best wall time per call, in seconds."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - t0) / number)
    return min(times)


def ratio_to_sort(
    fn: Callable[[], object], rev: np.ndarray, repeat: int = 9
) -> tuple[float, float]:
    """Median and best ratio of ``fn``'s time to one ``np.sort(rev)``, measured in pairs.

    Each repeat times the sort (best of 5) right next to ``fn`` (best of 3), so a busy
    machine slows both alike.
    """
    fn()  # warm-up
    ratios = []
    for _ in range(repeat):
        t_sort = best_of(lambda: np.sort(rev), repeat=5)
        ratios.append(best_of(fn, repeat=3) / t_sort)
    return float(np.median(ratios)), float(min(ratios))


def main() -> None:
    pf = synthetic_portfolio(100_000, top_share=0.05, rng=2026)
    rev = np.array(pf.revenue)
    crit = c.key_account_criteria(pf)
    t_sort = best_of(lambda: np.sort(rev), repeat=15)
    print(f"100,000 accounts: time / one numpy.sort of revenue ({t_sort * 1e3:.2f} ms), "
          "median and best of 9 paired runs (best of 3 calls each):")
    cases: list[tuple[str, Callable[[], object]]] = [
        ("summary (revenue + gross profit)", lambda: c.summary(pf)),
        ("key_account_criteria (normalise)", lambda: c.key_account_criteria(pf)),
        ("score + tiers + table (re-weight)", lambda: crit.score().to_frame()),
        ("full summary() + scoring", lambda: (c.summary(pf),
                                              c.key_account_scores(pf).to_frame())),
    ]
    for label, fn in cases:
        med, best = ratio_to_sort(fn, rev)
        print(f"  {label:36s} {med:7.1f} x   (best {best:6.1f} x)")
    t_full = best_of(cases[-1][1], repeat=5)
    print(f"  full summary() + scoring, best wall time: {t_full * 1e3:.1f} ms")

    sample = load_sample()
    crit_s = c.key_account_criteria(sample)
    weights = dict(c.DEFAULT_WEIGHTS)

    def rescore() -> None:
        weights["growth"] = (weights["growth"] + 0.05) % 1.0
        crit_s.score(weights).to_frame()

    t_slider = best_of(rescore, repeat=7, number=50)
    print(f"sample portfolio ({sample.n_accounts} accounts):")
    print(f"  weight-slider re-score (score + table) {t_slider * 1e3:8.3f} ms"
          "   (target: well under 50 ms)")
    try:
        import matplotlib

        matplotlib.use("Agg")
        from kamsim.views.widgets import concentration_explorer
    except ImportError:  # pragma: no cover
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        panel = concentration_explorer(sample)
    slider = panel.sliders["growth"]

    def redraw() -> None:
        slider.value = 0.5 if slider.value != 0.5 else 0.2

    t_panel = best_of(redraw, repeat=5)
    print(f"  explorer panel update incl. redraw     {t_panel * 1e3:8.1f} ms"
          "   (figure render dominates; sliders use continuous_update=False)")


if __name__ == "__main__":
    main()
