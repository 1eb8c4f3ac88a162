"""Figures for price cuts, KAM programs and negotiations (in :mod:`kamsim.views.plots`).

Every function returns a :class:`matplotlib.figure.Figure` built without pyplot; pass
``ax=`` to draw into an existing axes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pandas as pd

from kamsim._util.figures import figure_axes
from kamsim._util.format import money, percent
from kamsim.views.plots.style import (
    BAD,
    GOOD,
    INK,
    NEUTRAL,
    SERIES,
    currency_formatter,
    headroom,
    percent_formatter,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from kamsim.economics.pricing import OptimalPassThrough, PassThroughBreakdown, PolicyComparison
    from kamsim.economics.program import ProgramResult
    from kamsim.economics.rebates import RebateSchedule

__all__ = [
    "pass_through_curve_plot",
    "pass_through_waterfall",
    "rebate_plot",
    "tactic_roi_plot",
    "walk_away_plot",
]

_GOOD, _BAD, _NEUTRAL, _LINE = GOOD, BAD, NEUTRAL, INK


def _fmt(currency: str) -> tuple[object, object]:

    return currency_formatter(currency), percent_formatter()


def pass_through_waterfall(breakdown: PassThroughBreakdown, *, currency: str = "€",
                           ax: Axes | None = None) -> Figure:
    """Waterfall from the efficiency gain to what is passed back, bought and kept.

    Bars: NPV of the efficiency gains (start), minus the NPV passed back as price cuts,
    plus the NPV that retention and volume buy back, ending at the gain kept as profit.

    Parameters
    ----------
    breakdown : PassThroughBreakdown
        From :func:`kamsim.economics.pricing.pass_through_breakdown`.
    currency : str
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = figure_axes(ax, (7.5, 4.2))
    df = breakdown.to_frame()
    cur, _ = _fmt(currency)
    level = 0.0
    tops: list[float] = [0.0]
    bottoms: list[float] = [0.0]
    for i, (kind, value) in enumerate(zip(df["kind"].tolist(), df["value"].tolist(),
                                          strict=True)):
        v = float(value)
        if kind == "start":
            bottom, height, color = 0.0, v, _NEUTRAL
            level = v
        elif kind == "end":
            bottom, height, color = 0.0, v, _GOOD if v >= 0 else _BAD
        else:
            bottom, height = level, v
            color = _GOOD if v >= 0 else _BAD
            level += v
        ax.bar(i, height, bottom=bottom, color=color, width=0.6)
        tops.append(bottom + max(height, 0.0))
        bottoms.append(bottom + min(height, 0.0))
        ax.annotate(cur(v), (i, bottom + max(height, 0)),  # type: ignore[operator]
                    ha="center", va="bottom", fontsize=8, xytext=(0, 2),
                    textcoords="offset points")
    ax.set_xticks(range(len(df)), [s.replace(" ", "\n", 2) for s in df.step], fontsize=8)
    ax.yaxis.set_major_formatter(cur)  # type: ignore[arg-type]
    ax.axhline(0, color=_LINE, lw=0.8)
    headroom(ax, max(tops), min(bottoms), pad=0.14)
    ax.set_xlim(-0.6, len(df) - 0.4)
    ax.set_ylabel("NPV over the horizon")
    gain, kept = float(breakdown.gain_npv), float(breakdown.kept_npv)
    share = kept / gain if gain else float("nan")
    ax.set_title(f"Passing back {percent(breakdown.pass_through, 0)} of the gains keeps "
                 f"{money(kept, currency)} of {money(gain, currency)}"
                 + (f" ({percent(share, 0)})" if gain else ""))
    return fig


def pass_through_curve_plot(curve: pd.DataFrame, *,
                            comparison: PolicyComparison | None = None,
                            optimum: OptimalPassThrough | None = None,
                            currency: str = "€", ax: Axes | None = None) -> Figure:
    """Expected NPV gained by passing gains back, against pass-through, optimum marked.

    The line is the exact expected NPV relative to zero pass-through (from
    :func:`kamsim.economics.pricing.pass_through_curve`). With ``comparison`` (a Monte Carlo
    :class:`~kamsim.economics.pricing.PolicyComparison` whose ``values`` are pass-through
    fractions), the shaded band holds the middle 90 % of the per-path differences (the
    uncertainty of the outcome) and error bars show ±2 standard errors of the Monte Carlo
    mean on common random numbers.
    """
    fig, ax = figure_axes(ax, (7.5, 4.2))
    cur, pct = _fmt(currency)
    x = curve["pass_through"].to_numpy()
    y = curve["net_of_pass_through"].to_numpy()
    if comparison is not None:
        xv = np.asarray(comparison.values)
        d = comparison.differences(0)
        lo, hi = np.quantile(d, [0.05, 0.95], axis=1)
        ax.fill_between(xv, lo, hi, color=_NEUTRAL, alpha=0.18,
                        label="5-95 % of simulated futures")
        ax.errorbar(xv, d.mean(axis=1), yerr=2 * comparison.difference_se(0), fmt="o",
                    color=_NEUTRAL, ms=4, capsize=3, label="Monte Carlo mean ± 2 SE")
    ax.plot(x, y, color=_LINE, lw=2, label="expected (exact)")
    ax.axhline(0, color="#999999", lw=0.8)
    if optimum is not None:
        ax.axvline(optimum.pass_through, color=_GOOD, ls="--", lw=1.2)
        ax.annotate(f"optimum {optimum.pass_through:.0%} ({optimum.objective})",
                    (optimum.pass_through, ax.get_ylim()[1]), ha="left", va="top",
                    xytext=(4, -4), textcoords="offset points", color=_GOOD, fontsize=9)
    ax.xaxis.set_major_formatter(pct)  # type: ignore[arg-type]
    ax.yaxis.set_major_formatter(cur)  # type: ignore[arg-type]
    ax.set_xlabel("Share of efficiency gains passed back as price cuts")
    ax.set_ylabel("NPV vs keeping all gains")
    if optimum is not None:
        ax.set_title(f"Passing back {percent(optimum.pass_through, 0)} of the gains is worth "
                     "most under these assumptions")
    else:
        ax.set_title("What passing gains back is worth")
    ax.legend(loc="lower left", fontsize=8)
    return fig


