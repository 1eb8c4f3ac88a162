"""Benchmark: how long one slider change takes, per explorer panel, Python side and browser.

Target (issue 19): every slider change, key press to the new image painted in a real
browser, under 100 ms. Two measurements:

* **Python side** (default): each panel is built with its notebook's defaults on the
  bundled sample data; every slider is moved ``--steps`` times to a value it has not had
  (one step at a time, so no cached result answers), timing the synchronous ``observe``
  callback (``slider.value = x`` returns once the tables and the chart are updated). Per
  panel: the median and the slowest change, split into *compute* (the model), *artists*
  (tables and updating the chart's artists) and *svg* (drawing and writing the SVG).
* **Browser** (``--browser``): ``kamsim app`` (Voila) on the sample data in headless
  Chromium (``/usr/bin/chromium``); every slider of every panel gets ``--presses`` key
  presses, each timed from the key press to the new image decoded and painted (two
  animation frames later), the same measurement as ``tests/browser/test_voila.py``.

With ``--profile NAME`` the first slider change of panel NAME is profiled. Run::

    .venv/bin/python benchmarks/bench_widgets.py [--steps 4] [--profile concentration]
    .venv/bin/python benchmarks/bench_widgets.py --browser [--presses 3] [--only 01 02]
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import io
import json
import os
import pstats
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

#: The kernels' update times during --browser (received, image sent, done; epoch seconds).
KERNEL_LOG = Path(tempfile.gettempdir()) / "kamsim-widget-timing.jsonl"
TARGET = 0.100  # seconds, Python side (the browser adds the comm and the paint)
BROWSER_TARGET = 0.100  # seconds, key press to painted image


def panels() -> dict[str, Callable[[], Any]]:
    """The explorer panels, built as their notebooks build them, on the sample data."""
    from kamsim.model import Scenario
    from kamsim.portfolio.datasets import data_dir, load_sample
    from kamsim.views import widgets as w

    sc = Scenario.from_yaml(data_dir() / "sample_scenario.yaml")
    pricing = dataclasses.replace(sc, horizon_months=36)
    replacement = dataclasses.replace(sc, horizon_months=36, opening_cash=2_500_000)
    return {
        "concentration": lambda: w.concentration_explorer(load_sample()),
        "worst case": lambda: w.worst_case_explorer(sc, seed=2026),
        "replacement": lambda: w.replacement_explorer(replacement, n_paths=1_000,
                                                      rng=20_261_127),
        "pricing": lambda: w.pricing_explorer(pricing),
        "negotiation": lambda: w.negotiation_panel(pricing),
        "tornado": lambda: w.tornado_explorer(sc, n_paths=8_192, rng=20_261_127),
    }


def _phases(panel: Any) -> dict[str, float]:
    """Wrap the panel's compute / render / show to time them (seconds, last update)."""
    t: dict[str, float] = {}
    for name in ("compute", "render", "show"):
        orig = getattr(panel, name)

        def timed(*a: Any, _orig: Any = orig, _name: str = name, **k: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return _orig(*a, **k)
            finally:
                t[_name] = t.get(_name, 0.0) + time.perf_counter() - t0

        setattr(panel, name, timed)
    return t


def _next(s: Any, direction: int) -> tuple[Any, int]:
    """The value one step on (turning back at the end of the range) and the direction."""
    if s.__class__.__name__ == "SelectionSlider":
        opts = list(s.options)
        k = [v for _, v in opts].index(s.value) if opts and isinstance(opts[0], tuple) \
            else opts.index(s.value)
        if not 0 <= k + direction < len(opts):
            direction = -direction
        o = opts[k + direction]
        return (o[1] if isinstance(o, tuple) else o), direction
    v = s.value + direction * s.step
    if v > s.max or v < s.min:
        direction = -direction
        v = s.value + direction * s.step
    return v, direction


def time_panel(panel: Any, steps: int
               ) -> list[tuple[str, float, float, float, float, float]]:
    """(slider, total, compute, artists, svg, cpu) seconds of ``steps`` fresh moves."""
    phases = _phases(panel)
    out = []
    for s in panel.all_sliders():
        if s.disabled:
            continue
        direction = 1
        for _ in range(steps):
            v, direction = _next(s, direction)
            phases.clear()
            t0, c0 = time.perf_counter(), time.process_time()
            s.value = v
            total, cpu = time.perf_counter() - t0, time.process_time() - c0
            svg = phases.get("show", 0.0)
            out.append((s.kamsim_label, total, phases.get("compute", 0.0),
                        phases.get("render", 0.0) - svg, svg, cpu))
    return out


def profile_panel(panel: Any, top: int = 25) -> str:
    """cProfile of the first slider's next change: the top functions by cumulative time."""
    s = panel.all_sliders()[0]
    v, _ = _next(s, 1)
    prof = cProfile.Profile()
    prof.enable()
    s.value = v
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(top)
    return out.getvalue()


def print_python(steps: int, profile: str | None) -> None:
    """Print the Python-side latency per panel (see the module docstring)."""
    load = os.getloadavg()[0]
    print(f"Python side: one slider change (a fresh value each time, {steps} per slider); "
          f"target {TARGET * 1000:.0f} ms; {os.cpu_count()} cores, load average {load:.2f}")
    print(f"{'panel':14s} {'build':>7s} {'n':>4s} {'median':>8s} {'compute':>8s} "
          f"{'artists':>8s} {'svg':>8s} {'cpu':>8s} {'slowest':>8s}  slowest slider")
    for name, build in panels().items():
        t0 = time.perf_counter()
        panel = build()
        t_build = time.perf_counter() - t0
        if profile and profile in name:
            print(f"\n=== profile of {name} ===\n{profile_panel(panel)}")
            continue
        rows = time_panel(panel, steps)
        med = [statistics.median(r[i] for r in rows) * 1000 for i in range(1, 6)]
        worst = max(rows, key=lambda r: r[1])
        flag = "" if med[0] <= TARGET * 1000 else "  OVER"
        print(f"{name:14s} {t_build * 1000:6.0f}ms {len(rows):4d} {med[0]:6.1f}ms "
              f"{med[1]:6.1f}ms {med[2]:6.1f}ms {med[3]:6.1f}ms {med[4]:6.1f}ms "
              f"{worst[1] * 1000:6.0f}ms  "
              f"{worst[0][:30]}{flag}")


# --- the browser: key press to new image painted, in the real app ------------------------

# key press -> new image src set (arrived) -> decoded -> painted (two animation frames)
TIMING_JS = """
(panel) => { window.__kamsim_timing = new Promise((resolve) => {
  const imgs = Array.from(panel.querySelectorAll('img'));
  const before = imgs.map((i) => i.src);
  let pressed = null;
  document.addEventListener('keydown', () => { pressed = performance.now(); },
                            {capture: true, once: true});
  const obs = new MutationObserver(() => {
    const changed = imgs.find((img, k) => img.src !== before[k]);
    if (!changed || pressed === null) return;
    obs.disconnect();
    const arrived = performance.now() - pressed;
    changed.decode().catch(() => null).then(() => {
      const decoded = performance.now() - pressed;
      requestAnimationFrame(() => requestAnimationFrame(() =>
        resolve([arrived, decoded, performance.now() - pressed,
                 performance.timeOrigin + pressed])));
    });
  });
  for (const img of imgs) obs.observe(img, {attributes: true, attributeFilter: ['src']});
  window.__kamsim_cancel = () => { obs.disconnect(); resolve(null); };
}); }
"""

PANEL_NAMES = {
    "concentrationexplorer": "concentration", "worstcaseexplorer": "worst case",
    "replacementexplorer": "replacement", "pricingexplorer": "pricing",
    "negotiationpanel": "negotiation", "tornadoexplorer": "tornado",
    "retentionexplorer": "retention",
}


def _panel_name(classes: str, fallback: str) -> str:
    for c in classes.split():
        if c.startswith("kamsim-panel-"):
            key = c.removeprefix("kamsim-panel-")
            return PANEL_NAMES.get(key, key)
    return fallback


def browser_latency(presses: int, notebooks: list[str] | None = None
                    ) -> dict[str, list[tuple[float, float, float, float]]]:
    """Per panel, the milliseconds from a key press on a slider to the new image painted.

    Starts ``kamsim app`` (Voila, every explorer, the bundled sample data) in a temporary
    folder, opens each explorer in headless Chromium (Debian's ``/usr/bin/chromium``), and
    presses ArrowRight (ArrowLeft at the top of the range) ``presses`` times on every
    slider of every panel, each time waiting for the new image to be decoded and painted
    (two animation frames after it arrives): the same measurement as the browser tests.
    """
    import secrets
    import subprocess
    import sys

    from playwright.sync_api import sync_playwright

    root = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root))
    from tests.browser.conftest import (
        CHROMIUM,
        CHROMIUM_ARGS,
        EXPLORERS,
        free_port,
        stop_process,
    )

    found: dict[str, list[tuple[float, float, float, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        port, token = free_port(), secrets.token_urlsafe(16)
        log = Path(tmp) / "app.log"
        env = dict(os.environ, KAMSIM_WIDGET_TIMING_LOG=str(KERNEL_LOG))
        KERNEL_LOG.unlink(missing_ok=True)
        with log.open("wb") as fh:
            proc = subprocess.Popen(
                [sys.executable, "-m", "kamsim.apps.voila", "--no-browser", "--port",
                 str(port), f"--token={token}"], cwd=tmp, stdout=fh,
                stderr=subprocess.STDOUT, env=env)
        url = f"http://127.0.0.1:{port}"
        pw = sync_playwright().start()
        try:
            deadline = time.monotonic() + 120
            while f"open {url}/" not in log.read_text(errors="replace"):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("kamsim app did not start:\n"
                                     + log.read_text(errors="replace")[-2000:])
                time.sleep(0.2)
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                         args=CHROMIUM_ARGS)
            for nb in EXPLORERS:
                if notebooks and not any(n in nb.stem for n in notebooks):
                    continue
                ctx = browser.new_context(viewport={"width": 1440, "height": 900})
                ctx.set_default_timeout(60_000)
                page = ctx.new_page()
                text = nb.read_text(encoding="utf-8")
                want = text.count("data.link(") + text.count("data.on_change(")
                page.goto(f"{url}/voila/render/{nb.name}?token={token}",
                          timeout=600_000, wait_until="commit")
                page.wait_for_function(
                    "() => document.querySelectorAll('.kamsim-explorer img').length "
                    f">= {want}", timeout=600_000, polling=500)
                page.wait_for_timeout(1500)  # let the last panel's first render settle
                panels = page.locator(".kamsim-explorer")
                for i in range(panels.count()):
                    panel = panels.nth(i)
                    name = _panel_name(panel.get_attribute("class") or "", f"{nb.stem} #{i}")
                    rows = panel.locator(".kamsim-row:has(.widget-slider)")
                    for r in range(rows.count()):
                        row = rows.nth(r)
                        handle = row.locator(".noUi-handle").first
                        if row.locator(".mod-disabled, [disabled]").count():
                            continue
                        for _ in range(presses):
                            now, top = (float(handle.get_attribute(a) or 0)
                                        for a in ("aria-valuenow", "aria-valuemax"))
                            panel.evaluate(TIMING_JS)
                            handle.focus()
                            handle.press("ArrowLeft" if now >= top else "ArrowRight")
                            page.evaluate("() => { setTimeout(() => window.__kamsim_cancel"
                                          "(), 5000); }")
                            ms = page.evaluate("() => window.__kamsim_timing")
                            if ms is not None:
                                found.setdefault(name, []).append(tuple(ms))
                            page.wait_for_timeout(150)
                ctx.close()
            browser.close()
        finally:
            pw.stop()
            stop_process(proc)
    return found


def print_browser(presses: int, notebooks: list[str] | None) -> None:
    """Print the browser medians per panel (see :func:`browser_latency`)."""
    load = os.getloadavg()[0]
    print(f"\nbrowser (Voila, headless Chromium): key press to new image painted, "
          f"{presses} presses per slider; target {BROWSER_TARGET * 1000:.0f} ms; "
          f"load average {load:.2f}")
    print(f"{'panel':14s} {'n':>4s} {'painted':>8s} {'p90':>8s} {'max':>8s} "
          f"{'arrived':>8s} {'decoded':>8s} | {'to kernel':>9s} {'kernel':>7s} "
          f"{'(cpu)':>6s} {'to page':>7s}  (medians, ms)")
    found = browser_latency(presses, notebooks)
    kernel = [json.loads(line) for line in KERNEL_LOG.read_text().splitlines()] \
        if KERNEL_LOG.exists() else []
    for name, rows in found.items():
        painted = sorted(r[2] for r in rows)
        p90 = painted[min(len(painted) - 1, round(0.9 * (len(painted) - 1)))]
        med = statistics.median(painted)
        # the kernel's update that followed each key press: when it got the new value,
        # when it set the new image (epoch ms, same machine and clock)
        split = []
        for arrived, _dec, _painted, pressed in rows:
            after = [k for k in kernel if k["received"] * 1000 >= pressed - 5]
            if after:
                k = min(after, key=lambda k: k["received"])
                if not k["image_sent"]:
                    continue
                got, sent = k["received"] * 1000 - pressed, k["image_sent"] * 1000 - pressed
                split.append((got, sent - got, arrived - sent, k.get("image_cpu", 0) * 1000))
        parts = [statistics.median(p[i] for p in split) if split else float("nan")
                 for i in range(4)]
        flag = "" if med <= BROWSER_TARGET * 1000 else "  OVER"
        print(f"{name:14s} {len(rows):4d} {med:6.0f}ms {p90:6.0f}ms {painted[-1]:6.0f}ms "
              f"{statistics.median(r[0] for r in rows):6.0f}ms "
              f"{statistics.median(r[1] for r in rows):6.0f}ms | {parts[0]:7.0f}ms "
              f"{parts[1]:5.0f}ms {parts[3]:4.0f}ms {parts[2]:5.0f}ms{flag}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=4, help="fresh moves per slider (Python)")
    ap.add_argument("--profile", metavar="PANEL", help="profile one change of this panel")
    ap.add_argument("--browser", action="store_true",
                    help="measure in Voila + headless Chromium instead")
    ap.add_argument("--presses", type=int, default=3, help="key presses per slider (browser)")
    ap.add_argument("--only", nargs="*", help="notebooks to open (browser), e.g. 01 02")
    args = ap.parse_args()
    if args.browser:
        print_browser(args.presses, args.only)
    else:
        print_python(args.steps, args.profile)


if __name__ == "__main__":
    main()
