"""Fast SVG of a figure redrawn again and again (widget panels).

``Figure.savefig(format="svg")`` makes a new SVG renderer on every call, and matplotlib
keeps its text-size cache per renderer: every redraw measures every tick label, title and
legend entry again with FreeType (about half the time of a panel's redraw). :func:`render_svg`
writes the same SVG bytes with a renderer whose text measurements are kept across calls
(they depend only on the text, the font properties and the SVG's fixed 72 dpi).

The output equals ``savefig(format="svg")`` with text kept as text
(``svg.fonttype = "none"``: sharp at any zoom and device-pixel ratio), no date in the
metadata and stable element ids, byte for byte.
"""

from __future__ import annotations

import io
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import matplotlib
from matplotlib.backends.backend_mixed import MixedModeRenderer
from matplotlib.backends.backend_svg import RendererSVG

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties

__all__ = ["SVG_RC", "render_svg"]

#: Settings of panel SVGs: text stays text, ids do not change between identical renders.
SVG_RC: dict[str, Any] = {"svg.fonttype": "none", "svg.hashsalt": "kamsim"}

_MAX = 20_000
_TEXT: OrderedDict[tuple[Any, ...], tuple[float, float, float]] = OrderedDict()
_HEIGHT: dict[Any, tuple[float, float, float] | tuple[None, None, None]] = {}


def _remember(key: tuple[Any, ...], value: tuple[float, float, float]) -> None:
    _TEXT[key] = value
    if len(_TEXT) > _MAX:
        _TEXT.popitem(last=False)


class _MeasuringOnce(RendererSVG):
    """An SVG renderer whose text measurements outlive it (module-level caches)."""

    def get_text_width_height_descent(self, s: str, prop: FontProperties,
                                      ismath: Any) -> tuple[float, float, float]:
        key = (s, prop.copy(), ismath)  # a copy: FontProperties hash by their state
        hit = _TEXT.get(key)
        if hit is None:
            w, h, d = super().get_text_width_height_descent(  # type: ignore[no-untyped-call]
                s, prop, ismath)
            hit = (float(w), float(h), float(d))
            _remember(key, hit)
        return hit

    def _get_font_height_metrics(self, prop: FontProperties
                                 ) -> tuple[float, float, float] | tuple[None, None, None]:
        # the line metrics Text._get_layout reads from the font's tables (at 72 dpi, the
        # SVG's), kept per font instead of read on every text of every redraw
        key = prop.copy()
        hit = _HEIGHT.get(key)
        if hit is None:
            hit = _font_height_metrics(prop)
            _HEIGHT[key] = hit
        return hit


def _font_height_metrics(prop: FontProperties
                         ) -> tuple[float, float, float] | tuple[None, None, None]:
    from matplotlib.font_manager import fontManager, get_font

    font: Any = get_font(fontManager._find_fonts_by_props(prop))
    for name, gap, ascent, descent in (
            ("OS/2", "sTypoLineGap", "sTypoAscender", "sTypoDescender"),
            ("hhea", "lineGap", "ascent", "descent")):
        table = font.get_sfnt_table(name)
        if table is None:
            continue
        scale = prop.get_size_in_points() / font.get_sfnt_table("head")["unitsPerEm"]
        return (float(table[ascent] * scale), float(-table[descent] * scale),
                float(table[gap] * scale))
    return (None, None, None)