def tactic_roi_plot(result: ProgramResult, *, currency: str = "€",
                    ax: Axes | None = None) -> Figure:
    """Each tactic's incremental NPV alone (bars, ±2 SE) and at the margin (dots).

    Green bars pay for themselves (standalone and marginal gains both positive).
    """
    t = result.to_frame()
    fig, ax = figure_axes(ax, (8.0, 0.45 * len(t) + 1.8))
    cur, _ = _fmt(currency)
    y = np.arange(len(t))[::-1]
    colors = [_GOOD if p else _BAD for p in t.pays_for_itself]
    ax.barh(y, t.standalone_gain, xerr=2 * t.standalone_se, color=colors, alpha=0.85,
            capsize=3, label="alone vs no program")
    ax.scatter(t.marginal_gain, y, color=_LINE, zorder=3, s=18,
               label="at the margin (program minus it)")
    ax.set_yticks(y, list(t.tactic), fontsize=9)
    ax.axvline(0, color=_LINE, lw=0.8)
    ax.xaxis.set_major_formatter(cur)  # type: ignore[arg-type]
    ax.set_xlabel("Incremental NPV of profit over the horizon")
    ax.set_title("Which tactics pay for themselves (illustrative assumptions)")
    ax.legend(loc="best", fontsize=8)
    return fig


def walk_away_plot(curve: pd.DataFrame, *, demand: float | None = None,
                   ax: Axes | None = None) -> Figure:
    """Walk-away concession against the credibility of the threat, one line per account.

    ``curve`` comes from :func:`kamsim.economics.negotiation.walk_away_curve`. With ``demand``, a
    horizontal line marks the cut asked for: where an account's line is above it,
    conceding beats refusing.
    """
    fig, ax = figure_axes(ax, (7.5, 4.2))
    _, pct = _fmt("")
    for i, ((_acc, name), g) in enumerate(curve.groupby(["account_id", "name"], sort=False)):
        ax.plot(g.credibility, g.walk_away, lw=1.8, label=str(name),
                color=SERIES[i % len(SERIES)])
    if demand is not None:
        ax.axhline(demand, color=_BAD, ls="--", lw=1.2, label=f"demand {demand:.1%}")
    ax.xaxis.set_major_formatter(pct)  # type: ignore[arg-type]

    ax.yaxis.set_major_formatter(percent_formatter(1))
    ax.set_xlabel("Credibility of the threat (probability it leaves if refused)")
    ax.set_ylabel("Largest price cut worth conceding")
    if demand is not None and len(curve):
        lowest = float(curve["walk_away"].min())
        ax.set_title("Conceding the demanded cut beats refusing at every credibility shown"
                     if lowest >= demand else
                     f"Below some credibilities the {percent(demand, 0)} demand is worth "
                     "refusing")
    else:
        ax.set_title("Walk-away concession")
    ax.legend(fontsize=8, loc="upper left")
    return fig


def rebate_plot(schedules: Sequence[RebateSchedule], volumes: npt.ArrayLike, *,
                unit_price: float = 1.0, labels: Sequence[str] | None = None,
                ax: Axes | None = None) -> Figure:
    """Effective price per unit against volume for one or more rebate schedules."""
    fig, ax = figure_axes(ax, (7.5, 4.0))
    v = np.asarray(volumes, dtype=np.float64)
    names = labels or [s.kind.replace("_", " ") for s in schedules]
    for s, name in zip(schedules, names, strict=True):
        ax.plot(v, s.effective_price(v, unit_price), lw=1.8, label=name)
    ax.set_xlabel("Volume (units)")
    ax.set_ylabel("Effective price per unit")
    ax.set_title("Rebate schedules: effective price")
    ax.legend(fontsize=8)
    return fig
