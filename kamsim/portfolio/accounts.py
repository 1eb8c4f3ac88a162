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
import os
import re
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


def examples(values: Iterable[Any], limit: int = 5) -> str:
    """The first ``limit`` values for an error message, with how many more there are."""
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
            f"has {int(bad.sum())} value(s) out of range ({examples(pairs)}); "
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
            f"holds values that are not yes/no: {examples(col[bad].tolist())}; "
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
            f"holds {what}: {examples(shown)}", path=path, column=name,
            rows=rows[bad].tolist(), values=shown,
            fix="type the values (ids as text, e.g. '007')")
    out = [id_text(v) if is_id else str(v).strip() for v in vals]
    if is_id:
        sci = np.array([bool(_SCI_ID.fullmatch(a)) for a in out], dtype=bool)
        if sci.any():
            raise InputDataError(
                f"holds ids that a spreadsheet shortened to scientific notation "
                f"({examples([out[i] for i in np.flatnonzero(sci)])}): the digits are lost",
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
            f"has what looks like a totals row ({examples([ids[i] for i in bad])}); it "
            "would count the accounts twice",
            path=path, column="account_id", rows=rows[bad].tolist(),
            fix="delete totals and subtotal rows: kamsim adds the accounts up itself")


def id_text(v: Any) -> str:
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
            f"has duplicate account ids {examples(sorted(set(dup_ids)))}; each account "
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
                f"{examples(ids[over])}; gross profit is revenue minus cost of sales",
                path=path, column="gross_profit", rows=rows[over].tolist(),
            )
        if "gross_margin" in out:
            implied = out["revenue"] * out["gross_margin"]
            off = np.abs(implied - gp) > 0.005 + 1e-6 * np.abs(out["revenue"])
            if off.any():
                raise InputDataError(
                    "gross_profit disagrees with revenue * gross_margin for accounts "
                    f"{examples(ids[off])}; give one of the two columns, or make them agree",
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
            msg = f"unknown account id(s): {examples(unknown)}"
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
