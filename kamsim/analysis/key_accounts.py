"""Which accounts are key: a weighted multi-criteria score and tiers.

Each criterion (volume, product lines, profit, national presence, proximity, growth,
simplicity, ...) is normalised once to [0, 1]; a weighted sum ranks the accounts and
:class:`TierRule` turns the ranks into ``"key"`` / ``"strategic"`` / ``"standard"`` tiers
that can be fed back to the churn assumptions as a ``tier`` column. Each criterion's
contribution to an account's score is kept, so a score can be explained.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.stats import rankdata

from kamsim._util.validate import choice
from kamsim.analysis.concentration import MAJOR_CUSTOMER_THRESHOLD, TIERS, measure_values
from kamsim.exceptions import AssumptionError, InputDataError
from kamsim.portfolio import Portfolio

__all__ = [
    "CRITERIA",
    "CRITERION_DESCRIPTIONS",
    "DEFAULT_WEIGHTS",
    "KeyAccountCriteria",
    "KeyAccountScores",
    "MissingCriterionWarning",
    "TierRule",
    "key_account_criteria",
    "key_account_scores",
]

FloatArray = npt.NDArray[np.float64]
ObjArray = npt.NDArray[np.object_]

_TIER_ARRAY = np.array(TIERS, dtype=object)


# ---------------------------------------------------------------------------------------
# key-account scoring

#: Scoring criteria, in the order of the columns of :attr:`KeyAccountCriteria.matrix`.
CRITERIA: tuple[str, ...] = (
    "volume", "product_line", "profit", "national", "proximity", "growth", "simplicity",
)

#: How each criterion is measured and normalised to [0, 1].
CRITERION_DESCRIPTIONS: Mapping[str, str] = MappingProxyType({
    "volume": "share of total revenue / reference_share (10 %), capped at 1",
    "product_line": "share of one product line's revenue (by default the account's "
                    "largest share over all line_* columns) / reference_share, capped at 1",
    "profit": "share of the total gross profit of profitable accounts / reference_share, "
              "capped at 1 (loss-making accounts score 0)",
    "national": "1 for national / international accounts, 0 otherwise",
    "proximity": "percentile rank of closeness (distance_km): nearest 1, farthest 0",
    "growth": "percentile rank of expected growth: fastest 1, slowest 0",
    "simplicity": "percentile rank of cost_to_serve / revenue: cheapest to serve 1, "
                  "most expensive 0",
})

#: Illustrative default weights (not calibrated to any business: set your own).
DEFAULT_WEIGHTS: Mapping[str, float] = MappingProxyType({
    "volume": 0.30, "product_line": 0.10, "profit": 0.20, "national": 0.10,
    "proximity": 0.05, "growth": 0.15, "simplicity": 0.10,
})

_REQUIRES = {
    "product_line": "line_* product-line columns", "profit": "gross_margin or gross_profit",
    "national": "national", "proximity": "distance_km", "growth": "growth",
    "simplicity": "cost_to_serve",
}


class MissingCriterionWarning(UserWarning):
    """A weighted criterion was skipped because the portfolio lacks its data."""


def _percentile(x: FloatArray) -> FloatArray:
    """Average-rank percentile in [0, 1]; all ties (and n = 1) give 0.5."""
    n = x.size
    if n == 1:
        return np.array([0.5])
    r = rankdata(x, method="average")
    return np.asarray((r - 1.0) / (n - 1.0), dtype=np.float64)


@dataclass(frozen=True, slots=True, kw_only=True)
class TierRule:
    """How scores become tiers ``"key"``, ``"strategic"``, ``"standard"``.

    Parameters
    ----------
    method : {"threshold", "top_k"}
        ``"threshold"``: score >= ``key`` is key, >= ``strategic`` is strategic.
        ``"top_k"``: the ``key`` best-scoring accounts are key, the next ``strategic``
        strategic.
    key, strategic : float
        Score thresholds in [0, 1] with ``strategic <= key`` (method ``"threshold"``) or
        whole numbers of accounts >= 0 (method ``"top_k"``).

    Examples
    --------
    >>> TierRule(method="top_k", key=3, strategic=10)
    TierRule(method='top_k', key=3, strategic=10)
    """

    method: Literal["threshold", "top_k"] = "threshold"
    key: float = 0.5
    strategic: float = 0.3

    def __post_init__(self) -> None:
        match self.method:
            case "threshold":
                k, s = float(self.key), float(self.strategic)
                if not (0.0 <= s <= k <= 1.0):
                    msg = (f"thresholds must satisfy 0 <= strategic <= key <= 1, got "
                           f"key={self.key!r}, strategic={self.strategic!r}")
                    raise AssumptionError(msg, field="tiers")
            case "top_k":
                for name, v in (("key", self.key), ("strategic", self.strategic)):
                    if isinstance(v, bool) or float(v) != int(v) or v < 0:
                        msg = f"top_k {name} must be a whole number >= 0, got {v!r}"
                        raise AssumptionError(msg, field="tiers")
            case _:
                choice(self.method, "method", ("threshold", "top_k"))

    def assign(self, score: FloatArray, order: npt.NDArray[np.intp]) -> ObjArray:
        """Tiers for ``score`` given the ranking ``order`` (positions, best first)."""
        code = np.full(score.size, 2, dtype=np.intp)  # index into TIERS
        match self.method:
            case "threshold":
                code[score >= self.strategic] = 1
                code[score >= self.key] = 0
            case _:
                nk, ns = int(self.key), int(self.strategic)
                code[order[:nk]] = 0
                code[order[nk:nk + ns]] = 1
        return np.asarray(_TIER_ARRAY[code])


@dataclass(frozen=True, slots=True, eq=False)
class KeyAccountScores:
    """Weighted key-account scores, ranks, tiers and per-criterion contributions.

    Arrays are in portfolio order. ``score = contributions.sum(axis=1)``; each
    contribution is ``weight * normalised criterion`` with weights normalised to add up
    to 1 over the criteria used, so scores lie in [0, 1].

    Attributes
    ----------
    account_ids, names : numpy.ndarray
    criteria : tuple of str
        The criteria used (available in the portfolio).
    weights : Mapping[str, float]
        Normalised weights of ``criteria``.
    score : numpy.ndarray
    contributions : numpy.ndarray
        n x len(criteria).
    rank : numpy.ndarray
        1 = best; ties broken by revenue, then table order.
    tier : numpy.ndarray of str
    tier_rule : TierRule
    skipped : Mapping[str, str]
        Criteria not available in the portfolio, with the reason.
    """

    account_ids: ObjArray
    names: ObjArray
    criteria: tuple[str, ...]
    weights: Mapping[str, float]
    score: FloatArray
    contributions: FloatArray
    rank: npt.NDArray[np.int64]
    tier: ObjArray
    tier_rule: TierRule
    skipped: Mapping[str, str] = field(default_factory=dict)

    def to_frame(self, *, sort: bool = True) -> pd.DataFrame:
        """Tidy table ``account_id, name, score, rank, tier, contrib_<criterion>...``.

        Sorted by rank (best first) unless ``sort=False`` (portfolio order).
        """
        n = self.score.size
        if sort:  # rank is a permutation of 1..n: invert it in O(n)
            idx = np.empty(n, dtype=np.intp)
            idx[self.rank - 1] = np.arange(n)
        else:
            idx = np.arange(n)
        cols: dict[str, Any] = {
            "account_id": self.account_ids[idx], "name": self.names[idx],
            "score": self.score[idx], "rank": self.rank[idx], "tier": self.tier[idx],
        }
        cols |= {f"contrib_{c}": self.contributions[:, j][idx]
                 for j, c in enumerate(self.criteria)}
        return pd.DataFrame(cols)

    def tier_column(self) -> list[str]:
        """Tiers in portfolio order, for ``portfolio.replace(tier=...)``."""
        return [str(t) for t in self.tier]

    def tier_counts(self) -> pd.Series:
        """Count the accounts per tier (key, strategic, standard)."""
        counts = pd.Series(self.tier).value_counts()
        return counts.reindex(list(TIERS), fill_value=0).rename("n_accounts")


@dataclass(frozen=True, slots=True, eq=False)
class KeyAccountCriteria:
    """Normalised key-account criteria of a portfolio, computed once.

    Build with :func:`key_account_criteria`. :meth:`score` applies weights with one
    matrix-vector product, so re-weighting (a slider) is cheap.

    Attributes
    ----------
    account_ids, names : numpy.ndarray
    criteria : tuple of str
        Available criteria, the columns of ``matrix``.
    matrix : numpy.ndarray
        n x len(criteria) normalised values in [0, 1] (read-only); see
        :data:`CRITERION_DESCRIPTIONS`.
    revenue : numpy.ndarray
        For tie-breaking ranks.
    revenue_order : numpy.ndarray
        Positions by revenue, largest first (ties in table order).
    skipped : Mapping[str, str]
        Criteria the portfolio has no data for, with the reason.
    """

    account_ids: ObjArray
    names: ObjArray
    criteria: tuple[str, ...]
    matrix: FloatArray
    revenue: FloatArray
    revenue_order: npt.NDArray[np.intp]
    skipped: Mapping[str, str] = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        """Tidy table ``account_id, name, <criterion>...`` of normalised values."""
        df = pd.DataFrame({"account_id": self.account_ids, "name": self.names})
        for j, c in enumerate(self.criteria):
            df[c] = self.matrix[:, j]
        return df

    def weight_vector(self, weights: Mapping[str, float] | None = None) -> FloatArray:
        """Normalised weights over :attr:`criteria` (warns about skipped criteria).

        Criteria not named get weight 0. Weights on criteria the portfolio has no data
        for are dropped with a :class:`MissingCriterionWarning`; the rest are rescaled
        to add up to 1.

        Raises
        ------
        AssumptionError
            For an unknown criterion, a negative or non-finite weight, or weights that
            are all zero on the available criteria.
        """
        w = DEFAULT_WEIGHTS if weights is None else weights
        unknown = [k for k in w if k not in CRITERIA]
        if unknown:
            msg = f"unknown criteria {unknown}; valid criteria are {list(CRITERIA)}"
            raise AssumptionError(msg, field="weights")
        for k, v in w.items():
            if not (math.isfinite(float(v)) and float(v) >= 0):
                msg = f"weight of {k!r} must be a finite number >= 0, got {v!r}"
                raise AssumptionError(msg, field="weights")
        dropped = [k for k, v in w.items() if k in self.skipped and float(v) > 0]
        if dropped:
            why = "; ".join(f"{k}: {self.skipped[k]}" for k in dropped)
            warnings.warn(f"criteria skipped, not guessed ({why}); the remaining weights "
                          "are rescaled to add up to 1", MissingCriterionWarning,
                          stacklevel=3)
        vec = np.array([float(w.get(c, 0.0)) for c in self.criteria], dtype=np.float64)
        total = vec.sum()
        if not total > 0:
            msg = (f"all weights on the available criteria {list(self.criteria)} are zero; "
                   "give at least one a positive weight")
            raise AssumptionError(msg, field="weights")
        return np.asarray(vec / total, dtype=np.float64)

    def score(
        self,
        weights: Mapping[str, float] | None = None,
        *,
        tiers: TierRule | None = None,
    ) -> KeyAccountScores:
        """Weighted scores, ranks and tiers (see :func:`key_account_scores`)."""
        rule = TierRule() if tiers is None else tiers
        w = self.weight_vector(weights)
        contrib = self.matrix * w
        score = self.matrix @ w
        # rank by score, ties by revenue, then table order: one stable sort of the
        # scores laid out in (precomputed) revenue order
        by_rev = self.revenue_order
        neg = -score[by_rev]
        o = np.argsort(neg)  # fast; a stable sort only when there are ties
        sd = neg[o]
        if np.any(sd[1:] == sd[:-1]):
            o = np.argsort(neg, kind="stable")
        order = by_rev[o]
        rank = np.empty(score.size, dtype=np.int64)
        rank[order] = np.arange(1, score.size + 1)
        tier = rule.assign(score, order)
        for arr in (score, contrib, rank, tier):
            arr.flags.writeable = False
        return KeyAccountScores(
            account_ids=self.account_ids, names=self.names, criteria=self.criteria,
            weights=MappingProxyType(dict(zip(self.criteria, w.tolist(), strict=True))),
            score=score, contributions=contrib, rank=rank,
            tier=tier, tier_rule=rule, skipped=self.skipped,
        )


def key_account_criteria(
    portfolio: Portfolio,
    *,
    product_line: str | None = None,
    reference_share: float = MAJOR_CUSTOMER_THRESHOLD,
) -> KeyAccountCriteria:
    """Normalise the key-account criteria of a portfolio to [0, 1], once.

    The criteria are the usual key-account criteria (:data:`CRITERION_DESCRIPTIONS`):

    * ``volume``: share of total revenue divided by ``reference_share`` (default 10 %,
      the major-customer level), capped at 1, so an 18 % account scores 1 and a 1 %
      account 0.1, whatever the size of the portfolio.
    * ``product_line``: the same for the share of one product line (``product_line``),
      or by default the account's largest share in any ``line_*`` column.
    * ``profit``: the same for the share of gross profit (losses count as 0).
    * ``national``: 1 or 0 from the ``national`` column.
    * ``proximity``, ``growth``, ``simplicity``: percentile ranks (0 worst, 1 best; ties
      share the average) of closeness (``distance_km``), ``growth`` and low
      ``cost_to_serve`` relative to revenue.

    Criteria whose columns are absent are listed in ``skipped`` (not guessed).

    Parameters
    ----------
    portfolio : Portfolio
    product_line : str, optional
        A ``line_*`` column for the product-line criterion.
    reference_share : float
        Share that scores 1 on the share-based criteria (default 0.10).

    Examples
    --------
    >>> from kamsim.portfolio.datasets import load_wholesale
    >>> crit = key_account_criteria(load_wholesale())
    >>> crit.criteria
    ('volume', 'product_line')
    >>> sorted(crit.skipped)
    ['growth', 'national', 'profit', 'proximity', 'simplicity']
    """
    ref = float(reference_share)
    if not 0.0 < ref <= 1.0:
        msg = f"must be a share in (0, 1], got {reference_share!r}"
        raise AssumptionError(msg, field="reference_share")
    rev = measure_values(portfolio, "revenue")
    n = rev.size
    cols: dict[str, FloatArray] = {}
    skipped: dict[str, str] = {}

    def cap(share: FloatArray) -> FloatArray:
        return np.minimum(share / ref, 1.0)

    cols["volume"] = cap(rev / rev.sum())
    lines = portfolio.product_lines
    if product_line is not None:
        if product_line not in lines:
            msg = f"is not a product-line column; the portfolio's lines are {lines}"
            raise InputDataError(msg, path=portfolio.source, column=product_line)
        lines = [product_line]
    if lines:
        best = np.zeros(n)
        for ln in lines:
            v = np.asarray(portfolio.column(ln), dtype=np.float64)
            t = v.sum()
            if t > 0:
                best = np.maximum(best, v / t)
        cols["product_line"] = cap(best)
    if portfolio.has_gross_profit:
        gp = np.clip(np.asarray(portfolio.gross_profit, dtype=np.float64), 0.0, None)
        if gp.sum() > 0:
            cols["profit"] = cap(gp / gp.sum())
        else:
            skipped["profit"] = "no account has a positive gross profit"
    if portfolio.has("national"):
        cols["national"] = np.asarray(portfolio.column("national"), dtype=np.float64)
    if portfolio.has("distance_km"):
        cols["proximity"] = 1.0 - _percentile(
            np.asarray(portfolio.column("distance_km"), dtype=np.float64))
    if portfolio.has("growth"):
        cols["growth"] = _percentile(np.asarray(portfolio.column("growth"), dtype=np.float64))
    if portfolio.has("cost_to_serve"):
        cts = np.asarray(portfolio.column("cost_to_serve"), dtype=np.float64)
        ratio = np.divide(cts, rev, out=np.full(n, np.inf), where=rev > 0)
        cols["simplicity"] = 1.0 - _percentile(ratio)
    for c in CRITERIA:
        if c not in cols and c not in skipped:
            skipped[c] = f"portfolio has no {_REQUIRES[c]} column"
    used = tuple(c for c in CRITERIA if c in cols)
    mat = np.column_stack([cols[c] for c in used]).astype(np.float64)
    mat.flags.writeable = False
    revenue = rev.copy()
    revenue.flags.writeable = False
    rev_order = np.argsort(-rev, kind="stable")
    rev_order.flags.writeable = False
    return KeyAccountCriteria(
        account_ids=portfolio.account_ids, names=portfolio.names, criteria=used,
        matrix=mat, revenue=revenue, revenue_order=rev_order,
        skipped=MappingProxyType({c: skipped[c] for c in CRITERIA if c in skipped}),
    )


def key_account_scores(
    portfolio: Portfolio | KeyAccountCriteria,
    weights: Mapping[str, float] | None = None,
    *,
    tiers: TierRule | None = None,
    product_line: str | None = None,
    reference_share: float = MAJOR_CUSTOMER_THRESHOLD,
) -> KeyAccountScores:
    """Multi-criteria key-account scores with user-set weights, ranks and tiers.

    Parameters
    ----------
    portfolio : Portfolio or KeyAccountCriteria
        A portfolio, or criteria already computed with :func:`key_account_criteria`
        (fast path for interactive re-weighting).
    weights : mapping of str to float, optional
        Weight per criterion (:data:`CRITERIA`); criteria not named get 0. Rescaled to add
        up to 1 over the criteria the portfolio has. Default :data:`DEFAULT_WEIGHTS`,
        which are illustrative, not calibrated: set your own.
    tiers : TierRule, optional
        Score thresholds (default key >= 0.5, strategic >= 0.3) or top-k counts.
    product_line, reference_share
        See :func:`key_account_criteria` (ignored when criteria are given).

    Returns
    -------
    KeyAccountScores
        ``.to_frame()`` shows each account's score, rank, tier and each criterion's
        contribution; ``.tier_column()`` feeds ``portfolio.replace(tier=...)``.

    Warns
    -----
    MissingCriterionWarning
        When a criterion with a positive weight has no data in the portfolio; it is
        skipped, not guessed.

    Examples
    --------
    >>> from kamsim.portfolio.datasets import load_sample
    >>> res = key_account_scores(load_sample(), {"volume": 1.0},
    ...                          tiers=TierRule(method="top_k", key=1, strategic=2))
    >>> res.to_frame()[["account_id", "score", "tier"]].head(2).round(2).values.tolist()
    [['A0042', 1.0, 'key'], ['A0162', 0.49, 'strategic']]
    """
    crit = (portfolio if isinstance(portfolio, KeyAccountCriteria)
            else key_account_criteria(portfolio, product_line=product_line,
                                      reference_share=reference_share))
    return crit.score(weights, tiers=tiers)
