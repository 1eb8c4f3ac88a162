"""Board tables: human headers with units, formatted numbers, no code names, no NaN.

Every table the report shows goes through :func:`board_table`, which picks the columns a
board reads, labels them from :data:`COLUMNS` (header text with its unit) and formats
each value with the shared formatter (:mod:`kamsim._util.format`): money with k/M,
percentages, months ("not within 36 months" instead of NaN), yes/no. The CSV and Excel
exports keep every column with its numeric value; only the display changes.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from kamsim._util.format import count, money, months, number, percent
from kamsim.exceptions import AssumptionError

__all__ = ["COLUMNS", "SNAKE_CASE", "BoardTable", "Kind", "board_table", "case_label",
           "column_label", "format_value", "replacement_view", "tornado_view"]

#: How a column's values are shown.
Kind = Literal["money", "share", "prob", "months", "count", "text", "score", "years",
               "number", "yesno", "level"]

#: Header label (with its unit) and kind of every column a report table may show.
COLUMNS: dict[str, tuple[str, Kind]] = {
    # accounts
    "account_id": ("Account", "text"),
    "name": ("Name", "text"),
    "tier": ("Tier", "text"),
    "rank": ("Rank", "count"),
    "revenue": ("Revenue a year", "money"),
    "share": ("Share of revenue", "share"),
    "note": ("Note", "text"),
    # worst cases
    "case": ("Case", "text"),
    "group": ("Group", "text"),
    "accounts_lost": ("Accounts lost", "count"),
    "last_account_lost": ("Account lost", "text"),
    "revenue_lost": ("Revenue lost a year", "money"),
    "revenue_lost_share": ("Revenue lost (% of total)", "share"),
    "revenue_remaining": ("Revenue left a year", "money"),
    "gross_profit_lost": ("Gross profit lost a year", "money"),
    "gross_profit_lost_share": ("Gross profit lost (% of total)", "share"),
    "gross_profit_remaining": ("Gross profit left a year", "money"),
    "profit_after_fixed_costs": ("Profit after fixed costs a year", "money"),
    "above_break_even": ("Covers fixed costs?", "yesno"),
    # Monte Carlo
    "level": ("Confidence level", "level"),
    "return_period_years": ("One year in", "years"),
    "var": ("VaR: annual revenue lost", "money"),
    "var_low": ("VaR 95 % interval: low", "money"),
    "var_high": ("VaR 95 % interval: high", "money"),
    "es": ("ES: average loss beyond VaR", "money"),
    "es_se": ("ES standard error", "money"),
    "contribution": ("Expected loss in the bad years", "money"),
    "share_of_tail_loss": ("Share of the bad-year loss", "share"),
    # key-account scores
    "score": ("Score (0 to 1)", "score"),
    "contrib_volume": ("Volume", "score"),
    "contrib_product_line": ("Product lines", "score"),
    "contrib_profit": ("Profit", "score"),
    "contrib_national": ("National", "score"),
    "contrib_proximity": ("Proximity", "score"),
    "contrib_growth": ("Growth", "score"),
    "contrib_simplicity": ("Simplicity", "score"),
    # replacement
    "statistic": ("Statistic", "text"),
    "display": ("Months to replace", "text"),
    # negotiation
    "demand": ("Price cut demanded", "share"),
    "credibility": ("Chance it leaves if refused", "share"),
    "ev_concede": ("Value if we concede (NPV)", "money"),
    "ev_refuse": ("Value if we refuse (NPV)", "money"),
    "walk_away": ("Walk-away concession", "share"),
    "decision": ("Better choice", "text"),
    "cost_of_conceding": ("Cost of conceding (NPV)", "money"),
    "break_even_credibility": ("Break-even chance of leaving", "share"),
    # pricing
    "pass_through": ("Gains passed back", "share"),
    "price_cut": ("Price cut", "share"),
    "gain_npv": ("Efficiency gain (NPV)", "money"),
    "passed_back_npv": ("Passed back (NPV)", "money"),
    "retention_value_npv": ("Bought back in retention (NPV)", "money"),
    "kept_npv": ("Kept as profit (NPV)", "money"),
    "net_of_pass_through": ("Net effect of passing back (NPV)", "money"),
    # sensitivity
    "label": ("Assumption", "text"),
    "low_value": ("Low value", "number"),
    "high_value": ("High value", "number"),
    "output_low": ("Result at low", "money"),
    "output_high": ("Result at high", "money"),
    "swing": ("Swing", "money"),
    # retention budget
    "plan": ("Plan", "text"),
    "planned_spend": ("Planned spend over the horizon", "money"),
    "churn_prob": ("Annual churn probability", "prob"),
    "churn_prob_with_plan": ("Churn probability with the plan", "prob"),
    "expected_npv_change": ("Expected NPV gained", "money"),
    # appendix and headline
    "parameter": ("Assumption", "text"),
    "value": ("Value", "text"),
    "source": ("Source", "text"),
    "figure": ("Figure", "text"),
    "in_scenario_file_as": ("In the scenario file as", "text"),
}

#: A code name: lower-case words joined by underscores (what no header may look like).
SNAKE_CASE = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")

_CASE = re.compile(r"^lose (top|segment|region|tier) (.+)$")


def case_label(case: object) -> str:
    """A worst-case label in words: ``lose top 2`` -> ``Lose the top 2``.

    Examples
    --------
    >>> case_label("base case"), case_label("lose top 1"), case_label("lose top 3")
    ('Today', 'Lose the largest', 'Lose the top 3')
    >>> case_label("lose segment Retail")
    'Lose segment Retail'
    """
    text = str(case)
    if text == "base case":
        return "Today"
    m = _CASE.match(text)
    if m is None:
        return text
    what, rest = m.groups()
    if what == "top":
        return "Lose the largest" if rest == "1" else f"Lose the top {rest}"
    return f"Lose {what} {rest}"


def column_label(column: str) -> str:
    """The header shown for ``column`` (its code name is never shown).

    Raises
    ------
    AssumptionError
        If the column has no label in :data:`COLUMNS` (add one there).

    Examples
    --------
    >>> column_label("revenue_lost_share")
    'Revenue lost (% of total)'
    """
    try:
        return COLUMNS[column][0]
    except KeyError:
        msg = (f"column {column!r} has no board label; add it to "
               "kamsim.views.report.tables.COLUMNS")
        raise AssumptionError(msg, field="columns") from None


def format_value(value: Any, kind: Kind, *, currency: str = "€",
                 horizon: int | None = None) -> str:
    """One value as text for a board table (never ``nan``, ``None`` or a repr).

    Examples
    --------
    >>> format_value(7_600_000.0, "money"), format_value(0.311023, "share")
    ('€7.6M', '31.1 %')
    >>> format_value(None, "money"), format_value(float("nan"), "months", horizon=36)
    ('–', 'not within 36 months')
    >>> format_value([2.0, 3.0], "text"), format_value(True, "yesno")
    ('2, 3', 'yes')
    """
    match kind:
        case "money":
            return money(value, currency)
        case "share" | "prob":
            return percent(value)
        case "level":
            return percent(value, 1)
        case "months":
            return months(value, horizon=horizon)
        case "count":
            return count(value)
        case "score":
            return number(value, 2)
        case "years":
            return number(value, 0)
        case "number":
            return number(value, 2, compact=True)
        case "yesno":
            if value is None or (isinstance(value, float) and math.isnan(value)):
                return "–"
            return "yes" if bool(value) else "no"
        case _:
            return _text(value)


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, list | tuple):
        return ", ".join(_text(v) for v in value)
    if isinstance(value, float):
        return number(value, 2, compact=True)
    if isinstance(value, Mapping):
        return "; ".join(f"{k}: {_text(v)}" for k, v in value.items())
    text = str(value)
    return "–" if text in ("nan", "None", "<NA>", "NaT") else text


@dataclass(frozen=True, slots=True)
class BoardTable:
    """A formatted table: text cells with human headers, rendered as plain HTML.

    ``numeric`` names the columns (by label) that are right-aligned. ``caption`` is shown
    above the table. ``wide`` tables get a smaller font in print.
    """

    frame: pd.DataFrame
    numeric: tuple[str, ...] = ()
    caption: str = ""
    css_class: str = ""
    nowrap: tuple[str, ...] = ()

    def _repr_html_(self) -> str:
        return self.to_html()

    def to_html(self) -> str:
        """The table as HTML; every cell is escaped."""
        short = "short" if len(self.frame) <= 16 else ""  # short tables never split
        cls = " ".join(x for x in ("board", self.css_class, short) if x)
        num = set(self.numeric)
        keep = set(self.nowrap)
        parts = [f'<table class="{cls}">']
        if self.caption:
            parts.append(f"<caption>{html.escape(self.caption)}</caption>")
        parts.append("<thead><tr>")
        for c in self.frame.columns:
            a = ' class="num"' if c in num else ""
            parts.append(f'<th scope="col"{a}>{html.escape(str(c))}</th>')
        parts.append("</tr></thead><tbody>")
        for row in self.frame.itertuples(index=False):
            parts.append("<tr>")
            for c, v in zip(self.frame.columns, row, strict=True):
                a = ' class="num"' if c in num else ' class="nowrap"' if c in keep else ""
                parts.append(f"<td{a}>{html.escape(str(v))}</td>")
            parts.append("</tr>")
        parts.append("</tbody></table>")
        return "".join(parts)


_NUMERIC: frozenset[str] = frozenset({"money", "share", "prob", "months", "count", "score",
                                      "years", "number", "level"})


def board_table(df: pd.DataFrame, columns: Sequence[str] | Mapping[str, str] | None = None,
                *, currency: str = "€", horizon: int | None = None,
                kinds: Mapping[str, Kind] | None = None, caption: str = "",
                css_class: str = "") -> BoardTable:
    """The board view of a table: chosen columns, human headers, formatted values.

    Parameters
    ----------
    df : pandas.DataFrame
        A library table (``lose_top_k``, ``risk_table``, ...), numeric values.
    columns : sequence of str or mapping of str to str, optional
        Columns to show, in order (default all); a mapping gives a header of its own to
        a column (``{"display": "Months to replace"}``).
    currency : str
    horizon : int, optional
        Months simulated, for "not within N months".
    kinds : mapping, optional
        Kind of a column when it differs from :data:`COLUMNS`.
    caption, css_class : str

    Returns
    -------
    BoardTable

    Examples
    --------
    >>> t = board_table(pd.DataFrame({"case": ["lose top 1"], "revenue_lost": [5.7e6]}))
    >>> t.frame.to_dict("records")
    [{'Case': 'Lose the largest', 'Revenue lost a year': '€5.7M'}]
    """
    if columns is None:
        names: dict[str, str] = {str(c): column_label(str(c)) for c in df.columns}
    elif isinstance(columns, Mapping):
        names = {str(k): str(v) for k, v in columns.items()}
    else:
        names = {str(c): column_label(str(c)) for c in columns}
    missing = [c for c in names if c not in df.columns]
    if missing:
        msg = f"table has no column(s) {missing}; it has {[str(c) for c in df.columns]}"
        raise AssumptionError(msg, field="columns")
    out: dict[str, list[str]] = {}
    numeric: list[str] = []
    nowrap: list[str] = []
    for col, label in names.items():
        kind: Kind = (kinds or {}).get(col) or COLUMNS.get(col, ("", "text"))[1]
        values = df[col].tolist()
        if col == "case":
            cells = [case_label(v) for v in values]
        else:
            cells = [format_value(v, kind, currency=currency, horizon=horizon)
                     for v in values]
        out[label] = cells
        if kind in _NUMERIC:
            numeric.append(label)
        elif cells and max(len(c) for c in cells) <= 16:
            nowrap.append(label)  # short labels ("Lose the top 2") on one line
    return BoardTable(pd.DataFrame(out), numeric=tuple(numeric), caption=caption,
                      css_class=css_class, nowrap=tuple(nowrap))


_STATISTICS = {"median": "Half of futures", "p80": "4 futures in 5", "p90": "9 futures in 10"}


def replacement_view(summary: pd.DataFrame, *, horizon: int) -> BoardTable:
    """A replacement timeline's summary in words: "Half of futures: 20 months".

    ``summary`` is :meth:`ReplacementTimeline.summary` output (``statistic, value,
    within_horizon, display``); a quantile not reached within the horizon reads "not
    within N months", never NaN.

    Examples
    --------
    >>> s = pd.DataFrame({"statistic": ["median", "share_not_recovered"],
    ...                   "value": [20.0, 0.04], "within_horizon": [True, True],
    ...                   "display": ["20", "4.0%"]})
    >>> replacement_view(s, horizon=36).frame.to_dict("list")["Months"]
    ['20 months', '4.0 %']
    """
    labels, values = [], []
    for st, val, within in zip(summary["statistic"].astype(str).tolist(),
                               summary["value"].astype(float).tolist(),
                               summary["within_horizon"].astype(bool).tolist(), strict=True):
        if st == "share_not_recovered":
            labels.append(f"Not replaced within {horizon} months")
            values.append(percent(val))
        else:
            labels.append(_STATISTICS.get(st, st.replace("_", " ")))
            values.append(months(val) if within else f"not within {horizon} months")
    return BoardTable(pd.DataFrame({"Replaced within": labels, "Months": values}),
                      numeric=("Months",))


def _unit_kind(unit: str) -> Kind:
    if unit.startswith("currency"):
        return "money"
    if unit in ("probability", "fraction", "fraction of price", "share"):
        return "share"
    return "number"


def tornado_view(table: pd.DataFrame, *, metric_unit: str, currency: str = "€") -> BoardTable:
    """A tornado table for a board: assumptions that move the result, values in their units.

    Rows whose swing is zero (the assumption does not affect this result) are left out.
    ``table`` is :attr:`TornadoResult.table`; ``metric_unit`` the unit of the result.

    Examples
    --------
    >>> t = pd.DataFrame({"label": ["fixed costs", "churn level"], "unit": ["currency", "x"],
    ...                   "low_value": [6e6, 0.5], "high_value": [9e6, 1.5],
    ...                   "output_low": [0.1, 0.2], "output_high": [0.9, 0.3],
    ...                   "swing": [0.8, 0.1]})
    >>> tornado_view(t, metric_unit="probability").frame.iloc[0].tolist()
    ['fixed costs', '€6M', '€9M', '10.0 %', '90.0 %', '80.0 %']
    """
    out_kind = _unit_kind(metric_unit)
    if metric_unit == "probability":
        out_kind = "prob"
    rows = table[table["swing"].astype(float) > 0]
    data: dict[str, list[str]] = {"Assumption": [], "Low value": [], "High value": [],
                                  "Result at low": [], "Result at high": [], "Swing": []}
    for r in rows.to_dict("records"):
        k = _unit_kind(str(r.get("unit", "")))
        data["Assumption"].append(_text(r["label"]))
        data["Low value"].append(format_value(r["low_value"], k, currency=currency))
        data["High value"].append(format_value(r["high_value"], k, currency=currency))
        for col, key in (("Result at low", "output_low"), ("Result at high", "output_high"),
                         ("Swing", "swing")):
            data[col].append(format_value(r[key], out_kind, currency=currency))
    return BoardTable(pd.DataFrame(data), numeric=tuple(list(data)[1:]))
