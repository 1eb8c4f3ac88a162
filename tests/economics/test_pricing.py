"""Tests of kamsim.economics.pricing: closed forms, rebates, monotonicity, common randoms."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kamsim.economics.npv import discount_factors
from kamsim.economics.pricing import (
    EfficiencyGains,
    PricingAssumptions,
    RetentionResponse,
    break_even_retention,
    compare_pass_through,
    optimal_pass_through,
    pass_through_breakdown,
    pass_through_curve,
)
from kamsim.economics.rebates import RebateSchedule
from kamsim.exceptions import AssumptionError
from kamsim.model import ChurnAssumptions, Scenario
from kamsim.portfolio import Portfolio


@pytest.fixture(scope="module")
def sc36(sample):
    return Scenario(portfolio=sample, horizon_months=36)


def small_scenario(prob: float = 0.0, horizon: int = 24) -> Scenario:
    pf = Portfolio(pd.DataFrame({
        "account_id": ["K1", "K2", "S1"], "revenue": [1_000_000.0, 600_000.0, 50_000.0],
        "gross_margin": [0.25, 0.30, 0.40], "cost_to_serve": [80_000.0, 50_000.0, 5_000.0],
        "tier": ["key", "key", "standard"]}))
    return Scenario(portfolio=pf, churn=ChurnAssumptions(annual_prob=prob),
                    horizon_months=horizon)


# --- closed forms ----------------------------------------------------------------------

def test_no_churn_response_pass_through_only_destroys_margin_by_hand():
    # no churn at all, gains 2 % of revenue in full from month 1, r = 10 %:
    # NPV(phi) - NPV(0) = -phi * 0.02 * revenue(key) / 12 * sum_t 1.1^(-t/12)
    sc = small_scenario(prob=0.0)
    a = PricingAssumptions(gains=EfficiencyGains(pct_of_revenue=0.02, ramp_months=0),
                           discount_rate=0.10)
    annuity = sum(1.1 ** (-t / 12) for t in range(1, 25)) / 12
    for phi in (0.25, 0.6, 1.0):
        b = pass_through_breakdown(sc, a, phi)
        expected_cost = phi * 0.02 * 1_600_000 * annuity
        assert b.passed_back_npv == pytest.approx(expected_cost, rel=1e-12)
        assert b.net_of_pass_through == pytest.approx(-expected_cost, rel=1e-12)
        assert b.retention_value_npv == pytest.approx(0.0, abs=1e-6)
        # baseline: (gp - cts) of all accounts as an annuity
        base = (250_000 - 80_000 + 180_000 - 50_000 + 20_000 - 5_000) * annuity
        assert b.baseline_npv == pytest.approx(base, rel=1e-12)
        assert b.gain_npv == pytest.approx(0.02 * 1_600_000 * annuity, rel=1e-12)
        assert b.price_cut == pytest.approx(phi * 0.02)


def test_no_response_with_churn_costs_exactly_the_passed_share(sc36):
    a = PricingAssumptions(gains=EfficiencyGains(pct_of_revenue=0.03, ramp_months=12))
    b = pass_through_breakdown(sc36, a, 0.4)
    assert b.passed_back_npv == pytest.approx(0.4 * b.gain_npv, rel=1e-12)
    assert b.kept_npv == pytest.approx(0.6 * b.gain_npv, rel=1e-12)
    # Monte Carlo differences equal the exact cost on every path? No: the cut stops when
    # the account leaves, so per-path costs vary; their mean matches the exact value.
    cmp = compare_pass_through(sc36, a, (0.0, 0.4), n_paths=4000, rng=3)
    s = cmp.summary()
    assert (cmp.differences()[1] <= 1e-6).all()  # passing back never helps on any path
    assert abs(s.diff_vs_ref[1] - s.diff_exact[1]) < 4 * s.diff_se[1]


def test_discount_factors_monthly():
    d = discount_factors(24, 0.21)
    assert d[11] == pytest.approx(1 / 1.21 ** 1)
    assert d[23] == pytest.approx(1 / 1.21 ** 2)
    assert (discount_factors(5, 0.0) == 1.0).all()


def test_ramp_phases_gains_in_linearly():
    sc = small_scenario(prob=0.0, horizon=12)
    a = PricingAssumptions(gains=EfficiencyGains(pct_of_revenue=0.012, ramp_months=4),
                           discount_rate=0.0)
    ramp_sum = 0.25 + 0.5 + 0.75 + 9 * 1.0
    b = pass_through_breakdown(sc, a, 0.0)
    assert b.gain_npv == pytest.approx(0.012 * 1_600_000 / 12 * ramp_sum)


# --- rebates ---------------------------------------------------------------------------

def test_rebate_all_units_by_hand():
    s = RebateSchedule(thresholds=(100, 500, 1000), rates=(0.01, 0.03, 0.05))
    v = np.array([0, 99, 100, 499, 500, 1000, 2000])
    # below 100: nothing; 100..499: 1 % of all; 500..999: 3 %; >= 1000: 5 %
    expected = np.array([0, 0, 1.0, 4.99, 15.0, 50.0, 100.0]) * 2.0
    np.testing.assert_allclose(s.cost(v, unit_price=2.0), expected)
    np.testing.assert_allclose(s.effective_price([500, 1000], 2.0), [1.94, 1.90])
    assert s.effective_price(0, 2.0) == pytest.approx(2.0)


def test_rebate_incremental_by_hand():
    s = RebateSchedule(thresholds=(100, 500, 1000), rates=(0.01, 0.03, 0.05),
                       kind="incremental")
    # 2000 units: 400 * 1 % + 500 * 3 % + 1000 * 5 % = 4 + 15 + 50 = 69
    np.testing.assert_allclose(s.cost([0, 300, 500, 2000]), [0.0, 2.0, 4.0, 69.0])
    t = s.table([2000], unit_price=1.0)
    assert t.effective_price[0] == pytest.approx(1 - 69 / 2000)
    assert t.net_revenue[0] == pytest.approx(2000 - 69)


def test_all_units_costs_at_least_incremental_and_jumps_at_threshold():
    base = dict(thresholds=(0, 500, 800), rates=(0.0, 0.02, 0.05))
    au = RebateSchedule(**base)
    inc = RebateSchedule(**base, kind="incremental")
    v = np.linspace(0, 3000, 301)
    assert (au.cost(v) >= inc.cost(v) - 1e-12).all()
    # the retroactive "cliff": one more unit at the threshold raises the rebate by 2 % x 500
    assert au.cost(500) - au.cost(499.999) == pytest.approx(10.0, abs=1e-3)
    assert (np.diff(inc.cost(v)) >= 0).all()


def test_rebate_round_trip_and_errors():
    s = RebateSchedule(thresholds=(0, 10), rates=(0.0, 0.1), kind="incremental")
    assert RebateSchedule.from_dict(s.to_dict()) == s
    with pytest.raises(AssumptionError, match="strictly increasing"):
        RebateSchedule(thresholds=(0, 10, 10), rates=(0, 0.1, 0.2))
    with pytest.raises(AssumptionError, match="one rate per threshold"):
        RebateSchedule(thresholds=(0, 10), rates=(0.1,))
    with pytest.raises(AssumptionError, match=r"rebate.rates\[1\]"):
        RebateSchedule(thresholds=(0, 10), rates=(0.0, 1.2))
    with pytest.raises(AssumptionError, match="all_units"):
        RebateSchedule(kind="retro")  # type: ignore[arg-type]
    with pytest.raises(AssumptionError, match="volumes"):
        s.cost([-1.0])


# --- monotonicity ----------------------------------------------------------------------

def test_response_curves_monotone_and_floored():
    for form in ("exponential", "linear"):
        r = RetentionResponse(hazard_change_per_point=-0.08, floor=0.4, form=form)
        k = r.hazard_multiplier(np.linspace(0, 0.2, 50))
        assert k[0] == 1.0
        assert (np.diff(k) <= 1e-15).all()
        assert k.min() == pytest.approx(0.4)


def test_npv_decreases_with_pass_through_without_response(sc36):
    curve = pass_through_curve(sc36, PricingAssumptions(), grid=6)
    assert (np.diff(curve.policy_npv) < 0).all()
    assert (np.diff(curve.passed_back_npv) > 0).all()


def test_stronger_response_buys_more_retention(sc36):
    vals = []
    for s in (0.0, -0.05, -0.15, -0.3):
        a = PricingAssumptions(response=RetentionResponse(hazard_change_per_point=s))
        vals.append(pass_through_breakdown(sc36, a, 0.5).retention_value_npv)
    assert vals[0] == pytest.approx(0.0, abs=1e-6)
    assert (np.diff(vals) > 0).all()


def test_break_even_solves_the_equation_and_is_monotone(sc36):
    a = PricingAssumptions(gains=EfficiencyGains(pct_of_revenue=0.03))
    ks = []
    for phi in (0.1, 0.3, 0.6):
        be = break_even_retention(sc36, a, phi)
        ks.append(be.required_hazard_multiplier)
        # a response that yields exactly the required multiplier breaks even
        resp = RetentionResponse(hazard_change_per_point=-0.99,
                                 floor=be.required_hazard_multiplier, form="linear")
        b = pass_through_breakdown(sc36, PricingAssumptions(gains=a.gains, response=resp), phi)
        assert b.net_of_pass_through == pytest.approx(0.0, abs=1e-6 * b.gain_npv)
        assert be.churn_prob_required < be.churn_prob_before
    assert ks[0] > ks[1] > ks[2]  # more pass-through needs more retention
    assert not break_even_retention(sc36, a, 0.3).pays_for_itself


def test_break_even_unreachable_is_nan():
    # key accounts never churn: no retention can pay for a price cut
    sc = small_scenario(prob=0.0)
    be = break_even_retention(sc, PricingAssumptions(), 0.5)
    assert np.isnan(be.required_hazard_multiplier)
    assert not be.pays_for_itself
    assert "required hazard reduction" in set(be.summary().metric)


def test_optimal_pass_through_mean(sc36):
    # strong response with a floor: the exact optimum lies strictly inside (0, 1)
    a = PricingAssumptions(
        gains=EfficiencyGains(pct_of_revenue=0.03, ramp_months=0),
        response=RetentionResponse(hazard_change_per_point=-0.6, floor=0.3))
    opt = optimal_pass_through(sc36, a, grid=11)
    assert 0.0 < opt.pass_through < 1.0
    assert opt.value >= opt.grid.objective.max() - 1e-6
    assert opt.gain_vs_zero > 0
    none = optimal_pass_through(sc36, PricingAssumptions(), grid=5)
    assert none.pass_through == 0.0
    assert none.gain_vs_zero == 0.0


def test_optimal_pass_through_risk_adjusted(sc36):
    a = PricingAssumptions(response=RetentionResponse(hazard_change_per_point=-0.3, floor=0.2))
    opt = optimal_pass_through(sc36, a, objective="risk_adjusted", risk_weight=1.0, grid=5,
                               n_paths=2000, rng=5)
    assert opt.comparison is not None
    best = opt.grid.objective.idxmax()
    assert opt.pass_through == pytest.approx(opt.grid.pass_through[best])
    with pytest.raises(ValueError, match="objective must be"):
        optimal_pass_through(sc36, a, objective="median")  # type: ignore[arg-type]


# --- common random numbers -------------------------------------------------------------

def test_crn_shrinks_standard_error_of_differences(sc36):
    """CRN vs independent streams on the same policies and paths.

    Measured (seed 11, 4,000 paths): the independent-streams standard error of the
    difference (0 vs 50 % pass-through) is 8.3 times the CRN one; we assert a factor of at
    least 5. Fixed seeds make it deterministic, and with 4,000 paths each standard-error
    estimate is within a few percent of its true value, so the margin to the bound is
    large.
    """
    a = PricingAssumptions(response=RetentionResponse(hazard_change_per_point=-0.1))
    crn = compare_pass_through(sc36, a, (0.0, 0.5), n_paths=4000, rng=11)
    ind = compare_pass_through(sc36, a, (0.0, 0.5), n_paths=4000, rng=11, crn=False)
    se_crn = crn.difference_se()[1]
    se_ind = ind.difference_se()[1]
    assert se_ind / se_crn > 5
    # both estimate the same exact difference
    exact = crn.expected[1] - crn.expected[0]
    assert abs(crn.differences()[1].mean() - exact) < 4 * se_crn
    assert abs(ind.differences()[1].mean() - exact) < 4 * se_ind


def test_monte_carlo_mean_matches_exact_with_correlation_and_partial(sample):
    sc = Scenario(portfolio=sample, horizon_months=24,
                  churn=ChurnAssumptions(correlation=0.3, notice_months=2, partial_prob=0.3))
    a = PricingAssumptions(response=RetentionResponse(hazard_change_per_point=-0.1,
                                                      volume_per_point=0.02))
    cmp = compare_pass_through(sc, a, (0.0, 1.0), n_paths=4000, rng=2)
    s = cmp.summary()
    # 4 standard errors: fixed seed, fails with probability < 1e-4 under a correct model
    assert (abs(s.mc_mean - s.expected_npv) < 4 * s.mc_se).all()
    assert (s.tail_mean <= s.mc_mean).all()
    assert cmp.to_frame().shape == (4000, 2)


def test_same_seed_same_paths(sc36):
    a = PricingAssumptions()
    x = compare_pass_through(sc36, a, (0.0, 0.5), n_paths=2100, rng=4).npv_paths
    y = compare_pass_through(sc36, a, (0.0, 0.5), n_paths=2100, rng=4).npv_paths
    np.testing.assert_array_equal(x, y)


# --- assumptions -----------------------------------------------------------------------

def test_round_trips():
    a = PricingAssumptions(gains=EfficiencyGains(pct_of_revenue=0.01, absolute=500.0,
                                                 tiers=("key", "strategic")),
                           response=RetentionResponse(hazard_change_per_point=-0.02,
                                                      form="linear", floor=0.5),
                           discount_rate=0.12, include_cost_to_serve=False)
    assert PricingAssumptions.from_dict(a.to_dict()) == a


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"pct_of_revenue": -0.1}, "gains.pct_of_revenue"),
    ({"ramp_months": 1.5}, "gains.ramp_months"),
    ({"tiers": []}, "at least one tier"),
])
def test_bad_gains(kwargs, match):
    with pytest.raises(AssumptionError, match=match):
        EfficiencyGains(**kwargs)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"hazard_change_per_point": 0.1}, "hazard_change_per_point"),
    ({"floor": 1.5}, "response.floor"),
    ({"form": "cubic"}, "exponential"),
    ({"volume_per_point": -1}, "volume_per_point"),
])
def test_bad_response(kwargs, match):
    with pytest.raises(AssumptionError, match=match):
        RetentionResponse(**kwargs)


def test_bad_pricing_inputs(sc36):
    with pytest.raises(AssumptionError, match="discount_rate"):
        PricingAssumptions(discount_rate=-0.1)
    with pytest.raises(AssumptionError, match="unknown field"):
        PricingAssumptions.from_dict({"gain": {}})
    with pytest.raises(AssumptionError, match="pass_through"):
        pass_through_breakdown(sc36, PricingAssumptions(), 1.5)
    with pytest.raises(AssumptionError, match="unknown tier"):
        pass_through_breakdown(
            sc36, PricingAssumptions(gains=EfficiencyGains(tiers=("gold",))), 0.5)
    with pytest.raises(AssumptionError, match="exceeds the cost to serve"):
        pass_through_breakdown(
            sc36, PricingAssumptions(gains=EfficiencyGains(pct_of_revenue=0.2)), 0.5)
    with pytest.raises(ValueError, match="n_paths"):
        compare_pass_through(sc36, PricingAssumptions(), n_paths=1)


# --- plots, panels and the notebook ----------------------------------------------------

def test_plots_return_figures(sc36):
    from matplotlib.figure import Figure

    from kamsim.economics.negotiation import walk_away_curve
    from kamsim.economics.program import KamProgram, evaluate_program
    from kamsim.views.plots.pricing import (
        pass_through_curve_plot,
        pass_through_waterfall,
        rebate_plot,
        tactic_roi_plot,
        walk_away_plot,
    )

    a = PricingAssumptions(response=RetentionResponse(hazard_change_per_point=-0.3, floor=0.3))
    b = pass_through_breakdown(sc36, a, 0.5)
    fig = pass_through_waterfall(b)
    assert isinstance(fig, Figure)
    heights = [p.get_height() for p in fig.axes[0].patches]
    assert heights == pytest.approx([b.gain_npv, -b.passed_back_npv, b.retention_value_npv,
                                     b.kept_npv])
    cmp = compare_pass_through(sc36, a, (0.0, 0.5, 1.0), n_paths=2000, rng=1)
    opt = optimal_pass_through(sc36, a, grid=6)
    assert isinstance(pass_through_curve_plot(pass_through_curve(sc36, a, grid=6),
                                              comparison=cmp, optimum=opt), Figure)
    prog = KamProgram(tactics=KamProgram().tactics[:2])
    fig = tactic_roi_plot(evaluate_program(sc36, prog, n_paths=2000, rng=1))
    assert len(fig.axes[0].get_yticklabels()) == 2
    fig = walk_away_plot(walk_away_curve(sc36, top=2, credibilities=[0, 1]), demand=0.05)
    assert len(fig.axes[0].lines) == 3
    s = RebateSchedule(thresholds=(0, 10), rates=(0.0, 0.1))
    assert isinstance(rebate_plot([s], [1, 5, 20]), Figure)


def test_panels_update_in_place(sc36):
    from kamsim.views.widgets.pricing import negotiation_panel, pricing_explorer

    p = pricing_explorer(sc36)
    before = p.image.value
    p.pass_through.value = 100.0
    assert p.breakdown.pass_through == pytest.approx(1.0)
    assert p.image.value != before
    p.gain.value = 9.0  # above some key accounts' cost to serve: shown, not raised
    assert "cost to serve" in p.summary.value
    n = negotiation_panel(sc36, demand=0.02)
    n.credibility.value = 100.0
    assert "concede" in n.decision.value
    n.credibility.value = 0.0
    assert "refuse" in n.decision.value
