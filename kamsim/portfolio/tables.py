"""Reading messy tables: CSV dialects, spreadsheets, number formats and dates.

The account, ledger and history readers share these helpers, so that every input file is
read one way and every refusal names the file, the column, the spreadsheet rows and the fix.

* :func:`read_table` reads a CSV/TSV/TXT file or an ``.xlsx`` sheet into text and Python
  values, with the spreadsheet row number of every record (the header is row 1 in a normal
  file). CSV: UTF-8 with or without a byte-order mark (UTF-16 with a BOM too), the
  delimiter sniffed from the data by ``clevercsv`` (``,`` ``;`` tab ``|``; Excel's
  ``sep=;`` first line is honoured), trailing delimiters and blank lines handled, a row
  with more values than the header refused. Excel (openpyxl): ``TRUE``/``FALSE`` stay
  booleans, dates stay dates, error cells (``#DIV/0!``) and formulas that were never
  calculated are kept as :class:`CellError` / :class:`UncachedFormula` so that they can be
  reported for what they are, integers shown with a ``000`` number format keep their
  zeros, merged cells are refused.
* :func:`detect_number_format` finds the decimal mark and thousands separator used by the
  text numbers of a table, and checks that every value follows it (groups of three digits).
* :func:`parse_numbers` turns one column into floats under that format, naming every
  value that is not a number, with a hint that is right for it.
* :func:`parse_dates` parses a date column one way: ISO dates, Excel serial numbers,
  ``YYYYMMDD`` integers, and day-first or month-first dates decided from the whole column.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import decimal
import io
import math
import re
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from kamsim._util.io import decode_text
from kamsim.exceptions import InputDataError

__all__ = [
    "CellError",
    "NumberFormat",
    "RawTable",
    "UncachedFormula",
    "dayfirst_of",
    "detect_number_format",
    "is_missing",
    "parse_dates",
    "parse_numbers",
    "read_table",
    "table_rows",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_DELIMITERS = (",", ";", "\t", "|")
_DELIM_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
_SNIFF_LINES = 200


# ---------------------------------------------------------------------------------------
# cell values that are not plain values


@dataclass(frozen=True, slots=True)
class CellError:
    """An Excel error cell such as ``#DIV/0!`` or ``#N/A`` (a formula that failed)."""

    code: str

    def __str__(self) -> str:
        return self.code


@dataclass(frozen=True, slots=True)
class UncachedFormula:
    """A formula cell saved without its result.

    Written by a program that does not calculate (e.g. a script); its value is unknown
    until Excel recalculates it.
    """

    formula: str

    def __str__(self) -> str:
        return self.formula


def is_missing(v: Any) -> bool:
    """Whether a cell is empty: None, NaN, ``pd.NA``, ``NaT`` or blank text.

    Examples
    --------
    >>> [is_missing(v) for v in (None, float("nan"), pd.NA, pd.NaT, " ", "0", 0)]
    [True, True, True, True, True, False, False]
    """
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    if isinstance(v, str):
        return v.strip() == ""
    if isinstance(v, float | np.floating):
        return bool(np.isnan(v))
    if isinstance(v, np.datetime64 | np.timedelta64):
        return bool(np.isnat(v))
    return False


# ---------------------------------------------------------------------------------------
# reading files


@dataclass(frozen=True, slots=True)
class RawTable:
    """A table as read from a file: values as written, with their spreadsheet rows.

    Attributes
    ----------
    frame : pandas.DataFrame
        One column per header cell (object dtype: text for CSV, Python values for Excel).
    rows : numpy.ndarray of int
        Spreadsheet row number of each record (line number of its first line in a CSV
        file; the header is row 1 in a file without a ``sep=`` line or leading blanks).
    dialect : str
        How the file was read, e.g. ``"semicolon-separated UTF-8 (with BOM)"``.
    """

    frame: pd.DataFrame
    rows: IntArray
    dialect: str
    sheets: tuple[str, ...] = ()


def _fail(message: str, path: str, *, fix: str | None = None, cli_fix: str | None = None,
          rows: Sequence[int] | None = None, column: str | None = None) -> InputDataError:
    return InputDataError(message, path=path, rows=rows, column=column, fix=fix,
                          cli_fix=cli_fix)


def read_table(path: str | Path, *, sheet: str | int | None = None, sep: str | None = None,
               encoding: str | None = None, what: str = "file") -> RawTable:
    r"""Read a ``.csv``/``.tsv``/``.txt`` file or an ``.xlsx`` sheet (never modified).

    Parameters
    ----------
    path : path
        The file.
    sheet : str or int, optional
        Excel sheet name or 0-based number (default: the first sheet).
    sep : str, optional
        CSV delimiter; by default sniffed from the data (clevercsv).
    encoding : str, optional
        CSV text encoding; by default UTF-8 (a byte-order mark is honoured).
    what : str
        What the file is, for messages ("accounts file").

    Raises
    ------
    InputDataError
        Missing, empty, binary or misnamed files, bad encodings, rows with more values
        than the header, unknown sheets, merged cells.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.csv"
    >>> _ = p.write_bytes(b"sep=;\r\naccount_id;revenue;\r\nA1;1.234,5;\r\n\r\nA2;7;\r\n")
    >>> t = read_table(p)
    >>> t.frame.to_dict("list"), t.rows.tolist()
    ({'account_id': ['A1', 'A2'], 'revenue': ['1.234,5', '7']}, [3, 5])
    """
    p = Path(path)
    shown = str(p)
    if not p.exists():
        raise _fail("file not found", shown)
    if p.is_dir():
        raise _fail(f"is a folder; give the path of a CSV or Excel {what}", shown)
    size = p.stat().st_size
    if size == 0:
        raise _fail("is empty (0 bytes); expected a header row and data rows", shown)
    suffix = p.suffix.lower()
    with p.open("rb") as fh:
        magic = fh.read(8)
    if suffix in {".xlsx", ".xlsm"}:
        if not magic.startswith(b"PK"):
            old = magic.startswith(b"\xd0\xcf\x11\xe0")
            raise _fail(
                "is not an .xlsx workbook" + (" (it is an old .xls workbook, or password "
                                              "protected)" if old else ""), shown,
                fix="open it in Excel and save it as .xlsx (Excel Workbook) or CSV UTF-8")
        return _read_xlsx(p, sheet)
    if suffix in {".csv", ".tsv", ".txt"}:
        if sheet is not None:
            raise _fail("sheet= applies to Excel files only", shown)
        if magic.startswith(b"PK\x03\x04"):
            raise _fail(f"is an Excel workbook with a {suffix} name", shown,
                        fix="rename it to .xlsx, or save it from Excel as CSV UTF-8")
        if magic.startswith(b"\xd0\xcf\x11\xe0"):
            raise _fail(f"is an old Excel .xls workbook with a {suffix} name", shown,
                        fix="open it in Excel and save it as CSV UTF-8 or .xlsx")
        text = decode_text(p.read_bytes(), path=shown, what=what, encoding=encoding)
        return _read_csv_text(text, shown, sep=sep, tab=suffix == ".tsv",
                              bom=magic.startswith(b"\xef\xbb\xbf"))
    if suffix == ".xls":
        raise _fail("is an old Excel .xls workbook", shown,
                    fix="open it in Excel and save it as .xlsx or CSV UTF-8")
    raise _fail(f"has an unsupported extension {suffix!r}", shown,
                fix="use a .csv, .tsv, .txt or .xlsx file")


