"""The base :class:`Explorer` every widget panel builds on.

One way to do each job, so every panel looks and behaves the same:

* **controls that explain themselves**: :meth:`Explorer.slider` makes a row of a business
  label (with its unit and a one-line tooltip), the slider and the value written by the
  shared formatter (``€7.6M a year``, ``15 %``, ``6 months``). The value is a separate
  text, not the slider's narrow readout, so it is never cut off; rows are 560 px wide, which
  fits JupyterLab's default panel with the file browser open and Voila.
* **one status line** under the controls (never over them): :meth:`Explorer.problem` writes
  a plain sentence there and marks the chart stale (dimmed, "showing the last valid
  settings") until the next valid combination; :meth:`Explorer.update` catches every
  :class:`~kamsim.exceptions.KamsimError` of the computation that way.
* **one table helper**: :func:`html_table` writes every figure through
  :mod:`kamsim._util.format` (no reprs, no scientific notation), the key column first.
* **crisp charts**: :meth:`Explorer.show` renders the panel's figure as SVG (sharp at any
  device-pixel ratio and zoom, and faster to write than a PNG) and the image is shown at
  the figure's size, shrinking to the page width.

Subclasses implement :meth:`Explorer.compute` (the numbers, from the library functions)
and :meth:`Explorer.render` (tables and chart, through the plot functions), and
:meth:`Explorer.current_scenario` (the scenario the controls describe).
"""

from __future__ import annotations

import contextlib
import html
import json
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import ipywidgets as widgets
import numpy as np
import pandas as pd

from kamsim._util.figures import render_png
from kamsim._util.format import count, money, months, percent
from kamsim.exceptions import KamsimError
from kamsim.views.plots.svg import render_svg

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from kamsim.model import Scenario
    from kamsim.portfolio import Portfolio

__all__ = ["ROW_WIDTH", "Explorer", "Formatter", "html_table", "value_formatter"]

#: Width of one control row (label + slider + value), px: fits Lab's default panel with the
#: file browser open at 1440 px and Voila's page.
ROW_WIDTH = 560
_LABEL_WIDTH = 230
_VALUE_WIDTH = 110

#: File the panels append their update times to (set by the browser benchmark).
_TIMING_LOG = os.environ.get("KAMSIM_WIDGET_TIMING_LOG", "")

#: A function writing one value for people.
Formatter = Callable[[Any], str]

def table_css(scope: str) -> str:
    """The CSS of :func:`html_table` tables inside elements of class ``scope``.

    One table style for the panels (``kamsim-explorer``) and for tables shown outside a
    panel (``kamsim-static``).

    Examples
    --------
    >>> table_css("kamsim-static").splitlines()[0]
    '.kamsim-static table.kamsim-table {border-collapse: collapse; font-size: 0.92em;}'
    """
    return (f".{scope} table.kamsim-table {{border-collapse: collapse; font-size: 0.92em;}}\n"
            f".{scope} table.kamsim-table th {{text-align: left; padding: 2px 10px 2px 0;\n"
            "  border-bottom: 1px solid #999; font-weight: 600;}\n"
            f".{scope} table.kamsim-table td {{padding: 2px 10px 2px 0; white-space: nowrap;}}\n"
            f".{scope} table.kamsim-table td.num {{text-align: right;\n"
            "  font-variant-numeric: tabular-nums;}")


# panel-wide CSS, sent once per panel (an HTML widget's <style> applies to the page)
_CSS = """<style>
.kamsim-explorer .kamsim-label {white-space: normal; line-height: 1.2; cursor: help;}
.kamsim-explorer .kamsim-value {font-variant-numeric: tabular-nums; white-space: nowrap;}
.kamsim-explorer .kamsim-status {min-height: 1.6em;}
.kamsim-explorer .kamsim-stale img, .kamsim-explorer img.kamsim-stale {opacity: 0.35;}
""" + table_css("kamsim-explorer") + "\n</style>"


