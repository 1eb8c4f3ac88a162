"""Tests of kamsim.analysis.sensitivity and its plots.

All runs use fixed seeds. Common random numbers make several properties exact rather
than statistical (a zero-width range gives exactly the base output; more churn gives at
least as much loss path by path), so these tests are not flaky.
"""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from kamsim.analysis.calibrate import fit_churn, history_from_durations
from kamsim.analysis.sensitivity import (
    DUMMY,
    METRICS,
    Metric,
    Parameter,
    compare_scenarios,
    default_parameters,
    global_sensitivity,
    price_cut_portfolio,
    tornado,
    tornado_table,
    with_changes,
)
from kamsim.exceptions import AssumptionError
from kamsim.model import Scenario
from kamsim.portfolio import Portfolio
from kamsim.views.plots.sensitivity import (
    global_sensitivity_plot,
    scenario_comparison_plot,
    survival_plot,
    tornado_plot,
)
from tests.conftest import DATA

N = 4096


@pytest.fixture(scope="module")
def base():
    return Scenario.from_yaml(DATA / "sample_scenario.yaml")


def test_tornado_ordered_reproducible_and_monotone(base):
    t1 = tornado(base, metric="expected_loss", n_paths=N, rng=7)
    t2 = tornado(base, metric="expected_loss", n_paths=N, rng=7)
    pd.testing.assert_frame_equal(t1.table, t2.table)
    tab = t1.table
    assert list(tab["swing"]) == sorted(tab["swing"], reverse=True)
    expected = set(default_parameters())
    if base.replacement is not None:
        from kamsim.analysis.sensitivity import replacement_parameters

        expected |= set(replacement_parameters())
    assert set(tab["parameter"]) == expected
    by = tab.set_index("parameter")
    # churn level dominates expected loss; fixed costs do not touch it at all
    assert tab["parameter"].iloc[0] == "churn_level"
    assert by.loc["fixed_costs", "swing"] == 0.0
    # common random numbers: more churn never gives less loss
    assert by.loc["churn_level", "output_low"] < t1.base_output < by.loc[
        "churn_level", "output_high"]
    assert by.loc["churn_level", "low_value"] == 0.5
    assert by.loc["churn_level", "high_value"] == 1.5
    # ranges are clipped to the horizon for the notice period
    assert by.loc["notice_months", "high_value"] == 3.0


def test_tornado_bars_are_not_noise(base):
    # a zero-width range reproduces the base output exactly (same draws)
    t = tornado(base, metric="var_95", n_paths=N, rng=3,
                ranges={"churn_level": (1.0, 1.0), "fixed_costs": (7.6e6, 7.6e6)})
    by = t.table.set_index("parameter")
    assert by.loc["churn_level", "change_low"] == 0.0
    assert by.loc["churn_level", "change_high"] == 0.0
    assert by.loc["fixed_costs", "swing"] == 0.0


def test_break_even_metric_moves_with_fixed_costs(base):
    t = tornado(base, metric="prob_below_break_even", n_paths=N, rng=1,
                parameters=[default_parameters()["fixed_costs"]])
    row = t.table.iloc[0]
    assert row["output_low"] < t.base_output < row["output_high"]
    assert t.metric_unit == "probability"


def test_custom_parameter_and_metric_extend_the_set(base):
    horizon = Parameter(
        name="horizon_months", label="horizon", unit="months", integer=True,
        apply=lambda s, v: replace(s, horizon_months=int(v)),
        current=lambda s: float(s.horizon_months), spread=0.5, bounds=(6, 60))
    p_none = Metric(name="p_none", label="P(no account lost)", unit="probability",
                    fn=lambda r: float((r.per_path["accounts_lost"] == 0).mean()))
    params = {**default_parameters(), "horizon_months": horizon}
    tab = tornado_table(base, metric="expected_accounts_lost", parameters=params,
                        n_paths=2048, rng=2)
    row = tab.set_index("parameter").loc["horizon_months"]
    assert (row["low_value"], row["high_value"]) == (12.0, 36.0)
    assert row["output_low"] < row["output_high"]
    assert tab.attrs["metric"] == "expected_accounts_lost"
    t = tornado(base, metric=p_none, parameters=[horizon], n_paths=2048, rng=2)
    assert t.metric == "p_none"


def test_errors(base):
    with pytest.raises(AssumptionError, match="unknown metric"):
        tornado(base, metric="nope", n_paths=64, rng=0)
    with pytest.raises(AssumptionError, match="unknown parameter"):
        tornado(base, ranges={"nope": (0, 1)}, n_paths=64, rng=0)
    with pytest.raises(AssumptionError, match="range must be"):
        tornado(base, ranges={"churn_level": (2, 1)}, n_paths=64, rng=0)
    with pytest.raises(AssumptionError, match="unknown parameter"):
        with_changes(base, {"nope": 1.0})
    with pytest.raises(AssumptionError, match="unique"):
        compare_scenarios([base, base], n_paths=64, rng=0)


