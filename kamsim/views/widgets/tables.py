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
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from kamsim._util.format import count, money, months, number, percent
from kamsim.analysis.sensitivity import default_parameters
from kamsim.exceptions import AssumptionError
from kamsim.views.widgets.base import Formatter, html_table, table_css

__all__ = [
    "KINDS",
    "PeopleTable",
    "account_probs_view",
    "assignments_view",
    "budget_sentence",
    "budget_view",
    "capacity_view",
    "comparison_view",
    "distribution_view",
    "fit_view",
    "formatter",
    "frontier_view",
    "history_view",
    "importance_view",
    "improvement_view",
    "metric_table",
    "negotiation_view",
    "out_of_sample_view",
    "people_table",
    "plan_menu_view",
    "rebate_view",
    "recovery_view",
    "scenario_comparison_view",
    "tactic_roi_view",
    "tactics_view",
]

#: The kinds of value a column may hold (see :func:`formatter`).
KINDS = ("money", "percent", "percent1", "months", "count", "number", "ratio", "times",
         "seconds", "yesno", "text", "score")


# the panels' table style (kamsim.views.widgets.base), for tables outside a panel
_STATIC_CSS = f"<style>\n{table_css('kamsim-static')}\n</style>"


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
        # its own class (not the panels' kamsim-explorer: a static table is no panel)
        return f"<div class='kamsim-static'>{_STATIC_CSS}{self.html}</div>"

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
        case "seconds":
            return guard(lambda v: f"{float(v):.2f} s")
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
               "bool": "yesno", "accounts": "count", "paths": "count", "number": "number",
               "seconds": "seconds"}


def metric_table(summary: pd.DataFrame, *, title: str = "", currency: str = "€",
                 horizon: int | None = None, rows: Sequence[str] | None = None,
                 header: str = "Figure", units: Mapping[str, str] | None = None,
                 names: Mapping[str, str] | None = None) -> PeopleTable:
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
    units : mapping of str to str, optional
        Unit of a metric when the summary has no ``unit`` column (or to override it):
        ``"currency"``, ``"probability"``, ``"count"``, ``"months"``, ``"ratio"``, ...
    names : mapping of str to str, optional
        Business names of metrics whose code name the summary uses.

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
    given = df["unit"] if "unit" in df.columns else ["number"] * len(df)
    over, words = dict(units or {}), dict(names or {})
    for metric, value, unit in zip(df["metric"], df["value"], given, strict=True):
        unit = over.get(str(metric), unit)
        u = str(unit).lower()
        kind = next((k for name, k in _UNIT_KINDS.items() if u.startswith(name)), "number")
        v = formatter(kind, currency=currency, horizon=horizon)(value)
        if kind == "months" and _missing(value):
            v = "not within the horizon" if horizon is None else v
        values.append((_sentence(words.get(str(metric), str(metric))), v))
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
        "effective_price": ("Price per unit", "money"),
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


def scenario_comparison_view(comparison: Any, *, currency: str = "€") -> PeopleTable:
    """``compare_scenarios(...)``: the scenarios as rows, each figure in its unit.

    Parameters
    ----------
    comparison : ScenarioComparison
        From :func:`kamsim.analysis.sensitivity.compare_scenarios`.
    currency : str

    Returns
    -------
    PeopleTable
    """
    tidy = comparison.to_frame()
    units = dict(zip(tidy["label"], tidy["unit"], strict=False))
    wide = comparison.wide().reset_index()
    columns: dict[str, tuple[str, str]] = {"scenario": ("Scenario", "text")}
    for label in wide.columns[1:]:
        u = str(units.get(label, "")).lower()
        kind = next((k for name, k in _UNIT_KINDS.items() if u.startswith(name)), "number")
        columns[str(label)] = (_sentence(str(label)), kind)
    return people_table(wide, columns, key="scenario", currency=currency)


def _parameter_kind(unit: str) -> str:
    u = unit.lower()
    if u.startswith("currency"):
        return "money"
    if u.startswith(("probability", "fraction", "share")):
        return "percent"
    return "number"


def importance_view(table: pd.DataFrame) -> PeopleTable:
    """``global_sensitivity(...).to_frame()``: each assumption's range and importance.

    The range is written in each assumption's unit (money, percentages, plain numbers).
    """
    units = {name: p.unit for name, p in default_parameters(include_decisions=True).items()}
    rows = []
    for _, r in table.iterrows():
        fmt = formatter(_parameter_kind(str(units.get(str(r["parameter"]), ""))))
        rows.append((_sentence(str(r.get("label", r["parameter"]))), fmt(r["low"]),
                     fmt(r["high"]), float(r["importance"])))
    shown = pd.DataFrame(rows, columns=["parameter", "low", "high", "importance"])
    return PeopleTable(html_table(shown, {
        "parameter": ("Assumption", None), "low": ("From", lambda v: str(v)),
        "high": ("to", lambda v: str(v)),
        "importance": ("Importance (0 = none)", formatter("score"))}), table)