def value_formatter(unit: str, *, currency: str = "€", decimals: int = 0) -> Formatter:
    """The formatter of a control's value, by unit.

    Parameters
    ----------
    unit : str
        ``"money"``, ``"money/year"``, ``"money/month"``, ``"percent"`` (a value in percent
        points), ``"fraction"`` (a fraction shown as a percentage), ``"months"``,
        ``"count"``, ``"count/month"``, ``"times"`` (a multiplier) or ``"number"``.
    currency : str
    decimals : int
        Decimals of percentages, multipliers and plain numbers.

    Returns
    -------
    callable

    Examples
    --------
    >>> value_formatter("money/year")(7_600_000)
    '€7.6M a year'
    >>> value_formatter("percent", decimals=1)(4.0), value_formatter("fraction")(0.25)
    ('4.0 %', '25 %')
    >>> value_formatter("months")(6), value_formatter("times", decimals=1)(1.5)
    ('6 months', '1.5 ×')
    """
    match unit:
        case "money":
            return lambda v: money(v, currency)
        case "money/year":
            return lambda v: f"{money(v, currency)} a year"
        case "money/month":
            return lambda v: f"{money(v, currency)} a month"
        case "percent":
            return lambda v: f"{float(v):.{decimals}f} %"
        case "fraction":
            return lambda v: percent(v, decimals)
        case "months":
            return lambda v: months(v, decimals=decimals)
        case "count":
            return count
        case "count/month":
            return lambda v: f"{float(v):,.{decimals}f} a month"
        case "times":
            return lambda v: f"{float(v):.{decimals}f} ×"
        case "number":
            return lambda v: f"{float(v):,.{decimals}f}"
    msg = f"unknown unit {unit!r}"
    raise KamsimError(msg)


@dataclass(frozen=True, slots=True)
class _Column:
    label: str
    fmt: Formatter | None
    numeric: bool


def html_table(frame: pd.DataFrame, columns: Mapping[str, tuple[str, Formatter | None]], *,
               title: str = "", key: str | None = None, max_rows: int | None = None) -> str:
    """An HTML table for people: chosen columns, business headers, formatted values.

    Parameters
    ----------
    frame : pandas.DataFrame
        The data (its index is ignored; put the key in a column).
    columns : mapping of column to (header, formatter)
        The columns to show, in order; a formatter of None prints text as it is. Values
        pass through the formatter (money, percent, months, count from
        :mod:`kamsim._util.format`), so no float is printed raw.
    title : str
        Bold caption above the table.
    key : str, optional
        Column shown first whatever its place in ``columns`` (the one the text tells
        you to read).
    max_rows : int, optional
        Show only the first rows.

    Returns
    -------
    str

    Examples
    --------
    >>> df = pd.DataFrame({"share": [0.957], "account": ["A1"], "revenue": [6715620.25]})
    >>> t = html_table(df, {"share": ("Share", lambda v: percent(v)),
    ...                     "account": ("Account", None),
    ...                     "revenue": ("Revenue", money)}, key="account")
    >>> t.index("Account") < t.index("Share"), "95.7 %" in t, "€6.7M" in t
    (True, True, True)
    """
    order = list(columns)
    if key is not None:
        order.remove(key)
        order.insert(0, key)
    cols = {c: _Column(columns[c][0], columns[c][1],
                       columns[c][1] is not None) for c in order}
    shown = frame if max_rows is None else frame.head(max_rows)
    head = "".join(f"<th>{html.escape(c.label)}</th>" for c in cols.values())
    body = []
    for _, row in shown.iterrows():
        cells = []
        for name, c in cols.items():
            v = row[name]
            text = c.fmt(v) if c.fmt is not None else ("–" if _missing(v) else str(v))
            cls = " class='num'" if c.numeric else ""
            cells.append(f"<td{cls}>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    caption = f"<b>{html.escape(title)}</b>" if title else ""
    return (f"{caption}<table class='kamsim-table'><thead><tr>{head}</tr></thead><tbody>"
            + "".join(body) + "</tbody></table>")


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and not np.isfinite(v))


