"""Monte Carlo (plain sampler) against the exact twin for the heavier churn models.

As tests/risk/test_mc_vs_exact.py: whole-thousand revenues on an exact lattice (error
bound 0), fixed seeds, chi-square p-value > 1e-4 on the lattice, the exact VaR inside the
99.9 % order-statistic interval of the Monte Carlo VaR, ES within 4 standard errors and
the mean within 5. A correct engine fails these with probability below about 1e-4 for a
fresh seed; a wrong copula (e.g. the t copula's mixing variable dropped, or a factor
ignored) shifts the 99 % tail by far more at these sample sizes.
"""

from __future__ import annotations

import numpy as np
import pytest

from kamsim import risk
from kamsim.engine import simulate
from kamsim.exceptions import AssumptionError
from kamsim.model.copulas import Factor
from kamsim.risk.exact import loss_distribution
from tests.risk.test_exact import make_scenario
from tests.risk.test_mc_vs_exact import chi_square_on_lattice, portfolio_args

pytestmark = pytest.mark.slow

N_PATHS = 100_000


def segments():
    return [("ab"[i % 2]) for i in range(30)]


CASES = {
    "t": {"copula": "t", "nu": 4.0, "correlation": 0.2},
    "double_t": {"copula": "double_t", "nu": 4.0, "nu_idio": 6.0, "correlation": 0.25},
    "factors": {"correlation": 0.15,
                "factors": (Factor(name="seg", by="segment", correlation=0.2),)},
    "t_factors": {"copula": "t", "nu": 5.0, "correlation": 0.1,
                  "factors": (Factor(name="seg", by="segment", correlation=0.15),)},
}


@pytest.mark.parametrize("case", list(CASES))
def test_heavier_models_match_exact(case):
    revenue, churn = portfolio_args()
    sc = make_scenario(revenue, churn, horizon_months=24, segment=segments())
    sc = sc.with_churn(**CASES[case])
    exact = loss_distribution(sc, step=1000.0)
    assert exact.error_bound == 0.0
    res = simulate(sc, n_paths=N_PATHS, rng=77)
    x = res.losses("run_rate_lost")
    chi2, dof, p = chi_square_on_lattice(x, exact)
    assert p > 1e-4, f"chi2={chi2:.1f} on {dof} dof"
    assert abs(x.mean() - exact.mean) < 5 * x.std() / np.sqrt(x.size)
    for level in (0.95, 0.99):
        lo, hi = risk.var_confidence_interval(x, level, confidence=0.999)
        assert lo <= exact.var(level) <= hi
        assert abs(res.es(level) - exact.es(level)) < 4 * risk.es_standard_error(x, level)


def test_one_factor_gaussian_draws_unchanged_by_factor_machinery():
    revenue, churn = portfolio_args()
    sc = make_scenario(revenue, churn, correlation=0.2, segment=segments())
    zero = sc.with_churn(factors=(Factor(name="seg", by="segment", correlation=0.0),))
    a = simulate(sc, n_paths=4096, rng=5).losses("run_rate_lost")
    b = simulate(zero, n_paths=4096, rng=5).losses("run_rate_lost")
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(("copula", "sampler"), [("double_t", "importance")])
def test_other_samplers_refuse_what_they_do_not_cover(copula, sampler):
    revenue, churn = portfolio_args()
    sc = make_scenario(revenue, churn, correlation=0.2).with_churn(copula=copula, nu=4.0)
    with pytest.raises(AssumptionError, match="use sampler='mc'"):
        simulate(sc, n_paths=4096, rng=1, sampler=sampler, tail_threshold=1e6
                 if sampler == "importance" else None)


IS_CASES = {
    "t": {"copula": "t", "nu": 4.0, "correlation": 0.2},
    "three_factors": {"correlation": 0.1,
                      "factors": (Factor(name="f2", correlation=0.1),
                                  Factor(name="f3", by="segment", correlation=0.15))},
}


@pytest.mark.parametrize("case", list(IS_CASES))
def test_importance_sampling_is_unbiased_and_reduces_variance(case):
    """At the 99.9 % VaR: the IS tail probability within 4 SE of the exact one, and its
    variance at least 10x below plain Monte Carlo's ``p (1 - p) / n`` at equal paths."""
    revenue, churn = portfolio_args()
    sc = make_scenario(revenue, churn, horizon_months=24,
                       segment=[("abc"[i % 3]) for i in range(30)])
    sc = sc.with_churn(**IS_CASES[case])
    exact = loss_distribution(sc, step=1000.0)
    x = exact.var(0.999)
    p = float(exact.sf(x - 500.0))  # P(L >= x) on the 1,000 lattice
    n = 32_768
    res = simulate(sc, n_paths=n, rng=11, sampler="importance", tail_threshold=x)
    hit = res.weights * (res.losses("run_rate_lost") >= x - 500.0)
    se = hit.std() / np.sqrt(n)
    assert abs(hit.mean() - p) < 4 * se
    assert p * (1 - p) / hit.var() >= 10.0
    for level in (0.99, 0.999):
        v = res.var(level)
        assert abs(v - exact.var(level)) <= 4 * res.standard_error("var", level=level) + 1e3