def _sniff(text: str) -> tuple[str | None, str, str]:
    """Delimiter, quote and escape character of CSV text, from its first lines."""
    import clevercsv

    lines = text.splitlines(keepends=True)[:_SNIFF_LINES]
    sample = "".join(lines)
    found = None
    try:
        found = clevercsv.Detector().detect(sample, delimiters=list(_DELIMITERS))
    except Exception:
        found = None
    delim = found.delimiter if found is not None and found.delimiter in _DELIMITERS else None
    escape = found.escapechar if found is not None and found.escapechar == "\\" else ""
    if delim is None:
        # no consistent delimiter in the sample: one of the usual ones on the header line?
        head = lines[0] if lines else ""
        counts = {d: head.count(d) for d in _DELIMITERS}
        best = max(counts, key=lambda d: counts[d])
        delim = best if counts[best] > 0 else None
    return delim, '"', escape


def _read_csv_text(text: str, shown: str, *, sep: str | None, tab: bool, bom: bool
                   ) -> RawTable:
    offset = 0
    lines = text.splitlines(keepends=True)
    # Excel's "sep=;" first line names the delimiter
    declared = None
    if lines:
        m = re.fullmatch(r'\s*"?sep=(.)"?[,;\t|]*\s*', lines[0])
        if m:
            declared = m.group(1)
            lines = lines[1:]
            offset = 1
    while lines and not lines[0].strip():
        lines = lines[1:]
        offset += 1
    if not lines:
        raise _fail("holds no header row (only blank lines)", shown,
                    fix="save the table with its header row")
    body = "".join(lines)
    if sep is not None:
        delim: str | None = sep
        escape = ""
    elif declared is not None:
        delim, escape = declared, ""
    elif tab:
        delim, escape = "\t", ""
    else:
        delim, _, escape = _sniff(body)
    records: list[list[str]] = []
    starts: list[int] = []
    if delim is None:  # a single column
        for i, line in enumerate(body.splitlines()):
            records.append([line.strip().strip('"')])
            starts.append(i + 1 + offset)
    else:
        if len(delim) != 1:
            raise _fail(f"sep must be one character, got {delim!r}", shown)
        reader = csv.reader(io.StringIO(body, newline=""), delimiter=delim, quotechar='"',
                            escapechar=escape or None, doublequote=True, strict=False)
        lineno = 1
        try:
            for rec in reader:
                records.append(rec)
                starts.append(lineno + offset)
                lineno = reader.line_num + 1
        except csv.Error as exc:
            raise _fail(f"is not a well-formed CSV file near line {lineno + offset} ({exc})",
                        shown, fix="check that quotes are balanced") from None
    # the header: first record; strip names
    header = [h.strip() for h in records[0]]
    data = records[1:]
    rows = starts[1:]
    keep = [i for i, r in enumerate(data) if any(v.strip() for v in r)]
    data = [data[i] for i in keep]
    rows = [rows[i] for i in keep]
    n = len(header)
    # trailing delimiters: empty header names at the end whose cells are all empty
    while n > 1 and header[n - 1] == "" and all(len(r) < n or not r[n - 1].strip()
                                                  for r in data):
        n -= 1
    header = header[:n]
    long_rows: list[int] = []
    extras: list[str] = []
    fixed: list[list[str]] = []
    for r, rec in zip(rows, data, strict=True):
        if len(rec) > n:
            extra = [v for v in rec[n:] if v.strip()]
            if extra:
                long_rows.append(r)
                extras.append(delim.join(rec[n:]) if delim else "")
                continue
            rec = rec[:n]
        elif len(rec) < n:
            rec = rec + [""] * (n - len(rec))
        fixed.append(rec)
    if long_rows:
        d = _DELIM_NAMES.get(delim or "", repr(delim))
        raise _fail(
            f"has {len(long_rows)} row(s) with more values than the {n} header columns "
            f"(extra: {', '.join(repr(e) for e in extras[:3])}); a value holding the "
            f"delimiter ({d}) must be quoted, e.g. \"1,234.50\" or \"Smith, John\"",
            shown, rows=long_rows,
            fix="quote such values, remove the extra values, or add a header for them")
    names = [h if h else f"unnamed_{i + 1}" for i, h in enumerate(header)]
    frame = pd.DataFrame(fixed, columns=pd.Index(names), dtype=object)
    if not fixed:
        frame = pd.DataFrame({c: pd.Series([], dtype=object) for c in names})
        frame.columns = pd.Index(names)
    enc = "UTF-8" + (" (with BOM)" if bom else "")
    kind = f"{_DELIM_NAMES.get(delim, repr(delim))}-separated" if delim else "one-column"
    return RawTable(frame, np.array(rows, dtype=np.int64), f"{kind} {enc}")


