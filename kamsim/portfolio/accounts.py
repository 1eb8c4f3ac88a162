"""Portfolio: the validated table of accounts every kamsim analysis starts from.

The canonical columns, their types and units are listed in :data:`CANONICAL_COLUMNS`;
every loader (:func:`read_accounts`, :func:`from_ledger`, :mod:`kamsim.portfolio.datasets`) maps
its input onto these names, validates the values and returns an immutable
:class:`Portfolio`.

Row numbers in error messages use spreadsheet numbering: the header is row 1, the first
account is row 2, whatever the source (CSV, Excel or DataFrame).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import math
import os
import re
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from kamsim.exceptions import InputDataError
from kamsim.portfolio.tables import (
    CellError,
    NumberFormat,
    UncachedFormula,
    detect_number_format,
    is_missing,
    parse_dates,
    parse_numbers,
    read_table,
    table_rows,
)

__all__ = [
    "CANONICAL_COLUMNS",
    "LINE_PREFIX",
    "ColumnSpec",
    "Portfolio",
    "from_ledger",
    "ledger_lines",
    "parse_dates",
    "read_accounts",
]

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

#: Prefix of product-line revenue columns (``line_fresh``, ``line_frozen``, ...).
LINE_PREFIX = "line_"


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    """Type, unit and meaning of one canonical Portfolio column."""

    kind: Literal["id", "text", "float", "bool"]
    unit: str
    description: str
    required: bool = False
    lower: float | None = None
    upper: float | None = None
    lower_open: bool = False


#: The canonical Portfolio columns. Product-line revenue columns are any column named
#: ``line_<name>`` (annual revenue in that line, currency, >= 0).
CANONICAL_COLUMNS: dict[str, ColumnSpec] = {
    "account_id": ColumnSpec(
        "id", "text", "Unique account identifier, kept exactly as written ('007' stays '007').",
        required=True,
    ),
    "revenue": ColumnSpec(
        "float", "currency per year", "Annual revenue from the account.", required=True, lower=0.0
    ),
    "name": ColumnSpec("text", "text", "Display name of the account."),
    "gross_margin": ColumnSpec(
        "float", "fraction", "Gross margin as a fraction of revenue.", lower=0.0, upper=1.0
    ),
    "gross_profit": ColumnSpec("float", "currency per year", "Annual gross profit."),
    "segment": ColumnSpec("text", "text", "Customer segment (industry, channel, ...)."),
    "region": ColumnSpec("text", "text", "Sales region."),
    "churn_prob": ColumnSpec(
        "float", "probability per year", "Annual probability that the account leaves.",
        lower=0.0, upper=1.0,
    ),
    "growth": ColumnSpec(
        "float", "fraction per year", "Expected long-term annual revenue growth (0.05 = 5 %).",
        lower=-1.0, lower_open=True,
    ),
    "distance_km": ColumnSpec("float", "km", "Distance from the supplier.", lower=0.0),
    "cost_to_serve": ColumnSpec(
        "float", "currency per year", "Annual cost of serving the account.", lower=0.0
    ),
    "national": ColumnSpec("bool", "flag", "National or international account status."),
    "sales_unit": ColumnSpec("text", "text", "Unit the account buys in (piece, carton, ...)."),
}

_TRUE = {"true", "yes", "y", "1", "t", "wahr", "vrai", "ja", "oui", "si", "sí"}
_FALSE = {"false", "no", "n", "0", "f", "falsch", "faux", "nein", "non"}


def _examples(values: Iterable[Any], limit: int = 5) -> str:
    vals = list(values)
    shown = ", ".join(repr(v) for v in vals[:limit])
    return shown + (f", ... ({len(vals)} in all)" if len(vals) > limit else "")


def _number_columns(df: pd.DataFrame) -> list[str]:
    """Canonical numeric columns of a table with canonical names."""
    out = []
    for c in df.columns:
        spec = CANONICAL_COLUMNS.get(str(c))
        if (spec is not None and spec.kind == "float") or str(c).startswith(LINE_PREFIX):
            out.append(str(c))
    return out


def _number_format(df: pd.DataFrame, cols: list[str], rows: npt.NDArray[np.int64], *,
                   path: str | None, decimal: str | None, thousands: str | None
                   ) -> NumberFormat:
    text_cols = {c: (df[c], rows) for c in cols
                 if not pd.api.types.is_numeric_dtype(df[c].dtype)
                 and not pd.api.types.is_bool_dtype(df[c].dtype)}
    return detect_number_format(text_cols, decimal=decimal, thousands=thousands, path=path)


def _check_bounds(values: FloatArray, name: str, spec: ColumnSpec, path: str | None,
                  ids: npt.NDArray[np.object_], rows: npt.NDArray[np.int64]) -> None:
    bad = np.zeros(values.shape, dtype=bool)
    rule: list[str] = []
    if spec.lower is not None:
        bad |= values <= spec.lower if spec.lower_open else values < spec.lower
        rule.append(f"{'>' if spec.lower_open else '>='} {spec.lower:g}")
    if spec.upper is not None:
        bad |= values > spec.upper
        rule.append(f"<= {spec.upper:g}")
    if bad.any():
        pairs = [f"{i}={v:g}" for i, v in zip(ids[bad], values[bad], strict=True)]
        raise InputDataError(
            f"has {int(bad.sum())} value(s) out of range ({_examples(pairs)}); "
            f"{name} must be {' and '.join(rule)} ({spec.unit})",
            path=path,
            column=name,
            rows=rows[bad].tolist(),
            fix=_BOUND_FIX.get(name),
        )


_BOUND_FIX = {
    "gross_margin": "give margins as fractions of revenue (35 % as 0.35)",
    "churn_prob": "give annual probabilities as fractions (8 % as 0.08)",
}


def _parse_bool(col: pd.Series, name: str, path: str | None,
                rows: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    def conv(v: Any) -> bool | None:
        if is_missing(v):
            return None
        if isinstance(v, bool | np.bool_):
            return bool(v)
        if isinstance(v, int | np.integer) and v in (0, 1):
            return bool(v)
        if isinstance(v, float) and v in (0.0, 1.0):
            return bool(v)
        if isinstance(v, str):
            s = v.strip().lower()
            if s in _TRUE:
                return True
            if s in _FALSE:
                return False
        return None

    parsed = [conv(v) for v in col.tolist()]
    bad = np.array([p is None for p in parsed], dtype=bool)
    if bad.any():
        raise InputDataError(
            f"holds values that are not yes/no: {_examples(col[bad].tolist())}; "
            "use true/false, yes/no or 1/0",
            path=path,
            column=name,
            rows=rows[bad].tolist(),
        )
    return np.array(parsed, dtype=bool)


def _parse_text(col: pd.Series, name: str, path: str | None,
                rows: npt.NDArray[np.int64]) -> list[str]:
    vals = col.astype(object).tolist()
    missing = np.array([is_missing(v) for v in vals], dtype=bool)
    if missing.any():
        raise InputDataError(
            f"has {int(missing.sum())} empty value(s)",
            path=path,
            column=name,
            rows=rows[missing].tolist(),
            fix="fill them, or leave the column out" if name != "account_id"
            else "give every account an id",
        )
    is_id = name == "account_id"

    def odd(v: Any) -> bool:
        if isinstance(v, CellError | UncachedFormula):
            return True
        return is_id and (isinstance(v, bool | np.bool_ | float | np.floating | dt.date
                                     | dt.time | np.datetime64)
                          and not (isinstance(v, float | np.floating)
                                   and float(v).is_integer()))

    bad = np.array([odd(v) for v in vals], dtype=bool)
    if bad.any():
        shown = [str(v) if isinstance(v, CellError | UncachedFormula) else v
                 for v in (vals[i] for i in np.flatnonzero(bad))]
        what = ("Excel errors or uncalculated formulas" if any(
            isinstance(v, CellError | UncachedFormula) for v in vals) else
            "values that are not ids (yes/no values, dates or fractions)")
        raise InputDataError(
            f"holds {what}: {_examples(shown)}", path=path, column=name,
            rows=rows[bad].tolist(), values=shown,
            fix="type the values (ids as text, e.g. '007')")
    out = [_id_text(v) if is_id else str(v).strip() for v in vals]
    if is_id:
        sci = np.array([bool(_SCI_ID.fullmatch(a)) for a in out], dtype=bool)
        if sci.any():
            raise InputDataError(
                f"holds ids that a spreadsheet shortened to scientific notation "
                f"({_examples([out[i] for i in np.flatnonzero(sci)])}): the digits are lost",
                path=path, column=name, rows=rows[sci].tolist(),
                fix="format the id column as Text in the spreadsheet and export the file "
                    "again from the original data")
    return out


_SCI_ID = re.compile(r"[+-]?\d(?:[.,]\d+)?[eE]\+?\d+")
_TOTAL_WORDS = (r"(?:grand\s*)?(?:total|totals|sum|summe|gesamt|gesamtsumme|totaal|totale|"
                r"suma|somme)")
_TOTAL_ID = re.compile(rf"{_TOTAL_WORDS}\W*", re.IGNORECASE)
_TOTAL_START = re.compile(rf"{_TOTAL_WORDS}\b", re.IGNORECASE)
_SUBTOTAL = re.compile(r"(?:sub\s*-?\s*total|zwischensumme|teilsumme)", re.IGNORECASE)


def _refuse_totals_rows(ids: list[str], revenue: FloatArray | None,
                        rows: npt.NDArray[np.int64], path: str | None) -> None:
    """A "Total" row would count every account twice: refuse it.

    A row is a totals row when its id is a totals word ("Total", "Grand total:", "Summe",
    ...) or starts with "Subtotal" (or "Zwischensumme"); with ``revenue``, also when its id
    starts with a totals word ("Total EMEA") and its revenue is the sum of the other rows
    (so that a real account named "Total SA" still reads).
    """
    bad = [i for i, a in enumerate(ids) if _TOTAL_ID.fullmatch(a) or _SUBTOTAL.match(a)]
    if revenue is not None and len(ids) > 2:
        total = float(np.sum(revenue))
        for i, a in enumerate(ids):
            rest = total - float(revenue[i])
            if (_TOTAL_START.match(a) and rest > 0
                    and abs(float(revenue[i]) - rest) <= 1e-3 * rest):
                bad.append(i)
    if bad:
        raise InputDataError(
            f"has what looks like a totals row ({_examples([ids[i] for i in bad])}); it "
            "would count the accounts twice",
            path=path, column="account_id", rows=rows[bad].tolist(),
            fix="delete totals and subtotal rows: kamsim adds the accounts up itself")


def _id_text(v: Any) -> str:
    """Account id as text; integral floats (17850.0, from spreadsheets) lose the '.0'."""
    if isinstance(v, float | np.floating) and float(v).is_integer():
        return str(int(v))
    if isinstance(v, np.integer):
        return str(int(v))
    return str(v).strip()


def _validate_frame(df: pd.DataFrame, *, path: str | None, decimal: str | None = None,
                    thousands: str | None = None,
                    rows: npt.NDArray[np.int64] | None = None) -> pd.DataFrame:
    """Validate a raw accounts table with canonical column names; return a clean copy.

    ``rows`` are the spreadsheet rows of the table's records (default: header row 1, data
    from row 2). Text numbers follow one format, detected from the data (see
    :func:`kamsim.portfolio.tables.detect_number_format`) or given as ``decimal``/``thousands``.
    """
    if isinstance(df.columns, pd.MultiIndex):
        raise InputDataError("has column headers on several levels", path=path,
                             fix="flatten them first, e.g. df.columns = ['_'.join(c) for c "
                                 "in df.columns]")
    rows = table_rows(df.shape[0]) if rows is None else np.asarray(rows, dtype=np.int64)
    cols = [str(c) for c in df.columns]
    dup_cols = sorted({c for c in cols if cols.count(c) > 1})
    if dup_cols:
        raise InputDataError(
            f"has duplicate column name(s) {dup_cols}; each column must appear once",
            path=path,
        )
    missing = [c for c, s in CANONICAL_COLUMNS.items() if s.required and c not in cols]
    if missing:
        index_names = [str(n) for n in df.index.names if n is not None]
        in_index = [c for c in missing if c in index_names]
        if in_index:
            raise InputDataError(
                f"has {in_index} as the DataFrame's index, not as a column", path=path,
                fix="call df.reset_index() first")
        raise InputDataError(
            f"missing required column(s) {missing}; found columns {cols}",
            path=path,
            fix="if the table uses other names, map them, e.g. "
                "columns={'Customer': 'account_id', 'Sales': 'revenue'}",
            cli_fix="name the header cells account_id and revenue (kamsim report also "
                    "takes -p column_mapping '{Customer: account_id, Sales: revenue}')",
        )
    if df.shape[0] == 0:
        raise InputDataError("holds no accounts (the table is empty)", path=path)
    df = df.reset_index(drop=True)
    out: dict[str, Any] = {}
    fmt = _number_format(df, _number_columns(df), rows, path=path, decimal=decimal,
                         thousands=thousands)
    ids_list = _parse_text(df["account_id"], "account_id", path, rows)
    ids = np.array(ids_list, dtype=object)
    seen: dict[str, int] = {}
    dup_rows: list[int] = []
    dup_ids: list[str] = []
    for i, a in enumerate(ids_list):
        if a in seen:
            dup_rows.extend([int(rows[seen[a]]), int(rows[i])])
            dup_ids.append(a)
        else:
            seen[a] = i
    if dup_rows:
        raise InputDataError(
            f"has duplicate account ids {_examples(sorted(set(dup_ids)))}; each account "
            "must appear once",
            path=path,
            column="account_id",
            rows=sorted(set(dup_rows)),
            fix="give each account one row (aggregate transaction lines with from_ledger)",
            cli_fix="give each account one row",
        )
    out["account_id"] = ids_list
    _refuse_totals_rows(ids_list, None, rows, path)
    for c in cols:
        if c == "account_id":
            continue
        spec = CANONICAL_COLUMNS.get(c)
        if spec is None and c.startswith(LINE_PREFIX):
            spec = ColumnSpec("float", "currency per year", "product-line revenue", lower=0.0)
        if spec is None:  # user column: kept as read (spreadsheet errors as their text)
            col = df[c]
            if col.dtype == object:
                out[c] = np.array([str(v) if isinstance(v, CellError | UncachedFormula)
                                   else v for v in col.tolist()], dtype=object)
            else:
                out[c] = col.to_numpy()
            continue
        match spec.kind:
            case "float":
                vals = parse_numbers(df[c], c, fmt=fmt, path=path, rows=rows)
                _check_bounds(vals, c, spec, path, ids, rows)
                out[c] = vals
            case "bool":
                out[c] = _parse_bool(df[c], c, path, rows)
            case "text" | "id":
                out[c] = _parse_text(df[c], c, path, rows)
    _refuse_totals_rows(ids_list, out["revenue"], rows, path)
    total = float(np.sum(out["revenue"]))
    if not total > 0:
        raise InputDataError(
            "total revenue is zero; at least one account must have revenue > 0",
            path=path,
            column="revenue",
        )
    if "gross_profit" in out:
        gp = out["gross_profit"]
        over = gp > out["revenue"] + 1e-9 * np.abs(out["revenue"])
        if over.any():
            raise InputDataError(
                "gross_profit exceeds revenue for accounts "
                f"{_examples(ids[over])}; gross profit is revenue minus cost of sales",
                path=path, column="gross_profit", rows=rows[over].tolist(),
            )
        if "gross_margin" in out:
            implied = out["revenue"] * out["gross_margin"]
            off = np.abs(implied - gp) > 0.005 + 1e-6 * np.abs(out["revenue"])
            if off.any():
                raise InputDataError(
                    "gross_profit disagrees with revenue * gross_margin for accounts "
                    f"{_examples(ids[off])}; give one of the two columns, or make them agree",
                    path=path, column="gross_profit", rows=rows[off].tolist(),
                )
    frame = pd.DataFrame(out)
    frame.index = pd.RangeIndex(len(frame))
    return frame


class Portfolio:
    """An immutable, validated table of accounts.

    Build one with :func:`read_accounts`, :func:`from_ledger`, the loaders in
    :mod:`kamsim.portfolio.datasets`, or directly from a DataFrame with canonical column names
    (see :data:`CANONICAL_COLUMNS`). Values are validated on construction; the object
    never changes afterwards: accessors return copies or read-only arrays, and
    :meth:`replace` returns a new Portfolio.

    Parameters
    ----------
    data : pandas.DataFrame
        Accounts table with at least ``account_id`` and ``revenue``.
    source : str, optional
        Where the data came from (a file path); used in error messages and reports.
    exclusions : pandas.DataFrame, optional
        For portfolios aggregated from a ledger: what was left out, and why
        (see :func:`from_ledger`).

    Raises
    ------
    InputDataError
        If a required column is missing, an id repeats, or a value is missing, not a
        number or out of range.

    Examples
    --------
    >>> import pandas as pd
    >>> pf = Portfolio(pd.DataFrame({"account_id": ["007", "A2"], "revenue": [300.0, 100.0],
    ...                              "gross_margin": [0.2, 0.5]}))
    >>> pf.n_accounts, pf.total_revenue
    (2, 400.0)
    >>> pf.account_ids.tolist()
    ['007', 'A2']
    >>> pf.gross_profit.tolist()
    [60.0, 50.0]
    """

    __slots__ = ("_exclusions", "_frame", "_source")
    _frame: pd.DataFrame
    _source: str | None
    _exclusions: pd.DataFrame | None

    def __init__(
        self,
        data: pd.DataFrame,
        *,
        source: str | os.PathLike[str] | None = None,
        exclusions: pd.DataFrame | None = None,
        _validated: bool = False,
    ) -> None:
        path = None if source is None else str(source)
        frame = data.copy() if _validated else _validate_frame(data, path=path)
        for c in frame.columns:
            arr = frame[c].to_numpy()
            if isinstance(arr, np.ndarray):
                arr.flags.writeable = False
        object.__setattr__(self, "_frame", frame)
        object.__setattr__(self, "_source", path)
        object.__setattr__(
            self, "_exclusions", None if exclusions is None else exclusions.copy()
        )

    def __setattr__(self, name: str, value: Any) -> None:
        msg = "Portfolio is immutable; use Portfolio.replace(...) to derive a new one"
        raise AttributeError(msg)

    # -- basic facts --------------------------------------------------------------------
    @property
    def n_accounts(self) -> int:
        """Number of accounts."""
        return int(self._frame.shape[0])

    def __len__(self) -> int:
        return self.n_accounts

    @property
    def source(self) -> str | None:
        """Where the data came from, if known."""
        return self._source

    @property
    def columns(self) -> list[str]:
        """Column names present, in order."""
        return [str(c) for c in self._frame.columns]

    def has(self, column: str) -> bool:
        """Whether the portfolio has ``column``."""
        return column in self._frame.columns

    @property
    def account_ids(self) -> npt.NDArray[np.object_]:
        """Account ids as text, in table order."""
        return np.asarray(self._frame["account_id"].to_numpy(dtype=object))

    @property
    def names(self) -> npt.NDArray[np.object_]:
        """Display names (the account id where no ``name`` column is given)."""
        col = "name" if self.has("name") else "account_id"
        return np.asarray(self._frame[col].to_numpy(dtype=object))

    @property
    def revenue(self) -> FloatArray:
        """Annual revenue per account (read-only array)."""
        return self.column("revenue")

    @property
    def total_revenue(self) -> float:
        """Total annual revenue."""
        return float(self.revenue.sum())

    @property
    def has_gross_profit(self) -> bool:
        """Whether margins are known (a ``gross_margin`` or ``gross_profit`` column)."""
        return self.has("gross_profit") or self.has("gross_margin")

    @property
    def gross_profit(self) -> FloatArray:
        """Annual gross profit per account.

        Raises
        ------
        InputDataError
            If the portfolio has neither ``gross_profit`` nor ``gross_margin``.
        """
        if self.has("gross_profit"):
            return self.column("gross_profit")
        if self.has("gross_margin"):
            gp = np.asarray(self.revenue * self.column("gross_margin"), dtype=np.float64)
            gp.flags.writeable = False
            return gp
        raise InputDataError(
            "this portfolio has no gross_margin or gross_profit column, so profit figures "
            "cannot be computed; add one of them to the accounts table",
            path=self._source,
        )

    @property
    def gross_margin(self) -> FloatArray:
        """Gross margin per account as a fraction of revenue (0 where revenue is 0)."""
        if self.has("gross_margin"):
            return self.column("gross_margin")
        rev = self.revenue
        gp = self.gross_profit
        out = np.divide(gp, rev, out=np.zeros_like(rev), where=rev > 0)
        out.flags.writeable = False
        return out

    @property
    def product_lines(self) -> list[str]:
        """Names of the product-line revenue columns (``line_*``)."""
        return [c for c in self.columns if c.startswith(LINE_PREFIX)]

    @property
    def exclusions(self) -> pd.DataFrame | None:
        """For ledger-built portfolios: the rows left out, by reason (a copy)."""
        return None if self._exclusions is None else self._exclusions.copy()

    def column(self, name: str) -> npt.NDArray[Any]:
        """One column as a read-only numpy array.

        Raises
        ------
        KeyError
            If the column is absent; the message lists the columns present.
        """
        if name not in self._frame.columns:
            msg = f"portfolio has no column {name!r}; columns: {self.columns}"
            raise KeyError(msg)
        arr = np.array(self._frame[name].to_numpy(), copy=True)
        arr.flags.writeable = False
        return arr

    def to_frame(self) -> pd.DataFrame:
        """The accounts table as a new DataFrame (canonical columns, one row per account).

        Includes a ``gross_profit`` column whenever margins are known.
        """
        df = self._frame.copy()
        if "gross_profit" not in df.columns and "gross_margin" in df.columns:
            df["gross_profit"] = df["revenue"] * df["gross_margin"]
        df.index.name = None
        return df

    def replace(self, **columns: Any) -> Portfolio:
        """Return a new Portfolio with some columns replaced or added (validated).

        Examples
        --------
        >>> import pandas as pd
        >>> pf = Portfolio(pd.DataFrame({"account_id": ["a", "b"], "revenue": [1.0, 3.0]}))
        >>> pf.replace(churn_prob=[0.1, 0.2]).column("churn_prob").tolist()
        [0.1, 0.2]
        """
        df = self._frame.copy()
        for k, v in columns.items():
            df[k] = v
        return Portfolio(df, source=self._source, exclusions=self._exclusions)

    def select(self, account_ids: Iterable[str]) -> Portfolio:
        """Sub-portfolio of the given accounts, in the given order.

        Raises
        ------
        KeyError
            If an id is not in the portfolio.
        """
        wanted = [str(a) for a in account_ids]
        pos = {a: i for i, a in enumerate(self.account_ids.tolist())}
        unknown = [a for a in wanted if a not in pos]
        if unknown:
            msg = f"unknown account id(s): {_examples(unknown)}"
            raise KeyError(msg)
        df = self._frame.iloc[[pos[a] for a in wanted]].reset_index(drop=True)
        return Portfolio(df, source=self._source)

    def __repr__(self) -> str:
        src = f", source={self._source!r}" if self._source else ""
        return (
            f"Portfolio(n_accounts={self.n_accounts}, total_revenue={self.total_revenue:,.2f}"
            f"{src})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Portfolio):
            return NotImplemented
        return self._frame.equals(other._frame)

    __hash__ = None  # type: ignore[assignment]

    def fingerprint(self) -> str:
        """A sha256 of the table's content, stable across runs and row-order preserving."""
        h = hashlib.sha256()
        h.update(pd.util.hash_pandas_object(self._frame, index=False).to_numpy().tobytes())
        h.update(",".join(self.columns).encode())
        return h.hexdigest()


