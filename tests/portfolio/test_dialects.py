"""Property: a valid accounts table written in any common dialect reads back equal.

Dialects: delimiter (``,`` ``;`` tab ``|``), UTF-8 byte-order mark, CRLF or LF line ends,
minimal or full quoting, decimal point or comma, thousands grouping (none, ``,`` ``.``
space, no-break space, apostrophe), a trailing delimiter on every line, Excel's ``sep=``
first line, blank lines. Names hold delimiters, quotes and line breaks.
"""

from __future__ import annotations

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

from kamsim.exceptions import InputDataError
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
