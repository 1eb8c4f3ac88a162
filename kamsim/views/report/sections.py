"""Report sections that depend on what the data has: key-account criteria, ledger lines.

A portfolio built from an invoice ledger (``kamsim report --ledger``) has revenue, and
a gross margin when one is given, but no tiers, product lines, national flags, distances,
growth or cost to serve. The report then scores key accounts on the criteria the data
has, says in words which criteria were absent and how the weights were rescaled
(:func:`key_account_section`), and shows in its appendix how the ledger's lines were
kept or excluded, reconciled to the cent (:func:`ledger_exclusions_view`).
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from kamsim._util.format import count, number, percent
from kamsim.analysis.key_accounts import (
    CRITERIA,
    DEFAULT_WEIGHTS,
    KeyAccountScores,
    MissingCriterionWarning,
    key_account_scores,
)
from kamsim.exceptions import InputDataError
from kamsim.portfolio import Portfolio
from kamsim.views.report.tables import BoardTable, board_table

__all__ = ["EXCLUSION_REASONS", "KeyAccountSection", "cents", "key_account_section",
           "ledger_exclusions_view", "read_exclusions"]

#: Criteria in words, for sentences (the table headers come from ``COLUMNS``).
_CRITERION_WORDS: Mapping[str, str] = {
    "volume": "volume (share of revenue)", "product_line": "product lines",
    "profit": "profit (share of gross profit)", "national": "national presence",
    "proximity": "proximity", "growth": "growth", "simplicity": "simplicity (cost to serve)",
}
#: What each absent criterion would need, in words.
_NEEDS: Mapping[str, str] = {
    "product_line": "revenue per product line", "profit": "gross margin or gross profit",
    "national": "national/international flag", "proximity": "distance",
    "growth": "expected growth", "simplicity": "cost to serve",
}


@dataclass(frozen=True, slots=True)
class KeyAccountSection:
    """The key-account scores of a portfolio and what the report says about them.

    Attributes
    ----------
    scores : KeyAccountScores
    table : BoardTable
        The ``top`` accounts with the contribution of each criterion the data has.
    note : str
        Markdown: the criteria used with their weights; with criteria absent, which ones,
        why, and how the weights were rescaled (empty-free: always a sentence).
    """

    scores: KeyAccountScores
    table: BoardTable
    note: str


def key_account_section(portfolio: Portfolio, *, top: int = 12,
                        weights: Mapping[str, float] | None = None) -> KeyAccountSection:
    """Score key accounts on the criteria the data has, and say so in words.

    The library's rule (:meth:`kamsim.analysis.key_accounts.KeyAccountCriteria.weight_vector`)
    is kept: criteria without data are skipped, never guessed, and the remaining weights
    are rescaled in proportion to add up to 100 %. The warning the library gives for
    that is turned into the sentence of :attr:`KeyAccountSection.note`.

    Examples
    --------
    >>> import pandas as pd
    >>> pf = Portfolio(pd.DataFrame({"account_id": ["a", "b"], "revenue": [3.0, 1.0],
    ...                              "gross_margin": [0.3, 0.3]}))
    >>> s = key_account_section(pf)
    >>> list(s.table.frame.columns)
    ['Name', 'Tier', 'Score (0 to 1)', 'Volume', 'Profit']
    >>> print(s.note.split(": ")[1].split(". ")[0])
    volume (share of revenue) 60 % and profit (share of gross profit) 40 %
    """
    w = dict(DEFAULT_WEIGHTS if weights is None else weights)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MissingCriterionWarning)  # said in the note
        scores = key_account_scores(portfolio, w)
    used = [c for c in scores.criteria if scores.weights[c] > 0]
    frame = scores.to_frame().head(int(top))
    table = board_table(frame, ["name", "tier", "score"] + [f"contrib_{c}" for c in used],
                        css_class="compact")
    parts = [f"{_CRITERION_WORDS[c]} {percent(scores.weights[c], 0)}" for c in used]
    absent = [c for c in CRITERIA if c in scores.skipped and float(w.get(c, 0.0)) > 0]
    if not absent:
        note = ("Scored on " + _join(parts) + " (kamsim's illustrative default weights: set "
                "your own in the concentration notebook).")
        return KeyAccountSection(scores, table, note)
    lost = sum(float(w[c]) for c in absent) / sum(float(v) for v in w.values())
    missing = [f"{_CRITERION_WORDS[c].split(' (')[0]} (no {_NEEDS.get(c, c)} column)"
               for c in absent]
    was = [f"{_CRITERION_WORDS[c]} {percent(float(w.get(c, 0.0)), 0)}" for c in used]
    note = (f"Scored on {len(used)} of the {len(CRITERIA)} criteria, the ones the data has: "
            f"{_join(parts)}. Not scored, because the data has nothing to measure them by: "
            f"{_join(missing)}; they are left out, not guessed. Their weights "
            f"({percent(lost, 0)} of the total) were shared out in proportion among the "
            f"criteria used, so the weights still add up to 100 % (by default "
            f"{_join(was)}). Add the missing columns to the accounts file to score on "
            "every criterion.")
    return KeyAccountSection(scores, table, note)


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


# ---------------------------------------------------------------------------------------
# ledger exclusions

#: Every exclusion reason of :func:`kamsim.portfolio.from_ledger`, in the order applied,
#: with its label in words.
EXCLUSION_REASONS: Mapping[str, str] = {
    "no customer id": "No customer id (walk-in or unknown buyers)",
    "outside period": "Dated outside the 12-month period",
    "cancelled invoice": "Cancelled invoices",
    "return or credit note": "Returns and credit notes",
    "net revenue <= 0": "Customers whose net revenue is zero or less",
}
_NETTED = ("cancelled invoice", "return or credit note")


def read_exclusions(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a ledger exclusions table (as ``kamsim report --ledger`` writes it).

    Returns the table indexed by ``reason`` with columns ``lines`` and ``amount``.

    Raises
    ------
    InputDataError
        If the file lacks the columns ``reason, lines, amount`` or the ``kept`` and
        ``ledger total`` rows.
    """
    p = Path(path)
    try:
        df = pd.read_csv(p, dtype={"reason": str})
    except (OSError, ValueError) as exc:
        raise InputDataError(f"cannot be read as a ledger exclusions table ({exc})",
                             path=p) from None
    missing = [c for c in ("reason", "lines", "amount") if c not in df.columns]
    rows = [r for r in ("kept", "ledger total") if "reason" in df and r not in set(df["reason"])]
    if missing or rows:
        raise InputDataError(f"is not a ledger exclusions table: missing column(s) {missing} "
                             f"or row(s) {rows}", path=p,
                             fix="write it with kamsim report --ledger (or from_ledger's "
                                 "Portfolio.exclusions)")
    return df.set_index("reason")


