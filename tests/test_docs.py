"""The documentation sources stay in step with the project (the build itself is `make docs`).

Every notebook has its page, every page is reachable, the Makefile builds with warnings as
errors, and no page points at a file outside the repository.
"""

from __future__ import annotations

import re

import pytest

from tests.conftest import ROOT

DOCS = ROOT / "docs"
# hand-written pages (docs/api/ is written at build time by docs/_ext/kamsim_api.py)
SOURCES = sorted(p for p in DOCS.rglob("*.rst")
                 if not {"_build", "api", "_generated"} & set(p.relative_to(DOCS).parts))


@pytest.mark.parametrize("notebook", sorted((ROOT / "notebooks").glob("*.ipynb")),
                         ids=lambda p: p.name)
def test_every_notebook_has_a_page(notebook):
    page = DOCS / "notebooks" / f"{notebook.stem}.rst"
    assert page.exists(), f"add docs/notebooks/{page.name} for {notebook.name}"
    index = (DOCS / "notebooks" / "index.rst").read_text(encoding="utf-8")
    assert f"\n   {notebook.stem}\n" in index, f"list {notebook.stem} in docs/notebooks/index.rst"
    assert notebook.name in page.read_text(encoding="utf-8")


def test_every_page_is_in_a_toctree():
    listed: set[str] = {"index", "api/index"}
    for src in SOURCES:
        text = src.read_text(encoding="utf-8")
        for block in re.findall(r"\.\. toctree::\n((?:[ \t]+.*\n|\n)+)", text):
            for entry in block.splitlines():
                entry = entry.strip()
                if entry and not entry.startswith(":"):
                    listed.add(str((src.parent / entry).relative_to(DOCS)).removesuffix(".rst"))
    pages = {str(p.relative_to(DOCS)).removesuffix(".rst") for p in SOURCES}
    assert pages - listed == set()


@pytest.mark.parametrize("src", SOURCES, ids=lambda p: str(p.relative_to(DOCS)))
def test_pages_point_only_inside_the_repository(src):
    text = src.read_text(encoding="utf-8")
    for target in re.findall(r"\.\. (?:literalinclude|include|image|figure)::\s*(\S+)", text):
        path = (src.parent / target).resolve()
        assert path.is_relative_to(ROOT), f"{target} is outside the repository"
        if "_generated" not in target:
            assert path.exists(), f"{target} does not exist"
    assert "../shared" not in text
    assert "/work/" not in text


def test_make_docs_treats_warnings_as_errors_offline():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    line = next(ln for ln in makefile.splitlines() if ln.startswith("SPHINX ="))
    assert "-W" in line
    assert "--keep-going" in line
    conf = (DOCS / "conf.py").read_text(encoding="utf-8")
    assert "sphinx.ext.intersphinx" not in conf  # no inventories fetched at build time


def test_docs_need_no_network():
    """Math in docstrings would make Sphinx add MathJax from a CDN: write formulas in
    Unicode instead (the docs, like every kamsim output, load nothing from the internet)."""
    offenders = [str(p.relative_to(ROOT)) for base in ("kamsim", "docs")
                 for p in (ROOT / base).rglob("*") if p.suffix in (".py", ".rst")
                 and (":math:`" in p.read_text(encoding="utf-8")
                      or ".. math::" in p.read_text(encoding="utf-8"))]
    assert offenders == []