_ZERO_FORMAT = re.compile(r"0+")


def _read_xlsx(p: Path, sheet: str | int | None) -> RawTable:
    import openpyxl

    shown = str(p)
    try:
        with warnings.catch_warnings():  # "no default style", "extension not supported"...
            warnings.filterwarnings("ignore", category=UserWarning, module="openpyxl")
            book = openpyxl.load_workbook(p, data_only=True)
    except Exception as exc:
        raise _fail(f"cannot be read as an Excel workbook ({type(exc).__name__}: {exc})",
                    shown, fix="open it in Excel and save it again as .xlsx") from None
    try:
        names = [str(s.title) for s in book.worksheets]  # not chart sheets
        names_all = names
        target: str | int = 0 if sheet is None else sheet
        if isinstance(target, str) and target not in names and target in book.sheetnames:
            raise _fail(f"sheet {target!r} is a chart, not a table; sheets are {names}",
                        shown, fix="pass sheet= one of them",
                        cli_fix="move the accounts to the first sheet")
        if isinstance(target, str) and target not in names:
            raise _fail(f"has no sheet {target!r}; sheets are {names}", shown,
                        fix="pass sheet= one of them",
                        cli_fix="move the accounts to the first sheet")
        if isinstance(target, int) and not 0 <= target < len(names):
            raise _fail(f"has no sheet number {target}; it has {len(names)} sheet(s): "
                        f"{names}", shown, fix="sheet numbers start at 0")
        ws = book[target] if isinstance(target, str) else book.worksheets[target]
        grid: list[tuple[int, list[Any]]] = []
        width = 0
        for row in ws.iter_rows():
            vals: list[Any] = []
            for cell in row:
                v = cell.value
                if cell.data_type == "e" and v is not None:
                    v = CellError(str(v))
                elif isinstance(v, int | float) and not isinstance(v, bool):
                    fmt = str(cell.number_format or "")
                    if _ZERO_FORMAT.fullmatch(fmt) and float(v).is_integer():
                        v = str(int(v)).zfill(len(fmt))
                elif isinstance(v, str) and v.strip() == "":
                    v = None
                vals.append(v)
            while vals and vals[-1] is None:
                vals.pop()
            r = row[0].row if row else 0
            if vals and r is not None:
                grid.append((int(r), vals))
                width = max(width, len(vals))
        merged = [str(m) for m in ws.merged_cells.ranges]
    finally:
        book.close()
    if not grid:
        raise _fail(f"sheet {ws.title!r} is empty; expected a header row and data rows",
                    shown)
    header_row, header_vals = grid[0]
    if merged:
        where = ", ".join(merged[:5]) + (f" (+{len(merged) - 5} more)" if len(merged) > 5
                                         else "")
        in_header = any(_range_rows(m)[0] <= header_row <= _range_rows(m)[1] for m in merged)
        raise _fail(
            f"sheet {ws.title!r} has merged cells ({where})"
            + ("; a merged header cell hides a column" if in_header else ""), shown,
            fix="unmerge them (Home > Merge & Center > Unmerge Cells), give every column its "
                "own header and fill every cell")
    header = [("" if v is None else str(v).strip()) for v in header_vals]
    header += [""] * (width - len(header))
    rows_data = [(r, vals + [None] * (width - len(vals))) for r, vals in grid[1:]]
    # columns without header and without data are dropped
    used = [j for j in range(width)
            if header[j] or any(vals[j] is not None for _, vals in rows_data)]
    header = [header[j] for j in used]
    names = [h if h else f"unnamed_{_col_letter(j)}" for h, j in zip(header, used, strict=True)]
    empty_cells = [(r, j) for r, vals in rows_data for j in used if vals[j] is None]
    if empty_cells:
        _mark_uncached(p, target, rows_data, empty_cells)
    frame = pd.DataFrame([[vals[j] for j in used] for _, vals in rows_data],
                         columns=pd.Index(names), dtype=object)
    if not rows_data:
        frame = pd.DataFrame({c: pd.Series([], dtype=object) for c in names})
    rows = np.array([r for r, _ in rows_data], dtype=np.int64)
    return RawTable(frame, rows, f"Excel sheet {ws.title!r}", tuple(names_all))


def _mark_uncached(p: Path, target: str | int, rows_data: list[tuple[int, list[Any]]],
                   empty_cells: list[tuple[int, int]]) -> None:
    """Empty cached values that are formulas become :class:`UncachedFormula`."""
    import openpyxl

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module="openpyxl")
        book = openpyxl.load_workbook(p, data_only=False)
    try:
        ws = book[target] if isinstance(target, str) else book.worksheets[target]
        pos = {r: vals for r, vals in rows_data}
        for r, j in empty_cells:
            c = ws.cell(row=r, column=j + 1)
            if c.data_type == "f" or (isinstance(c.value, str) and c.value.startswith("=")):
                pos[r][j] = UncachedFormula(str(c.value))
    finally:
        book.close()


def _range_rows(ref: str) -> tuple[int, int]:
    nums = [int(x) for x in re.findall(r"\d+", ref)]
    return (nums[0], nums[-1]) if nums else (0, 0)


def _col_letter(j: int) -> str:
    s = ""
    j += 1
    while j:
        j, r = divmod(j - 1, 26)
        s = chr(65 + r) + s
    return s


# ---------------------------------------------------------------------------------------
# numbers


_SPACES = re.compile(r"[\s\u00a0\u2007\u2009\u202f]")
_CANDIDATE_THOUSANDS = ("", ",", ".", " ", "'")


