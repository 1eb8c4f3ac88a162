"""Benchmark: how long one slider change takes to recompute and redraw, per explorer.

Target (issue 9): every slider change recomputes and redraws within 250 ms at default
sizes. Each explorer is built with its defaults on the bundled sample data; then every
slider is moved one step up and back, ``--repeat`` times, timing the synchronous
``observe`` callback (``slider.value = x`` returns once the table and the PNG figure are
updated). Reported per explorer: the slowest slider's best time (min over repeats, so
other processes on the machine inflate it as little as possible) and its split into
``savefig`` (matplotlib draw + PNG encoding) and the rest (model computation, tables,
building the artists). With ``--profile``, explorers over the target are profiled (top
functions by cumulative time); with ``--what-if``, the proposed fixes are timed. Run::

    .venv/bin/python benchmarks/bench_widgets.py [--repeat 5] [--profile] [--what-if]
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import io
import os
import pstats
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

import ipywidgets as widgets
import matplotlib

matplotlib.use("Agg")
from matplotlib.figure import Figure

TARGET = 0.250  # seconds


class SavefigClock:
    """Accumulates the time spent in ``Figure.savefig`` (draw + PNG encoding)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._orig = Figure.savefig

    def __enter__(self) -> SavefigClock:
        orig = self._orig
        clock = self

        def timed(fig: Figure, *args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return orig(fig, *args, **kwargs)
            finally:
                clock.seconds += time.perf_counter() - t0

        Figure.savefig = timed  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        Figure.savefig = self._orig  # type: ignore[method-assign]


def sliders(w: Any) -> Iterator[Any]:
    """Every int/float slider in a widget tree."""
    if isinstance(w, widgets.IntSlider | widgets.FloatSlider):
        yield w
    for child in getattr(w, "children", ()):
        yield from sliders(child)


def _step(s: Any) -> Any:
    """A value one step from the current one, inside the range."""
    up = s.value + s.step
    return up if up <= s.max else s.value - s.step


def time_slider(s: Any, repeat: int) -> tuple[float, float]:
    """Best (total, savefig) seconds of one change of ``s``, over ``repeat`` round trips."""
    start, other = s.value, _step(s)
    best: tuple[float, float] = (float("inf"), 0.0)
    for _ in range(repeat):
        for value in (other, start):
            with SavefigClock() as clock:
                t0 = time.perf_counter()
                s.value = value
                total = time.perf_counter() - t0
            if total < best[0]:
                best = (total, clock.seconds)
    return best


def explorers() -> dict[str, Callable[[], Any]]:
    """The explorers that exist, built with their default sizes on the sample data."""
    from kamsim.model import Scenario
    from kamsim.portfolio.datasets import data_dir, load_sample
    from kamsim.views.widgets import concentration_explorer, worst_case_explorer

    scenario = Scenario.from_yaml(data_dir() / "sample_scenario.yaml")
    found: dict[str, Callable[[], Any]] = {
        "concentration_explorer(portfolio)": lambda: concentration_explorer(load_sample()),
        "worst_case_explorer(scenario)": lambda: worst_case_explorer(scenario),
    }
    try:
        from kamsim.views.widgets.replacement import replacement_explorer
    except ImportError:
        pass
    else:
        found["replacement_explorer(scenario)"] = lambda: replacement_explorer(scenario)
    try:
        from kamsim.views.widgets.pricing import negotiation_panel, pricing_explorer
    except ImportError:
        pass
    else:
        pricing_scenario = dataclasses.replace(scenario, horizon_months=36)
        found["pricing_explorer(scenario)"] = lambda: pricing_explorer(pricing_scenario)
        found["negotiation_panel(scenario)"] = lambda: negotiation_panel(pricing_scenario)
    return found


def profile_slider(s: Any, top: int = 18) -> str:
    """cProfile of one slider change: the top functions by cumulative time."""
    prof = cProfile.Profile()
    value = _step(s)
    prof.enable()
    s.value = value
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(top)
    return out.getvalue()


def _best(f: Callable[[], Any], n: int) -> float:
    best = float("inf")
    for _ in range(n):
        t0 = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t0)
    return best


