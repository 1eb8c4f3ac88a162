"""The board pack without a kernel: set-up overrides, summary rules, tables, HTML, outputs."""

from __future__ import annotations

import dataclasses
import math
import os

import numpy as np
import pandas as pd
import pytest

from kamsim.analysis.headline import headline_figures
from kamsim.engine import simulate
from kamsim.model import Scenario
from kamsim.portfolio import read_accounts
from kamsim.views.report import (
    COLUMNS,
    RULES,
    SCENARIO_OVERRIDES,
    SNAKE_CASE,
    board_table,
    case_label,
    compute_report,
    conclusions,
    executive_summary_html,
    markdown_html,
    new_generation,
    page_css,
    publish,
    recommended_actions,
    render_html,
    report_parameters,
    report_scenario,
)
from kamsim.views.report.outputs import STORE
from tests.conftest import DATA


def _history(scenario: Scenario, path):
    rng = np.random.default_rng(3)
    ids = list(scenario.portfolio.account_ids)
    start = pd.Timestamp("2018-01-01") + pd.to_timedelta(rng.integers(0, 1500, len(ids)), "D")
    end = start + pd.to_timedelta(rng.exponential(365 * 6, len(ids)).astype(int), "D")
    end = end.where(end < pd.Timestamp("2025-06-30"), pd.NaT)
    pd.DataFrame({"account_id": ids, "start_date": start.strftime("%Y-%m-%d"),
                  "end_date": end.strftime("%Y-%m-%d")}).to_csv(path, index=False)
    return path


def _fields(sc: Scenario) -> dict[str, object]:
    return {f.name: getattr(sc, f.name) for f in dataclasses.fields(sc)}


def _override_values(tmp_path) -> dict[str, dict[str, object]]:
    base = Scenario.from_yaml(DATA / "sample_scenario.yaml")
    renamed = tmp_path / "renamed.csv"
    accounts = pd.read_csv(DATA / "sample_accounts.csv")
    accounts.head(200).rename(columns={"revenue": "Sales"}).to_csv(renamed, index=False)
    other = tmp_path / "other.csv"
    pd.read_csv(DATA / "sample_accounts.csv").head(120).to_csv(other, index=False)
    return {
        "horizon_months": {"horizon_months": 36},
        "accounts_file": {"accounts_file": str(other)},
        "column_mapping": {"accounts_file": str(renamed), "column_mapping": {"Sales": "revenue"}},
        "history_file": {"history_file": str(_history(base, tmp_path / "history.csv"))},
    }


def test_every_scenario_override_is_listed():
    spec = report_parameters()
    assert set(SCENARIO_OVERRIDES) <= set(spec)


@pytest.mark.parametrize("name", sorted(SCENARIO_OVERRIDES))
def test_every_report_override_keeps_every_other_scenario_field(name, tmp_path):
    base = report_scenario().scenario
    kwargs = _override_values(tmp_path)[name]
    changed = report_scenario(**kwargs).scenario
    allowed = set(SCENARIO_OVERRIDES[name]) | (
        {"portfolio"} if "accounts_file" in kwargs else set())
    before, after = _fields(base), _fields(changed)
    for field, value in before.items():
        if field not in allowed:
            assert after[field] == value, f"{name} changed {field}"
    # the overridden field did change
    assert any(after[f] != before[f] for f in allowed)


def test_horizon_override_keeps_replacement_cash_and_plans():
    sc = report_scenario(horizon_months=36).scenario
    assert sc.horizon_months == 36
    assert sc.replacement is not None
    assert sc.opening_cash == 2_500_000
    assert sc.plans is not None
    assert sc.budget is not None


@pytest.fixture(scope="module")
def figs():
    return compute_report(report_scenario(), n_paths=2_000, seed=11)


def test_headline_figures_are_the_library_numbers(figs):
    sc = figs.scenario
    r = simulate(sc, n_paths=2_000, rng=11, progress=False)
    h = headline_figures(sc, r)
    assert h == figs.headline
    assert h.var_95 == r.var(0.95)
    assert h.prob_below_break_even == r.prob_below_break_even()
    assert "with replacement" in h.label
    bare = dataclasses.replace(sc, replacement=None)
    assert "churn only" in headline_figures(bare, simulate(bare, n_paths=500, rng=1,
                                                           progress=False)).label
    with pytest.raises(ValueError, match="another scenario"):
        headline_figures(bare, r)


