"""The house: layers import only downward, no import cycles, package data never drifts
from the project's top-level copies, tests use public names only."""

from __future__ import annotations

import ast
import filecmp
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

from tests.conftest import ROOT

PKG = ROOT / "kamsim"


def test_import_contracts_hold():
    """import-linter's contracts in pyproject.toml (the layer order) are all kept."""
    lint = Path(sys.executable).with_name("lint-imports")
    out = subprocess.run([str(lint), "--config", str(ROOT / "pyproject.toml")], cwd=ROOT,
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert " 0 broken" in out.stdout


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Every elementary cycle found by a depth-first search (Tarjan's SCCs of size > 1)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    sccs: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.find_modules_directly_imported_by(v):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                sccs.append(sorted(comp))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for m in sorted(graph.modules):
        if m not in index:
            visit(m)
    return sccs


def _module_graph() -> grimp.ImportGraph:
    g = grimp.build_graph("kamsim", cache_dir=None)
    # a package's face (__init__) importing its own modules is how faces work, and Python's
    # import of ``kamsim.x.y`` always runs ``kamsim.x`` first: only module-to-module edges
    # between different files count as cycles, so drop the edges *into* package faces
    for m in list(g.modules):
        if (PKG / Path(*m.split(".")[1:]) / "__init__.py").exists():
            for importer in list(g.find_modules_that_directly_import(m)):
                g.remove_import(importer=importer, imported=m)
    return g


def test_no_import_cycles():
    """No two modules import each other, directly or through others."""
    assert _cycles(_module_graph()) == []


def test_no_imports_inside_functions_outside_the_cli():
    """kamsim modules import kamsim at module level (no function-level imports that dodge
    a cycle); only the CLI defers its heavy sub-commands to keep ``kamsim summary`` fast."""
    offenders = []
    for path in PKG.rglob("*.py"):
        if path.name == "cli.py":
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                for inner in ast.walk(node):
                    if (isinstance(inner, ast.ImportFrom) and (inner.module or "")
                            .startswith("kamsim")):
                        offenders.append(f"{path.relative_to(ROOT)}:{inner.lineno}")
    assert offenders == []


_MIRRORS = [
    (ROOT / "data", PKG / "portfolio" / "data", "*"),
    (ROOT / "notebooks", PKG / "apps" / "notebooks", "0*.ipynb"),
    (ROOT / "notebooks", PKG / "views" / "report", "board_report.ipynb"),
]


@pytest.mark.parametrize(("top", "pkg", "pattern"), _MIRRORS,
                         ids=["data", "explorer-notebooks", "report-notebook"])
def test_package_data_matches_the_top_level_copies(top, pkg, pattern):
    """The top-level data/ and notebooks/ are the source; the package ships identical copies
    (``make package-data`` refreshes them)."""
    names = sorted(p.name for p in top.glob(pattern))
    assert names, f"nothing matches {pattern} in {top}"
    shipped = sorted(p.name for p in pkg.glob(pattern))
    assert shipped == names, "run `make package-data`"
    _, mismatch, errors = filecmp.cmpfiles(top, pkg, names, shallow=False)
    assert mismatch == [], "run `make package-data`"
    assert errors == []


def test_tests_import_public_names_only():
    """Tests import names, never ``_private`` ones, from kamsim."""
    offenders = []
    for path in (ROOT / "tests").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("kamsim"):
                offenders += [f"{path.name}: {node.module}.{a.name}" for a in node.names
                              if a.name.startswith("_")]
    assert offenders == []


def test_tests_mirror_the_sub_packages():
    """Every test module lives in the folder of the layer it tests (or at the top for the
    project-wide checks), so a flat test file is a test someone forgot to place."""
    top_level = {"test_architecture.py", "test_docs.py", "test_project.py"}
    layers = {p.name for p in PKG.iterdir() if (p / "__init__.py").exists()} - {"_util"}
    stray = [p.name for p in (ROOT / "tests").glob("test_*.py") if p.name not in top_level]
    assert stray == [], "move these into tests/<layer>/"
    folders = {p.parent.name for p in (ROOT / "tests").glob("*/test_*.py")} - {"browser"}
    assert folders <= layers | {"util"}
