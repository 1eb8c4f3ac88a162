"""Revenue concentration and key-account identification.

Two questions a strategist asks first: *how concentrated are we?* and *which accounts
are key, by which criteria?*

Concentration
    Pure functions over a vector of non-negative values (revenue, gross profit, a product
    line, ...): :func:`shares`, :func:`hhi`, :func:`normalized_hhi`,
    :func:`effective_number`, :func:`concentration_ratio`, :func:`gini`,
    :func:`lorenz_curve`, :func:`theil_index`, :func:`shannon_entropy`,
    :func:`abc_classes` and :func:`major_customer_flags`; and Portfolio-level tables built
    on them: :func:`account_shares`, :func:`summary`, :func:`major_customers`, all
    taking ``measure=`` (``"revenue"``, ``"gross_profit"`` or any numeric column, e.g. a
    product line ``"line_core"``) and ``by=`` (a column to group by, e.g. ``"segment"``).

Key accounts
    A multi-criteria weighted score (:func:`key_account_criteria`,
    :func:`key_account_scores`): each criterion is normalised once to [0, 1]
    (:class:`KeyAccountCriteria`), so re-weighting is one matrix-vector product, cheap
    enough for an interactive slider. Tiers use the names of :mod:`kamsim.model`
    (``"key"``, ``"strategic"``, ``"standard"``) so they can be fed back with
    ``portfolio.replace(tier=scores.tier_column())``.

Reference bands (:func:`hhi_band`, :func:`hhi_reference_bands`) quote the US merger
guidelines. They are external conventions for the concentration of *sellers in a market*,
shown for orientation only; they are not kamsim's verdict on a customer portfolio.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, overload

import numpy as np
import numpy.typing as npt
import pandas as pd

from kamsim.exceptions import AssumptionError, InputDataError
from kamsim.portfolio import Portfolio

__all__ = [
    "HHI_REFERENCE_BANDS",
    "MAJOR_CUSTOMER_NOTE",
    "MAJOR_CUSTOMER_THRESHOLD",
    "TIERS",
    "LorenzCurve",
    "abc_classes",
    "account_shares",
    "concentration_ratio",
    "effective_number",
    "gini",
    "hhi",
    "hhi_band",
    "hhi_reference_bands",
    "lorenz_curve",
    "major_customer_flags",
    "major_customers",
    "measure_values",
    "normalized_hhi",
    "shannon_entropy",
    "shares",
    "summary",
    "theil_index",
]

FloatArray = npt.NDArray[np.float64]
ObjArray = npt.NDArray[np.object_]

#: Share of revenue at or above which a single customer must be disclosed under
#: ASC 280-10-50-42 (US GAAP) and IFRS 8.34.
MAJOR_CUSTOMER_THRESHOLD = 0.10

#: Text attached to major-customer output.
MAJOR_CUSTOMER_NOTE = (
    "revenue from this customer is >= 10 % of total revenue: ASC 280-10-50-42 and "
    "IFRS 8.34 require disclosure of that fact and of the amount"
)

#: Tier names, from most to least important (the same as :data:`kamsim.model.TIERS`).
TIERS = ("key", "strategic", "standard")
_TIER_ARRAY = np.array(TIERS, dtype=object)

#: HHI reference bands in points (0-10,000). External conventions for markets of
#: competing sellers, quoted for orientation; not kamsim's verdicts.
HHI_REFERENCE_BANDS: tuple[tuple[str, str, float, float], ...] = (
    ("2010", "unconcentrated", 0.0, 1500.0),
    ("2010", "moderately concentrated", 1500.0, 2500.0),
    ("2010", "highly concentrated", 2500.0, 10_000.0),
    ("2023", "not highly concentrated", 0.0, 1800.0),
    ("2023", "highly concentrated", 1800.0, 10_000.0),
)

_GUIDELINE_SOURCE = {
    "2010": "U.S. DOJ & FTC, Horizontal Merger Guidelines (2010), section 5.3",
    "2023": "U.S. DOJ & FTC, Merger Guidelines (2023), section 2.1 (Guideline 1)",
}

_ABC_LABELS = "ABCDEFGHIJ"
_DEFAULT_CUTOFFS = (0.80, 0.15, 0.05)


# ---------------------------------------------------------------------------------------
# validation helpers


def _as_values(values: npt.ArrayLike, name: str = "values") -> FloatArray:
    """Validate a vector of non-negative finite values with a positive total."""
    try:
        x = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        msg = f"{name} must be numbers ({exc})"
        raise InputDataError(msg) from None
    if x.ndim != 1:
        msg = f"{name} must be one-dimensional, got shape {x.shape}"
        raise InputDataError(msg)
    if x.size == 0:
        msg = f"{name} is empty; give at least one account"
        raise InputDataError(msg)
    bad = ~np.isfinite(x)
    if bad.any():
        msg = (f"{name} has {int(bad.sum())} missing or infinite value(s) at position(s) "
               f"{np.flatnonzero(bad)[:10].tolist()}; every value must be a finite number")
        raise InputDataError(msg)
    neg = x < 0
    if neg.any():
        msg = (f"{name} has {int(neg.sum())} negative value(s) at position(s) "
               f"{np.flatnonzero(neg)[:10].tolist()}; concentration measures need values "
               ">= 0")
        raise InputDataError(msg)
    if not x.sum() > 0:
        msg = f"{name} sum to zero; at least one value must be > 0"
        raise InputDataError(msg)
    return x


def _bad_option(name: str, value: object, options: Sequence[str]) -> AssumptionError:
    """The error for a value outside a closed set of options (lists the valid ones)."""
    return AssumptionError(f"must be one of {list(options)}, got {value!r}", field=name)


def _check_cutoffs(cutoffs: Sequence[float]) -> FloatArray:
    c = np.asarray(cutoffs, dtype=np.float64)
    if c.ndim != 1 or not 2 <= c.size <= len(_ABC_LABELS):
        msg = f"cutoffs must list 2 to {len(_ABC_LABELS)} class shares, got {cutoffs!r}"
        raise AssumptionError(msg, field="cutoffs")
    if not (np.all(np.isfinite(c)) and np.all(c > 0) and abs(c.sum() - 1.0) < 1e-9):
        msg = f"class shares must be > 0 and add up to 1, got {tuple(cutoffs)!r}"
        raise AssumptionError(msg, field="cutoffs")
    return c


def _check_threshold(threshold: float) -> float:
    t = float(threshold)
    if not 0.0 < t <= 1.0:
        msg = f"must be a share in (0, 1], got {threshold!r}"
        raise AssumptionError(msg, field="threshold")
    return t


# ---------------------------------------------------------------------------------------
# array-level measures


def shares(values: npt.ArrayLike) -> FloatArray:
    """Each value's share of the total.

    Parameters
    ----------
    values : array_like
        Non-negative values, one per account (revenue, gross profit, ...).

    Returns
    -------
    numpy.ndarray
        Shares in [0, 1] that add up to 1, in input order.

    Raises
    ------
    InputDataError
        If a value is negative, missing or infinite, or all values are zero.

    Examples
    --------
    >>> shares([300.0, 100.0]).tolist()
    [0.75, 0.25]
    """
    x = _as_values(values)
    return np.asarray(x / x.sum(), dtype=np.float64)


def hhi(values: npt.ArrayLike, *, scale: Literal["fraction", "points"] = "fraction") -> float:
    r"""Herfindahl-Hirschman index: the sum of squared shares.

    Parameters
    ----------
    values : array_like
        Non-negative values, one per account.
    scale : {"fraction", "points"}
        ``"fraction"`` gives a number in [1/n, 1]; ``"points"`` multiplies by 10,000
        (shares in percent, squared), the scale of the merger guidelines.

    Returns
    -------
    float

    Notes
    -----
    H = Σᵢ sᵢ² with sᵢ = xᵢ / Σⱼ xⱼ (the shares). It is 1/n when all n
    accounts are equal and 1 when one account holds everything.

    References
    ----------
    Hirschman, A. O. (1964). The paternity of an index. *American Economic Review* 54(5),
    761.

    Examples
    --------
    >>> round(hhi([50.0, 30.0, 20.0]), 12)
    0.38
    >>> round(hhi([50.0, 30.0, 20.0], scale="points"), 6)
    3800.0
    """
    s = shares(values)
    h = float(np.dot(s, s))
    match scale:
        case "fraction":
            return h
        case "points":
            return h * 10_000.0
        case _:
            raise _bad_option("scale", scale, ("fraction", "points"))


def normalized_hhi(values: npt.ArrayLike) -> float:
    """HHI rescaled to [0, 1]: ``(H - 1/n) / (1 - 1/n)``.

    0 when all accounts are equal, 1 when one account holds everything. For a single
    account the index is 1 by convention.

    Examples
    --------
    >>> normalized_hhi([1.0, 1.0, 1.0])
    0.0
    >>> normalized_hhi([1.0, 0.0, 0.0])
    1.0
    """
    x = _as_values(values)
    n = x.size
    if n == 1:
        return 1.0
    s = x / x.sum()
    h = float(np.dot(s, s))
    return max(0.0, (h - 1.0 / n) / (1.0 - 1.0 / n))


def effective_number(values: npt.ArrayLike) -> float:
    """Effective number of accounts, 1/HHI.

    The number of equal-sized accounts that would give the same HHI.

    Examples
    --------
    >>> effective_number([1.0, 1.0, 1.0, 1.0])
    4.0
    """
    return 1.0 / hhi(values)


def concentration_ratio(values: npt.ArrayLike, k: int) -> float:
    """Concentration ratio CRk: the combined share of the k largest accounts.

    Parameters
    ----------
    values : array_like
        Non-negative values, one per account.
    k : int
        Number of accounts (>= 1); values above n give 1.

    Examples
    --------
    >>> concentration_ratio([10.0, 50.0, 40.0], 2)
    0.9
    """
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        msg = f"must be a whole number >= 1, got {k!r}"
        raise AssumptionError(msg, field="k")
    x = _as_values(values)
    k = min(int(k), x.size)
    top = np.partition(x, x.size - k)[x.size - k:]
    return float(min(1.0, top.sum() / x.sum()))


def _gini_sorted_asc(x: FloatArray) -> float:
    n = x.size
    total = x.sum()
    if n == 1 or total <= 0:
        return 0.0
    i = np.arange(1, n + 1, dtype=np.float64)
    g = 2.0 * float(np.dot(i, x)) / (n * float(total)) - (n + 1.0) / n
    return min(max(g, 0.0), 1.0 - 1.0 / n)


def gini(values: npt.ArrayLike, *, form: Literal["population", "sample"] = "population") -> float:
    r"""Gini coefficient of the values.

    Parameters
    ----------
    values : array_like
        Non-negative values, one per account.
    form : {"population", "sample"}
        ``"population"`` (default): mean absolute difference over twice the mean, in
        [0, 1 - 1/n]. ``"sample"`` multiplies it by n/(n - 1), reaching 1 when one account
        holds everything. A single account gives 0 in both forms.

    Notes
    -----
    Computed from the ascending sort x₍₁₎ ≤ … ≤ x₍ₙ₎ as
    G = 2 Σᵢ i·x₍ᵢ₎ / (n Σᵢ xᵢ) − (n + 1) / n.

    References
    ----------
    Gini, C. (1912). *Variabilità e mutabilità*. Bologna: Tipografia di Paolo Cuppini.

    Examples
    --------
    >>> gini([1.0, 2.0, 3.0, 10.0])
    0.4375
    >>> round(gini([0.0, 0.0, 1.0], form="sample"), 12)
    1.0
    """
    x = np.sort(_as_values(values))
    g = _gini_sorted_asc(x)
    match form:
        case "population":
            return g
        case "sample":
            n = x.size
            return g * n / (n - 1) if n > 1 else 0.0
        case _:
            raise _bad_option("form", form, ("population", "sample"))


@dataclass(frozen=True, slots=True, eq=False)
class LorenzCurve:
    """Points of a Lorenz curve (accounts sorted from smallest to largest).

    Attributes
    ----------
    population_share : numpy.ndarray
        0, 1/n, 2/n, ..., 1: the share of accounts, smallest first.
    value_share : numpy.ndarray
        L(k/n): the share of the total held by the k smallest accounts (0, ..., 1).
    gini : float
        Gini coefficient (population form), twice the area between the curve and the
        line of equality.
    """

    population_share: FloatArray
    value_share: FloatArray
    gini: float

    @overload
    def __call__(self, p: float) -> float: ...
    @overload
    def __call__(self, p: npt.ArrayLike) -> FloatArray | float: ...

    def __call__(self, p: npt.ArrayLike) -> FloatArray | float:
        """L(p) by linear interpolation between the points."""
        out = np.interp(np.asarray(p, dtype=np.float64), self.population_share,
                        self.value_share)
        return float(out) if np.ndim(out) == 0 else np.asarray(out, dtype=np.float64)

    def to_frame(self) -> pd.DataFrame:
        """Tidy table with columns ``population_share, value_share``."""
        return pd.DataFrame({"population_share": self.population_share,
                             "value_share": self.value_share})


def lorenz_curve(values: npt.ArrayLike) -> LorenzCurve:
    """Lorenz curve of the values.

    Examples
    --------
    >>> lc = lorenz_curve([1.0, 1.0, 2.0])
    >>> lc.value_share.tolist()
    [0.0, 0.25, 0.5, 1.0]
    >>> lc(0.5)
    0.375
    """
    x = np.sort(_as_values(values))
    return _lorenz_from_sorted(x)


def _lorenz_from_sorted(x: FloatArray) -> LorenzCurve:
    n = x.size
    cum = np.concatenate([[0.0], np.cumsum(x)])
    v = cum / cum[-1]
    v[-1] = 1.0
    p = np.arange(n + 1, dtype=np.float64) / n
    v.flags.writeable = False
    p.flags.writeable = False
    return LorenzCurve(population_share=p, value_share=v, gini=_gini_sorted_asc(x))


def shannon_entropy(values: npt.ArrayLike) -> float:
    """Shannon entropy of the shares, ``-sum(s * ln s)`` (0 ln 0 = 0), in [0, ln n].

    ``exp(entropy)`` is another effective number of accounts.

    Examples
    --------
    >>> round(shannon_entropy([1.0, 1.0]), 12) == round(math.log(2), 12)
    True
    """
    s = shares(values)
    s = s[s > 0]
    return float(-np.dot(s, np.log(s)))


def theil_index(values: npt.ArrayLike) -> float:
    """Theil T index, ``(1/n) sum (x/mu) ln(x/mu)`` = ``ln n - entropy``, in [0, ln n].

    0 when all accounts are equal; ln n when one account holds everything.

    References
    ----------
    Theil, H. (1967). *Economics and Information Theory*. Amsterdam: North-Holland.

    Examples
    --------
    >>> theil_index([5.0, 5.0])
    0.0
    >>> round(theil_index([1.0, 0.0, 0.0, 0.0]), 12) == round(math.log(4), 12)
    True
    """
    x = _as_values(values)
    return max(0.0, math.log(x.size) - shannon_entropy(x))


def _abc_from_sorted_desc(x_desc: FloatArray, cutoffs: FloatArray) -> npt.NDArray[np.intp]:
    """Class index (0 = A) of each account in descending order."""
    cum_before = np.concatenate([[0.0], np.cumsum(x_desc)[:-1]]) / x_desc.sum()
    bounds = np.cumsum(cutoffs)[:-1]
    return np.asarray(np.searchsorted(bounds, cum_before + 1e-12, side="right"), dtype=np.intp)


def abc_classes(
    values: npt.ArrayLike, cutoffs: Sequence[float] = _DEFAULT_CUTOFFS
) -> ObjArray:
    """Pareto / ABC class of each account.

    Accounts are ranked from largest to smallest (ties keep input order). An account is
    in class A if the accounts ranked above it hold less than the first cut-off (80 %)
    of the total, so A is the smallest set of largest accounts that reaches 80 %; then B
    up to 80 + 15 = 95 %; C the rest.

    Parameters
    ----------
    values : array_like
        Non-negative values, one per account.
    cutoffs : sequence of float
        Share of the total per class, largest accounts first; 2 to 10 classes, > 0,
        adding up to 1. Default (0.80, 0.15, 0.05).

    Returns
    -------
    numpy.ndarray of str
        ``"A"``, ``"B"``, ... in input order.

    Examples
    --------
    >>> abc_classes([5.0, 70.0, 20.0, 5.0]).tolist()
    ['B', 'A', 'A', 'C']
    """
    c = _check_cutoffs(cutoffs)
    x = _as_values(values)
    order = np.argsort(-x, kind="stable")
    cls = _abc_from_sorted_desc(x[order], c)
    labels = np.array(list(_ABC_LABELS[: c.size]), dtype=object)
    out = np.empty(x.size, dtype=object)
    out[order] = labels[cls]
    return out


def major_customer_flags(
    values: npt.ArrayLike, threshold: float = MAJOR_CUSTOMER_THRESHOLD
) -> npt.NDArray[np.bool_]:
    """Whether each account is at or above ``threshold`` of the total (default 10 %).

    With revenue, 10 % is the level at which ASC 280-10-50-42 and IFRS 8.34 require an
    entity to disclose its reliance on a single customer. Shares within 1e-12 (relative)
    of the threshold count as reaching it.

    Examples
    --------
    >>> major_customer_flags([10.0, 90.0, 0.0]).tolist()
    [True, True, False]
    """
    t = _check_threshold(threshold)
    x = _as_values(values)
    return np.asarray(x >= t * x.sum() * (1.0 - 1e-12), dtype=bool)


def hhi_band(points: float, guidelines: Literal["2010", "2023"] = "2010") -> str:
    """Classify an HHI (points, 0-10,000) in the US merger guidelines.

    External convention, not kamsim's verdict: the guidelines classify *markets of
    competing sellers*; applied to a supplier's customers they only give a familiar
    yardstick.

    * 2010 Horizontal Merger Guidelines (section 5.3): below 1,500 unconcentrated;
      1,500 to 2,500 moderately concentrated; above 2,500 highly concentrated.
    * 2023 Merger Guidelines (section 2.1): above 1,800 highly concentrated.

    Examples
    --------
    >>> hhi_band(1200.0), hhi_band(2500.0), hhi_band(2600.0)
    ('unconcentrated', 'moderately concentrated', 'highly concentrated')
    >>> hhi_band(1900.0, "2023")
    'highly concentrated'
    """
    p = float(points)
    if not (math.isfinite(p) and 0.0 <= p <= 10_000.0 * (1 + 1e-12)):
        msg = f"must be an HHI in points between 0 and 10,000, got {points!r}"
        raise AssumptionError(msg, field="points")
    match guidelines:
        case "2010":
            if p < 1500.0:
                return "unconcentrated"
            return "moderately concentrated" if p <= 2500.0 else "highly concentrated"
        case "2023":
            return "highly concentrated" if p > 1800.0 else "not highly concentrated"
        case _:
            raise _bad_option("guidelines", guidelines, ("2010", "2023"))


def hhi_reference_bands() -> pd.DataFrame:
    """Tabulate the HHI reference bands with their source.

    Columns ``guidelines, band, lower_points, upper_points, source, note``. These are
    external conventions for market concentration among sellers, quoted for orientation;
    they are not kamsim's verdict on a customer portfolio.

    Examples
    --------
    >>> hhi_reference_bands()[["guidelines", "band"]].values.tolist()[:2]
    [['2010', 'unconcentrated'], ['2010', 'moderately concentrated']]
    """
    rows = [
        {"guidelines": g, "band": b, "lower_points": lo, "upper_points": hi,
         "source": _GUIDELINE_SOURCE[g],
         "note": "external convention for markets of sellers; not a kamsim verdict"}
        for g, b, lo, hi in HHI_REFERENCE_BANDS
    ]
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------
# Portfolio-level tables


def measure_values(portfolio: Portfolio, measure: str = "revenue") -> FloatArray:
    """Get the values of ``measure`` per account, validated for concentration measures.

    Parameters
    ----------
    portfolio : Portfolio
    measure : str
        ``"revenue"``, ``"gross_profit"`` (from ``gross_profit`` or revenue times
        ``gross_margin``) or any numeric column, e.g. a product line ``"line_core"``.

    Raises
    ------
    InputDataError
        If the column is absent or not numeric, or has negative values (the message names
        the accounts).

    Examples
    --------
    >>> from kamsim.portfolio.datasets import load_sample
    >>> measure_values(load_sample(), "line_core").shape
    (300,)
    """
    if measure == "gross_profit":
        raw: npt.NDArray[Any] = portfolio.gross_profit
    else:
        if not portfolio.has(measure):
            msg = (f"portfolio has no column {measure!r}; use 'revenue', 'gross_profit' or "
                   f"one of its numeric columns: {portfolio.columns}")
            raise InputDataError(msg, path=portfolio.source, column=measure)
        raw = portfolio.column(measure)
    if raw.dtype == np.bool_ or not np.issubdtype(raw.dtype, np.number):
        msg = "is not a numeric column; concentration needs amounts such as revenue"
        raise InputDataError(msg, path=portfolio.source, column=measure)
    x = np.asarray(raw, dtype=np.float64)
    bad = ~np.isfinite(x) | (x < 0)
    if bad.any():
        ids = portfolio.account_ids[bad][:5].tolist()
        more = f" (+{int(bad.sum()) - 5} more)" if bad.sum() > 5 else ""
        msg = (f"has {int(bad.sum())} negative or missing value(s) (account_id: "
               f"{', '.join(ids)}{more}); concentration measures need values >= 0")
        raise InputDataError(msg, path=portfolio.source, column=measure,
                             rows=[int(i) + 2 for i in np.flatnonzero(bad)])
    if not x.sum() > 0:
        msg = "sums to zero; concentration needs at least one account with a value > 0"
        raise InputDataError(msg, path=portfolio.source, column=measure)
    return x


def _measures(portfolio: Portfolio, measure: str | Sequence[str] | None) -> list[str]:
    if measure is None:
        return ["revenue", "gross_profit"] if portfolio.has_gross_profit else ["revenue"]
    if isinstance(measure, str):
        return [measure]
    out = [str(m) for m in measure]
    if not out:
        msg = "give at least one measure, e.g. measure='revenue'"
        raise AssumptionError(msg, field="measure")
    return out


def _groups(portfolio: Portfolio, by: str | None) -> list[tuple[Any, npt.NDArray[np.intp]]]:
    """(group label, positions) pairs; one group of everything when ``by`` is None."""
    n = portfolio.n_accounts
    if by is None:
        return [(None, np.arange(n))]
    if not portfolio.has(by):
        msg = f"cannot group by {by!r}: portfolio has no such column; columns: {portfolio.columns}"
        raise InputDataError(msg, path=portfolio.source, column=by)
    keys = pd.Series(portfolio.column(by))
    codes, uniques = pd.factorize(keys, sort=True)
    return [(uniques[j], np.flatnonzero(codes == j)) for j in range(len(uniques))]


def account_shares(
    portfolio: Portfolio,
    measure: str | Sequence[str] = "revenue",
    *,
    by: str | None = None,
    cutoffs: Sequence[float] = _DEFAULT_CUTOFFS,
    major_threshold: float = MAJOR_CUSTOMER_THRESHOLD,
) -> pd.DataFrame:
    """Each account's share of a measure, rank, cumulative share and ABC class.

    Parameters
    ----------
    portfolio : Portfolio
    measure : str or sequence of str
        ``"revenue"``, ``"gross_profit"`` or any numeric column (e.g. ``"line_core"``);
        several give one block per measure (long format).
    by : str, optional
        Column to group by (e.g. ``"segment"``): shares, ranks and classes are then
        within each group.
    cutoffs : sequence of float
        ABC class shares (see :func:`abc_classes`).
    major_threshold : float
        Share flagged in ``major_customer`` (default 10 %; for revenue the ASC 280 /
        IFRS 8 disclosure level).

    Returns
    -------
    pandas.DataFrame
        One row per account and measure (and group), sorted by measure, group, rank:
        ``measure, [by], account_id, name, value, share, cumulative_share, rank,
        abc_class, major_customer``. ``rank`` 1 is the largest; ties keep table order.

    Examples
    --------
    >>> from kamsim.portfolio.datasets import load_sample
    >>> t = account_shares(load_sample())
    >>> round(float(t["share"].iloc[0]), 2), bool(t["major_customer"].iloc[0])
    (0.18, True)
    """
    c = _check_cutoffs(cutoffs)
    thr = _check_threshold(major_threshold)
    labels = np.array(list(_ABC_LABELS[: c.size]), dtype=object)
    ids = portfolio.account_ids
    names = portfolio.names
    frames: list[pd.DataFrame] = []
    for m in _measures(portfolio, measure):
        x = measure_values(portfolio, m)
        for key, pos in _groups(portfolio, by):
            xs = x[pos]
            order = np.argsort(-xs, kind="stable")
            xd = xs[order]
            total = xd.sum()
            sh = xd / total if total > 0 else np.full(xd.size, np.nan)
            cum = np.cumsum(xd) / total if total > 0 else np.full(xd.size, np.nan)
            cls = (labels[_abc_from_sorted_desc(xd, c)] if total > 0
                   else np.full(xd.size, None, dtype=object))
            block: dict[str, Any] = {"measure": m}
            if by is not None:
                block[by] = key
            block |= {
                "account_id": ids[pos][order], "name": names[pos][order], "value": xd,
                "share": sh, "cumulative_share": cum,
                "rank": np.arange(1, xd.size + 1), "abc_class": cls,
                "major_customer": (xd >= thr * total * (1 - 1e-12)) & (total > 0),
            }
            frames.append(pd.DataFrame(block))
    return pd.concat(frames, ignore_index=True)


def _summary_row(x: FloatArray, ks: Sequence[int], c: FloatArray, thr: float,
                 ids: ObjArray) -> dict[str, Any]:
    n = x.size
    total = float(x.sum())
    row: dict[str, Any] = {"n_accounts": n, "total": total}
    if not total > 0:
        return row  # other columns become NaN
    xa = np.sort(x)  # the one sort: ascending, contiguous
    s = xa[::-1] / total  # shares, largest first (contiguous copy)
    cum = np.cumsum(s)
    row["largest_account"] = ids[int(np.argmax(x))]  # first of equals in table order
    for k in ks:
        row[f"cr{k}"] = float(min(1.0, cum[min(k, n) - 1]))
    h = float(np.dot(s, s))
    row["hhi"] = h
    row["hhi_points"] = h * 10_000.0
    row["hhi_normalized"] = 1.0 if n == 1 else max(0.0, (h - 1 / n) / (1 - 1 / n))
    row["effective_accounts"] = 1.0 / h
    row["gini"] = _gini_sorted_asc(xa)
    pos = s[s > 0]
    row["theil"] = max(0.0, math.log(n) + float(np.dot(pos, np.log(pos))))
    cum_before = np.concatenate([[0.0], cum[:-1]])
    cls = np.searchsorted(np.cumsum(c)[:-1], cum_before + 1e-12, side="right")
    counts = np.bincount(cls, minlength=c.size)
    for j in range(c.size):
        row[f"n_class_{_ABC_LABELS[j]}"] = int(counts[j])
    major = s >= thr * (1 - 1e-12)
    row["n_major_customers"] = int(major.sum())
    row["major_customers_share"] = float(s[major].sum())
    row["hmg2010_band_reference"] = hhi_band(min(h * 10_000.0, 10_000.0), "2010")
    row["hmg2023_band_reference"] = hhi_band(min(h * 10_000.0, 10_000.0), "2023")
    return row


def summary(
    portfolio: Portfolio,
    measure: str | Sequence[str] | None = None,
    *,
    by: str | None = None,
    k: Sequence[int] = (1, 5, 10),
    cutoffs: Sequence[float] = _DEFAULT_CUTOFFS,
    major_threshold: float = MAJOR_CUSTOMER_THRESHOLD,
) -> pd.DataFrame:
    """Headline concentration figures of a portfolio, one row per measure (and group).

    Parameters
    ----------
    portfolio : Portfolio
    measure : str or sequence of str, optional
        Measures to summarise; default revenue, plus gross profit when margins are known.
    by : str, optional
        Column to group by (e.g. ``"segment"``, ``"region"``): one row per group.
    k : sequence of int
        Concentration ratios to report (columns ``cr1``, ``cr5``, ...).
    cutoffs : sequence of float
        ABC class shares (default 80/15/5).
    major_threshold : float
        Major-customer share (default 10 %).

    Returns
    -------
    pandas.DataFrame
        Columns: ``measure``, [``by``], ``n_accounts``, ``total``, ``share_of_total``
        (the group's share of the whole portfolio), ``largest_account`` (its id),
        ``cr<k>``, ``hhi`` (fraction), ``hhi_points`` (0-10,000), ``hhi_normalized``,
        ``effective_accounts`` (1/HHI), ``gini`` (population form), ``theil``,
        ``n_class_A/B/C`` (ABC counts), ``n_major_customers`` and
        ``major_customers_share`` (accounts at or above 10 % of the measure: for revenue,
        the ASC 280-10-50-42 / IFRS 8.34 disclosure threshold), ``hmg2010_band_reference``
        and ``hmg2023_band_reference`` (US merger-guidelines HHI bands: external
        conventions for seller markets quoted for orientation, not kamsim's verdicts).
        A group whose total is zero has NaN figures.

    Examples
    --------
    >>> from kamsim.portfolio.datasets import load_wholesale
    >>> s = summary(load_wholesale())
    >>> round(float(s.loc[0, "hhi"]), 10), round(float(s.loc[0, "gini"]), 10)
    (0.0036995448, 0.3640222371)
    >>> s.loc[0, "hmg2010_band_reference"]
    'unconcentrated'
    """
    ks = list(k)
    if not ks or any(isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1
                     for v in ks):
        msg = f"must be whole numbers >= 1, got {k!r}"
        raise AssumptionError(msg, field="k")
    c = _check_cutoffs(cutoffs)
    thr = _check_threshold(major_threshold)
    ids = portfolio.account_ids
    rows: list[dict[str, Any]] = []
    for m in _measures(portfolio, measure):
        x = measure_values(portfolio, m)
        grand = float(x.sum())
        for key, pos in _groups(portfolio, by):
            head: dict[str, Any] = {"measure": m}
            if by is not None:
                head[by] = key
            r = _summary_row(x[pos], ks, c, thr, ids[pos])
            r["share_of_total"] = r["total"] / grand
            rows.append(head | r)
    cols = (["measure"] + ([by] if by is not None else [])
            + ["n_accounts", "total", "share_of_total", "largest_account"]
            + [f"cr{v}" for v in ks]
            + ["hhi", "hhi_points", "hhi_normalized", "effective_accounts", "gini", "theil"]
            + [f"n_class_{_ABC_LABELS[j]}" for j in range(c.size)]
            + ["n_major_customers", "major_customers_share", "hmg2010_band_reference",
               "hmg2023_band_reference"])
    return pd.DataFrame(rows).reindex(columns=cols)


def major_customers(
    portfolio: Portfolio, *, threshold: float = MAJOR_CUSTOMER_THRESHOLD
) -> pd.DataFrame:
    """List the customers at or above ``threshold`` (default 10 %) of total revenue.

    10 % of revenue from a single external customer is the level at which
    ASC 280-10-50-42 (US GAAP) and IFRS 8.34 require an entity to disclose that
    reliance and the amount of revenue from each such customer.

    Returns
    -------
    pandas.DataFrame
        ``account_id, name, revenue, share, note``, largest first (possibly empty).

    Examples
    --------
    >>> from kamsim.portfolio.datasets import load_sample
    >>> major_customers(load_sample())[["account_id", "share"]].round(2).values.tolist()
    [['A0042', 0.18]]
    """
    thr = _check_threshold(threshold)
    x = measure_values(portfolio, "revenue")
    s = x / x.sum()
    flag = x >= thr * x.sum() * (1 - 1e-12)
    pos = np.flatnonzero(flag)
    pos = pos[np.argsort(-x[pos], kind="stable")]
    note = MAJOR_CUSTOMER_NOTE if math.isclose(thr, 0.10) else (
        f"revenue from this customer is >= {thr:.0%} of total revenue")
    return pd.DataFrame({
        "account_id": portfolio.account_ids[pos], "name": portfolio.names[pos],
        "revenue": x[pos], "share": s[pos], "note": [note] * pos.size,
    })