# ---------------------------------------------------------------------------------------
# readers


def _normalise_header(name: object) -> str:
    s = str(name).replace("\ufeff", "").replace("\u200b", "").strip()
    key = re.sub(r"[\s\-]+", "_", s.lower())
    if key in CANONICAL_COLUMNS or key.startswith(LINE_PREFIX):
        return key
    return s


def _apply_mapping(df: pd.DataFrame, columns: Mapping[str, str] | None,
                   path: str | None) -> pd.DataFrame:
    df = df.rename(columns={c: str(c).replace("\ufeff", "").strip() for c in df.columns})
    if columns:
        unknown = [k for k in columns if k not in df.columns]
        if unknown:
            raise InputDataError(
                f"column mapping names column(s) {unknown} that the table does not have; "
                f"found columns {[str(c) for c in df.columns]}",
                path=path,
            )
        targets = list(columns.values())
        dup = sorted({t for t in targets if targets.count(t) > 1})
        if dup:
            raise InputDataError(
                f"column mapping sends several columns to {dup}; map one column to each name",
                path=path,
            )
        clash = [t for k, t in columns.items() if t in df.columns and t not in columns
                 and t != k]
        if clash:
            raise InputDataError(
                f"column mapping would overwrite existing column(s) {clash}; rename or drop "
                "them first",
                path=path,
            )
        df = df.rename(columns=dict(columns))
    renamed = {c: _normalise_header(c) for c in df.columns if c not in (columns or {}).values()}
    new_names = [renamed.get(c, c) for c in df.columns]
    if len(set(new_names)) == len(new_names):
        df.columns = pd.Index(new_names)
    return df


