"""The board report printed by Chromium: nothing overflows on A4 or Letter, right page size.

The report HTML is opened at the printable width of each paper size with print media and
no network at all; every element must fit its box (``scrollWidth <= clientWidth``), every
table and figure must end inside the text width, and the executive summary must end on
the first page. The PDF Chromium prints must have the paper's page size. The first pages
are rasterised with ``pdftoppm`` into ``tests/artifacts/`` for a reviewer to look at.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest

from kamsim.views.report import PAPER_SIZES, render_html, run_report
from kamsim.views.report.render import MARGINS
from tests.browser.conftest import ARTIFACTS

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

MM = 96 / 25.4  # CSS pixels per millimetre

OVERFLOW_JS = """() => {
  const out = [];
  for (const e of document.querySelectorAll('body, body *')) {
    if (e.clientWidth === 0) continue;  // inline boxes have no scroll box
    if (e.scrollWidth > e.clientWidth) {
      out.push(`${e.tagName}.${e.className}: ${e.scrollWidth} > ${e.clientWidth}`);
    }
  }
  const width = document.body.clientWidth;
  for (const e of document.querySelectorAll('table, img, figure, pre')) {
    const r = e.getBoundingClientRect();
    if (r.right > width + 0.5) out.push(`${e.tagName}.${e.className} ends at ${r.right}`);
  }
  return out;
}"""


@pytest.fixture(scope="module")
def executed(tmp_path_factory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("print")
    res = run_report(out_dir=out, parameters={"n_paths": 2_000, "seed": 7}, progress=False)
    nb = nbformat.read(res.notebook, as_version=4)
    return out, nb


@pytest.mark.parametrize("paper", sorted(PAPER_SIZES))
def test_report_fits_the_page_and_prints_at_the_right_size(browser, executed, paper):
    out, nb = executed
    html = render_html(nb.cells, title="Sample: key-account risk report",
                       company="Sample Supplier Ltd", run_date="2026-12-01 08:00 UTC",
                       paper=paper)
    path = out / f"report_{paper}.html"
    path.write_text(html, encoding="utf-8")
    w_mm, h_mm = PAPER_SIZES[paper]
    top, right, bottom, left = MARGINS
    width = round((w_mm - left - right) * MM)
    context = browser.new_context(viewport={"width": width, "height": 1000})
    try:
        page = context.new_page()
        requests: list[str] = []

        def only_files(route):
            if route.request.url.startswith(("file:", "data:")):
                route.continue_()
            else:
                requests.append(route.request.url)
                route.abort()

        page.route("**/*", only_files)
        page.emulate_media(media="print")
        page.goto(path.as_uri())
        page.wait_for_load_state("load")
        assert page.evaluate(OVERFLOW_JS) == []
        assert requests == []  # self-contained: nothing asked of the network
        # the executive summary ends on the first page
        end = page.evaluate("""() => {
            const s = document.querySelector('section[data-section="summary"]');
            return s.getBoundingClientRect().bottom - document.body.getBoundingClientRect().top;
        }""")
        assert end <= (h_mm - top - bottom) * MM
        pdf = page.pdf(prefer_css_page_size=True, print_background=True)
    finally:
        context.close()
    pdf_path = out / f"report_{paper}.pdf"
    pdf_path.write_bytes(pdf)
    boxes = {tuple(round(float(v)) for v in m.groups())
             for m in re.finditer(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", pdf)}
    assert boxes == {(round(w_mm / 25.4 * 72), round(h_mm / 25.4 * 72))}
    if shutil.which("pdftoppm"):
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "3", str(pdf_path),
                        str(ARTIFACTS / f"board_report_{paper}")], check=True, timeout=120)
        assert len(list(ARTIFACTS.glob(f"board_report_{paper}-*.png"))) == 3
