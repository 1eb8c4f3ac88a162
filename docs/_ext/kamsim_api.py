"""Write the API reference pages of kamsim from the package itself.

One page per sub-package (its docstring, its modules, the names it re-exports) and one
page per public module (its docstring, a summary table, then every public object it
defines, documented by autodoc and numpydoc). Objects are documented once, in the module
that defines them; re-exports (``kamsim.simulate``, ``kamsim.engine.simulate``) are listed
in the tables of the packages that re-export them and link to that home page (see
``_resolve_reexport`` in ``conf.py``).

The pages are written to ``docs/api/generated`` (git-ignored) before Sphinx reads the
sources, so a new module needs no hand-written page; modules and packages whose name
starts with ``_`` are internal and not documented.

Sphinx's own autosummary stub generation is not used for the pages because it resolves a
dotted name as an attribute before a module: ``kamsim.engine.simulate`` would be the
function ``simulate`` re-exported by ``kamsim.engine``, not the module of that name.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

#: Names each generated module page documents (filled while writing the pages).
DOCUMENTED: dict[str, set[str]] = {}

#: Order of the layers in the API index, lowest first (the import direction of the layout).
LAYER_ORDER = ["portfolio", "model", "risk", "engine", "analysis", "economics", "views",
               "apps", "exceptions"]


@dataclass
class Page:
    """One generated page: a package or a module."""

    name: str
    is_package: bool
    children: list[str] = field(default_factory=list)


def _public(name: str) -> bool:
    return not any(part.startswith("_") for part in name.split("."))


def _walk(root: str) -> dict[str, Page]:
    pages: dict[str, Page] = {}

    def visit(modname: str) -> None:
        mod = importlib.import_module(modname)
        is_pkg = hasattr(mod, "__path__")
        page = Page(modname, is_pkg)
        pages[modname] = page
        if is_pkg:
            for info in sorted(pkgutil.iter_modules(mod.__path__), key=lambda i: i.name):
                child = f"{modname}.{info.name}"
                if _public(child) and info.name != "__main__":
                    page.children.append(child)
                    visit(child)

    visit(root)
    return pages


def _defined_names(mod: ModuleType) -> set[str]:
    """Top-level names a module's own source defines (def, class, assignment)."""
    try:
        source = inspect.getsource(mod)
    except (OSError, TypeError):
        return set()
    names: set[str] = set()
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    names.add(target.id)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def _commented_names(modname: str) -> set[str]:
    """Module-level names documented by a ``#:`` comment or a string after them."""
    from sphinx.pycode import ModuleAnalyzer, PycodeError

    try:
        analyzer = ModuleAnalyzer.for_module(modname)
        analyzer.analyze()
    except PycodeError:
        return set()
    return {name for (scope, name) in analyzer.attr_docs if scope == ""}


def _kind(obj: Any) -> str:
    if inspect.isclass(obj):
        return "exception" if issubclass(obj, BaseException) else "class"
    if inspect.isfunction(obj) or inspect.isbuiltin(obj):
        return "function"
    return "data"


def _heading(text: str, char: str = "=") -> list[str]:
    return [text, char * len(text), ""]


def _summary_table(names: list[str]) -> list[str]:
    if not names:
        return []
    return [".. autosummary::", "   :nosignatures:", ""] + [f"   {n}" for n in names] + [""]


def _first_paragraph(mod: ModuleType) -> str:
    """A module's first paragraph, or its whole docstring when that is short."""
    doc = (inspect.getdoc(mod) or "").strip()
    paras = [" ".join(p.split()) for p in doc.split("\n\n") if p.strip()]
    if len(paras) > 1 and len(" ".join(paras[:2])) <= 200 and not doc.count("\n--"):
        return " ".join(paras[:2])
    return paras[0] if paras else ""


def module_table(names: list[str]) -> list[str]:
    """A two-column table: each module (linked) and the first paragraph of its docstring.

    Written out rather than left to autosummary, which would read ``kamsim.engine.simulate``
    as the function re-exported by ``kamsim.engine`` instead of the module.
    """
    out = [".. list-table::", "   :widths: 30 70", ""]
    for name in names:
        summary = _first_paragraph(importlib.import_module(name))
        out += [f"   * - :mod:`{name}`", f"     - {summary}"]
    return [*out, ""]


def _module_page(page: Page) -> list[str]:
    mod = importlib.import_module(page.name)
    own = _defined_names(mod)
    # a module without __all__ exports its public top-level definitions
    exported = list(getattr(mod, "__all__", sorted(n for n in own if not n.startswith("_"))))
    members: dict[str, list[str]] = {"function": [], "class": [], "exception": [], "data": []}
    commented = _commented_names(page.name)
    for name in exported:
        obj = getattr(mod, name)
        if inspect.ismodule(obj) or name not in own:
            continue  # documented in its own module
        kind = _kind(obj)
        if kind == "data" and name not in commented:
            continue  # a constant or alias without a ``#:`` comment has nothing to show
        members[kind].append(name)
    order = members["function"] + members["class"] + members["exception"] + members["data"]
    DOCUMENTED[page.name] = set(order)

    out = _heading(page.name)
    out += [f".. automodule:: {page.name}", "   :no-members:", ""]
    if order:
        out += _heading("Summary", "-")
        out += [f".. currentmodule:: {page.name}", ""]
        out += _summary_table(order)
        out += _heading("Reference", "-")
        for name in members["function"]:
            out += [f".. autofunction:: {name}", ""]
        for name in members["class"]:
            out += [f".. autoclass:: {name}", "   :members:", ""]
        for name in members["exception"]:
            out += [f".. autoexception:: {name}", "   :members:", "   :show-inheritance:", ""]
        for name in members["data"]:
            out += [f".. autodata:: {name}", "   :no-value:", ""]
    return out