def test_each_conclusion_has_a_number_and_says_what_it_assumes(figs):
    cs = conclusions(figs)
    topics = [c.topic for c in cs]
    assert {"Concentration", "Bad years", "Break-even", "Cash", "Replacement",
            "Negotiation", "Key assumption"} <= set(topics)
    for c in cs:
        assert any(ch.isdigit() for ch in c.text), c
        assert c.assumes
    bad = next(c for c in cs if c.topic == "Bad years")
    assert "correlation 0.2" in bad.assumes
    assert "2,000 simulated futures" in bad.assumes
    be = next(c for c in cs if c.topic == "Break-even")
    assert "if lost revenue were never replaced" in be.text


def test_actions_come_from_documented_rules_and_cite_their_number(figs):
    acts = recommended_actions(figs)
    assert 3 <= len(acts) <= 5
    for a in acts:
        assert a.rule in RULES
        assert any(ch.isdigit() for ch in a.figure), a
    assert acts[0].rule == "retention-plan"
    assert "Maplebrook Hospitality" in acts[0].text
    assert "18.0 %" in acts[0].figure


def test_no_action_without_its_figure():
    sc = Scenario.from_yaml(DATA / "sample_scenario.yaml")
    bare = dataclasses.replace(sc, replacement=None, opening_cash=None, plans=None,
                               budget=None, fixed_costs=0.0)
    f = compute_report(bare, n_paths=500, seed=1, sections=("worst_cases",))
    rules = {a.rule for a in recommended_actions(f)}
    assert not rules & {"retention-plan", "credit-line", "fixed-costs", "negotiation",
                        "sensitivity"}


def test_board_tables_have_human_headers_and_no_raw_values():
    df = pd.DataFrame({"case": ["base case", "lose top 1", "lose top 2"],
                       "revenue_lost": [0.0, 5_748_509.0, np.nan],
                       "revenue_lost_share": [0.0, 0.18, None],
                       "above_break_even": [True, True, False]})
    t = board_table(df)
    assert list(t.frame.columns) == ["Case", "Revenue lost a year", "Revenue lost (% of total)",
                                     "Covers fixed costs?"]
    text = t.to_html()
    for raw in ("nan", "None", "5748509", "0.18", "lose top"):
        assert raw not in text
    assert "€5.7M" in text
    assert "18.0 %" in text
    assert case_label("lose top 2") == "Lose the top 2"


def test_no_column_label_is_snake_case():
    for col, (label, _kind) in COLUMNS.items():
        assert not SNAKE_CASE.search(label), (col, label)
    with pytest.raises(ValueError, match="no board label"):
        board_table(pd.DataFrame({"mystery_col": [1]}))


def test_summary_html_escapes_names_and_currency(figs):
    sc = figs.scenario
    df = sc.portfolio.to_frame()
    df.loc[df["revenue"].idxmax(), "name"] = "<img src=x onerror=alert(1)>"
    pf = read_accounts(df)
    f = compute_report(dataclasses.replace(sc, portfolio=pf), n_paths=500, seed=1,
                       sections=("worst_cases",), currency="<b>$</b>")
    text = executive_summary_html(f, company_name="<script>x</script>")
    assert "<img" not in text
    assert "<script>" not in text
    assert "<b>$</b>" not in text
    assert "&lt;b&gt;$&lt;/b&gt;" in text


def test_markdown_keeps_dollars_and_escapes_html():
    out = markdown_html("We lose **$1.2M** and $3M; <img src=x onerror=alert(1)> &lt;b&gt;")
    assert "$1.2M" in out
    assert "$3M" in out
    assert "<img" not in out
    assert "&lt;b&gt;" in out
    assert "&amp;lt;" not in out