@dataclass(frozen=True, slots=True)
class NumberFormat:
    """How text numbers are written: the decimal mark and the thousands separator.

    ``thousands=""`` means no separator. Spaces of every width (``1 234,5`` with a normal,
    no-break or thin space) count as ``" "``, and typographic apostrophes as ``"'"``.

    Examples
    --------
    >>> f = NumberFormat(",", ".")
    >>> f.parse("1.234,50"), f.matches("99.5"), f.matches("1.234.567")
    (1234.5, False, True)
    """

    decimal: str = "."
    thousands: str = ""

    def pattern(self) -> re.Pattern[str]:
        """Regular expression a (normalised) number must match in full."""
        d = re.escape(self.decimal)
        if self.thousands:
            t = re.escape(self.thousands)
            whole = rf"(?:[1-9]\d{{0,2}}(?:{t}\d{{3}})+|\d+)"
        else:
            whole = r"\d+"
        return re.compile(rf"[+-]?(?:{whole}(?:{d}\d*)?|{d}\d+)(?:[eE][+-]?\d+)?")

    def matches(self, text: str) -> bool:
        """Whether ``text`` is a number written in this format."""
        return self.pattern().fullmatch(normalise_number(text)) is not None

    def parse(self, text: str) -> float:
        """The number ``text`` stands for (assumes :meth:`matches`)."""
        s = normalise_number(text)
        if self.thousands:
            s = s.replace(self.thousands, "")
        return float(s.replace(self.decimal, "."))

    def describe(self) -> str:
        """Plain words, e.g. ``"decimal comma, '.' between thousands"``."""
        dec = "decimal point" if self.decimal == "." else "decimal comma"
        names = {"": "no thousands separator", ",": "',' between thousands",
                 ".": "'.' between thousands", " ": "spaces between thousands",
                 "'": "apostrophes between thousands"}
        return f"{dec}, {names[self.thousands]}"

    def kwargs(self) -> str:
        """The keyword arguments that select this format."""
        return f"decimal={self.decimal!r}, thousands={self.thousands!r}"


def normalise_number(text: str) -> str:
    """Strip a text number and unify its spaces and apostrophes."""
    s = text.strip().replace("\u2019", "'").replace("\u2212", "-")
    return _SPACES.sub(" ", s)


def _candidates(decimal: str | None, thousands: str | None) -> list[NumberFormat]:
    out = []
    for d in (".", ","):
        for t in _CANDIDATE_THOUSANDS:
            if t == d:
                continue
            if decimal is not None and d != decimal:
                continue
            if thousands is not None and _norm_sep(thousands) != t:
                continue
            out.append(NumberFormat(d, t))
    return out


def _norm_sep(t: str) -> str:
    return normalise_number(t) if t.strip() else (" " if t else "")


_PLAIN = re.compile(r"[+-]?\d+(?:[eE][+-]?\d+)?")


@dataclass(frozen=True, slots=True)
class _Token:
    text: str
    column: str
    row: int


def detect_number_format(
    columns: Mapping[str, tuple[pd.Series, IntArray]],
    *,
    decimal: str | None = None,
    thousands: str | None = None,
    path: str | None = None,
    interface_names: tuple[str, str] = ("decimal", "thousands"),
) -> NumberFormat:
    """The number format of the text numbers in ``columns``, checked value by value.

    Every candidate format (decimal point or comma; no, comma, point, space or apostrophe
    thousands separator; restricted to ``decimal``/``thousands`` when given) is tried on
    every text value that contains a separator. The formats under which all of them are
    numbers are kept; if they read some value differently (``"1,500"``: 1500 or 1.5), the
    table is ambiguous and refused, since guessing could be off by a factor of 1000.

    Parameters
    ----------
    columns : mapping of name to (values, spreadsheet rows)
        The numeric columns; only their text values are looked at.
    decimal, thousands : str, optional
        Given by the user: only formats with them are considered (``thousands=""``: none).

    Raises
    ------
    InputDataError
        If no one format fits every value (naming the column, rows and values that do not
        fit the format most values follow), or if the values can be read two ways.

    Examples
    --------
    >>> col = pd.Series(["1.234,5", "12,25", "7"]), np.array([2, 3, 4])
    >>> detect_number_format({"revenue": col})
    NumberFormat(decimal=',', thousands='.')
    """
    if decimal is not None and decimal not in (".", ","):
        raise InputDataError(f"decimal must be '.' or ',', got {decimal!r}", path=path)
    if thousands is not None and _norm_sep(thousands) not in _CANDIDATE_THOUSANDS:
        raise InputDataError(f"thousands must be one of {list(_CANDIDATE_THOUSANDS)}, got "
                             f"{thousands!r}", path=path)
    if decimal is not None and thousands is not None and decimal == thousands:
        raise InputDataError(f"decimal and thousands separators are both {decimal!r}",
                             path=path)
    texts: list[str] = []
    names: list[str] = []
    token_rows: list[int] = []
    for name, (col, rows) in columns.items():
        found, where = _separated_numbers(col, rows)
        texts += found
        token_rows += where
        names += [name] * len(found)
    cands = _candidates(decimal, thousands)
    default = cands[0]
    if not texts:
        return NumberFormat(decimal or ".", _norm_sep(thousands or ""))
    # values of one shape (digits as 9, a leading zero kept) fit the same formats: test
    # one value per shape, so that a big table costs a few regular-expression matches
    keys = [_shape(t) for t in texts]
    rep: dict[str, str] = {}
    count: dict[str, int] = {}
    for k, text in zip(keys, texts, strict=True):
        rep.setdefault(k, text)
        count[k] = count.get(k, 0) + 1
    all_cands = _candidates(None, None)
    pats = {c: c.pattern() for c in all_cands}
    # shapes that are no number in any format are left to parse_numbers to report
    numeric = [k for k in rep if any(pats[c].fullmatch(rep[k]) for c in all_cands)]
    if not numeric:
        return default

    def tokens_of(wanted: set[str]) -> list[_Token]:
        return [_Token(t, n, r) for t, n, r, k in zip(texts, names, token_rows, keys,
                                                      strict=True) if k in wanted]

    fits = {c: {k for k in numeric if pats[c].fullmatch(rep[k])} for c in cands}
    viable = [c for c in cands if len(fits[c]) == len(numeric)]
    if not viable:
        best = max(cands, key=lambda c: sum(count[k] for k in fits[c]))
        bad = tokens_of(set(numeric) - fits[best])
        bad_name = bad[0].column
        bad_col = [t for t in bad if t.column == bad_name]
        readings = [c for c in all_cands if all(pats[c].fullmatch(t.text) for t in bad_col)]
        if decimal is not None or thousands is not None:
            given = ", ".join(f"{k}={v!r}" for k, v in
                              (("decimal", decimal), ("thousands", thousands)) if v is not None)
            hint_py = (f"these look like {readings[0].describe()}: pass "
                       f"{readings[0].kwargs()}" if readings else
                       "check the values, or pass the right decimal= and thousands=")
            raise InputDataError(
                f"holds {len(bad_col)} value(s) that are not numbers written with {given} "
                f"({best.describe()}): {_show(t.text for t in bad_col)}",
                path=path, column=bad_name, rows=[t.row for t in bad_col],
                values=[t.text for t in bad_col], fix=hint_py,
                cli_fix="write every number the same way, without thousands separators")
        others = _show(t.text for t in tokens_of(fits[best])[:3])
        raise InputDataError(
            f"writes numbers in two ways: {_show(t.text for t in bad_col)} do not follow "
            f"the {best.describe()} of the other values ({others})",
            path=path, column=bad_name, rows=[t.row for t in bad_col],
            values=[t.text for t in bad_col],
            fix="write every number in the file the same way, e.g. 1234.5 with no thousands "
                "separator")
    # do the viable formats agree on every value?
    groups: list[list[NumberFormat]] = []
    readings_of: dict[NumberFormat, tuple[float, ...]] = {
        c: tuple(c.parse(rep[k]) for k in numeric) for c in viable}
    for c in viable:
        for g in groups:
            if _same(readings_of[g[0]], readings_of[c]):
                g.append(c)
                break
        else:
            groups.append([c])
    if len(groups) == 1:
        return _prefer(groups[0], decimal, thousands)
    a, b = _prefer(groups[0], decimal, thousands), _prefer(groups[1], decimal, thousands)
    ra, rb = readings_of[a], readings_of[b]
    diff = tokens_of({k for k, x, y in zip(numeric, ra, rb, strict=True) if not _close(x, y)})
    ex = diff[0]
    col_diff = [t for t in diff if t.column == ex.column]
    dn, tn = interface_names
    raise InputDataError(
        f"numbers such as {ex.text!r} can be read two ways: {a.parse(ex.text):.10g} "
        f"({a.describe()}) or {b.parse(ex.text):.10g} ({b.describe()}), and no value in "
        "the table settles which",
        path=path, column=ex.column, rows=[t.row for t in col_diff],
        values=[t.text for t in col_diff],
        fix=f"pass {dn}={a.decimal!r}, {tn}={a.thousands!r} for the first reading or "
            f"{dn}={b.decimal!r}, {tn}={b.thousands!r} for the second",
        cli_fix="write the numbers without thousands separators (e.g. 1500 or 1.5)")