def test_compare_scenarios_common_random_numbers(base):
    scen = {
        "baseline": base,
        "same again": replace(base, name="copy"),
        "recession": with_changes(base, {"churn_level": 1.5, "correlation": 0.35}),
        "program": with_changes(base, {"churn_level": 0.8}),
        "price cut": with_changes(base, {"price_cut": 0.03, "churn_level": 0.9}),
    }
    cmp = compare_scenarios(scen, n_paths=N, rng=11)
    tab = cmp.to_frame()
    assert list(tab.columns) == ["scenario", "metric", "label", "unit", "value", "change"]
    assert cmp.common_accounts
    w = cmp.wide()
    assert w.index.tolist() == list(scen)
    same = tab[tab["scenario"] == "same again"]
    assert (same["change"] == 0.0).all()  # identical assumptions, identical draws
    el = tab[tab["metric"] == "expected_loss"].set_index("scenario")["value"]
    assert el["recession"] > el["baseline"] > el["program"]


def test_price_cut_portfolio(sample):
    cut = price_cut_portfolio(sample, 0.05)
    np.testing.assert_allclose(cut.revenue, sample.revenue * 0.95)
    np.testing.assert_allclose(cut.gross_profit, sample.gross_profit - 0.05 * sample.revenue)
    with pytest.raises(AssumptionError, match="price_cut"):
        price_cut_portfolio(sample, 1.0)
    assert isinstance(cut, Portfolio)


def test_global_sensitivity_pawn_ranks_and_reproducible(base):
    kw = {"metric": "expected_loss", "n_samples": 120, "n_paths": 512, "rng": 5}
    g1 = global_sensitivity(base, **kw)
    g2 = global_sensitivity(base, **kw)
    pd.testing.assert_frame_equal(g1.table, g2.table)
    tab = g1.table.set_index("parameter")
    assert "price_cut" not in tab.index  # a decision, not an uncertain assumption
    # churn level stands far above the dummy input's noise floor
    assert tab.loc["churn_level", "importance"] > 2 * tab.loc[DUMMY, "importance"]
    # churn level drives expected loss; the others (fixed costs and correlation do not
    # change the mean loss at all) sit at PAWN's sampling-noise floor, far below it
    assert g1.table["parameter"].iloc[0] == "churn_level"
    assert tab.loc["churn_level", "importance"] > 2 * g1.table["importance"].iloc[1]
    assert g1.samples.shape == (120, len(tab) + 1)


def test_global_sensitivity_delta_leaves_global_state_alone(base):
    before = np.random.get_state()[1].copy()  # noqa: NPY002
    filters = list(warnings.filters)
    fmt = warnings.formatwarning
    kw = {"metric": "expected_loss", "method": "delta", "n_samples": 50, "dummy": False,
          "n_paths": 256, "num_resamples": 4, "rng": 4}
    g = global_sensitivity(base, **kw)
    assert np.array_equal(np.random.get_state()[1], before)  # noqa: NPY002
    assert warnings.filters == filters
    assert warnings.formatwarning is fmt
    assert {"delta", "delta_conf", "S1"} <= set(g.table.columns)
    assert g.table["parameter"].iloc[0] == "churn_level"
    g2 = global_sensitivity(base, **kw)
    pd.testing.assert_frame_equal(g.table, g2.table)


def test_plots_return_figures(base):
    t = tornado(base, n_paths=2048, rng=0)
    fig = tornado_plot(t, top=4)
    assert isinstance(fig, Figure)
    assert len(fig.axes[0].patches) == 8
    cmp = compare_scenarios([base, with_changes(base, {"churn_level": 1.4}, name="bad")],
                            metrics=["var_95", "prob_below_break_even"], n_paths=2048, rng=0)
    assert len(scenario_comparison_plot(cmp).axes) == 2
    with pytest.raises(ValueError, match="unknown metric"):
        scenario_comparison_plot(cmp, metrics=["es_99"])
    g = global_sensitivity(base, n_samples=20, n_paths=256, rng=0)
    assert isinstance(global_sensitivity_plot(g), Figure)
    h = history_from_durations([1, 2, 3, 4, 5, 6], [1, 0, 1, 0, 1, 0])
    fits = [fit_churn(h, model=m) for m in ("kaplan_meier", "weibull")]
    fig = survival_plot(fits, n_draws=10, rng=0)
    assert len(fig.axes[0].get_lines()) == 3
    assert set(METRICS) >= {"expected_loss", "var_95", "es_95", "prob_below_break_even"}


def test_replacement_parameters_join_the_tornado_and_move_cash_not_losses():
    from kamsim.analysis.sensitivity import replacement_parameters, tornado_runs
    from kamsim.portfolio.datasets import data_dir

    sc = Scenario.from_yaml(data_dir() / "sample_scenario.yaml")
    runs = tornado_runs(sc, n_paths=2048, rng=5)
    names = {p.name for p, *_ in runs.rows}
    assert set(replacement_parameters()) <= names
    var = runs.tornado("var_95").table.set_index("parameter")
    gap = runs.tornado("expected_revenue_gap").table.set_index("parameter")
    for name in replacement_parameters():
        # churn losses use the same random numbers whatever the sales team does
        assert var.loc[name, "swing"] == 0.0
    # faster win-back shrinks the revenue hole
    assert gap.loc["opportunities_per_month", "change_high"] < 0
    assert gap.loc["win_rate", "change_high"] < 0
    assert gap.loc["cycle_mean_months", "change_high"] > 0
