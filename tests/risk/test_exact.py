"""Tests of kamsim.risk.exact against independent implementations and closed forms.

References used: scipy.stats.poisson_binom and fast-poibin (equal weights), brute-force
enumeration of all 2^n outcomes (unequal weights; correlated outcomes integrated over the
factor with scipy.integrate.quad), closed-form mean and variance (Phi2 from
scipy.stats.multivariate_normal), and published Vasicek test vectors (the values that
py-vsk, Open Risk and the formula itself agree on).

Tolerances: the exact methods agree with references to rounding error (1e-12 absolute on
probabilities); the correlated comparisons allow 1e-7 for 64-node Gauss–Hermite
quadrature at rho <= 0.5 (its marginal error, reported as quadrature_error, is below
1e-9 there). Nothing here is random except hypothesis, whose cases are all checked with
these deterministic tolerances.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

from kamsim import risk
from kamsim.exceptions import AssumptionError
from kamsim.model import ChurnAssumptions, Scenario
from kamsim.portfolio import Portfolio
from kamsim.risk.exact import (
    ExactLossDistribution,
    loss_distribution,
    loss_distribution_from_arrays,
    vasicek_cdf,
    vasicek_ppf,
)

ABS = 1e-12  # exact-vs-exact agreement on probabilities
QUAD = 1e-7  # 64-node quadrature vs adaptive quad, rho <= 0.5


# ---------------------------------------------------------------------------------------
# helpers (reusable by the MC-vs-exact tests)
# ---------------------------------------------------------------------------------------
def make_scenario(revenue, churn_prob, *, correlation=0.0, notice_months=0,
                  horizon_months=12, gross_margin=None, partial_prob=0.0,
                  segment=None, segment_correlation=None) -> Scenario:
    """A small scenario with per-account annual churn probabilities."""
    n = len(revenue)
    data = {"account_id": [f"A{i:02d}" for i in range(n)],
            "revenue": np.asarray(revenue, dtype=float),
            "churn_prob": np.broadcast_to(np.asarray(churn_prob, dtype=float), (n,))}
    if gross_margin is not None:
        data["gross_margin"] = np.broadcast_to(np.asarray(gross_margin, dtype=float), (n,))
    if segment is not None:
        data["segment"] = list(segment)
    churn = ChurnAssumptions(correlation=correlation, notice_months=notice_months,
                             partial_prob=partial_prob,
                             segment_correlation=segment_correlation or {})
    return Scenario(portfolio=Portfolio(pd.DataFrame(data)), churn=churn,
                    horizon_months=horizon_months)


def outcomes(n: int) -> np.ndarray:
    """All 2^n loss indicator vectors, shape (2^n, n)."""
    return np.array(list(itertools.product([0, 1], repeat=n)), dtype=float)


def brute_independent(w, q):
    """Exact (loss, probability, indicator matrix) of all 2^n outcomes, independent."""
    x = outcomes(len(w))
    prob = np.prod(np.where(x == 1, q, 1 - q), axis=1)
    return x @ np.asarray(w, float), prob, x


def conditional_q(q, rho, z):
    return stats.norm.cdf((stats.norm.ppf(q) - np.sqrt(rho) * z) / np.sqrt(1 - rho))


def brute_correlated(w, q, rho):
    """Outcome probabilities of the one-factor Gaussian copula by adaptive quadrature."""
    x = outcomes(len(w))
    q = np.asarray(q, float)
    rho = np.broadcast_to(np.asarray(rho, float), q.shape)

    def integrand(z, row):
        qz = conditional_q(q, rho, z)
        return np.prod(np.where(row == 1, qz, 1 - qz)) * stats.norm.pdf(z)

    prob = np.array([integrate.quad(integrand, -np.inf, np.inf, args=(row,),
                                    epsabs=1e-13, epsrel=1e-11)[0] for row in x])
    return x @ np.asarray(w, float), prob, x


def pmf_on_support(dist: ExactLossDistribution, losses, probs) -> np.ndarray:
    """Aggregate brute-force outcomes onto the distribution's lattice points."""
    idx = np.rint((np.asarray(losses) - dist.support[0]) / dist.step).astype(int)
    out = np.zeros(dist.support.size)
    np.add.at(out, idx, probs)
    return out