_T9 = str.maketrans("0123456789", "9999999999")


def _shape(text: str) -> str:
    """``"1.234,50"`` -> ``"9.999,99"``; a leading zero stays (it rules out grouping)."""
    shape = text.translate(_T9)
    i = 1 if text[:1] in ("+", "-") else 0
    if text[i:i + 1] == "0":
        shape = shape[:i] + "0" + shape[i + 1:]
    return shape


def _norm_fast(v: str) -> str:
    s = v.strip()
    return s if s.isascii() and s.isprintable() else normalise_number(s)


def _normalised(col: pd.Series) -> tuple[list[str], npt.NDArray[np.bool_]]:
    """The text cells of ``col``, normalised (:func:`normalise_number`), and where they are."""
    vals = col.astype(object).tolist()
    is_str = np.fromiter((isinstance(v, str) for v in vals), dtype=bool, count=len(vals))
    return [_norm_fast(v) for v in vals if isinstance(v, str)], is_str


_SEP = re.compile(r"[,. ']")


def _separated_numbers(col: pd.Series, rows: IntArray) -> tuple[list[str], list[int]]:
    """Normalised text cells holding a separator (the ones a number format decides)."""
    txt, is_str = _normalised(col)
    str_rows = rows[is_str].tolist()
    plain, sep = _PLAIN.fullmatch, _SEP.search
    keep = [i for i, t in enumerate(txt) if sep(t) and not plain(t)]
    return [txt[i] for i in keep], [str_rows[i] for i in keep]


