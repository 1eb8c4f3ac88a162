"""Write the corpus of hostile input files and its manifest of expected outcomes.

Run from the project root: ``python tests/corpus/make_corpus.py``. It (re)writes every
file under ``tests/corpus/`` and ``expected.json``; ``tests/test_hostile_inputs.py`` reads
them back through the Python API and the command line and checks each outcome: the right
totals, or a ``KamsimError`` naming the file, the column, the spreadsheet rows and the fix.

Text files are written byte for byte from the strings below; ``.xlsx`` files are built
with openpyxl, with fixed zip times and document dates, so that every run writes the same
bytes (a test checks that the committed files still match). Keep every file small.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

Case = dict[str, Any]
CASES: list[Case] = []
TEXT: dict[str, bytes] = {}


def ok(n: int, revenue: float, *, gp: float | None = None, ids: list[str] | None = None,
       **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"n": n, "revenue": revenue}
    if gp is not None:
        out["gross_profit"] = gp
    if ids is not None:
        out["ids"] = ids
    out.update(extra)
    return {"ok": out}


def err(has: list[str], *, column: str | None = None, rows: list[int] | None = None,
        type: str = "InputDataError", py_has: list[str] | None = None,
        cli_has: list[str] | None = None, field: str | None = None,
        names: str | None = None) -> dict[str, Any]:
    """An expected refusal.

    ``has``: text both interfaces show (what is wrong, advice that is the same for both);
    ``py_has``: the Python advice (keyword arguments); ``cli_has``: the command-line
    advice; ``names``: the file the message must name (default: the case's file).
    """
    e: dict[str, Any] = {"type": type, "has": has}
    if py_has is not None:
        e["py_has"] = py_has
    if names is not None:
        e["names"] = names
    if column is not None:
        e["column"] = column
    if rows is not None:
        e["rows"] = rows
    if cli_has is not None:
        e["cli_has"] = cli_has
    if field is not None:
        e["field"] = field
    return {"error": e}


def text(kind: str, name: str, data: str | bytes, expect: dict[str, Any], *,
         kwargs: dict[str, Any] | None = None, cli: bool = True, note: str = "") -> None:
    rel = f"{kind}/{name}"
    TEXT[rel] = data.encode("utf-8") if isinstance(data, str) else data
    CASES.append({"kind": kind, "file": rel, "kwargs": kwargs or {}, "cli": cli,
                  "note": note, **expect})


# ---------------------------------------------------------------------------------------
# accounts: CSV / TSV / TXT

A = "accounts"
BASIC = "account_id,revenue,gross_margin\nA1,1000,0.3\nA2,500,0.2\n"
OK_BASIC = ok(2, 1500.0, gp=400.0, ids=["A1", "A2"])

text(A, "basic.csv", BASIC, OK_BASIC)
text(A, "trailing_delimiter.csv", "account_id,revenue,gross_margin\nA1,1000,0.3,\nA2,500,0.2,\n",
     OK_BASIC, note="issue: a trailing delimiter made the first column the index")
text(A, "trailing_delimiter_issue.csv",
     "account_id,revenue,gross_profit\nA1,1000,900,\nA2,500,450,\n",
     ok(2, 1500.0, gp=1350.0, ids=["A1", "A2"]), note="issue's example: 1,350 instead of 1,500")
text(A, "trailing_delimiter_header.csv",
     "account_id,revenue,gross_margin,\nA1,1000,0.3,\nA2,500,0.2,\n", OK_BASIC)
text(A, "trailing_delimiter_semicolon.csv", "account_id;revenue;\nA1;1000;\nA2;500;\n",
     ok(2, 1500.0))
text(A, "trailing_two_delimiters.csv", "account_id,revenue,,\nA1,1000,,\nA2,500,,\n",
     ok(2, 1500.0))
text(A, "bom_id_first.csv", b"\xef\xbb\xbf" + BASIC.encode(), OK_BASIC)
text(A, "bom_margin_first.csv",
     b"\xef\xbb\xbfgross_margin,account_id,revenue\n0.3,A1,1000\n0.2,A2,500\n", OK_BASIC,
     note="issue: a BOM before gross_margin lost every profit figure")
text(A, "bom_semicolon_crlf.csv",
     b"\xef\xbb\xbfaccount_id;revenue;gross_margin\r\nA1;1000;0,3\r\nA2;500;0,2\r\n", OK_BASIC)
text(A, "crlf.csv", BASIC.replace("\n", "\r\n"), OK_BASIC)
text(A, "cr_only.csv", BASIC.replace("\n", "\r"), OK_BASIC)
text(A, "no_final_newline.csv", BASIC.rstrip("\n"), OK_BASIC)
text(A, "semicolon_decimal_comma.csv",
     "account_id;revenue;gross_margin\nA1;1.234,50;0,3\nA2;765,50;0,2\n",
     ok(2, 2000.0, gp=523.45))
text(A, "semicolon_comma_in_header.csv",
     "account_id;revenue;Umsatz, netto\nA1;1000;900\nA2;500;450\n", ok(2, 1500.0),
     note="issue: semicolon files whose header holds a comma")
text(A, "pipe.csv", "account_id|revenue|gross_margin\nA1|1000|0.3\nA2|500|0.2\n", OK_BASIC)
text(A, "pipe.txt", "account_id|revenue\nA1|1000\nA2|500\n", ok(2, 1500.0))
text(A, "sep_line_semicolon.csv", "sep=;\naccount_id;revenue\nA1;1000\nA2;500\n",
     ok(2, 1500.0), note="Excel's sep= first line")
text(A, "sep_line_comma_header.csv",
     "sep=;\r\naccount_id;name;revenue\r\nA1;Smith, John;1000\r\nA2;Acme;500\r\n",
     ok(2, 1500.0))
text(A, "sep_line_pipe.csv", "\"sep=|\"\naccount_id|revenue\nA1|1000\nA2|500\n", ok(2, 1500.0))
text(A, "bom_sep_line.csv", b"\xef\xbb\xbfsep=;\naccount_id;revenue\nA1;1000\nA2;500\n",
     ok(2, 1500.0))
text(A, "tab.tsv", "account_id\trevenue\tgross_margin\nA1\t1000\t0.3\nA2\t500\t0.2\n", OK_BASIC)
text(A, "tab.txt", "account_id\trevenue\nA1\t1000\nA2\t500\n", ok(2, 1500.0))
text(A, "utf16_tab.txt",
     "account_id\trevenue\r\nA1\t1000\r\nA2\t500\r\n".encode("utf-16"), ok(2, 1500.0),
     note="Excel's 'Unicode Text' (UTF-16 with a BOM)")
text(A, "quoted_thousands.csv", 'account_id,revenue\nA1,"1,234.50"\nA2,765.50\n',
     ok(2, 2000.0))
text(A, "us_millions.csv", 'account_id,revenue\nA1,"1,234,567.00"\nA2,"2,433.00"\n',
     ok(2, 1237000.0))
text(A, "eu_millions.csv", "account_id;revenue\nA1;1.234.567,00\nA2;2.433,00\n",
     ok(2, 1237000.0))
text(A, "eu_millions_no_decimals.csv", "account_id;revenue\nA1;1.234.567\nA2;2.433\n",
     ok(2, 1237000.0), note="two groups settle '.' as the thousands separator")
text(A, "space_thousands.csv", "account_id;revenue\nA1;1 234 567,5\nA2;432,5\n",
     ok(2, 1235000.0))
text(A, "nbsp_thousands.csv", "account_id;revenue\nA1;1\u00a0234\u00a0567,5\nA2;432,5\n",
     ok(2, 1235000.0))
text(A, "narrow_nbsp_thousands.csv", "account_id;revenue\nA1;1\u202f234,5\nA2;765,5\n",
     ok(2, 2000.0))
text(A, "swiss_apostrophe.csv", "account_id,revenue\nA1,1'234.50\nA2,765.50\n",
     ok(2, 2000.0))
text(A, "decimal_comma_quoted.csv", 'account_id,revenue\nA1,"1234,5"\nA2,"765,5"\n',
     ok(2, 2000.0))
text(A, "margin_settles_decimal_comma.csv",
     "account_id;revenue;gross_margin\nA1;1.500;0,5\nA2;2.500;0,1\n",
     ok(2, 4000.0, gp=1000.0), note="'1.500' alone is ambiguous; '0,5' settles it")
text(A, "margin_settles_decimal_point.csv",
     'account_id,revenue,gross_margin\nA1,"1,500",0.5\nA2,"2,500",0.1\n',
     ok(2, 4000.0, gp=1000.0))
text(A, "grouped_and_plain.csv", 'account_id,revenue\nA1,"1,234.5"\nA2,100\nA3,2000\n',
     ok(3, 3334.5))
text(A, "scientific.csv", "account_id,revenue\nA1,1.5e3\nA2,5E2\n", ok(2, 2000.0))
text(A, "signs.csv", "account_id,revenue\nA1,+1000\nA2,500.\n", ok(2, 1500.0))
text(A, "leading_dot.csv", "account_id,revenue,gross_margin\nA1,1000,.3\nA2,500,.2\n",
     OK_BASIC)
text(A, "ids_leading_zeros.csv", "account_id,revenue\n007,100\n0012,200\n",
     ok(2, 300.0, ids=["007", "0012"]))
text(A, "blank_lines.csv", "account_id,revenue\n\nA1,1000\n\n\nA2,500\n\n", ok(2, 1500.0))
text(A, "empty_rows_of_delimiters.csv", "account_id,revenue\nA1,1000\n,\nA2,500\n,\n",
     ok(2, 1500.0))
text(A, "quoted_newline_in_name.csv",
     'account_id,name,revenue\nA1,"Acme\nLtd",1000\nA2,Beta,500\n', ok(2, 1500.0))
text(A, "quoted_delimiter_in_name.csv",
     'account_id,name,revenue\nA1,"Smith, John",1000\nA2,"Doe, Jane",500\n', ok(2, 1500.0))
text(A, "all_quoted.csv", '"account_id","revenue"\n"A1","1000"\n"A2","500"\n', ok(2, 1500.0))
text(A, "header_words.csv", "Account ID,Revenue,Gross Margin\nA1,1000,0.3\nA2,500,0.2\n",
     OK_BASIC)
text(A, "spaces_around.csv", " account_id , revenue \n A1 , 1000 \nA2,  500\n",
     ok(2, 1500.0))
text(A, "national_words.csv",
     "account_id,revenue,national\nA1,1000,yes\nA2,500,FALSCH\nA3,10,WAHR\n", ok(3, 1510.0))
text(A, "product_lines_decimal_comma.csv",
     "account_id;revenue;line_fresh;line_frozen\nA1;1000,5;600,5;400\nA2;500;250;250\n",
     ok(2, 1500.5))
text(A, "user_column_blanks.csv", "account_id,revenue,notes\nA1,1000,\nA2,500,call\n",
     ok(2, 1500.0))
text(A, "short_rows_optional.csv", "account_id,revenue,notes\nA1,1000\nA2,500,x\n",
     ok(2, 1500.0))
text(A, "excel_semicolon_export.csv",
     b"\xef\xbb\xbfaccount_id;name;revenue;gross_margin\r\nA1;M\xc3\xbcller GmbH;1.234,50;0,25"
     b"\r\nA2;Caf\xc3\xa9 Ol\xc3\xa9;765,50;0,4\r\n", ok(2, 2000.0, gp=614.825))
text(A, "one_row.csv", "account_id,revenue\nA1,42\n", ok(1, 42.0))
text(A, "company_named_total.csv", "account_id,revenue\nTotal SA,1000\nA2,500\nA3,200\n",
     ok(3, 1700.0), note="an account named like a total, whose revenue is not the sum")
text(A, "ids_in_scientific_notation.csv",
     "account_id,revenue\n1.23457E+15,1000\n1.23457E+15,500\n7.8E+14,10\n",
     err(["shortened to scientific notation", "format the id column as Text"],
         column="account_id", rows=[2, 3, 4]), note="Excel's CSV export of long ids")
text(A, "totals_row.csv", "account_id,revenue\nA1,1000\nA2,500\nTotal,1500\n",
     err(["looks like a totals row", "'Total'", "count the accounts twice"],
         column="account_id", rows=[4]), note="a totals row would double the revenue")
text(A, "grand_total_row.csv", "account_id;revenue\nA1;1000\nA2;500\nGrand Total:;1500\n",
     err(["looks like a totals row"], column="account_id", rows=[4]))
text(A, "subtotal_rows.csv",
     "account_id,revenue\nA1,1000\nSubtotal retail,1000\nA2,500\nA3,100\n",
     err(["looks like a totals row"], column="account_id", rows=[3]))

# errors
MAP = ["name the header cells"]
text(A, "missing_revenue.csv", "account_id,sales\nA1,1000\n",
     err(["missing required column(s) ['revenue']"], py_has=["map them"], cli_has=MAP))
text(A, "missing_id.csv", "customer,revenue\nA1,1000\n",
     err(["missing required column(s) ['account_id']"], cli_has=MAP))
text(A, "unquoted_thousands_extra_value.csv",
     "account_id,revenue,gross_margin\nA1,1,234.50,0.3\nA2,500,0.2\n",
     err(["more values than the 3 header columns", "must be quoted"], rows=[2]),
     note="an unquoted '1,234.50' in a comma file shifts every column")
text(A, "unquoted_decimal_comma_extra_value.csv",
     "account_id,revenue,gross_margin\nA1,1000,0,3\nA2,500,0,2\n",
     err(["more values than the 3 header columns"], rows=[2, 3]))
text(A, "unquoted_name_comma.csv", "account_id,name,revenue\nA1,Smith, John,1000\nA2,B,500\n",
     err(["more values than the 3 header columns", "Smith, John"], rows=[2]))
text(A, "ambiguous_thousands.csv", 'account_id,revenue\nA1,"1,500"\nA2,"2,300"\n',
     err(["can be read two ways", "1500", "1.5"], column="revenue", rows=[2, 3],
         py_has=["thousands=','"], cli_has=["without thousands separators"]))
text(A, "ambiguous_dot.csv", "account_id;revenue\nA1;1.500\nA2;22.300\n",
     err(["can be read two ways"], column="revenue", rows=[2, 3]))
text(A, "mixed_conventions.csv", 'account_id,revenue\nA1,"1,234.50"\nA2,"1.234,50"\nA3,7\n',
     err(["writes numbers in two ways", "'1.234,50'"], column="revenue", rows=[3]))
text(A, "mixed_across_columns.csv",
     'account_id,revenue,gross_margin\nA1,"1,234.50",0.3\nA2,700,"0,2"\n',
     err(["writes numbers in two ways"], column="gross_margin", rows=[3]))
text(A, "indian_grouping.csv", 'account_id,revenue\nA1,"1,23,456.00"\nA2,100\n',
     err(["holds text where a number is expected", "'1,23,456.00'"], column="revenue",
         rows=[2]))
text(A, "bad_group_size.csv", "account_id;revenue\nA1;1.23,5\nA2;100\n",
     err(["holds text where a number is expected"], column="revenue", rows=[2]))
text(A, "issue_hint_us_number.csv", 'account_id,revenue\nA1,"1,234.50"\nA2,10\n',
     err(["not numbers written with decimal=',', thousands='.'",
          "pass decimal='.', thousands=','"], column="revenue", rows=[2]),
     kwargs={"decimal": ",", "thousands": "."}, cli=False,
     note="issue: following the old hint read 1.2345")
text(A, "issue_grouping_unchecked.csv", "account_id;revenue\nA1;99.5\nA2;1.000\n",
     err(["not numbers written with thousands='.'", "'99.5'"], column="revenue", rows=[2]),
     kwargs={"thousands": "."}, cli=False, note="issue: 99.5 with thousands='.' became 995")
text(A, "negative_revenue.csv", "account_id,revenue\nA1,1000\nA2,-5\n",
     err(["revenue must be >= 0"], column="revenue", rows=[3]))
text(A, "bracket_negative.csv", 'account_id,revenue\nA1,1000\nA2,"(1,000)"\n',
     err(["holds text where a number is expected", "minus sign"], column="revenue", rows=[3]))
text(A, "duplicate_ids.csv", "account_id,revenue\nA1,1\nA2,2\nA1,3\n",
     err(["duplicate account ids", "'A1'", "one row"], column="account_id", rows=[2, 4]))
text(A, "duplicate_ids_after_blank_lines.csv", "account_id,revenue\n\nA1,1\n\nA1,3\n",
     err(["duplicate account ids"], column="account_id", rows=[3, 5]),
     note="rows are the file's lines, blank lines counted")
text(A, "empty.csv", b"", err(["is empty (0 bytes)"]))
text(A, "header_only.csv", "account_id,revenue\n", err(["holds no accounts"]))
text(A, "only_blank_lines.csv", "\n\n  \n", err(["holds no header row"]))
text(A, "sep_line_only.csv", "sep=;\n", err(["holds no header row"]))
text(A, "text_in_revenue.csv", "account_id,revenue\nA1,1000\nA2,abc\n",
     err(["holds text where a number is expected", "'abc'"], column="revenue", rows=[3]))
text(A, "true_in_revenue.csv", "account_id,revenue\nA1,TRUE\nA2,500\n",
     err(["holds text where a number is expected", "'TRUE'"], column="revenue", rows=[2]))
text(A, "date_in_revenue.csv", "account_id,revenue\nA1,2024-01-02\nA2,500\n",
     err(["holds text where a number is expected"], column="revenue", rows=[2]))
text(A, "currency_symbols.csv", 'account_id,revenue\nA1,"€1,000"\nA2,$500\n',
     err(["holds text where a number is expected", "remove currency symbols"],
         column="revenue", rows=[2, 3]))
text(A, "currency_code.csv", "account_id;revenue\nA1;1.000 EUR\nA2;500 EUR\n",
     err(["remove currency symbols"], column="revenue", rows=[2, 3]))
text(A, "percent_margin.csv", "account_id,revenue,gross_margin\nA1,1000,30%\nA2,500,20 %\n",
     err(["holds text where a number is expected", "percentages as fractions"],
         column="gross_margin", rows=[2, 3]))
text(A, "margin_in_percent_points.csv",
     "account_id,revenue,gross_margin\nA1,1000,30\nA2,500,0.2\n",
     err(["gross_margin must be >= 0 and <= 1", "35 % as 0.35"], column="gross_margin",
         rows=[2]))
text(A, "missing_value.csv", "account_id,revenue\nA1,1000\nA2,\nA3,7\n",
     err(["has 1 missing value(s)"], column="revenue", rows=[3]))
text(A, "missing_margin_quoted_blank.csv",
     'account_id,revenue,gross_margin\nA1,1000," "\nA2,500,0.2\n',
     err(["has 1 missing value(s)"], column="gross_margin", rows=[2]))
text(A, "na_placeholder.csv", "account_id,revenue\nA1,1000\nA2,n/a\nA3,#N/A\n",
     err(["placeholder(s) for a missing value", "'n/a'"], column="revenue", rows=[3, 4]))
text(A, "nan_text.csv", "account_id,revenue\nA1,NaN\nA2,1\n",
     err(["placeholder(s) for a missing value"], column="revenue", rows=[2]))
text(A, "inf_text.csv", "account_id,revenue\nA1,inf\nA2,1\n",
     err(["holds infinite values"], column="revenue", rows=[2]))
text(A, "cp1252.csv", "account_id,name,revenue\nA1,Caf\u00e9 Ol\u00e9,1000\n".encode("cp1252"),
     err(["is not UTF-8 text (byte 0xe9 on line 2)", "save the accounts file as UTF-8"],
         py_has=["encoding='cp1252'"]))
text(A, "latin1_long.csv",
     ("account_id;name;revenue\n" + "".join(
         f"A{i};{['Müller GmbH', 'Café Olé', 'Société Générale', 'Straße & Co'][i % 4]};"
         f"{100 + i}\n" for i in range(200))).encode("cp1252"),
     err(["is not UTF-8 text", "in a legacy encoding such as cp125",
          "save the accounts file as UTF-8"], py_has=["encoding='cp125"]))
text(A, "utf16_no_bom.csv", "account_id,revenue\nA1,1\n".encode("utf-16-le"),
     err(["holds NUL bytes"]))
text(A, "xlsx_named_csv.csv", b"PK\x03\x04" + b"\x00" * 40,
     err(["is an Excel workbook with a .csv name", "rename it to .xlsx"]))
text(A, "xls_named_csv.csv", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 40,
     err(["old Excel .xls workbook"]))
text(A, "accounts.json", '{"account_id": "A1"}', err(["unsupported extension '.json'"]))
text(A, "accounts.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 40,
     err(["old Excel .xls workbook", "save it as .xlsx"]))
text(A, "unbalanced_quote.csv", 'account_id,name,revenue\nA1,"Acme,1000\nA2,B,500\n',
     err(["missing value"], column="revenue", rows=[2]))
text(A, "duplicate_columns.csv", "account_id,revenue,revenue\nA1,1,2\n",
     err(["duplicate column name(s) ['revenue']"]))
text(A, "gross_profit_over_revenue.csv", "account_id,revenue,gross_profit\nA1,100,150\nA2,1,1\n",
     err(["gross_profit exceeds revenue"], column="gross_profit", rows=[2]))
text(A, "total_zero.csv", "account_id,revenue\nA1,0\nA2,0\n", err(["total revenue is zero"]))
text(A, "churn_prob_over_one.csv", "account_id,revenue,churn_prob\nA1,1,0.1\nA2,1,8\n",
     err(["churn_prob must be >= 0 and <= 1", "8 % as 0.08"], column="churn_prob", rows=[3]))
text(A, "blank_id.csv", "account_id,revenue\nA1,1\n ,2\n",
     err(["empty value(s)", "give every account an id"], column="account_id", rows=[3]))
text(A, "national_maybe.csv", "account_id,revenue,national\nA1,1,maybe\n",
     err(["not yes/no", "'maybe'"], column="national", rows=[2]))
text(A, "growth_minus_one.csv", "account_id,revenue,growth\nA1,1,-1\n",
     err(["growth must be > -1"], column="growth", rows=[2]))
text(A, "one_column.csv", "account_id\nA1\nA2\n",
     err(["missing required column(s) ['revenue']"]))
text(A, "wrong_delimiter_given.csv", "account_id;revenue\nA1;1000\n",
     err(["missing required column(s)"]), kwargs={"sep": ","}, cli=False)

# ---------------------------------------------------------------------------------------
# ledgers (Python API only: the command line has no ledger input)

L = "ledgers"


def ledger_rows(rows: list[tuple[str, Any, Any]], sep: str = ",",
                header: str = "customer_id,date,amount") -> str:
    return header.replace(",", sep) + "\n" + "".join(
        f"{c}{sep}{d}{sep}{a}\n" for c, d, a in rows)


def serial(y: int, m: int, d: int) -> int:
    return (dt.date(y, m, d) - dt.date(1899, 12, 30)).days


THREE_YEARS = [("a", "2021-03-01", 5000), ("b", "2022-03-01", 5400),
               ("a", "2023-03-01", 3000), ("b", "2023-09-01", 2300)]
text(L, "iso.csv", ledger_rows(THREE_YEARS), ok(2, 5300.0),
     note="default period: the last 12 months")
text(L, "excel_serials.csv",
     ledger_rows([(c, serial(*map(int, d.split("-"))), a) for c, d, a in THREE_YEARS]),
     ok(2, 5300.0), note="issue: serials read as nanoseconds gave 15,700")
text(L, "excel_serials_with_time.csv",
     ledger_rows([(c, serial(*map(int, d.split("-"))) + 0.5, a) for c, d, a in THREE_YEARS]),
     ok(2, 5300.0))
text(L, "yyyymmdd.csv", ledger_rows([(c, d.replace("-", ""), a) for c, d, a in THREE_YEARS]),
     ok(2, 5300.0))
DAYFIRST = [("a", "01/02/2024", 100), ("a", "13/02/2024", 50), ("b", "05/03/2024", 25)]
text(L, "day_first.csv", ledger_rows(DAYFIRST), ok(2, 175.0, period=["2023-03-06", "2024-03-06"]),
     note="issue: 01/02 and 13/02 were parsed two ways")
text(L, "month_first.csv",
     ledger_rows([("a", "02/01/2024", 100), ("a", "02/13/2024", 50), ("b", "03/05/2024", 25)]),
     ok(2, 175.0, period=["2023-03-06", "2024-03-06"]))
text(L, "dotted_day_first_decimal_comma.csv",
     ledger_rows([("a", "01.02.2024", "1.000,50"), ("b", "28.02.2024", "99,5")], sep=";"),
     ok(2, 1100.0))
text(L, "iso_with_times.csv",
     ledger_rows([("a", "2024-01-05T10:00:00", 10), ("b", "2024-02-05 23:59", 20)]),
     ok(2, 30.0))
text(L, "month_names.csv",
     ledger_rows([("a", "5 Jan 2024", 10), ("b", "Feb 7, 2024", 20)], sep=";"), ok(2, 30.0))
text(L, "trailing_delimiter_bom.csv",
     b"\xef\xbb\xbfcustomer_id,date,amount,\r\na,2024-01-05,10,\r\nb,2024-02-05,20,\r\n",
     ok(2, 30.0))
text(L, "ambiguous_forced.csv", ledger_rows([("a", "01/02/2024", 10), ("b", "03/04/2024", 20)]),
     ok(2, 30.0, period=["2023-04-04", "2024-04-04"]), kwargs={"dayfirst": True})
text(L, "ambiguous_dates.csv", ledger_rows([("a", "01/02/2024", 10), ("b", "03/04/2024", 20)]),
     err(["can be read day first (1 February) or month first (2 January)"],
         py_has=["dayfirst=True"], column="date", rows=[2, 3]))
text(L, "mixed_day_month_first.csv",
     ledger_rows([("a", "13/02/2024", 10), ("b", "02/14/2024", 20), ("c", "15/03/2024", 5)]),
     err(["mixes day-first dates", "month-first"], column="date", rows=[3]))
text(L, "dayfirst_contradicted.csv", ledger_rows([("a", "02/13/2024", 10)]),
     err(["dayfirst=True but '02/13/2024' is month-first"], column="date", rows=[2]),
     kwargs={"dayfirst": True})
text(L, "unparseable_date.csv", ledger_rows([("a", "2024-01-05", 10), ("b", "soon", 20)]),
     err(["unparseable date(s)", "'soon'", "YYYY-MM-DD"], column="date", rows=[3]))
text(L, "impossible_date.csv", ledger_rows([("a", "13/01/2024", 10), ("b", "31/02/2024", 20)]),
     err(["unparseable date(s)", "'31/02/2024'"], column="date", rows=[3]))
text(L, "small_number_date.csv", ledger_rows([("a", "123", 10), ("b", "45300", 20)]),
     err(["unparseable date(s)", "'123'"], column="date", rows=[2]))
text(L, "text_amount.csv", ledger_rows([("a", "2024-01-05", "ten"), ("b", "2024-01-06", 2)]),
     err(["holds text where a number is expected", "'ten'"], column="amount", rows=[2]))
text(L, "ambiguous_amount.csv",
     ledger_rows([("a", "2024-01-05", '"1,500"'), ("b", "2024-01-06", '"2,250"')]),
     err(["can be read two ways"], column="amount", rows=[2, 3]))
text(L, "missing_date_column.csv", "customer_id,day,amount\na,2024-01-01,1\n",
     err(["ledger is missing column(s) ['date']"]))
text(L, "empty_date.csv", ledger_rows([("a", "2024-01-05", 10), ("b", "", 20)]),
     err(["missing or unparseable date(s)"], column="date", rows=[3]))

# ---------------------------------------------------------------------------------------
# histories (API: read_history; command line: kamsim report -p history_file FILE)

H = "histories"
HIST = "account_id,start_date,end_date\n"
AS_OF = {"as_of": "2025-01-01"}
text(H, "iso.csv", HIST + "007,2020-01-01,2021-06-30\n008,2021-01-01,\n",
     ok(2, 0.0, churned=1, ids=["007", "008"]), kwargs=AS_OF)
text(H, "day_first_settled_by_start.csv",
     HIST + "a,13/01/2020,01/02/2021\nb,02/03/2020,\n",
     ok(2, 0.0, churned=1, end_dates=["2021-02-01", None]), kwargs=AS_OF,
     note="the start column settles day-first for the end column")
text(H, "excel_serials.csv", HIST + f"a,{serial(2020, 1, 1)},{serial(2021, 1, 1)}\nb,"
     f"{serial(2020, 6, 1)},\n", ok(2, 0.0, churned=1, end_dates=["2021-01-01", None]),
     kwargs=AS_OF)
text(H, "bom_trailing_delimiter.csv",
     b"\xef\xbb\xbfaccount_id;start_date;end_date;\r\na;2020-01-01;2021-01-01;\r\nb;2020-02-01;;\r\n",
     ok(2, 0.0, churned=1), kwargs=AS_OF)
text(H, "churned_words.csv",
     "account_id,start_date,end_date,churned\na,2020-01-01,2021-01-01,yes\n"
     "b,2020-01-01,2021-01-01,no\n",
     ok(2, 0.0, churned=1), kwargs={**AS_OF, "churned": "churned"})
text(H, "ambiguous_dates.csv", HIST + "a,01/02/2020,03/04/2021\nb,05/06/2020,\n",
     err(["can be read day first", "write the dates as YYYY-MM-DD"], column="start_date",
         rows=[2, 3], py_has=["dayfirst=True"]), kwargs=AS_OF)
text(H, "mixed_dates.csv", HIST + "a,13/01/2020,\nb,01/13/2020,\n",
     err(["mixes day-first dates"], column="start_date"), kwargs=AS_OF)
text(H, "end_before_start.csv", HIST + "a,2021-01-01,2020-01-01\n",
     err(["end date(s) before the start date"], column="end_date", rows=[2]), kwargs=AS_OF)
text(H, "future_date.csv", HIST + "a,2020-01-01,2030-01-01\n",
     err(["in the future"], column="end_date", rows=[2]), kwargs=AS_OF)
text(H, "duplicate_ids.csv", HIST + "a,2020-01-01,\na,2020-02-01,\n",
     err(["duplicate account id(s)"], column="account_id", rows=[2, 3]), kwargs=AS_OF)
text(H, "missing_start.csv", HIST + "a,2020-01-01,\nb,,\n",
     err(["missing date(s)"], column="start_date", rows=[3]), kwargs=AS_OF)
text(H, "unparseable.csv", HIST + "a,last spring,\n",
     err(["unparseable date(s)", "'last spring'"], column="start_date", rows=[2]),
     kwargs=AS_OF)
text(H, "missing_column.csv", "account_id,start\na,2020-01-01\n",
     err(["history is missing column(s)"]), kwargs=AS_OF)

# ---------------------------------------------------------------------------------------
# scenarios (API: Scenario.from_yaml; command line: kamsim summary --scenario FILE)

S = "scenarios"
HEAD = "accounts: ../accounts/basic.csv\n"
SIMPLE = HEAD + "horizon_months: 12\nfixed_costs: 100\nchurn:\n  annual_prob: 0.1\n"
text(S, "simple.yaml", SIMPLE, ok(2, 1500.0, horizon_months=12, fixed_costs=100.0))
text(S, "bom_crlf.yaml", b"\xef\xbb\xbf" + SIMPLE.replace("\n", "\r\n").encode(),
     ok(2, 1500.0, horizon_months=12, fixed_costs=100.0))
text(S, "underscores_comments.yaml",
     HEAD + "horizon_months: 24   # two years\nfixed_costs: 6_000   # per year\n"
     "churn: {annual_prob: 0.05, correlation: 0.2}\n",
     ok(2, 1500.0, horizon_months=24, fixed_costs=6000.0))
text(S, "anchor_without_alias.yaml", HEAD + "horizon_months: &h 12\nchurn:\n  annual_prob: 0.1\n",
     ok(2, 1500.0, horizon_months=12))
text(S, "yaml_bool_fixed_costs.yaml", HEAD + "fixed_costs: true\nchurn: {annual_prob: 0.1}\n",
     err(["must be a number, got True (a yes/no value)"], type="AssumptionError",
         field="fixed_costs"),
     note="issue: fixed_costs: true became 1.0")
text(S, "yaml_yes_level.yaml", HEAD + "churn: {annual_prob: 0.1, level: yes}\n",
     err(["must be a number, got True (a yes/no value)"], type="AssumptionError", field="level"))
text(S, "yaml_bool_prob.yaml", HEAD + "churn: {annual_prob: on}\n",
     err(["a yes/no value"], type="AssumptionError", field="annual_prob"))
text(S, "yaml_bool_notice.yaml", HEAD + "horizon_months: 12\nchurn: {annual_prob: 0.1, "
     "notice_months: true}\n",
     err(["whole number of months"], type="AssumptionError", field="notice_months"))
text(S, "yaml_bool_opening_cash.yaml", HEAD + "opening_cash: false\nchurn: {annual_prob: 0.1}\n",
     err(["must be a number, got False (a yes/no value)"], type="AssumptionError",
         field="opening_cash"))
text(S, "yaml_bool_win_rate.yaml", HEAD + "churn: {annual_prob: 0.1}\nreplacement:\n"
     "  win_rate: yes\n",
     err(["win_rate"], type="AssumptionError", field="win_rate"))
text(S, "duplicate_keys.yaml", HEAD + "horizon_months: 12\nhorizon_months: 36\n",
     err(["line 3, column 1", "repeats the key 'horizon_months' (first on line 2)"]),
     note="issue: duplicate keys kept the last")
text(S, "duplicate_nested_keys.yaml", HEAD + "churn:\n  annual_prob: 0.1\n  annual_prob: 0.5\n",
     err(["repeats the key 'annual_prob'"]))
text(S, "billion_laughs.yaml",
     HEAD + 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
     "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
     "name: [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n",
     err(["uses an alias ('*a')", "anchors and aliases are not allowed"]),
     note="issue: an alias bomb in name expanded to 80 MB")
text(S, "merge_key_alias.yaml",
     HEAD + "base: &base {annual_prob: 0.1}\nchurn:\n  <<: *base\n",
     err(["uses an alias ('*base')"]))
text(S, "tabs.yaml", HEAD + "churn:\n\tannual_prob: 0.1\n",
     err(["line 3", "indent with spaces, not tabs"]))
text(S, "cp1252.yaml", (HEAD + "name: Caf\u00e9\n").encode("cp1252"),
     err(["is not UTF-8 text", "save the scenario file as UTF-8"]))
text(S, "python_object.yaml", HEAD + "name: !!python/object/apply:os.system ['echo hi']\n",
     err(["holds the tag '!!python/object/apply:os.system'", "nothing is executed"]))
text(S, "python_name.yaml", HEAD + "name: !!python/name:os.system\n",
     err(["holds the tag '!!python/name:os.system'"]))
text(S, "custom_tag.yaml", HEAD + "fixed_costs: !money 100\n", err(["holds the tag '!money'"]))
text(S, "tier_probs_list.yaml", HEAD + "churn:\n  tier_probs: [0.1, 0.2, 0.3]\n",
     err(["must be a mapping such as {key: 0.05"], type="AssumptionError", field="tier_probs"),
     note="issue: a traceback")
text(S, "accounts_number.yaml", "accounts: 123\nchurn: {annual_prob: 0.1}\n",
     err(["must be the path of an accounts file (text), got 123"], type="AssumptionError",
         field="accounts"), note="issue: a traceback")
text(S, "accounts_list.yaml", "accounts: [a.csv, b.csv]\n",
     err(["must be the path of an accounts file"], type="AssumptionError", field="accounts"))
text(S, "accounts_missing_file.yaml", "accounts: nowhere.csv\nchurn: {annual_prob: 0.1}\n",
     err(["nowhere.csv: file not found"], names="nowhere.csv"))
text(S, "no_accounts.yaml", "horizon_months: 12\n",
     err(["no accounts file given"], type="AssumptionError", field="accounts",
         py_has=["pass portfolio="], cli_has=["give --accounts FILE"]))
text(S, "empty.yaml", "", err(["no accounts file given"], type="AssumptionError"))
text(S, "top_level_list.yaml", "- accounts: a.csv\n", err(["must hold a mapping of scenario"]))
text(S, "top_level_text.yaml", "just some words\n", err(["must hold a mapping of scenario"]))
text(S, "unknown_field.yaml", SIMPLE + "horizon: 12\n",
     err(["unknown field(s) ['horizon']"], type="AssumptionError", field="scenario"))
text(S, "number_key.yaml", SIMPLE + "12: months\n",
     err(["unknown field(s) ['12']"], type="AssumptionError", field="scenario"))
text(S, "horizon_text.yaml", HEAD + "horizon_months: 24 months\nchurn: {annual_prob: 0.1}\n",
     err(["whole number of months in [1, 600]"], type="AssumptionError",
         field="horizon_months"))
text(S, "horizon_float.yaml", HEAD + "horizon_months: 12.5\nchurn: {annual_prob: 0.1}\n",
     err(["whole number of months"], type="AssumptionError", field="horizon_months"))
text(S, "correlation_out_of_range.yaml", HEAD + "churn: {annual_prob: 0.1, correlation: 1.5}\n",
     err(["must be in [0, 1)", "correlation_out_of_range.yaml, line 2)"], type="AssumptionError",
         field="correlation"))
text(S, "partial_beta_one_number.yaml", HEAD + "churn: {annual_prob: 0.1, partial_beta: [2]}\n",
     err(["must be two numbers [a, b]"], type="AssumptionError", field="partial_beta"))
text(S, "partial_beta_text.yaml", HEAD + "churn: {annual_prob: 0.1, partial_beta: '2,3'}\n",
     err(["must be two numbers [a, b]"], type="AssumptionError", field="partial_beta"))
text(S, "segment_correlation_list.yaml",
     HEAD + "churn: {annual_prob: 0.1, segment_correlation: [0.1]}\n",
     err(["must be a mapping such as"], type="AssumptionError", field="segment_correlation"))
text(S, "churn_number.yaml", HEAD + "churn: 5\n",
     err(["must be a mapping of churn fields"], type="AssumptionError", field="churn"))
text(S, "replacement_list.yaml", HEAD + "churn: {annual_prob: 0.1}\nreplacement: [1, 2]\n",
     err(["must be a mapping of replacement fields"], type="AssumptionError",
         field="replacement"))
text(S, "name_mapping.yaml", HEAD + "name: {a: 1}\nchurn: {annual_prob: 0.1}\n",
     err(["must be text"], type="AssumptionError", field="name"))
text(S, "nan_fixed_costs.yaml", HEAD + "fixed_costs: .nan\nchurn: {annual_prob: 0.1}\n",
     err(["must be a finite number"], type="AssumptionError", field="fixed_costs"))
text(S, "syntax_error.yaml", HEAD + "churn: {annual_prob: 0.1\n",
     err(["line 3", "fix the YAML"]))
text(S, "bad_accounts_inside.yaml", "accounts: ../accounts/ambiguous_thousands.csv\n",
     err(["can be read two ways"], column="revenue", names="ambiguous_thousands.csv"))


# ---------------------------------------------------------------------------------------
# spreadsheets (openpyxl)

X = "xlsx"
XLSX: dict[str, Any] = {}


def sheet(name: str, rows: list[list[Any]], expect: dict[str, Any], *, fmt: Any = None,
          merge: str | None = None, kwargs: dict[str, Any] | None = None, cli: bool = True,
          sheets: list[tuple[str, list[list[Any]]]] | None = None, cached: dict[str, Any]
          | None = None, note: str = "", leading_blank_rows: int = 0,
          chart: bool = False) -> None:
    XLSX[name] = {"rows": rows, "fmt": fmt, "merge": merge, "sheets": sheets, "cached": cached,
                  "blank": leading_blank_rows, "chart": chart}
    CASES.append({"kind": X, "file": f"{X}/{name}", "kwargs": kwargs or {}, "cli": cli,
                  "note": note, **expect})


HDR = ["account_id", "revenue", "gross_margin"]
sheet("basic.xlsx", [HDR, ["A1", 1000, 0.3], ["A2", 500.0, 0.2]], OK_BASIC)
sheet("ids_000_format.xlsx", [HDR, [7, 1000, 0.3], [12, 500, 0.2]],
      ok(2, 1500.0, ids=["007", "012"]), fmt={"A2": "000", "A3": "000"},
      note="issue: ids formatted '000' lost their zeros")
sheet("ids_numbers.xlsx", [HDR, [17850, 1000, 0.3], [17851.0, 500, 0.2]],
      ok(2, 1500.0, ids=["17850", "17851"]))
sheet("blank_rows.xlsx", [HDR, ["A1", 1000, 0.3], [None, None, None], ["A2", 500, 0.2]],
      OK_BASIC)
sheet("header_on_row_3.xlsx", [HDR, ["A1", 1000, 0.3], ["A2", -5, 0.2]],
      err(["revenue must be >= 0"], column="revenue", rows=[5]), leading_blank_rows=2,
      note="rows are the sheet's own row numbers")
sheet("text_numbers_decimal_comma.xlsx", [HDR, ["A1", "1.234,50", "0,3"], ["A2", "765,50", "0,2"]],
      ok(2, 2000.0, gp=523.45))
sheet("national_bools.xlsx", [["account_id", "revenue", "national"], ["A1", 1000, True],
                              ["A2", 500, False]], ok(2, 1500.0))
sheet("formula_cached.xlsx", [HDR, ["A1", "=600+400", 0.3], ["A2", 500, 0.2]], OK_BASIC,
      cached={"B2": 1000})
sheet("second_sheet.xlsx", [], OK_BASIC, kwargs={"sheet": "Accounts"}, cli=False,
      sheets=[("Notes", [["read me"]]), ("Accounts", [HDR, ["A1", 1000, 0.3], ["A2", 500, 0.2]])])
sheet("dates_in_user_column.xlsx", [[*HDR, "since"], ["A1", 1000, 0.3, dt.datetime(2020, 1, 1)],
                                    ["A2", 500, 0.2, dt.datetime(2021, 1, 1)]], OK_BASIC)
sheet("error_in_user_column.xlsx", [[*HDR, "note"], ["A1", 1000, 0.3, "#N/A"],
                                    ["A2", 500, 0.2, "x"]], OK_BASIC, fmt={"D2": "error"})
sheet("bool_revenue.xlsx", [HDR, ["A1", True, 0.3], ["A2", 500, 0.2]],
      err(["holds TRUE/FALSE (yes/no) values", "True"], column="revenue", rows=[2]),
      note="issue: TRUE read as revenue 1.0")
sheet("bool_margin.xlsx", [HDR, ["A1", 1000, True], ["A2", 500, False]],
      err(["holds TRUE/FALSE (yes/no) values"], column="gross_margin", rows=[2, 3]),
      note="issue: TRUE read as margin 100 %")
sheet("date_revenue.xlsx", [HDR, ["A1", dt.datetime(2024, 1, 2), 0.3], ["A2", 500, 0.2]],
      err(["holds dates where numbers are expected", "2024-01-02"], column="revenue", rows=[2]))
sheet("time_revenue.xlsx", [HDR, ["A1", 1000, 0.3], ["A2", dt.time(12, 30), 0.2]],
      err(["holds times of day"], column="revenue", rows=[3]))
sheet("div0_margin.xlsx", [HDR, ["A1", 1000, "#DIV/0!"], ["A2", 500, 0.2]],
      err(["holds Excel error values", "'#DIV/0!'", "fix the failing formulas"],
          column="gross_margin", rows=[2]), fmt={"C2": "error"})
sheet("na_error_segment.xlsx", [[*HDR, "segment"], ["A1", 1000, 0.3, "#N/A"],
                                ["A2", 500, 0.2, "retail"]],
      err(["Excel errors or uncalculated formulas", "#N/A"], column="segment", rows=[2]),
      fmt={"D2": "error"})
sheet("uncached_formula.xlsx", [HDR, ["A1", "=B3*2", 0.3], ["A2", 500, 0.2]],
      err(["formulas that were saved without their results", "=B3*2", "save it again"],
          column="revenue", rows=[2]))
sheet("merged_header.xlsx", [["account_id", "revenue", "gross_margin", None],
                             ["A1", 1000, 0.3, 900], ["A2", 500, 0.2, 450]],
      err(["merged cells (C1:D1)", "a merged header cell hides a column", "Unmerge"]),
      merge="C1:D1", note="issue: a merged header silently dropped a column")
sheet("merged_data.xlsx", [[*HDR, "segment"], ["A1", 1000, 0.3, "retail"],
                           ["A2", 500, 0.2, None]],
      err(["merged cells (D2:D3)"]), merge="D2:D3")
sheet("empty_sheet.xlsx", [], err(["is empty"]), sheets=[("Sheet1", [])])
sheet("no_such_sheet.xlsx", [HDR, ["A1", 1, 0.1]], err(["has no sheet 'Nope'"]),
      kwargs={"sheet": "Nope"}, cli=False)
sheet("first_sheet_is_notes.xlsx", [], err(["missing required column(s)", "first sheet 'Notes'"],
                                          py_has=["pass sheet= one of ['Accounts']"],
                                          cli_has=["move the accounts sheet (Accounts?)"]),
      sheets=[("Notes", [["read me"]]), ("Accounts", [HDR, ["A1", 1000, 0.3]])])
sheet("duplicate_ids_mixed_types.xlsx", [HDR, [7, 1, 0.1], ["7", 2, 0.1]],
      err(["duplicate account ids", "'7'"], column="account_id", rows=[2, 3]))
sheet("bool_id.xlsx", [HDR, [True, 1, 0.1], ["A2", 2, 0.1]],
      err(["values that are not ids"], column="account_id", rows=[2]))
sheet("text_revenue.xlsx", [HDR, ["A1", "abc", 0.1], ["A2", 2, 0.1]],
      err(["holds text where a number is expected", "'abc'"], column="revenue", rows=[2]))
sheet("blank_text_cell.xlsx", [HDR, ["A1", "   ", 0.1], ["A2", 2, 0.1]],
      err(["has 1 missing value(s)"], column="revenue", rows=[2]))
sheet("chart_sheet_asked.xlsx", [HDR, ["A1", 1, 0.1]], err(["is a chart, not a table"]),
      kwargs={"sheet": "Chart"}, cli=False, chart=True)
sheet("chart_sheet_first.xlsx", [HDR, ["A1", 1000, 0.3], ["A2", 500, 0.2]], OK_BASIC, chart=True,
      note="a chart sheet before the data: the first worksheet is read")
sheet("sum_row.xlsx", [HDR, ["A1", 1000, 0.3], ["A2", 500, 0.2], ["Summe", "=SUM(B2:B3)", None]],
      err(["looks like a totals row", "'Summe'"], column="account_id", rows=[4]),
      cached={"B4": 1500}, note="a SUM row at the bottom of a sheet")
sheet("percent_numbers.xlsx", [HDR, ["A1", 1000, 30], ["A2", 500, 20]],
      err(["gross_margin must be >= 0 and <= 1"], column="gross_margin", rows=[2, 3]))
text(X, "not_a_zip.xlsx", "account_id,revenue\nA1,1\n", err(["is not an .xlsx workbook"]))
text(X, "old_xls_named_xlsx.xlsx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 40,
     err(["old .xls workbook"]))
text(X, "broken_zip.xlsx", b"PK\x03\x04broken",
     err(["cannot be read as an Excel workbook"]))


def write_xlsx(path: Path, spec: dict[str, Any]) -> None:
    import openpyxl

    wb = openpyxl.Workbook()
    ws0 = wb.active
    sheets = spec["sheets"] or [("Accounts", spec["rows"])]
    for k, (title, rows) in enumerate(sheets):
        ws = ws0 if k == 0 else wb.create_sheet()
        ws.title = title
        for _ in range(spec["blank"]):
            ws.append([])
        for r in rows:
            ws.append(r)
    ws = wb.worksheets[0] if spec["sheets"] is None else ws0
    for ref, f in (spec["fmt"] or {}).items():
        if f == "error":
            ws[ref].data_type = "e"
        else:
            ws[ref].number_format = f
    if spec["merge"]:
        ws.merge_cells(spec["merge"])
    if spec["chart"]:
        from openpyxl.chart import BarChart, Reference

        chart = BarChart()
        chart.add_data(Reference(ws, min_col=2, min_row=1, max_row=len(spec["rows"])))
        wb.create_chartsheet("Chart", 0).add_chart(chart)
    stamp = dt.datetime(2026, 1, 1)
    wb.properties.created = wb.properties.modified = stamp
    buf = io.BytesIO()
    wb.save(buf)
    data = buf.getvalue()
    if spec["cached"]:  # openpyxl writes formulas without results; add them, as Excel does
        data = _add_cached(data, spec["cached"])
    path.write_bytes(_deterministic(data))


def _deterministic(data: bytes) -> bytes:
    """The same workbook bytes on every run: fixed zip times and document dates."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            body = src.read(item.filename)
            if item.filename == "docProps/core.xml":
                body = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>2026-01-01T00:00:00Z",
                              body)
            info = zipfile.ZipInfo(item.filename, date_time=(2026, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(info, body)
    return out.getvalue()


def _add_cached(data: bytes, cached: dict[str, Any]) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            body = src.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                xml = body.decode()
                for ref, v in cached.items():
                    xml = re.sub(rf'(<c r="{ref}"[^>]*>)<f>(.*?)</f><v\s*/?>(?:</v>)?',
                                 rf"\1<f>\2</f><v>{v}</v>", xml)
                    xml = re.sub(rf'(<c r="{ref}"[^>]*>)<f>(.*?)</f>(?!<v>)',
                                 rf"\1<f>\2</f><v>{v}</v>", xml)
                body = xml.encode()
            dst.writestr(item, body)
    return out.getvalue()


def main() -> None:
    for rel, data in TEXT.items():
        p = HERE / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    (HERE / X).mkdir(exist_ok=True)
    for name, spec in XLSX.items():
        write_xlsx(HERE / X / name, spec)
    names = [c["file"] for c in CASES]
    dup = {n for n in names if names.count(n) > 1}
    assert not dup, dup
    (HERE / "expected.json").write_text(json.dumps(CASES, indent=1, ensure_ascii=False) + "\n",
                                        encoding="utf-8")


if __name__ == "__main__":
    main()