def es_contributions(losses, x_weighted, level, weights):
    """Generic Acerbi–Tasche ES allocation from outcomes (or MC samples, equal weights)."""
    losses = np.asarray(losses, float)
    weights = np.asarray(weights, float) / np.sum(weights)
    v = risk.value_at_risk(losses, level, weights=weights)
    above = losses > v + 1e-9
    at = np.abs(losses - v) <= 1e-9
    f_v = weights[~above].sum()
    p_at = weights[at].sum()
    a = (x_weighted[above] * weights[above, None]).sum(axis=0)
    b = (x_weighted[at] * weights[at, None]).sum(axis=0) / p_at if p_at > 0 else 0.0
    return (a + (f_v - level) * b) / (1 - level)


# ---------------------------------------------------------------------------------------
# independent churn
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["dp", "fft"])
def test_equal_weights_match_scipy_and_fast_poibin(method):
    import fast_poibin
    rng = np.random.default_rng(7)
    q = rng.uniform(0.0, 1.0, 120)
    d = loss_distribution_from_arrays(np.full(q.size, 2.5), q, method=method)
    assert d.step == 2.5
    assert d.error_bound == 0.0
    np.testing.assert_allclose(d.support, 2.5 * np.arange(q.size + 1))
    ref = stats.poisson_binom(q).pmf(np.arange(q.size + 1))
    np.testing.assert_allclose(d.pmf, ref, atol=ABS)
    np.testing.assert_allclose(d.pmf, fast_poibin.PoiBin(q).pmf, atol=ABS)
    if method == "dp":  # the recursion keeps relative accuracy in the tail
        tail = ref > 1e-250
        np.testing.assert_allclose(d.pmf[tail], ref[tail], rtol=1e-8)


@pytest.mark.parametrize("n", [1, 5, 12])
def test_unequal_weights_match_enumeration(n):
    rng = np.random.default_rng(n)
    w = rng.integers(1, 40, n).astype(float)  # whole numbers: exact lattice (gcd step)
    q = rng.uniform(0.01, 0.6, n)
    d = loss_distribution_from_arrays(w, q)
    assert d.error_bound == 0.0
    losses, prob, _ = brute_independent(w, q)
    np.testing.assert_allclose(d.pmf, pmf_on_support(d, losses, prob), atol=ABS)
    assert d.mean == pytest.approx(np.dot(q, w), rel=1e-12)
    assert d.variance == pytest.approx(np.sum(q * (1 - q) * w**2), rel=1e-10)


def test_dp_and_fft_agree_including_tail():
    rng = np.random.default_rng(3)
    w = rng.lognormal(0, 1.2, 300)
    q = rng.uniform(0.01, 0.3, 300)
    a = loss_distribution_from_arrays(w, q, method="dp", max_points=5000)
    b = loss_distribution_from_arrays(w, q, method="fft", max_points=5000)
    np.testing.assert_array_equal(a.support, b.support)
    np.testing.assert_allclose(a.pmf, b.pmf, atol=1e-15)
    for level in (0.95, 0.99, 0.999):
        assert a.var(level) == b.var(level)
        assert a.es(level) == pytest.approx(b.es(level), rel=1e-10)


def test_off_lattice_error_bound_brackets_true_cdf():
    rng = np.random.default_rng(11)
    w = rng.lognormal(3, 1.0, 10)
    q = rng.uniform(0.05, 0.5, 10)
    d = loss_distribution_from_arrays(w, q, step=w.sum() / 37)
    k = np.rint(w / d.step)
    assert d.error_bound == pytest.approx(np.abs(w - k * d.step).sum())
    assert 0 < d.error_bound <= w.size * d.step / 2
    losses, prob, x = brute_independent(w, q)
    # every outcome moves by at most error_bound
    assert np.max(np.abs(x @ (k * d.step) - losses)) <= d.error_bound * (1 + 1e-12)
    e = d.error_bound
    for t in np.linspace(-1, w.sum() + 1, 200):
        true_cdf = prob[losses <= t].sum()
        assert d.cdf(t - e) <= true_cdf + ABS
        assert true_cdf <= d.cdf(t + e) + ABS
    true_var = risk.value_at_risk(losses, 0.95, weights=prob)
    true_es = risk.expected_shortfall(losses, 0.95, weights=prob)
    assert abs(d.var(0.95) - true_var) <= e + 1e-9
    assert abs(d.es(0.95) - true_es) <= e + 1e-9
    assert abs(d.mean - d.exact_mean) <= e
    assert d.exact_mean == pytest.approx(np.dot(q, w), rel=1e-12)