def home_of(obj: Any, name: str) -> tuple[str, str] | None:
    """The module page that documents ``obj`` (re-exported as ``name``) and its name there."""
    if _kind(obj) != "data":
        home, own_name = getattr(obj, "__module__", ""), getattr(obj, "__qualname__", name)
        return (home, own_name) if own_name in DOCUMENTED.get(home, ()) else None
    for modname, names in DOCUMENTED.items():
        if name in names and getattr(sys.modules[modname], name, None) is obj:
            return modname, name
    return None


def _summary(obj: Any, home: str, name: str) -> str:
    """First paragraph of an object's documentation (a constant's ``#:`` comment)."""
    if _kind(obj) == "data":
        from sphinx.pycode import ModuleAnalyzer

        analyzer = ModuleAnalyzer.for_module(home)
        analyzer.analyze()
        text = "\n".join(analyzer.attr_docs.get(("", name), []))
    else:
        text = inspect.getdoc(obj) or ""
    return " ".join(text.strip().split("\n\n")[0].split())


def _reexport_table(mod: ModuleType, names: list[str]) -> list[str]:
    """Names a package re-exports, each linked to its home page, with its summary.

    Written out because autosummary looks for a constant's ``#:`` comment in the package
    (where there is none) and would print the docstring of ``int`` or ``tuple`` instead.
    """
    roles = {"function": "func", "class": "class", "exception": "exc", "data": "data"}
    out = [".. list-table::", "   :widths: 30 70", ""]
    for name in names:
        obj = getattr(mod, name)
        found = home_of(obj, name)
        if found is None:
            continue  # not documented anywhere (an alias or constant without a comment)
        home, own_name = found
        role = roles[_kind(obj)]
        out += [f"   * - :{role}:`{name} <{home}.{own_name}>`",
                f"     - {_summary(obj, home, own_name) or ' '}"]
    return [*out, ""]


def _package_page(page: Page, pages: dict[str, Page]) -> list[str]:
    mod = importlib.import_module(page.name)
    out = _heading(page.name)
    out += [f".. automodule:: {page.name}", "   :no-members:", ""]
    if page.children and page.name != "kamsim":  # the API index lists the top level
        out += _heading("Modules", "-")
        out += module_table(page.children)
        out += [".. toctree::", "   :hidden:", ""] + [f"   {c}" for c in page.children] + [""]
    own = _defined_names(mod)
    reexports = [n for n in getattr(mod, "__all__", [])
                 if not inspect.ismodule(getattr(mod, n)) and n not in own
                 and not n.startswith("__")]
    defined = [n for n in getattr(mod, "__all__", []) if n in own and not n.startswith("__")]
    if reexports:
        title = "Public names" if page.name == "kamsim" else f"Names in ``{page.name}``"
        out += _heading(title, "-")
        out += [f"Importable as ``{page.name}.NAME``; each links to the module that defines it.",
                ""]
        out += _reexport_table(mod, sorted(reexports, key=str.lower))
    if defined:
        out += _heading("Defined here", "-")
        out += [f".. currentmodule:: {page.name}", ""]
        out += _summary_table(defined)
        for name in defined:
            obj = getattr(mod, name)
            directive = {"function": "autofunction", "class": "autoclass",
                         "exception": "autoexception", "data": "autodata"}[_kind(obj)]
            out += [f".. {directive}:: {name}"]
            out += ["   :members:", ""] if _kind(obj) in ("class", "exception") else [""]
    return out


def write_pages(outdir: Path, root: str = "kamsim") -> list[str]:
    """Write one ``.rst`` per public package and module; return the top-level entries."""
    pages = _walk(root)
    outdir.mkdir(parents=True, exist_ok=True)
    for old in outdir.glob("*.rst"):
        old.unlink()
    DOCUMENTED.clear()
    ordered = sorted(pages.values(), key=lambda p: p.is_package)  # modules first
    for page in ordered:
        lines = _package_page(page, pages) if page.is_package else _module_page(page)
        (outdir / f"{page.name}.rst").write_text("\n".join(lines) + "\n", encoding="utf-8")
    top = pages[root].children
    rank = {name: i for i, name in enumerate(LAYER_ORDER)}
    return sorted(top, key=lambda n: (rank.get(n.split(".")[-1], len(rank)), n))


def write_index(path: Path, entries: list[str], root: str = "kamsim") -> None:
    """Write the API index: the public face, then the layers in import order."""
    lines = [
        "API reference",
        "=============",
        "",
        "Generated from the docstrings. The names users import are re-exported by the",
        f":doc:`package itself <generated/{root}>` (``kamsim.simulate``,",
        "``kamsim.read_accounts``, ...); below, the sub-packages in the order of the layers",
        "(each imports only from the ones above it in this list; see :doc:`../architecture`).",
        "",
    ]
    lines += module_table(entries)
    lines += [".. toctree::", "   :hidden:", "", f"   generated/{root}"]
    lines += [f"   generated/{e}" for e in entries] + [""]
    path.write_text("\n".join(lines), encoding="utf-8")
