"""Fast SVG of a figure redrawn again and again (widget panels).

``Figure.savefig(format="svg")`` makes a new SVG renderer on every call, and matplotlib
keeps its text-size cache per renderer: every redraw measures every tick label, title and
legend entry again with FreeType (about half the time of a panel's redraw). :func:`render_svg`
writes the same SVG bytes with a renderer whose text measurements are kept across calls
(they depend only on the text, the font properties and the SVG's fixed 72 dpi).

The output equals ``savefig(format="svg")`` with text kept as text
(``svg.fonttype = "none"``: sharp at any zoom and device-pixel ratio), no date in the
metadata and stable element ids, byte for byte.

With ``reuse=True`` the parts that did not change since the last call are copied instead
of drawn: every axes no update touched, and, inside an axes that is drawn again, every
artist registered with :func:`keep_svg` whose key is unchanged (an axis whose limits did
not move, a legend whose texts are the same).
"""

from __future__ import annotations

import io
import re
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import matplotlib
from matplotlib.backends.backend_mixed import MixedModeRenderer
from matplotlib.backends.backend_svg import RendererSVG

if TYPE_CHECKING:
    from matplotlib.artist import Artist
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties

__all__ = ["SVG_RC", "keep_svg", "render_svg"]

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


#: Attribute holding the key function of an artist registered with :func:`keep_svg`.
_KEY = "_kamsim_svg_key"


def keep_svg(artist: Artist, key: Callable[[], Hashable]) -> None:
    """Let :func:`render_svg` copy ``artist``'s SVG while ``key()`` is unchanged.

    For the parts of a chart that an update rarely changes (an axis whose limits stay,
    a legend whose texts stay): when its axes is drawn again, the artist's part of the
    last document is copied if ``key()`` returns what it returned then, the axes has the
    same position, the artist the same visibility, and every definition it looked up
    (markers, clip paths, hatches) is defined, or not, as it was then; its group ids are
    renumbered when the parts before it drew more or fewer groups. ``key()`` must capture
    everything an update may change in the artist (for an axis with a fixed formatter and
    label: its view limits; for a legend with fixed handles: its texts) and be cheap.
    Matplotlib's *stale* flag cannot tell: setting a legend's text does not mark the
    legend stale, setting unchanged limits marks the axis stale.

    Parameters
    ----------
    artist : matplotlib.artist.Artist
        A direct child of an axes (``ax.xaxis``, ``ax.yaxis``, ``ax.get_legend()``).
    key : callable
        Returns a hashable summary of what the artist shows.

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> fig = Figure(figsize=(3, 2), dpi=72)
    >>> ax = fig.add_subplot()
    >>> line, = ax.plot([1, 2], [3, 4])
    >>> keep_svg(ax.xaxis, lambda: tuple(ax.get_xlim()))
    >>> first = render_svg(fig, reuse=True)
    >>> line.set_ydata([3, 5])
    >>> render_svg(fig, reuse=True) == render_svg(fig)
    True
    """
    setattr(artist, _KEY, key)


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
        again, with the clip paths and definitions it registers; in an axes drawn again,
        so is every artist registered with :func:`keep_svg` whose key is unchanged. The
        bytes are the same as a full render; a widget whose update changes one chart of
        two pays for one.

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
    cache: dict[Any, _Part] = getattr(fig, "_kamsim_svg_parts", {})
    reuse = reuse and fig.get_layout_engine() is None and fig.dpi == 72
    with matplotlib.rc_context(SVG_RC):  # type: ignore[arg-type]
        try:
            fig.dpi = 72
            width, height = fig.get_size_inches()
            svg = _MeasuringOnce(width * 72, height * 72, out,  # type: ignore[no-untyped-call]
                                 image_dpi=dpi, metadata={"Date": None})
            renderer: Any = MixedModeRenderer(  # type: ignore[no-untyped-call]
                fig, width, height, dpi, svg)
            kept: list[Any] = []
            if reuse:
                logs: list[dict[tuple[str, Any], bool]] = []
                for name in _DEFS:
                    setattr(svg, name, _Recording(name, logs))
                for ax in fig.axes:
                    if ax.images:
                        continue
                    kept.append(ax)
                    ax.draw = _drawing_once(  # type: ignore[method-assign]
                        ax, svg, out, cache, logs, fresh=ax.stale or ax not in cache)
                    for a in ax.get_children():
                        key = getattr(a, _KEY, None)
                        if key is not None:
                            kept.append(a)
                            a.draw = _drawing_once(  # type: ignore[method-assign]
                                a, svg, out, cache, logs, fresh=a not in cache, key=key,
                                place=ax)
            try:
                fig.draw(renderer)
            finally:
                for a in kept:
                    del a.draw
            renderer.finalize()
        finally:
            fig.dpi = dpi
    # the parts of this render's axes and artists (not those of removed ones)
    fig._kamsim_svg_parts = {a: cache[a] for a in kept  # type: ignore[attr-defined]
                             if a in cache}
    return out.getvalue().encode("utf-8")


#: The renderer's tables of definitions (clip paths, markers, hatches): an entry is
#: written where it is first used (markers) or at the end (clip paths, hatches), and its
#: later uses refer to it by id.
_DEFS = ("_clipd", "_markers", "_hatchd")


