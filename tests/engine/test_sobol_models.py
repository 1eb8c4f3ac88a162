"""Randomised QMC (``sampler="sobol"``) for the t copula, double-t and several factors.

Against the exact twin (:func:`kamsim.risk.exact.loss_distribution`) on the 30-account
portfolio of tests/engine/test_samplers.py (whole-thousand revenues: the 1,000 lattice is
exact, error bound 0), at fixed seeds, so every test is deterministic. Agreement tests
allow 4 replicate standard errors (16 replicates of 1,024 points); a correct sampler
fails one with probability ~6e-5 for a fresh seed, while a wrong model (mixing variable
dropped, a factor ignored, the plain Gaussian thresholds) misses the 99 % tail by many.

Measured at seed 9, 16,384 paths (z = (Sobol - exact) / replicate SE; "gain" = plain
MC's exact standard error sd(L) / sqrt(n), or sqrt(p (1 - p) / n), over Sobol's):

=========  ==========  =========  ============  ============  ==========  ==========
model      mean z      mean gain  sf 95 % z/gain  sf 99 % z/gain  ES 95 % z   ES 99 % z
=========  ==========  =========  ============  ============  ==========  ==========
t (nu 4)   0.85        3.3        -0.68 / 1.6   1.28 / 1.1    -0.43       0.45
double-t   1.94        7.7        -0.09 / 2.5   -0.72 / 2.0   1.64        -0.70
factors    1.66        4.9        -0.70 / 2.1   1.59 / 1.4    1.91        1.61
t+factors  0.26        3.5        0.03 / 2.0    0.79 / 1.5    -0.28       0.81
=========  ==========  =========  ============  ============  ==========  ==========

Variance of the mean, plain MC over Sobol: 11x (t), 59x (double-t), 24x (factors), 12x
(t + factors). The tests require a gain of 2 for the mean (so noise in the replicate
standard error, ~18 %, cannot flip them).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from kamsim import AssumptionError
from kamsim.engine import BLOCK_SIZE, simulate
from kamsim.model.copulas import Factor
from kamsim.risk.exact import loss_distribution
from tests.engine.test_reproducible import bitwise_equal, compare_results
from tests.engine.test_samplers import portfolio_args
from tests.risk.test_exact import make_scenario
from tests.risk.test_mc_vs_exact_models import CASES

N = 16_384

# the models of the Monte Carlo vs exact tests (tests/risk/test_mc_vs_exact_models.py)


def scenario(case: str, **kw):
    revenue, churn = portfolio_args()
    sc = make_scenario(revenue, churn, horizon_months=24,
                       segment=[("ab"[i % 2]) for i in range(30)], **kw)
    return sc.with_churn(**CASES[case])


@pytest.fixture(scope="module", params=list(CASES))
def case(request):
    sc = scenario(request.param)
    exact = loss_distribution(sc, step=1000.0)
    assert exact.error_bound == 0.0
    return request.param, sc, exact, simulate(sc, n_paths=N, rng=9, sampler="sobol")


def test_mean_matches_exact_with_smaller_variance(case):
    name, _, exact, res = case
    assert res.sampler == "sobol"
    assert res.qmc_replicates == 16
    se = res.standard_error("mean")
    assert abs(res.mean() - exact.mean) < 4 * se
    # plain MC at equal paths: sd(L) / sqrt(n); measured 3.3-7.7x (see module docstring)
    assert exact.std / np.sqrt(N) / se > 2, name


@pytest.mark.parametrize("level", [0.95, 0.99])
def test_tail_probability_and_es_match_exact(case, level):
    name, _, exact, res = case
    x = exact.var(level)
    p = float(exact.sf(x))
    assert abs(res.sf(x) - p) < 4 * res.standard_error("sf", x=x), name
    # ES: 4 replicate standard errors plus half a lattice step
    assert abs(res.es(level) - exact.es(level)) < (
        4 * res.standard_error("es", level=level) + 500.0), name


def test_marginals_and_decision_months_follow_the_plain_model(case):
    """Each account's loss frequency is its horizon probability, and the decision month
    follows ``1 - (1 - p)^(t / 12)``: the mean revenue lost is known in closed form
    whatever the copula (it depends on the marginal uniforms ``U_i = F_i(X_i)`` only)."""
    name, sc, _, res = case
    q = sc.horizon_probs()
    freq = res.account_table()["simulated_loss_freq"].to_numpy()
    assert np.all(np.abs(freq - q) < 4 * np.sqrt(q * (1 - q) / N) + 1e-12), name
    p = sc.annual_probs()
    h = 24
    months = np.arange(1, h + 1)
    # P(stop <= s) = 1 - (1 - p)^(s / 12) (notice 0); revenue lost = w / 12 per month
    lost_by = 1.0 - (1.0 - p[:, None]) ** (months[None, :] / 12.0)
    want = float(np.sum(sc.portfolio.revenue * lost_by.sum(axis=1) / 12.0))
    got = res.mean("revenue_lost")
    assert abs(got - want) < 4 * res.standard_error("mean", measure="revenue_lost"), name


def test_one_factor_gaussian_sobol_unchanged_by_zero_factor():
    """A segment factor of correlation 0 is the one-factor Gaussian copula: its Sobol'
    path (two dimensions fewer) is the existing one, bit for bit."""
    revenue, churn = portfolio_args()
    sc = make_scenario(revenue, churn, correlation=0.2, horizon_months=12,
                       segment=[("ab"[i % 2]) for i in range(30)])
    zero = sc.with_churn(factors=(Factor(name="seg", by="segment", correlation=0.0),))
    a = simulate(sc, n_paths=4096, rng=5, sampler="sobol")
    b = simulate(zero, n_paths=4096, rng=5, sampler="sobol")
    np.testing.assert_array_equal(a.losses("revenue_lost"), b.losses("revenue_lost"))


def test_t_copula_with_factors_bitwise_for_any_chunk_and_threads():
    sc = scenario("t_factors", partial_prob=0.2)
    n = 8 * BLOCK_SIZE  # 4 replicates of 4,096 points: replicates straddle blocks
    kw = {"sampler": "sobol", "qmc_replicates": 4}
    ref = simulate(sc, n_paths=n, rng=2024, threads=1, **kw)
    contrib = ref.risk_contributions(0.9)
    for chunk in (1, BLOCK_SIZE, 3 * BLOCK_SIZE, None):
        ck = {} if chunk is None else {"chunk_size": chunk}
        res = simulate(sc, n_paths=n, rng=2024, threads=1, **ck, **kw)
        compare_results(ref, res, f"chunk {chunk}")
        with ThreadPoolExecutor(3) as ex:
            res = simulate(sc, n_paths=n, rng=2024, executor=ex, **ck, **kw)
            compare_results(ref, res, f"chunk {chunk}, thread pool")
            bitwise_equal(contrib, res.risk_contributions(0.9, executor=ex),
                          f"chunk {chunk}: risk_contributions")
    for threads in (2, 3):
        compare_results(ref, simulate(sc, n_paths=n, rng=2024, threads=threads, **kw),
                        f"{threads} engine threads")
    assert not ref.to_frame().equals(simulate(sc, n_paths=n, rng=2025, **kw).to_frame())


def test_importance_sampling_still_refuses_double_t():
    sc = scenario("double_t")
    with pytest.raises(AssumptionError, match="use sampler='mc'") as err:
        simulate(sc, n_paths=4096, rng=1, sampler="importance", tail_threshold=1e6)
    assert err.value.field == "sampler"