def _same(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return all(_close(x, y) for x, y in zip(a, b, strict=True))


def _close(x: float, y: float) -> bool:
    return x == y or abs(x - y) <= 1e-12 * max(abs(x), abs(y))


def _prefer(group: list[NumberFormat], decimal: str | None, thousands: str | None
            ) -> NumberFormat:
    """Among formats that read every value alike, the plainest one."""
    order = {"": 0, ",": 1, ".": 1, " ": 2, "'": 3}
    return min(group, key=lambda c: (c.decimal != (decimal or "."), order[c.thousands]))


def _show(values: Any, limit: int = 5) -> str:
    vals = list(values)
    shown = ", ".join(repr(v) for v in vals[:limit])
    return shown + (f", ... ({len(vals)} in all)" if len(vals) > limit else "")


_MISSING_WORDS = {"nan", "na", "n/a", "#n/a", "null", "none", "-", "--", "?", "n.a."}
_INF_WORDS = {"inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"}
_CURRENCY = re.compile(r"[€$£¥₹₽₩₺₪₫฿¢]|\b(?:EUR|USD|GBP|CHF|JPY|SEK|NOK|DKK|PLN)\b", re.I)


def _kind(v: Any) -> str:
    """Category of a cell in a numeric column."""
    if is_missing(v):
        return "missing"
    if isinstance(v, bool | np.bool_):
        return "bool"
    if isinstance(v, CellError):
        return "error"
    if isinstance(v, UncachedFormula):
        return "formula"
    if isinstance(v, dt.datetime | dt.date | np.datetime64):
        return "date"
    if isinstance(v, dt.time):
        return "time"
    if isinstance(v, dt.timedelta | np.timedelta64):
        return "duration"
    if isinstance(v, complex | np.complexfloating):
        return "other"
    if isinstance(v, int | float | np.integer | np.floating | decimal.Decimal):
        return "number"
    if isinstance(v, str):
        return "text"
    return "other"


_KIND_MESSAGES = {
    "bool": ("holds TRUE/FALSE (yes/no) values where numbers are expected",
             "a yes/no column cannot hold amounts: check the column (or the column mapping) "
             "and type numbers"),
    "error": ("holds Excel error values where numbers are expected",
              "fix the failing formulas in the spreadsheet, or type the values"),
    "formula": ("holds formulas that were saved without their results (the file was "
                "written by a program that does not calculate)",
                "open the file in Excel or LibreOffice and save it again, or paste the cells "
                "as values"),
    "date": ("holds dates where numbers are expected",
             "format the cells as numbers, or check the column (or the column mapping)"),
    "time": ("holds times of day where numbers are expected",
             "format the cells as numbers, or check the column (or the column mapping)"),
    "duration": ("holds durations (timedeltas) where numbers are expected",
                 "convert them to numbers first"),
    "other": ("holds values that are not numbers", "give plain numbers"),
}


def parse_numbers(col: pd.Series, name: str, *, fmt: NumberFormat, path: str | None,
                  rows: IntArray, allow_missing: bool = False,
                  missing_fix: str = "fill them, or leave the column out if it does not "
                                     "apply") -> FloatArray:
    """One column as floats under ``fmt``, or an :class:`InputDataError` naming the rows.

    Numbers (not booleans) pass as they are; text must follow ``fmt`` exactly (see
    :func:`detect_number_format`). Booleans, dates, times, durations, Excel error cells,
    uncalculated formulas, currency symbols, percentages, bracketed negatives, missing and
    infinite values are each reported for what they are.

    Examples
    --------
    >>> parse_numbers(pd.Series(["1 234,5", 7]), "revenue", fmt=NumberFormat(",", " "),
    ...               path=None, rows=np.array([2, 3])).tolist()
    [1234.5, 7.0]
    """
    dtype = col.dtype
    if pd.api.types.is_bool_dtype(dtype):
        raise InputDataError(_KIND_MESSAGES["bool"][0], path=path, column=name,
                             rows=rows.tolist()[:1000], fix=_KIND_MESSAGES["bool"][1])
    if pd.api.types.is_datetime64_any_dtype(dtype) or isinstance(dtype, pd.PeriodDtype):
        raise InputDataError(_KIND_MESSAGES["date"][0], path=path, column=name,
                             fix="a date column cannot hold amounts; check the column (or "
                                 "the column mapping)")
    if pd.api.types.is_timedelta64_dtype(dtype):
        raise InputDataError(_KIND_MESSAGES["duration"][0], path=path, column=name,
                             fix=_KIND_MESSAGES["duration"][1])
    if pd.api.types.is_complex_dtype(dtype):
        raise InputDataError("holds complex numbers", path=path, column=name,
                             fix="give real numbers")
    if pd.api.types.is_numeric_dtype(dtype):
        out = col.to_numpy(dtype=np.float64, na_value=np.nan)
    elif (fast := _parse_all_text(col, fmt)) is not None:
        out = fast
    else:
        vals = col.astype(object).tolist()
        kinds = np.array([_kind(v) for v in vals], dtype=object)
        for kind in ("bool", "error", "formula", "date", "time", "duration", "other"):
            m = kinds == kind
            if m.any():
                head, fix = _KIND_MESSAGES[kind]
                bad = [vals[i] for i in np.flatnonzero(m)]
                raise InputDataError(f"{head}: {_show(_cell_text(v) for v in bad)}",
                                     path=path, column=name, rows=rows[m].tolist(),
                                     values=bad, fix=fix)
        out = np.full(len(vals), np.nan)
        num = kinds == "number"
        if num.any():
            out[num] = [float(vals[i]) for i in np.flatnonzero(num)]
        text_idx = np.flatnonzero(kinds == "text")
        pat = fmt.pattern()
        bad_i: list[int] = []
        missing_words: list[int] = []
        for i in text_idx:
            s = normalise_number(vals[i])
            low = s.lower()
            if pat.fullmatch(s):
                out[i] = fmt.parse(s)
            elif low in _MISSING_WORDS:
                missing_words.append(int(i))
            elif low in _INF_WORDS:
                out[i] = math.inf
            else:
                bad_i.append(int(i))
        if bad_i:
            bad = [vals[i] for i in bad_i]
            raise InputDataError(
                f"holds text where a number is expected: {_show(bad)}", path=path,
                column=name, rows=rows[bad_i].tolist(), values=bad,
                fix=_text_hint(bad, fmt))
        if missing_words and not allow_missing:
            mw = np.zeros(len(vals), dtype=bool)
            mw[missing_words] = True
            raise InputDataError(
                f"has {len(missing_words)} placeholder(s) for a missing value "
                f"({_show(sorted({vals[i].strip() for i in missing_words}))})",
                path=path, column=name, rows=rows[mw].tolist(), fix=missing_fix)
    nan = np.isnan(out)
    if nan.any() and not allow_missing:
        raise InputDataError(f"has {int(nan.sum())} missing value(s)", path=path,
                             column=name, rows=rows[nan].tolist(), fix=missing_fix)
    inf = np.isinf(out)
    if inf.any():
        raise InputDataError("holds infinite values; every value must be a finite number",
                             path=path, column=name, rows=rows[inf].tolist())
    return out


def _parse_all_text(col: pd.Series, fmt: NumberFormat) -> FloatArray | None:
    """Fast path: a column of text numbers that all follow ``fmt`` (else None)."""
    txt, is_str = _normalised(col)
    if not txt or not is_str.all():
        return None
    match = fmt.pattern().fullmatch
    if not all(match(t) for t in txt):
        return None
    th, dec = fmt.thousands, fmt.decimal
    if th:
        txt = [t.replace(th, "") for t in txt]
    if dec != ".":
        txt = [t.replace(dec, ".") for t in txt]
    return np.array([float(t) for t in txt], dtype=np.float64)


def _cell_text(v: Any) -> Any:
    if isinstance(v, CellError | UncachedFormula):
        return str(v)
    if isinstance(v, dt.datetime | dt.date | dt.time):
        return v.isoformat()
    return v


def _text_hint(bad: list[str], fmt: NumberFormat) -> str:
    """Advice that is right for these values."""
    joined = " ".join(bad)
    if _CURRENCY.search(joined):
        return "remove currency symbols and codes: give plain numbers such as 1234.5"
    if "%" in joined:
        return "write percentages as fractions (45 % as 0.45) without the % sign"
    if any(re.fullmatch(r"\(\s*[\d.,' ]+\s*\)", b.strip()) for b in bad):
        return "write negative numbers with a minus sign (-1234), not in brackets"
    fits = [c for c in _candidates(None, None)
            if all(c.matches(b) for b in bad)]
    if fits and fmt not in fits:
        return (f"these are written with {fits[0].describe()} but the table uses "
                f"{fmt.describe()}: write every number the same way")
    return "give plain numbers such as 1234.5"


# ---------------------------------------------------------------------------------------
# dates

_EXCEL_EPOCH = pd.Timestamp("1899-12-30")
_SERIAL_LO, _SERIAL_HI = 18264, 73415  # 1950-01-01 .. 2100-12-31 in Excel's 1900 system
_DMY = re.compile(r"(\d{1,2})([./\-])(\d{1,2})\2(\d{2}|\d{4})(?:[ T]\d{1,2}:\d{2}(?::\d{2}"
                  r"(?:\.\d+)?)?(?:\s*[AaPp][Mm])?)?")
_NUMBER_TEXT = re.compile(r"\d+(?:\.\d+)?")


def parse_dates(
    values: pd.Series,
    *,
    dayfirst: bool | None = None,
    column: str | None = None,
    path: str | None = None,
    rows: IntArray | None = None,
    fix_words: tuple[str, str] | None = None,
) -> pd.Series:
    """Parse a date column one way; blank or unparseable cells become ``NaT``.

    Accepted: dates and datetimes (timezone-aware ones as their local wall time), ISO 8601
    text (``2024-01-31``, ``2024/01/31``), dates with month names (``31 Jan 2024``),
    Excel serial numbers (days since 1899-12-30, for 1950 to 2100; as numbers or as text,
    e.g. from a CSV exported without date formats), ``YYYYMMDD`` integers, and
    ``d/m/y`` or ``m/d/y`` text with ``/``, ``.`` or ``-``, whose order is decided from
    the **whole column**: a first number above 12 means day first, a second number above
    12 means month first.

    Parameters
    ----------
    values : pandas.Series
        The column.
    dayfirst : bool, optional
        Force day-first (True) or month-first (False) reading of ``01/02/2024``-style
        dates; by default decided from the column, and refused when it cannot be.
    column, path, rows : optional
        Where the values come from (for error messages); ``rows`` are spreadsheet rows.

    Raises
    ------
    InputDataError
        If the column mixes day-first and month-first dates, if ``dayfirst`` contradicts
        a date, or if no date settles the order (every day and month is at most 12).

    Examples
    --------
    >>> parse_dates(pd.Series(["2024-01-31", "31 Jan 2024", "soon"])).dt.day.tolist()
    [31.0, 31.0, nan]
    >>> parse_dates(pd.Series(["01/02/2024", "13/02/2024"])).dt.strftime("%Y-%m-%d").tolist()
    ['2024-02-01', '2024-02-13']
    >>> parse_dates(pd.Series([45292, 45293.5])).tolist()
    [Timestamp('2024-01-01 00:00:00'), Timestamp('2024-01-02 12:00:00')]
    """
    n = len(values)
    idx = values.index
    rows_arr = np.arange(2, n + 2) if rows is None else np.asarray(rows)
    dtype = values.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype):
        s = pd.Series(values)
        if getattr(s.dt, "tz", None) is not None:
            s = s.dt.tz_localize(None)
        return s.astype("datetime64[ns]")
    out = np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
    vals = values.astype(object).tolist()
    text_i: list[int] = []
    for i, v in enumerate(vals):
        if is_missing(v) or isinstance(v, bool | np.bool_):
            continue
        if isinstance(v, pd.Timestamp):
            out[i] = (v.tz_localize(None) if v.tzinfo is not None else v).to_datetime64()
        elif isinstance(v, dt.datetime):
            out[i] = np.datetime64(v.replace(tzinfo=None), "ns")
        elif isinstance(v, dt.date):
            out[i] = np.datetime64(v, "ns")
        elif isinstance(v, np.datetime64):
            out[i] = v.astype("datetime64[ns]")
        elif isinstance(v, int | float | np.integer | np.floating):
            out[i] = _from_number(float(v))
        elif isinstance(v, str):
            txt = v.strip()
            if _NUMBER_TEXT.fullmatch(txt):
                out[i] = _from_number(float(txt))
            else:
                text_i.append(i)
    if text_i:
        texts = pd.Series([vals[i].strip() for i in text_i], dtype=object)
        parsed = _parse_text_dates(texts, dayfirst=dayfirst, column=column, path=path,
                                   rows=rows_arr[text_i], fix_words=fix_words)
        out[text_i] = parsed.to_numpy(dtype="datetime64[ns]")
    return pd.Series(out, index=idx, name=values.name)


