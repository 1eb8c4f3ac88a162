"""The executed report notebook as one self-contained HTML page for screen and print.

No scripts at all (no require.js, no MathJax, nothing from a CDN): the page renders the
same with no network, and a ``$`` in the text stays a dollar sign. Markdown is rendered
by mistune with raw HTML escaped; HTML outputs are the report's own escaped tables;
figures are inline PNGs sized to their printed width. The stylesheet
(``report.css``) plus an ``@page`` rule give the paper size (A4 or Letter), margins and a
running header and footer with the company, the date and page numbers.
"""

from __future__ import annotations

import base64
import html
import re
import struct
from collections.abc import Iterable, Mapping
from importlib import resources
from typing import Any, Literal

import mistune

from kamsim.exceptions import AssumptionError

__all__ = ["PAPER_SIZES", "Paper", "css_string", "page_css", "render_html", "stylesheet"]

Paper = Literal["A4", "Letter"]

#: Paper sizes in millimetres (width, height).
PAPER_SIZES: dict[str, tuple[float, float]] = {"A4": (210.0, 297.0), "Letter": (215.9, 279.4)}

#: Page margins in millimetres (top, right, bottom, left).
MARGINS = (17.0, 14.0, 17.0, 14.0)

_SKIP_TAGS = frozenset({"parameters", "injected-parameters", "remove", "interactive"})
_MD = mistune.create_markdown(escape=True, plugins=["table", "strikethrough"])


def stylesheet() -> str:
    """The report stylesheet shipped with kamsim."""
    return (resources.files("kamsim.views.report") / "report.css").read_text(encoding="utf-8")


def css_string(text: str) -> str:
    r"""``text`` as a CSS string literal that user text cannot break out of.

    Every character outside ``[A-Za-z0-9 .,:-]`` is written as a CSS escape.

    Examples
    --------
    >>> css_string('Acme "}<x>')
    '"Acme \\000022 \\00007d \\00003c x\\00003e "'
    """
    out = []
    for ch in text:
        if ch.isascii() and (ch.isalnum() or ch in " .,:-"):
            out.append(ch)
        else:
            out.append(f"\\{ord(ch):06x} ")
    return '"' + "".join(out) + '"'


def page_css(paper: Paper = "A4", *, left: str = "", right: str = "") -> str:
    """The ``@page`` rule: size, margins, running header (``left``, ``right``), page numbers.

    Examples
    --------
    >>> "size: 215.9mm 279.4mm" in page_css("Letter")
    True
    """
    if paper not in PAPER_SIZES:
        msg = f"paper must be one of {sorted(PAPER_SIZES)}, got {paper!r}"
        raise AssumptionError(msg, field="paper")
    w, h = PAPER_SIZES[paper]
    t, r, b, lm = MARGINS
    box = "font-family: 'DejaVu Sans', Arial, sans-serif; font-size: 7.5pt; color: #5b6470;"
    return (
        f"@page {{ size: {w:g}mm {h:g}mm; margin: {t:g}mm {r:g}mm {b:g}mm {lm:g}mm;\n"
        f"  @top-left {{ content: {css_string(left)}; {box} }}\n"
        f"  @top-right {{ content: {css_string(right)}; {box} }}\n"
        f"  @bottom-left {{ content: {css_string(left)}; {box} }}\n"
        f"  @bottom-right {{ content: \"Page \" counter(page) \" of \" counter(pages); {box} }}\n"
        "}\n")


def _png_size(data: bytes) -> tuple[int, int, float | None]:
    """Width and height in pixels and dots per inch (from pHYs) of a PNG."""
    w, h = struct.unpack(">II", data[16:24])
    dpi = None
    i = data.find(b"pHYs")
    if i > 0:
        px, _py, unit = struct.unpack(">IIB", data[i + 4:i + 13])
        if unit == 1 and px:
            dpi = px * 0.0254
    return w, h, dpi


#: Tallest printed figure (CSS px): a square chart must not fill a whole page.
MAX_FIGURE_HEIGHT = 100 * 96 / 25.4