def test_auto_step_respects_rel_error_and_max_points():
    rng = np.random.default_rng(5)
    w = rng.lognormal(0, 1, 8)
    q = np.full(8, 0.2)
    d = loss_distribution_from_arrays(w, q, rel_error=1e-3, max_points=100_000)
    assert d.error_bound <= 1e-3 * w.sum()
    small = loss_distribution_from_arrays(w, q, max_points=50)
    assert small.support.size <= 50 + w.size  # rounding up can add at most n points
    assert small.error_bound <= w.size * small.step / 2


def test_negative_weights_match_enumeration():
    w = np.array([5.0, -2.0, 3.0, -1.0, 4.0])
    q = np.array([0.3, 0.6, 0.1, 0.8, 0.5])
    d = loss_distribution_from_arrays(w, q, step=1.0)
    assert d.support[0] == -3.0
    losses, prob, x = brute_independent(w, q)
    np.testing.assert_allclose(d.pmf, pmf_on_support(d, losses, prob), atol=ABS)
    got = d.risk_contributions(0.9).set_index("account_id").loc[[str(i) for i in range(5)]]
    want = es_contributions(losses, x * w, 0.9, prob)
    np.testing.assert_allclose(got["contribution"], want, atol=1e-10)


# ---------------------------------------------------------------------------------------
# shared shocks
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("rho", [0.1, 0.3, [0.0, 0.2, 0.5, 0.3, 0.1, 0.4]])
def test_correlated_matches_quad_enumeration(rho):
    w = np.array([10.0, 7.0, 5.0, 3.0, 2.0, 1.0])
    q = np.array([0.05, 0.1, 0.2, 0.15, 0.3, 0.02])
    d = loss_distribution_from_arrays(w, q, correlations=rho)
    assert d.error_bound == 0.0
    assert d.quadrature_error < 1e-9
    losses, prob, x = brute_correlated(w, q, rho)
    assert prob.sum() == pytest.approx(1.0, abs=1e-10)
    np.testing.assert_allclose(d.pmf, pmf_on_support(d, losses, prob), atol=QUAD)
    got = d.risk_contributions(0.95).set_index("account_id").loc[[str(i) for i in range(6)]]
    want = es_contributions(losses, x * w, 0.95, prob)
    np.testing.assert_allclose(got["contribution"], want, atol=1e-5)


def _phi2(a, b, r):
    if not (np.isfinite(a) and np.isfinite(b)):
        return stats.norm.cdf(min(a, b)) if r == 1 else stats.norm.cdf(a) * stats.norm.cdf(b)
    return stats.multivariate_normal(mean=[0, 0], cov=[[1, r], [r, 1]]).cdf([a, b])


def test_correlated_mean_and_variance_closed_form():
    w = np.array([9.0, 4.0, 4.0, 2.0, 1.0, 6.0])
    q = np.array([0.1, 0.25, 0.05, 0.4, 0.2, 0.15])
    rho = np.array([0.3, 0.3, 0.1, 0.45, 0.2, 0.0])
    d = loss_distribution_from_arrays(w, q, correlations=rho)
    a = stats.norm.ppf(q)
    cov = np.diag(q * (1 - q))
    for i, j in itertools.combinations(range(q.size), 2):
        c = _phi2(a[i], a[j], np.sqrt(rho[i] * rho[j])) - q[i] * q[j]
        cov[i, j] = cov[j, i] = c
    assert d.mean == pytest.approx(np.dot(q, w), abs=1e-7)
    assert d.variance == pytest.approx(w @ cov @ w, rel=1e-6)


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 8),
    seed=st.integers(0, 2**32 - 1),
    rho=st.floats(0.05, 0.5),
)
def test_properties(n, seed, rho):
    rng = np.random.default_rng(seed)
    w = rng.integers(1, 20, n).astype(float)
    q = rng.uniform(0.0, 0.7, n)
    ind = loss_distribution_from_arrays(w, q)
    cor = loss_distribution_from_arrays(w, q, correlations=rho)
    for d in (ind, cor):
        assert d.pmf.sum() == pytest.approx(1.0, abs=1e-12)
        assert np.all(d.pmf >= 0)
    # correlation leaves the mean unchanged and fattens the tail (convex order)
    assert cor.mean == pytest.approx(ind.mean, abs=1e-6 * w.sum())
    assert cor.variance >= ind.variance - 1e-9 * w.sum() ** 2
    for level in (0.9, 0.99):
        assert cor.es(level) >= ind.es(level) - 1e-6 * w.sum()
    # rho -> 0 recovers the independent result
    tiny = loss_distribution_from_arrays(w, q, correlations=1e-12)
    np.testing.assert_allclose(tiny.pmf, ind.pmf, atol=1e-9)
    # more churn never lowers the loss: first-order stochastic dominance
    more = loss_distribution_from_arrays(w, np.minimum(q * 1.3 + 0.01, 1.0),
                                         correlations=rho)
    assert more.mean >= cor.mean - 1e-9
    assert np.all(more.cdf(cor.support) <= cor.cdf(cor.support) + 1e-7)


