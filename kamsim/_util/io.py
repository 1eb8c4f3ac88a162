"""Small I/O helpers: atomic writes and spreadsheet-safe cells."""

from __future__ import annotations

import codecs
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from kamsim.exceptions import InputDataError

__all__ = ["atomic_write_bytes", "atomic_write_text", "decode_text", "neutralise_formulas",
           "sha256_file"]

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


_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
         (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
         (codecs.BOM_UTF16_BE, "utf-16"))


def guess_encoding(data: bytes) -> str | None:
    """The most likely text encoding of ``data`` (charset-normalizer), or None."""
    from charset_normalizer import from_bytes

    best = from_bytes(data[: 1 << 16]).best()
    return None if best is None else str(best.encoding)


def decode_text(data: bytes, *, path: str | os.PathLike[str] | None, what: str = "file",
                encoding: str | None = None) -> str:
    r"""Text of a file's bytes: UTF-8, or ``encoding`` when given.

    A UTF-8 byte-order mark is dropped; UTF-16/32 files with a BOM are read as such.

    Raises
    ------
    InputDataError
        If the bytes are not valid text in that encoding, naming the line and byte and
        the encoding the file most likely is in (charset-normalizer's guess).

    Examples
    --------
    >>> decode_text(b"\xef\xbb\xbfaccount_id,revenue\n", path=None)
    'account_id,revenue\n'
    >>> decode_text("Müller".encode("cp1252"), path="a.csv")
    Traceback (most recent call last):
    ...
    kamsim.exceptions.InputDataError: a.csv: is not UTF-8 text (byte 0xfc on line 1); ...
    """
    enc = encoding
    if enc is None or enc.lower().replace("_", "-") in ("utf-8", "utf8"):
        enc = "utf-8"
        for bom, name in _BOMS:
            if data.startswith(bom):
                enc = name
                break
    try:
        text = data.decode(enc)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        # charset-normalizer needs a few KB to tell cp1252 from its neighbours
        guess = guess_encoding(data) if len(data) >= 4096 else None
        if not guess or guess in ("utf_8", enc):
            guess = "cp1252"
        looks = f"; it is probably in a legacy encoding such as {guess}"
        py_hint = f", or pass encoding={guess!r} (or the file's real encoding)"
        raise InputDataError(
            f"is not {'UTF-8' if enc == 'utf-8' else enc} text (byte "
            f"0x{data[exc.start]:02x} on line {line}){looks}", path=path,
            fix=f"save the {what} as UTF-8 (in Excel: Save As > 'CSV UTF-8'){py_hint}",
            cli_fix=f"save the {what} as UTF-8 (in Excel: Save As > 'CSV UTF-8')",
        ) from None
    except LookupError:
        raise InputDataError(f"unknown text encoding {encoding!r}", path=path,
                             fix="pass a Python codec name such as 'utf-8' or 'cp1252'"
                             ) from None
    if "\x00" in text:
        raise InputDataError(
            f"holds NUL bytes, so it is not a text {what} (a binary file, or UTF-16 without "
            "a byte-order mark?)", path=path, fix=f"save the {what} as UTF-8 text")
    return text.removeprefix("\ufeff")


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
