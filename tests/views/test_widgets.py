"""Tests of kamsim.views.widgets (built and driven programmatically, no browser)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kamsim.analysis import key_accounts as ka
from kamsim.views.widgets import ConcentrationExplorer, concentration_explorer

ROOT = Path(__file__).resolve().parents[2]

# --- concentration ----------------------------------------------------------------------


@pytest.fixture
def panel(sample) -> ConcentrationExplorer:
    return concentration_explorer(sample, top=10)


def test_builds_with_one_slider_per_available_criterion(panel):
    import ipywidgets as widgets

    assert isinstance(panel, widgets.VBox)
    assert list(panel.sliders) == list(ka.CRITERIA)
    assert panel.sliders["volume"].value == ka.DEFAULT_WEIGHTS["volume"]
    assert bytes(panel.image.value).lstrip().startswith(b"<?xml")
    assert "contribution" in panel.table.value
    assert "key: " in panel.counts.value


def test_weight_slider_rescores_and_redraws_in_place(panel):
    fig = panel.figure
    table0, image0, score0 = panel.table.value, panel.image.value, panel.result.score.copy()
    panel.sliders["volume"].value = 0.0
    panel.sliders["growth"].value = 1.0
    assert panel.figure is fig  # same figure, redrawn
    assert panel.table.value != table0
    assert panel.image.value != image0
    assert not np.allclose(panel.result.score, score0)
    assert panel.result.weights["growth"] > panel.result.weights["volume"] == 0.0
    # the table shows the new ranking
    top = panel.result.to_frame().iloc[0]
    assert str(top["account_id"]) in panel.table.value


def test_threshold_slider_changes_tiers(panel):
    n_key = int(panel.result.tier_counts()["key"])
    counts0 = panel.counts.value
    panel.key_threshold.value = 0.1
    assert int(panel.result.tier_counts()["key"]) > n_key
    assert panel.counts.value != counts0
    # strategic above key is clamped to key
    panel.strategic_threshold.value = 0.9
    assert panel.result.tier_rule.strategic == pytest.approx(0.1)


def test_all_zero_weights_show_message(panel):
    sliders = list(panel.sliders.values())
    for s in sliders[:-1]:
        s.value = 0.0
    before = panel.result
    sliders[-1].value = 0.0
    assert "positive weight" in panel.message.value
    assert panel.result is before


def test_missing_criteria_warn_once_and_are_listed():
    from kamsim.portfolio.datasets import load_wholesale

    with pytest.warns(ka.MissingCriterionWarning):
        p = concentration_explorer(load_wholesale())
    assert list(p.sliders) == ["volume", "product_line"]
    p.sliders["volume"].value = 0.9  # no further warning (filterwarnings = error)


# --- every explorer: controls, status line, readable tables, stable axes ------------------

import re  # noqa: E402

from kamsim.model import Scenario  # noqa: E402
from kamsim.portfolio.datasets import data_dir  # noqa: E402
from kamsim.views import widgets as panels  # noqa: E402
from kamsim.views.widgets.base import Explorer  # noqa: E402

RAW_NUMBER = re.compile(r"\d[eE][+-]\d\d|\d\.\d{4,}|\bnan\b|\bTrue\b|\bFalse\b")


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return Scenario.from_yaml(data_dir() / "sample_scenario.yaml")


def _builders(sc: Scenario) -> dict[str, object]:
    return {
        "concentration": lambda: panels.concentration_explorer(sc.portfolio, top=8),
        "worst_case": lambda: panels.worst_case_explorer(sc, n_paths=1_000),
        "replacement": lambda: panels.replacement_explorer(sc, n_paths=200),
        "pricing": lambda: panels.pricing_explorer(sc),
        "negotiation": lambda: panels.negotiation_panel(sc, top=4),
        "tornado": lambda: panels.tornado_explorer(sc, n_paths=512, rng=1),
    }


def _texts(panel: Explorer) -> str:
    import ipywidgets as widgets

    out: list[str] = []

    def walk(w: object) -> None:
        if isinstance(w, widgets.HTML) and "<style>" not in w.value:
            out.append(re.sub(r"<[^>]+>", " ", w.value))
        for c in getattr(w, "children", ()):
            walk(c)

    walk(panel)
    return " ".join(out)


def _positions(panel: Explorer) -> list[tuple[float, ...]]:
    return [tuple(round(v, 6) for v in ax.get_position().bounds) for ax in panel.figure.axes]


@pytest.mark.parametrize("name", ["concentration", "worst_case", "replacement", "pricing",
                                  "negotiation", "tornado"])
def test_every_slider_moves_without_error_and_axes_stay_put(name, scenario):
    panel = _builders(scenario)[name]()
    assert isinstance(panel, Explorer)
    assert panel.title
    assert panel.question
    first = _positions(panel)
    sliders = [s for s in panel.all_sliders() if not s.disabled]
    assert sliders
    for s in sliders:
        # a business label and a value written by the formatter, never a field name
        assert s.kamsim_label
        assert "_" not in s.kamsim_label, s.kamsim_label
        assert s.tooltip, s.kamsim_label
        if isinstance(s, panels.base.widgets.SelectionSlider):
            continue
        before = (bytes(panel.image.value), _texts(panel))
        up = s.value + s.step
        s.value = up if up <= s.max else s.value - s.step
        assert not panel.stale, (s.kamsim_label, panel.status.value)
        assert panel.status.value == ""
        assert (bytes(panel.image.value), _texts(panel)) != before, s.kamsim_label
        # the same axes in the same places after each redraw (frozen layout, pinned twins)
        assert _positions(panel) == first, s.kamsim_label
    text = _texts(panel)
    assert not RAW_NUMBER.search(text), RAW_NUMBER.search(text)


def test_pareto_cumulative_line_sits_on_its_bars_after_a_redraw(sample):
    panel = concentration_explorer(sample, top=8)
    panel.sliders["volume"].value = 0.1
    bars_ax, twin = panel.figure.axes[1], panel.figure.axes[2]
    assert twin.get_position().bounds == pytest.approx(bars_ax.get_position().bounds)


def test_charts_are_vector_images_shown_at_the_figure_size(scenario):
    panel = panels.pricing_explorer(scenario)
    svg = bytes(panel.image.value)
    assert panel.image.format == "svg+xml"
    assert svg.lstrip().startswith(b"<?xml")
    assert b"<text" in svg  # text stays text (svg.fonttype none): sharp and searchable
    css = panel.figure.get_size_inches() * 72
    assert panel.image.layout.max_width == f"{round(css[0])}px"
    panel.pass_through.value = 60.0
    again = bytes(panel.image.value)
    panel.pass_through.value = 50.0
    assert bytes(panel.image.value) == svg  # deterministic: same settings, same bytes
    assert again != svg


def test_pricing_gain_is_bounded_by_cost_to_serve_and_explained(scenario):
    panel = panels.pricing_explorer(scenario)
    cap = panels.pricing.max_gain_pct(scenario, panel.base)
    assert 0 < panel.gain.max <= cap < 10
    assert "stops at" in panel.summary.value
    # an out-of-range gain (e.g. set programmatically past a lowered bound) is explained
    panel._gain_cap = 1.0
    before = panel.image.value
    panel.gain.value = 2.0
    assert panel.stale
    assert "cost to serve" in panel.status.value
    assert panel.image.value == before
    assert "kamsim-stale" in panel.image._dom_classes
    panel._gain_cap = cap
    panel.gain.value = 1.0
    assert not panel.stale
    assert panel.status.value == ""


def test_credibility_is_clamped_and_phrased():
    from kamsim.views.widgets.pricing import credibility_phrase

    assert credibility_phrase(2.46) == "conceding never pays at these numbers"
    assert credibility_phrase(float("nan")) == "conceding never pays at these numbers"
    assert "empty" in credibility_phrase(0.0)
    assert credibility_phrase(0.5).endswith("50 % credible")


def test_panels_take_new_data(scenario):
    from dataclasses import replace

    small = replace(scenario, portfolio=scenario.portfolio.select(
        [str(a) for a in scenario.portfolio.account_ids[:40]]))
    panel = panels.worst_case_explorer(scenario, n_paths=1_000)
    before = panel.table.value
    panel.set_scenario(small)
    assert panel.table.value != before
    assert panel.current_scenario().portfolio.n_accounts == 40


# --- the data step ------------------------------------------------------------------------

FIXTURE = ROOT / "tests" / "fixtures" / "own_accounts.xlsx"


def test_suggest_mapping_reads_business_headers():
    from kamsim.views.widgets import suggest_mapping

    assert suggest_mapping(["Customer", "Company", "Sales 2025", "Margin", "Sector",
                            "Cost to serve"]) == {
        "Customer": "account_id", "Company": "name", "Sales 2025": "revenue",
        "Margin": "gross_margin", "Sector": "segment", "Cost to serve": "cost_to_serve"}
    assert suggest_mapping(["Kundennummer", "Umsatz", "Notes"]) == {
        "Kundennummer": "account_id", "Umsatz": "revenue"}
    assert suggest_mapping(["foo", "bar"]) == {}


def test_data_step_maps_checks_and_feeds_every_linked_panel(scenario, tmp_path):
    from kamsim.views.widgets import data_step

    step = data_step(scenario, folder=tmp_path / "shared")
    conc = panels.concentration_explorer(scenario.portfolio, top=5)
    worst = panels.worst_case_explorer(scenario, n_paths=1_000)
    step.link(conc, worst)
    step.load_file(FIXTURE)
    assert step.mapping["revenue"].value == "Sales 2025"
    assert step.mapping["account_id"].value == "Customer"
    assert step.churn_source.value == "one"  # the file has no churn column
    step.churn_one.value = 0.15
    sc = step.check()
    assert sc is not None
    assert sc.portfolio.n_accounts == 40
    assert "40 accounts" in step.result.value
    assert "Fjord Logistics" in step.result.value
    assert "15.0 % a year" in step.result.value
    # the sample's fixed costs would sink a 40-account business: scaled with revenue
    ratio = sc.portfolio.total_revenue / scenario.portfolio.total_revenue
    assert sc.fixed_costs == pytest.approx(scenario.fixed_costs * ratio, rel=1e-3, abs=100)
    assert "scaled with revenue" in step.result.value
    # every linked panel shows the new data
    assert "Fjord Logistics" in conc.table.value
    assert worst.current_scenario().portfolio.n_accounts == 40
    # shared with the app's other pages, and re-read from there
    again = data_step(folder=tmp_path / "shared")
    assert again.scenario.portfolio.n_accounts == 40
    assert "home page" in again.result.value


def test_data_step_explains_problems_in_plain_words(scenario, tmp_path):
    from kamsim.views.widgets import data_step

    step = data_step(scenario, folder=tmp_path)
    step.check()
    assert "Upload a file" in step.result.value
    step.load_file(FIXTURE)
    step.mapping["revenue"].value = ""
    step.check()
    assert "Choose the column that holds: Revenue a year" in step.result.value
    step.mapping["revenue"].value = "Sector"  # text where amounts belong
    step.check()
    assert "&#10007;" in step.result.value
    assert "Traceback" not in step.result.value
    step.mapping["revenue"].value = "Sales 2025"
    step.churn_source.value = "column"
    step.check()
    assert "no churn column" in step.result.value
    step.churn_source.value = "tier"
    assert step.check() is not None
    assert "per tier" in step.result.value


def test_data_step_saves_a_scenario_the_report_accepts(scenario, tmp_path):
    from kamsim.views.widgets import data_step

    step = data_step(scenario, folder=tmp_path / "shared")
    step.load_file(FIXTURE)
    step.check()
    step.assumptions["horizon_months"].value = 18
    step.apply_assumptions()
    step.save_path.value = str(tmp_path / "out" / "mine.yaml")
    p = step.save()
    assert p is not None
    back = Scenario.from_yaml(p)
    assert back.horizon_months == 18
    assert back.portfolio.n_accounts == 40
    assert back.churn.annual_prob == pytest.approx(0.10)
    assert "kamsim report --scenario" in step.saved.value


def test_data_step_widgets_do_not_share_a_layout(scenario, tmp_path):
    """Hiding the per-tier fields must not hide the column dropdowns (a shared Layout did)."""
    from kamsim.views.widgets import data_step

    step = data_step(scenario, folder=tmp_path)
    step.load_file(FIXTURE)
    step.churn_source.value = "one"
    shown = [*step.mapping.values(), *step.assumptions.values(), step.churn_one]
    assert len({id(w.layout) for w in shown}) == len(shown)
    assert all(w.layout.display != "none" for w in shown)
    assert all(w.layout.display == "none" for w in step.churn_tiers.values())


def test_pareto_right_axis_labels_stay_inside_the_figure(sample):
    panel = concentration_explorer(sample, top=8)
    for _ in range(2):  # the first render (layout engine) and a redraw (frozen layout)
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        fig = panel.figure
        renderer = FigureCanvasAgg(fig).get_renderer()
        box = fig.bbox
        twin = fig.axes[2]
        labels = [t for t in twin.get_yticklabels() if t.get_text()]
        assert labels
        for t in labels:
            ext = t.get_window_extent(renderer)
            assert ext.x1 <= box.x1 + 1, t.get_text()
        panel.sliders["volume"].value = 0.2


# --- static tables of notebooks 03-06 ------------------------------------------------------


def test_static_tables_are_readable_and_not_panels():
    import pandas as pd

    from kamsim.views.widgets import tables

    s = pd.DataFrame({"metric": ["expected revenue gap", "P(out of cash within horizon)",
                                 "median months to recover", "pays for itself"],
                      "value": [2.2516e7, 0.532, float("nan"), 0.0],
                      "unit": ["currency", "probability", "months (not within horizon)",
                               "bool"]})
    t = tables.metric_table(s, horizon=36)
    text = re.sub(r"<[^>]+>", " ", t.html)
    for want in ("€22.5M", "53.2 %", "not within 36 months", "no", "Expected revenue gap"):
        assert want in text, want
    assert not RAW_NUMBER.search(text)
    # shown in notebooks and Voila, but never taken for an explorer panel
    assert "kamsim-explorer" not in t._repr_html_()
    v = tables.negotiation_view(pd.DataFrame({
        "name": ["A"], "revenue": [5.7e6], "ev_concede": [1.3e6], "ev_refuse": [1.7e6],
        "walk_away": [0.0278], "break_even_credibility": [2.46], "decision": ["refuse"]}))
    assert v.html.index("Account") < v.html.index("Revenue a year")
    assert "never" in v.html
    assert "2.8 %" in v.html
    assert not RAW_NUMBER.search(re.sub(r"<[^>]+>", " ", v.html))


def test_worst_case_heavy_tails_use_monte_carlo_on_common_random_numbers(scenario):
    panel = panels.worst_case_explorer(scenario, n_paths=1_000)
    assert panel.nu.disabled  # the Gaussian model has no degrees of freedom
    assert "(exact)" in panel.table.value
    gaussian = panel.distribution.var(0.95)
    panel.copula.value = "t"
    assert not panel.nu.disabled
    assert not panel.stale
    assert panel.current_scenario().churn.copula == "t"
    assert "common random numbers" in panel.table.value
    heavy = panel.distribution.var(0.95)
    panel.nu.value = 3.0  # heavier tails: a worse 1-in-20 year
    assert panel.distribution.var(0.95) >= heavy * 0.98
    assert heavy != gaussian
    panel.copula.value = "gaussian"
    assert panel.nu.disabled
    assert panel.current_scenario().churn.nu is None


@pytest.mark.parametrize("name", ["concentration", "worst_case", "replacement", "pricing",
                                  "negotiation", "tornado"])
def test_reused_svg_parts_give_the_same_bytes_as_a_full_render(name, scenario):
    """Panels copy the SVG of unchanged axes: the image equals savefig's, byte for byte."""
    import io

    import matplotlib

    from kamsim.views.plots.svg import SVG_RC

    panel = _builders(scenario)[name]()
    for s in [s for s in panel.all_sliders() if not s.disabled][:4]:
        up = s.value + s.step
        s.value = up if up <= s.max else s.value - s.step
        buf = io.BytesIO()
        with matplotlib.rc_context(SVG_RC):
            panel.figure.savefig(buf, format="svg", metadata={"Date": None})
        assert bytes(panel.image.value) == buf.getvalue(), s.kamsim_label


