"""Fast redraws for widget panels: reuse axes and render PNG with one draw.

A panel's figure uses constrained layout for its first draw; after that the layout is
frozen (``set_layout_engine(None)``), so each ``savefig`` draws once instead of twice,
and the axes are cleared and reused rather than rebuilt with ``fig.clear()``.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from kamsim.exceptions import AssumptionError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["figure_axes", "panel_axes", "render_png"]


def figure_axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    """The given axes and its (root) figure, or a new figure with one axes (no pyplot).

    Every plot function takes ``ax=None`` and uses this, so it can draw a figure of its
    own or into an axes the caller laid out.

    Examples
    --------
    >>> fig, ax = figure_axes(None, (4, 3))
    >>> figure_axes(ax, (1, 1))[0] is fig
    True
    """
    if ax is not None:
        fig = ax.get_figure()
        if fig is None:  # pragma: no cover - an axes always belongs to a figure
            msg = "ax does not belong to a figure"
            raise AssumptionError(msg)
        return fig.get_figure(root=True) or fig, ax  # type: ignore[return-value]
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def panel_axes(fig: Figure, ncols: int = 1, **kwargs: Any) -> list[Axes]:
    """The panel's ``ncols`` axes: created on the first call, cleared on later calls.

    Axes added by plot functions since the last call (e.g. twin axes) are removed.

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> fig = Figure(layout="constrained")
    >>> a = panel_axes(fig, 2)
    >>> _ = a[0].twinx()
    >>> b = panel_axes(fig, 2)
    >>> a == b, len(fig.axes)
    (True, 2)
    """
    axes: list[Axes] | None = getattr(fig, "_kamsim_panel_axes", None)
    if axes is None or len(axes) != ncols:
        fig.clear()
        made = fig.subplots(1, ncols, squeeze=False, **kwargs)[0]
        axes = list(made)
        fig._kamsim_panel_axes = axes  # type: ignore[attr-defined]
        return axes
    for ax in list(fig.axes):
        if ax not in axes:
            ax.remove()
    for ax in axes:
        ax.cla()
    return axes


def render_png(fig: Figure, dpi: float = 80) -> bytes:
    """PNG bytes of ``fig``; freezes its layout after the first render (one draw later)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, pil_kwargs={"compress_level": 1})
    if fig.get_layout_engine() is not None:
        fig.set_layout_engine(None)
    return buf.getvalue()
