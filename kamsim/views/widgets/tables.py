"""Static tables for people in the explorer notebooks, through the shared formatter.

The notebooks show library tables (summaries, comparisons, fits) as they are computed;
each function here turns one into an HTML table with business headers and every value
written by :mod:`kamsim._util.format` (money with k/M, percentages, months, counts): no
scientific notation, no reprs, no code names, the key column first. A displayed
:class:`PeopleTable` shows itself in Jupyter and Voila (``_repr_html_``) and keeps the
numeric frame it came from in :attr:`PeopleTable.frame`.

Two kinds of tables are covered:

* **metric / value / unit** summaries (``result.summary()``, ``breakdown.summary()``,
  ``roi.summary()``, ...): :func:`metric_table` formats each row by its unit;
* **column tables**: :func:`people_table` with a header and a kind per column, and the
  named views below for the tables the notebooks show.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from kamsim._util.format import count, money, months, number, percent
from kamsim.exceptions import AssumptionError
from kamsim.views.widgets.base import Formatter, html_table

__all__ = ["KINDS", "PeopleTable", "capacity_view", "comparison_view", "metric_table",
           "negotiation_view", "people_table", "rebate_view", "recovery_view",
           "tactic_roi_view", "tactics_view"]

#: The kinds of value a column may hold (see :func:`formatter`).
KINDS = ("money", "percent", "percent1", "months", "count", "number", "ratio", "times",
         "yesno", "text", "score")


@dataclass(frozen=True)
class PeopleTable:
    """An HTML table for people (shown by Jupyter and Voila) and the frame behind it.

    Attributes
    ----------
    html : str
        The table (see :func:`kamsim.views.widgets.html_table`).
    frame : pandas.DataFrame
        The numeric table it shows (for further work; never displayed raw).
    """

    html: str
    frame: pd.DataFrame = field(repr=False)

    def _repr_html_(self) -> str:
        return f"<div class='kamsim-explorer'>{self.html}</div>"

    def __str__(self) -> str:
        return self.html


def _missing(v: Any) -> bool:
    if v is None or v is pd.NA:
        return True
    return isinstance(v, float | np.floating) and not math.isfinite(float(v))


def formatter(kind: str, *, currency: str = "€", horizon: int | None = None) -> Formatter:
    """The formatter of one kind of value (a missing value shows as "–").

    Parameters
    ----------
    kind : str
        One of :data:`KINDS`: ``"money"``, ``"percent"`` (a fraction shown as a
        percentage; ``"percent1"`` with one decimal), ``"months"``, ``"count"``,
        ``"number"`` (two decimals, thousands grouped), ``"ratio"`` (two decimals),
        ``"times"`` (a multiplier, ``0.80 ×``), ``"score"``, ``"yesno"`` or ``"text"``.
    currency : str
    horizon : int, optional
        Months simulated: a missing month count reads "not within N months".

    Returns
    -------
    callable

    Examples
    --------
    >>> formatter("money")(6_715_620.25), formatter("percent")(0.957)
    ('€6.7M', '95.7 %')
    >>> formatter("months", horizon=36)(float("nan")), formatter("yesno")(0.0)
    ('not within 36 months', 'no')
    """
    def guard(f: Formatter) -> Formatter:
        return lambda v: "–" if _missing(v) else f(v)

    match kind:
        case "money":
            return guard(lambda v: money(float(v), currency))
        case "percent":
            return guard(lambda v: percent(float(v)))
        case "percent1":
            return guard(lambda v: percent(float(v), 1))
        case "months":
            return lambda v: months(None if _missing(v) else float(v), horizon=horizon)
        case "count":
            return guard(lambda v: count(float(v)))
        case "number":
            return guard(lambda v: number(float(v), 2, compact=True))
        case "ratio" | "score":
            return guard(lambda v: f"{float(v):,.2f}")
        case "times":
            return guard(lambda v: f"{float(v):.2f} ×")
        case "yesno":
            return guard(lambda v: "yes" if bool(v) else "no")
        case "text":
            return lambda v: "–" if _missing(v) else str(v)
    msg = f"unknown kind {kind!r}; choose one of {list(KINDS)}"
    raise AssumptionError(msg, field="kind")


def people_table(frame: pd.DataFrame, columns: Mapping[str, tuple[str, str]], *,
                 key: str | None = None, title: str = "", currency: str = "€",
                 horizon: int | None = None, max_rows: int | None = None) -> PeopleTable:
    """A table for people: the chosen columns, business headers, formatted values.

    Parameters
    ----------
    frame : pandas.DataFrame
        The library table (numeric values; the index is shown only if reset into a
        column first).
    columns : mapping of column to (header, kind)
        Columns to show, in order, with their header and kind (see :func:`formatter`).
    key : str, optional
        Column shown first (the one the text tells you to read).
    title : str
        Bold caption above the table.
    currency : str
    horizon : int, optional
        Months simulated (for "not within N months").
    max_rows : int, optional

    Returns
    -------
    PeopleTable

    Examples
    --------
    >>> t = people_table(pd.DataFrame({"rate": [0.02], "tier": ["key"]}),
    ...                  {"rate": ("Rebate", "percent"), "tier": ("Tier", "text")},
    ...                  key="tier")
    >>> t.html.index("Tier") < t.html.index("Rebate"), "2.0 %" in t.html
    (True, True)
    """
    spec = {c: (header, None if kind == "text" else
                formatter(kind, currency=currency, horizon=horizon))
            for c, (header, kind) in columns.items()}
    text_cols = [c for c, (_, kind) in columns.items() if kind == "text"]
    shown = frame.copy()
    for c in text_cols:
        shown[c] = [formatter("text")(v) for v in shown[c]]
    return PeopleTable(html_table(shown, spec, title=title, key=key, max_rows=max_rows),
                       frame)


#: How each unit of a metric/value/unit summary is written.
_UNIT_KINDS = {"currency": "money", "probability": "percent", "fraction": "percent",
               "share": "percent", "ratio": "ratio", "months": "months", "count": "count",
               "bool": "yesno", "accounts": "count", "paths": "count", "number": "number"}


def metric_table(summary: pd.DataFrame, *, title: str = "", currency: str = "€",
                 horizon: int | None = None, rows: Sequence[str] | None = None,
                 header: str = "Figure") -> PeopleTable:
    """A metric / value / unit summary as a two-column table, each value by its unit.

    Parameters
    ----------
    summary : pandas.DataFrame
        A frame with ``metric`` (as a column or the index), ``value`` and ``unit``
        columns (the library's ``summary()`` form).
    title : str
    currency : str
    horizon : int, optional
        Months simulated (a missing month count reads "not within N months").
    rows : sequence of str, optional
        Metrics to show, in order (default all).
    header : str
        Header of the metric column.

    Returns
    -------
    PeopleTable

    Examples
    --------
    >>> s = pd.DataFrame({"metric": ["expected revenue gap", "P(out of cash)"],
    ...                   "value": [2.2516e7, 0.532], "unit": ["currency", "probability"]})
    >>> t = metric_table(s)
    >>> "€22.5M" in t.html, "53.2 %" in t.html, "Expected revenue gap" in t.html
    (True, True, True)
    """
    df = summary.reset_index() if "metric" not in summary.columns else summary.copy()
    if rows is not None:
        df = df.set_index("metric").loc[list(rows)].reset_index()
    values = []
    for metric, value, unit in zip(df["metric"], df["value"], df["unit"], strict=True):
        u = str(unit).lower()
        kind = next((k for name, k in _UNIT_KINDS.items() if u.startswith(name)), "number")
        v = formatter(kind, currency=currency, horizon=horizon)(value)
        if kind == "months" and _missing(value):
            v = "not within the horizon" if horizon is None else v
        values.append((_sentence(str(metric)), v))
    shown = pd.DataFrame(values, columns=["metric", "value"])
    return PeopleTable(html_table(shown, {"metric": (header, None), "value": ("", None)},
                                  title=title), summary)


def _sentence(text: str) -> str:
    text = text.replace("_", " ")
    return text[:1].upper() + text[1:]


# --- the tables of the explorer notebooks ---------------------------------------------


def recovery_view(summary: pd.DataFrame, *, horizon: int,
                  title: str = "") -> PeopleTable:
    """``ReplacementTimeline.summary()``: months until revenue is back, in words.

    Examples
    --------
    >>> s = pd.DataFrame({"statistic": ["median", "p80", "share_not_recovered"],
    ...                   "value": [28.0, float("nan"), 0.12]})
    >>> t = recovery_view(s, horizon=36)
    >>> "28 months" in t.html, "not within 36 months" in t.html, "12.0 %" in t.html
    (True, True, True)
    """
    words = {"median": "Half of the futures are back within",
             "p80": "80 % of the futures are back within",
             "p90": "90 % of the futures are back within",
             "share_not_recovered": "Futures not back within the horizon"}
    rows = []
    for stat, value in zip(summary["statistic"], summary["value"], strict=True):
        kind = "percent" if stat == "share_not_recovered" else "months"
        rows.append((words.get(str(stat), _sentence(str(stat))),
                     formatter(kind, horizon=horizon)(value)))
    shown = pd.DataFrame(rows, columns=["figure", "value"])
    return PeopleTable(html_table(shown, {"figure": ("Figure", None), "value": ("", None)},
                                  title=title), summary)


def capacity_view(summary: pd.DataFrame) -> PeopleTable:
    """``required_capacity(...).summary()``: the capacity needed, with its interval."""
    df = summary.copy()
    df["parameter"] = [_sentence(str(p)) for p in df["parameter"]]
    return people_table(df, {
        "parameter": ("Assumption", "text"), "value": ("Needed", "number"),
        "lower": ("Interval from", "number"), "upper": ("to", "number"),
        "achieved_probability": ("Back in time with probability", "percent"),
        "target_probability": ("Target probability", "percent"),
        "within_months": ("Within", "months"), "feasible": ("Reachable?", "yesno")},
        key="parameter")


def comparison_view(summary: pd.DataFrame, *, currency: str = "€") -> PeopleTable:
    """``compare_pass_through(...).summary()``: each policy's NPV against the first."""
    return people_table(summary, {
        "policy": ("Policy", "text"), "expected_npv": ("Expected NPV (exact)", "money"),
        "tail_mean": ("Average NPV in the worst 5 %", "money"),
        "diff_vs_ref": ("Difference vs the first policy", "money"),
        "diff_se": ("Its standard error", "money"),
        "p_better": ("Chance it does better", "percent")}, key="policy", currency=currency)


def rebate_view(table: pd.DataFrame, *, currency: str = "€") -> PeopleTable:
    """``RebateSchedule.table(...)``: what the account pays at each volume."""
    return people_table(table, {
        "volume": ("Volume (units)", "count"), "gross_revenue": ("List revenue", "money"),
        "rebate": ("Rebate", "money"), "net_revenue": ("Net revenue", "money"),
        "effective_price": ("Price per unit", "number"),
        "effective_rate": ("Rebate rate", "percent1")}, key="volume", currency=currency)


def tactics_view(tactics: pd.DataFrame, *, currency: str = "€") -> PeopleTable:
    """The KAM tactics' assumed costs and effects (one row per tactic)."""
    return people_table(tactics, {
        "name": ("Tactic", "text"), "fixed_cost": ("One-off cost", "money"),
        "cost_per_account": ("Cost per account a year", "money"),
        "hazard_multiplier": ("Churn multiplier", "times"),
        "efficiency_gain": ("Efficiency gain (% of revenue)", "percent1"),
        "margin_change": ("Margin change", "percent1"),
        "volume_change": ("Volume change", "percent1")}, key="name", currency=currency)


def tactic_roi_view(table: pd.DataFrame, *, currency: str = "€") -> PeopleTable:
    """``evaluate_program(...).to_frame()``: each tactic's value alone and at the margin."""
    return people_table(table, {
        "tactic": ("Tactic", "text"), "cost_npv": ("Cost (NPV)", "money"),
        "standalone_gain": ("Value alone (NPV)", "money"),
        "standalone_se": ("Its standard error", "money"),
        "marginal_gain": ("Value at the margin (NPV)", "money"),
        "roi": ("Return on cost", "ratio"),
        "pays_for_itself": ("Pays for itself?", "yesno")}, key="tactic", currency=currency)


def negotiation_view(table: pd.DataFrame, *, currency: str = "€") -> PeopleTable:
    """``negotiation_table(...)``: concede or refuse, per account."""
    df = table.copy()
    df["break_even_credibility"] = [
        "never" if _missing(v) or float(v) > 1 else ("always" if float(v) <= 0 else v)
        for v in df["break_even_credibility"]]
    fmt = formatter("percent")
    df["break_even_credibility"] = [v if isinstance(v, str) else fmt(v)
                                    for v in df["break_even_credibility"]]
    return people_table(df, {
        "name": ("Account", "text"), "revenue": ("Revenue a year", "money"),
        "ev_concede": ("NPV if we concede", "money"),
        "ev_refuse": ("NPV if we refuse", "money"),
        "walk_away": ("Walk-away cut", "percent1"),
        "break_even_credibility": ("Concede if the threat is at least", "text"),
        "decision": ("Better choice", "text")}, key="name", currency=currency)
