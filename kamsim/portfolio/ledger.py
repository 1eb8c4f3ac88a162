"""Transaction ledgers: invoice lines aggregated into accounts, with an exclusions report.

:func:`from_ledger` turns an ERP export (one row per invoice line) into a
:class:`~kamsim.portfolio.Portfolio` of annual revenue per customer; every excluded line
(returns, missing customers, out-of-window dates) is counted in ``Portfolio.exclusions``,
which reconciles kept plus excluded to the ledger total to the cent.
"""

from __future__ import annotations

import logging
import math
import os
import re
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from kamsim.exceptions import InputDataError
from kamsim.portfolio.accounts import LINE_PREFIX, Portfolio, examples, id_text
from kamsim.portfolio.tables import (
    detect_number_format,
    parse_dates,
    parse_numbers,
    read_table,
    table_rows,
)

__all__ = ["from_ledger", "ledger_lines"]

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]


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
            f"{examples(ledger.loc[bad_dates, date].tolist())}",
            path=path, column=date, rows=rows[bad_dates].tolist(),
            fix="write dates as YYYY-MM-DD (Excel date cells and serial numbers work too)",
        )
    ids = [
        "" if v is None or (isinstance(v, float) and math.isnan(v))
        or (isinstance(v, str) and v.strip() == "") else id_text(v)
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
