"""Replacement timelines and cash survival: hand-computed cases, monotonicity, censoring,
validation, common random numbers and reproducibility with the engine.

Statistical checks use fixed seeds, so they are deterministic; their tolerances (stated at
each test) are several Monte Carlo standard errors wide, so they would also pass for other
seeds with overwhelming probability, while a sign error (e.g. more capacity slowing
recovery) moves the curves by far more.
"""

from __future__ import annotations

import dataclasses
import math
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kamsim.analysis.timelines import (
    ReplacementAssumptions,
    recovery_summary,
    replacement_timeline,
    required_capacity,
    survival_curve,
)
from kamsim.engine import BLOCK_SIZE, REPLACEMENT_COLUMNS, simulate
from kamsim.exceptions import AssumptionError
from kamsim.model import ChurnAssumptions, Scenario
from kamsim.portfolio import Portfolio

ROOT = Path(__file__).resolve().parents[2]


def fixed(**kw):
    """Deterministic process: even arrivals, exact cycle, every opportunity won."""
    base = dict(arrivals="fixed", response_lag_months=0, cycle_mean_months=2.0, cycle_cv=0.0,
                win_rate=1.0, account_size="lognormal", size_median=50.0, size_sigma=0.0,
                ramp_shape="none", ramp_months=0)
    base.update(kw)
    return ReplacementAssumptions(**base)


# --- deterministic special cases ---------------------------------------------------------


@pytest.mark.parametrize(("rate", "lag", "cycle", "k"), [
    (1, 0, 2.0, 2), (2, 1, 3.0, 3), (1, 3, 0.5, 1), (3, 0, 5.5, 7), (0.5, 2, 1.0, 2)])
def test_no_ramp_recovery_month_by_hand(rate, lag, cycle, k):
    # k accounts of size lost/k: the k-th opportunity opens in month 1 + lag + ceil(k/rate)
    # - 1 and orders max(1, ceil(cycle)) months later; months in the hole = that month - 1
    tl = replacement_timeline(100.0 * k, fixed(opportunities_per_month=rate,
                                               response_lag_months=lag,
                                               cycle_mean_months=cycle,
                                               size_median=100.0),
                              horizon_months=40, n_paths=50, rng=3)
    opens = 1 + lag + math.ceil(k / rate) - 1
    expected = opens + max(1, math.ceil(cycle)) - 1
    assert tl.recovered.all()
    assert (tl.months_to_recover == expected).all()
    assert tl.summary().loc[0, "value"] == expected


@pytest.mark.parametrize(("rate", "lag", "cycle", "ramp", "k"), [
    (1, 0, 2.0, 2, 2), (2, 1, 3.0, 4, 3), (1, 2, 1.0, 6, 1)])
def test_linear_ramp_with_capped_opportunities_by_hand(rate, lag, cycle, ramp, k):
    # capping opportunities at k (all won) removes the overshoot: recovery is when the
    # k-th account reaches full run-rate, ramp - 1 months after its first order
    a = fixed(opportunities_per_month=rate, response_lag_months=lag, cycle_mean_months=cycle,
              ramp_shape="linear", ramp_months=ramp, max_opportunities=k, size_median=10.0)
    tl = replacement_timeline(10.0 * k, a, horizon_months=40, n_paths=20, rng=0)
    first_order_k = 1 + lag + math.ceil(k / rate) - 1 + max(1, math.ceil(cycle))
    assert (tl.months_to_recover == first_order_k + ramp - 2).all()
    assert (tl.wins == k).all()
    # the run-rate ramps linearly to the loss and stays there
    assert tl.mean_run_rate_by_month[-1] == pytest.approx(10.0 * k)


def test_doc_example_overshoot_by_hand():
    a = fixed(opportunities_per_month=1, ramp_shape="linear", ramp_months=2)
    tl = replacement_timeline(100.0, a, horizon_months=8, n_paths=5, rng=0)
    # wins order in months 3, 4 (needed) and 5, 6 (pipeline still open while waiting)
    np.testing.assert_allclose(tl.mean_run_rate_by_month,
                               [0, 0, 25, 75, 125, 175, 200, 200])
    assert (tl.months_to_recover == 4).all()


