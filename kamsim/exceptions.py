"""Exceptions raised by kamsim.

All kamsim errors derive from :class:`KamsimError`. Errors about user data carry the
file, column and rows they concern so that a caller (or a person) can fix the input.
"""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike

__all__ = ["AssumptionError", "InputDataError", "KamsimError"]


class KamsimError(Exception):
    """Base class of every error kamsim raises on purpose."""


class InputDataError(KamsimError, ValueError):
    """Bad input data: a file, table, column or value that kamsim cannot use.

    Parameters
    ----------
    message : str
        What is wrong and how to fix it.
    path : str or os.PathLike, optional
        The file the data came from, if any.
    column : str, optional
        The column concerned, if any.
    rows : sequence of int, optional
        Spreadsheet row numbers of the offending rows (the header is row 1, the first
        account row 2), whatever the source.

    Examples
    --------
    >>> err = InputDataError("revenue must be >= 0", path="a.csv", column="revenue", rows=[3])
    >>> str(err)
    "a.csv: column 'revenue', row 3: revenue must be >= 0"
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | PathLike[str] | None = None,
        column: str | None = None,
        rows: Sequence[int] | None = None,
    ) -> None:
        self.message = message
        self.path = None if path is None else str(path)
        self.column = column
        self.rows = None if rows is None else list(rows)
        super().__init__(self._format())

    def _format(self) -> str:
        where: list[str] = []
        if self.path is not None:
            where.append(self.path)
        if self.column is not None:
            where.append(f"column {self.column!r}")
        if self.rows:
            shown = ", ".join(str(r) for r in self.rows[:10])
            more = f" (+{len(self.rows) - 10} more)" if len(self.rows) > 10 else ""
            where.append(f"row{'s' if len(self.rows) > 1 else ''} {shown}{more}")
        if self.path is not None:
            head = self.path + (": " + ", ".join(where[1:]) if len(where) > 1 else "")
        else:
            head = ", ".join(where)
        return f"{head}: {self.message}" if head else self.message


class AssumptionError(KamsimError, ValueError):
    """An assumption (churn, replacement, pricing, ...) has an invalid value.

    Parameters
    ----------
    message : str
        What is wrong and how to fix it.
    field : str, optional
        The name of the offending field, e.g. ``"correlation"``.

    Examples
    --------
    >>> str(AssumptionError("must be in [0, 1)", field="correlation"))
    'correlation: must be in [0, 1)'
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.message = message
        self.field = field
        super().__init__(f"{field}: {message}" if field else message)