def test_an_unchanged_figure_is_copied_again_on_the_next_render(sample):
    """The figure's draw marks every axes stale (apply_aspect): a copied one is reset."""
    from kamsim.views.plots.svg import render_svg

    panel = concentration_explorer(sample, top=8)
    fig = panel.figure
    full = render_svg(fig)
    for _ in range(2):  # copied twice in a row: nothing stale, the same bytes
        assert render_svg(fig, reuse=True) == full
        assert not any(ax.stale for ax in fig.axes)
    fig.axes[0].set_xlim(0, 2.0)  # a real change is drawn again
    assert render_svg(fig, reuse=True) == render_svg(fig) != full


def test_retention_budget_moves_the_ring_and_copies_nothing_stale():
    """A budget move moves the ring of the same chart; the image equals savefig's."""
    import io

    import matplotlib

    from kamsim.economics.retention import retention_frontier, retention_futures
    from kamsim.portfolio.datasets import data_dir
    from kamsim.views.plots.svg import SVG_RC

    sc = Scenario.from_yaml(data_dir() / "sample_scenario.yaml")
    fr = retention_frontier(retention_futures(sc, n_paths=300, rng=1),
                            budgets=[0, 1e5, 2e5, 4e5])
    panel = panels.retention_explorer(fr)
    (ax,) = panel.figure.axes
    first = ax.get_position().bounds
    xy = ax.lines[0].get_xydata()
    for k in (0, 2, 1):
        panel.budget.value = k
        assert panel.figure.axes == [ax]
        assert ax.get_position().bounds == first
        assert panel._chart is not None
        assert panel._chart.ring is not None
        assert panel._chart.ring.get_xydata()[0].tolist() == xy[k].tolist()
        buf = io.BytesIO()
        with matplotlib.rc_context(SVG_RC):
            panel.figure.savefig(buf, format="svg", metadata={"Date": None})
        assert bytes(panel.image.value) == buf.getvalue()
    with pytest.raises(ValueError, match="highlight must be a point"):
        panel._chart.set_highlight(9)