def test_engine_by_hand_revenue_gap_and_cash():
    # a 1,200/yr account is lost for sure in month 1 (churn_prob 1); the 2,400/yr one
    # never leaves. Replacement: one opportunity a month from month 2, always won, 600/yr
    # each, first order 2 months after opening, no ramp, cost 10 per win, margin 50 %.
    pf = Portfolio(pd.DataFrame({"account_id": ["big", "other"], "revenue": [1200.0, 2400.0],
                                 "churn_prob": [1.0, 0.0], "gross_margin": [0.5, 0.5]}))
    a = fixed(opportunities_per_month=1, response_lag_months=1, size_median=600.0,
              acquisition_cost=10.0, gross_margin=0.5)
    sc = Scenario(portfolio=pf, churn=ChurnAssumptions(), horizon_months=12,
                  fixed_costs=1440.0, opening_cash=0.0, replacement=a)
    res = simulate(sc, n_paths=30, rng=1, keep_paths=True)
    df = res.to_frame()
    # opportunities open in months 2, 3, 4, 5 (effort stops in month 6, when the two
    # first orders of months 4 and 5 cover the loss): orders from months 4, 5, 6, 7
    rev = np.array([200, 200, 200, 250, 300, 350] + [400] * 6, dtype=float)
    assert res.monthly_revenue_paths is not None
    np.testing.assert_allclose(res.monthly_revenue_paths, np.tile(rev, (30, 1)))
    assert (df["months_to_recover"] == 4).all()
    assert df["recovered"].all()
    assert (df["first_loss_month"] == 1).all()
    assert df["revenue_gap"].to_numpy() == pytest.approx(np.full(30, 350.0))
    assert df["gross_profit_gap"].to_numpy() == pytest.approx(np.full(30, 175.0))
    gp = rev / 2
    acq = np.array([0, 0, 0, 10, 10, 10, 10] + [0] * 5, dtype=float)
    cash = np.cumsum(gp - 120.0 - acq)
    assert res.monthly_cash_paths is not None
    np.testing.assert_allclose(res.monthly_cash_paths[0], cash)
    assert df["min_cash"].to_numpy() == pytest.approx(np.full(30, cash.min()))
    assert df["out_of_cash"].all()
    assert res.prob_out_of_cash() == 1.0
    assert (df["replacement_wins"] == 4).all()
    assert (df["acquisition_costs"] == 40).all()
    # churn columns are those of the churn-only engine
    assert df["run_rate_lost"].eq(1200.0).all()
    # break-even is judged on the net gross profit: 100 < 120 in month 1
    assert df["first_month_below_break_even"].eq(1).all()


def test_organic_growth_shortens_recovery_by_hand():
    pf = Portfolio(pd.DataFrame({"account_id": ["a", "b"], "revenue": [1200.0, 10800.0],
                                 "churn_prob": [1.0, 0.0], "gross_margin": 0.4}))
    # no replacement capacity: only growth of the remaining 10,800/yr closes the hole;
    # 10,800 (1.1)^(t/12) >= 12,000 first at t = ceil(12 ln(12000/10800) / ln 1.1) = 14
    a = fixed(opportunities_per_month=0, organic_growth=0.1)
    sc = Scenario(portfolio=pf, churn=ChurnAssumptions(), horizon_months=24, replacement=a)
    res = simulate(sc, n_paths=10, rng=0)
    t_back = math.ceil(12 * math.log(12000 / 10800) / math.log(1.1))
    assert (res.per_path["months_to_recover"] == t_back - 1).all()
    assert math.isnan(res.prob_out_of_cash())  # no opening cash given


# --- monotonicity with common random numbers ----------------------------------------------


