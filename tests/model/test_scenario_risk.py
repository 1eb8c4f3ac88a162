"""Scenario serialisation, risk measures and deterministic worst cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kamsim import AssumptionError, InputDataError, risk
from kamsim.analysis.worst_case import lose_accounts, lose_group, lose_top_k, worst_cases
from kamsim.model import ChurnAssumptions, Scenario
from kamsim.portfolio import Portfolio
from tests.conftest import DATA


def test_yaml_round_trip(tmp_path, sample):
    sc = Scenario(portfolio=sample, churn=ChurnAssumptions(
        correlation=0.25, notice_months=2, partial_prob={"key": 0.5, "strategic": 0.2,
                                                         "standard": 0.0},
        segment_correlation={"Retail": 0.4}), horizon_months=18, fixed_costs=1e6,
        name="recession")
    p = tmp_path / "s.yaml"
    p.write_text(sc.to_yaml())
    back = Scenario.from_yaml(p, portfolio=sample)
    assert back == sc
    assert Scenario.from_dict(sc.to_dict()) == sc  # re-reads the accounts file


def test_bundled_sample_scenario_loads():
    sc = Scenario.from_yaml(DATA / "sample_scenario.yaml")
    assert sc.portfolio.n_accounts == 300
    assert sc.churn.correlation == 0.2


def test_unknown_scenario_fields(sample):
    with pytest.raises(AssumptionError, match=r"unknown field\(s\) \['horizon'\]"):
        Scenario.from_dict({"horizon": 12}, portfolio=sample)
    with pytest.raises(AssumptionError, match=r"churn: unknown field\(s\) \['corr'\]"):
        Scenario.from_dict({"churn": {"corr": 0.2}}, portfolio=sample)


def test_segment_correlation_needs_known_segment(sample):
    with pytest.raises(AssumptionError, match=r"unknown segment\(s\) \['Mining'\]"):
        Scenario(portfolio=sample, churn=ChurnAssumptions(segment_correlation={"Mining": .1}))


def test_probabilities_resolution_order(sample):
    sc = Scenario(portfolio=sample, churn=ChurnAssumptions(level=2.0))
    np.testing.assert_allclose(sc.annual_probs(),
                               np.minimum(2 * sample.column("churn_prob"), 1.0))
    pf = Portfolio(pd.DataFrame({"account_id": ["a", "b"], "revenue": [1.0, 2.0]}))
    with pytest.raises(AssumptionError, match="no churn probabilities"):
        Scenario(portfolio=pf)
    sc = Scenario(portfolio=pf, churn=ChurnAssumptions(annual_prob=0.2))
    np.testing.assert_allclose(sc.monthly_hazards(), 1 - 0.8 ** (1 / 12))


# -- risk measures -------------------------------------------------------------------------

def test_var_es_match_scipy_for_continuous_samples():
    x = np.random.default_rng(0).exponential(size=200_001)
    assert risk.value_at_risk(x, 0.99) == pytest.approx(
        np.quantile(x, 0.99, method="inverted_cdf"))
    assert risk.expected_shortfall(x, 0.99) == pytest.approx(1 + np.log(100), rel=0.02)


def test_weighted_equals_repeated_samples():
    x = np.array([0.0, 1.0, 5.0, 10.0])
    w = np.array([0.5, 0.25, 0.2, 0.05])
    rep = np.repeat(x, (w * 100).astype(int))
    for a in (0.5, 0.8, 0.95, 0.99):
        assert risk.value_at_risk(x, a, weights=w) == risk.value_at_risk(rep, a)
        assert risk.expected_shortfall(x, a, weights=w) == pytest.approx(
            risk.expected_shortfall(rep, a))


def test_var_interval_covers_true_quantile():
    rng = np.random.default_rng(1)
    hits = 0
    for _ in range(200):
        lo, hi = risk.var_confidence_interval(rng.standard_normal(2_000), 0.95)
        hits += lo <= 1.6448536 <= hi
    assert hits >= 180  # nominal 95 %: 190 expected, sd about 3


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0, 1e6), min_size=1, max_size=50), st.floats(0.5, 0.99))
def test_es_at_least_var_and_mean(xs, a):
    v = risk.value_at_risk(xs, a)
    e = risk.expected_shortfall(xs, a)
    assert e >= v - 1e-6 * (1 + abs(v))
    assert e >= np.mean(xs) - 1e-6 * (1 + abs(e))


def test_risk_rejects_bad_level():
    with pytest.raises(ValueError, match=r"level must be in \(0, 1\)"):
        risk.value_at_risk([1.0], 1.0)


# -- deterministic worst cases -------------------------------------------------------------

def test_lose_top_k_by_hand():
    pf = Portfolio(pd.DataFrame({"account_id": ["a", "b", "c"], "revenue": [50.0, 30.0, 20.0],
                                 "gross_margin": [0.1, 0.5, 0.5]}))
    t = lose_top_k(pf, 2, fixed_costs=10)
    assert t["revenue_lost"].tolist() == [0.0, 50.0, 80.0]
    assert t["gross_profit_remaining"].tolist() == [30.0, 25.0, 10.0]
    assert t["above_break_even"].tolist() == [True, True, True]
    t = lose_top_k(pf, 1, by="gross_profit", fixed_costs=26)
    assert t["last_account_lost"].tolist() == ["", "b"]
    assert t["above_break_even"].tolist() == [True, False]


def test_group_and_named_losses(sample):
    seg = lose_group(sample, "segment")
    assert seg["revenue_lost"].sum() == pytest.approx(sample.total_revenue)
    named = lose_accounts(sample, ["A0001", "A0002"])
    assert named["revenue_lost"].iloc[1] == pytest.approx(sample.revenue[:2].sum())
    with pytest.raises(InputDataError, match=r"unknown account id\(s\) \['Z9'\]"):
        lose_accounts(sample, ["Z9"])
    t = worst_cases(sample, k=3)
    assert t["revenue_lost"].iloc[1] == pytest.approx(0.18 * sample.total_revenue, rel=1e-5)


def test_monte_carlo_and_exact_are_both_loss_distributions():
    """One protocol for both: a function written against it takes either, and they agree."""
    from kamsim.engine import simulate
    from kamsim.portfolio.datasets import synthetic_portfolio
    from kamsim.risk import LossDistribution, loss_distribution

    sc = Scenario(portfolio=synthetic_portfolio(40, rng=2),
                  churn=ChurnAssumptions(annual_prob=0.15, correlation=0.2), horizon_months=12)
    mc = simulate(sc, n_paths=40_000, rng=11)
    ex = loss_distribution(sc)

    def tail_ratio(d: LossDistribution) -> float:
        return d.es(0.95) / d.var(0.95)

    assert isinstance(mc, LossDistribution)
    assert isinstance(ex, LossDistribution)
    assert not isinstance(object(), LossDistribution)
    # same model: the ES/VaR ratio agrees to Monte Carlo accuracy (40,000 paths, seed 11)
    assert tail_ratio(mc) == pytest.approx(tail_ratio(ex), rel=0.03)
