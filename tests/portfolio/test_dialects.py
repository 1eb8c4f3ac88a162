"""Property: a valid accounts table written in any common dialect reads back equal.

Dialects: delimiter (``,`` ``;`` tab ``|``), UTF-8 byte-order mark, CRLF or LF line ends,
minimal or full quoting, decimal point or comma, thousands grouping (none, ``,`` ``.``
space, no-break space, apostrophe), a trailing delimiter on every line, Excel's ``sep=``
first line, blank lines. Names hold delimiters, quotes and line breaks. Dates in one format
read back equal or are refused as ambiguous. And fuzzing: mutated or random bytes as an
accounts file or a scenario, and random cells as dates, give a result or a KamsimError,
never another exception.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kamsim.exceptions import InputDataError, KamsimError
from kamsim.model import Scenario
from kamsim.portfolio import parse_dates, read_accounts

DELIMS = [",", ";", "\t", "|"]
THOUSANDS = ["", ",", ".", " ", "\u00a0", "'"]
NAME_CHARS = st.characters(codec="utf-8", categories=("L", "N", "Zs"),
                           include_characters=",;|\t\"'\n-&().")


def group(int_part: str, sep: str) -> str:
    if not sep:
        return int_part
    out = []
    while len(int_part) > 3:
        out.append(int_part[-3:])
        int_part = int_part[:-3]
    out.append(int_part)
    return sep.join(reversed(out))


def money(cents: int, decimal: str, thousands: str, grouped: bool) -> str:
    whole, frac = divmod(cents, 100)
    return f"{group(str(whole), thousands if grouped else '')}{decimal}{frac:02d}"


def fraction(milli: int, decimal: str) -> str:
    whole, frac = divmod(milli, 1000)
    return f"{whole}{decimal}{frac:03d}"


@st.composite
def tables(draw):
    n = draw(st.integers(1, 12))
    ids = [f"{draw(st.sampled_from(['A', 'K', '0', 'Z-']))}{i:0{draw(st.integers(1, 4))}d}"
           for i in range(n)]
    names = draw(st.lists(st.text(NAME_CHARS, min_size=1, max_size=12)
                          .filter(lambda s: s.strip() != ""), min_size=n, max_size=n))
    cents = draw(st.lists(st.integers(0, 10**11), min_size=n, max_size=n)
                 .filter(lambda v: sum(v) > 0))
    milli = draw(st.lists(st.integers(0, 1000), min_size=n, max_size=n))
    return ids, names, cents, milli


@st.composite
def dialects(draw):
    delim = draw(st.sampled_from(DELIMS))
    decimal = draw(st.sampled_from([".", ","]))
    thousands = draw(st.sampled_from([t for t in THOUSANDS if t != decimal]))
    return {
        "delim": delim, "decimal": decimal, "thousands": thousands,
        "grouped": draw(st.lists(st.booleans(), min_size=12, max_size=12)),
        "bom": draw(st.booleans()), "crlf": draw(st.booleans()),
        "quote_all": draw(st.booleans()), "trailing": draw(st.booleans()),
        "sep_line": draw(st.booleans()), "blank_lines": draw(st.booleans()),
        "columns": draw(st.permutations(["account_id", "name", "revenue", "gross_margin"])),
    }


def write(ids, names, cents, milli, d) -> bytes:
    buf = io.StringIO()
    eol = "\r\n" if d["crlf"] else "\n"
    if d["sep_line"]:
        buf.write(f"sep={d['delim']}{eol}")
    w = csv.writer(buf, delimiter=d["delim"], lineterminator=eol,
                   quoting=csv.QUOTE_ALL if d["quote_all"] else csv.QUOTE_MINIMAL)
    cols = d["columns"]
    w.writerow([*cols, ""] if d["trailing"] else cols)
    for i in range(len(ids)):
        cell = {"account_id": ids[i], "name": names[i],
                "revenue": money(cents[i], d["decimal"], d["thousands"], d["grouped"][i]),
                "gross_margin": fraction(milli[i], d["decimal"])}
        row = [cell[c] for c in cols]
        w.writerow([*row, ""] if d["trailing"] else row)
        if d["blank_lines"] and i % 3 == 0:
            buf.write(eol)
    data = buf.getvalue().encode("utf-8")
    return (b"\xef\xbb\xbf" + data) if d["bom"] else data


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables(), dialects(), st.sampled_from([".csv", ".txt"]))
def test_any_dialect_reads_back_equal(table, dialect, suffix):
    ids, names, cents, milli = table
    data = write(ids, names, cents, milli, dialect)
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / f"accounts{suffix}"
        p.write_bytes(data)
        pf = read_accounts(p)
        assert p.read_bytes() == data
    assert pf.account_ids.tolist() == ids
    assert pf.names.tolist() == [s.strip() for s in names]
    np.testing.assert_array_equal(pf.revenue, np.array(cents) / 100)
    np.testing.assert_array_equal(pf.column("gross_margin"), np.array(milli) / 1000)


DATE_FORMATS = ["%Y-%m-%d", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%d-%m-%y", "serial",
                "yyyymmdd", "%d %b %Y"]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.dates(min_value=dt.date(1951, 1, 1), max_value=dt.date(2099, 12, 31)),
                min_size=1, max_size=20), st.sampled_from(DATE_FORMATS))
def test_dates_read_back_equal_or_refused_as_ambiguous(dates, fmt):
    """A date column in one format parses back equal, or is refused as ambiguous exactly
    when no date has a day above 12 (and some day differs from its month)."""
    if fmt == "%d-%m-%y":  # two-digit years are read as Excel reads them: 1930 to 2029
        dates = [d.replace(year=1930 + (d.year - 1930) % 100) for d in dates]
    if fmt == "serial":
        cells = [str((d - dt.date(1899, 12, 30)).days) for d in dates]
    elif fmt == "yyyymmdd":
        cells = [d.strftime("%Y%m%d") for d in dates]
    else:
        cells = [d.strftime(fmt) for d in dates]
    col = pd.Series(cells, dtype=object)
    ambiguous = (fmt in ("%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%d-%m-%y")
                 and all(d.day <= 12 for d in dates) and any(d.day != d.month for d in dates))
    if ambiguous:
        with pytest.raises(InputDataError, match="can be read day first"):
            parse_dates(col, column="date")
        dayfirst = fmt != "%m/%d/%Y"
        got = parse_dates(col, column="date", dayfirst=dayfirst)
    else:
        got = parse_dates(col, column="date")
    assert [ts.date() for ts in got] == dates


# ---------------------------------------------------------------------------------------
# fuzzing: whatever the bytes, the readers return a result or raise a KamsimError

SEED_CSV = (b"account_id;name;revenue;gross_margin\r\nA1;\"Acme, Ltd\";1.234,50;0,3\r\n"
            b"A2;Beta;765,50;0,2\r\n")


@st.composite
def mutated(draw, seed: bytes):
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "dup"]))
        i = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[i] = draw(st.integers(0, 255))
        elif op == "insert":
            data[i:i] = draw(st.sampled_from([b",", b";", b"\t", b"|", b'"', b"\n", b"\r",
                                              b"\x00", b"\xef\xbb\xbf", b"sep=,\n", b" ",
                                              b"\xa0", b"e", b"-", b".", b","]))
        elif op == "delete" and data:
            del data[i:i + draw(st.integers(1, 4))]
        elif op == "dup" and data:
            data[i:i] = data[i:i + draw(st.integers(1, 12))]
    return bytes(data)


@settings(max_examples=300, deadline=None)
@given(st.one_of(mutated(SEED_CSV), st.binary(max_size=200)), st.sampled_from([".csv", ".tsv"]))
def test_any_bytes_give_a_portfolio_or_a_kamsim_error(data, suffix):
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / f"accounts{suffix}"
        p.write_bytes(data)
        try:
            pf = read_accounts(p)
        except KamsimError:
            pass
        else:
            assert pf.n_accounts >= 1
            assert np.isfinite(pf.revenue).all()
        assert p.read_bytes() == data


SEED_YAML = (b"accounts: accounts.csv\nhorizon_months: 12\nfixed_costs: 100\nchurn:\n"
             b"  annual_prob: 0.1\n  partial_beta: [2, 3]\n")


@settings(max_examples=300, deadline=None)
@given(st.one_of(mutated(SEED_YAML), st.binary(max_size=200)))
def test_any_scenario_bytes_give_a_scenario_or_a_kamsim_error(data):
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "accounts.csv").write_text("account_id,revenue\nA1,1\n", encoding="utf-8")
        p = Path(tmp) / "s.yaml"
        p.write_bytes(data)
        with contextlib.suppress(KamsimError):
            Scenario.from_yaml(p)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=12), st.integers(-10**9, 10**9),
                          st.floats(allow_nan=True), st.none(), st.booleans(),
                          st.datetimes()), min_size=1, max_size=8))
def test_any_date_cells_parse_or_refuse(cells):
    try:
        got = parse_dates(pd.Series(cells, dtype=object), column="date")
    except InputDataError:
        return
    assert len(got) == len(cells)


CELLS = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**9),
                  st.floats(-1e9, 1e9, allow_nan=False),
                  st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")),
                          max_size=8),
                  st.sampled_from(["#DIV/0!", "#N/A", "=1/0", "=B2*2", "1.234,5", "7%",
                                   "TRUE"]),
                  st.datetimes(min_value=dt.datetime(1950, 1, 1)), st.times())


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(["account_id", "revenue", "gross_margin", "national",
                                 "segment", "x", None]), min_size=1, max_size=5),
       st.lists(st.lists(CELLS, min_size=5, max_size=5), max_size=6), st.booleans())
def test_any_workbook_gives_a_portfolio_or_a_kamsim_error(header, rows, merge):
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(header)
    for r in rows:
        ws.append(r)
    if merge and rows:
        ws.merge_cells("A2:B2")
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "accounts.xlsx"
        wb.save(p)
        before = p.read_bytes()
        try:
            pf = read_accounts(p)
        except KamsimError:
            pass
        else:
            assert np.isfinite(pf.revenue).all()
        assert p.read_bytes() == before