def test_exact_zero_and_one_probabilities():
    d = loss_distribution_from_arrays([3.0, 5.0, 2.0], [0.0, 1.0, 0.5], correlations=0.3)
    assert d.support[d.pmf > 1e-15].tolist() == [5.0, 7.0]
    np.testing.assert_allclose(d.pmf[d.pmf > 1e-15], [0.5, 0.5], atol=1e-12)


# ---------------------------------------------------------------------------------------
# result object and risk measures
# ---------------------------------------------------------------------------------------
def test_result_uses_shared_risk_measures():
    rng = np.random.default_rng(2)
    w = rng.integers(1, 50, 15).astype(float)
    q = rng.uniform(0.02, 0.3, 15)
    d = loss_distribution_from_arrays(w, q, correlations=0.2)
    for level in risk.DEFAULT_LEVELS:
        assert d.var(level) == risk.value_at_risk(d.support, level, weights=d.pmf)
        assert d.es(level) == risk.expected_shortfall(d.support, level, weights=d.pmf)
    pd.testing.assert_frame_equal(d.risk_table(), risk.risk_table(d.support,
                                                                  weights=d.pmf))
    x = float(np.median(d.support))
    assert float(d.sf(x)) == pytest.approx(d.exceedance_probability(x), abs=1e-14)
    assert float(d.sf(x)) == pytest.approx(1 - float(d.cdf(x)), abs=1e-14)
    frame = d.to_frame()
    assert list(frame.columns) == ["loss", "pmf", "cdf", "sf"]
    assert frame.index.name == "point"
    summary = d.summary()
    assert summary.loc["error_bound", "value"] == 0.0
    assert summary.loc["var_0.995", "value"] == d.var(0.995)
    with pytest.raises(ValueError, match="read-only"):
        d.pmf[0] = 1.0


@pytest.mark.parametrize("method", ["dp", "fft"])
def test_risk_contributions_sum_to_es_and_match_enumeration(method):
    rng = np.random.default_rng(9)
    w = rng.integers(1, 30, 10).astype(float)
    q = rng.uniform(0.05, 0.7, 10)  # q > 1/2 exercises the reversed division
    d = loss_distribution_from_arrays(w, q, method=method,
                                      account_ids=[f"K{i}" for i in range(10)])
    losses, prob, x = brute_independent(w, q)
    for level in (0.8, 0.95, 0.99):
        table = d.risk_contributions(level)
        assert table["contribution"].sum() == pytest.approx(d.es(level), rel=1e-9)
        assert table["share"].sum() == pytest.approx(1.0, rel=1e-9)
        assert table["rank"].tolist() == list(range(1, 11))
        assert table["contribution"].is_monotonic_decreasing
        got = table.set_index("account_id").loc[[f"K{i}" for i in range(10)]]
        np.testing.assert_allclose(got["contribution"],
                                   es_contributions(losses, x * w, level, prob), atol=1e-9)
        assert np.all((got["tail_prob"] >= -1e-12) & (got["tail_prob"] <= 1 + 1e-12))


