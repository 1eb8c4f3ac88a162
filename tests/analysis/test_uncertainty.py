"""Parameter uncertainty: the outer loop around the exact twin.

Checks are exact (no tolerance beyond rounding): each draw's figures equal the exact twin
at that draw's parameters; a degenerate interval gives a band of zero width at the point;
the predictive figure is the mixture's (the average pmf); the band is ordered and, for a
monotone parameter (level), holds the point. Fit draws (ChurnFit/RenewalFit) plug in.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import kamsim.risk.measures as risk
from kamsim.analysis.calibrate import fit_renewals
from kamsim.analysis.uncertainty import band_stability, parameter_uncertainty
from kamsim.exceptions import AssumptionError
from kamsim.model import ChurnAssumptions, Scenario
from kamsim.portfolio import Portfolio
from kamsim.risk.exact import loss_distribution


def scenario():
    pf = Portfolio(pd.DataFrame({"account_id": list("ABCDEF"),
                                 "revenue": [500.0, 300.0, 150.0, 50.0, 80.0, 20.0],
                                 "gross_margin": 0.3}))
    return Scenario(portfolio=pf, horizon_months=12, fixed_costs=200.0,
                    churn=ChurnAssumptions(annual_prob=0.1, correlation=0.2))


def test_each_draw_is_the_exact_twin_at_its_parameters():
    sc = scenario()
    r = parameter_uncertainty(sc, intervals={"level": (0.7, 1.4), "correlation": (0.1, 0.3)},
                              n_draws=12, rng=3, step=10.0)
    row = r.draws.iloc[5]
    d = loss_distribution(sc.with_churn(level=row["level"], correlation=row["correlation"]),
                          step=10.0)
    assert row["var_0.95"] == d.var(0.95)
    assert row["es_0.99"] == d.es(0.99)
    b = r.bands
    assert (b["low"] <= b["median"]).all()
    assert (b["median"] <= b["high"]).all()
    assert b.loc["var_0.95", "low"] <= b.loc["var_0.95", "point"] <= b.loc["var_0.95", "high"]
    assert "p_below_break_even" in b.index


def test_degenerate_interval_collapses_the_band():
    sc = scenario()
    r = parameter_uncertainty(sc, intervals={"level": (1.0, 1.0)}, n_draws=5, rng=0,
                              step=10.0)
    b = r.bands.loc["es_0.95"]
    assert b["low"] == b["high"] == b["point"] == b["predictive"]


def test_predictive_is_the_mixture():
    sc = scenario()
    r = parameter_uncertainty(sc, intervals={"level": (0.5, 1.5)}, n_draws=6, rng=2,
                              step=10.0)
    pmfs = [loss_distribution(sc.with_churn(level=v), step=10.0) for v in r.draws["level"]]
    mix = np.mean([d.pmf for d in pmfs], axis=0)
    want = risk.value_at_risk(pmfs[0].support, 0.95, weights=mix)
    assert r.bands.loc["var_0.95", "predictive"] == pytest.approx(want)


def test_renewal_fit_draws_plug_in_and_sentence():
    sc = scenario()
    fit = fit_renewals([1000, 631, 468, 382, 326, 289, 262, 241])
    draws = fit.probability_draws([0, 1, 2, 3, 5, 8], 30, rng=4)
    r = parameter_uncertainty(sc, prob_draws=draws, step=10.0)
    assert r.n_draws == 30
    assert r.bands.loc["var_0.95", "high"] >= r.bands.loc["var_0.95", "low"]
    assert "90 % band" in r.sentence(unit=1.0, suffix="")
    st = band_stability(r, sizes=(5, 10, 30), rng=0)
    assert list(st.index) == [5, 10, 30]


def test_prob_draws_as_frame_by_account_id():
    sc = scenario()
    frame = pd.DataFrame({"A": [0.05, 0.2, 0.3], "C": [0.1, 0.1, 0.4]})
    r = parameter_uncertainty(sc, prob_draws=frame, step=10.0)
    assert r.n_draws == 3
    with pytest.raises(AssumptionError, match="not in the portfolio"):
        parameter_uncertainty(sc, prob_draws=pd.DataFrame({"Z": [0.1]}))


@pytest.mark.parametrize(("kwargs", "match"), [
    ({}, "no uncertainty"),
    ({"intervals": {"magic": (0, 1)}}, "unknown field"),
    ({"intervals": {"level": (2, 1)}}, "low <= high"),
    ({"intervals": {"level": (1, 2)}, "band": 1.5}, "must be in"),
    ({"prob_draws": np.ones((2, 3))}, "shape"),
])
def test_bad_input(kwargs, match):
    with pytest.raises(AssumptionError, match=match):
        parameter_uncertainty(scenario(), **kwargs)


def test_interpolated_draws_match_the_exact_draws():
    """Interpolating between 9 exact runs: every draw's CDF within 1e-8 of its exact twin,
    so the lattice VaRs are the same, ES within 1e-6 of the total exposure (1,100) and
    P(below break-even) within 1e-8."""
    sc = scenario()
    kw = {"intervals": {"level": (0.7, 1.4)}, "n_draws": 15, "rng": 3, "step": 10.0}
    exact = parameter_uncertainty(sc, **kw)
    fast = parameter_uncertainty(sc, interpolate=9, **kw)
    assert fast.interpolation_error < 1e-8
    pd.testing.assert_series_equal(fast.draws["level"], exact.draws["level"])
    for m in ("var_0.95", "var_0.99"):
        np.testing.assert_array_equal(fast.draws[m], exact.draws[m])
    for m in ("es_0.95", "es_0.99"):
        np.testing.assert_allclose(fast.draws[m], exact.draws[m], rtol=0, atol=1e-6 * 1100)
    np.testing.assert_allclose(fast.draws["p_below_break_even"],
                               exact.draws["p_below_break_even"], rtol=0, atol=1e-8)
    pd.testing.assert_frame_equal(fast.bands, exact.bands, check_exact=False, rtol=1e-6)
    point = loss_distribution(sc, step=10.0)
    reused = parameter_uncertainty(sc, interpolate=9, point_distribution=point, **kw)
    pd.testing.assert_frame_equal(reused.bands, fast.bands)


def test_interpolated_draws_are_the_same_bits_every_run():
    """The interpolation is deterministic: scipy's barycentric weights came from a random
    permutation of the nodes, so ES and P(below break-even) changed in their last bits from
    one call to the next. (That it is the polynomial through the nodes is checked above:
    every draw within 1e-8 of its exact twin.)"""
    sc = scenario()
    kw = {"intervals": {"level": (0.7, 1.4)}, "n_draws": 15, "rng": 3, "step": 10.0,
          "interpolate": 9}
    first = parameter_uncertainty(sc, **kw)
    for _ in range(3):
        pd.testing.assert_frame_equal(parameter_uncertainty(sc, **kw).draws, first.draws,
                                      check_exact=True)


def test_interpolation_of_a_degenerate_interval_and_its_refusals():
    sc = scenario()
    r = parameter_uncertainty(sc, intervals={"level": (1.0, 1.0)}, n_draws=5, rng=0,
                              step=10.0, interpolate=5)
    b = r.bands.loc["es_0.95"]
    assert b["low"] == b["high"] == b["point"] == b["predictive"]
    assert r.interpolation_error == 0.0
    with pytest.raises(AssumptionError, match="exactly one interval"):
        parameter_uncertainty(sc, intervals={"level": (0.8, 1.2), "correlation": (0.1, 0.3)},
                              interpolate=9)
    with pytest.raises(AssumptionError, match="interpolate"):
        parameter_uncertainty(sc, intervals={"level": (0.8, 1.2)}, interpolate=2)