def what_if(repeat: int) -> None:
    """Measure the fixes proposed for the slow callbacks, with the same library calls."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    from kamsim.engine import simulate
    from kamsim.model import Scenario
    from kamsim.portfolio.datasets import data_dir, load_sample
    from kamsim.views.plots import pareto_plot, score_contribution_plot
    from kamsim.views.widgets import concentration_explorer

    print("\nwhat-if: the proposed fixes, best of", repeat)
    # 1. concentration: persistent Agg canvas at the PNG's dpi, constrained layout computed
    #    once then frozen, axes reused (cla) instead of fig.clear(), PNG compress level 1
    panel = concentration_explorer(load_sample())
    slider = next(iter(panel.sliders.values()))
    values = [slider.value, _step(slider)]
    flip = [0]

    def current() -> None:
        flip[0] ^= 1
        slider.value = values[flip[0]]

    fig = Figure(figsize=panel.figure.get_size_inches(), dpi=80, layout="constrained")
    canvas = FigureCanvasAgg(fig)
    ax_scores, ax_pareto = fig.subplots(1, 2, width_ratios=[1.0, 1.3])

    def fast() -> bytes:
        res = panel.rescore()
        for extra in fig.axes[2:]:  # the Pareto chart's twin axis
            extra.remove()
        ax_scores.cla()
        ax_pareto.cla()
        score_contribution_plot(res, top=panel.top, ax=ax_scores)
        pareto_plot(panel.portfolio, top=max(panel.top, 20), highlight=res, ax=ax_pareto)
        canvas.draw()
        buf = io.BytesIO()
        Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba()).save(
            buf, format="png", compress_level=1)
        return buf.getvalue()

    fast()
    fig.set_layout_engine("none")
    t_now, t_fast = _best(current, repeat), _best(fast, repeat)
    print(f"  concentration: slider change now {t_now * 1000:.0f} ms; frozen layout + "
          f"persistent canvas {t_fast * 1000:.0f} ms ({t_fast / t_now:.2f}x)")
    # 2. worst case: the Monte Carlo run of the sample scenario with and without its
    #    replacement block (the explorer shows losses and break-even before win-back)
    sc = Scenario.from_yaml(data_dir() / "sample_scenario.yaml")
    churn_only = dataclasses.replace(sc, replacement=None)
    t_repl = _best(lambda: simulate(sc, n_paths=4_000, rng=2026, progress=False), repeat)
    t_churn = _best(lambda: simulate(churn_only, n_paths=4_000, rng=2026, progress=False),
                    repeat)
    print(f"  worst case: simulate 4,000 paths with replacement {t_repl * 1000:.0f} ms, "
          f"churn only {t_churn * 1000:.0f} ms ({t_churn / t_repl:.2f}x)")
    # 3. replacement explorer: its simulation alone, at its default 2,000 paths
    try:
        from kamsim.views.widgets.replacement import replacement_explorer
    except ImportError:
        return
    rp = replacement_explorer(sc)
    t_sim = _best(lambda: simulate(rp.current_scenario(), n_paths=rp.n_paths, rng=rp.rng,
                                   progress=False), repeat)
    print(f"  replacement: simulate {rp.n_paths:,} paths {t_sim * 1000:.0f} ms "
          "(the rest of a slider change is the 3-panel redraw)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=5, help="round trips per slider (min taken)")
    ap.add_argument("--profile", action="store_true", help="profile explorers over target")
    ap.add_argument("--what-if", action="store_true", help="time the proposed fixes")
    args = ap.parse_args()
    load = os.getloadavg()[0]
    print(f"one slider change, best of {args.repeat} round trips per slider; target "
          f"{TARGET * 1000:.0f} ms; {os.cpu_count()} cores, load average {load:.2f}")
    print(f"{'explorer':38s} {'build':>7s} {'slowest slider':>26s} {'total':>8s} "
          f"{'savefig':>8s} {'other':>8s} {'median':>8s} {'vs target':>9s}")
    slow: list[tuple[str, Any]] = []
    for name, build in explorers().items():
        t0 = time.perf_counter()
        panel = build()
        t_build = time.perf_counter() - t0
        results = {getattr(s, "kamsim_label", s.description): (s, *time_slider(s, args.repeat))
                   for s in sliders(panel)}
        desc, (s, total, png) = max(results.items(), key=lambda kv: kv[1][1])
        median = statistics.median(r[1] for r in results.values())
        flag = "" if total <= TARGET else "  OVER"
        print(f"{name:38s} {t_build * 1000:6.0f}ms {desc[:26]:>26s} {total * 1000:6.0f}ms "
              f"{png * 1000:6.0f}ms {(total - png) * 1000:6.0f}ms {median * 1000:6.0f}ms "
              f"{total / TARGET:8.2f}x{flag}")
        for d, (_, t, p) in results.items():
            print(f"    {d[:34]:34s} {t * 1000:6.0f} ms (savefig {p * 1000:4.0f} ms)")
        if total > TARGET:
            slow.append((name, s))
    if args.profile:
        for name, s in slow:
            label = getattr(s, "kamsim_label", s.description)
            print(f"\n=== profile of {name}, slider {label!r} ===")
            print(profile_slider(s))
    if args.what_if:
        what_if(args.repeat)


if __name__ == "__main__":
    main()
