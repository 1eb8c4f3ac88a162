"""How data gets in: :class:`Portfolio`, the account readers, the ledger, the bundled datasets."""

from __future__ import annotations

from kamsim.portfolio import datasets, tables
from kamsim.portfolio.accounts import (
    CANONICAL_COLUMNS,
    LINE_PREFIX,
    ColumnSpec,
    Portfolio,
    parse_dates,
    read_accounts,
)
from kamsim.portfolio.ledger import (
    from_ledger,
    ledger_lines,
)

__all__ = [
    "CANONICAL_COLUMNS",
    "LINE_PREFIX",
    "ColumnSpec",
    "Portfolio",
    "datasets",
    "from_ledger",
    "ledger_lines",
    "parse_dates",
    "read_accounts",
    "tables",
]
