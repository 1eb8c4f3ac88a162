"""Tail importance sampling and randomised quasi-Monte Carlo against the exact answer.

The portfolio (30 accounts, three dominant) has whole-thousand revenues, so the exact
lattice (step 1,000) is exact. Every test uses fixed seeds, so it is deterministic.
Agreement tests allow 4 reported standard errors (a correct sampler fails one with
probability ~6e-5 for a fresh seed). Efficiency tests compare with plain Monte Carlo's
*exact* standard error at equal paths (sqrt(p (1 - p) / n) from the exact p, or the exact
standard deviation of the loss), and require factors well below the ones measured (stated
per test), so sampling noise in the estimated errors (about 10-20 %) cannot flip them.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest

from kamsim import AssumptionError
from kamsim.engine import simulate
from kamsim.model import ReplacementAssumptions
from kamsim.risk.exact import loss_distribution
from tests.engine.test_reproducible import compare_results
from tests.risk.test_exact import make_scenario

N = 16_384


def portfolio_args():
    rng = np.random.default_rng(2024)
    revenue = np.concatenate([[400, 250, 180], rng.integers(5, 60, size=27)]) * 1000.0
    churn = np.concatenate([[0.08, 0.10, 0.12], rng.uniform(0.05, 0.3, size=27)])
    return revenue, churn


@pytest.fixture(scope="module", params=[(0.2, 0), (0.0, 2)], ids=["rho0.2", "indep"])
def case(request):
    rho, notice = request.param
    revenue, churn = portfolio_args()
    sc = make_scenario(revenue, churn, correlation=rho, notice_months=notice,
                       horizon_months=24)
    exact = loss_distribution(sc, step=1000.0)
    assert exact.error_bound == 0.0
    return sc, exact


# -- importance sampling ---------------------------------------------------------------
def test_importance_tail_probability_matches_exact(case):
    sc, exact = case
    x = exact.var(0.999)
    p = float(exact.sf(x - 500.0))  # P(L >= x) on the 1,000 lattice
    res = simulate(sc, n_paths=N, rng=7, sampler="importance", tail_threshold=x)
    est = res.sf(x - 500.0)
    se = res.standard_error("sf", x=x - 500.0)
    assert abs(est - p) < 4 * se
    # the error bar itself is honest: within a factor 2 of its expected size (~1.1 %)
    assert 0.005 * p < se < 0.03 * p
    # plain MC at equal paths: sqrt(p (1 - p) / n) ~ 24.6 % of p. Measured factor ~20
    # (variance reduction ~400); require 5.
    se_mc = np.sqrt(p * (1 - p) / N)
    assert se_mc / se > 5


def test_importance_realised_error_beats_plain_mc():
    """Over 6 seeds the realised relative error is far below plain MC's (measured 18x)."""
    revenue, churn = portfolio_args()
    sc = make_scenario(revenue, churn, correlation=0.2, horizon_months=24)
    exact = loss_distribution(sc, step=1000.0)
    x = exact.var(0.999)
    p = float(exact.sf(x - 500.0))
    n = 8192
    err = [simulate(sc, n_paths=n, rng=100 + s, sampler="importance").sf(x - 500.0) - p
           for s in range(6)]
    rmse = float(np.sqrt(np.mean(np.square(err))))
    assert np.sqrt(p * (1 - p) / n) / rmse > 5


def test_importance_var_es_and_body(case):
    sc, exact = case
    res = simulate(sc, n_paths=N, rng=11, sampler="importance")  # default threshold
    assert res.tail_threshold == exact.var(0.999)
    assert res.weights is not None
    assert res.weights.shape == (N,)
    assert res.weights.max() <= 8.0 + 1e-9  # defensive mixture caps the weights
    for level in (0.999, 0.995):
        v, e = res.var(level), res.es(level)
        assert abs(v - exact.var(level)) <= 4 * res.standard_error("var", level=level) + 1e3
        assert abs(e - exact.es(level)) <= 4 * res.standard_error("es", level=level) + 1e3
    # the body stays right in law (defensive paths): mean and a loss frequency
    assert abs(res.mean() - exact.mean) < 4 * res.standard_error("mean")
    freq = res.account_table()["simulated_loss_freq"].to_numpy()
    assert abs(freq[0] - sc.horizon_probs()[0]) < 0.02
    assert 0 < res.effective_sample_size < N
    summ = res.summary()
    assert summ.attrs["sampler"] == "importance"
    assert "sampler: importance sampling effective sample size" in set(summ.metric)
    t = res.risk_table((0.999,))
    assert t.loc[0.999, "var_low"] <= t.loc[0.999, "var"] <= t.loc[0.999, "var_high"]
    assert t.loc[0.999, "es_se"] > 0


