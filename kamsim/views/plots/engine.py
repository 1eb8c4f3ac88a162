"""Figures for Monte Carlo results and deterministic worst cases.

Re-exported by :mod:`kamsim.views.plots`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from kamsim._util.figures import figure_axes
from kamsim._util.format import money, percent
from kamsim.views.plots.style import (
    BAD,
    INK,
    MUTED,
    NEUTRAL,
    PALETTE,
    currency_formatter,
    headroom,
    percent_formatter,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from kamsim.engine import LossMeasure, SimulationResult

__all__ = [
    "fan_chart",
    "loss_histogram",
    "risk_contribution_plot",
    "worst_case_waterfall",
]

_MEASURE_LABEL = {
    "run_rate_lost": "Annual revenue lost by the horizon (run rate)",
    "run_rate_gross_profit_lost": "Annual gross profit lost by the horizon (run rate)",
    "revenue_lost": "Revenue forgone within the horizon",
    "gross_profit_lost": "Gross profit forgone within the horizon",
}


def loss_histogram(result: SimulationResult, *, measure: LossMeasure = "run_rate_lost",
                   levels: Sequence[float] = (0.95, 0.995), currency: str = "€",
                   bins: int = 60, ax: Axes | None = None) -> Figure:
    """Histogram of simulated losses with VaR (dashed) and ES (dotted) marked per level.

    Examples
    --------
    >>> from kamsim.portfolio.datasets import synthetic_portfolio
    >>> from kamsim.engine import simulate
    >>> from kamsim.model import Scenario
    >>> res = simulate(Scenario(portfolio=synthetic_portfolio(40, rng=0)), n_paths=2000, rng=1)
    >>> fig = loss_histogram(res)
    >>> len(fig.axes)
    1
    """
    x = result.losses(measure)
    fig, ax = figure_axes(ax, (8, 4))
    ax.hist(x, bins=bins, color=PALETTE["sky"], edgecolor="white", weights=np.full(x.size,
                                                                                1 / x.size))
    colors = (BAD, PALETTE["purple"], PALETTE["green"], MUTED)
    for a, c in zip(levels, colors, strict=False):
        v, e = result.var(a, measure), result.es(a, measure)
        years = 1 / (1 - a)
        ax.axvline(v, color=c, ls="--", lw=1.5, label=f"VaR {a:.1%} (1-in-{years:.0f}): "
                   f"{currency_formatter(currency)(v)}")
        ax.axvline(e, color=c, ls=":", lw=1.5, label=f"ES {a:.1%}: "
                   f"{currency_formatter(currency)(e)}")
    ax.xaxis.set_major_formatter(currency_formatter(currency))
    ax.yaxis.set_major_formatter(percent_formatter())
    ax.set_xlabel(_MEASURE_LABEL.get(measure, measure))
    ax.set_ylabel("Share of simulated futures")
    a0 = levels[0] if len(levels) else 0.95
    ax.set_title(f"In 1 future in {1 / (1 - a0):.0f} we lose at least "
                 f"{money(result.var(a0, measure), currency)} "
                 f"({result.n_paths:,} futures, {result.scenario.horizon_months} months)")
    ax.legend(fontsize="small", frameon=False)
    return fig


def fan_chart(result: SimulationResult, *, measure: str = "revenue", currency: str = "€",
              fixed_costs_line: bool = True, ax: Axes | None = None) -> Figure:
    """Monthly revenue (or gross profit): median with 50 % and 90 % bands, and the base.

    For ``measure="gross_profit"`` the monthly fixed costs (break-even) are drawn too.
    """
    q = result.monthly_quantiles((0.05, 0.25, 0.5, 0.75, 0.95),
                                 measure="gross_profit" if measure == "gross_profit"
                                 else "revenue")
    months = q.index.to_numpy()
    fig, ax = figure_axes(ax, (8, 4))
    ax.fill_between(months, q["q0.05"], q["q0.95"], color="#C9E3F5", label="90 % of futures")
    ax.fill_between(months, q["q0.25"], q["q0.75"], color=PALETTE["sky"],
                    label="50 % of futures")
    ax.plot(months, q["q0.5"], color=NEUTRAL, lw=2, label="median")
    sc = result.scenario
    if measure == "gross_profit":
        base = sc.portfolio.gross_profit.sum() / 12 if sc.portfolio.has_gross_profit else 0.0
        if fixed_costs_line and sc.fixed_costs > 0:
            ax.axhline(sc.fixed_costs / 12, color=BAD, ls="--",
                       label="fixed costs (break-even)")
        label = "Monthly gross profit"
    else:
        base = sc.portfolio.total_revenue / 12
        label = "Monthly revenue"
    ax.axhline(base, color=MUTED, ls=":", label="today")
    ax.yaxis.set_major_formatter(currency_formatter(currency))
    ax.set_xlabel("Month")
    ax.set_ylabel(label)
    title = f"{label}: range of simulated futures"
    if measure == "gross_profit" and sc.fixed_costs > 0:
        below = q["q0.05"].to_numpy() < sc.fixed_costs / 12
        if below.any():
            title = (f"In 1 future in 20, gross profit is below fixed costs by month "
                     f"{int(months[np.argmax(below)])}")
        else:
            title = "Even in 1 future in 20, gross profit stays above fixed costs"
    ax.set_title(title)
    ax.legend(fontsize="small", frameon=False, loc="lower left")
    return fig


def risk_contribution_plot(contributions: pd.DataFrame, *, top: int = 10,
                           currency: str = "€", ax: Axes | None = None) -> Figure:
    """Bar chart of the accounts that drive the tail (from ``risk_contributions``)."""
    df = contributions.head(top).iloc[::-1]
    fig, ax = figure_axes(ax, (8, 0.35 * len(df) + 1.2))
    labels = [str(n) for n in df["name"]]
    ax.barh(labels, df["contribution"], color=BAD)
    ax.xaxis.set_major_formatter(currency_formatter(currency))
    level = contributions.attrs.get("level")
    ax.set_xlabel("Expected loss in the worst "
                  f"{(1 - level):.1%} of futures" if level else "Expected loss in the tail")
    ax.set_xlim(0, float(df["contribution"].max() or 1.0) * 1.08)
    if len(df) and "share_of_tail_loss" in df:
        first = contributions.iloc[0]
        ax.set_title(f"{first['name']} drives {percent(float(first['share_of_tail_loss']), 0)}"
                     " of the loss in the bad years")
    else:
        ax.set_title("Which accounts drive the bad years")
    return fig


def worst_case_waterfall(table: pd.DataFrame, *, fixed_costs: float = 0.0,
                         currency: str = "€", ax: Axes | None = None) -> Figure:
    """Waterfall of annual gross profit as the top accounts are lost one by one.

    ``table`` is :func:`kamsim.analysis.worst_case.lose_top_k` output. The red line is fixed
    costs: below it the business makes a loss.
    """
    gp = table["gross_profit_remaining"].to_numpy(dtype=float)
    names = ["Today", *[f"− {n}" for n in table["last_account_lost"].iloc[1:]]]
    fig, ax = figure_axes(ax, (8, 4))
    x = np.arange(len(gp))
    ax.bar(x[:1], gp[:1], color=NEUTRAL, width=0.6)
    drops = gp[:-1] - gp[1:]
    ax.bar(x[1:], -drops, bottom=gp[:-1], color=BAD, width=0.6, label="gross profit lost")
    ax.plot(x[1:], gp[1:], "o", color=INK, ms=4, label="gross profit left")
    cur = currency_formatter(currency)
    ax.annotate(cur(gp[0]), (0, gp[0]), ha="center", va="bottom", fontsize=8,
                xytext=(0, 2), textcoords="offset points")
    for i in range(1, len(gp)):
        ax.annotate(f"−{cur(drops[i - 1])}", (i, gp[i - 1]), ha="center", va="bottom",
                    fontsize=8, xytext=(0, 2), textcoords="offset points")
    if fixed_costs > 0:
        ax.axhline(fixed_costs, color=MUTED, ls="--", label="fixed costs (break-even)")
    headroom(ax, max(float(gp.max()), fixed_costs), min(0.0, float(gp.min())), pad=0.14)
    ax.set_xlim(-0.6, len(gp) - 0.4)
    ax.set_xticks(x, names, rotation=20, ha="right", fontsize="small")
    ax.yaxis.set_major_formatter(cur)
    ax.set_ylabel("Annual gross profit")
    below = np.flatnonzero(gp < fixed_costs) if fixed_costs > 0 else np.array([], int)
    if below.size and below[0] > 0:
        k = int(below[0])
        who = "our largest account" if k == 1 else f"the top {k} accounts"
        ax.set_title(f"Losing {who} pushes profit below fixed costs")
    elif fixed_costs > 0:
        ax.set_title(f"Even losing the top {len(gp) - 1} accounts, profit covers fixed costs")
    else:
        ax.set_title("Gross profit as the largest accounts leave one by one")
    ax.legend(fontsize="small", frameon=False, loc="upper right")
    return fig
