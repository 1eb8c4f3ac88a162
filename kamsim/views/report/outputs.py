"""The report's output set, replaced as a whole by one rename.

A run writes every file (HTML, PDF, workbook, executed notebook, CSV tables and a
``manifest.json``) into a fresh *generation* folder ``DIR/.kamsim-report/gen-*``. When the
run has succeeded, one atomic rename switches the symbolic link
``DIR/.kamsim-report/current`` to the new generation. The names a user opens
(``DIR/board_report.html``, ``DIR/tables``, ...) are fixed links through ``current``, so
they show the old set or the new set, never a mixture, and a table the new run did not
write is gone rather than left over from an earlier run. Older generations and stale
staging folders of killed runs (``gen-*`` that are not current, ``.staging-*``) are
removed at the start of the next run, under a lock so two runs on one folder take turns.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kamsim._util.io import atomic_write_text, sha256_file
from kamsim.exceptions import KamsimError

__all__ = ["OUTPUT_NAMES", "STORE", "OutputSet", "clean_stale", "new_generation", "publish"]

#: Folder inside the output folder that holds the generations.
STORE = ".kamsim-report"

#: The names a user opens, each a link through ``STORE/current``.
OUTPUT_NAMES = ("board_report.html", "board_report.pdf", "board_report.xlsx",
                "board_report.ipynb", "tables", "manifest.json")


class OutputSet:
    """A generation being written (``path``) in an output folder (``out``)."""

    def __init__(self, out: Path, path: Path) -> None:
        self.out = out
        self.path = path

    def __repr__(self) -> str:
        return f"OutputSet({self.path})"


@contextlib.contextmanager
def _locked(out: Path) -> Iterator[None]:
    store = out / STORE
    store.mkdir(parents=True, exist_ok=True)
    with open(store / "lock", "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _current(out: Path) -> Path | None:
    link = out / STORE / "current"
    if not link.is_symlink():
        return None
    return (out / STORE / os.readlink(link)).resolve()


_PID = re.compile(r"^gen-[0-9T]+-p([0-9]+)-")


def _writer_alive(gen: Path) -> bool:
    """Whether another live process is still writing generation ``gen``."""
    m = _PID.match(gen.name)
    if m is None:
        return False
    pid = int(m.group(1))
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def clean_stale(out: str | os.PathLike[str]) -> list[Path]:
    """Remove generations that are not current and staging folders of earlier runs.

    A generation still being written by another live process (its process id is in its
    name) is kept, so two runs on one folder do not delete each other's work. Returns
    the removed paths.
    """
    root = Path(out)
    removed: list[Path] = []
    cur = _current(root)
    store = root / STORE
    for p in sorted(store.glob("gen-*")) if store.is_dir() else []:
        if _writer_alive(p):
            continue
        if cur is None or p.resolve() != cur:
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    for p in sorted(root.glob(".staging-*")):  # folders of kamsim before generations
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    for p in sorted(store.glob(".current-*")) if store.is_dir() else []:
        p.unlink(missing_ok=True)
        removed.append(p)
    return removed


def new_generation(out: str | os.PathLike[str]) -> OutputSet:
    """A fresh, empty generation folder in ``out`` (stale ones are cleaned first)."""
    root = Path(out).resolve()
    if root.exists() and not root.is_dir():
        msg = f"the report output {root} is a file; give a folder"
        raise KamsimError(msg)
    with _locked(root):
        clean_stale(root)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        path = Path(tempfile.mkdtemp(prefix=f"gen-{stamp}-p{os.getpid()}-",
                                     dir=root / STORE))
    return OutputSet(root, path)


def _link(target: str, link: Path) -> None:
    """Point ``link`` at ``target`` atomically (a temporary link renamed over it)."""
    tmp = link.with_name(f".{link.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    os.symlink(target, tmp)
    if link.is_dir() and not link.is_symlink():
        shutil.rmtree(link)  # an output folder of kamsim before generations
    os.replace(tmp, link)


def publish(gen: OutputSet, *, info: Mapping[str, Any] | None = None) -> dict[str, Path]:
    """Make ``gen`` the current output set: write its manifest, then one rename.

    Returns the user-facing path of every output in the set.
    """
    root, path = gen.out, gen.path
    files = sorted(p for p in path.rglob("*") if p.is_file())
    manifest = {
        "generation": path.name,
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "files": {str(p.relative_to(path)): sha256_file(p) for p in files},
        **dict(info or {}),
    }
    atomic_write_text(path / "manifest.json", json.dumps(manifest, indent=2, default=str))
    with _locked(root):
        _link(path.name, root / STORE / "current")  # the one rename that switches the set
        present = {n for n in OUTPUT_NAMES if (path / n).exists()}
        for name in OUTPUT_NAMES:
            link = root / name
            if name in present:
                if not (link.is_symlink() and os.readlink(link) == f"{STORE}/current/{name}"):
                    if link.exists() and not link.is_symlink() and not link.is_dir():
                        link.unlink()  # a file of kamsim before generations
                    _link(f"{STORE}/current/{name}", link)
            elif link.is_symlink() or link.is_file():
                link.unlink()  # not in the new set (or a file of the old layout)
            elif link.is_dir():
                shutil.rmtree(link)  # tables/ of kamsim before generations
        clean_stale(root)
    return {n: root / n for n in sorted(present)}