def test_importance_revenue_lost_in_law():
    """Decision months given a loss follow the original law: revenue lost matches MC."""
    revenue, churn = portfolio_args()
    sc = make_scenario(revenue, churn, correlation=0.2, notice_months=1,
                       horizon_months=24)
    mc = simulate(sc, n_paths=2 * N, rng=3)
    imp = simulate(sc, n_paths=N, rng=4, sampler="importance")
    # E[revenue lost | run-rate loss > x] in the deep tail vs MC's (few MC paths there,
    # so compare the ratio revenue_lost / run_rate_lost, which depends on months only)
    x = imp.tail_threshold * 0.6
    sel_i = imp.losses() > x
    sel_m = mc.losses() > x
    w = imp.weights[sel_i]
    ratio_i = np.sum(w * imp.losses("revenue_lost")[sel_i]) / np.sum(w * imp.losses()[sel_i])
    ratio_m = mc.losses("revenue_lost")[sel_m].sum() / mc.losses()[sel_m].sum()
    # MC has ~600 such paths; the ratio's sampling error is ~1 %; a wrong month law
    # (e.g. the unconditional one, ratio ~ 1.0) would miss by ~30 %
    assert abs(ratio_i - ratio_m) < 0.05 * ratio_m


def test_importance_risk_contributions_add_up():
    revenue, churn = portfolio_args()
    sc = make_scenario(revenue, churn, correlation=0.2, horizon_months=24)
    res = simulate(sc, n_paths=N, rng=5, sampler="importance")
    rc = res.risk_contributions(0.999)
    assert rc["contribution"].sum() == pytest.approx(res.es(0.999), rel=1e-9)
    ex = loss_distribution(sc, step=1000.0).risk_contributions(0.999)
    top = ex.set_index("account_id")["contribution"]
    mine = rc.set_index("account_id")["contribution"]
    for acc in top.index[:3]:
        assert abs(mine[acc] - top[acc]) < 0.02 * top.sum()


# -- importance sampling with partial churn -----------------------------------------------
# The kernel draws the partial-loss fractions after the tilted loss indicators, from the
# block generator under the original law (partial with probability partial_prob, then
# Beta(2, 3)): they are independent of the indicators and untilted, so the likelihood
# ratio of the indicators stays right. The exact twin convolves the per-account loss
# distributions (step 100: each partial loss rounded to the lattice, error_bound 1,500,
# under a standard error of the ES).
PARTIAL = 0.3


@pytest.fixture(scope="module", params=["gaussian", "t"], ids=["gauss-rho0.2", "t5"])
def partial_case(request):
    revenue, churn = portfolio_args()
    sc = make_scenario(revenue, churn, correlation=0.2, horizon_months=24,
                       partial_prob=PARTIAL)
    if request.param == "t":  # the latent-factor plan (factor shift + chi-square tilt)
        sc = sc.with_churn(copula="t", nu=5.0)
    exact = loss_distribution(sc, step=100.0)
    assert exact.error_bound <= 1500.0
    return sc, exact


def test_importance_partial_churn_matches_exact(partial_case):
    sc, exact = partial_case
    x = exact.var(0.999)
    p = float(exact.sf(x))
    res = simulate(sc, n_paths=N, rng=7, sampler="importance", tail_threshold=x)
    assert res.per_path["partial_losses"].sum() > 0
    assert res.weights is not None
    assert res.weights.max() <= 8.0 + 1e-9
    # tail probability at the exact 99.9 % VaR: within 4 of the run's standard errors
    # (measured +0.4 / +1.5 se for Gaussian / t; se 2.9 % / 3.2 % of p)
    se = res.standard_error("sf", x=x)
    assert abs(res.sf(x) - p) < 4 * se
    # ES 99.9 %: 4 batch-means standard errors plus the exact twin's stated lattice error
    # (measured +0.6 / +0.7 se)
    es_se = res.standard_error("es", level=0.999)
    assert abs(res.es(0.999) - exact.es(0.999)) < 4 * es_se + exact.error_bound
    # the body (defensive paths) stays right in law
    assert abs(res.mean() - exact.mean) < 4 * res.standard_error("mean")
    # variance reduction at the 99.9 % tail probability against plain MC at equal paths
    # (its exact variance p (1 - p) / n): measured 73x (Gaussian) and 59x (t); require 5
    assert p * (1 - p) / N / se**2 >= 5