def cents(value: Any, currency: str = "€") -> str:
    """Money to the cent, for reconciliations: ``€9,747,747.93``, ``-€13,481.06``.

    Examples
    --------
    >>> cents(9747747.934), cents(-13481.060000000005), cents(0)
    ('€9,747,747.93', '-€13,481.06', '€0.00')
    """
    v = float(value)
    if not math.isfinite(v):
        return "–"
    r = round(v, 2)
    sign = "-" if r < 0 else ""
    return f"{sign}{currency}{number(abs(r), 2)}"


def ledger_exclusions_view(exclusions: pd.DataFrame, *, currency: str = "€"
                           ) -> tuple[BoardTable, str]:
    """The ledger's lines kept and excluded, to the cent, and the reconciliation sentence.

    Every reason :func:`kamsim.portfolio.from_ledger` applies is listed (none found: 0
    lines); cancelled invoices and returns read "netted off, inside kept" (no count of
    their own) when they were netted off the customers' revenue rather than excluded.
    The sentence checks, to the cent, that kept plus excluded is the ledger total.

    Examples
    --------
    >>> ex = pd.DataFrame({"lines": [2, 5, 7], "amount": [1.25, 98.75, 100.0]},
    ...                   index=pd.Index(["no customer id", "kept", "ledger total"],
    ...                                  name="reason"))
    >>> t, s = ledger_exclusions_view(ex)
    >>> t.frame.iloc[0].tolist()
    ['No customer id (walk-in or unknown buyers)', 'excluded', '2', '€1.25']
    >>> s.split(" = ")[1]
    '€100.00 (7 lines), the ledger total to the cent.'

    """
    ex = exclusions
    excluded = [r for r in ex.index if r not in ("kept", "ledger total")]
    rows = []
    for key, label in EXCLUSION_REASONS.items():
        if key in ex.index:
            rows.append((label, "excluded", ex.loc[key, "lines"], ex.loc[key, "amount"]))
        elif key in _NETTED:  # netted off their customers' revenue: inside "kept"
            rows.append((label, "netted off, inside kept", None, None))
        else:
            rows.append((label, "excluded", 0, 0.0))
    for key in excluded:  # a reason this version does not know: shown as it is
        if key not in EXCLUSION_REASONS:
            rows.append((str(key), "excluded", ex.loc[key, "lines"], ex.loc[key, "amount"]))
    lines = ex["lines"].astype("int64")
    amounts = ex["amount"].astype("float64")
    kept_lines, kept = int(lines["kept"]), float(amounts["kept"])
    tot_lines, total = int(lines["ledger total"]), float(amounts["ledger total"])
    rows.append(("Kept: the accounts analysed", "kept", kept_lines, kept))
    rows.append(("Ledger total", "", tot_lines, total))
    frame = pd.DataFrame({
        "Ledger lines": [r[0] for r in rows], "Treatment": [r[1] for r in rows],
        "Lines": [count(r[2]) for r in rows],
        "Amount": ["–" if r[3] is None else cents(r[3], currency) for r in rows]})
    table = BoardTable(frame, numeric=("Lines", "Amount"), css_class="compact")
    out_amount = float(amounts[excluded].sum())
    out_lines = int(lines[excluded].sum())
    gap = round(round(kept + out_amount, 2) - round(total, 2), 2)
    lines_ok = kept_lines + out_lines == tot_lines
    sentence = (f"Kept {cents(kept, currency)} ({count(kept_lines)} lines) + excluded "
                f"{cents(out_amount, currency)} ({count(out_lines)} lines) = "
                f"{cents(kept + out_amount, currency)} ({count(kept_lines + out_lines)} "
                "lines), ")
    if gap == 0 and lines_ok:
        sentence += "the ledger total to the cent."
    else:
        sentence += (f"against a ledger total of {cents(total, currency)} "
                     f"({count(tot_lines)} lines): they differ by {cents(gap, currency)}; "
                     "check the ledger export.")
    return table, sentence