def fit_view(summary: pd.DataFrame) -> PeopleTable:
    """A churn fit's parameters (lifelines' summary) or Kaplan-Meier facts, readable.

    Parametric fits: the estimate with its standard error and 95 % interval per
    parameter; Kaplan-Meier: accounts, churned, censored, median survival, survival at
    one year.
    """
    if "value" in summary.columns:  # Kaplan-Meier facts
        units = {"accounts": "count", "churned": "count", "censored": "count",
                 "median_survival_years": "number", "survival_1y": "probability"}
        df = summary.reset_index()
        df["unit"] = [units.get(str(m), "number") for m in df["metric"]]
        return metric_table(df)
    df = summary.reset_index()
    name = df.columns[0] if "param" not in df.columns else "param"
    cols = {c.lower(): c for c in df.columns}
    rows = pd.DataFrame({
        "parameter": [" ".join(str(v) for v in (r if isinstance(r, tuple) else (r,)))
                      .replace("_", " ").strip() for r in df[name]],
        "estimate": df[cols.get("coef", df.columns[1])],
        "se": df[cols["se(coef)"]] if "se(coef)" in cols else np.nan,
        "low": df[cols["coef lower 95%"]] if "coef lower 95%" in cols else np.nan,
        "high": df[cols["coef upper 95%"]] if "coef upper 95%" in cols else np.nan})
    return people_table(rows, {
        "parameter": ("Parameter", "text"), "estimate": ("Estimate", "ratio"),
        "se": ("Standard error", "ratio"), "low": ("95 % interval from", "ratio"),
        "high": ("to", "ratio")}, key="parameter")


# --- notebook 06: where the retention budget goes ---------------------------------------


def plan_menu_view(plans: Sequence[Any], *, currency: str = "€") -> PeopleTable:
    """The retention plans' costs and effects (one row per plan of the menu)."""
    df = pd.DataFrame([p.to_dict() for p in plans])
    return people_table(df, {
        "name": ("Plan", "text"), "one_off_cost": ("One-off cost per account", "money"),
        "monthly_cost": ("Cost per account a month", "money"),
        "fixed_monthly_cost": ("Fixed cost a month", "money"),
        "hazard_multiplier": ("Churn multiplier", "times"),
        "price_cut": ("Price concession", "percent1"),
        "margin_change": ("Margin change", "percent1"),
        "volume_change": ("Volume change", "percent1"),
        "efficiency_gain": ("Efficiency gain", "percent1")}, key="name", currency=currency)


def budget_sentence(budget: Any, *, currency: str = "€") -> str:
    """The retention budget in one sentence ("€300k over the horizon; at most ...")."""
    parts = [f"Retention budget: {money(float(budget.amount), currency)} over the horizon"]
    caps = dict(getattr(budget, "caps", {}) or {})
    if caps:
        parts.append("at most " + ", ".join(f"{count(n)} on {p}" for p, n in caps.items()))
    for attr, words in (("force_in", "must get a plan"), ("force_out", "stay on the default")):
        ids = list(getattr(budget, attr, ()) or ())
        if ids:
            parts.append(f"{', '.join(map(str, ids))} {words}")
    return "; ".join(parts) + "."


def budget_view(table: pd.DataFrame, *, currency: str = "€") -> PeopleTable:
    """Where the retention budget goes: the accounts on a plan, their spend and churn.

    For ``RetentionOptimum.to_frame()`` and ``retention_budget_table(...)``.
    """
    return people_table(table, {
        "name": ("Account", "text"), "account_id": ("Id", "text"), "tier": ("Tier", "text"),
        "revenue": ("Revenue a year", "money"), "plan": ("Plan", "text"),
        "planned_spend": ("Planned spend", "money"),
        "churn_prob": ("Annual churn now", "percent1"),
        "churn_prob_with_plan": ("With the plan", "percent1"),
        "expected_npv_change": ("Expected NPV change", "money")}, key="name",
        currency=currency)


def out_of_sample_view(table: pd.DataFrame, *, currency: str = "€") -> PeopleTable:
    """The allocations judged on fresh futures: spend, NPV, bad-year loss, differences."""
    return people_table(table, {
        "allocation": ("Allocation", "text"), "spend": ("Spend", "money"),
        "expected_npv": ("Expected NPV", "money"),
        "es": ("Average bad-year loss (ES)", "money"), "es_se": ("Its standard error", "money"),
        "es_minus_reference": ("ES vs no plans", "money"),
        "es_diff_se": ("Standard error of the difference", "money"),
        "npv_minus_reference": ("NPV vs no plans", "money")}, key="allocation",
        currency=currency)