def read_accounts(
    source: str | os.PathLike[str] | pd.DataFrame,
    *,
    columns: Mapping[str, str] | None = None,
    sheet: str | int | None = None,
    decimal: str | None = None,
    thousands: str | None = None,
    sep: str | None = None,
    encoding: str | None = None,
) -> Portfolio:
    """Read an accounts table (CSV, Excel or DataFrame) into a validated Portfolio.

    Parameters
    ----------
    source : path or pandas.DataFrame
        A ``.csv``/``.tsv``/``.txt`` or ``.xlsx`` file, or a DataFrame. Files are only read,
        never modified.
    columns : mapping, optional
        Renames your columns to kamsim's canonical names, e.g.
        ``{"Customer": "account_id", "Sales 2025": "revenue"}``. Headers that already match
        a canonical name up to case and spaces (``"Revenue"``, ``"Gross Margin"``) are
        recognised without a mapping.
    sheet : str or int, optional
        Excel sheet name or 0-based number (default: the first sheet).
    decimal, thousands : str, optional
        Number format of text cells, e.g. ``decimal=",", thousands="."`` for
        ``"1.234,56"`` (``thousands=""``: no separator). By default detected from the
        data: every text number of the table must follow one format (decimal point or
        comma; thousands separated by ``,`` ``.`` space or ``'`` in groups of three), and
        a table whose numbers can be read two ways (``"1,500"`` alone: 1500 or 1.5) is
        refused rather than guessed.
    sep : str, optional
        CSV delimiter; by default sniffed from the data (``,`` ``;`` tab ``|``; an Excel
        ``sep=;`` first line is honoured).
    encoding : str, optional
        Text encoding of CSV files (default UTF-8, with or without a byte-order mark).

    Returns
    -------
    Portfolio

    Raises
    ------
    InputDataError
        Naming the file, column, spreadsheet rows (header = row 1) and values, with the
        fix, for: a missing, empty or binary file, a non-UTF-8 file, a row with more values
        than the header, an unknown sheet, merged cells, a missing required column,
        duplicate ids, numbers written in two formats or readable two ways, text, yes/no
        values, dates, Excel errors or uncalculated formulas in a numeric column, missing
        or infinite values, and values out of range (e.g. negative revenue).

    Notes
    -----
    CSV rows are numbered as the file's lines (the record's first line); Excel rows as
    the sheet's rows. A trailing delimiter on every line, blank lines and a byte-order
    mark are handled; Excel ``TRUE``/``FALSE``, dates, ``#DIV/0!`` and formulas saved
    without results are refused in numeric columns for what they are; ids shown with a
    ``000`` number format keep their leading zeros.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"Customer": ["007", "B"], "Sales": ["1.234,50", "765,50"]})
    >>> pf = read_accounts(df, columns={"Customer": "account_id", "Sales": "revenue"},
    ...                    decimal=",", thousands=".")
    >>> pf.revenue.tolist()
    [1234.5, 765.5]
    """
    rows = None
    sheets: tuple[str, ...] = ()
    if isinstance(source, pd.DataFrame):
        path = None
        if isinstance(source.columns, pd.MultiIndex):
            raise InputDataError("has column headers on several levels",
                                 fix="flatten them first, e.g. df.columns = ['_'.join(c) "
                                     "for c in df.columns]")
        df = source.copy()
    elif isinstance(source, str | os.PathLike):
        p = Path(source)
        path = str(p)
        table = read_table(p, sheet=sheet, sep=sep, encoding=encoding, what="accounts file")
        df, rows, sheets = table.frame, table.rows, table.sheets
    else:
        raise InputDataError(f"source must be a file path or a DataFrame, got "
                             f"{type(source).__name__}")
    if decimal is not None and decimal == thousands:
        raise InputDataError(f"decimal and thousands separators are both {decimal!r}",
                             path=path)
    df = _apply_mapping(df, columns, path)
    try:
        frame = _validate_frame(df, path=path, decimal=decimal, thousands=thousands, rows=rows)
    except InputDataError as exc:
        if sheet is None and len(sheets) > 1 and exc.message.startswith("missing required"):
            raise InputDataError(
                f"{exc.message} on its first sheet {sheets[0]!r}", path=path,
                fix=f"pass sheet= one of {list(sheets[1:])} if the accounts are there",
                cli_fix=f"move the accounts sheet ({', '.join(sheets[1:])}?) to the front "
                        "of the workbook") from None
        raise
    return Portfolio(frame, source=path, _validated=True)


