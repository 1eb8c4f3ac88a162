"""Sphinx configuration for the kamsim documentation.

Built offline (no intersphinx, no remote images); ``make docs`` treats every warning as an
error.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Document the checkout being built, not another installed copy.
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MPLBACKEND", "Agg")

project = "kamsim"
author = "kamsim developers"
copyright = "kamsim developers, BSD-3-Clause"
release = importlib.import_module("kamsim").__version__  # the one version (pyproject.toml)
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
]

# No network at build time: no intersphinx inventories, mathjax from the theme's copy only if
# a page uses maths (none of ours needs it to read well without).
intersphinx_mapping: dict[str, tuple[str, str | None]] = {}

exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
root_doc = "index"
default_role = "py:obj"
# Every reference to a kamsim name must resolve (a moved or renamed object is a warning,
# so an error in `make docs`); references to other libraries are plain text, as
# intersphinx is off.
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(?!kamsim\.).*"),
    (r"py:.*", r".*\._.*"),  # private modules and names are not documented
]

# API reference: one page per public package and module, written by _ext/kamsim_api.py
# from the package itself (autosummary only draws the summary tables).
autosummary_generate = False
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"  # numpydoc's Parameters sections carry the types
autodoc_mock_imports: list[str] = []

numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks: set[str] = set()

html_theme = "pydata_sphinx_theme"
html_title = f"kamsim {release}"
html_static_path = ["_static"]
html_css_files = ["kamsim.css"]
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "navbar_align": "left",
    "header_links_before_dropdown": 6,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
    "secondary_sidebar_items": ["page-toc"],
}
html_sidebars: dict[str, list[str]] = {"index": [], "architecture": [], "development": []}
html_show_sourcelink = False
html_copy_source = False


# --- Re-exported names -------------------------------------------------------------------
# kamsim re-exports its public names from the package root and from each sub-package
# (``kamsim.simulate``), while the API pages document every object once, in the module that
# defines it. A reference to a re-exported name is sent to that home page.


def _resolve_reexport(app, env, node, contnode):
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "")
    if not target.startswith("kamsim."):
        # a short name in a docstring (``AssumptionError``): look it up in that module
        context = node.get("py:module") or ""
        if not context.startswith("kamsim") or not target.isidentifier():
            return None
        target = f"{context}.{target}"

    parts = target.split(".")
    obj = None
    for cut in range(len(parts) - 1, 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        break
    home_mod = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if inspect.ismodule(obj):
        return None
    if not home_mod or not qualname or not home_mod.startswith("kamsim"):
        # a constant: find the module page that documents this very object
        found = kamsim_api.home_of(obj, parts[-1])
        if found is None:
            return None
        home_mod, qualname = found
    home = f"{home_mod}.{qualname}"
    if home == target:
        return None
    domain = env.get_domain("py")
    builder = app.builder
    for role in ("obj", node.get("reftype", "obj")):
        found = domain.resolve_xref(env, node["refdoc"], builder, role, home, node, contnode)
        if found is not None:
            return found
    return None


def setup(app):
    """Register the resolver for re-exported names."""
    app.connect("missing-reference", _resolve_reexport)


# --- Tables generated from the code, so the guide cannot drift from it ------------------
GENERATED = Path(__file__).parent / "_generated"


def _rst_table(header: list[str], rows: list[list[str]], widths: str) -> str:
    def line(cells: list[str]) -> str:
        return "   * - " + "\n     - ".join(c.replace("\n", " ") or " " for c in cells)

    out = [".. list-table::", "   :header-rows: 1", f"   :widths: {widths}", ""]
    out += [line(header)] + [line(r) for r in rows]
    return "\n".join(out) + "\n"


def _write_generated() -> None:
    import json
    import re

    import kamsim

    GENERATED.mkdir(exist_ok=True)
    rows = []
    for name, spec in kamsim.CANONICAL_COLUMNS.items():
        rows.append([f"``{name}``", "required" if spec.required else "optional", spec.unit,
                     spec.description])
    rows.append(["``line_*``", "optional", "currency per year",
                 "Revenue of one product line (``line_core``, ``line_service``, ...)."])
    (GENERATED / "columns.inc").write_text(
        _rst_table(["column", "", "unit", "meaning"], rows, "20 12 18 50"), encoding="utf-8")

    nb = json.loads((ROOT / "notebooks" / "board_report.ipynb").read_text(encoding="utf-8"))
    cell = next(c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", []))
    pat = re.compile(r"^(\w+)\s*:\s*([\w\[\], |]+?)\s*=\s*(.+?)\s*#\s*(.*)$")
    rows = []
    for src in "".join(cell["source"]).splitlines():
        m = pat.match(src)
        if m:
            name, typ, default, comment = m.groups()
            rows.append([f"``{name}``", typ, f"``{default}``", comment])
    (GENERATED / "report_parameters.inc").write_text(
        _rst_table(["parameter", "type", "default", "meaning"], rows, "24 8 18 50"),
        encoding="utf-8")


_write_generated()


def _sample_figures() -> str:
    """Substitutions with the sample portfolio's headline figures, computed now.

    "Reading the figures" quotes them; computing them at build time (the same run as
    ``kamsim summary``: the sample scenario, 20,000 paths, seed 2026) keeps the prose true
    when the engine or the sample change.
    """
    import kamsim
    from kamsim.analysis import concentration
    from kamsim.portfolio.datasets import data_dir
    from kamsim.views.report import money

    sc = kamsim.Scenario.from_yaml(data_dir() / "sample_scenario.yaml")
    pf = sc.portfolio
    conc = concentration.summary(pf).set_index("measure").loc["revenue"]
    worst = kamsim.lose_top_k(pf, 2, fixed_costs=sc.fixed_costs).set_index("accounts_lost")
    res = kamsim.simulate(sc, n_paths=20_000, rng=2026, progress=False)
    risk = res.risk_table()
    values = {
        "n_accounts": f"{pf.n_accounts:,}",
        "revenue": money(pf.total_revenue),
        "fixed_costs": money(sc.fixed_costs),
        "horizon": f"{sc.horizon_months}-month",
        "cr1": f"{100 * conc['cr1']:.0f}\u00a0%",
        "cr5": f"{100 * conc['cr5']:.0f}\u00a0%",
        "hhi_points": f"{conc['hhi_points']:,.0f}",
        "effective": f"{conc['effective_accounts']:.0f}",
        "gini": f"{conc['gini']:.2f}",
        "top1_profit": money(worst.loc[1, "profit_after_fixed_costs"]),
        "top2_above": "stays above" if worst.loc[2, "above_break_even"] else "falls below",
        "expected_loss": money(res.mean("run_rate_lost")),
        "var95": money(risk.loc[0.95, "var"]),
        "es95": money(risk.loc[0.95, "es"]),
        "p_below": f"{100 * res.prob_below_break_even():.0f}\u00a0%",
    }
    return "\n".join(f".. |sample_{k}| replace:: {v}" for k, v in values.items()) + "\n"


rst_epilog = _sample_figures()

sys.path.insert(0, str(Path(__file__).parent / "_ext"))
import kamsim_api  # noqa: E402  (docs/_ext is on the path only from here)

kamsim_api.write_index(Path(__file__).parent / "api" / "index.rst",
                       kamsim_api.write_pages(Path(__file__).parent / "api" / "generated"))