def improvement_view(improvement: pd.Series, *, currency: str = "€") -> PeopleTable:
    """``RetentionStudy.improvement()``: the optimum against the best simple rule."""
    names = {"best_rule": ("best simple rule at this budget", "text"),
             "es_improvement": ("bad-year loss (ES) smaller by", "currency"),
             "es_improvement_se": ("its standard error (paired)", "currency"),
             "npv_improvement": ("expected NPV higher by", "currency"),
             "npv_improvement_se": ("its standard error", "currency")}
    rows = []
    for k, v in improvement.items():
        label, unit = names.get(str(k), (str(k), "number"))
        text = "–" if _missing(v) else (str(v) if unit == "text" else
                                         formatter(_UNIT_KINDS.get(unit, "number"),
                                                   currency=currency)(v))
        rows.append((_sentence(label), text))
    shown = pd.DataFrame(rows, columns=["metric", "value"])
    return PeopleTable(html_table(shown, {"metric": ("Figure", None), "value": ("", None)}),
                       improvement.to_frame())


def frontier_view(table: pd.DataFrame, *, currency: str = "€") -> PeopleTable:
    """Frontier points: the risk weight or budget, expected NPV, bad-year loss, spend."""
    cols: dict[str, tuple[str, str]] = {}
    if "budget" in table:
        cols["budget"] = ("Budget", "money")
    if "risk_aversion" in table:
        cols["risk_aversion"] = ("Weight of the bad-year loss", "ratio")
    cols |= {"expected_npv": ("Expected NPV", "money"),
             "es": ("Average bad-year loss (ES)", "money"), "spend": ("Spend", "money")}
    return people_table(table, {c: v for c, v in cols.items() if c in table},
                        currency=currency)


def assignments_view(wide: pd.DataFrame) -> PeopleTable:
    """``RetentionFrontier.assignments()``: each account's plan at each budget."""
    df = wide.reset_index()

    def header(c: object) -> str:
        if c == "account_id":
            return "Account"
        m = re.fullmatch(r"budget ([\d,.]+)", str(c))
        return f"Budget {money(float(m.group(1).replace(',', '')))}" if m else str(c)

    columns = {str(c): (header(c), "text") for c in df.columns}
    df.columns = [str(c) for c in df.columns]
    return people_table(df, columns, key="account_id")


# --- notebook 05: calibration ---------------------------------------------------------


def history_view(history: pd.DataFrame, *, currency: str = "€") -> PeopleTable:
    """Account histories from a ledger (``histories_from_ledger``): one row per account."""
    df = history.copy()
    for c in ("start_date", "end_date", "last_order"):
        if c in df:
            df[c] = [v.strftime("%Y-%m-%d") if hasattr(v, "strftime") else v for v in df[c]]
    return people_table(df, {c: v for c, v in {
        "account_id": ("Account", "text"), "start_date": ("First order", "text"),
        "end_date": ("Observed until", "text"), "churned": ("Churned?", "yesno"),
        "duration_years": ("Tenure (years)", "ratio"), "last_order": ("Last order", "text"),
        "n_orders": ("Orders", "count"), "revenue": ("Revenue", "money")}.items()
        if c in df}, key="account_id", currency=currency)


#: The churn-probability columns of ``account_probs`` and their headers.
_PROB_COLUMNS = {"tenure_years": ("Tenure (years)", "ratio"),
                 "churn_prob": ("Annual churn probability", "percent1"),
                 "churn_prob_low": ("95 % interval from", "percent1"),
                 "churn_prob_high": ("to", "percent1")}


def account_probs_view(probs: pd.DataFrame) -> PeopleTable:
    """Per-account annual churn probabilities from a fit (``account_probs``)."""
    cols = {"account_id": ("Account", "text"), **_PROB_COLUMNS}
    if "extrapolated" in probs:
        cols["extrapolated"] = ("Beyond the observed tenures?", "yesno")
    return people_table(probs, {c: v for c, v in cols.items() if c in probs},
                        key="account_id")


def distribution_view(frame: pd.DataFrame,
                      columns: Mapping[str, tuple[str, str]] | None = None) -> PeopleTable:
    """How values are spread: accounts, mean, lowest, quartiles, highest, per column.

    Parameters
    ----------
    frame : pandas.DataFrame
    columns : mapping of column to (header, kind), optional
        Default: the churn-probability columns of ``account_probs``.
    """
    cols = {c: v for c, v in (columns or _PROB_COLUMNS).items() if c in frame}
    stats = [("Accounts", "count"), ("Mean", None), ("Lowest", None),
             ("25 % below", None), ("Median", None), ("75 % below", None),
             ("Highest", None)]
    x = frame[list(cols)]
    values = [x.count(), x.mean(), x.min(), x.quantile(0.25), x.median(),
              x.quantile(0.75), x.max()]
    rows = []
    for (name, force), v in zip(stats, values, strict=True):
        row = {"statistic": name}
        for c, (_, kind) in cols.items():
            row[c] = formatter(force or kind)(v[c])
        rows.append(row)
    shown = pd.DataFrame(rows)
    spec: dict[str, tuple[str, Formatter | None]] = {"statistic": ("", None)}
    spec |= {c: (h, lambda v: str(v)) for c, (h, _) in cols.items()}
    return PeopleTable(html_table(shown, spec), frame)