def test_page_css_sizes_and_escapes_the_running_header():
    css = page_css("A4", left='Evil "} body {display:none', right="x")
    assert "size: 210mm 297mm" in css
    # the quote and braces are CSS escapes inside the string: user text cannot leave it
    assert 'content: "Evil \\000022 \\00007d  body \\00007b display:none"' in css
    assert "counter(page)" in css
    assert "size: 215.9mm 279.4mm" in page_css("Letter")
    with pytest.raises(ValueError, match="paper must be one of"):
        page_css("A5")  # type: ignore[arg-type]


def test_rendered_page_has_no_script_and_no_network():
    cells = [
        {"cell_type": "code", "metadata": {"tags": ["parameters"]},
         "outputs": [{"output_type": "stream", "name": "stdout", "text": "secret"}]},
        {"cell_type": "code", "metadata": {"tags": ["section:summary"]},
         "outputs": [{"output_type": "display_data",
                      "data": {"text/markdown": "Costs **$1M** and $2M", "text/plain": "x"}},
                     {"output_type": "display_data",
                      "data": {"text/plain": "<Figure size 800x400 with 1 Axes>"}}]},
    ]
    page = render_html(cells, title="<T>", company="ACME", run_date="2026-01-01 10:00 UTC")
    assert "<script" not in page.lower()
    assert "http://" not in page
    assert "https://" not in page
    assert "secret" not in page
    assert "<Figure" not in page
    assert "$1M" in page
    assert "&lt;T&gt;" in page


def test_output_set_is_replaced_as_a_whole(tmp_path):
    out = tmp_path / "out"
    first = new_generation(out)
    (first.path / "tables").mkdir()
    (first.path / "tables" / "worst_cases_segment.csv").write_text("old client")
    (first.path / "board_report.html").write_text("old")
    publish(first)
    assert (out / "tables" / "worst_cases_segment.csv").read_text() == "old client"
    # a killed run leaves a generation and a staging folder of the old layout behind
    killed = new_generation(out)
    (killed.path / "board_report.html").write_text("half written")
    (out / ".staging-abc").mkdir()
    second = new_generation(out)  # cleans them
    assert not killed.path.exists()
    assert not (out / ".staging-abc").exists()
    (second.path / "tables").mkdir()
    (second.path / "tables" / "risk_table.csv").write_text("new")
    (second.path / "board_report.html").write_text("new")
    publish(second)
    assert (out / "board_report.html").read_text() == "new"
    assert sorted(p.name for p in (out / "tables").iterdir()) == ["risk_table.csv"]
    assert not first.path.exists()
    gens = sorted(p.name for p in (out / STORE).glob("gen-*"))
    assert gens == [second.path.name]
    assert (out / "manifest.json").is_file()
    assert os.path.islink(out / "board_report.html")


def test_output_set_replaces_files_of_the_old_layout(tmp_path):
    out = tmp_path / "out"
    (out / "tables").mkdir(parents=True)
    (out / "tables" / "stale.csv").write_text("x")
    (out / "board_report.html").write_text("old layout")
    gen = new_generation(out)
    (gen.path / "board_report.html").write_text("new")
    publish(gen)
    assert (out / "board_report.html").read_text() == "new"
    assert not (out / "tables").exists()


def test_replacement_view_never_prints_nan():
    from kamsim.views.report import replacement_view

    s = pd.DataFrame({"statistic": ["median", "p90", "share_not_recovered"],
                      "value": [20.0, math.nan, 0.3], "within_horizon": [True, False, True],
                      "display": ["20", "not within 36 months", "30.0%"]})
    text = replacement_view(s, horizon=36).to_html()
    assert "nan" not in text.lower()
    assert "not within 36 months" in text


@pytest.mark.parametrize("currency", ["<img src=x onerror=alert(1)>", "`x`", "*", "a" * 9])
def test_currency_with_markup_is_refused_before_any_kernel(currency):
    from kamsim.views.report import ReportError, validate_parameters

    with pytest.raises(ReportError, match="currency"):
        validate_parameters({"currency": currency})


@pytest.mark.parametrize("currency", ["$", "€", "£", "CHF ", "USD "])
def test_ordinary_currencies_pass(currency):
    from kamsim.views.report import validate_parameters

    assert validate_parameters({"currency": currency})["currency"] == currency