def dayfirst_of(values: pd.Series) -> bool | None:
    """Whether the ``d/m/y``-style text dates of a column are day first, if it says so.

    True when some first number is above 12 (and no second one is), False for the
    opposite, None when the column does not settle it (or contradicts itself, which
    :func:`parse_dates` then reports). Lets a table's other date columns settle an
    ambiguous one.

    Examples
    --------
    >>> dayfirst_of(pd.Series(["01/02/2024", "13/02/2024"]))
    True
    >>> print(dayfirst_of(pd.Series(["01/02/2024"])))
    None
    """
    first = second = False
    for v in values.tolist():
        if isinstance(v, str):
            m = _DMY.fullmatch(v.strip())
            if m:
                first |= int(m.group(1)) > 12
                second |= int(m.group(3)) > 12
    if first == second:
        return None
    return first


def _from_number(v: float) -> np.datetime64:
    if not math.isfinite(v):
        return np.datetime64("NaT")
    if v.is_integer() and 19000101 <= v <= 21001231:
        ts = pd.to_datetime(str(int(v)), format="%Y%m%d", errors="coerce")
        return np.datetime64("NaT") if pd.isna(ts) else ts.to_datetime64()
    if _SERIAL_LO <= v <= _SERIAL_HI:
        return (_EXCEL_EPOCH + pd.to_timedelta(round(v * 86400), unit="s")).to_datetime64()
    return np.datetime64("NaT")