@pytest.fixture(scope="module")
def pool(sample):
    sc = Scenario(portfolio=sample, churn=ChurnAssumptions())
    return sc.replacement_size_pool()


BASE = dict(opportunities_per_month=6.0, response_lag_months=1, cycle_mean_months=4.0,
            cycle_cv=0.6, win_rate=0.25, ramp_shape="s_curve", ramp_months=6)


@pytest.mark.parametrize(("worse", "better"), [
    ({"opportunities_per_month": 4.0}, {"opportunities_per_month": 8.0}),
    ({"win_rate": 0.15}, {"win_rate": 0.35}),
    ({"cycle_mean_months": 7.0}, {"cycle_mean_months": 2.5}),
    ({"ramp_months": 10}, {"ramp_months": 3}),
    ({"response_lag_months": 4}, {"response_lag_months": 0}),
])
def test_better_assumptions_never_slow_recovery(pool, worse, better):
    lost = 1.5e6  # about 5 % of the sample's revenue, 22 average non-key accounts
    n, h = 4_000, 48
    runs = [replacement_timeline(lost, ReplacementAssumptions(**{**BASE, **d}),
                                 horizon_months=h, n_paths=n, rng=2024, size_pool=pool)
            for d in (worse, better)]
    s_worse, s_better = (r.survival()["not_recovered"].to_numpy() for r in runs)
    # Same seed = common random numbers, so the comparison is nearly path-wise: the
    # better assumptions must recover no later on (almost) every path, and their survival
    # curve must lie on or below the other's at every month. The slack (0.5 % of paths,
    # 0.01 on the curve) only absorbs rare path-wise reorderings from the stop rule (none
    # occur for these seeds; about 1 path in 4,000 for very close cycle means).
    t_w, t_b = (np.where(r.recovered, r.months_to_recover, h + 1) for r in runs)
    assert np.mean(t_b > t_w) <= 0.005
    assert np.all(s_better <= s_worse + 0.01)
    # and the improvement is real somewhere (the test can fail)
    assert np.max(s_worse - s_better) > 0.02
    assert runs[1].mean_run_rate_by_month[12] >= runs[0].mean_run_rate_by_month[12] * 0.99


def test_common_random_numbers_win_rate_is_pathwise(pool):
    # with the stop rule off (a loss too large to ever cover), a higher win rate wins a
    # superset of the same opportunities: the run-rate is path-wise at least as large
    a = ReplacementAssumptions(**BASE, size_pool=tuple(pool))
    lo = replacement_timeline(1e12, a, horizon_months=24, n_paths=3000, rng=5)
    hi = replacement_timeline(1e12, dataclasses.replace(a, win_rate=0.4), horizon_months=24,
                              n_paths=3000, rng=5)
    assert np.all(hi.run_rate >= lo.run_rate - 1e-9)
    assert np.all(hi.opportunities == lo.opportunities)


# --- censoring -------------------------------------------------------------------------


def test_never_recovering_scenario_reports_censoring(pool):
    a = ReplacementAssumptions(**{**BASE, "opportunities_per_month": 0.2}, size_pool=tuple(pool))
    tl = replacement_timeline(5e7, a, horizon_months=12, n_paths=2000, rng=1)
    s = tl.summary().set_index("statistic")
    assert not tl.recovered.any()
    assert (tl.months_to_recover == 12).all()  # lower bound, kept not dropped
    assert s.loc["median", "display"] == "not within horizon"
    assert math.isnan(s.loc["median", "value"])
    assert not s.loc["p90", "within_horizon"]
    assert s.loc["share_not_recovered", "value"] == 1.0
    assert tl.survival()["not_recovered"].eq(1.0).all()