class Explorer(widgets.VBox):  # type: ignore[misc]
    """Base of the widget panels: labelled sliders, one status line, one chart, tables.

    Parameters
    ----------
    currency : str
        Symbol used in values, tables and charts.
    figsize : tuple of float
        Size of the panel's figure in inches (72 CSS px per inch on screen).

    Attributes
    ----------
    title, question : str
        What the panel is called and the question it answers (class attributes).
    status : ipywidgets.HTML
        The status line under the controls: a problem in one plain sentence, or the time of
        the last update.
    image : ipywidgets.Image
        The chart.
    figure : matplotlib.figure.Figure
        The figure redrawn in place on every update.
    stale : bool
        True while the chart shows older settings than the controls (an invalid combination).
    last_seconds : float
        Time of the last compute and render.
    """

    title: ClassVar[str] = ""
    question: ClassVar[str] = ""
    #: Format of the charts: ``"svg+xml"`` (vector: sharp at any device-pixel ratio) or
    #: ``"png"``.
    image_format: ClassVar[str] = "svg+xml"
    #: Image-to-CSS pixel ratio of PNG charts (2: sharp on high-DPI screens).
    pixel_ratio: ClassVar[float] = 2.0

    def __init__(self, *, currency: str = "€", figsize: tuple[float, float] = (12.5, 4.2),
                 **kwargs: Any) -> None:
        from matplotlib.figure import Figure

        self.currency = currency
        self.status = widgets.HTML(layout=widgets.Layout(width=f"{ROW_WIDTH}px"))
        self.status.add_class("kamsim-status")
        self.caption = widgets.HTML()
        self.caption.add_class("kamsim-caption")
        width_px = round(figsize[0] * 72)
        self.image = widgets.Image(format=self.image_format, layout=widgets.Layout(
            width="100%", max_width=f"{width_px}px", height="auto"))
        self.figure: Figure = Figure(figsize=figsize, dpi=72, layout="constrained")
        self.stale = False
        self.last_seconds = 0.0
        self._formats: dict[int, tuple[Formatter, widgets.HTML]] = {}
        self._quiet = False
        super().__init__(**kwargs)
        self.add_class("kamsim-explorer")
        # which panel this is, for the browser tests and benchmarks
        self.add_class(f"kamsim-panel-{type(self).__name__.lower()}")

    # -- building ------------------------------------------------------------------------
    def slider(self, value: float, lo: float, hi: float, step: float, *, label: str,
               tooltip: str, fmt: Formatter, integer: bool = False) -> widgets.Widget:
        """A slider with a business label, a tooltip and an always-visible value.

        The slider sends its value on release (``continuous_update=False``). Use
        :meth:`row` to lay it out.

        Parameters
        ----------
        value, lo, hi, step : float
            Start, range and step (the value is clipped into the range).
        label : str
            Business name with its unit ("Fixed costs (€ a year)").
        tooltip : str
            One line: what it means and what moving it does.
        fmt : callable
            Writes the value (see :func:`value_formatter`).
        integer : bool
            An ``IntSlider`` instead of a ``FloatSlider``.
        """
        cls = widgets.IntSlider if integer else widgets.FloatSlider
        cast: Callable[[float], Any] = int if integer else float
        v = min(max(cast(value), cast(lo)), cast(hi))
        s = cls(value=v, min=cast(lo), max=cast(hi), step=cast(step), readout=False,
                continuous_update=False, description="", tooltip=tooltip,
                layout=widgets.Layout(flex="1 1 auto", min_width="120px", width="auto"))
        s.kamsim_label = label
        shown = widgets.HTML(fmt(s.value), layout=widgets.Layout(
            width=f"{_VALUE_WIDTH}px", min_width=f"{_VALUE_WIDTH}px"))
        shown.add_class("kamsim-value")
        self._formats[id(s)] = (fmt, shown)
        s.observe(lambda ch: setattr(shown, "value", fmt(ch["new"])), names="value")
        return s

    def selection(self, options: Sequence[tuple[str, Any]], value: Any, *, label: str,
                  tooltip: str) -> widgets.SelectionSlider:
        """A slider over labelled options (the label is the shown value)."""
        s = widgets.SelectionSlider(options=list(options), value=value, readout=False,
                                    continuous_update=False, tooltip=tooltip,
                                    layout=widgets.Layout(flex="1 1 auto", min_width="120px",
                                                          width="auto"))
        s.kamsim_label = label
        names = {v: k for k, v in options}
        fmt: Formatter = lambda v: names.get(v, str(v))  # noqa: E731
        shown = widgets.HTML(fmt(s.value), layout=widgets.Layout(
            width=f"{_VALUE_WIDTH}px", min_width=f"{_VALUE_WIDTH}px"))
        shown.add_class("kamsim-value")
        self._formats[id(s)] = (fmt, shown)
        # look the formatter up on each change: set_frontier may replace it
        s.observe(lambda ch: setattr(shown, "value", self._formats[id(s)][0](ch["new"])),
                  names="value")
        return s

    def dropdown(self, options: Sequence[Any], value: Any, *, label: str,
                 tooltip: str) -> widgets.Dropdown:
        """A dropdown with a business label and a tooltip (lay it out with :meth:`row`)."""
        d = widgets.Dropdown(options=options, value=value, tooltip=tooltip,
                             layout=widgets.Layout(flex="1 1 auto", width="auto"))
        d.kamsim_label = label
        return d

    def row(self, control: widgets.Widget) -> widgets.HBox:
        """The label, the control and (for a slider) its formatted value, in one row."""
        lab = widgets.HTML(html.escape(getattr(control, "kamsim_label", "")),
                           tooltip=getattr(control, "tooltip", None),
                           layout=widgets.Layout(width=f"{_LABEL_WIDTH}px",
                                                 min_width=f"{_LABEL_WIDTH}px"))
        lab.add_class("kamsim-label")
        parts = [lab, control]
        if id(control) in self._formats:
            parts.append(self._formats[id(control)][1])
        box = widgets.HBox(parts, layout=widgets.Layout(width=f"{ROW_WIDTH}px",
                                                        align_items="center"))
        box.add_class("kamsim-row")
        return box

    def controls(self, heading: str, controls: Sequence[widgets.Widget]) -> widgets.VBox:
        """A titled column of control rows."""
        return widgets.VBox([widgets.HTML(f"<b>{html.escape(heading)}</b>"),
                             *(self.row(c) for c in controls)])

    def beside(self, controls: Sequence[widgets.Widget], *right: widgets.Widget
               ) -> widgets.HBox:
        """The controls column, never squeezed, with ``right`` beside it.

        When the page is too narrow the row wraps (``right`` goes below) instead of
        overlapping the controls.
        """
        left = widgets.VBox(list(controls), layout=widgets.Layout(
            flex="0 0 auto", width=f"{ROW_WIDTH + 10}px"))
        others = [widgets.VBox([w], layout=widgets.Layout(flex="1 1 320px", min_width="0"))
                  for w in right]
        return widgets.HBox([left, *others], layout=widgets.Layout(
            flex_flow="row wrap", align_items="flex-start", width="100%"))

    def layout(self, children: Sequence[widgets.Widget]) -> None:
        """Set the panel's children (after the CSS), e.g. controls, status, chart, tables."""
        self.children = (widgets.HTML(_CSS), self.caption, *children)

    def watch(self, *controls: widgets.Widget) -> None:
        """Recompute and redraw when any of ``controls`` changes."""
        for c in controls:
            c.observe(self._on_change, names="value")

    def all_sliders(self) -> list[widgets.Widget]:
        """Every slider of the panel, in layout order."""
        found: list[widgets.Widget] = []

        def walk(w: Any) -> None:
            if isinstance(w, widgets.FloatSlider | widgets.IntSlider
                          | widgets.SelectionSlider):
                found.append(w)
            for c in getattr(w, "children", ()):
                walk(c)

        walk(self)
        return found

    # -- the update cycle ----------------------------------------------------------------
    def _on_change(self, _change: Any) -> None:
        if not self._quiet:
            t0, c0 = time.time(), time.process_time()
            self._image_at = self._image_cpu = 0.0
            self.update()
            if _TIMING_LOG:  # benchmarks/bench_widgets.py --browser: where the time goes
                with open(_TIMING_LOG, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps({"panel": type(self).__name__, "received": t0,
                                         "image_sent": self._image_at,
                                         "image_cpu": self._image_cpu - c0,
                                         "done": time.time()}) + "\n")

    @contextlib.contextmanager
    def quiet(self) -> Iterator[None]:
        """Change controls without an update per change (call :meth:`update` after)."""
        self._quiet = True
        try:
            yield
        finally:
            self._quiet = False

    def current_scenario(self) -> Scenario:
        """The scenario the controls describe (panels without one raise)."""
        msg = f"{type(self).__name__} has no scenario"
        raise KamsimError(msg)

    def compute(self) -> None:
        """Compute the numbers for the current controls (raise KamsimError if invalid)."""

    def render(self) -> None:
        """Write the tables and redraw the chart from the last :meth:`compute`."""

    def update(self) -> None:
        """Compute and render; an invalid combination is explained in the status line."""
        t0 = time.perf_counter()
        try:
            self.compute()
        except KamsimError as err:
            self.problem(plain(err))
            return
        self.render()
        self.fresh()
        self.caption.value = self.data_caption()
        self.last_seconds = time.perf_counter() - t0

    def data_portfolio(self) -> Portfolio | None:
        """The accounts the panel shows (for its caption); None if it has none."""
        try:
            return self.current_scenario().portfolio
        except KamsimError:
            return None

    def data_caption(self) -> str:
        """"Data: 40 accounts, revenue €1.9M a year; largest ..." above the controls."""
        pf = self.data_portfolio()
        if pf is None:
            return ""
        rev = np.asarray(pf.revenue, dtype=np.float64)
        i = int(np.argmax(rev)) if rev.size else 0
        total = float(rev.sum())
        largest = (f"; largest {html.escape(str(pf.names[i]))} "
                   f"({percent(rev[i] / total)})" if total > 0 else "")
        return (f"<span style='color:#555'>Data: {count(pf.n_accounts)} accounts, revenue "
                f"{money(total, self.currency)} a year{largest}</span>")

    def problem(self, sentence: str) -> None:
        """Explain an invalid combination in the status line; mark the chart stale."""
        self.stale = True
        self.image.add_class("kamsim-stale")
        self.status.value = (
            f"<span style='color:#b2182b'>{html.escape(sentence)}</span> "
            "<span style='color:#666'>(the chart and tables show the last valid "
            "settings)</span>")

    def fresh(self) -> None:
        """Clear the status line and the stale mark."""
        self.stale = False
        self.image.remove_class("kamsim-stale")
        self.status.value = ""

    def show(self) -> None:
        """Render the panel's figure into the image.

        As SVG (:attr:`image_format` ``"svg+xml"``, the default): sharp at every
        device-pixel ratio and zoom, and two to four times faster to write than a PNG (text
        stays text, ``svg.fonttype = "none"``). With ``"png"``, at :attr:`pixel_ratio`
        times the CSS size. Either way the layout is frozen after the first render.
        """
        if self.image_format == "png":
            self.image.value = render_png(self.figure, dpi=72 * self.pixel_ratio)
            return
        # the axes no update touched are copied from the last render (same bytes)
        svg = render_svg(self.figure, reuse=True)
        if self.figure.get_layout_engine() is not None:
            self.figure.set_layout_engine(None)
        self.image.value = svg
        self._image_at, self._image_cpu = time.time(), time.process_time()


def plain(err: KamsimError) -> str:
    """An error's message as one sentence for the status line (first letter upper case).

    Examples
    --------
    >>> from kamsim.exceptions import AssumptionError
    >>> plain(AssumptionError("must be >= 0, got -1", field="fixed_costs"))
    'Fixed costs: must be >= 0, got -1.'
    """
    text = str(err).strip()
    field = getattr(err, "field", None)
    if field and text.startswith(f"{field}:"):
        text = field.replace("_", " ").replace(".", " ") + text[len(field):]
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."