# ---------------------------------------------------------------------------------------
# scenarios
# ---------------------------------------------------------------------------------------
def test_scenario_run_rate_and_gross_profit():
    sc = make_scenario([500.0, 300.0, 200.0, 100.0], [0.1, 0.2, 0.15, 0.3],
                       correlation=0.2, gross_margin=[0.2, 0.3, 0.5, 0.4],
                       horizon_months=24)
    d = loss_distribution(sc)
    ref = loss_distribution_from_arrays(sc.portfolio.revenue, sc.horizon_probs(),
                                        correlations=sc.correlations())
    np.testing.assert_array_equal(d.pmf, ref.pmf)
    assert d.measure == "run_rate"
    assert d.account_ids.tolist() == ["A00", "A01", "A02", "A03"]
    gp = loss_distribution(sc, measure="gross_profit")
    assert gp.measure == "gross_profit"
    assert gp.exact_mean == pytest.approx(np.dot(sc.horizon_probs(), sc.portfolio.gross_profit))
    assert gp.mean == pytest.approx(gp.exact_mean, abs=gp.error_bound + 1e-6)


def test_scenario_notice_period_lowers_horizon_probability():
    base = make_scenario([5.0, 3.0, 2.0], 0.2, horizon_months=24)
    notice = make_scenario([5.0, 3.0, 2.0], 0.2, horizon_months=24, notice_months=6)
    d0, d6 = loss_distribution(base), loss_distribution(notice)
    q6 = 1 - 0.8 ** (18 / 12)
    assert d6.exact_mean == pytest.approx(10 * q6)
    assert d6.mean < d0.mean


def test_scenario_segment_correlations():
    sc = make_scenario([4.0, 3.0, 2.0, 1.0], 0.2, segment=["a", "a", "b", "b"],
                       segment_correlation={"a": 0.4, "b": 0.0})
    d = loss_distribution(sc)
    np.testing.assert_array_equal(d.correlations, [0.4, 0.4, 0.0, 0.0])
    losses, prob, _ = brute_correlated([4.0, 3.0, 2.0, 1.0], sc.horizon_probs(),
                                       [0.4, 0.4, 0.0, 0.0])
    np.testing.assert_allclose(d.pmf, pmf_on_support(d, losses, prob), atol=QUAD)


def test_scenario_partial_churn_is_convolved():
    sc = make_scenario([5.0, 3.0], 0.2, partial_prob=0.3)
    d = loss_distribution(sc, step=1.0)
    assert d.error_bound == pytest.approx(1.0)  # two accounts, step / 2 each
    assert abs(d.mean - d.exact_mean) <= d.error_bound


def test_scenario_bad_measure():
    sc = make_scenario([5.0, 3.0], 0.2)
    with pytest.raises(AssumptionError, match="unknown measure 'profit'"):
        loss_distribution(sc, measure="profit")  # type: ignore[arg-type]


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"probs": [0.1, 1.2]}, "must be in \\[0, 1\\]"),
    ({"probs": [0.1]}, "has 1 values but weights has 2"),
    ({"weights": [1.0, np.nan]}, "NaN or infinite"),
    ({"correlations": 1.0}, "must be in \\[0, 1\\)"),
    ({"step": 0.0}, "must be a finite number > 0"),
    ({"step": 1e-9}, "use a larger step"),
    ({"max_points": 1}, "whole number >= 2"),
    ({"n_quadrature": 0}, "whole number >= 1"),
    ({"method": "magic"}, "valid options are 'auto', 'dp', 'fft'"),
])
def test_invalid_inputs(kwargs, match):
    args = {"weights": [1.0, 2.0], "probs": [0.1, 0.2]} | kwargs
    with pytest.raises(AssumptionError, match=match):
        loss_distribution_from_arrays(args.pop("weights"), args.pop("probs"), **args)


# ---------------------------------------------------------------------------------------
# Vasicek reference
# ---------------------------------------------------------------------------------------
def test_vasicek_test_vectors():
    x = [0.278837772815679, 0.5217229060260343]
    np.testing.assert_allclose(vasicek_cdf(x, 0.3, 0.2), [0.5, 0.9], atol=1e-12)
    np.testing.assert_allclose(vasicek_ppf([0.5, 0.9], 0.3, 0.2), x, atol=1e-12)
    assert vasicek_cdf([-0.1, 0.0, 1.0], 0.3, 0.2).tolist() == [0.0, 0.0, 1.0]


