"""Figures for calibration and sensitivity (re-exported by :mod:`kamsim.views.plots`).

Like every kamsim plot, each function returns a :class:`matplotlib.figure.Figure` built
without pyplot and never shows it; pass ``ax=`` to draw into an existing axes.
Helpers of :mod:`kamsim.views.plots` are imported inside the functions, so that
:mod:`kamsim.views.plots` can import this module at its top without a circular import.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from kamsim._util.figures import figure_axes
from kamsim._util.format import money
from kamsim.analysis.calibrate import ChurnFit
from kamsim.analysis.sensitivity import GlobalSensitivityResult, ScenarioComparison, TornadoResult
from kamsim.exceptions import AssumptionError
from kamsim.views.plots.style import (
    BAD,
    CRITERION_COLORS,
    NEUTRAL,
    currency_formatter,
    percent_formatter,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.ticker import Formatter

__all__ = [
    "TornadoChart",
    "global_sensitivity_plot",
    "scenario_comparison_plot",
    "survival_plot",
    "tornado_plot",
]

_LOW = NEUTRAL
_HIGH = BAD
_MODEL_COLORS = CRITERION_COLORS


def _value_formatter(unit: str, currency: str) -> Formatter:
    from matplotlib.ticker import FuncFormatter


    if unit == "probability":
        return percent_formatter(1)
    if unit.startswith("currency"):
        return currency_formatter(currency)
    return FuncFormatter(lambda x, _pos=None: f"{x:,.3g}")


def _fmt_value(v: float, unit: str) -> str:
    if unit in ("probability", "fraction of price", "correlation"):
        return f"{v:.3g}" if unit == "correlation" else f"{v:.1%}"
    if unit.startswith("currency"):

        return money(v, "")
    return f"{v:,.3g}"


def tornado_plot(
    result: TornadoResult,
    *,
    top: int | None = None,
    currency: str = "€",
    ax: Axes | None = None,
) -> Figure:
    """Tornado chart: how far each assumption moves the chosen output.

    One row per assumption, the widest swing at the top. Each bar runs from the base
    output (vertical line) to the output with the assumption at its low value (blue) and
    at its high value (red); the labels give the low and high values tried. All runs use
    common random numbers, so the bars are effects, not noise.

    Parameters
    ----------
    result : TornadoResult
        From :func:`kamsim.analysis.sensitivity.tornado`.
    top : int, optional
        Show only the ``top`` widest bars.
    currency : str
        Currency symbol for money outputs.
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from kamsim.portfolio.datasets import data_dir
    >>> from kamsim.model import Scenario
    >>> from kamsim.analysis.sensitivity import tornado
    >>> t = tornado(Scenario.from_yaml(data_dir() / "sample_scenario.yaml"), n_paths=2048, rng=1)
    >>> fig = tornado_plot(t)
    >>> len(fig.axes[0].patches) == 2 * len(t.table)
    True
    """
    tab = result.table if top is None else result.table.head(top)
    fig, ax = figure_axes(ax, (8.5, 0.45 * tab.shape[0] + 1.8))
    TornadoChart(ax, result, top=top, currency=currency)
    return fig


class TornadoChart:
    """The tornado chart, updatable in place (see :func:`tornado_plot`).

    The two sets of bars, the base line, the tick labels and the legend are made once;
    :meth:`update` shows another output of the same runs (the rows re-sorted by swing):
    it moves the bars, rewrites the labels, the axis and the title.

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> from kamsim.portfolio.datasets import data_dir
    >>> from kamsim.model import Scenario
    >>> from kamsim.analysis.sensitivity import tornado_runs
    >>> runs = tornado_runs(Scenario.from_yaml(data_dir() / "sample_scenario.yaml"),
    ...                     n_paths=2048, rng=1)
    >>> chart = TornadoChart(Figure().add_subplot(), runs.tornado("expected_loss"))
    >>> chart.update(runs.tornado("var_99"))
    >>> len(chart.ax.patches) == 2 * len(runs.tornado("var_99").table)
    True
    """

    def __init__(self, ax: Axes, result: TornadoResult, *, top: int | None = None,
                 currency: str = "€") -> None:
        self.ax, self.top, self.currency = ax, top, currency
        tab = result.table if top is None else result.table.head(top)
        n = tab.shape[0]
        self._pos = pos = np.arange(n)[::-1]
        self.low = ax.barh(pos, np.zeros(n), color=_LOW, height=0.6, label="assumption low")
        self.high = ax.barh(pos, np.zeros(n), color=_HIGH, height=0.6,
                            label="assumption high")
        self.base = ax.axvline(0.0, color="black", lw=1)
        ax.set_yticks(pos, [""] * n, fontsize=8)
        ax.set_ylim(-0.6, n - 0.4)
        ax.grid(axis="x", alpha=0.3)
        ax.grid(axis="y", visible=False)
        ax.legend(loc="lower right", fontsize=8)
        self.update(result)

    def update(self, result: TornadoResult) -> None:
        """Show ``result`` (an output of the same runs: the same assumptions)."""
        ax = self.ax
        tab = result.table if self.top is None else result.table.head(self.top)
        base = float(result.base_output)
        lo = tab["output_low"].to_numpy(dtype=np.float64)
        hi = tab["output_high"].to_numpy(dtype=np.float64)
        for bars, ends in ((self.low, lo), (self.high, hi)):
            for bar, end in zip(bars, ends.tolist(), strict=True):
                bar.set_x(base)
                bar.set_width(end - base)
        self.base.set_xdata([base, base])
        ax.set_yticks(self._pos, [
            f"{lab}\n{_fmt_value(float(lv), str(u))} → {_fmt_value(float(hv), str(u))}"
            for lab, lv, hv, u in zip(tab["label"], tab["low_value"], tab["high_value"],
                                      tab["unit"], strict=True)])
        vals = np.concatenate([lo, hi, [base]])
        vals = vals[np.isfinite(vals)]
        left, right = (float(vals.min()), float(vals.max())) if vals.size else (0.0, 1.0)
        pad = 0.05 * ((right - left) or abs(right) or 1.0)
        ax.set_xlim(left - pad, right + pad)
        ax.xaxis.set_major_formatter(_value_formatter(result.metric_unit, self.currency))
        ax.set_xlabel(f"{result.metric_label} (base {_fmt_value(base, result.metric_unit)})")
        if tab.shape[0] and float(tab["swing"].iloc[0]) > 0:
            first = str(tab["label"].iloc[0])
            ax.set_title(f"{first[:1].upper()}{first[1:]} moves the {result.metric_label} "
                         f"most (scenario '{result.scenario_name}')", fontsize=10)
        else:
            ax.set_title(f"What moves the {result.metric_label}: scenario "
                         f"'{result.scenario_name}'", fontsize=10)


def scenario_comparison_plot(
    comparison: ScenarioComparison,
    *,
    metrics: Sequence[str] | None = None,
    currency: str = "€",
) -> Figure:
    """Bar chart of named scenarios, one panel per metric.

    Parameters
    ----------
    comparison : ScenarioComparison
        From :func:`kamsim.analysis.sensitivity.compare_scenarios`.
    metrics : sequence of str, optional
        Metric names to show (default all, in table order).
    currency : str

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from kamsim.portfolio.datasets import data_dir
    >>> from kamsim.model import Scenario
    >>> from kamsim.analysis.sensitivity import compare_scenarios, with_changes
    >>> base = Scenario.from_yaml(data_dir() / "sample_scenario.yaml")
    >>> cmp = compare_scenarios([base, with_changes(base, {"churn_level": 1.5},
    ...                          name="recession")], n_paths=2048, rng=0)
    >>> len(scenario_comparison_plot(cmp).axes)
    4
    """
    from matplotlib.figure import Figure

    tab = comparison.table
    names = list(dict.fromkeys(tab["metric"])) if metrics is None else list(metrics)
    unknown = sorted(set(names) - set(tab["metric"]))
    if unknown:
        msg = f"unknown metric(s) {unknown}; the comparison has {sorted(set(tab['metric']))}"
        raise AssumptionError(msg)
    k = len(names)
    fig = Figure(figsize=(3.2 * k + 0.5, 3.8), layout="constrained")
    axes = fig.subplots(1, k, squeeze=False)[0]
    scen = list(comparison.scenarios)
    colors = [_MODEL_COLORS[i % len(_MODEL_COLORS)] for i in range(len(scen))]
    for ax, name in zip(axes, names, strict=True):
        sub = tab[tab["metric"] == name].set_index("scenario").reindex(scen)
        vals = sub["value"].to_numpy(dtype=np.float64)
        unit = str(sub["unit"].iloc[0])
        ax.bar(np.arange(len(scen)), vals, color=colors)
        for i, v in enumerate(vals):
            ax.annotate(_fmt_value(v, unit), (i, v), ha="center", va="bottom", fontsize=7)
        ax.set_xticks(np.arange(len(scen)), scen, rotation=30, ha="right", fontsize=8)
        ax.yaxis.set_major_formatter(_value_formatter(unit, currency))
        ax.set_title(str(sub["label"].iloc[0]), fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(f"Scenarios on common random numbers ({comparison.n_paths:,} paths)",
                 fontsize=10)
    return fig


def global_sensitivity_plot(result: GlobalSensitivityResult, *,
                            ax: Axes | None = None) -> Figure:
    """Horizontal bars of moment-independent importance (PAWN or delta), largest on top.

    delta bars carry SALib's bootstrap confidence interval; PAWN bars a whisker from
    the smallest to the largest slice statistic.

    Examples
    --------
    >>> from kamsim.portfolio.datasets import data_dir
    >>> from kamsim.model import Scenario
    >>> from kamsim.analysis.sensitivity import global_sensitivity
    >>> g = global_sensitivity(Scenario.from_yaml(data_dir() / "sample_scenario.yaml"),
    ...                        n_samples=24, n_paths=512, rng=0)
    >>> len(global_sensitivity_plot(g).axes[0].patches) == len(g.table)
    True
    """
    tab = result.table
    n = tab.shape[0]
    fig, ax = figure_axes(ax, (7.5, 0.45 * n + 1.8))
    pos = np.arange(n)[::-1]
    imp = tab["importance"].to_numpy(dtype=np.float64)
    if result.method == "delta":
        conf = tab["delta_conf"].to_numpy(dtype=np.float64)
        err = np.vstack([conf, conf])
        what = "delta (Borgonovo), bars: 95% bootstrap interval"
    else:
        err = np.vstack([imp - tab["minimum"].to_numpy(dtype=np.float64),
                         tab["maximum"].to_numpy(dtype=np.float64) - imp])
        what = "PAWN median KS distance, whiskers: min-max over slices"
    ax.barh(pos, imp, xerr=err, color="#4d4d4d", height=0.6, capsize=3,
            error_kw={"lw": 1, "ecolor": "#999999"})
    ax.set_yticks(pos, [str(x) for x in tab["label"]], fontsize=8)
    ax.set_xlim(0, max(1e-9, float(np.nanmax(imp + err[1])) * 1.1))
    ax.set_xlabel(what)
    ax.set_title(f"Global sensitivity of the {result.metric_label} "
                 f"({result.n_samples} samples)", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return fig


def survival_plot(
    fits: ChurnFit | Sequence[ChurnFit],
    *,
    times: Sequence[float] | None = None,
    n_draws: int = 200,
    rng: np.random.Generator | int | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Survival curves of one or more churn fits, with confidence bands.

    The share of accounts still with the supplier after ``t`` years of tenure. A
    parametric curve that follows the Kaplan-Meier steps describes the data well; where
    they part, the model's shape (constant or Weibull hazard) is an assumption. The
    dotted line marks the longest follow-up: beyond it every curve is extrapolation.

    Examples
    --------
    >>> import pandas as pd
    >>> from kamsim.analysis.calibrate import fit_churn
    >>> h = pd.DataFrame({"account_id": list("abcdef"), "start_date": ["2019-01-01"] * 6,
    ...     "end_date": ["2019-07-01", "2020-03-01", "2021-01-01", None, None, None]})
    >>> fig = survival_plot([fit_churn(h, model=m, as_of="2022-01-01")
    ...                      for m in ("kaplan_meier", "exponential")], n_draws=20, rng=0)
    >>> len(fig.axes[0].get_lines()) >= 2
    True
    """
    fit_list = [fits] if isinstance(fits, ChurnFit) else list(fits)
    if not fit_list:
        msg = "give at least one ChurnFit"
        raise AssumptionError(msg)
    fig, ax = figure_axes(ax, (7.0, 4.5))
    rng = np.random.default_rng(rng)
    horizon = max(f.max_follow_up for f in fit_list)
    grid = (np.linspace(0.0, horizon * 1.25, 80) if times is None
            else np.asarray(times, dtype=np.float64))
    for i, f in enumerate(fit_list):
        color = _MODEL_COLORS[i % len(_MODEL_COLORS)]
        st = f.survival_table(grid, n_draws=n_draws, rng=rng)
        t = st.index.to_numpy(dtype=np.float64)
        step = "post" if f.model == "kaplan_meier" else None
        label = f"{f.model.replace('_', '-')} ({f.n_churned} churned / {f.n_accounts})"
        if step:
            ax.step(t, st["survival"], where="post", color=color, lw=1.8, label=label)
            ax.fill_between(t, st["survival_low"], st["survival_high"], step="post",
                            color=color, alpha=0.2)
        else:
            ax.plot(t, st["survival"], color=color, lw=1.8, label=label)
            ax.fill_between(t, st["survival_low"], st["survival_high"], color=color,
                            alpha=0.2)
    ax.axvline(horizon, color="0.4", ls=":", lw=1, label="longest follow-up")
    ax.set_ylim(0, 1.02)
    ax.yaxis.set_major_formatter(percent_formatter())
    ax.set_xlabel("tenure (years since the account's start)")
    ax.set_ylabel("share of accounts still active")
    ax.set_title("Account survival (censoring handled)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper right")
    return fig