def test_importance_partial_churn_realised_error_beats_plain_mc():
    """Realised mean squared error over 8 seeds: variance reduction measured 52x."""
    revenue, churn = portfolio_args()
    sc = make_scenario(revenue, churn, correlation=0.2, horizon_months=24,
                       partial_prob=PARTIAL)
    exact = loss_distribution(sc, step=100.0)
    x = exact.var(0.999)
    p = float(exact.sf(x))
    n = 8192
    err = [simulate(sc, n_paths=n, rng=100 + s, sampler="importance",
                    tail_threshold=x).sf(x) - p for s in range(8)]
    assert p * (1 - p) / n / float(np.mean(np.square(err))) >= 5


def test_importance_partial_churn_bitwise_for_any_chunk_and_threads():
    """Every result field bitwise equal across chunk sizes, a thread pool and threads."""
    revenue, churn = portfolio_args()
    sc = make_scenario(revenue, churn, correlation=0.2, horizon_months=12,
                       partial_prob=PARTIAL)
    n = 3 * 2048 + 5
    ref = simulate(sc, n_paths=n, rng=2024, threads=1, sampler="importance")
    assert ref.per_path["partial_losses"].sum() > 0
    contrib = ref.risk_contributions(0.99)
    for chunk in (1, 2048, 2 * 2048):
        res = simulate(sc, n_paths=n, rng=2024, threads=1, chunk_size=chunk,
                       sampler="importance")
        compare_results(ref, res, f"chunk {chunk}")
        with ThreadPoolExecutor(2) as ex:
            res = simulate(sc, n_paths=n, rng=2024, executor=ex, chunk_size=chunk,
                           sampler="importance")
            compare_results(ref, res, f"chunk {chunk}, thread pool")
            pd.testing.assert_frame_equal(contrib, res.risk_contributions(0.99, executor=ex),
                                          check_exact=True)
    for threads in (2, 3):
        res = simulate(sc, n_paths=n, rng=2024, threads=threads, sampler="importance")
        compare_results(ref, res, f"{threads} engine threads")


# -- quasi-Monte Carlo --------------------------------------------------------------------
def test_qmc_matches_exact_with_smaller_error(case):
    sc, exact = case
    res = simulate(sc, n_paths=N, rng=9, sampler="sobol")
    assert res.qmc_replicates == 16
    assert res.weights is None
    se_mean = res.standard_error("mean")
    assert abs(res.mean() - exact.mean) < 4 * se_mean
    # plain MC's error of the mean at equal paths is sd(L) / sqrt(n); measured factor
    # 9x (rho 0.2) and 35x (independent); require 3
    assert exact.std / np.sqrt(N) / se_mean > 3
    x = exact.var(0.9)
    p = float(exact.sf(x))
    se_sf = res.standard_error("sf", x=x)
    assert abs(res.sf(x) - p) < 4 * se_sf
    # P(L > VaR 90 %): measured factor 1.8 (rho 0.2) and 1.4 (independent); require 1.1
    assert np.sqrt(p * (1 - p) / N) / se_sf > 1.1
    assert res.summary().attrs["sampler"] == "sobol"
    t = res.risk_table((0.95,))
    assert t.loc[0.95, "var_low"] <= exact.var(0.95) + 1e3
    assert exact.var(0.95) - 1e3 <= t.loc[0.95, "var_high"]