def test_quantiles_are_order_statistics_below_censored_share():
    months = np.array([3, 1, 2, 5, 4, 7, 7, 7, 7, 7])
    recovered = np.array([True] * 5 + [False] * 5)
    s = recovery_summary(months, recovered, (0.3, 0.5, 0.6)).set_index("statistic")
    assert s.loc["p30", "value"] == 3  # 3rd of 10
    assert s.loc["median", "value"] == 5  # exactly half recovered: 5th order statistic
    assert s.loc["p60", "display"] == "not within horizon"
    assert s.loc["share_not_recovered", "value"] == 0.5
    surv = survival_curve(months, recovered, 7)["not_recovered"].to_numpy()
    np.testing.assert_allclose(surv, [1, 0.9, 0.8, 0.7, 0.6, 0.5, 0.5, 0.5])


def test_engine_keeps_censored_paths(sample):
    sc = Scenario(portfolio=sample, churn=ChurnAssumptions(level=2.0), horizon_months=12,
                  replacement=ReplacementAssumptions(opportunities_per_month=0.5))
    res = simulate(sc, n_paths=3000, rng=4)
    rec = res.recovery_summary().set_index("statistic")
    assert rec.loc["median", "display"] == "not within horizon"
    lost = res.per_path["first_loss_month"] > 0
    assert rec.loc["share_not_recovered", "value"] == pytest.approx(
        float(np.mean(~res.per_path["recovered"][lost])))
    summ = res.summary().set_index("metric")
    assert "not within horizon" in summ.loc[
        "median months to recover (paths with a loss)", "unit"]


# --- validation ------------------------------------------------------------------------


@pytest.mark.parametrize(("kwargs", "field", "match"), [
    ({"opportunities_per_month": -1}, "opportunities_per_month", ">= 0"),
    ({"win_rate": 0.0}, "win_rate", r"\(0, 1\]"),
    ({"win_rate": 1.2}, "win_rate", r"\(0, 1\]"),
    ({"win_rate": float("nan")}, "win_rate", "finite"),
    ({"ramp_months": 0}, "ramp_months", "ramp_months >= 1"),
    ({"ramp_shape": "s_curve", "ramp_months": 0}, "ramp_months", "s_curve ramp"),
    ({"ramp_shape": "cubic"}, "ramp_shape", "must be one of"),
    ({"response_lag_months": 1.5}, "response_lag_months", "whole number"),
    ({"cycle_mean_months": -2}, "cycle_mean_months", ">= 0"),
    ({"cycle_cv": -0.1}, "cycle_cv", ">= 0"),
    ({"account_size": "lognormal"}, "size_median", "required"),
    ({"size_pool": [0.0]}, "size_pool", "at least one"),
    ({"acquisition_cost": -5}, "acquisition_cost", ">= 0"),
    ({"organic_growth": -1.0}, "organic_growth", "> -1"),
    ({"max_opportunities": -3}, "max_opportunities", "whole number"),
])
def test_bad_assumptions_name_the_field(kwargs, field, match):
    with pytest.raises(AssumptionError, match=match) as err:
        ReplacementAssumptions(**kwargs)
    assert err.value.field == field


def test_zero_ramp_allowed_without_ramp_and_bootstrap_needs_sizes():
    assert ReplacementAssumptions(ramp_shape="none", ramp_months=0).ramp_curve().tolist() == [1]
    with pytest.raises(AssumptionError, match="needs sizes to resample") as err:
        replacement_timeline(100.0, ReplacementAssumptions(), n_paths=10, rng=0)
    assert err.value.field == "size_pool"
    with pytest.raises(AssumptionError, match="unknown field"):
        ReplacementAssumptions.from_dict({"capacity": 3})
    with pytest.raises(ValueError, match="n_paths"):
        replacement_timeline(1.0, fixed(), n_paths=0)


