"""Tornado explorer: switch the output and see which assumptions move it, instantly.

Re-exported by :mod:`kamsim.views.widgets`. Built on :class:`~kamsim.views.widgets.base.Explorer`.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets

from kamsim._util.figures import panel_axes
from kamsim._util.format import count, money, months, percent
from kamsim.analysis.sensitivity import METRICS, Metric, TornadoResult, TornadoRuns, tornado_runs
from kamsim.exceptions import KamsimError
from kamsim.model import Scenario
from kamsim.views.plots.sensitivity import TornadoChart
from kamsim.views.widgets.base import Explorer, Formatter, html_table, value_formatter

__all__ = ["LEVEL_METRICS", "TornadoExplorer", "tornado_explorer", "unit_formatter"]


#: Outputs whose confidence level is set by the panel's level slider.
LEVEL_METRICS = {
    "var_level": "VaR of run-rate revenue lost at the chosen level",
    "es_level": "ES of run-rate revenue lost at the chosen level",
}


def unit_formatter(unit: str, currency: str = "€") -> Formatter:
    """Formatter for a value of a kamsim unit ("currency", "probability", "months", ...).

    Examples
    --------
    >>> unit_formatter("currency per year")(6_080_000), unit_formatter("probability")(0.2)
    ('€6.1M', '20.0 %')
    """
    u = unit.lower()
    if u.startswith("currency"):
        return lambda v: money(v, currency)
    if u in ("probability", "fraction", "fraction of price", "share"):
        return lambda v: percent(v)
    if u == "months":
        return lambda v: months(v, decimals=1)
    if u == "count":
        return lambda v: count(v) if abs(float(v)) >= 100 else f"{float(v):,.1f}"
    return lambda v: f"{float(v):,.2f}"


def _level_metric(kind: str, level: float) -> Metric:
    years = 1.0 / (1.0 - level)
    if kind == "var_level":
        return Metric(name=f"var_{level:g}", unit="currency",
                      label=f"{level:.1%} VaR (1-in-{years:.0f} year) of run-rate revenue lost",
                      fn=lambda r: r.var(level))
    return Metric(name=f"es_{level:g}", unit="currency",
                  label=f"{level:.1%} ES (1-in-{years:.0f} year) of run-rate revenue lost",
                  fn=lambda r: r.es(level))


class TornadoExplorer(Explorer):
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
    table : ipywidgets.HTML
        The tornado table.
    runs : TornadoRuns
        The simulations.
    """

    title = "Which assumptions matter"
    question = "Which of our assumptions move the bad-year figures most?"

    def __init__(self, scenario: Scenario, *, metric: str = "var_level", level: float = 0.95,
                 n_paths: int = 8_192, rng: int | None = 2026, currency: str = "€",
                 **kwargs: Any) -> None:
        super().__init__(currency=currency, figsize=(12.0, 4.6), **kwargs)
        self.n_paths, self.rng = n_paths, rng
        self.metric = self.dropdown([("-", "-")], "-", label="Output explained",
                                    tooltip="The figure whose sensitivity the chart shows")
        self.level = self.slider(
            level, 0.8, 0.995, 0.005, label="Bad-year level",
            tooltip="Confidence level of the VaR and ES outputs: 95 % = a 1-in-20 year",
            fmt=value_formatter("fraction", decimals=1))
        self._start_metric = metric
        self.table = widgets.HTML()
        self.layout([widgets.VBox([self.controls("Output", [self.metric, self.level]),
                                   self.status]), self.image, self.table])
        self.watch(self.metric, self.level)
        self.set_scenario(scenario)

    def set_scenario(self, scenario: Scenario) -> None:
        """Run the tornado simulations for ``scenario`` (e.g. the user's own data), redraw."""
        self._scenario = scenario
        self._chart: TornadoChart | None = None
        self.runs: TornadoRuns = tornado_runs(scenario, n_paths=self.n_paths, rng=self.rng)
        options = ([(v, k) for k, v in LEVEL_METRICS.items()]
                   + [(METRICS[k].label, k) for k in sorted(METRICS) if self._applies(k)])
        keys = [k for _, k in options]
        current = str(self.metric.value)
        with self.quiet():
            self.metric.options = options
            self.metric.value = current if current in keys else (
                self._start_metric if self._start_metric in keys else keys[0])
        self.update()

    def current_scenario(self) -> Scenario:
        """The scenario the tornado runs were simulated on."""
        return self._scenario

    def _applies(self, name: str) -> bool:
        """Whether a built-in output is defined here (cash needs replacement and cash)."""
        try:
            value = METRICS[name].fn(self.runs.base)
        except (KamsimError, ValueError):
            return False
        return bool(value == value)  # NaN: not defined here

    def compute(self) -> None:
        """Evaluate the chosen output on the stored runs."""
        choice = str(self.metric.value)
        metric: str | Metric = (_level_metric(choice, float(self.level.value))
                                if choice in LEVEL_METRICS else choice)
        self.level.disabled = choice not in LEVEL_METRICS
        self.result: TornadoResult = self.runs.tornado(metric)

    def render(self) -> None:
        """Redraw the tornado chart and its table."""
        res, c = self.result, self.currency
        if self._chart is None:  # new runs: draw once, later outputs update the artists
            (ax,) = panel_axes(self.figure, 1)
            self._chart = TornadoChart(ax, res, currency=c)
        else:
            self._chart.update(res)
        self.show()
        out = unit_formatter(res.metric_unit, c)
        t = res.to_frame()
        t["low_text"] = [unit_formatter(u, c)(v) for u, v in zip(t["unit"], t["low_value"],
                                                                  strict=True)]
        t["high_text"] = [unit_formatter(u, c)(v) for u, v in zip(t["unit"], t["high_value"],
                                                                   strict=True)]
        signed = lambda v: ("+" if float(v) > 0 else "") + out(v)  # noqa: E731
        self.table.value = html_table(t, {
            "label": ("Assumption", None), "low_text": ("Low", None),
            "high_text": ("High", None), "change_low": ("Change when low", signed),
            "change_high": ("Change when high", signed), "swing": ("Swing", out)},
            key="label", title=f"{res.metric_label[:1].upper()}{res.metric_label[1:]}: "
                               f"base {out(res.base_output)}")


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
