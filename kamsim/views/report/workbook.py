"""The report's Excel workbook: the tables a strategist continues with, as numbers.

One sheet per table (the same tables as the CSV exports, same values), plus a
``Summary`` sheet (the headline figures, conclusions and recommended actions) and an
``Assumptions`` sheet (every assumption with its value and source). Headers are the
human labels of :data:`kamsim.views.report.tables.COLUMNS`, frozen; columns get widths
that fit and number formats by kind (money, percentages, months); numbers are stored as
numbers; text is stored as text, never as a formula (a name such as ``=HYPERLINK(...)``
stays a string).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from kamsim._util.io import atomic_write_bytes
from kamsim.views.report.tables import COLUMNS

__all__ = ["SHEET_TITLES", "sheet_name", "write_workbook"]

#: Sheet titles of the exported tables (Excel allows 31 characters).
SHEET_TITLES: dict[str, str] = {
    "headline_figures": "Headline figures",
    "concentration_summary": "Concentration",
    "major_customers": "Major customers",
    "key_account_scores": "Key-account scores",
    "worst_cases_top_k": "Worst cases top accounts",
    "worst_cases_segment": "Worst cases by segment",
    "worst_cases_region": "Worst cases by region",
    "risk_table": "VaR and ES",
    "risk_contributions": "Risk contributions",
    "replacement_timeline": "Replacement timeline",
    "negotiation": "Negotiation",
    "pass_through_curve": "Pass-through curve",
    "tornado": "Sensitivity",
    "retention_budget": "Retention budget",
    "assumptions": "Assumptions",
}

_FORMATS = {"money": "#,##0", "share": "0.0%", "prob": "0.0%", "level": "0.0%",
            "months": "0.0", "count": "#,##0", "score": "0.000", "years": "0",
            "number": "#,##0.00"}
#: Formats of columns not in COLUMNS (raw library columns kept in the exports).
_EXTRA: dict[str, tuple[str, str]] = {
    "n_accounts": ("Accounts", "count"), "total": ("Total a year", "money"),
    "share_of_total": ("Share of total", "share"), "largest_account": ("Largest account", "text"),
    "cr1": ("Largest account's share", "share"), "cr5": ("Top 5 share", "share"),
    "cr10": ("Top 10 share", "share"), "hhi": ("HHI (0 to 1)", "score"),
    "hhi_points": ("HHI points (0 to 10,000)", "count"),
    "hhi_normalized": ("HHI normalised", "score"),
    "effective_accounts": ("Effective number of accounts", "number"),
    "gini": ("Gini coefficient", "score"), "theil": ("Theil index", "score"),
    "n_class_A": ("A accounts", "count"), "n_class_B": ("B accounts", "count"),
    "n_class_C": ("C accounts", "count"), "n_major_customers": ("Major customers", "count"),
    "major_customers_share": ("Major customers' share", "share"),
    "hmg2010_band_reference": ("US merger guidelines 2010 band (reference)", "text"),
    "hmg2023_band_reference": ("US merger guidelines 2023 band (reference)", "text"),
    "measure": ("Measure", "text"), "within_horizon": ("Within the horizon?", "text"),
    "ev_refuse_if_leaves": ("Value if refused and it leaves (NPV)", "money"),
    "ev_refuse_if_stays": ("Value if refused and it stays (NPV)", "money"),
    "advantage_of_conceding": ("Advantage of conceding (NPV)", "money"),
    "hazard_multiplier": ("Churn hazard multiplier", "score"),
    "policy_npv": ("Expected NPV of the policy", "money"),
    "unit": ("Unit", "text"), "base_value": ("Base value", "number"),
    "change_low": ("Change at low", "money"), "change_high": ("Change at high", "money"),
    "key": ("Key", "text"), "rule": ("Rule", "text"), "action": ("Action", "text"),
    "because": ("Because", "text"), "topic": ("Topic", "text"),
    "conclusion": ("Conclusion", "text"), "assumes": ("Assumes", "text"),
    "in_scenario_file_as": ("In the scenario file as", "text"),
    "number": ("Value as a number", "number"),
}

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_BAD_SHEET = re.compile(r"[\[\]:*?/\\]")


def sheet_name(table: str) -> str:
    """Excel sheet title of an exported table.

    Examples
    --------
    >>> sheet_name("worst_cases_top_k"), sheet_name("worst_cases_customer_group")
    ('Worst cases top accounts', 'Worst cases customer group')
    """
    title = SHEET_TITLES.get(table) or table.replace("_", " ").capitalize()
    return _BAD_SHEET.sub(" ", title)[:31]


#: Headers of one table that differ from the shared ones.
_TABLE_HEADERS: dict[str, dict[str, tuple[str, str]]] = {
    "tornado": {"parameter": ("Assumption key", "text"),
                "unit": ("Unit of the assumption", "text")},
    "headline_figures": {"display": ("As shown in the report", "text"),
                         "value": ("Value", "number")},
    "replacement_timeline": {"value": ("Months (or share)", "number"),
                             "display": ("As shown in the report", "text")},
}


def header_of(column: str, table: str = "") -> tuple[str, str]:
    """(label, kind) of a column in the workbook."""
    if column in _TABLE_HEADERS.get(table, {}):
        return _TABLE_HEADERS[table][column]
    if column in COLUMNS:
        return COLUMNS[column]
    if column in _EXTRA:
        return _EXTRA[column]
    return column.replace("_", " ").capitalize(), "text"


def _cell_value(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, bool):
        return "yes" if v else "no"
    if hasattr(v, "item") and not isinstance(v, str):  # numpy scalars
        v = v.item()
        return _cell_value(v)
    if isinstance(v, int | float):
        return v
    return str(v)


def _write_sheet(ws: Any, df: pd.DataFrame, kinds: Mapping[str, str] | None = None,
                 note: str = "", table: str = "") -> None:
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    bold = Font(bold=True, color="FFFFFF")
    fill = PatternFill("solid", fgColor="0B4F8A")
    start = 1
    if note:
        ws.cell(row=1, column=1, value=note).font = Font(italic=True, color="5B6470")
        start = 2
    widths: list[int] = []
    for j, col in enumerate(df.columns, start=1):
        label, kind = header_of(str(col), table)
        kind = (kinds or {}).get(str(col), kind)
        c = ws.cell(row=start, column=j, value=label)
        c.font, c.fill = bold, fill
        c.alignment = Alignment(wrap_text=True, vertical="bottom")
        fmt = _FORMATS.get(kind)
        width = min(max(len(label) * 0.8, 8), 40)
        for i, v in enumerate(df[col].tolist(), start=start + 1):
            value = _cell_value(v)
            cell = ws.cell(row=i, column=j)
            cell.value = value
            if isinstance(value, str):
                cell.data_type = "s"  # text, never a formula
                width = max(width, min(len(value), 60))
            elif value is not None and fmt:
                cell.number_format = fmt
                width = max(width, 12)
        widths.append(round(width + 2))
        ws.column_dimensions[get_column_letter(j)].width = widths[-1]
    ws.freeze_panes = ws.cell(row=start + 1, column=1)
    ws.row_dimensions[start].height = 30


def write_workbook(path: str | os.PathLike[str], tables: Mapping[str, pd.DataFrame], *,
                   summary: pd.DataFrame | None = None,
                   actions: pd.DataFrame | None = None,
                   assumptions: pd.DataFrame | None = None,
                   note: str = "", order: Sequence[str] | None = None,
                   kinds: Mapping[str, Mapping[str, str]] | None = None) -> Path:
    """Write the report workbook: Summary, Assumptions, then one sheet per table.

    Parameters
    ----------
    path : path
        The ``.xlsx`` file (written atomically).
    tables : mapping of str to DataFrame
        Exported tables by name (the CSV names), numeric values.
    summary, actions : DataFrame, optional
        Conclusions (``topic, conclusion, assumes``) and actions (``rule, action,
        because``) for the Summary sheet.
    assumptions : DataFrame, optional
        ``parameter, value, source`` for the Assumptions sheet.
    note : str
        A line above each table (scenario, seed, paths).
    order : sequence of str, optional
        Order of the table sheets (default: as given).
    kinds : mapping, optional
        Per table, the kind of a column when it differs from its usual one (e.g. a
        tornado of a probability).

    Returns
    -------
    pathlib.Path
    """
    import io

    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    ws.title = "Summary"
    row = 1

    ws.cell(row=row, column=1, value="Key-account risk report").font = Font(bold=True, size=14)
    if note:
        ws.cell(row=row + 1, column=1, value=note).font = Font(italic=True, color="5B6470")
    row = 4
    for title, df in (("Conclusions", summary), ("Recommended actions", actions)):
        if df is None or not len(df):
            continue
        ws.cell(row=row, column=1, value=title).font = Font(bold=True, size=12)
        row += 1
        for j, col in enumerate(df.columns, start=1):
            ws.cell(row=row, column=j, value=header_of(str(col))[0]).font = Font(bold=True)
        for rec in df.itertuples(index=False):
            row += 1
            for j, v in enumerate(rec, start=1):
                c = ws.cell(row=row, column=j, value=_cell_value(v))
                if isinstance(c.value, str):
                    c.data_type = "s"
        row += 2
    ws.column_dimensions["A"].width = 22
    ws.column_dimensions["B"].width = 90
    ws.column_dimensions["C"].width = 70
    if assumptions is not None:
        _write_sheet(wb.create_sheet("Assumptions"), assumptions)
    names = list(order) if order is not None else list(tables)
    used: set[str] = {"Summary", "Assumptions"}
    for name in names:
        if name not in tables:
            continue
        title = sheet_name(name)
        k = 2
        while title in used:
            title = f"{sheet_name(name)[:28]} {k}"
            k += 1
        used.add(title)
        _write_sheet(wb.create_sheet(title), tables[name], (kinds or {}).get(name), note, name)
    buf = io.BytesIO()
    wb.save(buf)
    return atomic_write_bytes(path, buf.getvalue())