# -- reproducibility and options ----------------------------------------------------------
@pytest.mark.parametrize(("sampler", "n", "opts"), [
    ("sobol", 4096, {"qmc_replicates": 16}),   # 256 paths per replicate (< block)
    ("sobol", 6144, {"qmc_replicates": 3}),    # 2,048 per replicate
    ("sobol", 8192, {"qmc_replicates": 2}),    # 4,096 per replicate (> block)
    ("importance", 5000, {}),
])
def test_reproducible_across_chunks_and_executors(sampler, n, opts):
    revenue, churn = portfolio_args()
    sc = make_scenario(revenue, churn, correlation=0.1, horizon_months=12)
    ref = simulate(sc, n_paths=n, rng=21, sampler=sampler, **opts)
    other = simulate(sc, n_paths=n, rng=21, sampler=sampler, chunk_size=3000, **opts)
    with ThreadPoolExecutor(2) as ex:
        par = simulate(sc, n_paths=n, rng=21, sampler=sampler, chunk_size=1,
                       executor=ex, **opts)
    pd_ref = ref.to_frame()
    assert pd_ref.equals(other.to_frame())
    assert pd_ref.equals(par.to_frame())
    np.testing.assert_array_equal(ref.monthly_revenue_hist, par.monthly_revenue_hist)
    # a different seed gives different paths
    assert not pd_ref.equals(simulate(sc, n_paths=n, rng=22, sampler=sampler,
                                      **opts).to_frame())


def test_sobol_works_with_partial_churn_and_replacement():
    revenue, churn = portfolio_args()
    sc = make_scenario(revenue, churn, correlation=0.1, horizon_months=12,
                       partial_prob=0.3)
    res = simulate(sc, n_paths=2048, rng=1, sampler="sobol")
    assert res.per_path["partial_losses"].sum() > 0
    from dataclasses import replace

    sc2 = replace(make_scenario(revenue, churn, horizon_months=12),
                  replacement=ReplacementAssumptions(opportunities_per_month=2,
                                                     win_rate=0.2))
    res2 = simulate(sc2, n_paths=2048, rng=1, sampler="sobol", qmc_replicates=8)
    assert res2.has_replacement
    assert res2.qmc_replicates == 8


def test_default_sampler_unchanged():
    revenue, churn = portfolio_args()
    sc = make_scenario(revenue, churn, correlation=0.1, horizon_months=12)
    a = simulate(sc, n_paths=3000, rng=2)
    b = simulate(sc, n_paths=3000, rng=2, sampler="mc")
    assert a.to_frame().equals(b.to_frame())
    assert a.sampler == "mc"
    assert a.weights is None
    assert a.effective_sample_size == 3000
    assert a.standard_error("mean") == pytest.approx(
        a.losses().std(ddof=1) / np.sqrt(3000))


def test_bad_combinations_raise():
    revenue, churn = portfolio_args()
    sc = make_scenario(revenue, churn, horizon_months=12)
    with pytest.raises(AssumptionError, match="tail_threshold is used by"):
        simulate(sc, n_paths=100, rng=1, tail_threshold=1e6)
    with pytest.raises(AssumptionError, match="qmc_replicates is used by"):
        simulate(sc, n_paths=100, rng=1, sampler="importance", qmc_replicates=4)
    with pytest.raises(AssumptionError, match="power of two") as err:
        simulate(sc, n_paths=10_000, rng=1, sampler="sobol")
    assert err.value.field == "n_paths"
    with pytest.raises(AssumptionError, match=">= 2"):
        simulate(sc, n_paths=1024, rng=1, sampler="sobol", qmc_replicates=1)
    with pytest.raises(AssumptionError, match="sampler must be one of"):
        simulate(sc, n_paths=100, rng=1, sampler="lhs")  # type: ignore[arg-type]
    with pytest.raises(AssumptionError, match="must be in"):
        simulate(sc, n_paths=100, rng=1, sampler="importance", tail_threshold=1e12)
    from dataclasses import replace

    # partial churn is supported; with replacement it is still refused (for replacement)
    partial = make_scenario(revenue, churn, horizon_months=12, partial_prob=0.2)
    assert simulate(partial, n_paths=100, rng=1, sampler="importance").sampler == "importance"
    repl = replace(partial, replacement=ReplacementAssumptions(opportunities_per_month=2,
                                                         win_rate=0.2))
    with pytest.raises(AssumptionError, match="replacement") as err:
        simulate(repl, n_paths=100, rng=1, sampler="importance")
    assert err.value.field == "replacement"
    res = simulate(sc, n_paths=100, rng=1)
    with pytest.raises(ValueError, match="needs the threshold"):
        res.standard_error("sf")
