"""Small I/O helpers: atomic writes and spreadsheet-safe cells."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["atomic_write_bytes", "atomic_write_text", "neutralise_formulas", "sha256_file"]

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, renamed).

    A reader never sees a half-written file, and a failure leaves any old file intact.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; use the usual mode
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def atomic_write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> Path:
    """Write text atomically; see :func:`atomic_write_bytes`."""
    return atomic_write_bytes(path, text.encode(encoding))


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's bytes."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def neutralise_formulas(df: pd.DataFrame) -> pd.DataFrame:
    """Copy of ``df`` whose text cells cannot run as spreadsheet formulas.

    Text cells starting with ``= + - @`` (or tab/CR) get a leading apostrophe, the
    OWASP-recommended defence against CSV/formula injection. Numbers are untouched.

    Examples
    --------
    >>> neutralise_formulas(pd.DataFrame({"name": ["=1+1", "ok"], "x": [-1, 2]}))["name"].tolist()
    ["'=1+1", 'ok']
    """

    def fix(v: Any) -> Any:
        if isinstance(v, str) and v.startswith(_FORMULA_START):
            return "'" + v
        return v

    out = df.copy()
    for c in out.columns:
        if out[c].dtype == object or pd.api.types.is_string_dtype(out[c].dtype):
            out[c] = out[c].map(fix)
    return out