def _savefig_svg(fig) -> bytes:
    import io

    import matplotlib

    from kamsim.views.plots.svg import SVG_RC

    buf = io.BytesIO()
    with matplotlib.rc_context(SVG_RC):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    return buf.getvalue()


def test_replacement_every_slider_twice_gives_savefig_bytes_and_costs_copy_two_charts(
        scenario):
    """Axes, axis and legend parts are copied (keep_svg); the image stays savefig's."""
    panel = panels.replacement_explorer(scenario, n_paths=200)
    fig = panel.figure
    for s in panel.all_sliders():
        for _ in range(2):  # the second move copies the parts the first one drew
            up = s.value + s.step
            s.value = up if up <= s.max else s.value - s.step
            assert bytes(panel.image.value) == _savefig_svg(fig), s.kamsim_label
    revenue, recovery, cash = fig.axes
    parts = dict(fig._kamsim_svg_parts)
    assert {revenue.xaxis, recovery.get_legend(), cash.yaxis} <= set(parts)
    panel.fixed_costs.value = panel.fixed_costs.value + panel.fixed_costs.step
    # other fixed costs: the same revenue and recovery, so those charts are copied
    now = fig._kamsim_svg_parts
    assert now[revenue] is parts[revenue]
    assert now[recovery] is parts[recovery]
    assert now[cash] is not parts[cash]
    assert bytes(panel.image.value) == _savefig_svg(fig)