def render_svg(fig: Figure, *, reuse: bool = False) -> bytes:
    """SVG bytes of ``fig``, the same as ``savefig(format="svg")`` with :data:`SVG_RC`.

    Text sizes are measured once per text and font, not on every call, so a panel that
    redraws the same labels pays for them once. The figure is drawn at 72 dpi (the SVG
    unit); a layout engine, if set, runs as in ``savefig``.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    reuse : bool
        Reuse the SVG of every axes that has not changed since the last call (matplotlib
        marks a changed axes *stale*): its part of the document is copied instead of drawn
        again, with the clip paths and definitions it registers. The bytes are the same as
        a full render; a widget whose update changes one chart of two pays for one.

    Returns
    -------
    bytes

    Examples
    --------
    >>> import io, matplotlib
    >>> from matplotlib.figure import Figure
    >>> fig = Figure(figsize=(3, 2))
    >>> _ = fig.add_subplot().plot([1, 2], [3, 4])
    >>> buf = io.BytesIO()
    >>> with matplotlib.rc_context(SVG_RC):
    ...     fig.savefig(buf, format="svg", metadata={"Date": None})
    >>> render_svg(fig) == buf.getvalue() == render_svg(fig, reuse=True)
    True
    """
    out = io.StringIO()
    dpi = fig.dpi
    cache: dict[Any, tuple[Any, ...]] = getattr(fig, "_kamsim_svg_parts", {})
    reuse = reuse and fig.get_layout_engine() is None and fig.dpi == 72
    with matplotlib.rc_context(SVG_RC):  # type: ignore[arg-type]
        try:
            fig.dpi = 72
            width, height = fig.get_size_inches()
            svg = _MeasuringOnce(width * 72, height * 72, out,  # type: ignore[no-untyped-call]
                                 image_dpi=dpi, metadata={"Date": None})
            renderer: Any = MixedModeRenderer(  # type: ignore[no-untyped-call]
                fig, width, height, dpi, svg)
            kept = [ax for ax in fig.axes if reuse and not ax.images] if reuse else []
            for ax in kept:
                ax.draw = _drawing_once(ax, svg, out, cache,  # type: ignore[method-assign]
                                        fresh=ax.stale or ax not in cache)
            try:
                fig.draw(renderer)
            finally:
                for ax in kept:
                    del ax.draw
            renderer.finalize()
        finally:
            fig.dpi = dpi
    fig._kamsim_svg_parts = {ax: v for ax, v in cache.items()  # type: ignore[attr-defined]
                             if ax in fig.axes} if reuse else {}
    return out.getvalue().encode("utf-8")


_DEFS = ("_clipd", "_markers", "_hatchd")


def _drawing_once(ax: Any, svg: RendererSVG, out: io.StringIO,
                  cache: dict[Any, tuple[Any, ...]], *, fresh: bool) -> Any:
    """``ax.draw`` for one render: draw and remember its SVG part, or copy the last one."""
    draw = type(ax).draw
    flush = svg.writer._XMLWriter__flush  # type: ignore[attr-defined]  # closes a pending tag

    def drawn(renderer: Any, *args: Any, **kwargs: Any) -> None:
        # the part's element ids count on from the axes drawn before it (groups such as
        # ``xtick_7``, path collections), and the figure's draw has just placed the axes
        # (``apply_aspect``, which marks it stale even when the place is the same): copy
        # only if the place and the counters it started from are unchanged
        state = (tuple(ax.get_position().bounds), dict(svg._groupd),
                 svg._path_collection_id)
        if not fresh and cache[ax][0] == state:
            _, text, defs, groups, collections = cache[ax]
            flush()
            out.write(text)
            for name, entries in zip(_DEFS, defs, strict=True):
                table = getattr(svg, name)
                for key, value in entries:
                    table.setdefault(key, value)
            svg._groupd = dict(groups)
            svg._path_collection_id = collections
            ax.stale = False  # as a drawn axes: the next render copies it again
            return
        before = [dict.fromkeys(getattr(svg, name)) for name in _DEFS]
        flush()
        start = out.tell()
        draw(ax, renderer, *args, **kwargs)
        defs = tuple([(k, v) for k, v in getattr(svg, name).items() if k not in seen]
                     for name, seen in zip(_DEFS, before, strict=True))
        cache[ax] = (state, out.getvalue()[start:], defs, dict(svg._groupd),
                     svg._path_collection_id)

    return drawn