class _Recording(dict[Any, Any]):
    """A table of definitions that notes, for every part being recorded, its lookups.

    Each open log (a dict) gets ``(table, key) -> found`` at the first lookup of ``key``
    while it is open: the only way the renderer's output depends on the table.
    """

    def __init__(self, name: str, logs: list[dict[tuple[str, Any], bool]]) -> None:
        super().__init__()
        self.name, self.logs = name, logs

    def _note(self, key: Any) -> None:
        found = dict.__contains__(self, key)
        for log in self.logs:
            log.setdefault((self.name, key), found)

    def get(self, key: Any, default: Any = None) -> Any:
        self._note(key)
        return super().get(key, default)

    def __contains__(self, key: object) -> bool:
        self._note(key)
        return dict.__contains__(self, key)

    def __getitem__(self, key: Any) -> Any:
        self._note(key)
        return super().__getitem__(key)


@dataclass(frozen=True, slots=True)
class _Part:
    """One part of the last document and what it depended on."""

    state: tuple[Any, ...]  # place, visibility and key it was drawn with
    looked: dict[tuple[str, Any], bool]  # definitions it looked up: found or not
    text: str
    defs: tuple[list[tuple[Any, Any]], ...]  # definitions it added, per table
    start: tuple[Any, ...]  # the counters before it (see _counters)
    after: tuple[Any, ...]  # and after it
    groups: re.Pattern[str] | None  # its numbered groups' ids, if any


def _counters(svg: RendererSVG) -> tuple[Any, ...]:
    """The renderer's counters that number element ids (groups, collections, clip paths)."""
    return (dict(svg._groupd), svg._path_collection_id, svg._n_gradients,
            len(svg._clip_path_ids))


def _copy(part: _Part, svg: RendererSVG, out: io.StringIO,
          logs: list[dict[tuple[str, Any], bool]]) -> bool:
    """Write ``part`` again if it would be drawn the same from here; whether it was.

    Its groups (``<g id="xtick_3">``) are numbered on from the groups of their kind drawn
    before it: when those are more or fewer now, its ids are renumbered by the difference
    (nothing refers to a group's id). A part that numbered path collections or gradients
    is copied only from the same counters.
    """
    if not all(dict.__contains__(getattr(svg, name), k) == found
               for (name, k), found in part.looked.items()):
        return False
    now = _counters(svg)
    if any(now[i] != part.start[i] for i in (1, 2) if part.after[i] != part.start[i]):
        return False
    before, after = part.start[0], part.after[0]
    opened = {g: n - before.get(g, 0) for g, n in after.items() if n != before.get(g, 0)}
    shift = {g: now[0].get(g, 0) - before.get(g, 0) for g in opened}
    text = part.text
    if part.groups is not None and any(shift.values()):
        text = part.groups.sub(
            lambda m: f'<g id="{m[1]}_{int(m[2]) + shift[m[1]]}"', text)
    svg.writer._XMLWriter__flush()  # type: ignore[attr-defined]  # closes a pending tag
    out.write(text)
    for outer in logs:  # the enclosing parts depend on the same lookups
        for k, found in part.looked.items():
            outer.setdefault(k, found)
    for name, entries in zip(_DEFS, part.defs, strict=True):
        table = getattr(svg, name)
        for k, value in entries:
            dict.setdefault(table, k, value)
    for g, n in opened.items():
        svg._groupd[g] = now[0].get(g, 0) + n
    svg._path_collection_id, svg._n_gradients = part.after[1], part.after[2]
    return True


def _drawing_once(ax: Any, svg: RendererSVG, out: io.StringIO, cache: dict[Any, _Part],
                  logs: list[dict[tuple[str, Any], bool]], *, fresh: bool,
                  key: Callable[[], Hashable] | None = None, place: Any = None) -> Any:
    """``ax.draw`` for one render: draw and remember its SVG part, or copy the last one.

    Also for an artist registered with :func:`keep_svg` (``key``), placed by the axes
    ``place``.
    """
    draw = type(ax).draw
    flush = svg.writer._XMLWriter__flush  # type: ignore[attr-defined]  # closes a pending tag

    def drawn(renderer: Any, *args: Any, **kwargs: Any) -> None:
        # a marker or clip path is defined where it is first used, element ids count on
        # from the parts drawn before (see _copy), and the figure's draw has just placed
        # the axes (``apply_aspect``, which marks it stale even when the place is the
        # same): copy only if the place, the visibility and the key are unchanged and
        # every definition it looked up is defined (or not) as it was then
        state = (tuple((ax if place is None else place).get_position().bounds),
                 ax.get_visible(), None if key is None else key())
        last = cache.get(ax)
        if not fresh and last is not None and last.state == state and _copy(
                last, svg, out, logs):
            ax.stale = False  # as a drawn part: the next render copies it again
            return
        before = [set(dict.keys(getattr(svg, name))) for name in _DEFS]
        log: dict[tuple[str, Any], bool] = {}
        logs.append(log)
        start = _counters(svg)
        flush()
        at = out.tell()
        try:
            draw(ax, renderer, *args, **kwargs)
        finally:
            logs.pop()  # parts nest: this one's log is the last
        after = _counters(svg)
        if after[3] != start[3]:  # it numbered clip paths: drawn every time
            cache.pop(ax, None)
            return
        defs = tuple([(k, v) for k, v in dict.items(getattr(svg, name)) if k not in seen]
                     for name, seen in zip(_DEFS, before, strict=True))
        opened = [g for g, n in after[0].items() if n != start[0].get(g, 0)]
        groups = re.compile('<g id="(' + "|".join(re.escape(g) for g in opened)
                            + r')_(\d+)"') if opened else None
        cache[ax] = _Part(state, log, out.getvalue()[at:], defs, start, after, groups)

    return drawn