def test_kept_parts_are_drawn_again_when_their_key_or_definitions_change():
    """A legend text (not marked stale) and a tick marker first defined elsewhere."""
    from matplotlib.figure import Figure

    from kamsim.views.plots.svg import keep_svg, render_svg

    fig = Figure(figsize=(6, 2), dpi=72)
    ax0, ax1 = fig.subplots(1, 2)
    line = ax0.plot([1, 2], [3, 4], label="a")[0]
    ax1.plot([1, 2], [3, 4])
    legend = ax0.legend()
    keep_svg(ax1.xaxis, lambda: tuple(ax1.get_xlim()))
    keep_svg(legend, lambda: tuple(t.get_text() for t in legend.get_texts()))
    render_svg(fig, reuse=True)
    legend.get_texts()[0].set_text("a longer label")
    line.set_ydata([3, 5])
    assert render_svg(fig, reuse=True) == _savefig_svg(fig)
    # ax1's x axis used the tick marker ax0's x axis defined; with red ticks on ax0 it
    # defines its black marker itself (same key and counters, another document)
    ax0.tick_params(axis="x", color="red")
    ax1.lines[0].set_ydata([3, 5])
    assert render_svg(fig, reuse=True) == _savefig_svg(fig)
    ax0.tick_params(axis="x", color="black")
    ax1.lines[0].set_ydata([3, 6])
    assert render_svg(fig, reuse=True) == _savefig_svg(fig)
    ax1.xaxis.set_visible(False)  # visibility is part of every part's state
    assert render_svg(fig, reuse=True) == _savefig_svg(fig)


def test_a_copied_part_is_renumbered_when_the_parts_before_it_have_more_groups():
    """More y ticks on the first axes: the second is copied with its ids counted on."""
    from matplotlib.figure import Figure

    from kamsim.views.plots.svg import render_svg

    fig = Figure(figsize=(6, 2), dpi=72)
    ax0, ax1 = fig.subplots(1, 2)
    ax0.plot([1, 2], [3, 4])
    ax1.plot([1, 2], [3, 4])
    render_svg(fig, reuse=True)
    for top in (4.0, 40.0, 4.0):  # 6, then 9 y ticks, then 6 again
        ax0.set_ylim(3.0, top)
        part = fig._kamsim_svg_parts[ax1]
        svg = render_svg(fig, reuse=True)
        assert fig._kamsim_svg_parts[ax1] is part  # copied, not drawn
        assert svg == _savefig_svg(fig)
