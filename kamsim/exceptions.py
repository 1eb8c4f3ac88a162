"""Exceptions raised by kamsim.

All kamsim errors derive from :class:`KamsimError`. Errors about user data carry the
file, column and rows they concern so that a caller (or a person) can fix the input.
"""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from typing import Any

__all__ = ["ArgumentTypeError", "AssumptionError", "InputDataError", "KamsimError"]


class KamsimError(Exception):
    """Base class of every error kamsim raises on purpose.

    ``str(err)`` gives the message with advice in Python words (keyword arguments);
    :meth:`for_cli` gives the same message with advice in command-line words (flags,
    file edits) when the error carries a separate ``cli_fix``.
    """

    def __init__(self, message: str = "", *, fix: str | None = None,
                 cli_fix: str | None = None) -> None:
        self.message = message
        self.fix = fix
        self.cli_fix = cli_fix
        super().__init__(_with_fix(message, fix))

    def for_cli(self) -> str:
        """The message with the advice a command-line user can follow.

        Examples
        --------
        >>> err = InputDataError("has 2 sheets", path="a.xlsx", fix="pass sheet='Accounts'",
        ...                      cli_fix="move the accounts to the first sheet")
        >>> str(err)
        "a.xlsx: has 2 sheets; pass sheet='Accounts'"
        >>> err.for_cli()
        'a.xlsx: has 2 sheets; move the accounts to the first sheet'
        """
        return _with_fix(self.message, self.cli_fix or self.fix)


def _with_fix(text: str, fix: str | None) -> str:
    return f"{text}; {fix}" if fix else text


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
    values : sequence, optional
        The offending values (as read), for programs that want them.
    fix : str, optional
        How to fix it, in Python words (appended to the message after ``"; "``).
    cli_fix : str, optional
        How to fix it in command-line words, when they differ (see
        :meth:`KamsimError.for_cli`).

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
        values: Sequence[Any] | None = None,
        fix: str | None = None,
        cli_fix: str | None = None,
    ) -> None:
        self.message = message
        self.path = None if path is None else str(path)
        self.column = column
        self.rows = None if rows is None else list(rows)
        self.values = None if values is None else list(values)
        self.fix = fix
        self.cli_fix = cli_fix
        Exception.__init__(self, _with_fix(self._format(), fix))

    def for_cli(self) -> str:  # noqa: D102 - see KamsimError.for_cli
        return _with_fix(self._format(), self.cli_fix or self.fix)

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
    fix, cli_fix : str, optional
        How to fix it, in Python and in command-line words (see
        :meth:`KamsimError.for_cli`).

    Examples
    --------
    >>> str(AssumptionError("must be in [0, 1)", field="correlation"))
    'correlation: must be in [0, 1)'
    """

    def __init__(self, message: str, *, field: str | None = None, fix: str | None = None,
                 cli_fix: str | None = None) -> None:
        self.message = message
        self.field = field
        self.fix = fix
        self.cli_fix = cli_fix
        Exception.__init__(self, _with_fix(self._head(), fix))

    def _head(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message

    def for_cli(self) -> str:  # noqa: D102 - see KamsimError.for_cli
        return _with_fix(self._head(), self.cli_fix or self.fix)


class ArgumentTypeError(AssumptionError, TypeError):
    """An argument has the wrong type (also a :class:`TypeError`, for Python callers).

    Examples
    --------
    >>> isinstance(ArgumentTypeError("must be a Portfolio", field="portfolio"), TypeError)
    True
    """