def _image(b64: str) -> str:
    raw = base64.b64decode(b64)
    w, h, dpi = _png_size(raw)
    css_w = w * 96 / (dpi or 96)
    css_h = h * 96 / (dpi or 96)
    if css_h > MAX_FIGURE_HEIGHT:
        css_w *= MAX_FIGURE_HEIGHT / css_h
    css_w = round(css_w)
    return (f'<figure class="chart"><img alt="chart" width="{css_w}" '
            f'src="data:image/png;base64,{b64.strip()}"></figure>')


def markdown_html(text: str) -> str:
    r"""Markdown as HTML with every raw tag escaped and no maths (``$`` is a dollar).

    Text escaped for HTML before (as :func:`md_escape` does) is unescaped first, so it
    is escaped exactly once.

    Examples
    --------
    >>> markdown_html("**$1.2M** or $3M &lt;b&gt;")
    '<p><strong>$1.2M</strong> or $3M &lt;b&gt;</p>\n'
    """
    return str(_MD(html.unescape(text)))


def _output_html(out: Mapping[str, Any]) -> str:
    kind = out.get("output_type")
    if kind == "stream":
        if out.get("name") == "stderr":
            return ""
        return f'<pre class="stream">{html.escape(str(out.get("text", "")))}</pre>'
    if kind not in ("display_data", "execute_result"):
        return ""
    data = out.get("data", {})
    if "text/html" in data:
        return str("".join(data["text/html"]) if isinstance(data["text/html"], list)
                   else data["text/html"])
    if "image/png" in data:
        return _image(str(data["image/png"]))
    if "text/markdown" in data:
        md = data["text/markdown"]
        return markdown_html("".join(md) if isinstance(md, list) else str(md))
    if "text/plain" in data:
        text = str(data["text/plain"])
        if text.startswith("<") and text.endswith(">"):  # a repr such as <Figure ...>
            return ""
        return f"<pre>{html.escape(text)}</pre>"
    return ""


def _section(cell: Mapping[str, Any]) -> str | None:
    for t in cell.get("metadata", {}).get("tags", []):
        if str(t).startswith("section:"):
            return str(t).split(":", 1)[1]
    return None


_SLUG = re.compile(r"[^a-z0-9_-]+")


def _keep_with_figures(parts: list[str]) -> list[str]:
    """Join short text (a heading, a caption) to the figure after it.

    So print never leaves a heading at the foot of one page and its chart on the next.
    """
    out: list[str] = []
    for p in parts:
        if (p.startswith('<figure class="chart">') and out and len(out[-1]) < 1200
                and not out[-1].startswith(("<figure", "<table", '<div class="keep">'))):
            out[-1] = f'<div class="keep">{out[-1]}{p}</div>'
        else:
            out.append(p)
    return out


def render_html(cells: Iterable[Mapping[str, Any]], *, title: str, company: str = "",
                run_date: str = "", paper: Paper = "A4") -> str:
    """The report page from the executed notebook's cells.

    Parameters
    ----------
    cells : iterable of notebook cells (``nbformat`` nodes or dicts)
    title : str
        Page title (escaped).
    company, run_date : str
        Running header of every printed page (escaped for CSS).
    paper : {"A4", "Letter"}
        Printed page size.

    Returns
    -------
    str
        A complete HTML document without any script.
    """
    body: list[str] = []
    for cell in cells:
        tags = set(cell.get("metadata", {}).get("tags", []))
        if tags & _SKIP_TAGS:
            continue
        if cell.get("cell_type") == "markdown":
            body.append(markdown_html("".join(cell.get("source", ""))))
            continue
        if cell.get("cell_type") != "code":
            continue
        parts = _keep_with_figures(
            [p for p in (_output_html(o) for o in cell.get("outputs", [])) if p])
        if not parts:
            continue
        sec = _section(cell) or "other"
        if sec == "setup":
            body.append("".join(parts))
        else:
            body.append(f'<section class="report-section" data-section='
                        f'"{_SLUG.sub("-", sec.lower())}">{"".join(parts)}</section>')
    header_right = f"Key-account risk report {run_date[:10]}".strip()
    css = stylesheet() + "\n" + page_css(paper, left=company or "kamsim", right=header_right)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{html.escape(title)}</title><style>\n{css}</style></head>\n"
            f"<body>\n{''.join(body)}\n</body></html>\n")
