"""kamsim: key-account-management scenario planning.

Measure how much revenue leans on a few key accounts, simulate losing them, and plan
the response. See the README for a tour.
"""

from importlib.metadata import PackageNotFoundError, version

from kamsim.exceptions import AssumptionError, InputDataError, KamsimError
from kamsim.portfolio import CANONICAL_COLUMNS, Portfolio, from_ledger, read_accounts

try:
    __version__ = version("kamsim")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

__all__ = [
    "CANONICAL_COLUMNS",
    "AssumptionError",
    "InputDataError",
    "KamsimError",
    "Portfolio",
    "__version__",
    "from_ledger",
    "read_accounts",
]
