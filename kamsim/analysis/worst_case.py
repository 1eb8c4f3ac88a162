"""Deterministic worst cases: what if we lose these accounts (no randomness).

Answers "what if we lose our biggest customer next month?": the top 1, 2, ..., k accounts
by revenue or by gross profit, a named set of accounts, or a whole segment or region.
Every table gives, per case, revenue and gross profit lost and remaining (annual run
rate), profit after fixed costs, and whether the business stays at or above break-even
(gross profit covers fixed costs).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from kamsim.exceptions import AssumptionError, InputDataError
from kamsim.portfolio import Portfolio

__all__ = ["lose_accounts", "lose_group", "lose_top_k", "worst_cases"]

_COLUMNS = [
    "case", "accounts_lost", "revenue_lost", "revenue_lost_share", "revenue_remaining",
    "gross_profit_lost", "gross_profit_lost_share", "gross_profit_remaining",
    "profit_after_fixed_costs", "above_break_even",
]


def _row(pf: Portfolio, case: str, mask: npt.NDArray[np.bool_], fixed_costs: float
         ) -> dict[str, object]:
    rev = pf.revenue
    gp = pf.gross_profit if pf.has_gross_profit else np.full(rev.shape, np.nan)
    rev_lost = float(rev[mask].sum())
    gp_lost = float(gp[mask].sum())
    gp_total = float(gp.sum())
    gp_rem = gp_total - gp_lost
    return {
        "case": case,
        "accounts_lost": int(mask.sum()),
        "revenue_lost": rev_lost,
        "revenue_lost_share": rev_lost / pf.total_revenue,
        "revenue_remaining": pf.total_revenue - rev_lost,
        "gross_profit_lost": gp_lost,
        "gross_profit_lost_share": gp_lost / gp_total if gp_total else np.nan,
        "gross_profit_remaining": gp_rem,
        "profit_after_fixed_costs": gp_rem - fixed_costs,
        "above_break_even": bool(gp_rem >= fixed_costs) if np.isfinite(gp_rem) else pd.NA,
    }


def _check_fixed(fixed_costs: float) -> float:
    fc = float(fixed_costs)
    if not (fc >= 0 and np.isfinite(fc)):
        msg = f"fixed_costs must be a finite number >= 0, got {fixed_costs!r}"
        raise AssumptionError(msg)
    return fc


def lose_top_k(portfolio: Portfolio, k: int = 5, *,
               by: Literal["revenue", "gross_profit"] = "revenue",
               fixed_costs: float = 0.0) -> pd.DataFrame:
    """Lose the top 1, 2, ..., ``k`` accounts by revenue or gross profit.

    Parameters
    ----------
    portfolio : Portfolio
    k : int
        Largest number of accounts lost (capped at the number of accounts).
    by : {"revenue", "gross_profit"}
        Ranking of "top".
    fixed_costs : float
        Annual fixed costs, for profit after fixed costs and the break-even flag.

    Returns
    -------
    pandas.DataFrame
        One row per case ``lose top 0 .. k`` (row 0 is the base case) with columns
        ``case, accounts_lost, revenue_lost, revenue_lost_share, revenue_remaining,
        gross_profit_lost, gross_profit_lost_share, gross_profit_remaining,
        profit_after_fixed_costs, above_break_even, last_account_lost``.

    Examples
    --------
    >>> import pandas as pd
    >>> pf = Portfolio(pd.DataFrame({"account_id": ["a", "b", "c"],
    ...                              "revenue": [50.0, 30.0, 20.0], "gross_margin": 0.5}))
    >>> lose_top_k(pf, 2, fixed_costs=30)[["case", "revenue_lost", "above_break_even"]]
             case  revenue_lost  above_break_even
    0   base case           0.0              True
    1  lose top 1          50.0             False
    2  lose top 2          80.0             False
    """
    fc = _check_fixed(fixed_costs)
    if k < 1:
        msg = f"k must be >= 1, got {k}"
        raise AssumptionError(msg)
    match by:
        case "revenue":
            key = portfolio.revenue
        case "gross_profit":
            key = portfolio.gross_profit
        case _:
            msg = f"by must be 'revenue' or 'gross_profit', got {by!r}"
            raise AssumptionError(msg)
    order = np.argsort(-key, kind="stable")
    k = min(k, portfolio.n_accounts)
    rows = [dict(_row(portfolio, "base case", np.zeros(portfolio.n_accounts, bool), fc),
                 last_account_lost="")]
    mask = np.zeros(portfolio.n_accounts, dtype=bool)
    names = portfolio.names
    for j in range(k):
        mask[order[j]] = True
        rows.append(dict(_row(portfolio, f"lose top {j + 1}", mask.copy(), fc),
                         last_account_lost=str(names[order[j]])))
    return pd.DataFrame(rows, columns=[*_COLUMNS, "last_account_lost"])


def lose_accounts(portfolio: Portfolio, account_ids: Iterable[str], *,
                  fixed_costs: float = 0.0, case: str | None = None) -> pd.DataFrame:
    """Lose a named set of accounts: a one-row table (plus the base case).

    Raises
    ------
    InputDataError
        If an id is not in the portfolio.
    """
    fc = _check_fixed(fixed_costs)
    ids = [str(a) for a in account_ids]
    known = set(portfolio.account_ids.tolist())
    unknown = [a for a in ids if a not in known]
    if unknown:
        raise InputDataError(f"unknown account id(s) {unknown}", column="account_id")
    mask = np.isin(portfolio.account_ids, ids)
    label = case or f"lose {', '.join(ids[:3])}{' ...' if len(ids) > 3 else ''}"
    base = _row(portfolio, "base case", np.zeros(portfolio.n_accounts, bool), fc)
    return pd.DataFrame([base, _row(portfolio, label, mask, fc)], columns=_COLUMNS)


def lose_group(portfolio: Portfolio, by: str = "segment", *,
               fixed_costs: float = 0.0) -> pd.DataFrame:
    """Lose each whole group in turn (e.g. every segment or region).

    Returns
    -------
    pandas.DataFrame
        One row per group value, worst first, with a ``group`` column.
    """
    fc = _check_fixed(fixed_costs)
    if not portfolio.has(by):
        raise InputDataError(f"portfolio has no column {by!r} to group by", column=by)
    col = np.asarray([str(v) for v in portfolio.column(by)])
    rows = []
    for g in sorted(set(col.tolist())):
        r = _row(portfolio, f"lose {by} {g}", col == g, fc)
        r["group"] = g
        rows.append(r)
    df = pd.DataFrame(rows, columns=[*_COLUMNS, "group"])
    return df.sort_values("revenue_lost", ascending=False, kind="stable").reset_index(
        drop=True)


def worst_cases(portfolio: Portfolio, *, k: int = 5, fixed_costs: float = 0.0,
                groups: Iterable[str] = ("segment", "region")) -> pd.DataFrame:
    """All standard deterministic cases in one table.

    Top-k by revenue and by profit, and the largest whole group of each grouping column
    present.

    Examples
    --------
    >>> from kamsim.portfolio.datasets import load_sample
    >>> t = worst_cases(load_sample(), k=2)
    >>> t["case"].tolist()[:3]
    ['base case', 'lose top 1', 'lose top 2']
    """
    parts = [lose_top_k(portfolio, k, by="revenue", fixed_costs=fixed_costs)]
    if portfolio.has_gross_profit:
        t = lose_top_k(portfolio, k, by="gross_profit", fixed_costs=fixed_costs).iloc[1:]
        t["case"] = t["case"].str.replace("top", "top (by profit)")
        parts.append(t)
    for g in groups:
        if portfolio.has(g):
            parts.append(lose_group(portfolio, g, fixed_costs=fixed_costs).iloc[:1])
    return pd.concat(parts, ignore_index=True)