def test_round_trips(tmp_path, sample):
    a = ReplacementAssumptions(opportunities_per_month=5.5, max_opportunities=40,
                               cycle_distribution="lognormal", size_pool=(1.0, 2.0),
                               gross_margin=0.3, organic_growth=0.02)
    assert ReplacementAssumptions.from_dict(a.to_dict()) == a
    sc = Scenario.from_yaml(ROOT / "data" / "sample_scenario.yaml")
    sc2 = dataclasses.replace(sc, replacement=a, opening_cash=1.5e6)
    path = tmp_path / "s.yaml"
    path.write_text(sc2.to_yaml(), encoding="utf-8")
    back = Scenario.from_yaml(path)
    assert back.replacement == a
    assert back.opening_cash == 1.5e6
    assert Scenario.from_dict(sc.to_dict(), portfolio=sc.portfolio) == sc
    with pytest.raises(AssumptionError, match="opening_cash"):
        dataclasses.replace(sc, opening_cash="lots")


# --- engine: pairing and reproducibility ---------------------------------------------------


@pytest.fixture(scope="module")
def repl_scen(sample):
    return Scenario(portfolio=sample, churn=ChurnAssumptions(correlation=0.2, partial_prob=0.2),
                    horizon_months=24, fixed_costs=7.6e6, opening_cash=1e6,
                    replacement=ReplacementAssumptions(acquisition_cost=5e3,
                                                       organic_growth=0.01))


def test_churn_draws_identical_with_and_without_replacement(repl_scen):
    with_r = simulate(repl_scen, n_paths=5000, rng=9)
    without = simulate(dataclasses.replace(repl_scen, replacement=None), n_paths=5000, rng=9)
    assert with_r.has_replacement
    assert not without.has_replacement
    churn_cols = ["run_rate_lost", "revenue_lost", "gross_profit_lost",
                  "run_rate_gross_profit_lost", "accounts_lost", "partial_losses"]
    pd.testing.assert_frame_equal(with_r.to_frame()[churn_cols], without.to_frame()[churn_cols],
                                  check_exact=True)
    assert set(without.per_path) & set(REPLACEMENT_COLUMNS) == set()
    with pytest.raises(ValueError, match="no replacement outcomes"):
        without.recovery_summary()
    # replacement adds revenue back: net mean revenue at least the churn-only one
    assert np.all(with_r.monthly_revenue_mean >= without.monthly_revenue_mean - 1e-6)


@pytest.mark.parametrize("chunk", [1, 3 * BLOCK_SIZE + 5])
def test_replacement_same_result_any_chunk_and_executor(repl_scen, chunk):
    ref = simulate(repl_scen, n_paths=7000, rng=123)
    res = simulate(repl_scen, n_paths=7000, rng=123, chunk_size=chunk)
    pd.testing.assert_frame_equal(ref.to_frame(), res.to_frame(), check_exact=True)
    np.testing.assert_array_equal(ref.monthly_cash_hist, res.monthly_cash_hist)
    np.testing.assert_array_equal(ref.monthly_cash_mean, res.monthly_cash_mean)
    pool_cls = ThreadPoolExecutor if chunk == 1 else ProcessPoolExecutor
    with pool_cls(2) as ex:
        par = simulate(repl_scen, n_paths=7000, rng=123, executor=ex, chunk_size=chunk)
    pd.testing.assert_frame_equal(ref.to_frame(), par.to_frame(), check_exact=True)


def test_cash_quantiles_match_kept_paths(repl_scen):
    res = simulate(repl_scen, n_paths=4000, rng=3, keep_paths=True)
    q = res.monthly_quantiles((0.1, 0.5, 0.9), measure="cash")
    assert res.monthly_cash_paths is not None
    exact = np.quantile(res.monthly_cash_paths, [0.1, 0.5, 0.9], axis=0).T
    lo, hi = res.cash_range
    width = (hi - lo) / 4000
    # histogram quantiles are within two bins (plus the empirical-quantile convention
    # difference of one path's spacing, bounded by the data's own resolution)
    spread = np.abs(q[["q0.1", "q0.5", "q0.9"]].to_numpy() - exact)
    step = np.diff(np.sort(res.monthly_cash_paths, axis=0), axis=0).max(axis=0)
    assert np.all(spread <= 2 * width + step[:, None])
    np.testing.assert_allclose(q["mean"], res.monthly_cash_paths.mean(axis=0))


