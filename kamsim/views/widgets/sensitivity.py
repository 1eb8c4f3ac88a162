"""Tornado explorer: switch the output and see which assumptions move it, instantly.

Re-exported by :mod:`kamsim.views.widgets`.
"""

from __future__ import annotations

import time
from typing import Any

import ipywidgets as widgets

from kamsim._util.figures import render_png
from kamsim.analysis.sensitivity import METRICS, Metric, TornadoRuns, tornado_runs
from kamsim.exceptions import KamsimError
from kamsim.model import Scenario
from kamsim.views.plots.sensitivity import tornado_plot

__all__ = ["LEVEL_METRICS", "TornadoExplorer", "tornado_explorer"]


#: Outputs whose confidence level is set by the panel's level slider.
LEVEL_METRICS = {
    "var_level": "VaR of run-rate revenue lost at the chosen level",
    "es_level": "ES of run-rate revenue lost at the chosen level",
}


def _level_metric(kind: str, level: float) -> Metric:
    years = 1.0 / (1.0 - level)
    if kind == "var_level":
        return Metric(name=f"var_{level:g}", unit="currency",
                      label=f"{level:.1%} VaR (1-in-{years:.0f} year) of run-rate revenue lost",
                      fn=lambda r: r.var(level))
    return Metric(name=f"es_{level:g}", unit="currency",
                  label=f"{level:.1%} ES (1-in-{years:.0f} year) of run-rate revenue lost",
                  fn=lambda r: r.es(level))


class TornadoExplorer(widgets.VBox):  # type: ignore[misc]
    """An output menu and a confidence-level slider over one set of tornado simulations.

    The simulations (base plus each assumption low and high, common random numbers) run
    once when the panel is built (:func:`kamsim.analysis.sensitivity.tornado_runs`); choosing
    another output or level only evaluates it on them and redraws, so it is instant. To
    change the number of paths, build a new panel.

    Attributes
    ----------
    metric : ipywidgets.Dropdown
        The output explained by the chart.
    level : ipywidgets.FloatSlider
        Confidence level of the "at the chosen level" outputs (0.8 to 0.995).
    image : ipywidgets.Image
        The tornado chart (PNG).
    table : ipywidgets.HTML
        The tornado table.
    runs : TornadoRuns
        The simulations.
    last_seconds : float
        Time of the last redraw.
    """

    def __init__(self, scenario: Scenario, *, metric: str = "var_level", level: float = 0.95,
                 n_paths: int = 8_192, rng: int | None = 2026, currency: str = "€",
                 **kwargs: Any) -> None:
        self.runs: TornadoRuns = tornado_runs(scenario, n_paths=n_paths, rng=rng)
        self.currency = currency
        self.metric = widgets.Dropdown(
            options=[(v, k) for k, v in LEVEL_METRICS.items()]
            + [(METRICS[k].label, k) for k in sorted(METRICS) if self._applies(k)],
            value=metric,
            description="output", layout=widgets.Layout(width="460px"),
            style={"description_width": "60px"})
        self.level = widgets.FloatSlider(
            value=level, min=0.8, max=0.995, step=0.005, readout_format=".1%",
            description="level", continuous_update=False,
            layout=widgets.Layout(width="460px"), style={"description_width": "60px"})
        self.image = widgets.Image(format="png", layout=widgets.Layout(max_width="100%"))
        self.table = widgets.HTML()
        self.last_seconds = 0.0
        super().__init__([self.metric, self.level, self.image, self.table], **kwargs)
        self.metric.observe(self._on_change, names="value")
        self.level.observe(self._on_change, names="value")
        self.update()

    def _applies(self, name: str) -> bool:
        """Whether a built-in output is defined here (cash needs replacement and cash)."""
        try:
            value = METRICS[name].fn(self.runs.base)
        except (KamsimError, ValueError):
            return False
        return bool(value == value)  # NaN: not defined here

    def _on_change(self, _change: Any) -> None:
        self.update()

    def update(self) -> None:
        """Evaluate the chosen output on the stored runs and redraw."""
        t0 = time.perf_counter()
        choice = str(self.metric.value)
        metric: str | Metric = (_level_metric(choice, float(self.level.value))
                                if choice in LEVEL_METRICS else choice)
        self.level.disabled = choice not in LEVEL_METRICS
        result = self.runs.tornado(metric)
        fig = tornado_plot(result, currency=self.currency)
        self.image.value = render_png(fig, dpi=72)
        self.table.value = result.summary().to_html(index=False, float_format="{:,.4g}".format)
        self.last_seconds = time.perf_counter() - t0


def tornado_explorer(scenario: Scenario, *, metric: str = "var_level", level: float = 0.95,
                     n_paths: int = 8_192, rng: int | None = 2026,
                     currency: str = "€") -> TornadoExplorer:
    """Build a :class:`TornadoExplorer` for ``scenario``.

    Examples
    --------
    >>> from kamsim.portfolio.datasets import data_dir
    >>> panel = tornado_explorer(Scenario.from_yaml(data_dir() / "sample_scenario.yaml"),
    ...                          n_paths=2048, rng=1)
    >>> before = panel.image.value
    >>> panel.level.value = 0.99
    >>> panel.image.value != before
    True
    >>> panel.metric.value = "expected_loss"
    >>> panel.level.disabled
    True
    """
    return TornadoExplorer(scenario, metric=metric, level=level, n_paths=n_paths, rng=rng,
                           currency=currency)