# ---------------------------------------------------------------------------------------
# ledgers


def _slug(text: str) -> str:
    s = re.sub(r"[^0-9a-zA-Z]+", "_", str(text).strip().lower()).strip("_")
    return s or "unnamed"


def ledger_lines(
    ledger: pd.DataFrame,
    *,
    customer: str,
    date: str,
    amount: str | None,
    quantity: str | None = None,
    unit_price: str | None = None,
    extra: Iterable[str] = (),
    path: str | None = None,
    rows: npt.NDArray[np.int64] | None = None,
    dayfirst: bool | None = None,
) -> pd.DataFrame:
    """Every line of a ledger as ``account_id`` (text, ``""`` when blank), ``date``, ``money``.

    Shared by :func:`from_ledger` and the ledger readers of :mod:`kamsim.analysis.calibrate`, so
    both check columns, amounts, dates and customer ids alike. Money is ``amount``, or
    ``quantity * unit_price``; ids are written as in :func:`read_accounts` (integral
    floats such as ``17850.0`` lose the ``.0``). Nothing is dropped here.

    Amounts follow one number format, detected from the data as in :func:`read_accounts`;
    dates are parsed one way for the whole column (:func:`parse_dates`: ISO text, Excel
    serial numbers, day-first or month-first decided from the column, ``dayfirst`` to
    force it). ``rows`` are the spreadsheet rows of the lines (default: from row 2).

    Raises
    ------
    InputDataError
        Missing columns (including ``extra`` ones), missing or non-numeric amounts,
        unparseable dates and date columns that mix or leave open the day/month order,
        naming the column and spreadsheet rows.

    Examples
    --------
    >>> led = pd.DataFrame({"c": [17850.0, None], "d": ["2024-01-01", "2024-01-02"],
    ...                     "q": [2, 1], "p": [1.5, 3.0]})
    >>> ledger_lines(led, customer="c", date="d", amount=None, quantity="q",
    ...              unit_price="p")["account_id"].tolist()
    ['17850', '']
    """
    if ledger.shape[0] == 0:
        raise InputDataError("ledger holds no lines", path=path)
    needed = [customer, date] + ([amount] if amount and quantity is None else [])
    if quantity is not None or unit_price is not None:
        if quantity is None or unit_price is None:
            raise InputDataError("give both quantity= and unit_price=, or amount=", path=path)
        needed += [quantity, unit_price]
    needed += list(extra)
    missing = [c for c in needed if c not in ledger.columns]
    if missing:
        raise InputDataError(
            f"ledger is missing column(s) {missing}; found {[str(c) for c in ledger.columns]}",
            path=path,
        )
    rows = table_rows(ledger.shape[0]) if rows is None else np.asarray(rows, dtype=np.int64)
    num_cols = [quantity, unit_price] if quantity is not None and unit_price is not None \
        else [amount]
    if amount is None and quantity is None:
        raise InputDataError("give amount=, or quantity= and unit_price=", path=path)
    fmt = detect_number_format(
        {c: (ledger[c], rows) for c in num_cols
         if c is not None and not pd.api.types.is_numeric_dtype(ledger[c].dtype)},
        path=path)
    if quantity is not None and unit_price is not None:
        q = parse_numbers(ledger[quantity], quantity, fmt=fmt, path=path, rows=rows)
        up = parse_numbers(ledger[unit_price], unit_price, fmt=fmt, path=path, rows=rows)
        money = q * up
    else:
        assert amount is not None
        money = parse_numbers(ledger[amount], amount, fmt=fmt, path=path, rows=rows)
    dates = parse_dates(ledger[date], dayfirst=dayfirst, column=date, path=path, rows=rows)
    bad_dates = dates.isna().to_numpy()
    if bad_dates.any():
        raise InputDataError(
            f"has {int(bad_dates.sum())} missing or unparseable date(s): "
            f"{_examples(ledger.loc[bad_dates, date].tolist())}",
            path=path, column=date, rows=rows[bad_dates].tolist(),
            fix="write dates as YYYY-MM-DD (Excel date cells and serial numbers work too)",
        )
    ids = [
        "" if v is None or (isinstance(v, float) and math.isnan(v))
        or (isinstance(v, str) and v.strip() == "") else _id_text(v)
        for v in ledger[customer].astype(object).tolist()
    ]
    return pd.DataFrame({"account_id": np.array(ids, dtype=object),
                         "date": dates.to_numpy(), "money": money})