def test_finite_portfolio_approaches_vasicek_limit():
    # many equal small accounts: the exact finite-N distribution nears the limit
    n, p, rho = 2000, 0.1, 0.2
    d = loss_distribution_from_arrays(np.full(n, 1.0 / n), np.full(n, p), correlations=rho,
                                      n_quadrature=128)
    for alpha in (0.5, 0.9, 0.99):
        assert d.var(alpha) == pytest.approx(float(vasicek_ppf(alpha, p, rho)), abs=0.01)
    # while a concentrated 10-account book is far from it
    d10 = loss_distribution_from_arrays(np.full(10, 0.1), np.full(10, p), correlations=rho)
    assert abs(d10.var(0.99) - float(vasicek_ppf(0.99, p, rho))) > 0.05


# ---------------------------------------------------------------------------------------
# high correlation (issue 14): adaptive integration in the factor's probability space
# ---------------------------------------------------------------------------------------
def brute_correlated_steps(w, q, rho):
    """Like brute_correlated, but tells quad where the conditional probabilities step."""
    x = outcomes(len(w))
    q = np.asarray(q, float)
    rho = np.broadcast_to(np.asarray(rho, float), q.shape)
    centres = stats.norm.ppf(q) / np.sqrt(rho)

    def integrand(u, row):  # over u = Phi(z): the factor's probability space
        qz = conditional_q(q, rho, stats.norm.ppf(u))
        return np.prod(np.where(row == 1, qz, 1 - qz))

    pts = np.sort(stats.norm.cdf(centres))
    prob = np.array([integrate.quad(integrand, 0.0, 1.0, args=(row,), points=pts,
                                    limit=500, epsabs=1e-13, epsrel=1e-11)[0] for row in x])
    return x @ np.asarray(w, float), prob, x


@pytest.mark.parametrize("rho", [0.9, 0.99, 0.999, 0.99999])
def test_high_correlation_matches_enumeration(rho):
    w = np.array([10.0, 7.0, 5.0, 3.0, 2.0, 1.0])
    q = np.array([0.05, 0.1, 0.2, 0.15, 0.3, 0.02])
    d = loss_distribution_from_arrays(w, q, correlations=rho)
    assert d.converged
    assert d.integration_error < 1e-7
    assert d.quadrature_error < 1e-9
    losses, prob, _ = brute_correlated_steps(w, q, rho)
    want = pmf_on_support(d, losses, prob)
    # CDF within the reported error (plus the reference's own 1e-9)
    assert np.max(np.abs(np.cumsum(d.pmf - want))) <= d.integration_error + 1e-9
    lo, hi = d.var_bounds(0.95)
    assert lo <= risk.value_at_risk(losses, 0.95, weights=prob) <= hi


def test_rho_to_one_approaches_comonotone_limit():
    # rho -> 1: account i is lost iff U < q_i for one shared uniform U
    rng = np.random.default_rng(5)
    w = rng.integers(1, 40, 40).astype(float)
    q = rng.uniform(0.02, 0.4, 40)
    order = np.argsort(-q)
    u_edges = np.concatenate([q[order], [0.0]])  # U in (q_(j+1), q_(j)]: j+1 largest lost
    limit_losses = np.concatenate([[0.0], np.cumsum(w[order])])
    limit_probs = np.concatenate([[1.0 - q[order][0]], -np.diff(u_edges)])
    d = loss_distribution_from_arrays(w, q, correlations=1 - 1e-8)
    assert d.converged
    want = pmf_on_support(d, limit_losses, limit_probs)
    assert np.max(np.abs(np.cumsum(d.pmf - want))) < 1e-3
    for level in (0.9, 0.95, 0.99):
        assert d.var(level) == risk.value_at_risk(limit_losses, level, weights=limit_probs)


def test_fixed_gauss_hermite_misses_the_step_adaptive_does_not():
    # the bug of issue 14 in miniature: 64 fixed nodes put the 95 % VaR far off at 0.999
    rng = np.random.default_rng(11)
    w = rng.integers(1, 40, 60).astype(float)
    q = rng.uniform(0.02, 0.3, 60)
    limit = float(w[q > 0.05].sum())
    fixed = loss_distribution_from_arrays(w, q, correlations=0.999, n_quadrature=64)
    adaptive = loss_distribution_from_arrays(w, q, correlations=0.999)
    assert np.isnan(fixed.integration_error)
    assert abs(adaptive.var(0.95) - limit) <= 0.05 * limit
    lo, hi = adaptive.var_bounds(0.95)
    assert hi - lo <= 1.0  # one lattice step at most
