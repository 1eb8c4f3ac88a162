"""Tests of kamsim.economics.program: tactic catalogue, program ROI on common random numbers."""

from __future__ import annotations

import numpy as np
import pytest

from kamsim.economics.npv import discount_factors
from kamsim.economics.program import (
    DEFAULT_TACTICS,
    ILLUSTRATIVE_NOTE,
    KamProgram,
    Tactic,
    evaluate_program,
)
from kamsim.exceptions import AssumptionError
from kamsim.model import Scenario


@pytest.fixture(scope="module")
def sc36(sample):
    return Scenario(portfolio=sample, horizon_months=36)


def test_catalogue_has_the_seven_tactics_labelled_illustrative():
    assert len(DEFAULT_TACTICS) == 7
    assert [t.name[0] for t in DEFAULT_TACTICS] == list("1234567")
    assert "Illustrative" in ILLUSTRATIVE_NOTE
    assert "not facts" in ILLUSTRATIVE_NOTE
    # integrated delivery builds the strongest exit barrier in the illustrative set
    assert min(DEFAULT_TACTICS, key=lambda t: t.hazard_multiplier).name.startswith("7")
    p = KamProgram()
    assert p.hazard_multiplier == pytest.approx(np.prod([t.hazard_multiplier
                                                         for t in DEFAULT_TACTICS]))


def test_pure_fixed_cost_is_exact_on_every_path(sc36):
    cost = 120_000.0
    prog = KamProgram(tactics=(Tactic(name="overhead", fixed_cost=cost),), discount_rate=0.1)
    res = evaluate_program(sc36, prog, n_paths=2500, rng=1)
    expected = -cost / 12 * discount_factors(36, 0.1).sum()
    np.testing.assert_allclose(res.incremental(), expected, rtol=1e-9)
    row = res.to_frame().iloc[0]
    assert row.cost_npv == pytest.approx(-expected)
    assert row.roi == pytest.approx(-1.0)
    assert not row.pays_for_itself


def test_exit_barrier_never_hurts_on_any_path(sc36):
    """CRN: lowering hazards only removes or delays churn events, path by path."""
    prog = KamProgram(tactics=(Tactic(name="barrier", hazard_multiplier=0.6),),
                      tiers=None)
    res = evaluate_program(sc36, prog, n_paths=3000, rng=2)
    inc = res.incremental()
    assert (inc >= -1e-6).all()
    assert inc.mean() > 0
    t = res.to_frame()
    assert bool(t.pays_for_itself[0])
    assert np.isnan(t.roi[0])  # free tactic: no ROI ratio


def test_default_program_exact_matches_monte_carlo(sc36):
    res = evaluate_program(sc36, n_paths=4000, rng=3)
    s = res.comparison.summary()
    # 4 standard errors on fixed seeds: not flaky
    assert (abs(s.mc_mean - s.expected_npv) < 4 * s.mc_se).all()
    assert (abs(s.diff_vs_ref - s.diff_exact) < 4 * s.diff_se + 1e-6).all()
    t = res.to_frame()
    assert list(t.tactic) == [x.name for x in DEFAULT_TACTICS]
    assert (t.pays_for_itself == ((t.standalone_gain > 0) & (t.marginal_gain > 0))).all()
    summ = res.summary().set_index("metric").value
    assert summ["expected NPV of program cost"] == pytest.approx(t.cost_npv.sum())
    # the CRN standard error is tiny relative to the spread of incremental profit
    assert summ["standard error (common random numbers)"] < 0.01 * abs(
        summ["expected incremental NPV (exact)"])


def test_efficiency_and_margin_effects_by_hand():
    import pandas as pd

    from kamsim.model import ChurnAssumptions
    from kamsim.portfolio import Portfolio

    pf = Portfolio(pd.DataFrame({"account_id": ["K"], "revenue": [1_200_000.0],
                                 "gross_margin": [0.2], "cost_to_serve": [60_000.0],
                                 "tier": ["key"]}))
    sc = Scenario(portfolio=pf, churn=ChurnAssumptions(annual_prob=0.0), horizon_months=12)
    t = Tactic(name="x", efficiency_gain=0.01, margin_change=-0.005, volume_change=0.1,
               cost_per_account=6_000.0)
    res = evaluate_program(sc, KamProgram(tactics=(t,), ramp_months=0, discount_rate=0.0),
                           n_paths=2, rng=0)
    # per year: +1 % x 1.2M gain, volume 1.1 x 1.2M x (0.2 - 0.005) - 0.2 x 1.2M, - 6k
    per_year = 12_000 + 1.1 * 1_200_000 * 0.195 - 240_000 - 6_000
    assert res.comparison.expected[1] - res.comparison.expected[0] == pytest.approx(per_year)


def test_program_round_trip_and_errors(sc36):
    p = KamProgram(tactics=DEFAULT_TACTICS[:3], tiers=("key", "strategic"), pass_through=0.2)
    assert KamProgram.from_dict(p.to_dict()) == p
    with pytest.raises(AssumptionError, match="unique"):
        KamProgram(tactics=(DEFAULT_TACTICS[0], DEFAULT_TACTICS[0]))
    with pytest.raises(AssumptionError, match="cost_per_account"):
        Tactic(name="t", cost_per_account=-1)
    with pytest.raises(AssumptionError, match="volume_change"):
        Tactic(name="t", volume_change=-1.0)
    with pytest.raises(AssumptionError, match="non-empty"):
        Tactic(name=" ")
    with pytest.raises(AssumptionError, match="unknown field"):
        Tactic.from_dict({"name": "t", "cost": 1})
    with pytest.raises(AssumptionError, match="exceeds the cost to serve"):
        evaluate_program(sc36, KamProgram(tactics=(Tactic(name="big", efficiency_gain=0.5),)),
                         n_paths=10, rng=0)
    with pytest.raises(AssumptionError, match="unknown tier"):
        evaluate_program(sc36, KamProgram(tiers=("gold",)), n_paths=10, rng=0)