def _one_date(value: Any, name: str, dayfirst: bool | None) -> pd.Timestamp:
    """A period bound: a date, or text parsed as :func:`parse_dates` would."""
    ts = parse_dates(pd.Series([value], dtype=object), dayfirst=dayfirst, column=name,
                     rows=np.array([0]))[0]
    if pd.isna(ts):
        raise InputDataError(f"{name}={value!r} is not a date", fix="give YYYY-MM-DD")
    return pd.Timestamp(ts)


def from_ledger(
    ledger: pd.DataFrame | str | os.PathLike[str],
    *,
    customer: str = "customer_id",
    date: str = "date",
    amount: str | None = "amount",
    quantity: str | None = None,
    unit_price: str | None = None,
    invoice: str | None = None,
    product: str | None = None,
    segment: str | None = None,
    region: str | None = None,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
    cancelled_prefix: str | None = "C",
    returns: Literal["net", "exclude"] = "net",
    max_product_lines: int = 50,
    dayfirst: bool | None = None,
) -> Portfolio:
    """Aggregate a transaction ledger (invoice lines) into a Portfolio.

    Each line's money is ``amount`` (or ``quantity * unit_price``). Lines are kept or
    excluded, and every exclusion is reported with its reason, line count and money in
    :attr:`Portfolio.exclusions`, so that ``kept + excluded == ledger total`` always holds.

    Exclusion reasons, in the order they are applied:

    ``no customer id``
        The line has no customer (walk-in or unknown buyer).
    ``outside period``
        The line's date is before ``start`` or on/after ``end``.
    ``cancelled invoice`` / ``return or credit note``
        Only with ``returns="exclude"``: invoices whose number starts with
        ``cancelled_prefix``, and lines with negative money. With the default
        ``returns="net"`` they are kept and net off the customer's revenue.
    ``net revenue <= 0``
        Customers whose kept lines sum to zero or less (e.g. only returns in the period):
        a Portfolio needs revenue >= 0 per account; their lines are excluded together.

    Parameters
    ----------
    ledger : DataFrame or path
        Invoice lines; a path may be ``.csv`` or ``.parquet``.
    customer, date, amount, quantity, unit_price, invoice, product : str
        Column names in the ledger. Give ``amount``, or ``quantity`` and ``unit_price``.
    segment, region : str, optional
        Ledger columns to carry over as the account's ``segment``/``region``: the value
        on most of the account's kept lines (ties: alphabetically first).
    start, end : date-like, optional
        Period ``[start, end)``. Default: the 12 months ending the day after the last
        date in the ledger, so that revenue is annual. A warning is given when the period
        is not about 12 months long, since Portfolio revenue is read as annual.
    cancelled_prefix : str, optional
        Invoice-number prefix that marks cancellations (``"C"`` in the UCI Online Retail
        data); used only with ``returns="exclude"``.
    returns : {"net", "exclude"}
        Net returns off sales (default), or exclude them and report gross sales.
    max_product_lines : int
        With ``product``, revenue is split into ``line_<product>`` columns; more distinct
        products than this raises, since thousands of stock codes are not product lines.
    dayfirst : bool, optional
        Read ``01/02/2024``-style dates day first (True) or month first (False); by
        default decided from the whole date column, and refused when it cannot be.

    Returns
    -------
    Portfolio
        With ``exclusions``: a DataFrame indexed by reason with columns ``lines`` and
        ``amount``, plus a ``kept`` and a ``ledger total`` row.

    Raises
    ------
    InputDataError
        Missing columns, unparseable dates or amounts.

    Examples
    --------
    >>> import pandas as pd
    >>> led = pd.DataFrame({"customer_id": ["a", "a", None, "b"],
    ...                     "date": ["2024-01-05", "2024-02-01", "2024-02-01", "2024-03-01"],
    ...                     "amount": [100.0, -20.0, 5.0, 50.0]})
    >>> pf = from_ledger(led)
    >>> pf.revenue.tolist()
    [80.0, 50.0]
    >>> float(pf.exclusions.loc["no customer id", "amount"])
    5.0
    """
    path: str | None = None
    rows = None
    if not isinstance(ledger, pd.DataFrame):
        p = Path(ledger)
        path = str(p)
        if not p.exists():
            raise InputDataError("file not found", path=path)
        if p.suffix.lower() == ".parquet":
            try:
                ledger = pd.read_parquet(p)
            except Exception as exc:  # pyarrow raises many types
                raise InputDataError(f"cannot be read as a Parquet file ({exc})",
                                     path=path) from None
        else:
            table = read_table(p, what="ledger")
            ledger, rows = table.frame, table.rows
    if returns not in ("net", "exclude"):
        raise InputDataError(f"returns must be 'net' or 'exclude', not {returns!r}",
                             path=path)
    lines = ledger_lines(ledger, customer=customer, date=date, amount=amount,
                         quantity=quantity, unit_price=unit_price,
                         extra=[c for c in (invoice, product, segment, region) if c],
                         path=path, rows=rows, dayfirst=dayfirst)
    n = ledger.shape[0]
    money = lines["money"].to_numpy(dtype=np.float64)
    dates = lines["date"]
    no_cust = lines["account_id"].to_numpy(dtype=object) == ""
    reason = np.full(n, "", dtype=object)
    reason[no_cust] = "no customer id"
    d_all = dates.to_numpy()
    if start is None and end is None:
        end_ts = (dates.max().normalize() + pd.Timedelta(days=1))
        start_ts = end_ts - pd.DateOffset(months=12)
    else:
        start_ts = (_one_date(start, "start", dayfirst) if start is not None
                    else dates.min())
        end_ts = (_one_date(end, "end", dayfirst) if end is not None
                  else dates.max() + pd.Timedelta(days=1))
    if not start_ts < end_ts:
        raise InputDataError(f"period start {start_ts} is not before end {end_ts}", path=path)
    days = (end_ts - start_ts).days
    if not 358 <= days <= 373:
        warnings.warn(
            f"ledger period {start_ts.date()} to {end_ts.date()} spans {days} days; Portfolio "
            "revenue is read as annual revenue by the churn and replacement models",
            UserWarning, stacklevel=2,
        )
    outside = (d_all < np.datetime64(start_ts)) | (d_all >= np.datetime64(end_ts))
    reason[(reason == "") & outside] = "outside period"
    if returns == "exclude":
        if invoice is not None and cancelled_prefix:
            inv = ledger[invoice].astype(str).str.startswith(cancelled_prefix).to_numpy()
            reason[(reason == "") & inv] = "cancelled invoice"
        reason[(reason == "") & (money < 0)] = "return or credit note"
    kept = reason == ""
    cust = np.where(kept, lines["account_id"].to_numpy(dtype=object), "")
    per_cust = pd.Series(money[kept]).groupby(cust[kept], sort=False).sum()
    nonpos = set(per_cust.index[per_cust.to_numpy() <= 0].tolist())
    if nonpos:
        drop = kept & np.isin(cust, list(nonpos))
        reason[drop] = "net revenue <= 0"
        kept = reason == ""
    if not kept.any():
        raise InputDataError(
            f"no ledger lines remain after exclusions (period {start_ts.date()} to "
            f"{end_ts.date()})",
            path=path,
        )
    kept_df = pd.DataFrame({"account_id": cust[kept], "money": money[kept]})
    agg = kept_df.groupby("account_id", sort=True)["money"].sum()
    frame = pd.DataFrame({"account_id": agg.index.astype(str).to_numpy(dtype=object),
                          "revenue": agg.to_numpy(dtype=np.float64)})
    for src_col, target in ((segment, "segment"), (region, "region")):
        if src_col is None:
            continue
        vals = pd.DataFrame({"account_id": cust[kept],
                             "v": ledger[src_col].astype(str).to_numpy()[kept]})
        counts = vals.groupby(["account_id", "v"]).size().reset_index(name="n")
        counts = counts.sort_values(["account_id", "n", "v"], ascending=[True, False, True])
        mode = counts.drop_duplicates("account_id").set_index("account_id")["v"]
        frame[target] = mode.reindex(frame["account_id"]).to_numpy()
    if product is not None:
        prods = ledger[product].astype(str).to_numpy()[kept]
        distinct = pd.unique(prods)
        if len(distinct) > max_product_lines:
            raise InputDataError(
                f"has {len(distinct)} distinct products; more than max_product_lines="
                f"{max_product_lines}. Map products to a few product lines first",
                path=path, column=product,
            )
        kept_df["line"] = [LINE_PREFIX + _slug(p) for p in prods]
        pivot = kept_df.pivot_table(index="account_id", columns="line", values="money",
                                    aggfunc="sum", fill_value=0.0)
        pivot = pivot.reindex(frame["account_id"]).clip(lower=0.0)
        for c in pivot.columns:
            frame[str(c)] = pivot[c].to_numpy(dtype=np.float64)
    summary = pd.DataFrame(
        pd.DataFrame({"reason": reason[~kept], "amount": money[~kept]})
        .groupby("reason", sort=True)["amount"]
        .agg(lines="size", amount="sum")
    )
    summary.loc["kept"] = [int(kept.sum()), float(money[kept].sum())]
    summary.loc["ledger total"] = [n, float(money.sum())]
    summary["lines"] = summary["lines"].astype(np.int64)
    summary.index.name = "reason"
    summary.attrs["period"] = (str(start_ts.date()), str(end_ts.date()))
    logger.info("ledger: kept %d of %d lines for %d accounts", int(kept.sum()), n, len(frame))
    return Portfolio(frame, source=path, exclusions=summary)