def test_timeline_reproducible_and_seed_recorded(pool):
    a = ReplacementAssumptions(**BASE, size_pool=tuple(pool))
    r1 = replacement_timeline(4e6, a, n_paths=3000, rng=np.random.default_rng(8))
    r2 = replacement_timeline(4e6, a, n_paths=3000, rng=np.random.SeedSequence(r1.seed))
    np.testing.assert_array_equal(r1.run_rate, r2.run_rate)
    assert r1.to_frame().equals(r2.to_frame())
    assert r1.mean_run_rate_by_month.shape == (36,)


# --- the inverse question ----------------------------------------------------------------


def test_required_capacity_deterministic_answer():
    # 3 accounts needed, 2-month cycle, no ramp, within 3 months in the hole: all three
    # opportunities must open in month 1 -> capacity 3
    r = required_capacity(150.0, fixed(), within_months=2, probability=0.9, n_paths=100,
                          rng=0)
    assert r.feasible
    assert r.value == pytest.approx(3.0, rel=2e-3)
    assert r.lower <= r.value <= r.upper


def test_required_capacity_is_the_crossing(pool):
    a = ReplacementAssumptions(**BASE, size_pool=tuple(pool))
    r = required_capacity(3e6, a, within_months=18, probability=0.8, n_paths=2000, rng=11)
    assert r.feasible
    assert r.lower <= r.value <= r.upper
    below = replacement_timeline(3e6, dataclasses.replace(
        a, opportunities_per_month=r.value * 0.99), horizon_months=19, n_paths=2000,
        rng=11).prob_recovered_within(18)
    at = replacement_timeline(3e6, dataclasses.replace(a, opportunities_per_month=r.value),
                              horizon_months=19, n_paths=2000, rng=11)
    assert at.prob_recovered_within(18) >= 0.8 > below
    assert r.achieved == at.prob_recovered_within(18)
    w = required_capacity(3e6, a, within_months=18, probability=0.8, n_paths=2000, rng=11,
                          parameter="win_rate")
    assert 0 < w.value <= 1
    hopeless = required_capacity(3e6, dataclasses.replace(a, cycle_mean_months=30.0),
                                 within_months=6, probability=0.9, n_paths=500, rng=1,
                                 parameter="win_rate")
    assert not hopeless.feasible
    assert math.isnan(hopeless.value)


# --- plots and widget ----------------------------------------------------------------------


def test_plots_and_explorer(repl_scen, pool):
    from matplotlib.figure import Figure

    from kamsim.views.plots.replacement import (
        cash_path_plot,
        recovery_time_plot,
        replacement_revenue_plot,
    )
    from kamsim.views.widgets.replacement import replacement_explorer

    a = ReplacementAssumptions(**BASE, size_pool=tuple(pool))
    tl = replacement_timeline(1.5e6, a, horizon_months=24, n_paths=500, rng=0)
    res = simulate(repl_scen, n_paths=1000, rng=0)
    fig = replacement_revenue_plot(tl, base_revenue=3e7)
    assert isinstance(fig, Figure)
    assert fig.axes[0].get_lines()  # median, mean and the two reference lines
    with pytest.raises(ValueError, match="base_revenue"):
        replacement_revenue_plot(tl)
    assert isinstance(replacement_revenue_plot(res), Figure)
    fig = recovery_time_plot({"timeline": tl, "engine": res})
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels[0].startswith("timeline: median")
    fig = cash_path_plot(res)
    assert "P(out of cash)" in fig.axes[0].get_title()
    with pytest.raises(TypeError, match="SimulationResult"):
        cash_path_plot(tl)
    small = dataclasses.replace(repl_scen, horizon_months=12)
    panel = replacement_explorer(small, n_paths=300, rng=1)
    before = panel.result.expected_gap()
    png = panel.image.value
    panel.capacity.value = 25.0
    assert panel.result.expected_gap() < before
    assert panel.image.value != png
    assert panel.current_scenario().replacement.opportunities_per_month == 25.0
