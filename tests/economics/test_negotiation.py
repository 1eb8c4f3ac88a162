"""Tests of kamsim.economics.negotiation: walk-away concession vs closed forms, monotonicity."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kamsim.economics.negotiation import (
    NegotiationAssumptions,
    evaluate_concession,
    negotiation_table,
    replacement_curve,
    walk_away_curve,
)
from kamsim.exceptions import AssumptionError
from kamsim.model import ChurnAssumptions, Scenario
from kamsim.portfolio import Portfolio


def one_account(prob: float = 0.0, horizon: int = 24, notice: int = 0) -> Scenario:
    pf = Portfolio(pd.DataFrame({"account_id": ["K1", "S1"], "revenue": [2_000_000.0, 1e5],
                                 "gross_margin": [0.3, 0.4],
                                 "cost_to_serve": [100_000.0, 5_000.0]}))
    return Scenario(portfolio=pf, churn=ChurnAssumptions(annual_prob=prob,
                                                         notice_months=notice),
                    horizon_months=horizon)


@pytest.mark.parametrize("pi", [0.0, 0.2, 0.55, 1.0])
def test_simple_case_closed_form(pi):
    """Deterministic, no replacement: d* = pi x contribution margin = pi x (0.3 - 0.05)."""
    sc = one_account()
    a = NegotiationAssumptions(credibility=pi, replacement="none", discount_rate=0.1)
    d = evaluate_concession(sc, "K1", 0.05, a)
    assert d.walk_away == pytest.approx(pi * 0.25, abs=1e-10)
    assert d.decision == ("concede" if pi * 0.25 > 0.05 else "refuse")


def test_general_closed_form_with_churn_notice_and_linear_replacement():
    """d* = pi (L - Rep) / A, every term built by hand from the survival formula."""
    h, p, notice, r, pi = 36, 0.12, 2, 0.09, 0.6
    sc = one_account(prob=p, horizon=h, notice=notice)
    a = NegotiationAssumptions(credibility=pi, discount_rate=r, replacement="linear",
                               replacement_months=10, replacement_delay_months=1,
                               replacement_share=0.8, replacement_margin=0.2)
    t = np.arange(1, h + 1)
    disc = (1 + r) ** (-t / 12)
    surv = np.where(t > notice, (1 - p) ** (np.maximum(t - notice, 0) / 12), 1.0)
    rev, contrib = 2_000_000.0, (600_000.0 - 100_000.0) / 12
    annuity = (rev / 12 * surv * disc).sum()
    stop = 1 + notice
    lost = (contrib * surv * disc)[t >= stop].sum()
    k = t - stop + 1  # months since the loss, 1-based
    share = 0.8 * np.clip((k - 1) / 10, 0, 1)
    rep = (np.where(t >= stop, rev * share / 12 * 0.2, 0.0) * disc).sum()
    closed = pi * (lost - rep) / annuity
    d = evaluate_concession(sc, "K1", 0.02, a)
    assert d.walk_away == pytest.approx(closed, rel=1e-9)
    # the two expected values at the walk-away point are equal
    at = evaluate_concession(sc, "K1", d.walk_away, a)
    assert at.ev_concede == pytest.approx(at.ev_refuse, rel=1e-9)
    # and conceding the demand costs exactly demand x annuity
    assert d.cost_of_conceding == pytest.approx(0.02 * annuity, rel=1e-12)


def test_break_even_credibility_makes_values_equal():
    sc = one_account(prob=0.1, horizon=36)
    a = NegotiationAssumptions(credibility=0.5)
    d = evaluate_concession(sc, "K1", 0.04, a)
    a2 = NegotiationAssumptions(credibility=d.break_even_credibility)
    d2 = evaluate_concession(sc, "K1", 0.04, a2)
    assert d2.ev_concede == pytest.approx(d2.ev_refuse, rel=1e-9)
    assert d2.walk_away == pytest.approx(0.04, rel=1e-8)


def test_monotone_in_credibility_and_replacement_speed(sample):
    sc = Scenario(portfolio=sample, horizon_months=36)
    curve = walk_away_curve(sc, top=3, credibilities=np.linspace(0, 1, 11))
    for _, g in curve.groupby("account_id"):
        assert (np.diff(g.walk_away.to_numpy()) > 0).all()
        assert g.walk_away.iloc[0] == 0.0  # a pure bluff is worth no concession
    slow = NegotiationAssumptions(credibility=0.7, replacement_months=30)
    fast = NegotiationAssumptions(credibility=0.7, replacement_months=6)
    never = NegotiationAssumptions(credibility=0.7, replacement="none")
    top = str(sample.account_ids[np.argmax(sample.revenue)])
    w = [evaluate_concession(sc, top, 0.05, x).walk_away for x in (fast, slow, never)]
    assert w[0] < w[1] < w[2]


def test_table_consistent_with_walk_away(sample):
    sc = Scenario(portfolio=sample, horizon_months=36)
    a = NegotiationAssumptions(credibility=0.8, replacement_months=24)
    t = negotiation_table(sc, 0.03, a, top=8)
    assert len(t) == 8
    assert (t.revenue.diff().dropna() <= 0).all()
    concede = t.decision == "concede"
    assert (concede == (t.walk_away > 0.03)).all()
    assert (concede == (t.advantage_of_conceding > 0)).all()
    np.testing.assert_allclose(
        t.ev_refuse, 0.2 * t.ev_refuse_if_stays + 0.8 * t.ev_refuse_if_leaves, rtol=1e-12)


def test_replacement_timeline_seam(sample):
    """With ReplacementAssumptions the curve is replacement_timeline's mean run-rate."""
    from kamsim.analysis.timelines import replacement_timeline
    from kamsim.model import ReplacementAssumptions

    sc = Scenario(portfolio=sample, horizon_months=24)
    top = int(np.argmax(sample.revenue))
    acc, rev = str(sample.account_ids[top]), float(sample.revenue[top])
    ra = ReplacementAssumptions(opportunities_per_month=1, arrivals="fixed",
                                response_lag_months=0, cycle_mean_months=2, cycle_cv=0,
                                win_rate=1, account_size="lognormal", size_median=rev / 2,
                                size_sigma=0, ramp_months=2, gross_margin=0.02)
    tl = replacement_timeline(rev, ra, horizon_months=24, n_paths=10, rng=0)
    curve = tl.mean_run_rate_by_month / rev
    np.testing.assert_allclose(curve[:4], [0, 0, 0.25, 0.75])  # deterministic start
    a = NegotiationAssumptions(credibility=1.0, baseline_churn=False, discount_rate=0.0)
    d = evaluate_concession(sc, acc, 0.01, a, replacement=ra, n_paths=10, rng=0)
    gp = float(sample.gross_profit[top]) - float(sample.column("cost_to_serve")[top])
    lost = gp * 2  # 24 months, no discounting, no churn
    rep = (rev * curve / 12 * 0.02).sum()
    assert 0 < rep < lost
    assert d.walk_away == pytest.approx((lost - rep) / (rev * 2), rel=1e-9)
    assert replacement_curve(24, a, lost_revenue=rev, replacement=ra, n_paths=10,
                             rng=0) == pytest.approx(curve)


def test_bad_inputs():
    sc = one_account()
    with pytest.raises(AssumptionError, match="credibility"):
        NegotiationAssumptions(credibility=-0.1)
    with pytest.raises(AssumptionError, match="replacement"):
        NegotiationAssumptions(replacement="fast")  # type: ignore[arg-type]
    with pytest.raises(AssumptionError, match="replacement_share"):
        NegotiationAssumptions(replacement_share=1.5)
    with pytest.raises(AssumptionError, match="unknown account id"):
        evaluate_concession(sc, "nope", 0.05)
    with pytest.raises(AssumptionError, match="demand"):
        evaluate_concession(sc, "K1", 1.5)
    with pytest.raises(AssumptionError, match="unknown field"):
        NegotiationAssumptions.from_dict({"credibilty": 0.5})
    a = NegotiationAssumptions(notice_months=3, replacement_margin=0.1)
    assert NegotiationAssumptions.from_dict(a.to_dict()) == a