def test_dollar_amounts_in_a_chart_title_are_not_maths():
    import matplotlib

    from kamsim.analysis.worst_case import lose_top_k
    from kamsim.views.plots import style, worst_case_waterfall

    sc = Scenario.from_yaml(DATA / "sample_scenario.yaml")
    with matplotlib.rc_context(style.print_style()):
        fig = worst_case_waterfall(lose_top_k(sc.portfolio, 3, fixed_costs=sc.fixed_costs),
                                   fixed_costs=sc.fixed_costs, currency="$")
        fig.canvas.draw()
        texts = [t for ax in fig.axes for t in ax.texts]
    assert any("$" in t.get_text() for t in texts)
    assert all(not t.get_parse_math() for t in texts)


def test_waterfall_limits_contain_every_bar_and_label():
    from kamsim.analysis.worst_case import lose_top_k
    from kamsim.views.plots import worst_case_waterfall

    sc = Scenario.from_yaml(DATA / "sample_scenario.yaml")
    wc = lose_top_k(sc.portfolio, 5, fixed_costs=sc.fixed_costs)
    fig = worst_case_waterfall(wc, fixed_costs=sc.fixed_costs)
    ax = fig.axes[0]
    lo, hi = ax.get_ylim()
    tops = [p.get_y() + p.get_height() for p in ax.patches]
    assert max(tops) < hi
    assert min(p.get_y() for p in ax.patches) >= lo
    fig.canvas.draw()
    box = ax.get_window_extent()
    for t in ax.texts:  # value labels inside the axes, below the title
        bb = t.get_window_extent()
        assert bb.y1 <= box.y1 + 0.5
    assert "pushes profit below fixed costs" in ax.get_title()


def test_efficiency_waterfall_labels_stay_inside_and_below_the_title():
    from kamsim.economics import pricing
    from kamsim.views.plots import pass_through_waterfall

    sc = Scenario.from_yaml(DATA / "sample_scenario.yaml")
    pa = pricing.PricingAssumptions(gains=pricing.EfficiencyGains(pct_of_revenue=0.03))
    fig = pass_through_waterfall(pricing.pass_through_breakdown(sc, pa, 0.5))
    ax = fig.axes[0]
    fig.canvas.draw()
    box = ax.get_window_extent()
    lo, hi = ax.get_ylim()
    assert all(lo <= p.get_y() and p.get_y() + p.get_height() < hi for p in ax.patches)
    for t in ax.texts:
        assert t.get_window_extent().y1 <= box.y1 + 0.5
    assert ax.get_title().startswith("Passing back 50 % of the gains keeps")


def test_a_bare_scenario_still_gets_actions_with_their_numbers(tmp_path):
    acc = tmp_path / "acc.csv"
    pd.read_csv(DATA / "sample_accounts.csv").head(79).to_csv(acc, index=False)
    sc_file = tmp_path / "s.yaml"
    sc_file.write_text("name: bare\naccounts: acc.csv\nhorizon_months: 12\n")
    f = compute_report(report_scenario(scenario_file=sc_file), n_paths=2_000, seed=1)
    acts = recommended_actions(f)
    assert 3 <= len(acts) <= 5
    assert {"diversify", "stress-budget"} <= {a.rule for a in acts}
    assert all(any(ch.isdigit() for ch in a.figure) for a in acts)
    neg = next(c for c in conclusions(f) if c.topic == "Negotiation")
    assert "without replacement" in neg.assumes
    text = executive_summary_html(f)
    for raw in ("nan", "None", "inf"):
        assert f" {raw}" not in text


def test_a_generation_of_another_live_run_is_kept(tmp_path):
    import subprocess
    import sys

    out = tmp_path / "out"
    new_generation(out)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        busy = out / STORE / f"gen-20260101T000000-p{other.pid}-abc"
        busy.mkdir()
        dead = out / STORE / "gen-20260101T000000-p999999999-abc"
        dead.mkdir()
        new_generation(out)
        assert busy.exists()
        assert not dead.exists()
    finally:
        other.kill()
        other.wait()