def _parse_text_dates(texts: pd.Series, *, dayfirst: bool | None, column: str | None,
                      path: str | None, rows: IntArray,
                      fix_words: tuple[str, str] | None) -> pd.Series:
    out = pd.to_datetime(texts, errors="coerce", format="ISO8601")
    # ISO8601 accepts '2024/01/31' but also reads '01/02/2024' as nothing; the rest below
    rest = out.isna().to_numpy()
    if not rest.any():
        return out
    dmy = np.array([bool(_DMY.fullmatch(t)) and not rest_skip for t, rest_skip in
                    zip(texts.tolist(), ~rest, strict=True)], dtype=bool)
    if dmy.any():
        parts = [_DMY.fullmatch(t) for t in texts[dmy].tolist()]
        a = np.array([int(m.group(1)) for m in parts if m])
        b = np.array([int(m.group(3)) for m in parts if m])
        rows_dmy = rows[dmy]
        ex_texts = texts[dmy].tolist()
        day_first = a > 12
        month_first = b > 12
        py_fix, cli_fix = fix_words or (
            "write the dates as YYYY-MM-DD, or pass dayfirst=True (31/01/2024) or "
            "dayfirst=False (01/31/2024)",
            "write the dates as YYYY-MM-DD (e.g. 2024-01-31) in the file")
        if day_first.any() and month_first.any():
            i, j = int(np.argmax(day_first)), int(np.argmax(month_first))
            minority = day_first if day_first.sum() <= month_first.sum() else month_first
            raise InputDataError(
                f"mixes day-first dates ({ex_texts[i]!r}) and month-first dates "
                f"({ex_texts[j]!r}); a column must write dates one way",
                path=path, column=column, rows=rows_dmy[minority].tolist(),
                values=[ex_texts[k] for k in np.flatnonzero(minority)],
                fix="write every date as YYYY-MM-DD", cli_fix=cli_fix)
        if dayfirst is not None:
            contra = month_first if dayfirst else day_first
            if contra.any():
                k = int(np.argmax(contra))
                raise InputDataError(
                    f"dayfirst={dayfirst} but {ex_texts[k]!r} is "
                    f"{'month' if dayfirst else 'day'}-first",
                    path=path, column=column, rows=rows_dmy[contra].tolist(),
                    fix=f"pass dayfirst={not dayfirst}, or fix these dates")
            first = dayfirst
        elif day_first.any():
            first = True
        elif month_first.any():
            first = False
        else:
            differ = a != b
            if differ.any():
                k = int(np.argmax(differ))
                ex = ex_texts[k]
                m = _DMY.fullmatch(ex)
                assert m is not None
                d1 = _fmt_day(int(m.group(1)), int(m.group(3)), m.group(4))
                d2 = _fmt_day(int(m.group(3)), int(m.group(1)), m.group(4))
                raise InputDataError(
                    f"dates such as {ex!r} can be read day first ({d1}) or month first "
                    f"({d2}), and no date in the column has a day above 12 to settle it",
                    path=path, column=column, rows=rows_dmy[differ].tolist()[:1000],
                    fix=py_fix, cli_fix=cli_fix)
            first = True
        sub = texts[dmy].map(_four_digit_year)
        with _quiet_dateutil():
            parsed = pd.to_datetime(sub, errors="coerce", dayfirst=first, format="mixed")
        out.loc[sub.index] = parsed
    other = out.isna().to_numpy() & ~dmy
    if other.any():
        sub = texts[other]
        # month names etc.: unambiguous spellings, parsed one by one
        with _quiet_dateutil():
            parsed = pd.to_datetime(sub, errors="coerce", format="mixed",
                                    dayfirst=bool(dayfirst))
        out.loc[sub.index] = parsed
    return out


def _four_digit_year(text: str) -> str:
    """``01/02/24`` -> ``01/02/2024``, reading two-digit years as Excel does.

    00-29 are 20xx, 30-99 are 19xx (dateutil would move them with today's date).
    """
    m = _DMY.fullmatch(text)
    if m is None or len(m.group(4)) != 2:
        return text
    y = int(m.group(4))
    year = str(2000 + y if y < 30 else 1900 + y)
    return text[:m.start(4)] + year + text[m.end(4):]


def _fmt_day(day: int, month: int, year: str) -> str:
    months = ["January", "February", "March", "April", "May", "June", "July", "August",
              "September", "October", "November", "December"]
    return f"{day} {months[month - 1]}" if 1 <= month <= 12 else f"day {day} month {month}"


@contextlib.contextmanager
def _quiet_dateutil() -> Iterator[None]:
    """Silence pandas' per-element parsing warnings (we decide the order ourselves)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        yield


def table_rows(n: int) -> IntArray:
    """Spreadsheet rows of an in-memory table: the header is row 1, data from row 2."""
    return np.arange(2, n + 2, dtype=np.int64)

